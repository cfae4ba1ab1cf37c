// A simulated physical host as the world is built from it: its CPU preset and PMU overrides,
// the vPMU modes it offers, its scheduler slice, and the host-side load on it (perf sessions
// and noise threads). Durations are integer virtual nanoseconds.

import type { VpmuMode } from './vm-spec.types';

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
  /** Which kernel's guest-PMU rules the host runs (absent: rfc-fixed; read it with hostKernel). */
  kernel?: KernelGeneration;
  /** KVM module parameters of the host (absent: the defaults; read them with hostKvm). */
  kvm?: KvmModuleParams;
}

/**
 * The host kernel generation for the direct-PMU designs:
 * - `rfc-as-posted`: the passthrough RFC (Jan 2024) with its bugs: perf_guest_enter puts only the
 *   group leader of an include-guest group into ERROR, and perf_guest_exit schedules the CPU
 *   context (pinned, flexible) before the task context;
 * - `rfc-fixed`: the RFC with those two bugs fixed (the tool's passthrough model, the default);
 * - `mainline`: the merged mediated vPMU (perf parts in tip perf/core, Dec 2025): exclusion at
 *   creation time (EBUSY / EOPNOTSUPP), no ERROR state, the NMI watchdog counts guest mode.
 */
export type KernelGeneration = 'rfc-as-posted' | 'rfc-fixed' | 'mainline';
export const KERNEL_GENERATIONS: readonly KernelGeneration[] = ['rfc-as-posted', 'rfc-fixed', 'mainline'];

/** kvm.ko module parameters (`kvm.enable_pmu`, `kvm.enable_mediated_pmu`). */
export interface KvmModuleParams {
  /** enable_pmu (default true): false gives no VM a PMU. */
  enablePmu: boolean;
  /** enable_mediated_pmu (mainline only; default false): VMs get the mediated vPMU. */
  enableMediatedPmu: boolean;
  /**
   * The RFC's read-only enable_passthrough_pmu ("[RFC PATCH 11/41] KVM: x86/pmu: Introduce
   * enable_passthrough_pmu module parameter", Jan 2024; RFC kernels only): true gives every VM
   * with a PMU the passthrough vPMU, false the emulated one. Absent: each VM chooses (the tool's
   * per-VM mode, which the RFC did not have).
   */
  enablePassthroughPmu?: boolean;
}

export interface PmuOverrides {
  gpCounters?: number;
  fixedCounters?: number;
  counterWidth?: number;
  lbrDepth?: number;
  pmiSkidNs?: number;
}

/** How a perf session samples: by frequency or every `periodEvents` events. */
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

export const DEFAULT_KERNEL_GENERATION: KernelGeneration = 'rfc-fixed';

/** The host's kernel generation, defaulted. */
export function hostKernel(spec: Pick<HostSpec, 'kernel'>): KernelGeneration {
  return spec.kernel ?? DEFAULT_KERNEL_GENERATION;
}

/** The host's KVM module parameters, defaulted (enable_pmu on, enable_mediated_pmu off). */
export function hostKvm(spec: Pick<HostSpec, 'kvm'>): KvmModuleParams {
  return spec.kvm ?? { enablePmu: true, enableMediatedPmu: false };
}
