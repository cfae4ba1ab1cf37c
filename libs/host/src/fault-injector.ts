// vPMU fidelity faults (`timeline[].fault`, docs/findings.md "Fault kinds"): the pathologies
// record/replay debuggers hit in VMs (rr's issue tracker, injected into the
// simulated hardware / KVM paths — never reported by the injector itself. The world's checks
// (fidelity-monitor.ts, isolation-monitor.ts) must find their consequences on their own.
//
// A fault acts on its target (a VM, or every VM on a host) from `at` for `duration` (0 = to the end
// of the run). Every random choice comes from the vCPU's own fault stream, a child of the run's
// seed ("faults/<vm>/<vcpu>") carried with the vCPU across migrations, so a faulted run replays
// bit-identically and adding a VM does not reshuffle another VM's faults.
//
// Kinds and what they do (params are strings; durations take units):
//   pmi-skid                 a guest PMI reaches the CPU `skid` later while the guest keeps running;
//                            skid ~ exponential(meanNs) capped at maxNs; probability p (1)
//   drop-pmi (pmi-drop)      a guest PMI is never injected; probability (1)
//   late-pmi                 a guest PMI is held back `delayNs` (1ms) and injected at a later entry;
//                            probability (1)
//   pmi-overcount            Xen: every injected PMI advances each enabled guest counter by `events` (1)
//   counter-stuck-zero       the guest's counters of `event` (all) never count in guest mode
//   kernel-leak-into-user    a `fraction` (0.05) of the guest's kernel events count as user events
//   branch-miscount-at-exit  each VM exit (of `reasons`, comma list; all) moves the guest's branch
//                            counters by `delta` (1; negative = branches lost)
// Test-only (they break isolation on purpose, to prove the checks fire; never use them otherwise):
//   test-leak-host-counter   VM entry skips zeroing the exposed counters the guest left disabled:
//                            they keep a value the host produced (passthrough)
//   test-filter-bypass       VM entry loads the guest's requested EVENTSEL even for a denied event
//                            (passthrough with interceptEventSelect)
//   test-migration-drop-state  a migration's stop-and-copy (while the fault is active) loses part of
//                            the vPMU state: `drop` = comma list of counters, pmis, period (counters);
//                            `from` = state (the migrated VM, default) or message (the VpmuState
//                            message only); migration-world.ts must report counter-discontinuity
import { EventRates, RATE_SCALE, WORKLOAD_EVENT_NAMES, eventIndex, type RateRecord } from '@vpmu/pmu';
import { parseDurationNs, type TimelineEntry } from '@vpmu/world-spec';
import type { Prng } from '@vpmu/sim';

export const FIDELITY_FAULT_KINDS = ['pmi-skid', 'drop-pmi', 'late-pmi', 'pmi-overcount', 'counter-stuck-zero', 'kernel-leak-into-user', 'branch-miscount-at-exit'] as const;
export const TEST_ONLY_FAULT_KINDS = ['test-leak-host-counter', 'test-filter-bypass', 'test-migration-drop-state'] as const;
export type FaultKind = (typeof FIDELITY_FAULT_KINDS)[number] | (typeof TEST_ONLY_FAULT_KINDS)[number];
const ALIASES: Record<string, FaultKind> = { 'pmi-drop': 'drop-pmi', 'pmi-late': 'late-pmi', 'pmi-skid-distribution': 'pmi-skid' };

/** What a fault parameter holds (the scenario reader checks values against it at validate). */
export type FaultParamType = 'duration' | 'probability' | 'fraction' | 'integer' | 'event' | 'list' | 'choice';

/** Largest |events| or |delta| a fault adds per PMI or exit: a 32-bit counter's range. */
export const MAX_FAULT_EVENTS = 0xffff_ffff;

/** Parameters each kind accepts (anything else is refused: a typo must not pass silently). */
export const FAULT_PARAMS: Record<FaultKind, Readonly<Record<string, FaultParamType>>> = {
  'pmi-skid': { meanNs: 'duration', maxNs: 'duration', probability: 'probability' },
  'drop-pmi': { probability: 'probability' },
  'late-pmi': { delayNs: 'duration', probability: 'probability' },
  'pmi-overcount': { events: 'integer' },
  'counter-stuck-zero': { event: 'event' },
  'kernel-leak-into-user': { fraction: 'fraction' },
  'branch-miscount-at-exit': { delta: 'integer', reasons: 'list' },
  'test-leak-host-counter': {},
  'test-filter-bypass': {},
  'test-migration-drop-state': { drop: 'list', from: 'choice' },
};
/**
 * The finding kinds each fault shows up as (docs/findings.md "Fault injection"): the summary and
 * the report list every injected fault beside the findings of these kinds on its target, so an
 * injected defect is never read as a real one.
 */
