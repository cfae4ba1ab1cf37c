// The mediated vPMU as merged upstream ("KVM: x86: Add support for mediated vPMUs", v5 Aug 2025,
// v6 Dec 2025; docs/mediated-vpmu.md): like the RFC's passthrough design the guest's PMU context
// lives in the hardware between VM-Enter and VM-Exit, but
// - control is always intercepted, data is not: IA32_PERFEVTSELx and FIXED_CTR_CTRL exit on
//   every access, so the KVM event filter always applies (the guest's value is kept as written,
//   the hardware gets the filtered one: "KVM: x86/pmu: Introduce eventsel_hw to prepare for pmu
//   event filtering"); counters and GLOBAL_CTRL/STATUS do not exit ("KVM: x86/pmu: Disable
//   interception of select PMU MSRs for mediated vPMUs"; GLOBAL_CTRL switched by the VMCS
//   entry/exit controls);
// - RDPMC exits only when the guest PMU differs from the host's in GP/fixed counter count or
//   width (kvm_need_rdpmc_intercept, "KVM: x86/pmu: Disable RDPMC interception for compatible
//   mediated vPMU", v5 27/44, Aug 2025);
// - the context load skips the PMC writes when the hardware already holds the guest's values
//   ("KVM: x86/pmu: Elide WRMSRs when loading guest PMCs if values already match"), which the
//   switch cost follows (mediatedPmuSwitchCycles / mediatedPmuSwitchElidedCycles);
// - instructions KVM emulates (the exiting WRMSR, RDPMC, HLT, port I/O) are credited to the
//   guest's instructions-retired counters ("KVM: x86/pmu: Handle emulated instruction for
//   mediated vPMU", kvm_pmu_instruction_retired);
// - guest PMIs arrive through the dedicated mediated PMI vector perf_load_guest_lvtpc switches
//   the LVTPC to.
// The host side (perf_load_guest_context / perf_put_guest_context, creation-time exclusion) is
// libs/perf; the world calls load/save around entry and exit as for the RFC backend.
import { EVTSEL, FIXED_CTRL, MSR, type IntelPmu, type RegResult, type WriteResult } from '@vpmu/pmu';
import type { EventFilterSpec } from '@vpmu/world-spec';
import type { CostModel, CostName } from './cost-model';
import { PassthroughVpmu } from './passthrough-vpmu.backend';
import { popcount } from './guest-pmu-shape';
import { classify, GP_FAULT } from './pmu-msr-class';
import type { VpmuShape } from './vpmu-backend';
import type { VcpuWorldPort } from './vcpu-world.port';

/** Architectural event "instructions retired" (event select 0xC0, umask 0). */
const INST_RETIRED_EVENT = 0xc0;

function readReg(pmu: IntelPmu, msr: number): bigint {
  const r = pmu.rdmsr(msr);
  return r.ok ? r.value : 0n;
}

/** counter += 1 modulo its width (the full-width alias takes every bit); true if it wrapped to 0. */
function bump(pmu: IntelPmu, msr: number, widthBits: number): boolean {
  const v = (readReg(pmu, msr) + 1n) & ((1n << BigInt(widthBits)) - 1n);
  pmu.wrmsr(msr, v);
  return v === 0n;
}

/** The mediated vPMU of one vCPU (the merged design). */
export class MediatedVpmu extends PassthroughVpmu {
  /** kvm_need_rdpmc_intercept: the guest PMU's shape differs from the host's. */
  readonly rdpmcIntercepted: boolean;
  /**
   * kvm_need_perf_global_ctrl_intercept: GLOBAL_CTRL / STATUS / OVF_CTRL stay intercepted when
   * the guest's GP or fixed counter count differs from the host's or it has no global control
   * (version < 2) ("KVM: x86/pmu: Disable interception of select PMU MSRs for mediated vPMUs").
   */
  readonly globalCtrlIntercepted: boolean;
  /** The last context load found every guest counter value already in the hardware. */
  lastLoadElided = false;
  /** Context loads, and those whose PMC writes were elided. */
  loads = 0;
  loadsElided = 0;
  /** Emulated instructions credited to at least one guest counter. */
  creditedInstructions = 0;
  /** Credits that wrapped a guest counter (kvm_pmu_incr_counter's overflow). */
  creditOverflows = 0;

  constructor(shape: VpmuShape, costs: CostModel, filter: EventFilterSpec | undefined, label: string) {
    // Event selectors are always intercepted; the PMI always uses the dedicated vector.
    super(shape, costs, filter, label, true, 'dedicated', 'mediated');
    // Counter widths are the host's here; the GP and fixed counts can differ (vpmu.guestPmu).
    const countsDiffer = shape.gpCounters !== shape.host.gpCounters || popcount(this.guest.fixedPresent) !== shape.host.fixedCounters;
    this.rdpmcIntercepted = countsDiffer;
    this.globalCtrlIntercepted = countsDiffer || this.guest.version < 2;
  }

