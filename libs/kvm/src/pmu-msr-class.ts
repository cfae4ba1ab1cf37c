// Which PMU register a guest MSR access reaches, as KVM's PMU code classifies it: GP counters
// (legacy and full-width aliases), event selects, fixed counters and their control, the global
// registers, or something else. Shared by the vPMU backends.
import { MSR, type RegResult } from '@vpmu/pmu';

export const GP_FAULT: RegResult = Object.freeze({ ok: false, fault: 'gp' }) as RegResult;

export type MsrClass =
  | { k: 'gp-counter'; i: number; legacy: boolean }
  | { k: 'eventsel'; i: number }
  | { k: 'fixed-counter'; i: number }
  | { k: 'fixed-ctrl' }
  | { k: 'global' }
  | { k: 'other' };

export function classify(msr: number): MsrClass {
  if (msr >= MSR.IA32_PMC0 && msr < MSR.IA32_PMC0 + 8) return { k: 'gp-counter', i: msr - MSR.IA32_PMC0, legacy: true };
  if (msr >= MSR.IA32_A_PMC0 && msr < MSR.IA32_A_PMC0 + 8) return { k: 'gp-counter', i: msr - MSR.IA32_A_PMC0, legacy: false };
  if (msr >= MSR.IA32_PERFEVTSEL0 && msr < MSR.IA32_PERFEVTSEL0 + 8) return { k: 'eventsel', i: msr - MSR.IA32_PERFEVTSEL0 };
  if (msr >= MSR.FIXED_CTR0 && msr < MSR.FIXED_CTR0 + 4) return { k: 'fixed-counter', i: msr - MSR.FIXED_CTR0 };
  if (msr === MSR.FIXED_CTR_CTRL) return { k: 'fixed-ctrl' };
  if (msr === MSR.PERF_GLOBAL_CTRL || msr === MSR.PERF_GLOBAL_STATUS || msr === MSR.PERF_GLOBAL_OVF_CTRL || msr === MSR.PERF_GLOBAL_STATUS_SET) {
    return { k: 'global' };
  }
  return { k: 'other' };
}

export function isPmuMsr(msr: number): boolean {
  return classify(msr).k !== 'other' || msr === MSR.PERF_CAPABILITIES || msr === MSR.DEBUGCTL;
}

/** The mask of the first `n` GP counters (GLOBAL_CTRL / GLOBAL_STATUS bits). */
export function gpMask(n: number): bigint {
  return (1n << BigInt(n)) - 1n;
}

