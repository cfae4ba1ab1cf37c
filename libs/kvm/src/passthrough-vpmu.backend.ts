// Passthrough (mediated) vPMU: the guest's PMU context lives in the hardware between entry and
// exit (loaded after perf_guest_enter, saved before perf_guest_exit); counters, the global
// registers and RDPMC do not exit; EVENTSEL / FIXED_CTR_CTRL accesses exit only when
// `interceptEventSelect` (which is what lets KVM apply the event filter: "passthrough with event
// filters"); without it the filter cannot be enforced and a denied event counts (filter-bypass).
// Counters not exposed to the guest are loaded as zero at entry (no host value can leak).
import { EventRates, EVTSEL, FIXED_COUNTER_ID_BASE, FIXED_CTRL, IntelPmu, MSR, RDPMC_FIXED, type RegResult, type WriteResult } from '@vpmu/pmu';
import type { EventFilterSpec } from '@vpmu/world-spec';
import type { CostModel } from './cost-model';
import { classify, GP_FAULT, gpMask } from './pmu-msr-class';
import { VcpuVpmu, type VpmuShape } from './vpmu-backend';
import type { VcpuWorldPort } from './vcpu-world.port';

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
    return pmu.rdmsr(msr);
  }

  rdpmc(ops: VcpuWorldPort, index: number): RegResult {
    if (!(index & RDPMC_FIXED) && index >= this.shape.gpCounters && index < 2 ** 30) {
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
 * counters count exactly `instructions` / `branches` (rates chosen so the fixed-point counting is
 * exact: over 2^16 ns a rate of n * 2^-16 events/ns gives n events).
 */
export function runLoopOn(pmu: IntelPmu, instructions: number, branches: number): void {
  const CHUNK = 4_000_000;
  let i = instructions;
  let b = branches;
  const ghost = { guest: true, kernel: true } as const;
  while (i > 0 || b > 0) {
    const ci = Math.min(i, CHUNK);
    const cb = Math.min(b, CHUNK);
    const rates = loopRates(ci, cb);
    pmu.advance(65536, rates, ghost);
    i -= ci;
    b -= cb;
  }
}

function loopRates(instructions: number, branches: number): EventRates {
  return EventRates.of({}, { instructions: instructions / 65536, branches: branches / 65536 });
}
