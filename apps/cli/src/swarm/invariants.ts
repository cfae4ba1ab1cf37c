// The model invariants the swarm checks on one finished run, from what a run leaves behind: its
// summary.json and the events of its recording. Each holds for every world, whatever the
// scenario says, unless the world itself injects the cause (a timeline fault); a violation names
// the invariant and its evidence in one sentence.
import type { SimEvent } from '@vpmu/sim';
import type { RunSummary } from '@vpmu/summary';
import type { WorldDoc } from './world-generator';

export interface Violation {
  /** Stable name of the invariant (docs/cli/swarm.md lists them). */
  invariant: string;
  detail: string;
}

/** Findings that mean one guest saw another's (or the host's) counts, or a denied event counted. */
const ISOLATION_FINDINGS = ['counter-leak', 'filter-bypass'] as const;
/** The faults that break isolation on purpose (docs/findings.md, test-only kinds). */
const ISOLATION_CAUSES: Record<string, string> = { 'counter-leak': 'test-leak-host-counter', 'filter-bypass': 'test-filter-bypass' };

/** 8 instructions per cycle (the widest core retires 8) at 10 GHz: the scenario's own bounds. */
const MAX_EVENTS_PER_GUEST_NS = 80;

export interface InvariantOptions {
  /**
   * Fault kinds that do not count as a declared cause: the swarm's test hook plants a test-only
   * fault to stand for a model defect, so the finding it causes must be reported, not excused.
   */
  undeclaredFaults?: readonly string[];
}

/** Folds a run's events into what the invariants need, one event at a time (recordings can be large). */
export class RunEventsFold {
  /** Last counterSample per `vm|vcpu|event`: actual and observed. */
  private readonly last = new Map<string, { atNs: number; host: string; actual: number; observed: number }>();
  readonly violations: Violation[] = [];
  /**
   * `writesCounters`: VMs whose guest-visible counts may legitimately go down (a guest program
   * writes counters). `windowChangesNs`: per VM, the times a guest perf session starts or stops:
   * a counterSample then changes what it measures (observation.part.ts: the truth over the
   * session's enabled window instead of since the VM started), so each may excuse one drop.
   */
  constructor(
    private readonly writesCounters: ReadonlySet<string>,
    private readonly windowChangesNs: ReadonlyMap<string, readonly number[]> = new Map(),
  ) {}

  /** Per `vm|vcpu|event`: window changes passed and not yet used to excuse a drop. */
  private readonly excuses = new Map<string, number>();

  onEvents(events: readonly SimEvent[]): void {
    for (const e of events) {
      if (e.kind !== 'counterSample') continue;
      const vm = e.at.vm ?? '';
      const key = `${vm}|${e.at.vcpu ?? 0}|${e.event}`;
      const prev = this.last.get(key);
      const host = e.at.host ?? '';
      if (prev) {
        const excuses = (this.excuses.get(key) ?? 0) + this.windowChanges(vm, prev.atNs, e.atNs);
        const fell = e.actual < prev.actual || (prev.host !== host && e.observed < prev.observed && !this.writesCounters.has(vm));
        if (fell && excuses > 0) {
          // The session's window began (it takes effect at the vCPU's next guest entry, not at
          // the scenario's start time): one drop per window change is the baseline moving.
          this.excuses.set(key, excuses - 1);
        } else {
          this.excuses.set(key, excuses);
          // Ground truth counts only ever grow: events that happened cannot un-happen.
          if (e.actual < prev.actual) this.add('counters-monotonic', `${key}: the true count fell from ${prev.actual} at ${prev.atNs}ns to ${e.actual} at ${e.atNs}ns`);
          // What the guest reads across a completed migration continues where it was on the source.
          if (prev.host !== host && e.observed < prev.observed && !this.writesCounters.has(vm)) {
            this.add('migration-continuity', `${key}: the guest-observed count fell from ${prev.observed} on ${prev.host} to ${e.observed} on ${host} at ${e.atNs}ns`);
          }
        }
      } else {
        this.excuses.set(key, this.windowChanges(vm, -1, e.atNs));
      }
      this.last.set(key, { atNs: e.atNs, host, actual: e.actual, observed: e.observed });
    }
  }

  /** How many guest perf window changes of `vm` fall in (fromNs, toNs]. */
  private windowChanges(vm: string, fromNs: number, toNs: number): number {
    return (this.windowChangesNs.get(vm) ?? []).filter((t) => t > fromNs && t <= toNs).length;
  }

  private add(invariant: string, detail: string): void {
    // One example per invariant is enough evidence; the shrinker needs the name.
    if (!this.violations.some((v) => v.invariant === invariant)) this.violations.push({ invariant, detail });
  }
}

