// The model's own fidelity checks: could a record/replay debugger (rr) trust this guest's PMU?
// rr needs (1) exact counts — a user-only retired-conditional-branch counter that counts exactly
// the guest's user-mode branches, the same on every run and across VM exits — and (2) precise
// PMIs — the interrupt it programs arrives within its skid margin, always, exactly once.
//
// Every check compares what the guest observes with ground truth the world knows and the vPMU
// does not: the counter's twin (guest-counter-shadow.ts) for values; the overflow instant, the
// vCPU's guest run time and guest stints for PMIs. Checks run where the guest reads counters
// (RDMSR / RDPMC, its perf's handler) and at every VM entry and exit, so a deviation is attributed
// to what happened since the previous check: a PMI injection (counter-overcount, Xen), VM exits
// (branch-miscount), guest execution (user-count-includes-kernel on a user-only counter, or a
// plain over/undercount), or nothing at all while events happened (guest-counter-stuck).
// Each kind is reported once per vCPU as a finding; every occurrence is counted in the stats the
// summary's fidelity report is built from (reportRecords).
import type { VcpuVpmu, VcpuWorldPort } from '@vpmu/kvm';
import { WORKLOAD_EVENT_NAMES, type EventRates } from '@vpmu/pmu';
import type { EventFilterSpec } from '@vpmu/world-spec';
import { integrate, isBranchCounter, isCounting, movedSince, rebase, signedWrap, type GuestCounterShadow, type ShadowCounter } from './guest-counter-shadow';
import { IsolationMonitor } from './isolation-monitor';
import type { VcpuFaultState } from './fault-injector';

/** The twin and the hardware differ by the hardware's fractional carry at the last write (< 1 event). */
export const COUNT_TOLERANCE_EVENTS = 1;
/** A counter that has not moved while its twin counted this many events is stuck. */
export const STUCK_MIN_EVENTS = 1000;
/**
 * rr programs its interrupt early by a skid margin and single-steps the rest of the way; a PMI
 * that lands later than the margin overshoots the target. Model choice: 1000 retired branches of
 * the guest (rr's real margin is CPU-specific); converted to guest run time with the VM's rate.
 */
export const PMI_SKID_TOLERANCE_BRANCHES = 1000;
/** A PMI not injected after this much guest run time since its overflow is lost. */
export const PMI_LOST_AFTER_GUEST_NS = 10_000_000;
/** Skid samples kept per vCPU (decimated by 2 each time it fills: deterministic, order-preserving). */
const SKID_SAMPLES_MAX = 4096;

export interface FidelityStats {
  countChecks: number;
  countMaxAbsError: number;
  branchChecks: number;
  branchMaxAbsError: number;
  pmisRaised: number;
  pmisDelivered: number;
  pmisLost: number;
  pmisLate: number;
  pmisImprecise: number;
  skidMaxNs: number;
  isolationChecks: number;
  leaks: number;
  exits: number;
}

/** Per-vCPU fidelity state (plain data in the vCPU's runtime: it migrates with the vCPU). */
export interface VcpuFidelity {
  vm: string;
  vcpu: number;
  label: string;
  /** The VM's true rates (the workload model): what a perfect PMU counts. */
  rates: EventRates;
  filter: EventFilterSpec | undefined;
  /** The isolation monitor owns filter-bypass here (the backend's own check cannot see it). */
  monitorsFilter: boolean;
  shadow: GuestCounterShadow;
  /** VM exits and injected PMIs so far (attribution of count deviations). */
  exits: number;
  pmis: number;
  /** PMIs injected at the current entry (a check after the injection attributes to them). */
  pmisThisEntry: number;
  /** Raised, not yet injected PMIs: overflow instant, guest run time then, guest stint then. */
  raised: { overflowNs: number; counter: number; guestNs: number; stint: number }[];
  skidToleranceNs: number;
  skids: number[];
  skidStride: number;
  skidSeen: number;
  stats: FidelityStats;
  /** Detections per finding kind (each reported as a finding once per vCPU). */
  detected: Record<string, number>;
  faults: VcpuFaultState;
}

/** The vCPU fields the monitors read (HostWorld's VcpuRuntime satisfies it). */
export interface FidelityVcpu {
  vm: string;
  index: number;
  state: string;
  guestNsTotal: number;
  guestStartNs: number;
  stint: number;
  vpmu: VcpuVpmu | null;
  pendingPmis: number[];
  fidelity: VcpuFidelity | null;
}

export function emptyStats(): FidelityStats {
  return { countChecks: 0, countMaxAbsError: 0, branchChecks: 0, branchMaxAbsError: 0, pmisRaised: 0, pmisDelivered: 0, pmisLost: 0, pmisLate: 0, pmisImprecise: 0, skidMaxNs: 0, isolationChecks: 0, leaks: 0, exits: 0 };
}

