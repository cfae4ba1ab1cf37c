// The normalized scenario (version 1), as the rest of the tool sees it after validation:
// every duration is integer virtual nanoseconds, every default is filled in, every reference
// (vm.host, timeline targets) has been checked to exist. docs/scenario.md documents the YAML
// form, its units and defaults.

export type VpmuMode = 'none' | 'emulated' | 'passthrough' | 'paravirt';
export const VPMU_MODES: readonly VpmuMode[] = ['none', 'emulated', 'passthrough', 'paravirt'];
export type LbrMode = 'none' | 'pv' | 'lazy';
export type WorkloadProfile = 'specint' | 'fio' | 'idle' | 'branchy';
export const WORKLOAD_PROFILES: readonly WorkloadProfile[] = ['specint', 'fio', 'idle', 'branchy'];

export interface Scenario {
  version: 1;
  name: string;
  seed: number;
  durationNs: number;
  epochNs: number;
  /** Every how many epochs a checkpoint is taken (recording). */
  checkpointEveryEpochs: number;
  /** Period of the per-vCPU counter samples emitted into the event stream. */
  sampleIntervalNs: number;
  hosts: HostSpec[];
  vms: VmSpec[];
  timeline: TimelineEntry[];
  /** Optional cost model overrides: parameter name -> value (units in the name). */
  costs: Record<string, number>;
}

export interface HostSpec {
  id: string;
  cpu: string;                  // CPU preset, e.g. intel-spr, intel-icx, intel-skx, arm-a76-a55
  pcpus: number;
  pmu?: PmuOverrides;
  vpmuModes: VpmuMode[];        // modes this host supports (default: all its PMU can do)
  nmiWatchdog: boolean;
  timesliceNs: number;          // host scheduler time slice
  perf: HostPerfSession[];
  noise: HostNoiseThread[];
  /** arm64: PMU probe order by PMU id (default: preset order). */
  armPmuProbeOrder?: string[];
}

export interface PmuOverrides {
  gpCounters?: number;
  fixedCounters?: number;
  counterWidth?: number;
  lbrDepth?: number;
  pmiSkidNs?: number;
}

export type SampleSpec = { freqHz: number; periodEvents?: undefined } | { periodEvents: number; freqHz?: undefined };

export interface HostPerfSession {
  id: string;
  events: string[];             // event names (instructions, cycles, ...)
  group: boolean;               // the events form one group
  excludeGuest: boolean;
  excludeHost: boolean;
  excludeUser: boolean;
  excludeKernel: boolean;
  pinned: boolean;
  cpus: number[] | 'all';       // per-CPU contexts
  sample?: SampleSpec;          // absent = counting
  startNs: number;
  stopNs?: number;
}

export interface HostNoiseThread {
  id: string;
  cpus: number[] | 'all';
  periodNs: number;             // wakes up every periodNs (exponentially jittered by the PRNG)
  runtimeNs: number;            // runs this long each time
  lbr: boolean;                 // uses the LBR (LBR-pollution source)
  priority: 'normal' | 'high';  // high preempts vCPU threads at once
}

export interface EventFilterSpec {
  action: 'allow' | 'deny';
  events: { eventSelect: number; umask: number }[];
  fixedCounterBitmap: number;
  masked: { eventSelect: number; mask: number; match: number; exclude: boolean }[];
}

export interface VpmuSpec {
  mode: VpmuMode;
  interceptEventSelect: boolean;
  filter?: EventFilterSpec;
  lbr: LbrMode;
  lazyLbrReleaseNs: number;     // lazy LBR: release the host LBR event after this long unused
  armPmu?: string;              // arm64 SET_PMU at creation
  nrCounters?: number;          // arm64 SET_NR_COUNTERS / x86 exposed GP counters
  pvEventLimit: number;         // paravirt per-VM event limit
  pmiVector: 'dedicated' | 'shared';
}

export interface WorkloadSpec {
  profile: WorkloadProfile;
  tasksPerVcpu: number;
  /** Overrides of the profile's rates; keys documented in docs/scenario.md. */
  overrides: Partial<WorkloadRates>;
}

