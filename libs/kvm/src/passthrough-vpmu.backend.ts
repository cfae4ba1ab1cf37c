// Passthrough (mediated) vPMU: the guest's PMU context lives in the hardware between entry and
// exit (loaded after perf_guest_enter, saved before perf_guest_exit); counters, the global
// registers and RDPMC do not exit; EVENTSEL / FIXED_CTR_CTRL accesses exit only when
// `interceptEventSelect` (which is what lets KVM apply the event filter: "passthrough with event
// filters"); without it the filter cannot be enforced and a denied event counts (filter-bypass).
// Counters not exposed to the guest are loaded as zero at entry (no host value can leak).
import { EventRates, EVTSEL, FIXED_COUNTER_ID_BASE, FIXED_CTRL, IntelPmu, MSR, WORKLOAD_EVENT_NAMES, type RegResult, type WriteResult } from '@vpmu/pmu';
import type { EventFilterSpec } from '@vpmu/world-spec';
import type { CostModel } from './cost-model';
import { classify, GP_FAULT, gpMask } from './pmu-msr-class';
import { ONE_INSTRUCTION, programLoopCounts, type ProgramLoopCounts } from './program-loop';
import { VcpuVpmu, type VpmuShape } from './vpmu-backend';
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

/** Passthrough (mediated) vPMU. */
export class PassthroughVpmu extends VcpuVpmu {
  /**
   * The guest's PMU context while it is not loaded in the hardware (host-shaped). Entry and exit
   * copy registers between it and the hardware PMU in place (IntelPmu.copyStateFrom): the
   * context switch runs ~40k times per simulated second for an I/O-heavy guest, so it allocates
   * nothing.
   */
  readonly gpmu: IntelPmu;
  loaded = false;
  /** Guest-visible EVENTSEL / FIXED_CTR_CTRL values (with interception the hardware may differ). */
  readonly shadowSel: number[];
  shadowFixedCtrl = 0;
  /** Counters programmed with a denied event, and their value then (filter-bypass check). */
  private readonly deniedWatch = new Map<number, bigint>();
  private bypassReported = false;
  /** Emulated instructions credited to at least one guest counter. */
  creditedInstructions = 0;
  /** Credits that wrapped a guest counter (kvm_pmu_incr_counter's overflow). */
  creditOverflows = 0;

  constructor(
    shape: VpmuShape,
    costs: CostModel,
    filter: EventFilterSpec | undefined,
    label: string,
    readonly interceptEventSelect: boolean,
    readonly pmiVector: 'dedicated' | 'shared',
    // The merged design reuses this context handling (mediated-vpmu.backend.ts).
    mode: 'passthrough' | 'mediated' = 'passthrough',
  ) {
    super(mode, shape, costs, filter, label);
    this.gpmu = new IntelPmu(shape.host);
    // GLOBAL_CTRL resets to the mask of the GP counters the guest has (KVM selftests).
    this.gpmu.wrmsr(MSR.PERF_GLOBAL_CTRL, gpMask(shape.gpCounters));
    this.shadowSel = Array(shape.host.gpCounters).fill(0);
  }

  private target(ops: VcpuWorldPort): IntelPmu {
    return this.loaded ? ops.loadedPmu() : this.gpmu;
  }

  wrmsr(ops: VcpuWorldPort, msr: number, value: bigint): WriteResult {
    const c = classify(msr);
    if (c.k === 'other' && msr !== MSR.DEBUGCTL && msr !== MSR.PERF_CAPABILITIES) return GP_FAULT as WriteResult;
    if (this.legacyQuirk(msr)) {
      this.trap('msr-write', msr); // MSRs of counters the guest lacks stay intercepted
      return { ok: true };
    }
    if (this.notExposed(msr, value)) {
      this.trap('msr-write', msr);
      return GP_FAULT as WriteResult;
    }
    const pmu = this.target(ops);
    if ((c.k === 'eventsel' || c.k === 'fixed-ctrl') && this.interceptEventSelect) {
      this.trap('msr-write', msr);
      const raw = pmu.wrmsr(msr, value);
      if (!raw.ok) return raw;
      if (c.k === 'eventsel') {
        this.shadowSel[c.i] = Number(value);
        const v = Number(value);
        if (!this.allowsSel(v)) pmu.wrmsr(msr, BigInt(v & ~EVTSEL.EN));
      } else {
        this.shadowFixedCtrl = Number(value);
        let v = Number(value);
        for (let f = 0; f < this.shape.host.fixedCounters; f++) if (!this.allowsFixed(f)) v &= ~(0xf << (4 * f));
        pmu.wrmsr(msr, BigInt(v));
      }
      return raw;
    }
    const r = pmu.wrmsr(msr, value);
    if (r.ok && c.k === 'eventsel') {
      this.shadowSel[c.i] = Number(value);
      const v = Number(value);
      // Not intercepted: KVM never sees the write, so a denied event runs (checked in checkFilter).
      if (!this.allowsSel(v) && (v & EVTSEL.EN) !== 0) {
        this.deniedWatch.set(c.i, this.readCounter(pmu, c.i));
      } else this.deniedWatch.delete(c.i);
    }
    if (r.ok && c.k === 'fixed-ctrl') {
      this.shadowFixedCtrl = Number(value);
      for (let f = 0; f < this.shape.host.fixedCounters; f++) {
        const on = ((Number(value) >> (4 * f)) & (FIXED_CTRL.OS | FIXED_CTRL.USR)) !== 0;
        if (on && !this.allowsFixed(f)) this.deniedWatch.set(FIXED_COUNTER_ID_BASE + f, this.readCounter(pmu, FIXED_COUNTER_ID_BASE + f));
        else this.deniedWatch.delete(FIXED_COUNTER_ID_BASE + f);
      }
    }
    return r;
  }