export function skidToleranceNs(rates: EventRates): number {
  const perNs = rates.ratePerNs('branches');
  return perNs > 0 ? Math.round(PMI_SKID_TOLERANCE_BRANCHES / perNs) : 1_000;
}

export class FidelityMonitor {
  /** Reports `kind` once per vCPU (later occurrences are counted, not repeated). */
  static detect(fx: VcpuFidelity, ops: VcpuWorldPort, kind: string, detail: () => string): void {
    const n = fx.detected[kind] ?? 0;
    fx.detected[kind] = n + 1;
    if (n === 0) ops.emitFinding(kind, `${fx.label}: ${detail()}`);
  }

  /**
   * One check of counter `k` (index into the twin's counters) against the value the guest reads
   * now (`observed`, or the vPMU's guest-visible value). `guestNs` is the vCPU's guest run time.
   */
  static check(fx: VcpuFidelity, vpmu: VcpuVpmu, ops: VcpuWorldPort, k: number, guestNs: number, observed?: bigint): void {
    const s = fx.shadow;
    const c = s.counters[k];
    // Checked already at this guest instant with no exit or PMI since: nothing can have moved
    // (e.g. the guest's PMI handler reads a counter, then rewrites it).
    if (observed === undefined && c.guestNsAt === guestNs && c.exitsAt === fx.exits && c.pmisAt === fx.pmis && c.atGuestNs === guestNs && c.checked) return;
    c.checked = true;
    integrate(s, c, guestNs, fx.rates);
    if (c.unmodelled) return FidelityMonitor.sync(fx, c, guestNs);
    const obs = observed ?? vpmu.peek(ops, c.id);
    fx.stats.isolationChecks++;
    const moved = movedSince(c, obs);
    const iso = IsolationMonitor.judge(s, c, moved);
    if (iso.leak) {
      fx.stats.leaks++;
      FidelityMonitor.detect(fx, ops, 'counter-leak', () => `${counterName(c)} reads ${obs}, ${iso.excess} events more than the guest itself produced since it last wrote it (${c.base} + ${c.ownBound} of its own ${eventName(c)}): the value was produced by the host or another VM`);
      rebase(c, obs);
      return FidelityMonitor.sync(fx, c, guestNs);
    }
    if (iso.bypass || c.denied) {
      if (iso.bypass && fx.monitorsFilter) {
        FidelityMonitor.detect(fx, ops, 'filter-bypass', () => `${counterName(c)} counted ${iso.excess} events of ${eventName(c)}, which the KVM event filter denies`);
      }
      if (iso.bypass) rebase(c, obs);
      return FidelityMonitor.sync(fx, c, guestNs);
    }
    if (moved === 0 && c.expected === 0 && !isCounting(s, c)) return FidelityMonitor.sync(fx, c, guestNs);
    const err = signedWrap(moved - c.expected, c.width);
    const abs = Math.abs(err);
    fx.stats.countChecks++;
    if (abs > fx.stats.countMaxAbsError) fx.stats.countMaxAbsError = abs;
    if (isBranchCounter(c)) {
      fx.stats.branchChecks++;
      if (abs > fx.stats.branchMaxAbsError) fx.stats.branchMaxAbsError = abs;
    }
    // What VM exits moved was attributed when the guest re-entered (settleExit).
    const dErr = err - c.lastErr - c.exitAdj;
    c.exitAdj = 0;
    const pmis = fx.pmis - c.pmisAt;
    const exits = fx.exits - c.exitsAt;
    const ran = guestNs - c.guestNsAt;
    // Attribute the change to what the interval since the last check held.
    if (dErr !== 0) {
      if (pmis > 0 && ran === 0) c.driftPmi += dErr;
      else if (exits > 0 && ran === 0) c.driftExit += dErr;
      else c.driftGuest += dErr;
    }
    if (moved !== c.lastObs) c.movedAtExpected = c.expected;
    c.lastObs = moved;
    // Nothing counts while the guest runs no code: a PMI or exit interval must not move the error
    // at all; guest execution may move it by the hardware's fractional carry (tol).
    const tol = COUNT_TOLERANCE_EVENTS;
    if (c.expected - c.movedAtExpected >= STUCK_MIN_EVENTS) {
      FidelityMonitor.detect(fx, ops, 'guest-counter-stuck', () => `${counterName(c)} (${eventName(c)}) stays at ${obs} although the guest retired ${c.expected - c.movedAtExpected} such events meanwhile: the counter does not count`);
    } else if (c.driftPmi > 0) {
      FidelityMonitor.detect(fx, ops, 'counter-overcount', () => `${counterName(c)} (${eventName(c)}) gained ${c.driftPmi} events across PMI injections while the guest ran no code: the PMI path is counted in the guest's counter`);
    } else if (c.driftExit !== 0) {
      FidelityMonitor.exitDrift(fx, ops, c);
    } else if (c.driftGuest > tol && c.usr && !c.os) {
      FidelityMonitor.detect(fx, ops, 'user-count-includes-kernel', () => `user-only ${counterName(c)} (${eventName(c)}) reads ${c.driftGuest} events more than the guest retired in user mode: guest-kernel events leak into user-only counts`);
    } else if (Math.abs(c.driftGuest) > tol) {
      const kind = c.driftGuest > 0 ? 'counter-overcount' : 'counter-undercount';
      FidelityMonitor.detect(fx, ops, kind, () => `${counterName(c)} (${eventName(c)}) is off by ${c.driftGuest > 0 ? '+' : ''}${c.driftGuest} events while the guest ran (${fx.pmis} PMIs, ${fx.exits} exits so far): ${c.driftGuest > 0 ? 'it counts events the guest did not retire' : 'it misses events the guest retired'}`);
    }
    c.lastErr = err;
    FidelityMonitor.sync(fx, c, guestNs);
  }

