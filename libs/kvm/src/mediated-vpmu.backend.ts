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
import { KvmEventFilter } from './event-filter';
import { PassthroughVpmu } from './passthrough-vpmu.backend';
import { GP_FAULT } from './pmu-msr-class';
import type { VpmuShape } from './vpmu-backend';
import type { VcpuWorldPort } from './vcpu-world.port';

const RDPMC_FIXED_BIT = 1 << 30;
/** Architectural event "instructions retired" (event select 0xC0, umask 0). */
const INST_RETIRED_EVENT = 0xc0;

function readReg(pmu: IntelPmu, msr: number): bigint {
  const r = pmu.rdmsr(msr);
  return r.ok ? r.value : 0n;
}

/** counter += 1 modulo its width (the full-width alias takes every bit). */
function bump(pmu: IntelPmu, msr: number, widthBits: number): void {
  pmu.wrmsr(msr, (readReg(pmu, msr) + 1n) & ((1n << BigInt(widthBits)) - 1n));
}

/** The mediated vPMU of one vCPU (the merged design). */
export class MediatedVpmu extends PassthroughVpmu {
  /** kvm_need_rdpmc_intercept: the guest PMU's shape differs from the host's. */
  readonly rdpmcIntercepted: boolean;
  /** The last context load found every guest counter value already in the hardware. */
  lastLoadElided = false;
  /** Context loads, and those whose PMC writes were elided. */
  loads = 0;
  loadsElided = 0;
  /** Emulated instructions credited to at least one guest counter. */
  creditedInstructions = 0;

  constructor(shape: VpmuShape, costs: CostModel, filter: EventFilterSpec | undefined, label: string) {
    // Event selectors are always intercepted; the PMI always uses the dedicated vector.
    super(shape, costs, filter, label, true, 'dedicated', 'mediated');
    // The guest's fixed counters and widths are the host's here; only the GP count can differ.
    this.rdpmcIntercepted = shape.gpCounters !== shape.host.gpCounters;
  }

  /**
   * An intercepted access is an instruction KVM emulates and skips: kvm_skip_emulated_instruction
   * credits it (kvm_pmu_instruction_retired) right after the emulated WRMSR took effect, with the
   * guest's GLOBAL_CTRL and selectors as they are at that instruction. The credit is applied here,
   * at the access, not when the world turns the queued traps into exits after the guest's perf
   * code has finished: perf writes its selectors between perf_pmu_disable and perf_pmu_enable
   * (GLOBAL_CTRL = 0), so those writes credit nothing. A faulting access is not skipped (KVM
   * injects #GP) and credits nothing.
   */
  override wrmsr(ops: VcpuWorldPort, msr: number, value: bigint): WriteResult {
    const before = this.traps.length;
    const r = super.wrmsr(ops, msr, value);
    if (r.ok && this.traps.length > before) this.creditEmulatedInstruction(ops);
    return r;
  }

  override rdmsr(ops: VcpuWorldPort, msr: number): RegResult {
    const before = this.traps.length;
    const r = super.rdmsr(ops, msr);
    if (r.ok && this.traps.length > before) this.creditEmulatedInstruction(ops);
    return r;
  }

  override rdpmc(ops: VcpuWorldPort, index: number): RegResult {
    const r = this.rdpmcInner(ops, index);
    if (r.ok && this.rdpmcIntercepted) this.creditEmulatedInstruction(ops);
    return r;
  }

  private rdpmcInner(ops: VcpuWorldPort, index: number): RegResult {
    if (!this.rdpmcIntercepted) return super.rdpmc(ops, index);
    // Intercepted: KVM emulates RDPMC against the guest's PMU model (kvm_pmu_rdpmc).
    this.trap('rdpmc', 0);
    if (!(index & RDPMC_FIXED_BIT) && index >= this.shape.gpCounters) return GP_FAULT;
    return (this.loaded ? ops.loadedPmu() : this.gpmu).rdpmc(index);
  }

  /**
   * KVM_SET_PMU_EVENT_FILTER on the running VM: the new filter replaces the old one and KVM
   * reprograms the hardware event selectors from the guest's values ("KVM: x86/pmu: Reprogram
   * mediated PMU event selectors on event filter updates"). KVM applies it at the vCPU's next
   * entry after kicking it out of guest mode; the model applies it at once and does not charge
   * the kick's exit.
   */
  setFilter(spec: EventFilterSpec | null, ops: VcpuWorldPort): void {
    if (spec === null) this.filter = null;
    else {
      const r = KvmEventFilter.create(spec);
      // The scenario reader checks the same limits as for vms[].vpmu.filter.
      if (!r.ok) throw new Error(`${this.label}: KVM_SET_PMU_EVENT_FILTER fails with ${r.errno} (${r.reason})`);
      this.filter = r.filter;
    }
    const pmu = this.loaded ? ops.loadedPmu() : this.gpmu;
    for (let i = 0; i < this.shape.gpCounters; i++) {
      const sel = this.shadowSel[i];
      pmu.wrmsr(MSR.IA32_PERFEVTSEL0 + i, BigInt(this.allowsSel(sel) ? sel : sel & ~EVTSEL.EN));
    }
    let fixedCtrl = this.shadowFixedCtrl;
    for (let f = 0; f < this.shape.host.fixedCounters; f++) if (!this.allowsFixed(f)) fixedCtrl &= ~(0xf << (4 * f));
    pmu.wrmsr(MSR.FIXED_CTR_CTRL, BigInt(fixedCtrl));
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
   * kernel) advances by one. A wrap caused by the credit is not raised as a PMI here (not
   * modelled; KVM's kvm_pmu_incr_counter would).
   */
  creditEmulatedInstruction(ops: VcpuWorldPort): void {
    const pmu = this.loaded ? ops.loadedPmu() : this.gpmu;
    const global = readReg(pmu, MSR.PERF_GLOBAL_CTRL);
    let credited = false;
    for (let i = 0; i < this.shape.gpCounters; i++) {
      if ((global & (1n << BigInt(i))) === 0n) continue;
      const sel = Number(readReg(pmu, MSR.IA32_PERFEVTSEL0 + i));
      const instructionsRetired = (sel & 0xff) === INST_RETIRED_EVENT && ((sel >> 8) & 0xff) === 0;
      if (!instructionsRetired || (sel & EVTSEL.EN) === 0 || (sel & EVTSEL.OS) === 0) continue;
      bump(pmu, MSR.IA32_A_PMC0 + i, this.shape.host.gpWidthBits);
      credited = true;
    }
    // Fixed counter 0 counts instructions retired; its OS-enable bit is bit 0 of FIXED_CTR_CTRL.
    if (this.shape.host.fixedCounters > 0 && (global & (1n << 32n)) !== 0n && (Number(readReg(pmu, MSR.FIXED_CTR_CTRL)) & FIXED_CTRL.OS) !== 0) {
      bump(pmu, MSR.FIXED_CTR0, this.shape.host.fixedWidthBits);
      credited = true;
    }
    if (credited) this.creditedInstructions++;
  }
}
