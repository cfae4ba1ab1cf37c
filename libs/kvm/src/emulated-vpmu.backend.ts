// Emulated vPMU (arch/x86/kvm/pmu.c): every PMU MSR access and RDPMC traps; an enabled guest
// counter is backed by a host perf event created by reprogram_counter when the guest changes its
// event select, released when it disables it; the guest counter value = the value the guest wrote
// + what the backing event counted since. pmc_reprogram_counter (arch/x86/kvm/pmu.c) creates it
// per-task on the vCPU thread with attr.pinned and exclude_host: it goes in before every flexible
// host event (a host `perf stat` multiplexes, the guest keeps its counters), and when even a pinned
// event cannot get a counter (other pinned events hold them) perf puts it in ERROR, where it counts
// no more until KVM recreates it: the guest is not told (guest-counter-starved). The backing
// event's overflow (kvm_perf_overflow) sets GLOBAL_STATUS and requests a PMI injected at the next
// entry.
import { EVTSEL, FIXED_COUNTER_ID_BASE, FIXED_CTRL, IntelPmu, MSR, RDPMC_FIXED, WORKLOAD_EVENT_NAMES, intelEventIndex, type RegResult, type WorkloadEventName, type WriteResult } from '@vpmu/pmu';
import type { PerfEventAttr, PerfHooks } from '@vpmu/perf';
import type { EventFilterSpec } from '@vpmu/world-spec';
import type { CostModel } from './cost-model';
import { classify, GP_FAULT, gpMask } from './pmu-msr-class';
import { programLoopCounts } from './program-loop';
import { VcpuVpmu, type VpmuShape } from './vpmu-backend';
import type { VcpuWorldPort } from './vcpu-world.port';

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

  private value(ops: VcpuWorldPort, idx: number): bigint {
    const b = this.backing[idx];
    if (b.perfId === null) return b.base;
    const count = ops.perfRead(b.perfId).count;
    return BigInt.asUintN(this.width(idx), b.base + BigInt(count - b.seen));
  }

  wrmsr(ops: VcpuWorldPort, msr: number, value: bigint): WriteResult {
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

  rdmsr(ops: VcpuWorldPort, msr: number): RegResult {
    this.trap('msr-read', msr);
    if (this.legacyQuirk(msr)) return { ok: true, value: 0n };
    if (this.notExposed(msr)) return GP_FAULT;
    const c = classify(msr);
    const r = this.regs.rdmsr(msr);
    if (!r.ok) return r;
    if (msr === MSR.PERF_CAPABILITIES) return { ok: true, value: this.guestPerfCapabilities(r.value) };
    if (c.k === 'gp-counter') return { ok: true, value: c.legacy ? BigInt.asUintN(this.shape.host.gpWidthBits, this.value(ops, c.i)) : this.value(ops, c.i) };
    if (c.k === 'fixed-counter') return { ok: true, value: this.value(ops, this.shape.host.gpCounters + c.i) };
    return r;
  }

  rdpmc(ops: VcpuWorldPort, index: number): RegResult {
    this.trap('rdpmc', 0);
    if (this.rdpmcAbsent(index)) return GP_FAULT;
    const r = this.regs.rdpmc(index);
    if (!r.ok) return r;
    return { ok: true, value: this.value(ops, index & RDPMC_FIXED ? this.shape.host.gpCounters + (index & (RDPMC_FIXED - 1)) : index) };
  }

  peek(ops: VcpuWorldPort, counterId: number): bigint {
    return this.value(ops, this.idx(counterId));
  }

  programLoop(ops: VcpuWorldPort, instructions: number, branches: number): void {
    // The loop runs in the guest before the workload starts, in the kernel of the test guest (as
    // the selftests' guest code does): each backing event that exists and counts kernel mode
    // (exclude_kernel = !OS) counts the loop's events of its kind.
    const counts = programLoopCounts(instructions, branches);
    for (let i = 0; i < this.backing.length; i++) {
      if (this.backing[i].perfId === null) continue;
      const cfg = this.configOf(i);
      if (!cfg || !cfg.os) continue;
      this.addToCounter(ops, i, counts[cfg.event]);
    }
  }

  /**
   * kvm_pmu_instruction_retired -> kvm_pmu_trigger_event (arch/x86/kvm/pmu.c): every counter
   * enabled locally and in GLOBAL_CTRL, counting instructions retired, allowed by the event filter
   * (pmc_is_event_allowed) and counting the guest's CPL (cpl_is_matched: the program runs at CPL0,
   * so OS) gains one in pmc->emulated_counter, whether or not its backing event exists. A wrap
   * raises its PMI through the backing event's overflow path (addToCounter), so none is returned.
   */
  override creditEmulatedInstruction(ops: VcpuWorldPort): boolean {
    for (let i = 0; i < this.backing.length; i++) {
      const cfg = this.configOf(i);
      if (!cfg || !cfg.allowed || !cfg.os || cfg.event !== 'instructions') continue;
      this.addToCounter(ops, i, 1);
    }
    return false;
  }

  /** `n` events counted by guest counter `idx` outside its backing event's own count. */
  private addToCounter(ops: VcpuWorldPort, i: number, n: number): void {
    if (n === 0) return;
    const b = this.backing[i];
    const before = this.value(ops, i);
    b.base = BigInt.asUintN(this.width(i), b.base + BigInt(n));
    const after = this.value(ops, i);
    if (after < before) {
      // The guest counter wrapped: as the backing event's overflow would (kvm_perf_overflow), or
      // kvm_pmu_incr_counter's for a credit, the GLOBAL_STATUS bit is set, and a PMI when the
      // guest asked for one.
      if (this.interruptOf(i)) this.onBackingOverflow(i, ops.nowNs);
      else this.regs.wrmsr(MSR.PERF_GLOBAL_STATUS_SET, i < this.shape.host.gpCounters ? 1n << BigInt(i) : 1n << BigInt(32 + i - this.shape.host.gpCounters));
    }
    // pmc_update_sample_period: the backing event overflows where the guest counter now wraps.
    if (b.perfId !== null && this.interruptOf(i)) ops.perfSetPeriod(b.perfId, this.periodFor(i, after));
  }

  /** The guest event a counter is configured for now, or null when it is not enabled. */
  private configOf(idx: number): { event: WorkloadEventName; usr: boolean; os: boolean; int: boolean; allowed: boolean } | null {
    const nGp = this.shape.host.gpCounters;
    const gc = this.regs.rdmsr(MSR.PERF_GLOBAL_CTRL);
    // No GLOBAL_CTRL (an AMD host without PerfMonV2): each counter's EN bit alone enables it.
    const global = gc.ok ? gc.value : BigInt.asUintN(64, -1n);
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
  private reprogram(ops: VcpuWorldPort, idx: number): void {
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
      pinned: true,
      excludeHost: true,
      excludeUser: !cfg.usr,
      excludeKernel: !cfg.os,
      ...(cfg.int && { samplePeriod: this.periodFor(idx, current) }),
    };
    // perf_event_create_kernel_counter: no public figure for the call alone (cost-model.ts).
    this.traps.push({ reason: 'perf-create', msr: 0, costNs: this.costs.costNs('perfEventCreateNs') });
    this.recreatedSinceLastPmi = true;
    const created = ops.perfCreate(attr, new EmulatedPmiHook(this, idx));
    // A refused backing event leaves the guest counter without one: it does not count.
    b.perfId = created.ok ? created.id : null;
    b.seen = 0;
  }

  /**
   * KVM_SET_PMU_EVENT_FILTER on the running VM: every counter is marked for reprogramming and
   * KVM_REQ_PMU makes kvm_pmu_handle_event run reprogram_counter on each at the vCPU's next entry
   * (kvm_vm_ioctl_set_pmu_event_filter, arch/x86/kvm/pmu.c). A counter whose event the new filter
   * denies loses its backing event (pmc_event_is_allowed); one it now allows gets one. The
   * perf event creations and releases are charged as the vCPU's traps; the kick's own exit is not.
   */
  override setFilter(spec: EventFilterSpec | null, ops: VcpuWorldPort): void {
    this.replaceFilter(spec);
    for (let i = 0; i < this.backing.length; i++) this.reprogram(ops, i);
  }

  /** Migration source: fold every backing event into its guest counter and release it. */
  detach(ops: VcpuWorldPort): void {
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
  attach(ops: VcpuWorldPort): void {
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

  /** Backing events perf put in ERROR (pinned, no counter left): the guest counter silently stops. */
  checkStarved(ops: VcpuWorldPort): void {
    for (let i = 0; i < this.backing.length; i++) {
      const b = this.backing[i];
      if (b.perfId === null || this.starvedReported.includes(i)) continue;
      const r = ops.perfRead(b.perfId);
      if (r.error) {
        this.starvedReported.push(i);
        ops.emitFinding(
          'guest-counter-starved',
          `${this.label}: guest counter ${i < this.shape.host.gpCounters ? `gp${i}` : `fixed${i - this.shape.host.gpCounters}`} (${b.key}) backed by pinned host perf event ${b.perfId} found no counter (other pinned events hold them) and is in ERROR after ${r.runningNs} ns running: the guest counter silently stops`,
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
