// Intel architectural perfmon register layouts: MSR addresses, the PERFEVTSEL / FIXED_CTR_CTRL /
// DEBUGCTL / GLOBAL_STATUS bit fields, RDPMC index bits and KVM's reserved-bit masks (Intel SDM
// vol. 3 "Performance Monitoring", arch/x86/include/asm/msr-index.h, arch/x86/kvm/vmx/pmu_intel.c),
// and the encoding and decoding of those registers: what a counter counts given its registers,
// the packed GLOBAL_CTRL / GLOBAL_STATUS / PERF_CAPABILITIES values, MSR access results, and the
// counters each workload event may use. The counting model is intel-pmu.ts.
import type { CounterBank } from './counter-bank';
import { intelEventIndex, type WorkloadEventName } from './events';
import { modeMask, type RegResult, type WriteResult } from './pmu.types';

export const MSR = {
  IA32_PMC0: 0xc1,
  IA32_PERFEVTSEL0: 0x186,
  IA32_A_PMC0: 0x4c1,
  FIXED_CTR0: 0x309,
  FIXED_CTR_CTRL: 0x38d,
  PERF_GLOBAL_STATUS: 0x38e,
  PERF_GLOBAL_CTRL: 0x38f,
  PERF_GLOBAL_OVF_CTRL: 0x390,
  PERF_GLOBAL_STATUS_SET: 0x391,
  PERF_CAPABILITIES: 0x345,
  DEBUGCTL: 0x1d9,
} as const;

/** Architectural maximum of GP counter MSRs in each range (the selftests probe up to this). */
export const MAX_GP_COUNTERS = 8;
/** Fixed counter MSRs defined (0x309..0x30C). */
export const MAX_FIXED_COUNTERS = 4;

export const EVTSEL = {
  USR: 1 << 16,
  OS: 1 << 17,
  EDGE: 1 << 18,
  PC: 1 << 19,
  INT: 1 << 20,
  ANY: 1 << 21,
  EN: 1 << 22,
  INV: 1 << 23,
} as const;
/** KVM's eventsel_rsvd: bits 63:32 and AnyThread (bit 21). */
export const EVTSEL_RESERVED_LOW = EVTSEL.ANY;

export const FIXED_CTRL = { OS: 1, USR: 2, ANY: 4, PMI: 8 } as const;

export const DEBUGCTL = {
  LBR: 1n << 0n,
  BTF: 1n << 1n,
  FREEZE_LBRS_ON_PMI: 1n << 11n,
  FREEZE_PERFMON_ON_PMI: 1n << 12n,
  FREEZE_WHILE_SMM: 1n << 14n,
} as const;
export const DEBUGCTL_ALLOWED = DEBUGCTL.LBR | DEBUGCTL.BTF | DEBUGCTL.FREEZE_LBRS_ON_PMI | DEBUGCTL.FREEZE_PERFMON_ON_PMI | DEBUGCTL.FREEZE_WHILE_SMM;

export const GLOBAL_STATUS_BITS = { LBR_FRZ: 58n, CTR_FRZ: 59n, OVF_BUF: 62n, COND_CHGD: 63n } as const;
export const STATUS_MISC_BITS = [58n, 59n, 62n, 63n];

/** RDPMC index bits (Intel SDM vol. 2 RDPMC; pmu_counters_test.c): 30 selects fixed counters, 31 "fast" (always #GP in KVM). */
export const RDPMC_FIXED = 1 << 30;
export const RDPMC_FAST = 2 ** 31;

export const FIXED_COUNTER_ID_BASE = 32;

export const OK: WriteResult = Object.freeze({ ok: true }) as WriteResult;
export const GP = Object.freeze({ ok: false, fault: 'gp' }) as { ok: false; fault: 'gp' };

export function ok(value: bigint): RegResult {
  return { ok: true, value };
}

export function toU64(value: number | bigint): bigint {
  if (typeof value === 'bigint') return BigInt.asUintN(64, value);
  if (!Number.isSafeInteger(value)) throw new Error(`MSR value ${value} is not an exact integer; pass a bigint`);
  return BigInt.asUintN(64, BigInt(value));
}

export function gpMask(n: number): number {
  return n >= 32 ? 0xffff_ffff : (1 << n) - 1;
}