  /**
   * KVM_SET_PMU_EVENT_FILTER on the running VM. With event-select interception KVM holds the
   * guest's selector values and reprograms the hardware ones from them under the new filter
   * (the merged series' "KVM: x86/pmu: Reprogram mediated PMU event selectors on event filter
   * updates", v6 25/44; the RFC's intercepted writes follow the same rule). KVM applies it at the
   * vCPU's next entry after kicking it out of guest mode; the model applies it at once and does
   * not charge the kick's exit. Without interception KVM never sees the guest's selectors, so it
   * has nothing to reprogram: the scenario reader refuses the action for such a VM.
   */
  override setFilter(spec: EventFilterSpec | null, ops: VcpuWorldPort): void {
    if (!this.interceptEventSelect) throw new Error(`${this.label}: a running passthrough VM without interceptEventSelect cannot apply a new event filter`);
    this.replaceFilter(spec);
    const pmu = this.target(ops);
    for (let i = 0; i < this.shape.gpCounters; i++) {
      const sel = this.shadowSel[i];
      pmu.wrmsr(MSR.IA32_PERFEVTSEL0 + i, BigInt(this.allowsSel(sel) ? sel : sel & ~EVTSEL.EN));
    }
    let fixedCtrl = this.shadowFixedCtrl;
    for (let f = 0; f < this.shape.host.fixedCounters; f++) if (!this.allowsFixed(f)) fixedCtrl &= ~(0xf << (4 * f));
    pmu.wrmsr(MSR.FIXED_CTR_CTRL, BigInt(fixedCtrl));
  }

  rdmsr(ops: VcpuWorldPort, msr: number): RegResult {
    const c = classify(msr);
    if (c.k === 'other' && msr !== MSR.DEBUGCTL && msr !== MSR.PERF_CAPABILITIES) return GP_FAULT;
    if (this.legacyQuirk(msr)) {
      this.trap('msr-read', msr);
      return { ok: true, value: 0n };
    }
    if (this.notExposed(msr)) {
      this.trap('msr-read', msr);
      return GP_FAULT;
    }
    const pmu = this.target(ops);
    if ((c.k === 'eventsel' || c.k === 'fixed-ctrl') && this.interceptEventSelect) {
      this.trap('msr-read', msr);
      const r = pmu.rdmsr(msr);
      if (!r.ok) return r;
      // The guest reads back what it wrote, even for a denied event (tools/testing/selftests/kvm/x86/pmu_event_filter_test.c).
      return { ok: true, value: BigInt(c.k === 'eventsel' ? this.shadowSel[c.i] : this.shadowFixedCtrl) };
    }
    const r = pmu.rdmsr(msr);
    if (r.ok && msr === MSR.PERF_CAPABILITIES) return { ok: true, value: this.guestPerfCapabilities(r.value) };
    return r;
  }

  rdpmc(ops: VcpuWorldPort, index: number): RegResult {
    if (this.rdpmcAbsent(index)) {
      this.trap('rdpmc', 0);
      return GP_FAULT;
    }
    return this.target(ops).rdpmc(index);
  }

  peek(ops: VcpuWorldPort, counterId: number): bigint {
    return this.readCounter(this.target(ops), counterId);
  }

  private readCounter(pmu: IntelPmu, counterId: number): bigint {
    const r = counterId >= FIXED_COUNTER_ID_BASE ? pmu.rdmsr(MSR.FIXED_CTR0 + counterId - FIXED_COUNTER_ID_BASE) : pmu.rdmsr(MSR.IA32_A_PMC0 + counterId);
    if (r.ok) return r.value;
    const legacy = pmu.rdmsr(MSR.IA32_PMC0 + counterId);
    return legacy.ok ? legacy.value : 0n;
  }

  programLoop(ops: VcpuWorldPort, instructions: number, branches: number): void {
    runLoopOn(this.target(ops), instructions, branches);
    this.checkFilter(ops);
  }

  /** A program's access that did not exit retired in guest mode: the guest's counters count it. */
  protected override retiredInGuest(ops: VcpuWorldPort): void {
    runCountsOn(this.target(ops), ONE_INSTRUCTION);
    this.checkFilter(ops);
  }

