// The vPMU backend of one vCPU (x86): what KVM does with a guest's PMU MSR accesses, RDPMC and
// PMIs under each design (docs/vpmu-backends.md;
// the RFC cover letter "[RFC PATCH 00/41] KVM: x86/pmu: Introduce passthrough vPMU" (X. Zhang, Jan 2024) and "[RFC PATCH 02/41] perf: Support guest enter/exit interfaces" (K. Liang, Jan 2024)). The designs are the
// subclasses: none-vpmu.backend.ts, passthrough-vpmu.backend.ts, emulated-vpmu.backend.ts.
//
// The KVM event filter is event-filter.ts's KvmEventFilter (KVM_SET_PMU_EVENT_FILTER semantics:
// plain and masked entries as one filter, the fixed-counter bitmap wins, E2BIG / EINVAL), built
// once from the scenario's filter. Backends never store the world: it passes its port for the
// vCPU (vcpu-world.port.ts) to each call.
import { MSR, type IntelPmuConfig, type RegResult, type WriteResult } from '@vpmu/pmu';
import type { EventFilterSpec, VpmuMode } from '@vpmu/world-spec';
import type { CostModel } from './cost-model';
import { KvmEventFilter } from './event-filter';
import { AmdGuestMsrs, type GuestPmuAccess } from './amd-guest-msrs';
import { fixedPresentMask, type GuestPmuShape } from './guest-pmu-shape';
import { classify, gpMask } from './pmu-msr-class';
import type { VcpuWorldPort } from './vcpu-world.port';

/** One guest access that caused a VM exit, and what it cost the guest (CostModel names). */
export interface TrapRecord {
  reason: string;
  msr: number;
  costNs: number;
}

export type GuestMsrResult = RegResult;

/** The x2APIC MSR of the local APIC's LVTPC register (APIC offset 0x340). */
export const X2APIC_LVTPC_MSR = 0x834;

const GUEST_PMI_VECTOR_DEDICATED = 0xf5; // KVM's dedicated guest PMI vector (mediated series); model choice of number
const NMI_VECTOR = 2;
export const PMI_VECTORS = { dedicated: GUEST_PMI_VECTOR_DEDICATED, shared: NMI_VECTOR } as const;

export interface VpmuShape {
  /** Host PMU configuration (the guest PMU model has the host's shape). */
  host: IntelPmuConfig;
  /** GP counters exposed to the guest (vpmu.nrCounters, default all). */
  gpCounters: number;
  /** What CPUID and PERF_CAPABILITIES show the guest (vpmu.guestPmu); absent = the host's shape. */
  guest?: GuestPmuShape;
}

/** The guest shape of a vPMU: the given one, or the host's with `gpCounters` exposed. */
export function guestShapeOf(shape: VpmuShape): GuestPmuShape {
  if (shape.guest) return shape.guest;
  const h = shape.host;
  return {
    version: h.perfmonVersion,
    gpCounters: shape.gpCounters,
    fixedCounters: h.fixedCounters,
    fixedCounterMask: 0,
    fixedPresent: fixedPresentMask(h.perfmonVersion, h.fixedCounters, 0),
    eventMask: 0,
    fullWidthWrites: h.fullWidthWrites,
  };
}

/** PERF_CAPABILITIES.FW_WRITES (bit 13). */
const PERF_CAP_FW_WRITES = 1n << 13n;

/** The vPMU of one vCPU. Subclasses implement the four designs. */
export abstract class VcpuVpmu {
  /** Accesses that exited since the world last drained them. */
  traps: TrapRecord[] = [];
  /** A virtual PMI waits for injection at the next entry. */
  pendingPmi = false;
  /** Overflow instant of the pending PMI (for the pmi record). */
  pendingPmiOverflowNs = 0;
  /** Bank indices whose starvation was already reported. */
  protected readonly starvedReported: number[] = [];

  /** The VM's KVM event filter (null = none installed); KVM_SET_PMU_EVENT_FILTER may replace it on a running VM. */
  filter: KvmEventFilter | null;
  /** What the guest's CPUID and PERF_CAPABILITIES enumerate (the host's unless the VM sets it). */
  readonly guest: GuestPmuShape;
  private amdAccess: AmdGuestMsrs | null = null;

  constructor(
    readonly mode: VpmuMode,
    readonly shape: VpmuShape,
    protected readonly costs: CostModel,
    filterSpec: EventFilterSpec | undefined,
    readonly label: string,
  ) {
    this.filter = null;
    this.guest = guestShapeOf(shape);
    if (filterSpec) {
      const r = KvmEventFilter.create(filterSpec);
      // The scenario validator bounds each list; KVM counts plain and masked entries together.
      if (!r.ok) throw new Error(`${label}: KVM_SET_PMU_EVENT_FILTER fails with ${r.errno} (${r.reason}); fix vms[].vpmu.filter`);
      this.filter = r.filter;
    }
  }

