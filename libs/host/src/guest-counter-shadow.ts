// The ground-truth twin of every guest PMU counter of one vCPU: what the counter SHOULD read if
// the vPMU were perfect, derived only from what the guest asked for (its own MSR writes, in
// program order) and from the workload's true event rates over the vCPU's guest run time — never
// from the backend or the hardware model. The fidelity monitor compares guest-visible values with
// `expected`; the isolation monitor compares them with `ownBound` (every event of the counter's
// kind the guest itself produced, in any mode, whatever the filter: a value above it came from
// someone else).
//
// Counting follows the Intel architectural rules the PMU model implements: a GP counter counts
// its EVENTSEL event when EN and its PERF_GLOBAL_CTRL bit are set, user events under USR and
// kernel events under OS; fixed counter i counts INTEL_FIXED_COUNTER_EVENTS[i] under its
// FIXED_CTR_CTRL field and global bit 32+i. Event selects the model does not count (unknown
// events, CMASK/INV/EDGE) make a counter `unmodelled` until the guest reprograms it. Events
// integrate in the PMU's fixed point (2^-16 events per ns) with the remainder carried, so a clean
// backend matches exactly up to the hardware's own fractional carry at the last write (< 1 event).
import { filterAllowsFixed, filterAllowsGp, type ProgramLoopCounts } from '@vpmu/kvm';
import { EventRates, EVTSEL, FIXED_CTRL, INTEL_FIXED_COUNTER_EVENTS, MSR, RATE_SCALE, WORKLOAD_EVENT_NAMES, eventIndex, intelEventIndex } from '@vpmu/pmu';
import type { EventFilterSpec } from '@vpmu/world-spec';

export const FIXED_ID_BASE = 32;
const EV_BRANCHES = eventIndex('branches');

/** One guest counter's twin (plain data: it travels in checkpoints and migrations). */
export interface ShadowCounter {
  /** GP i = i, fixed i = 32 + i. */
  id: number;
  width: number;
  /** Workload event index counted, -1 = none configured. */
  event: number;
  usr: boolean;
  os: boolean;
  /** Local enable (EVENTSEL.EN / a non-zero FIXED_CTR_CTRL field). */
  en: boolean;
  /** Its PERF_GLOBAL_CTRL bit. */
  gOn: boolean;
  /** The KVM event filter denies the configured event. */
  denied: boolean;
  /** A configuration the model does not count (unknown event, CMASK/INV/EDGE): not checked. */
  unmodelled: boolean;
  /**
   * Events moved since `base` when the filter last started denying the counter's event: what it
   * counted before under an allowed configuration is the guest's, not a bypass.
   */
  movedAtDeny: number;
  /** Guest-visible value right after the guest's last write to the counter (and as a number). */
  base: bigint;
  baseN: number;
  /** Events the counter should have counted since `base` (configured modes, filter applied). */
  expected: number;
  expectedRemQ: number;
  /** Every event of the configured kind the guest produced since `base`, user + kernel, filter ignored. */
  ownBound: number;
  ownRemQ: number;
  /** Guest ns up to which the two sums are integrated. */
  atGuestNs: number;
  /** Events moved since `base` at the last check, and `expected` when it was last seen moving (stuck check). */
  lastObs: number;
  movedAtExpected: number;
  /** Attribution of the last check: error then, and the vCPU's exits / PMIs / guest ns then. */
  checked: boolean;
  lastErr: number;
  /** The error accumulated since `base` over intervals holding only PMI injections / only exits / guest execution. */
  driftPmi: number;
  driftExit: number;
  driftGuest: number;
  /** Events moved since `base` at the last VM exit (-1 = none pending), and what exits moved it since the last check. */
  probe: number;
  exitAdj: number;
  exitsAt: number;
  pmisAt: number;
  guestNsAt: number;
}

export interface GuestCounterShadow {
  gpCounters: number;
  fixedCounters: number;
  globalCtrl: bigint;
  fixedCtrl: number;
  sel: number[];
  counters: ShadowCounter[];
}

