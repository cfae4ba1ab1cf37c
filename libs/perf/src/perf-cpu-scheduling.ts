// The perf state of one pCPU over its hardware PMU: scheduling, multiplexing and sampling. The
// passthrough guest enter/exit rules, thread switches and the time loop are perf-cpu-context.ts.

// Kernel behaviour followed (kernel/events/core.c unless noted):
// - perf_event_sched_in order: CPU pinned, task pinned, CPU flexible, task flexible; within a pass
//   groups are visited by group index, and once a group fails no later hardware group of that
//   pass is tried (merge_sched_in / group_can_go_on `can_add_hw`). A pinned group that does not
//   fit goes to ERROR (read returns 0 until re-enabled); a flexible one sets rotate_necessary.
// - Counter assignment: greedy in preference order (x86 prefers the fixed counter, arm the cycle
//   counter); all arch events run on any GP counter, so greedy equals x86's weight-ordered search.
// - Rotation (perf_rotate_context): every mux interval (perf_event_mux_interval_ms, default
//   1000/HZ) while rotate_necessary, the first active flexible group of each context moves to the
//   end of its list, then flexible groups are rescheduled.
// - Sampling: x86_perf_event_set_period / intel_pmu_handle_irq: period_left bookkeeping, a sample
//   per PMI when the period elapsed, `left < 2 -> 2`, max_period = 2^(width-1) - 1; frequency
//   mode: sample_period starts at 1 and perf_adjust_period (1/8 low-pass) runs at each overflow
//   and each tick (perf_adjust_freq_unthr_context); more than max_sample_rate/HZ PMIs in a tick
//   throttle the event until the next tick. The per-tick interrupt count restarts at the first
//   interrupt of a new tick (__perf_event_account_interrupt's interrupts_seq), so the tick itself
//   only runs while a frequency event is active or an event is throttled.

import type { HostCounterConfig, PmuModel, PmuOverflow } from '@vpmu/pmu';
import type { PerfStateName } from '@vpmu/sim';
import { PerfEvent, PerfEventContext, type PerfSink } from './perf-event';

export interface PerfCpuOptions {
  hostId: string;
  /** Multiplexing rotation interval (default 1000/HZ ms = 4 ms with HZ=250). */
  muxIntervalNs: number;
  /** Scheduler tick (TICK_NSEC = 1e9/HZ). */
  tickNs: number;
  /** perf_event_max_sample_rate (default 100000). */
  maxSampleRateHz: number;
  /** Emit perfState records for routine ACTIVE<->INACTIVE switches too (rotation, context switch). */
  traceSchedTransitions: boolean;
  /** Emit a `pmi` record for each host PMI. */
  emitPmis: boolean;
  uncoreClockGhz: number;
  /** Which kernel's guest-PMU rules apply at guest entry/exit (default rfc-fixed). */
  guestRules: GuestPmuRules;
}

/**
 * The guest-PMU rules of a kernel generation (world-spec KernelGeneration): the passthrough RFC
 * as posted (Jan 2024), the RFC with its enter/exit bugs fixed, or the merged mediated vPMU.
 */
export type GuestPmuRules = 'rfc-as-posted' | 'rfc-fixed' | 'mainline';

/** What a CPU context needs from the host-wide perf core. */
export interface PerfCoreLink {
  readonly sink: PerfSink;
  taskContext(task: string): PerfEventContext | undefined;
  nextGroupIndex(): number;
}

export interface PendingPmi {
  event: PerfEvent;
  counterId: number;
  overflowNs: number;
  pmiNs: number;
}

/** The config `program` hands to hostProgram (reused; the PMU model does not keep it). */
const PROGRAM_SCRATCH: { -readonly [K in keyof HostCounterConfig]: HostCounterConfig[K] } = {
  event: 'cycles',
  countUser: true,
  countKernel: true,
  countGuest: true,
  countHost: true,
  interrupt: false,
  periodEvents: undefined,
};

/** Counter ids are below this on every PMU model (Intel fixed 32..35, arm cycle counter 31). */
const MAX_COUNTER_ID = 64;

function maxPeriodForWidth(widthBits: number): number {
  return Math.min(2 ** (widthBits - 1) - 1, 2 ** 52);
}

/** NMI vector number, as host perf PMIs are delivered (APIC_DM_NMI). */
const NMI_VECTOR = 2;