  /**
   * KVM_SET_PMU_EVENT_FILTER on the running VM (kvm_vm_ioctl_set_pmu_event_filter,
   * arch/x86/kvm/pmu.c): the new filter replaces the old one, every counter of every vCPU is marked
   * for reprogramming and KVM_REQ_PMU is made on all vCPUs. A backend whose counters depend on the
   * filter overrides this to reprogram them (what kvm_pmu_handle_event does at the next entry).
   */
  setFilter(spec: EventFilterSpec | null, _ops: VcpuWorldPort): void {
    this.replaceFilter(spec);
  }

  protected replaceFilter(spec: EventFilterSpec | null): void {
    if (spec === null) {
      this.filter = null;
      return;
    }
    const r = KvmEventFilter.create(spec);
    // The scenario reader checks the same limits as for vms[].vpmu.filter.
    if (!r.ok) throw new Error(`${this.label}: KVM_SET_PMU_EVENT_FILTER fails with ${r.errno} (${r.reason})`);
    this.filter = r.filter;
  }

  /** KVM's pmc_event_is_allowed for a GP counter's EVENTSEL value (no filter: everything). */
  protected allowsSel(eventSel: number): boolean {
    return this.filter === null || this.filter.allowsGp(eventSel & 0xff, (eventSel >> 8) & 0xff);
  }

  /** KVM's fixed-counter rule: the filter's bitmap alone decides (no filter: everything). */
  protected allowsFixed(i: number): boolean {
    return this.filter === null || this.filter.allowsFixed(i);
  }

  /**
   * The PMU instructions as the guest issues them: on an Intel host the backend itself; on an AMD
   * host the AMD MSR map and rules over it (amd-guest-msrs.ts). Guest perf sessions drive the
   * backend's engine registers directly (a model shortcut on AMD hosts: docs/cpu-presets.md).
   */
  guestAccess(): GuestPmuAccess {
    if (this.shape.host.vendor !== 'amd') return this;
    this.amdAccess ??= new AmdGuestMsrs(this, this.guest);
    return this.amdAccess;
  }

  abstract wrmsr(ops: VcpuWorldPort, msr: number, value: bigint): WriteResult;
  abstract rdmsr(ops: VcpuWorldPort, msr: number): RegResult;
  abstract rdpmc(ops: VcpuWorldPort, index: number): RegResult;
  /** The value the guest would read from a counter (id: GP i / 32 + fixed i), no side effects. */
  abstract peek(ops: VcpuWorldPort, counterId: number): bigint;
  /** A guest loop of known instructions and branches (guest programs): counts what would count (program-loop.ts). */
  abstract programLoop(ops: VcpuWorldPort, instructions: number, branches: number): void;

  /**
   * The guest's write to its local APIC's LVTPC (the PMI handler's unmask). KVM emulates the guest's
   * local APIC in every vPMU design, and no design gives the guest the LVTPC register: in x2APIC
   * mode it is a WRMSR to 0x834 that exits (with APICv only TPR, EOI and SELF_IPI writes are not
   * intercepted: vmx.c vmx_update_msr_bitmap_x2apic) and is emulated by kvm_x2apic_msr_write, a
   * WRMSR exit like a trapped PMU MSR. The mediated design switches the host's LVTPC to its PMI
   * vector at perf_load_guest_context, but the guest's LVTPC stays KVM's emulated register.
   */
  lvtpcWrite(_ops: VcpuWorldPort): void {
    this.trap('apic-write', X2APIC_LVTPC_MSR);
  }

  /**
   * kvm_pmu_instruction_retired: KVM emulated a guest instruction and skipped it
   * (kvm_skip_emulated_instruction, arch/x86/kvm/x86.c): the counters counting instructions
   * retired at the guest's CPL advance by one. No PMU: nothing. Returns whether a counter the
   * credit wrapped asked for a PMI (KVM_REQ_PMI, injected at the next VM-Enter).
   */
  creditEmulatedInstruction(_ops: VcpuWorldPort): boolean {
    return false;
  }

  /**
   * A guest program's WRMSR / RDMSR / RDPMC that completed retired one instruction: when it exited,
   * KVM emulated it and credits it (every design: the emulated vPMU since "KVM: x86: Update vPMCs
   * when retiring instructions", commit 9cd803d496e7), the RFC's "[RFC PATCH 39/41] KVM: x86/pmu: Implement
   * emulated counter increment for passthrough PMU" (Jan 2024), the merged "KVM: x86/pmu: Handle
   * emulated instruction for mediated vPMU"); when it did not, it retired in guest mode and the
   * hardware counted it (passthrough designs). One that faulted retired nothing: KVM injects the
   * #GP without skipping the instruction (kvm_complete_insn_gp).
   */
  programAccessRetired(ops: VcpuWorldPort, exited: boolean): boolean {
    if (exited) return this.creditEmulatedInstruction(ops);
    this.retiredInGuest(ops);
    return false;
  }

