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
  /** What CPUID / PERF_CAPABILITIES show the guest (x86); absent = the host's PMU shape. */
  guestPmu?: GuestPmuSpec;
}

/**
 * The guest PMU shape a VMM sets through KVM_SET_CPUID2 (leaf 0xA on Intel, 0x80000022 on AMD)
 * and the PERF_CAPABILITIES MSR. Every field absent = the host's value (docs/scenario.md).
 */
export interface GuestPmuSpec {
  /** Architectural perfmon version (CPUID.0AH:EAX[7:0]; AMD: 1, or 2 with PerfMonV2); 0 = no PMU. */
  version?: number;
  /** GP counters (CPUID.0AH:EAX[15:8]). */
  gpCounters?: number;
  /** Contiguous fixed counters (CPUID.0AH:EDX[4:0], version 2+). */
  fixedCounters?: number;
  /** Fixed counters enumerated one by one (CPUID.0AH:ECX, version 5+). */
  fixedCounterMask?: number;
  /** Architectural events marked unavailable (CPUID.0AH:EBX; a set bit = unavailable). */
  eventMask?: number;
  /** PERF_CAPABILITIES.FW_WRITES (bit 13): the IA32_A_PMCx aliases exist. */
  fullWidthWrites?: boolean;
  /** false = KVM_CAP_PMU_CAPABILITY with KVM_PMU_CAP_DISABLE: the VM has no PMU. */
  enabled?: boolean;
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
