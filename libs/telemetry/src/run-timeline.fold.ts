// The reading of the event stream every viewer shares (PerfettoWriter, OtelTraceBuilder,
// ReportCollector), so that the trace, the Perfetto file and report.html always agree on it:
//   - which host thread runs on each pCPU, from `contextSwitch` events;
//   - vCPU run slices: a vCPU runs on (host, pCPU) from the switch that puts its host thread
//     there until the switch that takes it off, or until it is switched in on another pCPU
//     without a switch-out (a lost switch-out: the slice ends there), or until the run ends;
//   - PMIs, with the vCPU they are placed on and the run slice open at the time, if any;
//   - counter samples, keyed by the series they belong to (a vCPU's or VM's guest view, or a
//     pCPU's or host's);
//   - migrations: a VM's phase events from its first phase up to `resume` (completed) or
//     `refused`, or up to the end of the run (incomplete).
// The fold only reads; it calls a listener as things happen, in stream order, and each viewer
// draws what it wants from that. Per pCPU switch the listener hears, in this order: the pCPU
// switch, the end of the slice switched out, the end of the next vCPU's slice elsewhere (lost
// switch-out), the start of the next vCPU's slice. Memory is bounded by the topology.
import type { ContextSwitchEvent, CounterSampleEvent, MigrationPhaseEvent, PmiEvent, SimEvent } from '@vpmu/sim';
import { IDLE_THREAD, parseVcpuThreadName, type VcpuRef } from './thread-names';

/** A vCPU run slice that has started and not yet ended. */
export interface OpenRunSlice {
  host: string;
  pcpu: number;
  vm: string;
  vcpu: number;
  startNs: number;
  /** The slice's ordinal among this vCPU's run slices, from 0. */
  index: number;
}

/** Why a run slice ended: its thread left the pCPU, it was switched in elsewhere, or the run ended. */
export type RunSliceEnd = 'switched-out' | 'switched-in-elsewhere' | 'run-end';

export interface VcpuRunSlice extends OpenRunSlice {
  /** Never before startNs. */
  endNs: number;
  cause: RunSliceEnd;
  /** Set when cause is 'switched-out': the vCPU thread was preempted rather than yielding. */
  preempted?: boolean;
}

/** One pCPU changing thread; a null thread is idle. */
export interface PcpuSwitch {
  host: string;
  pcpu: number;
  atNs: number;
  prevThread: string | null;
  nextThread: string | null;
  /** The vCPU the next thread runs, null for any other thread. */
  nextVcpu: VcpuRef | null;
  preempted: boolean;
}

export interface PmiMark {
  event: PmiEvent;
  /** The vCPU the PMI is placed on, null for a PMI placed on a host or pCPU only. */
  vcpu: VcpuRef | null;
  /** That vCPU's run slice open when the PMI happened, null when it was descheduled. */
  slice: OpenRunSlice | null;
}

export interface CounterPoint {
  atNs: number;
  /** 'vm': a vCPU's (or the whole VM's) guest view; 'host': a pCPU's (or the whole host's). */
  owner: 'vm' | 'host';
  ownerId: string;
  /** vCPU or pCPU index, -1 for a whole VM or host. */
  cpu: number;
  event: string;
  actual: number;
  observed: number;
}

export interface Migration {
  vm: string;
  /** The migration's ordinal among this VM's migrations, from 0. */
  index: number;
  fromHost: string;
  toHost: string;
  /** 'incomplete': the run ended during it. */
  result: 'completed' | 'refused' | 'incomplete';
  /** The phase events in stream order; never empty. */
  phases: MigrationPhaseEvent[];
}

/** A migration phase placed on the timeline. */
export interface LaidPhase {
  event: MigrationPhaseEvent;
  startNs: number;
  endNs: number;
}

export interface RunTimelineListener {
  pcpuSwitch?(s: PcpuSwitch): void;
  sliceStart?(slice: OpenRunSlice): void;
  sliceEnd?(slice: VcpuRunSlice): void;
  pmi?(mark: PmiMark): void;
  counterSample?(point: CounterPoint): void;
  /** A migration has ended (or the run has, see endMigrations). */
  migration?(m: Migration): void;
}

/**
 * A phase event carries its start (atNs) and its duration; phases are laid end to end, none
 * starting before the previous one ended, the first no earlier than `floorNs`.
 */
export function layMigrationPhases(phases: readonly MigrationPhaseEvent[], floorNs = 0): LaidPhase[] {
  let cursor = phases.length > 0 ? Math.max(phases[0].atNs, floorNs) : floorNs;
  return phases.map((event) => {
    const startNs = Math.max(event.atNs, cursor);
    const endNs = startNs + Math.max(0, event.durationNs);
    cursor = endNs;
    return { event, startNs, endNs };
  });
}

interface VcpuTimeline {
  open: OpenRunSlice | null;
  started: number;
}

export class RunTimelineFold {
  /** host\0pcpu -> the thread running there (absent: idle or not seen yet). */
  private readonly pcpuThreads = new Map<string, string>();
  /** vm\0vcpu -> the vCPU's slices, in the order vCPUs first ran (the order finish() ends them). */
  private readonly vcpus = new Map<string, VcpuTimeline>();
  /** vm -> the phases of its migration in flight. */
  private readonly migrations = new Map<string, { index: number; phases: MigrationPhaseEvent[] }>();
  private readonly migrationCounts = new Map<string, number>();
  private maxSeenNs = 0;

  constructor(private readonly listener: RunTimelineListener) {}