/** Scheduling, multiplexing and sampling of one pCPU; PerfCpuContext adds the time loop and guest switches. */
export abstract class PerfCpuScheduling {
  readonly ctx: PerfEventContext;
  /** The task context scheduled in on this CPU (cpuctx->task_ctx). */
  protected taskCtx: PerfEventContext | null = null;
  protected currentTaskId: string | null = null;
  protected time = 0;
  protected guest = false;
  /** The event holding each hardware counter, by counter id (ids are < 64 on every model). */
  protected readonly slotOwner: (PerfEvent | null)[] = Array.from({ length: MAX_COUNTER_ID }, () => null);
  /** x86_pmu.max_period per counter id: 2^(width-1) - 1 (48 bits assumed for an unknown id). */
  private readonly maxPeriodOf: Float64Array;
  /** groupSchedIn's per-call counter choices (reused: no allocation per sched-in). */
  private slotScratch = new Int32Array(16);
  protected pending: PendingPmi[] = [];
  protected guestOverflows: PmuOverflow[] = [];
  protected rotationAtNs = Infinity;
  /**
   * Active frequency-mode events: the tick has work only for them (period adjustment) and for
   * throttled events; fixed-period events need no tick (their per-tick interrupt count restarts
   * lazily, as the kernel's perf_throttled_seq does).
   */
  protected freqActive = 0;
  /** Events throttled until the next tick (kept as a count: the deadline check is hot). */
  protected throttledCount = 0;
  protected watchdogBlindReported = false;
  protected watchdogBlindSinceNs = -1;
  /** Total ns the NMI watchdog was blind on this CPU (guest running with the watchdog scheduled out). */
  watchdogBlindNs = 0;
  protected lastTickNs = -1;

  constructor(
    readonly cpu: number,
    readonly pmu: PmuModel,
    protected readonly opts: PerfCpuOptions,
    protected readonly core: PerfCoreLink,
  ) {
    this.ctx = new PerfEventContext('cpu', cpu);
    this.maxPeriodOf = new Float64Array(MAX_COUNTER_ID).fill(maxPeriodForWidth(48));
    for (const s of pmu.slots) this.maxPeriodOf[s.counterId] = maxPeriodForWidth(s.widthBits);
    this.ctx.pinnedIn = true;
    this.ctx.flexibleIn = true;
  }

  get nowNs(): number {
    return this.time;
  }

  /** A passthrough guest owns the core PMU (between guestEnter and guestExit). */
  get inGuest(): boolean {
    return this.guest;
  }

  get currentTask(): string | null {
    return this.currentTaskId;
  }

  // ------------------------------------------------------------------------------------------
  // Scheduling.

  /** ctx_resched after an event is added, enabled or disabled. */
  resched(nowNs: number, pinnedToo: boolean): void {
    this.checkNow(nowNs);
    for (const c of this.contexts()) this.ctxSchedOut(c, pinnedToo, true);
    this.schedInAll();
  }

  /** Schedules in the passes whose groups are out: cpu pinned, task pinned, cpu flex, task flex. */
  protected schedInAll(force = false): void {
    const tctx = this.taskCtx;
    this.schedInPinned(this.ctx, force);
    if (tctx) this.schedInPinned(tctx, force);
    this.schedInFlexible(this.ctx, force);
    if (tctx) this.schedInFlexible(tctx, force);
    this.updateRotationTimer();
  }

  /**
   * The RFC as posted at perf_guest_exit: the whole CPU context (pinned, flexible), then the task
   * context, breaking the cpu pinned > task pinned > cpu flexible > task flexible priority.
   */
  protected schedInCpuThenTask(): void {
    const tctx = this.taskCtx;
    this.schedInPinned(this.ctx, true);
    this.schedInFlexible(this.ctx, true);
    if (tctx) {
      this.schedInPinned(tctx, true);
      this.schedInFlexible(tctx, true);
    }
    this.updateRotationTimer();
  }

  private schedInPinned(c: PerfEventContext, force: boolean): void {
    if (force || !c.pinnedIn) {
      c.pinnedIn = true;
      this.schedInPass(c, true);
    }
  }

  private schedInFlexible(c: PerfEventContext, force: boolean): void {
    if (force || !c.flexibleIn) {
      c.flexibleIn = true;
      c.rotateNecessary = false;
      this.schedInPass(c, false);
    }
  }