export const FAULT_FINDINGS: Record<FaultKind, readonly string[]> = {
  'pmi-skid': ['pmi-imprecise', 'pmi-misattributed', 'pmi-late'],
  'drop-pmi': ['pmi-lost'],
  'late-pmi': ['pmi-late', 'pmi-imprecise'],
  'pmi-overcount': ['counter-overcount'],
  'counter-stuck-zero': ['guest-counter-stuck'],
  'kernel-leak-into-user': ['user-count-includes-kernel'],
  'branch-miscount-at-exit': ['branch-miscount'],
  'test-leak-host-counter': ['counter-leak'],
  'test-filter-bypass': ['filter-bypass'],
  'test-migration-drop-state': ['counter-discontinuity'],
};

/** True for a fault that imitates a KVM defect only to prove a check can fire (run --allow-test-faults). */
export function isTestOnlyFault(kind: string): boolean {
  return (TEST_ONLY_FAULT_KINDS as readonly string[]).includes(faultKindOf(kind) ?? kind);
}

/** The name a fault kind goes by (aliases resolved); undefined for an unknown kind. */
export function faultKindOf(name: string): FaultKind | undefined {
  const kind = (Object.prototype.hasOwnProperty.call(ALIASES, name) ? ALIASES[name] : name) as FaultKind;
  return Object.prototype.hasOwnProperty.call(FAULT_PARAMS, kind) ? kind : undefined;
}
const PARAMS: Record<FaultKind, readonly string[]> = Object.fromEntries(
  Object.entries(FAULT_PARAMS).map(([k, v]) => [k, Object.keys(v)]),
) as unknown as Record<FaultKind, readonly string[]>;

export interface ActiveFault {
  kind: FaultKind;
  target: string;
  fromNs: number;
  /** Exclusive end; Infinity when the fault lasts to the end of the run. */
  untilNs: number;
  meanNs: number;
  maxNs: number;
  probability: number;
  delayNs: number;
  events: number;
  event: number;
  fraction: number;
  delta: number;
  reasons: string[];
  /** test-migration-drop-state: the parts dropped, and where from ('state' | 'message'). */
  drop: string[];
  dropFrom: string;
}

/** Per-vCPU fault state (plain data in the vCPU's runtime: it migrates with the vCPU). */
export interface VcpuFaultState {
  prng: Prng;
  /** PMIs (overflow instant and counter) already delayed once by pmi-skid, most recent last. */
  deferred: number[];
  /** PMIs held back by late-pmi, with the instant they may be injected from. */
  held: { overflowNs: number; releaseAtNs: number }[];
}

export class FaultInjector {
  readonly faults: ActiveFault[] = [];
  /** Faulted guest rates by `<kind>/<param>` (derived from a VM's true rates; rebuilt on demand). */
  private readonly rateCache = new Map<string, EventRates>();

  constructor(private readonly root: Prng) {}

  newVcpu(vm: string, vcpu: number): VcpuFaultState {
    return { prng: this.root.child(`faults/${vm}/${vcpu}`), deferred: [], held: [] };
  }

  /** A `fault` timeline action. Returns an error sentence for a kind or parameter it does not know. */
  add(entry: TimelineEntry): string | null {
    const a = entry.action;
    if (a.kind !== 'fault') return null;
    const kind = faultKindOf(a.fault);
    const allowed = kind && PARAMS[kind];
    if (!kind || !allowed) return `unknown fault kind "${a.fault}" (known: ${[...FIDELITY_FAULT_KINDS, ...TEST_ONLY_FAULT_KINDS].join(', ')})`;
    for (const k of Object.keys(a.params)) if (!allowed.includes(k)) return `fault ${kind} has no parameter "${k}" (it takes: ${allowed.join(', ') || 'none'})`;
    const p = a.params;
    const num = (k: string, d: number): number => (p[k] === undefined ? d : Number(p[k]));
    const dur = (k: string, d: number): number => {
      if (p[k] === undefined) return d;
      const r = parseDurationNs(/^[0-9.]+$/.test(p[k]) ? Number(p[k]) : p[k]);
      return r.ok ? r.value : NaN;
    };
    const meanNs = dur('meanNs', 2_000);
    const f: ActiveFault = {
      kind,
      target: a.target,
      fromNs: entry.atNs,
      untilNs: a.durationNs > 0 ? entry.atNs + a.durationNs : Infinity,
      meanNs,
      maxNs: dur('maxNs', meanNs * 10),
      probability: num('probability', 1),
      delayNs: dur('delayNs', 1_000_000),
      events: num('events', 1),
      event: p.event === undefined || p.event === 'all' ? -1 : eventIndex(p.event),
      fraction: num('fraction', 0.05),
      delta: num('delta', 1),
      reasons: p.reasons === undefined || p.reasons === 'all' ? [] : p.reasons.split(',').map((s) => s.trim()),
      drop: p.drop === undefined ? [] : p.drop.split(',').map((s) => s.trim()),
      dropFrom: p.from ?? 'state',
    };
    if (f.drop.some((d) => !['counters', 'pmis', 'period'].includes(d))) return `fault ${kind}: drop takes counters, pmis, period (comma list)`;
    if (f.dropFrom !== 'state' && f.dropFrom !== 'message') return `fault ${kind}: from is state or message`;
    const bad = Object.entries(f).find(([, v]) => typeof v === 'number' && Number.isNaN(v));
    if (bad) return `fault ${kind}: parameter ${bad[0]} is not a number or duration`;
    // Counter adjustments are whole events (they become BigInt counter deltas).
    for (const k of ['events', 'delta'] as const) {
      if (!Number.isInteger(f[k]) || Math.abs(f[k]) > MAX_FAULT_EVENTS) return `fault ${kind}: ${k} must be a whole number of events within ±${MAX_FAULT_EVENTS}`;
    }
    if (p.event !== undefined && p.event !== 'all' && f.event < 0) return `fault ${kind}: unknown event "${p.event}" (known: ${WORKLOAD_EVENT_NAMES.join(', ')})`;
    if (!(f.probability >= 0 && f.probability <= 1) || !(f.fraction >= 0 && f.fraction <= 1)) return `fault ${kind}: probability and fraction must be in [0, 1]`;
    this.faults.push(f);
    return null;
  }

