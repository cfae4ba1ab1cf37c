// perf events and their contexts: the data the host perf core schedules.
//
// Follows perf_event_open(2) and kernel/events/core.c: an event has a state (OFF, INACTIVE,
// ACTIVE, ERROR — PerfStateName in @vpmu/sim), accumulates `count`, `time_enabled` and
// `time_running`; events form groups scheduled as a unit (group leader + siblings); groups live in
// a context: per-CPU (event->cpu set, no task) or per-task (attached to a thread, scheduled in and
// out with it). Sampling events carry the hw_perf_event period bookkeeping (sample_period,
// period_left, last_period, freq stamps) of include/linux/perf_event.h.

import { isWorkloadEvent, type WorkloadEventName } from '@vpmu/pmu';
import type { FindingEvent, PerfStateEvent, PerfStateName, PmiEvent } from '@vpmu/sim';

/** Which PMU an event belongs to. Only `core` PMUs are passthrough-capable (PERF_PMU_CAP_VPMU_PASSTHROUGH). */
export type PerfPmuKind = 'core' | 'uncore' | 'software';

/** Software events (kernel/events/core.c perf_swevent / cpu-clock, task-clock): count ns. */
export const SOFTWARE_EVENTS = ['cpu-clock', 'task-clock'] as const;
/** An uncore event (e.g. uncore_imc clockticks): counts at `uncoreClockGhz`, blind to guest/host. */
export const UNCORE_EVENTS = ['uncore-clockticks'] as const;

export function pmuKindOf(event: string): PerfPmuKind | null {
  if (isWorkloadEvent(event)) return 'core';
  if ((SOFTWARE_EVENTS as readonly string[]).includes(event)) return 'software';
  if ((UNCORE_EVENTS as readonly string[]).includes(event)) return 'uncore';
  return null;
}

export type PerfErrno = 'EINVAL' | 'EBUSY' | 'ENOENT' | 'EOPNOTSUPP' | 'ESRCH';

export interface PerfEventAttr {
  /** Workload event name (core PMU), or a software / uncore event name. */
  event: string;
  excludeUser?: boolean;
  excludeKernel?: boolean;
  excludeHost?: boolean;
  excludeGuest?: boolean;
  pinned?: boolean;
  /** Created in the OFF state (attr.disabled); enable() starts it. */
  disabled?: boolean;
  /** Sampling with a fixed period (events per sample). */
  samplePeriod?: number;
  /** Sampling at a frequency (attr.freq + sample_freq): the kernel adjusts the period. */
  sampleFreqHz?: number;
  /** This is the NMI watchdog's event (for the nmi-watchdog-blind finding). */
  nmiWatchdog?: boolean;
}

export interface PerfTarget {
  /** Caller-chosen unique id; default `ev<N>`. */
  id?: string;
  /** Per-CPU event on this CPU (with `task`: counts the task only on that CPU). */
  cpu?: number;
  /** Per-task event: counts while this thread runs (on any CPU unless `cpu` is given). */
  task?: string;
  /** Join the group led by this event id. */
  groupLeader?: string;
}

export interface PerfHooks {
  /** Called at each host PMI that produced a sample (KVM's emulated vPMU injects a guest PMI). */
  onSample?(eventId: string, pmiNs: number, overflowNs: number): void;
}

export type CreateResult = { ok: true; id: string } | { ok: false; errno: PerfErrno; reason: string };

export interface PerfReading {
  id: string;
  state: PerfStateName;
  /** Raw count (0 for an event in ERROR: read(2) returns nothing). */
  count: number;
  /** count * enabled / running, rounded (0 when running is 0): what `perf stat` prints. */
  scaledCount: number;
  timeEnabledNs: number;
  timeRunningNs: number;
  samples: number;
  /** Current sample period (sampling events). */
  samplePeriod: number;
  /** PMIs whose sample was lost (event scheduled out before its PMI arrived). */
  lostPmis: number;
}