  /** One instruction retired in guest mode without an exit: only a PMU the guest owns counts it here. */
  protected retiredInGuest(_ops: VcpuWorldPort): void {}

  /** CPUID.0AH as the guest sees it (EBX bit-vector length 7: the architectural events). */
  cpuid0a(): { eax: number; ebx: number; ecx: number; edx: number } {
    const h = this.shape.host;
    const g = this.guest;
    const eax = (g.version & 0xff) | (g.gpCounters << 8) | (h.gpWidthBits << 16) | (7 << 24);
    return { eax: eax >>> 0, ebx: g.eventMask, ecx: g.fixedCounterMask, edx: (g.fixedCounters & 0x1f) | (g.version >= 2 ? h.fixedWidthBits << 5 : 0) };
  }

  /** IA32_PERF_CAPABILITIES as the guest reads it: the host's LBR format, FW_WRITES as the VM sets it. */
  protected guestPerfCapabilities(hostValue: bigint): bigint {
    return this.guest.fullWidthWrites ? hostValue | PERF_CAP_FW_WRITES : hostValue & ~PERF_CAP_FW_WRITES;
  }

  /**
   * RDPMC of a counter the guest shape lacks #GPs (kvm_pmu_rdpmc: intel_rdpmc_ecx_to_pmc finds
   * no counter): a fixed index whose counter is absent, a GP index at or above the guest's count.
   */
  protected rdpmcAbsent(index: number): boolean {
    if (index >= 2 ** 31) return false; // fast mode: the register model #GPs it
    if (index & (1 << 30)) {
      const i = index & ((1 << 30) - 1);
      return i >= 32 || ((this.guest.fixedPresent >>> i) & 1) === 0;
    }
    return index >= this.shape.gpCounters;
  }

  protected trap(reason: string, msr: number, cost: 'msrTrapCycles' | 'vmExitRoundTripCycles' = 'msrTrapCycles', extraNs = 0): void {
    // docs/cost-model.md: trapped WRMSR ~2,500-3,000 cycles (W. Li, 2020) used for every PMU MSR.
    this.traps.push({ reason, msr, costNs: this.costs.costNs(cost) + extraNs });
  }

  /** #GP for counters the guest was not given (i >= exposed N), as KVM's MSR checks do. */
  protected notExposed(msr: number, value?: bigint): boolean {
    const c = classify(msr);
    const n = this.shape.gpCounters;
    if ((c.k === 'gp-counter' || c.k === 'eventsel') && c.i >= n) {
      // 0xC1/0xC2 quirk (writes dropped, reads 0) is left to the register model when the host
      // has the counter but the guest does not: answer it here.
      return !(c.k === 'gp-counter' && c.legacy && c.i < 2);
    }
    if (msr === MSR.PERF_GLOBAL_CTRL && value !== undefined) {
      const gpBits = value & 0xffff_ffffn;
      if ((gpBits & ~gpMask(n)) !== 0n) return true;
    }
    return this.absentInGuestShape(msr, value);
  }

  /**
   * Registers the guest's PMU version, fixed-counter set and PERF_CAPABILITIES leave out #GP
   * (intel_pmu_refresh / kvm_pmu_is_valid_msr; pmu_counters_test guest_rd_wr_counters and
   * guest_test_fixed_counters): the IA32_A_PMCx aliases without FW_WRITES; fixed counters,
   * FIXED_CTR_CTRL and the global registers below version 2; GLOBAL_STATUS_SET below version 4;
   * an absent fixed counter's MSR, and a FIXED_CTR_CTRL field or GLOBAL_CTRL bit enabling it.
   */
  private absentInGuestShape(msr: number, value: bigint | undefined): boolean {
    const g = this.guest;
    const c = classify(msr);
    if (c.k === 'gp-counter') return !c.legacy && !g.fullWidthWrites;
    if (c.k === 'fixed-counter') return ((g.fixedPresent >>> c.i) & 1) === 0;
    if (c.k === 'fixed-ctrl') {
      if (g.version < 2) return true;
      if (value === undefined) return false;
      for (let f = 0; f < 16; f++) if (((value >> BigInt(4 * f)) & 0xfn) !== 0n && ((g.fixedPresent >>> f) & 1) === 0) return true;
      return false;
    }
    if (c.k === 'global') {
      if (g.version < 2) return true;
      // AMD's GLOBAL_STATUS_SET comes with PerfMonV2 (version 2); amd-guest-msrs.ts checks it.
      if (msr === MSR.PERF_GLOBAL_STATUS_SET && g.version < 4 && this.shape.host.vendor !== 'amd') return true;
      if (msr === MSR.PERF_GLOBAL_CTRL && value !== undefined) return ((value >> 32n) & 0xffff_ffffn & ~BigInt(g.fixedPresent)) !== 0n;
    }
    return false;
  }

  protected legacyQuirk(msr: number): boolean {
    const c = classify(msr);
    return c.k === 'gp-counter' && c.legacy && c.i < 2 && c.i >= this.shape.gpCounters;
  }
}