  active(kind: FaultKind, vm: string, host: string, nowNs: number): ActiveFault | undefined {
    for (const f of this.faults) {
      if (f.kind === kind && (f.target === vm || f.target === host) && nowNs >= f.fromNs && nowNs < f.untilNs) return f;
    }
    return undefined;
  }

  /** pmi-skid: how long the PMI `pmiKey` (overflow and counter) is held before it reaches the CPU (0 = now). */
  pmiArrivalDelayNs(fs: VcpuFaultState, vm: string, host: string, nowNs: number, pmiKey: number): number {
    const f = this.active('pmi-skid', vm, host, nowNs);
    if (!f || fs.deferred.includes(pmiKey)) return 0;
    fs.deferred.push(pmiKey);
    if (fs.deferred.length > 64) fs.deferred.shift();
    if (f.probability < 1 && !fs.prng.chance(f.probability)) return 0;
    return Math.max(1, Math.min(f.maxNs, fs.prng.nextExponentialNs(f.meanNs)));
  }

  /**
   * The PMIs KVM is about to inject at a VM entry go through drop-pmi and late-pmi; held PMIs whose
   * delay has passed come back. Returns the overflow instants to inject now.
   */
  gatePmis(fs: VcpuFaultState, vm: string, host: string, nowNs: number, overflows: readonly number[]): number[] {
    const out: number[] = [];
    fs.held = fs.held.filter((h) => {
      if (h.releaseAtNs > nowNs) return true;
      out.push(h.overflowNs);
      return false;
    });
    const drop = this.active('drop-pmi', vm, host, nowNs);
    const late = this.active('late-pmi', vm, host, nowNs);
    for (const o of overflows) {
      if (drop && fs.prng.chance(drop.probability)) continue;
      if (late && fs.prng.chance(late.probability)) {
        fs.held.push({ overflowNs: o, releaseAtNs: o + late.delayNs });
        continue;
      }
      out.push(o);
    }
    return out;
  }

  /** The rates the PMU counts while the VM runs in guest mode (its true rates unless a fault bends them). */
  guestRates(truth: EventRates, vm: string, host: string, nowNs: number): EventRates {
    const stuck = this.active('counter-stuck-zero', vm, host, nowNs);
    const leak = this.active('kernel-leak-into-user', vm, host, nowNs);
    if (!stuck && !leak) return truth;
    const key = `${vm}|${stuck ? stuck.event : 'x'}|${leak ? leak.fraction : 'x'}`;
    const hit = this.rateCache.get(key);
    if (hit) return hit;
    const user: RateRecord = {};
    const kernel: RateRecord = {};
    WORKLOAD_EVENT_NAMES.forEach((name, i) => {
      let u = truth.userQ[i];
      let k = truth.kernelQ[i];
      if (stuck && (stuck.event < 0 || stuck.event === i)) u = k = 0;
      if (leak) {
        const moved = Math.round(k * leak.fraction);
        u += moved;
        k -= moved;
      }
      user[name] = u / RATE_SCALE;
      kernel[name] = k / RATE_SCALE;
    });
    const rates = EventRates.of(user, kernel);
    this.rateCache.set(key, rates);
    return rates;
  }

  /** Xen's PMI overcount: extra events each enabled guest counter takes per injected PMI. */
  pmiOvercountEvents(vm: string, host: string, nowNs: number): number {
    return this.active('pmi-overcount', vm, host, nowNs)?.events ?? 0;
  }

  /** Branches a VM exit of `reason` adds to (or takes from) the guest's branch counters. */
  exitBranchDelta(vm: string, host: string, nowNs: number, reason: string): number {
    const f = this.active('branch-miscount-at-exit', vm, host, nowNs);
    if (!f || (f.reasons.length > 0 && !f.reasons.includes(reason))) return 0;
    return f.delta;
  }
}
