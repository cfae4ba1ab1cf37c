// The vPMU backends of one vCPU (x86): what KVM does with a guest's PMU MSR accesses, RDPMC and
// PMIs under each design (DESIGN.md "vPMU backends", shared/DOMAIN.md, seeds
// passthrough-vpmu-cover-letter.txt and perf-guest-enter-exit.txt).
//
// - none: KVM_PMU_CAP_DISABLE — CPUID.0AH is empty and every PMU MSR / RDPMC #GPs (after a trap).
// - emulated (arch/x86/kvm/pmu.c): every PMU MSR access and RDPMC traps; an enabled guest counter
//   is backed by a host perf event (guest-only = exclude_host, per-task on the vCPU thread,
//   flexible) created by reprogram_counter when the guest changes its event select, released when
//   it disables it; the guest counter value = the value the guest wrote + what the backing event
//   counted since. A backing event that cannot get a hardware counter simply stops counting: the
//   guest is not told (guest-counter-starved). The backing event's overflow (kvm_perf_overflow)
//   sets GLOBAL_STATUS and requests a PMI injected at the next entry.
// - passthrough (mediated vPMU): the guest's PMU context lives in the hardware between entry and
//   exit (loaded after perf_guest_enter, saved before perf_guest_exit); counters, the global
//   registers and RDPMC do not exit; EVENTSEL / FIXED_CTR_CTRL accesses exit only when
//   `interceptEventSelect` (which is what lets KVM apply the event filter: "passthrough with event
//   filters"); without it the filter cannot be enforced and a denied event counts (filter-bypass).
//   Counters not exposed to the guest are loaded as zero at entry (no host value can leak).
//
// The KVM event filter is event-filter.ts's KvmEventFilter (KVM_SET_PMU_EVENT_FILTER semantics:
// plain and masked entries as one filter, the fixed-counter bitmap wins, E2BIG / EINVAL), built
// once from the scenario's filter. Backends never store callbacks: the world passes a VpmuHostOps
// per call.
import {
  EventRates,
  EVTSEL,
  FIXED_COUNTER_ID_BASE,
  FIXED_CTRL,
  IntelPmu,
  MSR,
  RDPMC_FIXED,
  WORKLOAD_EVENT_NAMES,
  intelEventIndex,
  type IntelPmuConfig,
  type RegResult,
  type WorkloadEventName,
  type WriteResult,
} from '@vpmu/pmu';
import type { PerfEventAttr, PerfHooks } from '@vpmu/perf';
import type { EventFilterSpec, VpmuMode } from '@vpmu/world-spec';
import type { CostModel } from './cost-model';
import { KvmEventFilter } from './event-filter';

/** Host-side services a backend needs during one access (implemented by the simulated world). */
export interface VpmuHostOps {
  /** The hardware PMU holding this vCPU's guest context, advanced to now (passthrough, loaded). */
  loadedPmu(): IntelPmu;
  /** perf_event_create_kernel_counter for the vCPU thread; null when perf refuses. */
  perfCreate(attr: PerfEventAttr, hooks: PerfHooks): string | null;
  /** Raw count, time enabled and running of a backing event. */
  perfRead(id: string): { count: number; enabledNs: number; runningNs: number };
  perfClose(id: string): void;
  perfSetPeriod(id: string, periodEvents: number): void;
  finding(kind: string, detail: string): void;
}

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

const GP_FAULT: RegResult = Object.freeze({ ok: false, fault: 'gp' }) as RegResult;

// ---- MSR classification -------------------------------------------------------------------

type MsrClass =
  | { k: 'gp-counter'; i: number; legacy: boolean }
  | { k: 'eventsel'; i: number }
  | { k: 'fixed-counter'; i: number }
  | { k: 'fixed-ctrl' }
  | { k: 'global' }
  | { k: 'other' };