export function newGuestCounterShadow(gpCounters: number, fixedCounters: number, gpWidth: number, fixedWidth: number): GuestCounterShadow {
  const counters: ShadowCounter[] = [];
  const mk = (id: number, width: number): ShadowCounter => ({
    id, width, event: -1, usr: false, os: false, en: false, gOn: id < gpCounters, denied: false, unmodelled: false, movedAtDeny: 0, base: 0n, baseN: 0,
    expected: 0, expectedRemQ: 0, ownBound: 0, ownRemQ: 0, atGuestNs: 0, lastObs: 0, movedAtExpected: 0, checked: false, lastErr: 0, driftPmi: 0, driftExit: 0, driftGuest: 0, probe: -1, exitAdj: 0, exitsAt: 0, pmisAt: 0, guestNsAt: 0,
  });
  for (let i = 0; i < gpCounters; i++) counters.push(mk(i, gpWidth));
  for (let f = 0; f < fixedCounters; f++) counters.push(mk(FIXED_ID_BASE + f, fixedWidth));
  // PERF_GLOBAL_CTRL resets to the GP counters the guest has (KVM selftests; both backends).
  return { gpCounters, fixedCounters, globalCtrl: (1n << BigInt(gpCounters)) - 1n, fixedCtrl: 0, sel: Array(gpCounters).fill(0), counters };
}

export function counterIndex(s: GuestCounterShadow, id: number): number {
  if (id >= FIXED_ID_BASE) {
    const f = id - FIXED_ID_BASE;
    return f < s.fixedCounters ? s.gpCounters + f : -1;
  }
  return id >= 0 && id < s.gpCounters ? id : -1;
}

/** The counter a PMU MSR names (its value register), or -1. */
export function counterOfMsr(s: GuestCounterShadow, msr: number): number {
  if (msr >= MSR.IA32_A_PMC0 && msr < MSR.IA32_A_PMC0 + s.gpCounters) return msr - MSR.IA32_A_PMC0;
  if (msr >= MSR.IA32_PMC0 && msr < MSR.IA32_PMC0 + s.gpCounters) return msr - MSR.IA32_PMC0;
  if (msr >= MSR.FIXED_CTR0 && msr < MSR.FIXED_CTR0 + s.fixedCounters) return s.gpCounters + msr - MSR.FIXED_CTR0;
  return -1;
}

/** Counter ids whose configuration a write to `msr` changes (all of them for GLOBAL_CTRL). */
export function configTargets(s: GuestCounterShadow, msr: number): ShadowCounter[] {
  if (msr >= MSR.IA32_PERFEVTSEL0 && msr < MSR.IA32_PERFEVTSEL0 + s.gpCounters) return [s.counters[msr - MSR.IA32_PERFEVTSEL0]];
  if (msr === MSR.FIXED_CTR_CTRL) return s.counters.slice(s.gpCounters);
  if (msr === MSR.PERF_GLOBAL_CTRL) return s.counters;
  return [];
}

export function isCounting(_s: GuestCounterShadow, c: ShadowCounter): boolean {
  return c.en && c.gOn && c.event >= 0 && !c.unmodelled;
}

/** 2 ** w for every counter width (a table: `2 ** w` with a variable w is a Math.pow call). */
const POW2: readonly number[] = Array.from({ length: 65 }, (_, w) => 2 ** w);

/** Events the counter moved since `base` (modulo its width), as a number. */
export function movedSince(c: ShadowCounter, obs: bigint): number {
  if (c.width > 52) return Number(BigInt.asUintN(c.width, obs - c.base));
  const d = Number(obs) - c.baseN;
  return d >= 0 ? d : d + POW2[c.width];
}

/** A difference of counter values as a signed number (modulo the counter's width). */
export function signedWrap(x: number, width: number): number {
  if (width > 52) return x;
  const m = POW2[width];
  return x > m / 2 ? x - m : x < -m / 2 ? x + m : x;
}

/** Integrates the ground truth of every counting counter up to `guestNs` (the vCPU's guest run time). */
export function integrate(s: GuestCounterShadow, c: ShadowCounter, guestNs: number, rates: EventRates): void {
  const dt = guestNs - c.atGuestNs;
  c.atGuestNs = guestNs;
  if (dt <= 0 || !isCounting(s, c)) return;
  // addQ inlined (no result object: this runs at every check).
  const hi = Math.floor(dt / RATE_SCALE);
  const lo = dt - hi * RATE_SCALE;
  const qo = rates.totalQ[c.event];
  if (qo !== 0) {
    const t = qo * lo + c.ownRemQ;
    c.ownBound += qo * hi + Math.floor(t / RATE_SCALE);
    c.ownRemQ = t % RATE_SCALE;
  }
  if (c.denied) return;
  const q = (c.usr ? rates.userQ[c.event] : 0) + (c.os ? rates.kernelQ[c.event] : 0);
  if (q !== 0) {
    const t = q * lo + c.expectedRemQ;
    c.expected += q * hi + Math.floor(t / RATE_SCALE);
    c.expectedRemQ = t % RATE_SCALE;
  }
}