/** Rates per virtual ns of guest run time, plus exit sources. */
export interface WorkloadRates {
  ipc: number;                  // instructions per cycle
  cpuGhz: number;               // core cycles per ns
  refGhz: number;               // reference cycles per ns
  branchFraction: number;       // branches per instruction
  branchMissRate: number;       // misses per branch
  llcRefsPerKiloInstr: number;
  llcMissRate: number;          // misses per LLC reference
  kernelFraction: number;       // fraction of time in guest kernel mode
  ioExitsPerSec: number;        // VM exits for I/O
  hltExitsPerSec: number;       // idle exits
  dirtyBytesPerSec: number;     // memory dirtying rate (migration)
  guestTimesliceNs: number;     // guest scheduler time slice
  busyFraction: number;         // fraction of time a vCPU has work (the rest it halts: HLT exit, thread sleeps)
}

export interface GuestPerfSpec {
  id: string;
  command: 'stat' | 'record';
  events: string[];
  sample?: SampleSpec;          // record only
  allCpus: boolean;             // -a
  callGraph: 'none' | 'lbr';
  startNs: number;
  stopNs?: number;
}

export type ProgramOp =
  | { op: 'wrmsr'; msr: number; value: number; vcpu: number }
  | { op: 'rdmsr'; msr: number; vcpu: number }
  | { op: 'rdpmc'; index: number; vcpu: number }
  | { op: 'loop'; instructions: number; branches: number; vcpu: number }
  | { op: 'expect'; step: number; equals?: number; fault?: 'none' | 'gp' | 'undefined'; atLeast?: number; atMost?: number; errno?: string }
  | { op: 'setPmu'; pmu: string }
  | { op: 'setNrCounters'; n: number }
  /** Paravirtual perf hypercall (vpmu.mode paravirt; docs/vpmu-backends.md). `count` > 1 repeats open on ids id..id+count-1. */
  | { op: 'hypercall'; call: PvHypercallName; id: number; vcpu: number; count: number; attr: PvHypercallAttr }
  /** arm64 guest MRS of a PMU register (`n`: counter index of PMEVCNTR/PMEVTYPER). */
  | { op: 'armRead'; reg: string; n?: number; vcpu: number }
  /** arm64 guest MSR of a PMU register. */
  | { op: 'armWrite'; reg: string; n?: number; value: number; vcpu: number };

export type PvHypercallName = 'open' | 'close' | 'enable' | 'disable' | 'read';
export const PV_HYPERCALLS: readonly PvHypercallName[] = ['open', 'close', 'enable', 'disable', 'read'];

/** perf attributes a `hypercall: { call: open }` passes (defaults: PERF_TYPE_HARDWARE, the event's config, counting). */
export interface PvHypercallAttr {
  /** perf_event_attr.type (0 hardware, 4 raw, anything else is refused). */
  type: number;
  /** perf_event_attr.config (PERF_COUNT_HW_*). */
  config: number;
  /** sample_period (or sample_freq with freq); 0 = counting. */
  period: number;
  freq: boolean;
  sampleType: number;
  flags: number;
  excludeUser: boolean;
  excludeKernel: boolean;
}

export interface VmSpec {
  id: string;
  host: string;
  vcpus: number;
  /** Per vCPU, the pCPUs its thread may run on. */
  affinity: number[][];
  memoryBytes: number;
  vpmu: VpmuSpec;
  workload: WorkloadSpec;
  guestPerf: GuestPerfSpec[];
  program: ProgramOp[];
}

export type TimelineAction =
  | { kind: 'migrate'; vm: string; to: string; bandwidthBytesPerSec: number; maxDowntimeNs: number }
  | { kind: 'setPmu'; vm: string; pmu: string }
  | { kind: 'hostPerf'; host: string; session: string; action: 'start' | 'stop' }
  | { kind: 'guestPerf'; vm: string; session: string; action: 'start' | 'stop' }
  | { kind: 'fault'; fault: string; target: string; durationNs: number; params: Record<string, string> };

export interface TimelineEntry {
  atNs: number;
  action: TimelineAction;
}
