// Which guest PMU accesses cause a VM exit under each x86 vPMU backend (docs/vpmu-backends.md).
//
// - none / paravirt: the guest has no architectural PMU (CPUID.0AH empty); KVM intercepts the PMU
//   MSRs and RDPMC and injects #GP, so every access exits.
// - emulated: every PMU MSR access and RDPMC exits (KVM's MSR bitmap intercepts them; RDPMC
//   exiting is on): the RFC cover letter "[RFC PATCH 00/41] KVM: x86/pmu: Introduce passthrough vPMU" (X. Zhang, Jan 2024) "guest PMU MSR accessing has VM-exit".
// - passthrough (RFC "KVM: x86/pmu: Introduce passthrough vPMU"): counters (IA32_PMCx, IA32_A_PMCx,
//   FIXED_CTRx), GLOBAL_CTRL / STATUS / OVF_CTRL / STATUS_SET and RDPMC do not exit ("Allow RDPMC
//   pass through", "Whitelist PMU MSRs"); IA32_PERFEVTSELx and FIXED_CTR_CTRL are intercepted
//   (read and write, MSR_TYPE_RW) when `interceptEventSelect` ("Intercept EVENT_SELECT MSR",
//   "Intercept FIXED_CTR_CTRL MSR": needed for the event filter) and not otherwise ("all
//   passthrough"). PERF_CAPABILITIES and DEBUGCTL stay intercepted in every mode.
// - mediated (merged, v6 Dec 2025): counters and the global registers do not exit; the event
//   selectors and FIXED_CTR_CTRL always exit (the event filter always applies); RDPMC exits only
//   when the guest PMU's shape differs from the host's (kvm_need_rdpmc_intercept), and the global
//   registers exit when its counter counts differ or it has no global control
//   (kvm_need_perf_global_ctrl_intercept).
//
// API: `accessExits({ op: 'wrmsr', msr: 0x186 }, { mode: 'passthrough', interceptEventSelect: true })` → true.

import type { VpmuMode } from '@vpmu/world-spec';

export interface AccessLike {
  op: 'wrmsr' | 'rdmsr' | 'rdpmc';
  /** MSR number (RDPMC: the ECX index). */
  msr: number;
}

export interface BackendLike {
  mode: VpmuMode;
  interceptEventSelect: boolean;
  /** mediated: RDPMC intercepted because the guest PMU's shape differs from the host's. */
  rdpmcIntercepted?: boolean;
  /** mediated: the global registers intercepted (guest counter counts differ from the host's, or version < 2). */
  globalCtrlIntercepted?: boolean;
}

const inRange = (msr: number, base: number, n: number): boolean => msr >= base && msr < base + n;

/** The access is to a PMU counter or global register the passthrough backend exposes directly. */
export function isPassthroughPmuRegister(msr: number): boolean {
  return (
    inRange(msr, 0xc1, 8) || // IA32_PMC0..7
    inRange(msr, 0x4c1, 8) || // IA32_A_PMC0..7
    inRange(msr, 0x309, 4) || // FIXED_CTR0..3
    msr === 0x38e || // PERF_GLOBAL_STATUS
    msr === 0x38f || // PERF_GLOBAL_CTRL
    msr === 0x390 || // PERF_GLOBAL_OVF_CTRL
    msr === 0x391 // PERF_GLOBAL_STATUS_SET
  );
}

/** PERF_GLOBAL_STATUS / CTRL / OVF_CTRL / STATUS_SET. */
export function isGlobalRegister(msr: number): boolean {
  return msr >= 0x38e && msr <= 0x391;
}

/** IA32_PERFEVTSELx or FIXED_CTR_CTRL: the registers the event filter needs to see. */
export function isEventSelectRegister(msr: number): boolean {
  return inRange(msr, 0x186, 8) || msr === 0x38d;
}

/** Does this guest access exit to KVM under `backend`? */
export function accessExits(a: AccessLike, backend: BackendLike): boolean {
  switch (backend.mode) {
    case 'none':
    case 'paravirt':
    case 'emulated':
      return true;
    case 'passthrough':
      if (a.op === 'rdpmc') return false;
      if (isPassthroughPmuRegister(a.msr)) return false;
      if (isEventSelectRegister(a.msr)) return backend.interceptEventSelect;
      return true;
    case 'mediated':
      if (a.op === 'rdpmc') return !!backend.rdpmcIntercepted;
      if (isGlobalRegister(a.msr)) return !!backend.globalCtrlIntercepted;
      if (isPassthroughPmuRegister(a.msr)) return false;
      return true; // event selectors, FIXED_CTR_CTRL, PERF_CAPABILITIES, DEBUGCTL
  }
}

/** Exits caused by a list of accesses (e.g. a guest perf MSR sequence recorded through a port). */
export function countExits(accesses: readonly AccessLike[], backend: BackendLike): number {
  let n = 0;
  for (const a of accesses) if (accessExits(a, backend)) n++;
  return n;
}
