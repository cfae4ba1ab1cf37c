// The perf state of one pCPU over its hardware PMU as the world drives it: advancing time (PMIs,
// rotation and ticks at their exact instants), thread switches and the passthrough guest
// enter/exit rules; scheduling, multiplexing and sampling are perf-cpu-scheduling.ts.
//
// Kernel behaviour followed (kernel/events/core.c unless noted):
// - Passthrough ("[RFC PATCH 02/41] perf: Support guest enter/exit interfaces" (K. Liang, Jan 2024)): perf_guest_enter schedules out every
//   active event of a passthrough-capable PMU; groups with a member lacking exclude_guest go to
//   ERROR — every member (the RFC's sibling loop sets the leader's state each time: fixed here);
//   nothing of that PMU is scheduled while the guest runs; uncore/software events are untouched;
//   perf_guest_exit schedules pinned then flexible groups back in (perf_event_sched_in order).
// - The kernel generation (opts.guestRules) picks the rules: `rfc-as-posted` keeps the RFC's two
//   bugs (only the group leader goes to ERROR; perf_guest_exit schedules the CPU context, pinned
//   and flexible, before the task context, so a task's pinned group can find its counters taken);
//   `rfc-fixed` is the behaviour above; `mainline` is perf_load_guest_context /
//   perf_put_guest_context ("perf: Add APIs to load/put guest mediated PMU context", tip
//   perf/core, Dec 2025): only exclude_guest events are scheduled out (EVENT_GUEST) at load and
//   back in at put; no ERROR state, because include-guest events cannot coexist with a mediated VM.

import type { EventRates, ExecMode, PmuOverflow } from '@vpmu/pmu';
import { PerfEvent, PerfEventContext } from './perf-event';
import { PerfCpuScheduling } from './perf-cpu-scheduling';

export type { GuestPmuRules, PerfCoreLink, PerfCpuOptions } from './perf-cpu-scheduling';

const NO_OVERFLOWS: readonly PmuOverflow[] = Object.freeze([]);

export class PerfCpuContext extends PerfCpuScheduling {
  // ------------------------------------------------------------------------------------------
  // Time.

  /**
   * Advances the PMU and the perf state to `nowNs`; `rates` and `mode` describe execution since
   * the last call. Handles every PMI, rotation and tick due on the way, at its exact instant.
   */
  advanceTo(nowNs: number, rates: EventRates, mode: ExecMode): void {
    if (nowNs < this.time) throw new Error(`perf cpu${this.cpu}: time went backwards (${nowNs} < ${this.time})`);
    for (;;) {
      const internal = this.internalDeadlineNs();
      if (internal <= this.time) {
        this.runDue();
        continue;
      }
      if (this.time >= nowNs) break;
      const target = Math.min(nowNs, internal, this.time + this.pmu.nextOverflowInNs(rates, mode));
      this.pmu.advanceTo(target, rates, mode);
      this.time = target;
      // An overflow found on the way may make a PMI due at `target` itself (no skid, or a wrap in
      // the last ns): the next pass handles it now, before the caller reads or switches anything.
      this.collectOverflows();
      // The tick's deadline is always the next boundary after now: run it when reached.
      if (target === internal) this.runDue();
    }
  }

  /** The next instant the world must call advanceTo: overflow, PMI, rotation or tick. */
  nextDeadlineNs(rates: EventRates, mode: ExecMode): number {
    return Math.min(this.time + this.pmu.nextOverflowInNs(rates, mode), this.internalDeadlineNs());
  }

  /** Overflows of the guest's counters (PMU owned by a passthrough guest), for KVM. */
  takeGuestOverflows(): readonly PmuOverflow[] {
    if (this.guestOverflows.length === 0) return NO_OVERFLOWS; // the common case, at every sync
    const out = this.guestOverflows;
    this.guestOverflows = [];
    return out;
  }

  private internalDeadlineNs(): number {
    let d = this.rotationAtNs;
    for (const p of this.pending) if (p.pmiNs < d) d = p.pmiNs;
    if (this.freqActive > 0 || this.throttledCount > 0) {
      const tick = (Math.floor(this.time / this.opts.tickNs) + 1) * this.opts.tickNs;
      if (tick < d) d = tick;
    }
    return d;
  }


  private runDue(): void {
    const now = this.time;
    // PMIs first (in overflow order), then the tick, then rotation — as an NMI preempts the timer.
    if (this.pending.length > 0) {
      const due = this.pending.filter((p) => p.pmiNs <= now);
      if (due.length > 0) {
        this.pending = this.pending.filter((p) => p.pmiNs > now);
        due.sort((a, b) => a.overflowNs - b.overflowNs || a.counterId - b.counterId);
        for (const p of due) this.handlePmi(p);
      }
    }
    if (now % this.opts.tickNs === 0 && now !== this.lastTickNs) {
      this.lastTickNs = now;
      this.tick();
    }
    if (this.rotationAtNs <= now) this.rotate();
  }

  private collectOverflows(): void {
    const ovfs = this.pmu.takeOverflows();
    if (ovfs.length === 0) return;
    if (this.guest) {
      for (const o of ovfs) this.guestOverflows.push(o);
      return;
    }
    for (const o of ovfs) {
      if (!o.pmi) continue;
      const ev = this.slotOwner[o.counterId];
      if (!ev || !ev.sampling) continue;
      this.pending.push({ event: ev, counterId: o.counterId, overflowNs: o.overflowNs, pmiNs: Math.max(o.pmiNs, this.time) });
    }
  }

