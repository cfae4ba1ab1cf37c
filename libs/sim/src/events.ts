// The simulation's output vocabulary: flat, resolved events with absolute virtual time.
// Models emit these; libs/proto encodes them into compact EventBatch messages (interned ids,
// delta-encoded time) and decodes them back. Kept free of protobuf so the models stay pure.

export interface Place {
  host?: string;
  pcpu?: number;
  vm?: string;
  vcpu?: number;
}

export type PmiOwner = 'host' | 'guest';
export type PerfStateName = 'off' | 'inactive' | 'active' | 'error';
export type MsrResultName = 'ok' | 'gp' | 'undefined';
export type MigrationPhaseName = 'setup' | 'precopy' | 'stop-and-copy' | 'resume' | 'refused';

interface Base {
  atNs: number;
  at: Place;
}

export interface CounterSampleEvent extends Base { kind: 'counterSample'; event: string; actual: number; observed: number }
export interface PmiEvent extends Base {
  kind: 'pmi';
  counter: string;
  owner: PmiOwner;
  deliveredTo: PmiOwner;
  vector: number;
  overflowNs: number;
  skidNs: number;
  lost: boolean;
}
export interface ContextSwitchEvent extends Base { kind: 'contextSwitch'; prevThread: string; nextThread: string; preempted: boolean }
export interface GuestContextSwitchEvent extends Base { kind: 'guestContextSwitch'; prevTask: string; nextTask: string }
export interface VmExitEvent extends Base { kind: 'vmExit'; reason: string; costNs: number; msr: number }
export interface VmEntryEvent extends Base { kind: 'vmEntry'; pmuSwitchNs: number; pmiInjected: boolean }
export interface PerfStateEvent extends Base {
  kind: 'perfState';
  eventId: string;
  from: PerfStateName;
  to: PerfStateName;
  cause: string;
  count: number;
}
export interface MsrAccessEvent extends Base { kind: 'msrAccess'; msr: number; write: boolean; value: number; result: MsrResultName; trapped: boolean }
export interface LbrSnapshotEvent extends Base { kind: 'lbrSnapshot'; fromIps: number[]; toIps: number[]; foreignEntries: number }
export interface MigrationPhaseEvent extends Base {
  kind: 'migrationPhase';
  fromHost: string;
  toHost: string;
  phase: MigrationPhaseName;
  durationNs: number;
  bytes: number;
  iteration: number;
  /** Refusal reason or a note (e.g. pre-copy did not converge). */
  detail?: string;
}
export interface FindingEvent extends Base {
  kind: 'finding';
  findingKind: string;
  detail: string;
  /** How many repeats of the same finding this one stands for (absent = one): a model folds a burst into one event. */
  count?: number;
}
export interface ProgramStepEvent extends Base {
  kind: 'programStep';
  step: number;
  op: string;
  result: MsrResultName;
  value: number;
  ok: boolean;
  /** errno name of a call that failed with one (arm64 SET_PMU, paravirt hypercalls); result is then 'ok'. */
  errno?: string;
}
export interface GuestPerfEvent extends Base {
  kind: 'guestPerf';
  command: string;
  event: string;
  count: number;
  timeEnabledNs: number;
  timeRunningNs: number;
  samples: number;
}
/**
 * The guest kernel throttled (`throttled`) or unthrottled one event of a guest perf session on
 * a vCPU: what perf_log_throttle writes into the guest's ring buffer as PERF_RECORD_THROTTLE /
 * PERF_RECORD_UNTHROTTLE. Stamped with the guest's perf_clock() (kvmclock: host time).
 */
export interface GuestThrottleEvent extends Base {
  kind: 'guestThrottle';
  /** The guest perf session's id (vms[].guestPerf[].id). */
  session: string;
  /** Index of the event in the session's events (spec order), and its name. */
  eventIndex: number;
  event: string;
  throttled: boolean;
}

/**
 * The summary trace level's stand-in for a vCPU's per-exit, per-entry or per-PMI events of one
 * epoch: how many there were per reason (exit reason, or PMI counter and owner), stamped at the
 * epoch's start. A full-level run never emits it.
 */
export interface TraceSummaryEvent extends Base {
  kind: 'traceSummary';
  of: TraceSummaryOf;
  /** vmExit: the exit reason; pmi: the counter; vmEntry: empty. */
  reason: string;
  count: number;
  /** vmExit: total costNs; vmEntry: total pmuSwitchNs; pmi: 0. */
  costNs: number;
  /** pmi: how many of `count` were lost; vmEntry: how many injected a PMI; vmExit: 0. */
  flagged: number;
  /** pmi only: whose PMI. */
  owner?: PmiOwner;
}
export type TraceSummaryOf = 'vmExit' | 'vmEntry' | 'pmi';

export type SimEvent =
  | CounterSampleEvent
  | PmiEvent
  | ContextSwitchEvent
  | GuestContextSwitchEvent
  | VmExitEvent
  | VmEntryEvent
  | PerfStateEvent
  | MsrAccessEvent
  | LbrSnapshotEvent
  | MigrationPhaseEvent
  | FindingEvent
  | ProgramStepEvent
  | GuestPerfEvent
  | GuestThrottleEvent
  | TraceSummaryEvent;

export type SimEventKind = SimEvent['kind'];

export const SIM_EVENT_KINDS: readonly SimEventKind[] = [
  'counterSample',
  'pmi',
  'contextSwitch',
  'guestContextSwitch',
  'vmExit',
  'vmEntry',
  'perfState',
  'msrAccess',
  'lbrSnapshot',
  'migrationPhase',
  'finding',
  'programStep',
  'guestPerf',
  'guestThrottle',
];

/** Canonical order of events inside one node's epoch output: by time, then emission order. */
export function sortEventsCanonically(events: SimEvent[]): SimEvent[] {
  // Array.prototype.sort is stable, so equal times keep emission order.
  return events.sort((a, b) => a.atNs - b.atNs);
}
