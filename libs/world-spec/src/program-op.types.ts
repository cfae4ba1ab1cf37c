// A guest program: the scripted PMU accesses a VM's vCPUs perform in order (MSR and PMC reads
// and writes, counted loops, paravirt perf hypercalls, arm64 PMU register accesses) and the
// `expect` checks on earlier steps' results.

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