  /**
   * kvm_pmu_instruction_retired for an access KVM emulated: every enabled counter that counts
   * instructions retired at CPL0 (the exiting instructions run in the guest kernel) and whose
   * event the filter allows (the hardware select holds the filtered value) advances by one. The
   * RFC defers it to the KVM_REQ_PMU handler before the next entry ("[RFC PATCH 39/41] KVM:
   * x86/pmu: Implement emulated counter increment for passthrough PMU", Jan 2024); the merged
   * design does it in kvm_pmu_incr_counter ("KVM: x86/pmu: Handle emulated instruction for
   * mediated vPMU"); the guest sees the same count before it runs again. Returns whether a
   * wrap requested a PMI.
   */
  override creditEmulatedInstruction(ops: VcpuWorldPort): boolean {
    const pmu = this.target(ops);
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
    // A credit that wraps a counter overflows it as kvm_pmu_incr_counter has it: its
    // GLOBAL_STATUS bit is set and, when the counter asked for an interrupt, KVM_REQ_PMI injects
    // a PMI at the next VM-Enter.
    if (overflowed !== 0n) {
      pmu.wrmsr(MSR.PERF_GLOBAL_STATUS_SET, overflowed);
      this.creditOverflows++;
    }
    return pmi;
  }

  /** A denied event that moved: the filter was bypassed (only possible without interception). */
  checkFilter(ops: VcpuWorldPort): void {
    if (this.bypassReported || this.deniedWatch.size === 0) return;
    const pmu = this.target(ops);
    for (const [id, v0] of this.deniedWatch) {
      const v = this.readCounter(pmu, id);
      if (v !== v0) {
        this.bypassReported = true;
        ops.emitFinding(
          'filter-bypass',
          `${this.label}: counter ${id >= FIXED_COUNTER_ID_BASE ? `fixed${id - FIXED_COUNTER_ID_BASE}` : `gp${id}`} counts an event the KVM event filter denies (${v0} -> ${v}): passthrough without interceptEventSelect cannot enforce the filter`,
        );
        return;
      }
    }
  }

  /** At VM entry, after perf_guest_enter: load the guest context into the hardware. */
  load(hw: IntelPmu, ops: VcpuWorldPort): void {
    hw.copyStateFrom(this.gpmu);
    this.loaded = true;
    // Counters not exposed to the guest hold zero after the load: a non-zero one would leak a
    // host (or another guest's) value into this guest. A number check per hidden counter; the
    // bigint read only when reporting.
    for (let i = this.shape.gpCounters; i < this.shape.host.gpCounters; i++) {
      if (hw.counterIsZero(i)) continue;
      const r = hw.rdmsr(MSR.IA32_A_PMC0 + i);
      ops.emitFinding('counter-leak', `${this.label}: hidden counter gp${i} holds ${r.ok ? r.value : '?'} after the guest context load`);
    }
  }

  /**
   * What one exit/entry pair costs this design on top of the exit itself: the RFC saves and
   * restores the whole guest PMU context and calls perf_guest_exit / perf_guest_enter (host
   * events scheduled out and back in, PMI vector switched) at every pair, whatever the exit's
   * reason (docs/cost-model.md). The mediated design prices its switch on its own.
   */
  switchCostNs(): number {
    return this.costs.costNs('pmuContextSwitchCycles') + this.costs.costNs('perfGuestSwitchCycles');
  }

  /** At VM exit, before perf_guest_exit: save the guest context. */
  save(hw: IntelPmu): void {
    this.gpmu.copyStateFrom(hw);
    this.loaded = false;
  }
}

/**
 * Runs a guest loop of known instruction and branch counts on a PMU holding the guest context:
 * counters count exactly what programLoopCounts gives the loop, in guest kernel mode.
 */
export function runLoopOn(pmu: IntelPmu, instructions: number, branches: number): void {
  runCountsOn(pmu, programLoopCounts(instructions, branches));
}

/**
 * Advances a PMU holding the guest context by exactly `counts` events in guest kernel mode (rates
 * chosen so the fixed-point counting is exact: over 2^16 ns a rate of n * 2^-16 events/ns gives n
 * events; chunks keep each rate below the rate limit).
 */
export function runCountsOn(pmu: IntelPmu, counts: ProgramLoopCounts): void {
  const CHUNK = 4_000_000;
  const left: Record<string, number> = { ...counts };
  const ghost = { guest: true, kernel: true } as const;
  for (;;) {
    const step: Record<string, number> = {};
    let any = false;
    for (const name of WORKLOAD_EVENT_NAMES) {
      const n = Math.min(left[name], CHUNK);
      if (n <= 0) continue;
      step[name] = n / 65536;
      left[name] -= n;
      any = true;
    }
    if (!any) return;
    pmu.advance(65536, EventRates.of({}, step), ghost);
  }
}
