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
import { classify, gpMask } from './pmu-msr-class';
import type { VcpuWorldPort } from './vcpu-world.port';

/** One guest access that caused a VM exit, and what it cost the guest (CostModel names). */
export interface TrapRecord {
  reason: string;
  msr: number;
  costNs: number;
}

export type GuestMsrResult = RegResult;

const GUEST_PMI_VECTOR_DEDICATED = 0xf5; // KVM's dedicated guest PMI vector (mediated series); model choice of number
const NMI_VECTOR = 2;
export const PMI_VECTORS = { dedicated: GUEST_PMI_VECTOR_DEDICATED, shared: NMI_VECTOR } as const;

export interface VpmuShape {
  /** Host PMU configuration (the guest PMU model has the host's shape). */
  host: IntelPmuConfig;
  /** GP counters exposed to the guest (vpmu.nrCounters, default all). */
  gpCounters: number;
}

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

  /** The VM's KVM event filter (null = none installed); a running mediated VM may get a new one. */
  filter: KvmEventFilter | null;

  constructor(
    readonly mode: VpmuMode,
    readonly shape: VpmuShape,
    protected readonly costs: CostModel,
    filterSpec: EventFilterSpec | undefined,
    readonly label: string,
  ) {
    this.filter = null;
    if (filterSpec) {
      const r = KvmEventFilter.create(filterSpec);
      // The scenario validator bounds each list; KVM counts plain and masked entries together.
      if (!r.ok) throw new Error(`${label}: KVM_SET_PMU_EVENT_FILTER fails with ${r.errno} (${r.reason}); fix vms[].vpmu.filter`);
      this.filter = r.filter;
    }
  }

  /** KVM's pmc_event_is_allowed for a GP counter's EVENTSEL value (no filter: everything). */
  protected allowsSel(eventSel: number): boolean {
    return this.filter === null || this.filter.allowsGp(eventSel & 0xff, (eventSel >> 8) & 0xff);
  }

  /** KVM's fixed-counter rule: the filter's bitmap alone decides (no filter: everything). */
  protected allowsFixed(i: number): boolean {
    return this.filter === null || this.filter.allowsFixed(i);
  }

  abstract wrmsr(ops: VcpuWorldPort, msr: number, value: bigint): WriteResult;
  abstract rdmsr(ops: VcpuWorldPort, msr: number): RegResult;
  abstract rdpmc(ops: VcpuWorldPort, index: number): RegResult;
  /** The value the guest would read from a counter (id: GP i / 32 + fixed i), no side effects. */
  abstract peek(ops: VcpuWorldPort, counterId: number): bigint;
  /** A guest loop of known instructions and branches (guest programs): counts what would count (program-loop.ts). */
  abstract programLoop(ops: VcpuWorldPort, instructions: number, branches: number): void;

  /**
   * kvm_pmu_instruction_retired: KVM emulated a guest instruction and skipped it
   * (kvm_skip_emulated_instruction, arch/x86/kvm/x86.c): the counters counting instructions
   * retired at the guest's CPL advance by one. No PMU: nothing.
   */
  creditEmulatedInstruction(_ops: VcpuWorldPort): void {}

  /**
   * A guest program's WRMSR / RDMSR / RDPMC that completed retired one instruction: when it exited,
   * KVM emulated it and credits it (every design: the emulated vPMU since "KVM: x86: Update vPMCs
   * when retiring instructions", commit 9cd803d496e7), the RFC's "[RFC PATCH 39/41] KVM: x86/pmu: Implement
   * emulated counter increment for passthrough PMU" (Jan 2024), the merged "KVM: x86/pmu: Handle
   * emulated instruction for mediated vPMU"); when it did not, it retired in guest mode and the
   * hardware counted it (passthrough designs). One that faulted retired nothing: KVM injects the
   * #GP without skipping the instruction (kvm_complete_insn_gp).
   */
  programAccessRetired(ops: VcpuWorldPort, exited: boolean): void {
    if (exited) this.creditEmulatedInstruction(ops);
    else this.retiredInGuest(ops);
  }

  /** One instruction retired in guest mode without an exit: only a PMU the guest owns counts it here. */
  protected retiredInGuest(_ops: VcpuWorldPort): void {}

  /** CPUID.0AH as the guest sees it. */
  cpuid0a(): { eax: number; ebx: number; edx: number } {
    const h = this.shape.host;
    const eax = (h.perfmonVersion & 0xff) | (this.shape.gpCounters << 8) | (h.gpWidthBits << 16) | (7 << 24);
    return { eax: eax >>> 0, ebx: 0, edx: (h.fixedCounters & 0x1f) | (h.fixedWidthBits << 5) };
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
    return false;
  }

  protected legacyQuirk(msr: number): boolean {
    const c = classify(msr);
    return c.k === 'gp-counter' && c.legacy && c.i < 2 && c.i >= this.shape.gpCounters;
  }
}