function classify(msr: number): MsrClass {
  if (msr >= MSR.IA32_PMC0 && msr < MSR.IA32_PMC0 + 8) return { k: 'gp-counter', i: msr - MSR.IA32_PMC0, legacy: true };
  if (msr >= MSR.IA32_A_PMC0 && msr < MSR.IA32_A_PMC0 + 8) return { k: 'gp-counter', i: msr - MSR.IA32_A_PMC0, legacy: false };
  if (msr >= MSR.IA32_PERFEVTSEL0 && msr < MSR.IA32_PERFEVTSEL0 + 8) return { k: 'eventsel', i: msr - MSR.IA32_PERFEVTSEL0 };
  if (msr >= MSR.FIXED_CTR0 && msr < MSR.FIXED_CTR0 + 4) return { k: 'fixed-counter', i: msr - MSR.FIXED_CTR0 };
  if (msr === MSR.FIXED_CTR_CTRL) return { k: 'fixed-ctrl' };
  if (msr === MSR.PERF_GLOBAL_CTRL || msr === MSR.PERF_GLOBAL_STATUS || msr === MSR.PERF_GLOBAL_OVF_CTRL || msr === MSR.PERF_GLOBAL_STATUS_SET) {
    return { k: 'global' };
  }
  return { k: 'other' };
}

export function isPmuMsr(msr: number): boolean {
  return classify(msr).k !== 'other' || msr === MSR.PERF_CAPABILITIES || msr === MSR.DEBUGCTL;
}

function gpMask(n: number): bigint {
  return (1n << BigInt(n)) - 1n;
}