  override rdpmc(ops: VcpuWorldPort, index: number): RegResult {
    if (!this.rdpmcIntercepted) return super.rdpmc(ops, index);
    // Intercepted: KVM emulates RDPMC against the guest's PMU model (kvm_pmu_rdpmc).
    this.trap('rdpmc', 0);
    if (this.rdpmcAbsent(index)) return GP_FAULT;
    return (this.loaded ? ops.loadedPmu() : this.gpmu).rdpmc(index);
  }

  override wrmsr(ops: VcpuWorldPort, msr: number, value: bigint): WriteResult {
    if (this.globalCtrlIntercepted && classify(msr).k === 'global' && !this.notExposed(msr, value)) this.trap('msr-write', msr);
    return super.wrmsr(ops, msr, value);
  }

  override rdmsr(ops: VcpuWorldPort, msr: number): RegResult {
    if (this.globalCtrlIntercepted && classify(msr).k === 'global' && !this.notExposed(msr)) this.trap('msr-read', msr);
    return super.rdmsr(ops, msr);
  }

  /** At VM-Enter, after perf_load_guest_context: load the guest context, eliding equal PMC writes. */
  override load(hw: IntelPmu, ops: VcpuWorldPort): void {
    this.loads++;
    this.lastLoadElided = hw.countersMatch(this.gpmu);
    if (this.lastLoadElided) this.loadsElided++;
    super.load(hw, ops);
  }

  /**
   * The cost parameter of the switch around the exit just taken: after the put, a hardware PMU
   * that still holds the guest's counter values (no host exclude_guest event took a counter) lets
   * the next load elide its PMC writes.
   */
  switchCostAfterPut(hw: IntelPmu): CostName {
    return hw.countersMatch(this.gpmu) ? 'mediatedPmuSwitchElidedCycles' : 'mediatedPmuSwitchCycles';
  }

  /** The cost parameter of the last load (what the vmEntry record reports). */
  lastLoadCost(): CostName {
    return this.lastLoadElided ? 'mediatedPmuSwitchElidedCycles' : 'mediatedPmuSwitchCycles';
  }

  /**
   * kvm_pmu_instruction_retired: KVM skipped one guest instruction it emulated; every enabled
   * counter that counts instructions retired at CPL0 (the exiting instructions run in the guest
   * kernel) advances by one. A counter the credit wraps to zero overflows as KVM's
   * kvm_pmu_incr_counter has it for a mediated PMU: its GLOBAL_STATUS bit is set and, when the
   * counter asked for an interrupt (EVENTSEL.INT, the fixed counter's PMI bit), KVM_REQ_PMI
   * injects a PMI at the next VM-Enter. Returns whether a PMI was requested.
   */
  creditEmulatedInstruction(ops: VcpuWorldPort): boolean {
    const pmu = this.loaded ? ops.loadedPmu() : this.gpmu;
    const global = readReg(pmu, MSR.PERF_GLOBAL_CTRL);
    let credited = false;
    let overflowed = 0n;
    let pmi = false;
    for (let i = 0; i < this.shape.gpCounters; i++) {
      if ((global & (1n << BigInt(i))) === 0n) continue;
      const sel = Number(readReg(pmu, MSR.IA32_PERFEVTSEL0 + i));
      const instructionsRetired = (sel & 0xff) === INST_RETIRED_EVENT && ((sel >> 8) & 0xff) === 0;
      if (!instructionsRetired || (sel & EVTSEL.EN) === 0 || (sel & EVTSEL.OS) === 0) continue;
      credited = true;
      if (bump(pmu, MSR.IA32_A_PMC0 + i, this.shape.host.gpWidthBits)) {
        overflowed |= 1n << BigInt(i);
        pmi ||= (sel & EVTSEL.INT) !== 0;
      }
    }
    // Fixed counter 0 counts instructions retired; its OS-enable bit is bit 0 of FIXED_CTR_CTRL.
    const fixedField = Number(readReg(pmu, MSR.FIXED_CTR_CTRL)) & 0xf;
    if (this.shape.host.fixedCounters > 0 && (global & (1n << 32n)) !== 0n && (fixedField & FIXED_CTRL.OS) !== 0) {
      credited = true;
      if (bump(pmu, MSR.FIXED_CTR0, this.shape.host.fixedWidthBits)) {
        overflowed |= 1n << 32n;
        pmi ||= (fixedField & FIXED_CTRL.PMI) !== 0;
      }
    }
    if (credited) this.creditedInstructions++;
    if (overflowed !== 0n) {
      pmu.wrmsr(MSR.PERF_GLOBAL_STATUS_SET, overflowed);
      this.creditOverflows++;
    }
    return pmi;
  }
}