  /** Folds one event in; other kinds than these four only move the clock. */
  onEvent(e: SimEvent): void {
    if (e.atNs > this.maxSeenNs) this.maxSeenNs = e.atNs;
    switch (e.kind) {
      case 'contextSwitch':
        this.onContextSwitch(e);
        break;
      case 'pmi':
        this.onPmi(e);
        break;
      case 'counterSample':
        this.onCounterSample(e);
        break;
      case 'migrationPhase':
        this.onMigrationPhase(e);
        break;
    }
  }

  /** The end of the run: its configured duration, or the latest event when one came later. */
  runEndNs(durationNs: number): number {
    return Math.max(durationNs, this.maxSeenNs);
  }

  /** The vCPU's open run slice, null while it is descheduled. */
  openSlice(vm: string, vcpu: number): OpenRunSlice | null {
    return this.vcpus.get(vcpuKey(vm, vcpu))?.open ?? null;
  }

  /** Ends the vCPU's open slice (if any) at the end of the run. */
  endAtRunEnd(vm: string, vcpu: number, endNs: number): void {
    const v = this.vcpus.get(vcpuKey(vm, vcpu));
    if (v?.open) this.end(v, endNs, 'run-end');
  }

  /** Ends every open slice at the end of the run, vCPUs in the order they first ran. */
  endRunSlices(endNs: number): void {
    for (const v of this.vcpus.values()) if (v.open) this.end(v, endNs, 'run-end');
  }

  /** Ends the migrations still in flight at the end of the run, in the order they started. */
  endMigrations(): void {
    for (const vm of [...this.migrations.keys()]) this.endMigration(vm);
  }

  private onContextSwitch(e: ContextSwitchEvent): void {
    const { host, pcpu } = e.at;
    if (host === undefined || pcpu === undefined) return;
    const key = `${host}\u0000${pcpu}`;
    const prevThread = this.pcpuThreads.get(key) ?? null;
    const nextThread = e.nextThread === IDLE_THREAD ? null : e.nextThread;
    const nextVcpu = nextThread === null ? null : parseVcpuThreadName(nextThread);
    if (nextThread === null) this.pcpuThreads.delete(key);
    else this.pcpuThreads.set(key, nextThread);
    this.listener.pcpuSwitch?.({ host, pcpu, atNs: e.atNs, prevThread, nextThread, nextVcpu, preempted: e.preempted });
    const prevVcpu = prevThread === null ? null : parseVcpuThreadName(prevThread);
    if (prevVcpu) {
      const v = this.vcpus.get(vcpuKey(prevVcpu.vm, prevVcpu.vcpu));
      if (v?.open && v.open.host === host && v.open.pcpu === pcpu) this.end(v, e.atNs, 'switched-out', e.preempted);
    }
    if (!nextVcpu) return;
    const v = this.vcpu(nextVcpu);
    if (v.open) this.end(v, e.atNs, 'switched-in-elsewhere');
    v.open = { host, pcpu, vm: nextVcpu.vm, vcpu: nextVcpu.vcpu, startNs: e.atNs, index: v.started++ };
    this.listener.sliceStart?.(v.open);
  }

  private onPmi(e: PmiEvent): void {
    if (!this.listener.pmi) return;
    const { vm, vcpu } = e.at;
    const ref = vm !== undefined && vcpu !== undefined ? { vm, vcpu } : null;
    this.listener.pmi({ event: e, vcpu: ref, slice: ref ? this.openSlice(ref.vm, ref.vcpu) : null });
  }

  private onCounterSample(e: CounterSampleEvent): void {
    if (!this.listener.counterSample) return;
    const { host, pcpu, vm, vcpu } = e.at;
    const base = { atNs: e.atNs, event: e.event, actual: e.actual, observed: e.observed };
    if (vm !== undefined) this.listener.counterSample({ ...base, owner: 'vm', ownerId: vm, cpu: vcpu ?? -1 });
    else if (host !== undefined) this.listener.counterSample({ ...base, owner: 'host', ownerId: host, cpu: pcpu ?? -1 });
  }

  private onMigrationPhase(e: MigrationPhaseEvent): void {
    const vm = e.at.vm;
    if (vm === undefined) return;
    let m = this.migrations.get(vm);
    if (!m) {
      const index = this.migrationCounts.get(vm) ?? 0;
      this.migrationCounts.set(vm, index + 1);
      m = { index, phases: [] };
      this.migrations.set(vm, m);
    }
    m.phases.push(e);
    if (e.phase === 'resume' || e.phase === 'refused') this.endMigration(vm);
  }

  private endMigration(vm: string): void {
    const m = this.migrations.get(vm)!;
    this.migrations.delete(vm);
    const first = m.phases[0];
    const last = m.phases[m.phases.length - 1];
    const result = last.phase === 'refused' ? 'refused' : last.phase === 'resume' ? 'completed' : 'incomplete';
    this.listener.migration?.({ vm, index: m.index, fromHost: first.fromHost, toHost: first.toHost, result, phases: m.phases });
  }

  private vcpu(ref: VcpuRef): VcpuTimeline {
    const key = vcpuKey(ref.vm, ref.vcpu);
    let v = this.vcpus.get(key);
    if (!v) {
      v = { open: null, started: 0 };
      this.vcpus.set(key, v);
    }
    return v;
  }

  private end(v: VcpuTimeline, atNs: number, cause: RunSliceEnd, preempted?: boolean): void {
    const open = v.open!;
    v.open = null;
    const slice: VcpuRunSlice = { ...open, endNs: Math.max(atNs, open.startNs), cause };
    if (preempted !== undefined) slice.preempted = preempted;
    this.listener.sliceEnd?.(slice);
  }
}

function vcpuKey(vm: string, vcpu: number): string {
  return `${vm}\u0000${vcpu}`;
}
