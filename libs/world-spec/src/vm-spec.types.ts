// A simulated VM as the world is built from it: its placement (host, vCPU affinity), memory,
// the vPMU KVM gives it (mode, event filter, LBR, paravirt limits), what runs inside it
// (workload, guest perf sessions, a scripted program).

import type { ProgramOp } from './program-op.types';
import type { GuestPerfSpec, WorkloadSpec } from './workload-spec.types';

// `passthrough` is the 2024 RFC design (perf_guest_enter/exit, ERROR state); `mediated` is the
// design merged upstream ("KVM: x86: Add support for mediated vPMUs", v6 Dec 2025), which needs a
// host with `kernel: mainline` and `kvm.enableMediatedPmu`.
export type VpmuMode = 'none' | 'emulated' | 'passthrough' | 'paravirt' | 'mediated';
export const VPMU_MODES: readonly VpmuMode[] = ['none', 'emulated', 'passthrough', 'paravirt', 'mediated'];
export type LbrMode = 'none' | 'pv' | 'lazy';

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
