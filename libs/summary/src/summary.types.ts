// summary.json, schema 1: the stable contract of a run's results (docs/cli/run.md).
// Keys here are stable; more may be added, none removed or renamed without a schema bump.
import type { VmFidelity } from './fidelity';

export interface CounterAccuracy {
  actual: number;        // ground truth from the workload model
  guestObserved: number; // what the guest's counters / guest perf reported
  errorPct: number;      // (guestObserved - actual) / actual * 100, 0 when actual is 0
}

export interface ProgramStepResult {
  step: number;
  op: string;
  result: string;        // "ok", "gp", "undefined" or an errno name
  fault: string | null;
  value?: number;
  ok?: boolean;          // for expect steps: did the expectation hold
}

/** The outcome of a timeline action on a VM (e.g. arm64 `setPmu`): result "ok" or an errno name. */
export interface ActionOutcome {
  atNs: number;
  action: string;        // "setPmu"
  arg: string;           // e.g. the PMU id
  result: string;        // "ok" | "ENXIO" | "EBUSY" | ...
  errno: string | null;
  detail: string;
}

/** Guest LBR statistics summed over a VM's vCPUs (docs/lbr.md). */
export interface LbrSummary {
  mode: string;              // none | pv | lazy
  reads: number;             // guest reads of the stack (PMI handler, sched-task)
  pollutedReads: number;     // reads that returned foreign entries (lbr-polluted findings)
  foreignEntries: number;
  saves: number;
  restores: number;
  intercepts: number;
  hostEventCreates: number;
  hostEventReleases: number;
  timerFires: number;
  msrExits: number;
  costNs: number;            // CPU time of every LBR transition (save/restore, traps, timer exits)
}

/** Finding kind the host worlds use to report a timeline action's outcome; the summary lists these under vms.<id>.actions, not findings. */
export const TIMELINE_ACTION_FINDING = 'timeline-action';

export interface MigrationSummary {
  from: string;
  to: string;
  phases: { phase: string; durationNs: number; bytes: number }[];
  downtimeNs: number;
  bytesSent: number;
  result: string;        // "completed" | "refused: <reason>"
}

export interface VmSummary {
  host: string;
  vpmu: string;
  workloadScore: number;
  guestRunNs: number;
  counters: Record<string, CounterAccuracy>;
  vmExits: Record<string, number>;
  pmis: { delivered: number; lost: number };
  program: ProgramStepResult[];
  migrations: MigrationSummary[];
  /** Timeline actions applied to this VM and their outcome (absent = none). */
  actions?: ActionOutcome[];
  /** Could a record/replay debugger run in this guest (fidelity.ts). */
  fidelity?: VmFidelity;
  /** Guest LBR save/restore (absent when the guest does not use the LBR call stack). */
  lbr?: LbrSummary;
  guestPerf: { command: string; event: string; count: number; timeEnabledNs: number; timeRunningNs: number; samples: number }[];
}

export interface HostPerfEventSummary {
  id: string;
  state: string;
  count: number;
  timeEnabledNs: number;
  timeRunningNs: number;
}

export interface HostSummary {
  cpu: string;
  pcpus: number;
  contextSwitches: number;
  perfEvents: HostPerfEventSummary[];
}

/**
 * One finding, or a run of repeats of it: same kind, same place, same detail class (the detail
 * with its free-standing numbers masked; "cpu1" keeps its number). `atNs` is the first occurrence, `lastAtNs` the last, `count` how many
 * (docs/findings.md "Repeated findings"); `detail` is the first occurrence's.
 */
export interface FindingSummary {
  kind: string;
  atNs: number;
  lastAtNs: number;
  count: number;
  host: string | null;
  vm: string | null;
  vcpu: number | null;
  detail: string;
}

/**
 * Most distinct findings a summary keeps. Past it, a finding of a new detail class joins its
 * kind's entry at that place, so a run cannot make the summary (and the report built from it)
 * grow with the number of findings: it grows with kinds x places at most.
 */
export const MAX_FINDING_ENTRIES = 1000;

/**
 * A fault the scenario injected (timeline `fault`), beside the findings it can cause: findings of
 * those kinds on its target are the fault's doing, not a real KVM defect. `testOnly` faults
 * imitate KVM defects only to prove a check fires (run --allow-test-faults).
 */
export interface InjectedFaultSummary {
  kind: string;
  target: string;
  atNs: number;
  /** 0 = to the end of the run. */
  durationNs: number;
  testOnly: boolean;
  /** The finding kinds it shows up as (docs/findings.md). */
  findingKinds: string[];
  /** How many findings of those kinds the run raised on its target (repeats counted). */
  findings: number;
}

/**
 * What a viewer says about a summary-level run: what its trace holds and what no viewer can show
 * from it (report banner, Perfetto otherData, OTLP run span attribute).
 */
export const SUMMARY_TRACE_NOTE =
  'trace level summary: VM exits, VM entries and PMIs are recorded as per-epoch counts per vCPU and reason (traceSummary events); ' +
  'their individual instants, per-event costs, PMI skid and PMI marks on the vCPU tracks cannot be shown';

export interface RunSummary {
  schema: 1;
  run: {
    id: string;
    scenario: string;
    seed: number;
    durationNs: number;
    epochs: number;
    toolVersion: string;
    transport: 'in-process' | 'kafka';
    /** Present when the scenario asked for `trace: summary` (absent = the full trace). */
    traceLevel?: 'summary';
  };
  /** Running hash of the recording: header (tool version, run id, scenario) and every frame. */
  digest: string;
  /** Content digest: every event batch alone, independent of the tool version (golden files pin it). */
  contentDigest: string;
  events: { total: number; byKind: Record<string, number> };
  vms: Record<string, VmSummary>;
  hosts: Record<string, HostSummary>;
  findings: FindingSummary[];
  /** Present when the scenario injects faults: each one and the findings it can account for. */
  injectedFaults?: InjectedFaultSummary[];
  deadLetters: number;
  overhead?: OverheadTable;
  /** The guest perf sessions' files the run wrote (absent when no VM has a guest perf session). */
  guestPerfFiles?: GuestPerfFileSummary[];
}

/** One file a guest perf session left behind, written under the run's output directory. */
export interface GuestPerfFileSummary {
  vm: string;
  session: string;
  kind: 'perf.data' | 'perf map' | 'perf stat' | 'perf stat csv';
  /** Relative to the run's output directory (guest/<vm>/<file>). */
  path: string;
  bytes: number;
  /** perf.data: samples per event of the session (its order), lost samples, top functions. */
  samplesPerEvent?: number[];
  lostSamples?: number;
  /** perf.data: THROTTLE / UNTHROTTLE records (the guest kernel throttled the session's events). */
  throttles?: number;
  unthrottles?: number;
  topFunctions?: { name: string; overheadPct: number; samples: number }[];
  /** perf map: where perf looks for it (copy it there to resolve symbols). */
  perfMapTarget?: string;
}

export interface OverheadTable {
  baselineScore: number;
  columns: string[];                    // mode labels
  rows: { command: string; overheadPct: number[] }[];
}
