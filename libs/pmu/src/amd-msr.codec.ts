// AMD core performance counters (AMD64 APM vol. 2 "Performance Monitoring Counters";
// arch/x86/include/asm/msr-index.h): the legacy K7 MSRs (EVNTSEL0-3, PERFCTR0-3), the family
// 15h+ interleaved PERF_CTL/PERF_CTR pairs (0..5, PERFCTR_CORE), the PerfMonV2 global registers
// (GLOBAL_STATUS, GLOBAL_CTL, GLOBAL_STATUS_CLR, GLOBAL_STATUS_SET), the reserved bits KVM masks
// off an event select (amd_pmu_refresh: reserved_bits 0xfffffff000280000) and the perf event
// encodings of Zen 2 and later (arch/x86/events/amd/core.c amd_zen2_perfmon_event_map).
//
// The simulated x86 register engine (intel-pmu.ts) counts with the Intel architectural encodings;
// an AMD host runs the same engine with no fixed counters, and an AMD event select is translated
// into the engine's encoding here (the guest reads back what it wrote, as KVM keeps pmc->eventsel).
import { INTEL_ARCH_EVENTS, WORKLOAD_EVENT_NAMES, type WorkloadEventName } from './events';

export const AMD_MSR = {
  K7_EVNTSEL0: 0xc001_0000,
  K7_PERFCTR0: 0xc001_0004,
  F15H_PERF_CTL0: 0xc001_0200,
  F15H_PERF_CTR0: 0xc001_0201,
  GLOBAL_STATUS: 0xc000_0300,
  GLOBAL_CTL: 0xc000_0301,
  GLOBAL_STATUS_CLR: 0xc000_0302,
  GLOBAL_STATUS_SET: 0xc000_0303,
} as const;

/** Legacy K7 counters (AMD64_NUM_COUNTERS). */
export const AMD_K7_COUNTERS = 4;
/** Family 15h+ core counters (AMD64_NUM_COUNTERS_CORE; KVM_MAX_NR_AMD_GP_COUNTERS). */
export const AMD_CORE_COUNTERS = 6;
/** Event-select bits KVM clears on a guest write instead of faulting (bits 63:36, 21, 19). */
export const AMD_EVTSEL_RESERVED = 0xffff_fff0_0028_0000n;
/** AMD counters are 48 bits wide (pmu->counter_bitmask[KVM_PMC_GP]). */
export const AMD_COUNTER_WIDTH_BITS = 48;

export type AmdRegister =
  | { k: 'ctl'; i: number; legacy: boolean }
  | { k: 'ctr'; i: number; legacy: boolean }
  | { k: 'global-status' }
  | { k: 'global-ctl' }
  | { k: 'status-clr' }
  | { k: 'status-set' };

/** Which AMD PMU register an MSR number names (null: none). */
export function amdRegister(msr: number): AmdRegister | null {
  if (msr >= AMD_MSR.K7_EVNTSEL0 && msr < AMD_MSR.K7_EVNTSEL0 + AMD_K7_COUNTERS) return { k: 'ctl', i: msr - AMD_MSR.K7_EVNTSEL0, legacy: true };
  if (msr >= AMD_MSR.K7_PERFCTR0 && msr < AMD_MSR.K7_PERFCTR0 + AMD_K7_COUNTERS) return { k: 'ctr', i: msr - AMD_MSR.K7_PERFCTR0, legacy: true };
  const off = msr - AMD_MSR.F15H_PERF_CTL0;
  if (off >= 0 && off < 2 * AMD_CORE_COUNTERS) return off % 2 === 0 ? { k: 'ctl', i: off / 2, legacy: false } : { k: 'ctr', i: (off - 1) / 2, legacy: false };
  switch (msr) {
    case AMD_MSR.GLOBAL_STATUS:
      return { k: 'global-status' };
    case AMD_MSR.GLOBAL_CTL:
      return { k: 'global-ctl' };
    case AMD_MSR.GLOBAL_STATUS_CLR:
      return { k: 'status-clr' };
    case AMD_MSR.GLOBAL_STATUS_SET:
      return { k: 'status-set' };
    default:
      return null;
  }
}

/** Zen 2+ encodings of the workload events perf's generic events map to (event | umask << 8). */
export const AMD_ZEN_EVENTS: Readonly<Partial<Record<WorkloadEventName, { eventSelect: number; umask: number }>>> = {
  cycles: { eventSelect: 0x76, umask: 0x00 },
  instructions: { eventSelect: 0xc0, umask: 0x00 },
  'cache-references': { eventSelect: 0x60, umask: 0xff },
  'cache-misses': { eventSelect: 0x64, umask: 0x09 },
  branches: { eventSelect: 0xc2, umask: 0x00 },
  'branch-misses': { eventSelect: 0xc3, umask: 0x00 },
};

/** The workload event an AMD event select counts (bits 7:0 and 35:32 event, 15:8 umask), or null. */
export function amdEventOf(eventSel: bigint): WorkloadEventName | null {
  const event = Number(eventSel & 0xffn) | (Number((eventSel >> 32n) & 0xfn) << 8);
  const umask = Number((eventSel >> 8n) & 0xffn);
  for (const name of WORKLOAD_EVENT_NAMES) {
    const e = AMD_ZEN_EVENTS[name];
    if (e && e.eventSelect === event && e.umask === umask) return name;
  }
  return null;
}

/**
 * The engine's (Intel-encoded) event select for an AMD one: the control bits (USR, OS, EDGE, INT,
 * EN, INV, CMASK) sit where Intel has them; the event and umask are replaced by the Intel
 * encoding of the same workload event, or by 0 (counts nothing) for an event the model lacks.
 */
export function amdToEngineEventSel(eventSel: bigint): number {
  const control = Number(eventSel & 0xffff_0000n) & ~((1 << 19) | (1 << 21));
  const name = amdEventOf(eventSel);
  if (name === null) return control >>> 0;
  const enc = INTEL_ARCH_EVENTS[name];
  return (control | enc.eventSelect | (enc.umask << 8)) >>> 0;
}