export function fixedCtrlAllowed(m: number): number {
  let v = 0;
  for (let f = 0; f < m; f++) v |= (FIXED_CTRL.OS | FIXED_CTRL.USR | FIXED_CTRL.PMI) << (4 * f);
  return v;
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Decodes GP counter i's PERFEVTSELi (and its GLOBAL_CTRL bit) into the bank's per-counter fields. */
export function decodeGpCounter(b: CounterBank, i: number, es: number, globalCtrlGp: number, gh: number, frozen: boolean): void {
  b.eventIdx[i] = intelEventIndex(es & 0xff, (es >> 8) & 0xff);
  b.counting[i] = !frozen && (es & EVTSEL.EN) !== 0 && (globalCtrlGp & (1 << i)) !== 0 ? 1 : 0;
  b.modeBits[i] = modeMask((es & EVTSEL.USR) !== 0, (es & EVTSEL.OS) !== 0, (gh & 1) !== 0, (gh & 2) !== 0);
  b.interrupt[i] = (es & EVTSEL.INT) !== 0 ? 1 : 0;
  b.cmask[i] = (es >>> 24) & 0xff;
  b.inv[i] = (es & EVTSEL.INV) !== 0 ? 1 : 0;
  b.edge[i] = (es & EVTSEL.EDGE) !== 0 ? 1 : 0;
}

/** Decodes fixed counter f's FIXED_CTR_CTRL field (and its GLOBAL_CTRL bit) into bank index i. */
export function decodeFixedCounter(b: CounterBank, i: number, f: number, fixedCtrl: number, globalCtrlFixed: number, gh: number, frozen: boolean): void {
  const field = (fixedCtrl >> (4 * f)) & 0xf;
  const os = (field & FIXED_CTRL.OS) !== 0;
  const usr = (field & FIXED_CTRL.USR) !== 0;
  b.counting[i] = !frozen && (os || usr) && (globalCtrlFixed & (1 << f)) !== 0 ? 1 : 0;
  b.modeBits[i] = modeMask(usr, os, (gh & 1) !== 0, (gh & 2) !== 0);
  b.interrupt[i] = (field & FIXED_CTRL.PMI) !== 0 ? 1 : 0;
}

/** The counter bits of GLOBAL_CTRL / GLOBAL_STATUS for n GP and m fixed counters. */
export function counterBits(n: number, m: number): bigint {
  return BigInt(gpMask(n)) | (BigInt(gpMask(m)) << 32n);
}

/** Every GLOBAL_STATUS bit a guest may clear or set. */
export function statusBits(n: number, m: number): bigint {
  let v = counterBits(n, m);
  for (const bit of STATUS_MISC_BITS) v |= 1n << bit;
  return v;
}

export function packGlobalCtrl(globalCtrlGp: number, globalCtrlFixed: number): bigint {
  return BigInt(globalCtrlGp >>> 0) | (BigInt(globalCtrlFixed) << 32n);
}

/** `statusMisc` holds bits 58, 59, 62, 63 as a 4-bit mask in that order. */
export function packGlobalStatus(statusGp: number, statusFixed: number, statusMisc: number): bigint {
  let v = BigInt(statusGp >>> 0) | (BigInt(statusFixed) << 32n);
  STATUS_MISC_BITS.forEach((bit, j) => {
    if (statusMisc & (1 << j)) v |= 1n << bit;
  });
  return v;
}

export function perfCapabilities(lbrFormat: number, fullWidthWrites: boolean): bigint {
  return BigInt(lbrFormat & 0x3f) | (fullWidthWrites ? 1n << 13n : 0n);
}

/** Counter ids the host driver may give an event (arch/x86/events/intel/core.c constraints). */
export function intelCounterCandidates(event: WorkloadEventName, n: number, m: number): number[] {
  const gps = range(n);
  switch (event) {
    // Fixed-counter events may also use any GP counter (intel_pmu_init extends the fixed
    // constraint to the GP mask), and x86's scheduler prefers the fixed counter.
    case 'instructions':
      return m > 0 ? [FIXED_COUNTER_ID_BASE, ...gps] : gps;
    case 'cycles':
      return m > 1 ? [FIXED_COUNTER_ID_BASE + 1, ...gps] : gps;
    // perf encodes ref-cycles / slots as pseudo events 0x0300 / 0x0400: fixed counter only.
    case 'ref-cycles':
      return m > 2 ? [FIXED_COUNTER_ID_BASE + 2] : [];
    case 'topdown-slots':
      return m > 3 ? [FIXED_COUNTER_ID_BASE + 3] : [];
    default:
      return gps;
  }
}
