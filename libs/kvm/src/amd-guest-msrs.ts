// A guest's PMU accesses on an AMD host, as KVM's SVM PMU answers them (arch/x86/kvm/svm/pmu.c
// amd_pmu_get_msr / amd_pmu_set_msr / amd_is_valid_msr / amd_check_rdpmc_early, and the common
// global-register cases of kvm_pmu_get_msr / kvm_pmu_set_msr in arch/x86/kvm/pmu.c), mapped onto
// the vPMU backend's x86 register engine:
// - PERF_CTLn (K7 EVNTSEL0-3 or F15H PERF_CTL0-5): reserved bits are cleared, never #GP
//   ("AMD ignores writes to reserved bits and read-only PMU MSRs"); the guest reads back the
//   masked value; n at or above the guest's counter count #GPs.
// - PERF_CTRn (K7 PERFCTR0-3 or F15H PERF_CTR0-5): written at the 48-bit width, no #GP for
//   upper bits (pmc_write_counter masks).
// - GLOBAL_CTL / STATUS / STATUS_CLR / STATUS_SET exist with PerfMonV2 only (version 2):
//   GLOBAL_CTL drops reserved bits, GLOBAL_STATUS ignores guest writes, STATUS_CLR and
//   STATUS_SET read 0.
// - RDPMC: an index at or above the counter count #GPs (no fixed-counter bit on AMD; the
//   exception has priority over the SVM intercept, so it costs no exit).
// - Intel's MSR_P6_PERFCTR0/1 and MSR_P6_EVNTSEL0/1 read 0 and drop writes (kvm_get_msr_common /
//   kvm_set_msr_common when the vPMU does not claim them); with no PMU the K7 ones do too.
import { AMD_COUNTER_WIDTH_BITS, AMD_EVTSEL_RESERVED, amdRegister, amdToEngineEventSel, MSR, type RegResult, type WriteResult } from '@vpmu/pmu';
import type { GuestPmuShape } from './guest-pmu-shape';
import { GP_FAULT, gpMask } from './pmu-msr-class';
import type { VcpuWorldPort } from './vcpu-world.port';

/** The guest-facing PMU instruction interface of a vCPU (MSRs and RDPMC). */
export interface GuestPmuAccess {
  wrmsr(ops: VcpuWorldPort, msr: number, value: bigint): WriteResult;
  rdmsr(ops: VcpuWorldPort, msr: number): RegResult;
  rdpmc(ops: VcpuWorldPort, index: number): RegResult;
}

const OK: WriteResult = Object.freeze({ ok: true }) as WriteResult;
const COUNTER_MASK = (1n << BigInt(AMD_COUNTER_WIDTH_BITS)) - 1n;

function isP6Legacy(msr: number): boolean {
  return msr === MSR.IA32_PMC0 || msr === MSR.IA32_PMC0 + 1 || msr === MSR.IA32_PERFEVTSEL0 || msr === MSR.IA32_PERFEVTSEL0 + 1;
}

/** AMD guest MSRs and RDPMC over a vPMU backend that speaks the engine's (Intel) registers. */
export class AmdGuestMsrs implements GuestPmuAccess {
  /** The guest's event selects as written, reserved bits cleared (KVM's pmc->eventsel). */
  private readonly sel: bigint[];

  constructor(
    private readonly inner: GuestPmuAccess,
    private readonly guest: GuestPmuShape,
  ) {
    this.sel = Array(guest.gpCounters).fill(0n);
  }

  private get n(): number {
    return this.guest.gpCounters;
  }

  wrmsr(ops: VcpuWorldPort, msr: number, value: bigint): WriteResult {
    const r = amdRegister(msr);
    if (this.guest.version === 0) return r?.k === 'ctl' || r?.k === 'ctr' ? (r.legacy ? OK : (GP_FAULT as WriteResult)) : isP6Legacy(msr) ? OK : (GP_FAULT as WriteResult);
    if (r === null) return isP6Legacy(msr) ? OK : (GP_FAULT as WriteResult);
    const mask = gpMask(this.n);
    switch (r.k) {
      case 'ctl': {
        if (r.i >= this.n) return GP_FAULT as WriteResult;
        const data = BigInt.asUintN(64, value) & ~AMD_EVTSEL_RESERVED;
        const w = this.inner.wrmsr(ops, MSR.IA32_PERFEVTSEL0 + r.i, BigInt(amdToEngineEventSel(data)));
        if (w.ok) this.sel[r.i] = data;
        return w;
      }
      case 'ctr':
        if (r.i >= this.n) return GP_FAULT as WriteResult;
        return this.inner.wrmsr(ops, MSR.IA32_A_PMC0 + r.i, value & COUNTER_MASK);
      default:
        if (this.guest.version < 2) return GP_FAULT as WriteResult;
        if (r.k === 'global-ctl') return this.inner.wrmsr(ops, MSR.PERF_GLOBAL_CTRL, value & mask);
        if (r.k === 'status-clr') return this.inner.wrmsr(ops, MSR.PERF_GLOBAL_OVF_CTRL, value & mask);
        if (r.k === 'status-set') return this.inner.wrmsr(ops, MSR.PERF_GLOBAL_STATUS_SET, value & mask);
        return OK; // GLOBAL_STATUS: read-only, the write is ignored
    }
  }

  rdmsr(ops: VcpuWorldPort, msr: number): RegResult {
    const r = amdRegister(msr);
    if (this.guest.version === 0) return (r?.k === 'ctl' || r?.k === 'ctr') && r.legacy ? { ok: true, value: 0n } : isP6Legacy(msr) ? { ok: true, value: 0n } : GP_FAULT;
    if (r === null) return isP6Legacy(msr) ? { ok: true, value: 0n } : GP_FAULT;
    const mask = gpMask(this.n);
    switch (r.k) {
      case 'ctl': {
        if (r.i >= this.n) return GP_FAULT;
        const v = this.inner.rdmsr(ops, MSR.IA32_PERFEVTSEL0 + r.i);
        return v.ok ? { ok: true, value: this.sel[r.i] } : v;
      }
      case 'ctr':
        if (r.i >= this.n) return GP_FAULT;
        return this.inner.rdmsr(ops, MSR.IA32_A_PMC0 + r.i);
      default: {
        if (this.guest.version < 2) return GP_FAULT;
        if (r.k === 'status-clr' || r.k === 'status-set') return { ok: true, value: 0n };
        const v = this.inner.rdmsr(ops, r.k === 'global-ctl' ? MSR.PERF_GLOBAL_CTRL : MSR.PERF_GLOBAL_STATUS);
        return v.ok ? { ok: true, value: v.value & mask } : v;
      }
    }
  }

  rdpmc(ops: VcpuWorldPort, index: number): RegResult {
    if (this.guest.version === 0 || !Number.isInteger(index) || index < 0 || index >= this.n) return GP_FAULT;
    return this.inner.rdpmc(ops, index);
  }
}