  private static exitDrift(fx: VcpuFidelity, ops: VcpuWorldPort, c: ShadowCounter): void {
    const kind = isBranchCounter(c) ? 'branch-miscount' : c.driftExit > 0 ? 'counter-overcount' : 'counter-undercount';
    FidelityMonitor.detect(fx, ops, kind, () => `${counterName(c)} (${eventName(c)}) moved ${c.driftExit > 0 ? '+' : ''}${c.driftExit} events across VM exits while the guest retired nothing (${fx.exits} exits so far): counting is not deterministic across exits`);
  }

  /**
   * VM exit: remember where each counting counter stands (a cheap probe, not a full check: exits
   * run tens of thousands of times per simulated second). Nothing may move it until the guest
   * runs again.
   */
  static probeExit(fx: VcpuFidelity, vpmu: VcpuVpmu, ops: VcpuWorldPort): void {
    const s = fx.shadow;
    for (const c of s.counters) {
      if (isCounting(s, c) && !c.denied) c.probe = movedSince(c, vpmu.peek(ops, c.id));
    }
  }

  /** VM entry: whatever moved a counter since the exit probe moved it while the guest ran nothing. */
  static settleExit(fx: VcpuFidelity, vpmu: VcpuVpmu, ops: VcpuWorldPort): void {
    for (const c of fx.shadow.counters) {
      if (c.probe < 0) continue;
      const d = signedWrap(movedSince(c, vpmu.peek(ops, c.id)) - c.probe, c.width);
      c.probe = -1;
      if (d === 0) continue;
      fx.stats.countChecks++;
      c.driftExit += d;
      c.exitAdj += d;
      FidelityMonitor.exitDrift(fx, ops, c);
    }
  }

  private static sync(fx: VcpuFidelity, c: ShadowCounter, guestNs: number): void {
    c.exitsAt = fx.exits;
    c.pmisAt = fx.pmis;
    c.guestNsAt = guestNs;
  }

  /** Checks every counter the guest has enabled (or every exposed counter with `all`). */
  static checkAll(fx: VcpuFidelity, vpmu: VcpuVpmu, ops: VcpuWorldPort, guestNs: number, all: boolean): void {
    const s = fx.shadow;
    for (let k = 0; k < s.counters.length; k++) {
      const c = s.counters[k];
      if (all || isCounting(s, c) || c.expected !== 0) FidelityMonitor.check(fx, vpmu, ops, k, guestNs);
    }
  }

  // ---- PMIs -----------------------------------------------------------------------------------

  /** Guest run time of the vCPU at `overflowNs`, for an overflow in its latest guest stint. */
  static guestNsAt(v: FidelityVcpu, overflowNs: number): number {
    // In guest mode the time since guestStartNs is not accounted yet; after an exit it is.
    const at = v.guestNsTotal + overflowNs - v.guestStartNs;
    return Math.max(0, v.state === 'guest' ? at : Math.min(v.guestNsTotal, at));
  }

  /** A guest counter's overflow raised a PMI (ground truth: the hardware / backing event fired). */
  static pmiRaised(fx: VcpuFidelity, v: FidelityVcpu, overflowNs: number, counter: number): void {
    if (fx.raised.some((r) => r.overflowNs === overflowNs && r.counter === counter)) return;
    fx.stats.pmisRaised++;
    fx.raised.push({ overflowNs, counter, guestNs: FidelityMonitor.guestNsAt(v, overflowNs), stint: v.stint });
  }

