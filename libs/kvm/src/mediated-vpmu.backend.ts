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
import type { IntelPmu, RegResult, WriteResult } from '@vpmu/pmu';
import type { EventFilterSpec } from '@vpmu/world-spec';
import type { CostModel, CostName } from './cost-model';
import { PassthroughVpmu } from './passthrough-vpmu.backend';
import { popcount } from './guest-pmu-shape';
import { classify, GP_FAULT } from './pmu-msr-class';
import type { VpmuShape } from './vpmu-backend';
import type { VcpuWorldPort } from './vcpu-world.port';


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
  /** A credit at an access wrapped a counter that asked for an interrupt (takeCreditPmi). */
  private creditPmiRequested = false;

  constructor(shape: VpmuShape, costs: CostModel, filter: EventFilterSpec | undefined, label: string) {
    // Event selectors are always intercepted; the PMI always uses the dedicated vector.
    super(shape, costs, filter, label, true, 'dedicated', 'mediated');
    // Counter widths are the host's here; the GP and fixed counts can differ (vpmu.guestPmu).
    const countsDiffer = shape.gpCounters !== shape.host.gpCounters || popcount(this.guest.fixedPresent) !== shape.host.fixedCounters;
    this.rdpmcIntercepted = countsDiffer;
    this.globalCtrlIntercepted = countsDiffer || this.guest.version < 2;
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
    if (this.globalCtrlIntercepted && classify(msr).k === 'global' && !this.notExposed(msr, value)) this.trap('msr-write', msr);
    const r = super.wrmsr(ops, msr, value);
    if (r.ok && this.traps.length > before) this.creditAtAccess(ops);
    return r;
  }

  override rdmsr(ops: VcpuWorldPort, msr: number): RegResult {
    const before = this.traps.length;
    if (this.globalCtrlIntercepted && classify(msr).k === 'global' && !this.notExposed(msr)) this.trap('msr-read', msr);
    const r = super.rdmsr(ops, msr);
    if (r.ok && this.traps.length > before) this.creditAtAccess(ops);
    return r;
  }

  /**
   * The LVTPC write exits and KVM skips the emulated WRMSR: credited at the access like the PMU
   * MSRs above. The guest's handler writes it after re-enabling GLOBAL_CTRL (late ack), so
   * enabled instructions counters advance by one.
   */
  override lvtpcWrite(ops: VcpuWorldPort): void {
    super.lvtpcWrite(ops);
    this.creditAtAccess(ops);
  }

  /** A program's access that exited was credited at the access (above): only its PMI request is left. */
  override programAccessRetired(ops: VcpuWorldPort, exited: boolean): boolean {
    return exited ? this.takeCreditPmi() : super.programAccessRetired(ops, false);
  }

  /**
   * Whether a credit at an access since the last call wrapped a counter that asked for an
   * interrupt (KVM_REQ_PMI: the PMI is injected at the next VM-Enter); clears the request.
   */
  takeCreditPmi(): boolean {
    const requested = this.creditPmiRequested;
    this.creditPmiRequested = false;
    return requested;
  }

  private creditAtAccess(ops: VcpuWorldPort): void {
    if (this.creditEmulatedInstruction(ops)) this.creditPmiRequested = true;
  }

  override rdpmc(ops: VcpuWorldPort, index: number): RegResult {
    const r = this.rdpmcInner(ops, index);
    if (r.ok && this.rdpmcIntercepted) this.creditAtAccess(ops);
    return r;
  }

  private rdpmcInner(ops: VcpuWorldPort, index: number): RegResult {
    if (!this.rdpmcIntercepted) return super.rdpmc(ops, index);
    // Intercepted: KVM emulates RDPMC against the guest's PMU model (kvm_pmu_rdpmc).
    this.trap('rdpmc', 0);
    if (this.rdpmcAbsent(index)) return GP_FAULT;
    return (this.loaded ? ops.loadedPmu() : this.gpmu).rdpmc(index);
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
}