  private schedInPass(c: PerfEventContext, pinned: boolean): void {
    let canAddHw = true;
    for (const leader of c.groups) {
      if (!!leader.attr.pinned !== pinned) continue;
      if (leader.state !== 'inactive') continue; // OFF, ERROR, or already ACTIVE
      if (leader.cpu !== -1 && leader.cpu !== this.cpu) continue; // event_filter_match
      // While a passthrough guest runs nothing of the core PMU is scheduled (merge_sched_in).
      if (this.guest && leader.pmuKind === 'core') continue;
      // group_can_go_on: groups without core-PMU events always go on (PERF_EV_CAP_SOFTWARE;
      // uncore has its own counters, not modelled as scarce).
      const hardware = leader.pmuKind === 'core' || leader.siblings.some((e) => e.pmuKind === 'core');
      if ((!hardware || canAddHw) && this.groupSchedIn(leader)) continue;
      canAddHw = false;
      if (pinned) {
        this.setState(leader, 'error', 'pinned-no-counter');
      } else {
        c.rotateNecessary = true;
      }
    }
  }

  private groupSchedIn(leader: PerfEvent): boolean {
    // Assign every INACTIVE member a counter first (all or nothing), then schedule them in.
    const sibs = leader.siblings;
    if (sibs.length >= this.slotScratch.length) this.slotScratch = new Int32Array(2 * (sibs.length + 1));
    const slots = this.slotScratch;
    let n = 0;
    for (let k = -1; k < sibs.length; k++) {
      const e = k < 0 ? leader : sibs[k];
      if (e.state !== 'inactive') continue;
      if (e.pmuKind !== 'core') {
        slots[n++] = -1;
        continue;
      }
      const slot = this.freeCandidate(e, slots, n);
      if (slot < 0) return false;
      slots[n++] = slot;
    }
    let j = 0;
    for (let k = -1; k < sibs.length; k++) {
      const e = k < 0 ? leader : sibs[k];
      if (e.state !== 'inactive' || j >= n) continue;
      this.eventSchedIn(e, slots[j++]);
    }
    return true;
  }

  /** The first candidate counter of `e` neither owned nor among taken[0..n) (-1: none). */
  private freeCandidate(e: PerfEvent, taken: Int32Array, n: number): number {
    const cands = this.pmu.hostCandidates(e.workloadEvent);
    for (let c = 0; c < cands.length; c++) {
      const id = cands[c];
      if (this.slotOwner[id] !== null) continue;
      let used = false;
      for (let t = 0; t < n; t++) if (taken[t] === id) used = true;
      if (!used) return id;
    }
    return -1;
  }

  private eventSchedIn(e: PerfEvent, slot: number): void {
    this.touch(e);
    e.activeCpu = this.cpu;
    if (slot >= 0) {
      e.hwCounter = slot;
      this.slotOwner[slot] = e;
      this.program(e);
      // The counted stream's fraction comes back with its event (a reload keeps the counter's own).
      this.pmu.hostSetCarryQ(slot, e.carryQ);
      if (e.sampling && e.attr.sampleFreqHz !== undefined) this.freqActive++;
    }
    this.setState(e, 'active', 'sched-in');
  }

  /** Schedules one event out into `to` (INACTIVE or ERROR), folding its count. */
  protected eventSchedOut(e: PerfEvent, to: PerfStateName, cause: string): void {
    this.touch(e);
    if (e.hwCounter >= 0) {
      this.fold(e);
      e.carryQ = this.pmu.hostCarryQ(e.hwCounter);
      this.pmu.hostStop(e.hwCounter);
      this.slotOwner[e.hwCounter] = null;
      e.hwCounter = -1;
      if (e.sampling && e.attr.sampleFreqHz !== undefined) this.freqActive--;
    }
    e.activeCpu = -1;
    this.setState(e, to, cause);
  }

  protected ctxSchedOut(c: PerfEventContext, pinned: boolean, flexible: boolean): void {
    for (const leader of c.groups) {
      const isPinned = !!leader.attr.pinned;
      if ((isPinned && !pinned) || (!isPinned && !flexible)) continue;
      for (const e of leader.members()) if (e.state === 'active' && e.activeCpu === this.cpu) this.eventSchedOut(e, 'inactive', 'sched-out');
    }
    if (pinned) c.pinnedIn = false;
    if (flexible) {
      c.flexibleIn = false;
      c.rotateNecessary = false;
    }
  }

  /** Schedules out and drops an event (disable/close from the core). */
  removeActive(e: PerfEvent, to: PerfStateName, cause: string): void {
    if (e.state === 'active' && e.activeCpu === this.cpu) this.eventSchedOut(e, to, cause);
    else this.setState(e, to, cause);
  }