/** Where perf reports state changes, findings and host PMIs (the world forwards them unchanged). */
export interface PerfSink {
  emit(event: PerfStateEvent | FindingEvent | PmiEvent): void;
}

export const NULL_SINK: PerfSink = { emit: () => undefined };

/** One perf event. Mutable internal state of the perf core; read it through PerfCore.read(). */
export class PerfEvent {
  state: PerfStateName = 'inactive';
  leader: PerfEvent = this;
  readonly siblings: PerfEvent[] = [];
  /** Order in the context's group tree (perf_event_groups: group_index); rotation bumps it. */
  groupIndex = 0;

  count = 0;
  enabledNs = 0;
  runningNs = 0;
  /** Time up to which enabled/running are accounted. */
  tstampNs: number;

  /** Hardware counter id while ACTIVE on a core PMU, else -1; and the CPU it is active on. */
  hwCounter = -1;
  activeCpu = -1;
  /** countedSinceWrite already folded into count. */
  hwSeen = 0;
  /** The counted stream's sub-event progress while the event is out (PmuModel.hostCarryQ). */
  carryQ = 0;

  // Sampling (hw_perf_event).
  samplePeriod = 0;
  periodLeft = 0;
  lastPeriod = 0;
  samples = 0;
  lostPmis = 0;
  freqCountStamp = 0;
  freqTimeStampNs = 0;
  interruptsThisTick = 0;
  /** The tick (floor(ns / tick)) interruptsThisTick counts for. */
  interruptsSeq = -1;
  throttled = false;

  /** ERROR was forced at a guest entry (the passthrough rule), not by a pinned misfit. */
  forcedOutByGuest = false;

  constructor(
    readonly id: string,
    readonly attr: Readonly<PerfEventAttr>,
    readonly pmuKind: PerfPmuKind,
    readonly cpu: number, // -1 = any
    readonly task: string | null,
    readonly hooks: PerfHooks,
    createdNs: number,
  ) {
    this.tstampNs = createdNs;
    if (attr.disabled) this.state = 'off';
    if (attr.sampleFreqHz !== undefined) {
      // perf_event_alloc: a frequency event starts with sample_period = 1.
      this.samplePeriod = 1;
    } else if (attr.samplePeriod !== undefined) {
      this.samplePeriod = attr.samplePeriod;
    }
    this.periodLeft = this.samplePeriod;
    this.lastPeriod = this.samplePeriod;
  }

  get sampling(): boolean {
    return this.samplePeriod > 0;
  }

  get isLeader(): boolean {
    return this.leader === this;
  }

  get workloadEvent(): WorkloadEventName {
    return this.attr.event as WorkloadEventName;
  }

  /** Leader and siblings, leader first. */
  members(): PerfEvent[] {
    return [this.leader, ...this.leader.siblings];
  }
}

/** The groups of one context (per-CPU or per-task), ordered by group index. */
export class PerfEventContext {
  readonly groups: PerfEvent[] = [];
  /** Some flexible group could not be scheduled at the last sched-in (perf_rotate_context). */
  rotateNecessary = false;
  /** ctx->is_active bits: the pinned / flexible groups are scheduled in. */
  pinnedIn = false;
  flexibleIn = false;

  constructor(
    readonly kind: 'cpu' | 'task',
    /** CPU number for cpu contexts, thread id for task contexts. */
    readonly owner: number | string,
  ) {}

  add(leader: PerfEvent, groupIndex: number): void {
    leader.groupIndex = groupIndex;
    this.groups.push(leader);
    this.sort();
  }

  remove(leader: PerfEvent): void {
    const i = this.groups.indexOf(leader);
    if (i >= 0) this.groups.splice(i, 1);
  }

  sort(): void {
    this.groups.sort((a, b) => a.groupIndex - b.groupIndex);
  }

  allEvents(): PerfEvent[] {
    return this.groups.flatMap((g) => g.members());
  }
}