/** The guest wrote a counter: the twin restarts from the value the guest now reads. */
export function rebase(c: ShadowCounter, value: bigint): void {
  c.base = BigInt.asUintN(c.width, value);
  c.baseN = Number(c.base);
  c.lastObs = 0;
  c.checked = false;
  c.movedAtExpected = 0;
  c.movedAtDeny = 0;
  c.expected = 0;
  c.ownBound = 0;
  c.lastErr = 0;
  c.driftPmi = 0;
  c.driftExit = 0;
  c.driftGuest = 0;
  c.probe = -1;
  c.exitAdj = 0;
  // The hardware keeps its fractional carry across a write; the twin's starts at 0 (< 1 event apart).
  c.expectedRemQ = 0;
  c.ownRemQ = 0;
}

/** The guest wrote a configuration MSR (already integrated up to now by the caller). */
export function applyConfigWrite(s: GuestCounterShadow, msr: number, value: bigint, filter: EventFilterSpec | undefined): void {
  if (msr === MSR.PERF_GLOBAL_CTRL) {
    s.globalCtrl = value;
    for (const c of s.counters) c.gOn = ((value >> BigInt(c.id >= FIXED_ID_BASE ? 32 + c.id - FIXED_ID_BASE : c.id)) & 1n) === 1n;
    return;
  }
  if (msr === MSR.FIXED_CTR_CTRL) {
    s.fixedCtrl = Number(value & 0xffffn);
    for (let f = 0; f < s.fixedCounters; f++) {
      const c = s.counters[s.gpCounters + f];
      const field = (s.fixedCtrl >> (4 * f)) & 0xf;
      c.usr = (field & FIXED_CTRL.USR) !== 0;
      c.os = (field & FIXED_CTRL.OS) !== 0;
      c.en = c.usr || c.os;
      c.event = eventIndex(INTEL_FIXED_COUNTER_EVENTS[f]);
      c.denied = !filterAllowsFixed(filter, f);
      c.unmodelled = (field & FIXED_CTRL.ANY) !== 0;
    }
    return;
  }
  const i = msr - MSR.IA32_PERFEVTSEL0;
  if (i < 0 || i >= s.gpCounters) return;
  const v = Number(value & 0xffff_ffffn);
  s.sel[i] = v;
  const c = s.counters[i];
  const es = v & 0xff;
  const umask = (v >> 8) & 0xff;
  c.event = intelEventIndex(es, umask);
  c.usr = (v & EVTSEL.USR) !== 0;
  c.os = (v & EVTSEL.OS) !== 0;
  c.en = (v & EVTSEL.EN) !== 0;
  c.denied = !filterAllowsGp(filter, es, umask);
  // CMASK (bits 31:24), INV and EDGE change what is counted: the twin does not model them.
  c.unmodelled = c.event < 0 || (v >>> 24) !== 0 || (v & (EVTSEL.INV | EVTSEL.EDGE)) !== 0;
}

/**
 * Events a guest program produced in guest kernel mode (a loop, or the instruction of an access;
 * libs/kvm program-loop.ts): what they add to each counter. A perfect vPMU counts them in every
 * counter that counts kernel mode (OS) and whose event the filter allows.
 */
export function addGuestCounts(s: GuestCounterShadow, counts: ProgramLoopCounts): void {
  for (const c of s.counters) {
    if (!isCounting(s, c)) continue;
    const n = counts[WORKLOAD_EVENT_NAMES[c.event]];
    if (n === 0) continue;
    c.ownBound += n;
    if (!c.denied && c.os) c.expected += n;
  }
}

export function isBranchCounter(c: ShadowCounter): boolean {
  return c.event === EV_BRANCHES;
}