  protected rotate(): void {
    this.rotationAtNs = Infinity;
    const cs = this.contexts().filter((c) => c.rotateNecessary);
    if (cs.length === 0 || this.guest) return this.updateRotationTimer();
    // ctx_event_to_rotate: the first active flexible group, else the first flexible group.
    const picks = cs.map((c) => {
      const flex = c.groups.filter((g) => !g.attr.pinned && (g.cpu === -1 || g.cpu === this.cpu));
      return flex.find((g) => g.state === 'active' && g.activeCpu === this.cpu) ?? flex[0];
    });
    for (const c of this.contexts()) this.ctxSchedOut(c, false, true);
    cs.forEach((c, i) => {
      const pick = picks[i];
      if (!pick) return;
      pick.groupIndex = this.core.nextGroupIndex(); // rotate_ctx: move to the end of the list
      c.sort();
    });
    this.schedInAll();
  }

  protected updateRotationTimer(): void {
    const needed = !this.guest && (this.ctx.rotateNecessary || (this.taskCtx !== null && this.taskCtx.rotateNecessary));
    if (!needed) this.rotationAtNs = Infinity;
    else if (this.rotationAtNs === Infinity || this.rotationAtNs <= this.time) this.rotationAtNs = this.time + this.opts.muxIntervalNs;
  }

  // ------------------------------------------------------------------------------------------
  // Counting and sampling.

  /** Folds the hardware counter into the event's count (x86_perf_event_update). */
  fold(e: PerfEvent): void {
    if (e.hwCounter < 0) return;
    const c = this.pmu.countedSinceWrite(e.hwCounter);
    const d = c - e.hwSeen;
    e.hwSeen = c;
    e.count += d;
    if (e.sampling) e.periodLeft -= d;
  }

  private program(e: PerfEvent): void {
    const a = e.attr;
    // One scratch config object: hostProgram reads it and keeps nothing (hot at every VM exit).
    const cfg = PROGRAM_SCRATCH;
    cfg.event = e.workloadEvent;
    cfg.countUser = !a.excludeUser;
    cfg.countKernel = !a.excludeKernel;
    cfg.countGuest = !a.excludeGuest;
    cfg.countHost = !a.excludeHost;
    cfg.interrupt = e.sampling && !e.throttled;
    cfg.periodEvents = e.sampling ? this.setPeriod(e) : undefined;
    this.pmu.hostProgram(e.hwCounter, cfg);
    e.hwSeen = 0;
    if (e.throttled) this.pmu.hostStop(e.hwCounter);
  }

  /** x86_perf_event_set_period: normalises period_left, returns the value to program. */
  private setPeriod(e: PerfEvent): number {
    const period = e.samplePeriod;
    if (e.periodLeft <= -period) {
      e.periodLeft = period;
      e.lastPeriod = period;
    } else if (e.periodLeft <= 0) {
      e.periodLeft += period;
      e.lastPeriod = period;
    }
    let left = e.periodLeft;
    if (left < 2) left = 2;
    const maxPeriod = this.maxPeriodOf[e.hwCounter];
    if (left > maxPeriod) left = maxPeriod;
    return left;
  }

  protected handlePmi(p: PendingPmi): void {
    const e = p.event;
    const skidNs = p.pmiNs - p.overflowNs;
    if (e.state !== 'active' || e.hwCounter !== p.counterId || e.activeCpu !== this.cpu) {
      // Scheduled out before the PMI arrived: the handler finds no active counter (active_mask).
      e.lostPmis++;
      this.emitPmi(e, p, skidNs, true);
      return;
    }
    this.fold(e);
    this.pmu.hostAckOverflow(e.hwCounter);
    let elapsed = false;
    if (e.periodLeft <= -e.samplePeriod) {
      e.periodLeft = e.samplePeriod;
      e.lastPeriod = e.samplePeriod;
      elapsed = true;
    } else if (e.periodLeft <= 0) {
      e.periodLeft += e.samplePeriod;
      e.lastPeriod = e.samplePeriod;
      elapsed = true;
    }
    if (elapsed) {
      e.samples++;
      this.emitPmi(e, p, skidNs, false);
      e.hooks.onSample?.(e.id, this.time, p.overflowNs);
      // __perf_event_account_interrupt: throttle beyond max_sample_rate / HZ per tick. The count
      // restarts at the first interrupt of a new tick (hwc->interrupts_seq vs perf_throttled_seq).
      const seq = Math.floor(this.time / this.opts.tickNs);
      if (e.interruptsSeq !== seq) {
        e.interruptsSeq = seq;
        e.interruptsThisTick = 0;
      }
      e.interruptsThisTick++;
      const maxPerTick = Math.max(1, Math.floor(this.opts.maxSampleRateHz / (1e9 / this.opts.tickNs)));
      if (e.interruptsThisTick > maxPerTick && !e.throttled) {
        e.throttled = true;
        this.throttledCount++;
      }
      if (e.attr.sampleFreqHz !== undefined) {
        const delta = this.time - e.freqTimeStampNs;
        e.freqTimeStampNs = this.time;
        if (delta > 0 && delta < 2 * this.opts.tickNs) this.adjustPeriod(e, delta, e.lastPeriod);
      }
    }
    this.program(e);
  }