/** VMs whose guest program writes counters or control registers (their counts may restart). */
export function vmsWritingCounters(world: WorldDoc): Set<string> {
  const out = new Set<string>();
  for (const vm of world.vms) if ((vm.program ?? []).some((s) => 'wrmsr' in s || 'armWrite' in s || 'hypercall' in s)) out.add(vm.id);
  return out;
}

/** Per VM, the times its guest perf sessions start or stop (scenario fields and timeline actions), in ns. */
export function guestPerfWindowChanges(world: WorldDoc): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const add = (vm: string, t: unknown) => {
    if (typeof t !== 'string') return;
    const ns = parseInt(t, 10) * 1000; // the generator writes every time in whole microseconds
    out.set(vm, [...(out.get(vm) ?? []), ns]);
  };
  for (const vm of world.vms) {
    for (const s of vm.guestPerf ?? []) {
      add(vm.id, s.start ?? '0us');
      add(vm.id, s.stop);
    }
  }
  for (const t of world.timeline) {
    const g = t.guestPerf as { vm?: string } | undefined;
    if (g?.vm) add(g.vm, t.at);
  }
  return out;
}

/** The invariants that need only summary.json. */
export function checkSummary(world: WorldDoc, summary: RunSummary, options: InvariantOptions = {}): Violation[] {
  const out: Violation[] = [];
  const undeclared = new Set(options.undeclaredFaults ?? []);
  const faults = new Set(world.timeline.map((t) => (t.fault as { kind?: string } | undefined)?.kind).filter((k): k is string => k !== undefined && !undeclared.has(k)));
  for (const kind of ISOLATION_FINDINGS) {
    const f = summary.findings.find((x) => x.kind === kind);
    if (f && !faults.has(ISOLATION_CAUSES[kind])) {
      out.push({ invariant: `no-${kind}`, detail: `${kind} on ${f.vm ?? f.host ?? '?'} at ${f.atNs}ns without an injected cause: ${f.detail}` });
    }
  }
  for (const [vmId, vm] of Object.entries(summary.vms)) {
    for (const g of vm.guestPerf) {
      // perf's time_running is the part of time_enabled the event had a counter (multiplexing).
      if (g.timeRunningNs > g.timeEnabledNs) out.push({ invariant: 'time-running-le-enabled', detail: `${vmId} guest perf ${g.command} ${g.event}: time_running ${g.timeRunningNs}ns > time_enabled ${g.timeEnabledNs}ns` });
    }
    for (const g of vm.guestPerf) {
      // No event counts faster than 8 instructions a cycle at 10 GHz (docs/scenario.md Limits:
      // ipc <= 8, cpuGhz <= 10), so a guest's count is bounded by its guest run time; a count
      // beyond it is a counter read across a wrap (a value near 2^width) or another's count.
      const most = MAX_EVENTS_PER_GUEST_NS * vm.guestRunNs;
      if (g.count > most) out.push({ invariant: 'guest-counts-physical', detail: `${vmId} guest perf ${g.command} ${g.event}: ${g.count} events in ${vm.guestRunNs}ns of guest run time (at most ${most})` });
    }
    const session = world.vms.find((v) => v.id === vmId)?.guestPerf ?? [];
    for (const s of session) {
      const period = (s.sample as { period?: number } | undefined)?.period;
      if (s.command !== 'record' || period === undefined) continue;
      // summary.json names a guest perf reading's command `<command>:<session id>`.
      for (const g of vm.guestPerf.filter((x) => x.command === `record:${s.id as string}`)) {
        // A sampling event overflows once per `period` events: more samples than that means
        // samples without overflows. (Fewer is legal: throttling, PMIs still in flight at the end.)
        const most = Math.floor(g.count / period);
        if (g.samples > most) out.push({ invariant: 'overflows-per-period', detail: `${vmId} guest perf record ${g.event}: ${g.samples} samples from ${g.count} events at period ${period} (at most ${most})` });
      }
    }
    const pmis = vm.fidelity?.pmis;
    if (pmis) {
      // Every PMI a counter raised is delivered to the guest, lost, or still in flight at the end.
      const pending = pmis.pending ?? 0;
      if (pmis.delivered + pmis.lost + pending !== pmis.raised) out.push({ invariant: 'pmis-accounted', detail: `${vmId}: ${pmis.raised} PMIs raised, ${pmis.delivered} delivered + ${pmis.lost} lost + ${pending} in flight at the end` });
    }
  }
  for (const [hostId, host] of Object.entries(summary.hosts)) {
    for (const e of host.perfEvents) {
      if (e.timeRunningNs > e.timeEnabledNs) out.push({ invariant: 'time-running-le-enabled', detail: `${hostId} host perf ${e.id}: time_running ${e.timeRunningNs}ns > time_enabled ${e.timeEnabledNs}ns` });
    }
  }
  return out;
}
