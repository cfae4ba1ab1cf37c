// The guest PMU shape a VMM gives a VM (KVM_SET_CPUID2 leaf 0xA, the PERF_CAPABILITIES MSR) as
// KVM applies it (arch/x86/kvm/vmx/pmu_intel.c intel_pmu_refresh, arch/x86/kvm/svm/pmu.c
// amd_pmu_refresh): which counters and registers exist for the guest, and what it enumerates.
// The rules the tests pin come from tools/testing/selftests/kvm/x86/pmu_counters_test.c:
// fixed counters need version 2+, the enumerated fixed-counter bitmask (CPUID.0AH:ECX) version
// 5+; a fixed counter exists when its index is below the contiguous count *or* its bit is in
// the bitmask; the IA32_A_PMCx aliases need PERF_CAPABILITIES.FW_WRITES; the event-availability
// mask (CPUID.0AH:EBX) changes the enumeration only, never what a programmed event counts.
import type { IntelPmuConfig } from '@vpmu/pmu';
import type { GuestPmuSpec } from '@vpmu/world-spec';

export interface GuestPmuShape {
  /** Architectural perfmon version the guest sees (0 = no PMU). */
  version: number;
  gpCounters: number;
  /** CPUID.0AH:EDX[4:0] as enumerated. */
  fixedCounters: number;
  /** CPUID.0AH:ECX as enumerated. */
  fixedCounterMask: number;
  /** Bit i set = fixed counter i exists for the guest (the effective set). */
  fixedPresent: number;
  /** CPUID.0AH:EBX: a set bit marks an architectural event unavailable. */
  eventMask: number;
  fullWidthWrites: boolean;
}

/** Fixed counters the guest has: contiguous ones from version 2, the ECX bitmask from version 5. */
export function fixedPresentMask(version: number, fixedCounters: number, fixedCounterMask: number): number {
  if (version < 2) return 0;
  return ((1 << fixedCounters) - 1) | (version >= 5 ? fixedCounterMask : 0);
}

export function popcount(v: number): number {
  let n = 0;
  for (let x = v >>> 0; x !== 0; x &= x - 1) n++;
  return n;
}

/**
 * The guest's shape from the scenario's `vms[].vpmu.guestPmu` (absent fields: the host's) and the
 * exposed GP counter count. The caller validated it against the host (checkGuestPmu).
 */
export function guestPmuShape(host: IntelPmuConfig, spec: GuestPmuSpec | undefined, gpCounters: number): GuestPmuShape {
  const version = spec?.enabled === false ? 0 : (spec?.version ?? host.perfmonVersion);
  const fixedCounters = spec?.fixedCounters ?? host.fixedCounters;
  const fixedCounterMask = spec?.fixedCounterMask ?? 0;
  return {
    version,
    gpCounters: version === 0 ? 0 : (spec?.gpCounters ?? gpCounters),
    fixedCounters: version >= 2 ? fixedCounters : 0,
    fixedCounterMask: version >= 5 ? fixedCounterMask : 0,
    fixedPresent: fixedPresentMask(version, fixedCounters, fixedCounterMask),
    eventMask: spec?.eventMask ?? 0,
    fullWidthWrites: spec?.fullWidthWrites ?? host.fullWidthWrites,
  };
}

/**
 * Why the host cannot give a VM this guest PMU shape (null: it can). KVM itself clamps counter
 * counts to what it supports (min_t with kvm_pmu_cap) and refuses PERF_CAPABILITIES bits it does
 * not support (KVM_SET_MSRS fails); the tool refuses all of these up front so the guest is never
 * silently given less than the scenario says.
 */
export function checkGuestPmu(host: IntelPmuConfig, hostLabel: string, spec: GuestPmuSpec): string | null {
  if (spec.version !== undefined && spec.version > host.perfmonVersion) {
    return `version ${spec.version} exceeds the host's perfmon version ${host.perfmonVersion} (${hostLabel})`;
  }
  if (spec.gpCounters !== undefined && spec.gpCounters > host.gpCounters) {
    return `gpCounters ${spec.gpCounters} exceeds the host's ${host.gpCounters} GP counters (${hostLabel}); KVM exposes at most the host's counters`;
  }
  if (spec.fixedCounters !== undefined && spec.fixedCounters > host.fixedCounters) {
    return `fixedCounters ${spec.fixedCounters} exceeds the host's ${host.fixedCounters} fixed counters (${hostLabel})`;
  }
  if (spec.fixedCounterMask !== undefined && spec.fixedCounterMask >>> host.fixedCounters !== 0) {
    return `fixedCounterMask 0x${spec.fixedCounterMask.toString(16)} names fixed counters the host lacks (it has ${host.fixedCounters}: mask 0x${((1 << host.fixedCounters) - 1).toString(16)}) (${hostLabel})`;
  }
  if (spec.fullWidthWrites === true && !host.fullWidthWrites) {
    return `fullWidthWrites: the host has no full-width writes, so KVM refuses PERF_CAPABILITIES.FW_WRITES (${hostLabel})`;
  }
  return null;
}