  /** perf_adjust_period: move sample_period 1/8 of the way toward count * 1e9 / (nsec * freq). */
  private adjustPeriod(e: PerfEvent, nsec: number, count: number): void {
    const freq = e.attr.sampleFreqHz!;
    const period = Math.floor((count * 1e9) / (nsec * freq));
    let delta = period - e.samplePeriod;
    delta = delta >= 0 ? delta + 7 : delta - 7;
    delta = Math.trunc(delta / 8);
    let sp = e.samplePeriod + delta;
    if (sp < 1) sp = 1;
    e.samplePeriod = sp;
    if (e.periodLeft > 8 * sp) e.periodLeft = 0;
  }

  protected tick(): void {
    // Per-event work with no cross-event effect: counter order is as good as insertion order.
    for (const e of this.slotOwner) {
      if (e === null || !e.sampling) continue;
      e.interruptsThisTick = 0;
      const wasThrottled = e.throttled;
      if (wasThrottled) this.throttledCount--;
      e.throttled = false;
      if (e.attr.sampleFreqHz !== undefined) {
        this.fold(e);
        const delta = e.count - e.freqCountStamp;
        e.freqCountStamp = e.count;
        if (delta > 0) this.adjustPeriod(e, this.opts.tickNs, delta);
        this.program(e);
      } else if (wasThrottled) {
        this.fold(e);
        this.program(e);
      }
    }
  }


  // ------------------------------------------------------------------------------------------
  // Time accounting and records.

  /** Accounts enabled/running time of `e` up to now (perf_event_update_time). */
  touch(e: PerfEvent): void {
    const dt = this.time - e.tstampNs;
    if (dt > 0 && (e.state === 'active' || e.state === 'inactive') && this.contextRunning(e)) {
      e.enabledNs += dt;
      if (e.state === 'active') {
        e.runningNs += dt;
        if (e.pmuKind === 'software') e.count += dt;
        else if (e.pmuKind === 'uncore') e.count = Math.floor(e.runningNs * this.opts.uncoreClockGhz);
      }
    }
    if (this.time > e.tstampNs) e.tstampNs = this.time;
  }

  private contextRunning(e: PerfEvent): boolean {
    if (e.task === null) return true;
    return this.taskCtx !== null && this.currentTaskId === e.task;
  }

  setState(e: PerfEvent, to: PerfStateName, cause: string): void {
    const from = e.state;
    if (from === to) return;
    this.touch(e);
    e.state = to;
    const routine = (from === 'active' && to === 'inactive') || (from === 'inactive' && to === 'active');
    if (routine && !this.opts.traceSchedTransitions) return;
    this.core.sink.emit({
      kind: 'perfState',
      atNs: this.time,
      at: { host: this.opts.hostId, pcpu: this.cpu },
      eventId: e.id,
      from,
      to,
      cause,
      count: e.count,
    });
  }

  finding(kind: string, detail: string): void {
    this.core.sink.emit({ kind: 'finding', atNs: this.time, at: { host: this.opts.hostId, pcpu: this.cpu }, findingKind: kind, detail });
  }

  private emitPmi(e: PerfEvent, p: PendingPmi, skidNs: number, lost: boolean): void {
    if (!this.opts.emitPmis) return;
    this.core.sink.emit({
      kind: 'pmi',
      atNs: this.time,
      at: { host: this.opts.hostId, pcpu: this.cpu },
      counter: e.id,
      owner: 'host',
      deliveredTo: 'host',
      vector: NMI_VECTOR,
      overflowNs: p.overflowNs,
      skidNs,
      lost,
    });
  }

  contexts(): PerfEventContext[] {
    return this.taskCtx ? [this.ctx, this.taskCtx] : [this.ctx];
  }

  checkNow(nowNs: number): void {
    if (nowNs !== this.time) {
      throw new Error(`perf cpu${this.cpu}: operation at ${nowNs} but the context is at ${this.time}; call advanceTo(${nowNs}, ...) first`);
    }
  }
}