// ---- backends ------------------------------------------------------------------------------

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

  /** The VM's KVM event filter (null = none installed). */
  readonly filter: KvmEventFilter | null;

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

  abstract wrmsr(ops: VpmuHostOps, msr: number, value: bigint): WriteResult;
  abstract rdmsr(ops: VpmuHostOps, msr: number): RegResult;
  abstract rdpmc(ops: VpmuHostOps, index: number): RegResult;
  /** The value the guest would read from a counter (id: GP i / 32 + fixed i), no side effects. */
  abstract peek(ops: VpmuHostOps, counterId: number): bigint;
  /** A guest loop of known instructions and branches (guest programs): counts what would count. */
  abstract programLoop(ops: VpmuHostOps, instructions: number, branches: number): void;

  /** CPUID.0AH as the guest sees it. */
  cpuid0a(): { eax: number; ebx: number; edx: number } {
    const h = this.shape.host;
    const eax = (h.perfmonVersion & 0xff) | (this.shape.gpCounters << 8) | (h.gpWidthBits << 16) | (7 << 24);
    return { eax: eax >>> 0, ebx: 0, edx: (h.fixedCounters & 0x1f) | (h.fixedWidthBits << 5) };
  }

  protected trap(reason: string, msr: number, cost: 'msrTrapCycles' | 'vmExitRoundTripCycles' = 'msrTrapCycles', extraNs = 0): void {
    // DOMAIN.md cost table: trapped WRMSR ~2,500-3,000 cycles (W. Li, 2020) used for every PMU MSR.
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

/** No PMU: CPUID.0AH empty, every PMU MSR and RDPMC #GPs (KVM injects #GP after the exit). */
export class NoneVpmu extends VcpuVpmu {
  wrmsr(_ops: VpmuHostOps, msr: number): WriteResult {
    this.trap('msr-write', msr);
    return GP_FAULT as WriteResult;
  }
  rdmsr(_ops: VpmuHostOps, msr: number): RegResult {
    this.trap('msr-read', msr);
    return GP_FAULT;
  }
  rdpmc(): RegResult {
    this.trap('rdpmc', 0);
    return GP_FAULT;
  }
  peek(): bigint {
    return 0n;
  }
  programLoop(): void {}
  override cpuid0a(): { eax: number; ebx: number; edx: number } {
    return { eax: 0, ebx: 0, edx: 0 };
  }
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

  constructor(
    shape: VpmuShape,
    costs: CostModel,
    filter: EventFilterSpec | undefined,
    label: string,
    readonly interceptEventSelect: boolean,
    readonly pmiVector: 'dedicated' | 'shared',
  ) {
    super('passthrough', shape, costs, filter, label);
    this.gpmu = new IntelPmu(shape.host);
    // GLOBAL_CTRL resets to the mask of the GP counters the guest has (KVM selftests).
    this.gpmu.wrmsr(MSR.PERF_GLOBAL_CTRL, gpMask(shape.gpCounters));
    this.shadowSel = Array(shape.host.gpCounters).fill(0);
  }

  private target(ops: VpmuHostOps): IntelPmu {
    return this.loaded ? ops.loadedPmu() : this.gpmu;
  }

  wrmsr(ops: VpmuHostOps, msr: number, value: bigint): WriteResult {
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

  rdmsr(ops: VpmuHostOps, msr: number): RegResult {
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
      // The guest reads back what it wrote, even for a denied event (DOMAIN.md).
      return { ok: true, value: BigInt(c.k === 'eventsel' ? this.shadowSel[c.i] : this.shadowFixedCtrl) };
    }
    return pmu.rdmsr(msr);
  }

  rdpmc(ops: VpmuHostOps, index: number): RegResult {
    if (!(index & RDPMC_FIXED) && index >= this.shape.gpCounters && index < 2 ** 30) {
      this.trap('rdpmc', 0);
      return GP_FAULT;
    }
    return this.target(ops).rdpmc(index);
  }

  peek(ops: VpmuHostOps, counterId: number): bigint {
    return this.readCounter(this.target(ops), counterId);
  }

  private readCounter(pmu: IntelPmu, counterId: number): bigint {
    const r = counterId >= FIXED_COUNTER_ID_BASE ? pmu.rdmsr(MSR.FIXED_CTR0 + counterId - FIXED_COUNTER_ID_BASE) : pmu.rdmsr(MSR.IA32_A_PMC0 + counterId);
    if (r.ok) return r.value;
    const legacy = pmu.rdmsr(MSR.IA32_PMC0 + counterId);
    return legacy.ok ? legacy.value : 0n;
  }

  programLoop(ops: VpmuHostOps, instructions: number, branches: number): void {
    runLoopOn(this.target(ops), instructions, branches);
    this.checkFilter(ops);
  }

  /** A denied event that moved: the filter was bypassed (only possible without interception). */
  checkFilter(ops: VpmuHostOps): void {
    if (this.bypassReported || this.deniedWatch.size === 0) return;
    const pmu = this.target(ops);
    for (const [id, v0] of this.deniedWatch) {
      const v = this.readCounter(pmu, id);
      if (v !== v0) {
        this.bypassReported = true;
        ops.finding(
          'filter-bypass',
          `${this.label}: counter ${id >= FIXED_COUNTER_ID_BASE ? `fixed${id - FIXED_COUNTER_ID_BASE}` : `gp${id}`} counts an event the KVM event filter denies (${v0} -> ${v}): passthrough without interceptEventSelect cannot enforce the filter`,
        );
        return;
      }
    }
  }

  /** At VM entry, after perf_guest_enter: load the guest context into the hardware. */
  load(hw: IntelPmu, ops: VpmuHostOps): void {
    hw.copyStateFrom(this.gpmu);
    this.loaded = true;
    // Counters not exposed to the guest hold zero after the load: a non-zero one would leak a
    // host (or another guest's) value into this guest. A number check per hidden counter; the
    // bigint read only when reporting.
    for (let i = this.shape.gpCounters; i < this.shape.host.gpCounters; i++) {
      if (hw.counterIsZero(i)) continue;
      const r = hw.rdmsr(MSR.IA32_A_PMC0 + i);
      ops.finding('counter-leak', `${this.label}: hidden counter gp${i} holds ${r.ok ? r.value : '?'} after the guest context load`);
    }
  }

  /** At VM exit, before perf_guest_exit: save the guest context. */
  save(hw: IntelPmu): void {
    this.gpmu.copyStateFrom(hw);
    this.loaded = false;
  }
}

interface Backing {
  /** Host perf event id, or null when none exists (disabled, denied or refused). */
  perfId: string | null;
  /** Configuration the backing event was created for ('' = none). */
  key: string;
  /** Guest counter value when the backing event started (or was last written). */
  base: bigint;
  /** Backing event count at that moment. */
  seen: number;
}

/** Emulated vPMU: every access traps; counters are backed by host perf events. */
export class EmulatedVpmu extends VcpuVpmu {
  /** Guest-visible registers (selects, global control/status); counter values live in `backing`. */
  readonly regs: IntelPmu;
  readonly backing: Backing[];
  /** A backing event was (re)created since the last PMI: the next PMI does not reuse events. */
  recreatedSinceLastPmi = true;
  /** The world has queued the PMI's forced exit. */
  pmiExitQueued = false;
  /** Overflow instants of the backing events behind the pending PMI, in order. */
  private pendingOverflowsNs: number[] = [];

  constructor(shape: VpmuShape, costs: CostModel, filter: EventFilterSpec | undefined, label: string, readonly task: string) {
    super('emulated', shape, costs, filter, label);
    this.regs = new IntelPmu(shape.host);
    this.regs.wrmsr(MSR.PERF_GLOBAL_CTRL, gpMask(shape.gpCounters));
    const size = shape.host.gpCounters + shape.host.fixedCounters;
    this.backing = Array.from({ length: size }, () => ({ perfId: null, key: '', base: 0n, seen: 0 }));
  }

  private idx(counterId: number): number {
    return counterId >= FIXED_COUNTER_ID_BASE ? this.shape.host.gpCounters + counterId - FIXED_COUNTER_ID_BASE : counterId;
  }

  private width(idx: number): number {
    return idx < this.shape.host.gpCounters ? this.shape.host.gpWidthBits : this.shape.host.fixedWidthBits;
  }

  private value(ops: VpmuHostOps, idx: number): bigint {
    const b = this.backing[idx];
    if (b.perfId === null) return b.base;
    const count = ops.perfRead(b.perfId).count;
    return BigInt.asUintN(this.width(idx), b.base + BigInt(count - b.seen));
  }

  wrmsr(ops: VpmuHostOps, msr: number, value: bigint): WriteResult {
    this.trap('msr-write', msr);
    if (this.legacyQuirk(msr)) return { ok: true };
    if (this.notExposed(msr, value)) return GP_FAULT as WriteResult;
    const c = classify(msr);
    const r = this.regs.wrmsr(msr, value);
    if (!r.ok) return r;
    if (c.k === 'gp-counter' || c.k === 'fixed-counter') {
      const idx = c.k === 'gp-counter' ? c.i : this.shape.host.gpCounters + c.i;
      const rb = this.regs.rdmsr(msr);
      const v = rb.ok ? rb.value : 0n;
      const b = this.backing[idx];
      b.base = v;
      if (b.perfId !== null) {
        b.seen = ops.perfRead(b.perfId).count;
        // KVM: perf_event_period so the backing event overflows when the guest counter wraps.
        if (this.interruptOf(idx)) ops.perfSetPeriod(b.perfId, this.periodFor(idx, v));
      }
    } else if (c.k === 'eventsel' || c.k === 'fixed-ctrl' || msr === MSR.PERF_GLOBAL_CTRL) {
      const n = this.shape.host.gpCounters + this.shape.host.fixedCounters;
      for (let i = 0; i < n; i++) this.reprogram(ops, i);
    }
    return r;
  }

  rdmsr(ops: VpmuHostOps, msr: number): RegResult {
    this.trap('msr-read', msr);
    if (this.legacyQuirk(msr)) return { ok: true, value: 0n };
    if (this.notExposed(msr)) return GP_FAULT;
    const c = classify(msr);
    const r = this.regs.rdmsr(msr);
    if (!r.ok) return r;
    if (c.k === 'gp-counter') return { ok: true, value: c.legacy ? BigInt.asUintN(this.shape.host.gpWidthBits, this.value(ops, c.i)) : this.value(ops, c.i) };
    if (c.k === 'fixed-counter') return { ok: true, value: this.value(ops, this.shape.host.gpCounters + c.i) };
    return r;
  }

  rdpmc(ops: VpmuHostOps, index: number): RegResult {
    this.trap('rdpmc', 0);
    if (!(index & RDPMC_FIXED) && index >= this.shape.gpCounters && index < 2 ** 30) return GP_FAULT;
    const r = this.regs.rdpmc(index);
    if (!r.ok) return r;
    return { ok: true, value: this.value(ops, index & RDPMC_FIXED ? this.shape.host.gpCounters + (index & (RDPMC_FIXED - 1)) : index) };
  }

  peek(ops: VpmuHostOps, counterId: number): bigint {
    return this.value(ops, this.idx(counterId));
  }

  programLoop(ops: VpmuHostOps, instructions: number, branches: number): void {
    // The loop runs in the guest before the workload starts: each backing event that exists
    // counts the loop's events of its kind (user+kernel filters aside: the loop is in the kernel
    // of the test guest, as the selftests' guest code is).
    for (let i = 0; i < this.backing.length; i++) {
      const b = this.backing[i];
      if (b.perfId === null) continue;
      const ev = b.key.split('/')[0];
      const n = ev === 'instructions' ? instructions : ev === 'branches' ? branches : 0;
      b.base = BigInt.asUintN(this.width(i), b.base + BigInt(n));
    }
  }

  /** The guest event a counter is configured for now, or null when it is not enabled. */
  private configOf(idx: number): { event: WorkloadEventName; usr: boolean; os: boolean; int: boolean; allowed: boolean } | null {
    const nGp = this.shape.host.gpCounters;
    const gc = this.regs.rdmsr(MSR.PERF_GLOBAL_CTRL);
    const global = gc.ok ? gc.value : 0n;
    if (idx < nGp) {
      if (((global >> BigInt(idx)) & 1n) === 0n) return null;
      const r = this.regs.rdmsr(MSR.IA32_PERFEVTSEL0 + idx);
      const v = r.ok ? Number(r.value) : 0;
      if ((v & EVTSEL.EN) === 0) return null;
      const e = intelEventIndex(v & 0xff, (v >> 8) & 0xff);
      if (e < 0) return null;
      return { event: WORKLOAD_EVENT_NAMES[e], usr: (v & EVTSEL.USR) !== 0, os: (v & EVTSEL.OS) !== 0, int: (v & EVTSEL.INT) !== 0, allowed: this.allowsSel(v) };
    }
    const f = idx - nGp;
    if (((global >> BigInt(32 + f)) & 1n) === 0n) return null;
    const r = this.regs.rdmsr(MSR.FIXED_CTR_CTRL);
    const field = r.ok ? (Number(r.value) >> (4 * f)) & 0xf : 0;
    if ((field & (FIXED_CTRL.OS | FIXED_CTRL.USR)) === 0) return null;
    const names: WorkloadEventName[] = ['instructions', 'cycles', 'ref-cycles', 'topdown-slots'];
    return { event: names[f], usr: (field & FIXED_CTRL.USR) !== 0, os: (field & FIXED_CTRL.OS) !== 0, int: (field & FIXED_CTRL.PMI) !== 0, allowed: this.allowsFixed(f) };
  }

  private interruptOf(idx: number): boolean {
    return this.configOf(idx)?.int ?? false;
  }

  private periodFor(idx: number, value: bigint): number {
    const left = (1n << BigInt(this.width(idx))) - value;
    return Number(left > 0n && left < 2n ** 52n ? left : 2n ** 47n);
  }

  /** reprogram_counter: keep, release or (re)create the backing event of one guest counter. */
  private reprogram(ops: VpmuHostOps, idx: number): void {
    const cfg = this.configOf(idx);
    // A denied event gets no backing event: it never counts (KVM's pmc_event_is_allowed).
    const key = cfg && cfg.allowed ? `${cfg.event}/${cfg.usr ? 'u' : ''}${cfg.os ? 'k' : ''}${cfg.int ? 'i' : ''}` : '';
    const b = this.backing[idx];
    if (key === b.key) return;
    const current = this.value(ops, idx);
    if (b.perfId !== null) {
      ops.perfClose(b.perfId);
      this.traps.push({ reason: 'perf-release', msr: 0, costNs: this.costs.costNs('perfEventToggleNs') });
    }
    b.perfId = null;
    b.key = key;
    b.base = current;
    b.seen = 0;
    if (!cfg || !cfg.allowed) return;
    const attr: PerfEventAttr = {
      event: cfg.event,
      excludeHost: true,
      excludeUser: !cfg.usr,
      excludeKernel: !cfg.os,
      ...(cfg.int && { samplePeriod: this.periodFor(idx, current) }),
    };
    // perf_event_create_kernel_counter: no public figure for the call alone (cost-model.ts).
    this.traps.push({ reason: 'perf-create', msr: 0, costNs: this.costs.costNs('perfEventCreateNs') });
    this.recreatedSinceLastPmi = true;
    const id = ops.perfCreate(attr, new EmulatedPmiHook(this, idx));
    b.perfId = id;
    b.seen = 0;
  }

  /** Migration source: fold every backing event into its guest counter and release it. */
  detach(ops: VpmuHostOps): void {
    for (let i = 0; i < this.backing.length; i++) {
      const b = this.backing[i];
      if (b.perfId === null) continue;
      b.base = this.value(ops, i);
      ops.perfClose(b.perfId);
      b.perfId = null;
      b.key = '';
      b.seen = 0;
    }
    this.starvedReported.length = 0;
  }

  /** Migration destination: recreate the backing events from the guest's registers. */
  attach(ops: VpmuHostOps): void {
    for (let i = 0; i < this.backing.length; i++) this.reprogram(ops, i);
    this.traps = []; // part of the migration downtime, not guest time
  }

  /** kvm_perf_overflow: the backing event overflowed, so the guest counter wrapped. */
  onBackingOverflow(idx: number, overflowNs: number): void {
    const bit = idx < this.shape.host.gpCounters ? 1n << BigInt(idx) : 1n << BigInt(32 + idx - this.shape.host.gpCounters);
    this.regs.wrmsr(MSR.PERF_GLOBAL_STATUS_SET, bit);
    if (!this.pendingPmi) this.pendingPmiOverflowNs = overflowNs;
    this.pendingPmi = true;
    this.pendingOverflowsNs.push(overflowNs);
  }

  /**
   * The overflows one injected PMI covers (KVM_REQ_PMI: one virtual PMI however many guest
   * counters wrapped; the guest handler reads every GLOBAL_STATUS bit). Clears the pending PMI.
   */
  takePendingOverflows(): number[] {
    const out = this.pendingOverflowsNs.length > 0 ? this.pendingOverflowsNs : [this.pendingPmiOverflowNs];
    this.pendingOverflowsNs = [];
    this.pendingPmi = false;
    return out;
  }

  /** The overflows the pending PMI covers, without taking them (migration state, libs/migration). */
  pendingOverflows(): number[] {
    if (!this.pendingPmi) return [];
    return this.pendingOverflowsNs.length > 0 ? [...this.pendingOverflowsNs] : [this.pendingPmiOverflowNs];
  }

  /** Backing events that hold no counter while the vCPU runs: the guest counter silently stops. */
  checkStarved(ops: VpmuHostOps): void {
    for (let i = 0; i < this.backing.length; i++) {
      const b = this.backing[i];
      if (b.perfId === null || this.starvedReported.includes(i)) continue;
      const r = ops.perfRead(b.perfId);
      if (r.enabledNs > 0 && r.runningNs < r.enabledNs) {
        this.starvedReported.push(i);
        ops.finding(
          'guest-counter-starved',
          `${this.label}: guest counter ${i < this.shape.host.gpCounters ? `gp${i}` : `fixed${i - this.shape.host.gpCounters}`} (${b.key}) backed by host perf event ${b.perfId} ran ${r.runningNs} of ${r.enabledNs} ns: host events hold the counters and the guest counter silently stops`,
        );
      }
    }
  }
}

/** The hook perf calls at a backing event's overflow (a class, so checkpoints can carry it). */
export class EmulatedPmiHook implements PerfHooks {
  constructor(
    readonly vpmu: EmulatedVpmu,
    readonly idx: number,
  ) {}
  onSample(_eventId: string, _pmiNs: number, overflowNs: number): void {
    this.vpmu.onBackingOverflow(this.idx, overflowNs);
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