  /** KVM injects the PMI of `overflowNs` at this entry (v.stint is the new stint). */
  static pmiDelivered(fx: VcpuFidelity, v: FidelityVcpu, ops: VcpuWorldPort, overflowNs: number): void {
    let i = fx.raised.findIndex((r) => r.overflowNs === overflowNs);
    if (i < 0) {
      // Not seen arriving (e.g. a backing event's PMI found pending at entry): raised now.
      FidelityMonitor.pmiRaised(fx, v, overflowNs, -2 - fx.stats.pmisRaised);
      i = fx.raised.length - 1;
    }
    const r = fx.raised[i];
    fx.raised.splice(i, 1);
    fx.stats.pmisDelivered++;
    fx.pmis++;
    fx.pmisThisEntry++;
    const skidNs = Math.max(0, v.guestNsTotal - r.guestNs);
    FidelityMonitor.addSkid(fx, skidNs);
    if (v.stint > r.stint + 1) {
      fx.stats.pmisLate++;
      FidelityMonitor.detect(fx, ops, 'pmi-late', () => `the PMI of an overflow at ${overflowNs} ns was injected ${v.stint - r.stint - 1} guest entries late (the guest ran ${skidNs} ns past the overflow): rr's interrupt arrives after its target`);
    }
    if (skidNs > fx.skidToleranceNs) {
      fx.stats.pmisImprecise++;
      FidelityMonitor.detect(fx, ops, 'pmi-imprecise', () => `a PMI reached the guest after it ran ${skidNs} ns past the overflow (~${Math.round(skidNs * fx.rates.ratePerNs('branches'))} branches), beyond the ${fx.skidToleranceNs} ns (${PMI_SKID_TOLERANCE_BRANCHES} branches) skid a replay debugger can absorb`);
    }
  }

  /** PMIs raised long ago (in guest run time) and never injected are lost. */
  static scanLost(fx: VcpuFidelity, v: FidelityVcpu, ops: VcpuWorldPort): void {
    if (fx.raised.length === 0) return;
    fx.raised = fx.raised.filter((r) => {
      if (v.guestNsTotal - r.guestNs <= PMI_LOST_AFTER_GUEST_NS) return true;
      fx.stats.pmisLost++;
      FidelityMonitor.detect(fx, ops, 'pmi-lost', () => `the PMI of a guest counter overflow at ${r.overflowNs} ns was never injected (the guest ran ${v.guestNsTotal - r.guestNs} ns since)`);
      return false;
    });
  }

  private static addSkid(fx: VcpuFidelity, skidNs: number): void {
    if (skidNs > fx.stats.skidMaxNs) fx.stats.skidMaxNs = skidNs;
    if (fx.skidSeen++ % fx.skidStride !== 0) return;
    fx.skids.push(skidNs);
    if (fx.skids.length >= SKID_SAMPLES_MAX) {
      fx.skids = fx.skids.filter((_, i) => i % 2 === 0);
      fx.skidStride *= 2;
    }
  }

  /** The VM's fidelity figures as `name -> value` (all vCPUs together). */
  static vmFigures(all: readonly VcpuFidelity[]): Record<string, number> {
    const out: Record<string, number> = {};
    const st = emptyStats();
    const skids: number[] = [];
    let tol = Infinity;
    for (const fx of all) {
      for (const key of Object.keys(st) as (keyof FidelityStats)[]) {
        st[key] = MAX_KEYS.includes(key) ? Math.max(st[key], fx.stats[key]) : st[key] + fx.stats[key];
      }
      skids.push(...fx.skids);
      tol = Math.min(tol, fx.skidToleranceNs);
    }
    skids.sort((a, b) => a - b);
    for (const [k, v] of Object.entries(st)) out[k] = v;
    out.skidP50Ns = skids.length > 0 ? skids[Math.floor((skids.length - 1) / 2)] : 0;
    out.skidToleranceNs = Number.isFinite(tol) ? tol : 0;
    for (const fx of all) for (const [k, n] of Object.entries(fx.detected)) out[`detected:${k}`] = (out[`detected:${k}`] ?? 0) + n;
    // PMIs raised and neither injected nor yet lost when the run ended (in flight: raised =
    // delivered + lost + pending). Only when there are any, so runs without keep their events.
    const pending = all.reduce((sum, fx) => sum + fx.raised.length, 0);
    if (pending > 0) out.pmisPending = pending;
    return out;
  }
}

function counterName(c: ShadowCounter): string {
  return c.id >= 32 ? `fixed${c.id - 32}` : `gp${c.id}`;
}

const MAX_KEYS: readonly (keyof FidelityStats)[] = ['countMaxAbsError', 'branchMaxAbsError', 'skidMaxNs'];

function eventName(c: ShadowCounter): string {
  return c.event >= 0 ? `${WORKLOAD_EVENT_NAMES[c.event]}${c.usr && !c.os ? ':u' : !c.usr && c.os ? ':k' : ''}` : 'no event';
}