  // ------------------------------------------------------------------------------------------
  // Thread switches (perf_event_task_sched_in / _out).

  schedIn(task: string, nowNs: number): void {
    this.checkNow(nowNs);
    if (this.currentTaskId !== null) this.schedOut(nowNs);
    const tctx = this.core.taskContext(task) ?? null;
    // Task time starts now: account (nothing) up to now before the context becomes active.
    if (tctx) for (const ev of tctx.allEvents()) this.touch(ev);
    this.currentTaskId = task;
    if (!tctx) return;
    this.taskCtx = tctx;
    tctx.pinnedIn = false;
    tctx.flexibleIn = false;
    // Keep cpu pinned > task pinned > cpu flexible > task flexible: flip cpu flexible out first
    // when the task brings pinned groups (perf_event_context_sched_in).
    if (tctx.groups.some((g) => g.attr.pinned)) this.ctxSchedOut(this.ctx, false, true);
    this.schedInAll();
  }

  schedOut(nowNs: number): void {
    this.checkNow(nowNs);
    const tctx = this.taskCtx;
    if (!tctx) {
      this.currentTaskId = null;
      return;
    }
    this.ctxSchedOut(tctx, true, true);
    for (const ev of tctx.allEvents()) this.touch(ev);
    this.currentTaskId = null;
    this.taskCtx = null;
    tctx.rotateNecessary = false;
    this.updateRotationTimer();
  }

  /** The task context currently scheduled on this CPU, if any. */
  get activeTaskContext(): PerfEventContext | null {
    return this.taskCtx;
  }

  // ------------------------------------------------------------------------------------------
  // Passthrough guest enter / exit.

  guestEnter(nowNs: number): void {
    this.checkNow(nowNs);
    if (this.guest) return; // perf_guest_enter is idempotent
    // Runs at every VM entry of a passthrough vCPU: loops over leader + siblings, no allocation.
    this.guestEnterCtx(this.ctx);
    if (this.taskCtx) this.guestEnterCtx(this.taskCtx);
    this.guest = true;
    this.updateRotationTimer();
  }

  private guestEnterCtx(c: PerfEventContext): void {
    for (let pass = 0; pass < 2; pass++) {
      const pinned = pass === 0;
      for (const leader of c.groups) {
        if (!!leader.attr.pinned !== pinned) continue;
        if (leader.pmuKind !== 'core') continue; // uncore / software PMUs are untouched
        const sibs = leader.siblings;
        let anyActive = leader.state === 'active';
        let includeGuest = !leader.attr.excludeGuest;
        let watchdog = !!leader.attr.nmiWatchdog;
        for (let k = 0; k < sibs.length; k++) {
          const e = sibs[k];
          if (e.state === 'active') anyActive = true;
          if (!e.attr.excludeGuest) includeGuest = true;
          if (e.attr.nmiWatchdog) watchdog = true;
        }
        if (!anyActive) continue;
        const rules = this.opts.guestRules;
        if (rules === 'mainline') {
          // EVENT_GUEST: only exclude_guest groups yield the PMU at load.
          if (includeGuest) continue;
          if (leader.state === 'active') this.eventSchedOut(leader, 'inactive', 'guest-load');
          for (let k = 0; k < sibs.length; k++) if (sibs[k].state === 'active') this.eventSchedOut(sibs[k], 'inactive', 'guest-load');
          continue;
        }
        this.guestEnterEvent(leader, includeGuest);
        // As posted, the RFC's sibling loop set the leader's state at every step: siblings were
        // only scheduled out, and the leader alone went to ERROR.
        const sibsIncludeGuest = includeGuest && rules !== 'rfc-as-posted';
        for (let k = 0; k < sibs.length; k++) this.guestEnterEvent(sibs[k], sibsIncludeGuest);
        if (!includeGuest && watchdog) this.watchdogBlind(leader);
      }
    }
    c.rotateNecessary = false;
  }

  private guestEnterEvent(e: PerfEvent, includeGuest: boolean): void {
    if (e.state === 'active') this.eventSchedOut(e, includeGuest ? 'error' : 'inactive', 'guest-enter');
    else if (includeGuest && e.state === 'inactive') this.setState(e, 'error', 'guest-enter');
    if (includeGuest && e.state === 'error') {
      e.forcedOutByGuest = true;
      this.finding(
        'host-event-error-state',
        `host perf event ${e.id} (${e.attr.event}, no exclude_guest) forced to ERROR at passthrough guest entry on cpu${this.cpu}; it stays in ERROR until re-enabled (count ${e.count})`,
      );
    }
  }

  guestExit(nowNs: number): void {
    this.checkNow(nowNs);
    if (!this.guest) return;
    this.guest = false;
    // The guest's PMU state has been saved by KVM; perf takes the hardware back.
    this.pmu.hostStopAll();
    if (this.watchdogBlindSinceNs >= 0) {
      this.watchdogBlindNs += nowNs - this.watchdogBlindSinceNs;
      this.watchdogBlindSinceNs = -1;
    }
    if (this.opts.guestRules === 'rfc-as-posted') this.schedInCpuThenTask();
    else this.schedInAll(true);
  }

  private watchdogBlind(leader: PerfEvent): void {
    this.watchdogBlindSinceNs = this.time;
    if (this.watchdogBlindReported) return;
    this.watchdogBlindReported = true;
    this.finding(
      'nmi-watchdog-blind',
      `NMI watchdog event ${leader.id} (pinned cycles, exclude_guest) scheduled out while a passthrough guest runs on cpu${this.cpu}: hard lockups in guest time go undetected (reported once per CPU)`,
    );
  }

}
