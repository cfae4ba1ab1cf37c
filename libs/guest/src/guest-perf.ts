// Guest `perf stat -e ...` and `perf record -F <freq> | -c <period> -e ... [-a]` as the guest
// kernel's perf does them on ONE guest CPU over the guest's view of an Intel PMU. The world creates
// one session per guest CPU the events live on (all vCPUs for -a) and sums the reports
// (`sumGuestPerfReports`, what perf stat -a prints).
//
// What it follows (Linux v6.x, kernel/events/core.c and arch/x86/events/{core.c,intel/core.c}):
// - every event is its own flexible group (perf stat/record -e a -e b); sched-in visits groups in
//   list order and stops trying hardware groups after the first that does not fit (merge_sched_in,
//   can_add_hw); counter assignment is x86_schedule_events: fast path (every event keeps its
//   previous counter) else perf_assign_events by increasing constraint weight, fixed counter first
//   (instructions → FIXED_CTR0, cycles → FIXED_CTR1, ref-cycles → FIXED_CTR2 only, topdown-slots →
//   FIXED_CTR3 only, as perf's 0x0300/0x0400 pseudo encodings; everything else on GP counters).
// - multiplexing: when events do not all fit, every mux interval (perf_event_mux_interval_ms
//   default 1000/HZ; HZ = 250 chosen here → 4 ms, Ubuntu/Debian's and the host model's HZ) the first
//   active group moves to the end of the list (rotate_ctx) and flexible groups are rescheduled;
//   time_enabled / time_running per event; scaled count = count * enabled / running (perf stat,
//   0 and "<not counted>" when running is 0).
// - sampling: x86_perf_event_set_period (period_left, `left < 2 → 2`, max_period = 2^(width-1) - 1
//   with full-width writes, 2^31 - 1 without), counting events get max_period too; freq mode starts
//   at period 1 and perf_adjust_period (1/8 low-pass toward count * 1e9 / (ns * freq)) runs at each
//   overflow and each tick (perf_adjust_freq_unthr_context, which stops/reloads/starts the event);
//   more than max_sample_rate / HZ interrupts in a tick throttle the event until the next tick.
// - the MSR sequences: perf_pmu_disable/enable = GLOBAL_CTRL 0 / all-counters mask
//   (intel_pmu_{disable,enable}_all); x86_pmu_stop = EVENTSEL without EN (or FIXED_CTR_CTRL field
//   cleared) then RDPMC (x86_perf_event_update uses rdpmcl); x86_pmu_start(RELOAD) = counter write
//   (A_PMCx with full-width writes) then EVENTSEL with EN (or FIXED_CTR_CTRL); the PMI handler
//   (intel_pmu_handle_irq, v4+) = GLOBAL_CTRL 0, RDMSR GLOBAL_STATUS, WRMSR GLOBAL_OVF_CTRL, per
//   overflowed counter RDPMC + counter write, RDMSR GLOBAL_STATUS again, GLOBAL_CTRL all.
//   Not modelled: the LVTPC APIC write, PEBS/LBR MSRs, the per-event enable ioctls at start (one
//   sched-in stands for them), task-context switches (events are per-CPU).
//
// The world drives it with its virtual time and the counts the guest counters made: every method
// that takes `counts` first credits each programmed counter with the events it counted since the
// previous call (counter id → events; GP i = i, fixed i = 32 + i). `counters()` lists what is
// programmed (event encoding, enabled, events to overflow) so the world can apply the KVM filter,
// pick the counting rate and schedule the PMI.
//
//   const s = new GuestPerfSession(spec, { gp: 8, fixed: 4, widthBits: 48 });
//   charge(s.start(nowNs));  every 4 ms: charge(s.onTick(nowNs, counted));  on overflow:
//   charge(s.onPmi(nowNs, counted, [0, 32]));  at the end: charge(s.stop(nowNs, counted)); s.report()
// Pure: no I/O, no clock.

import {
  FIXED_COUNTER_ID_BASE as FIXED_ID_BASE,
  INTEL_ARCH_EVENTS,
  INTEL_FIXED_COUNTER_EVENTS,
  MSR,
  EVTSEL,
  FIXED_CTRL,
  RDPMC_FIXED,
  isWorkloadEvent,
  type WorkloadEventName,
} from '@vpmu/pmu';
import type { GuestPerfSpec } from '@vpmu/scenario';

/** One guest PMU access, in program order. RDPMC: `msr` is the ECX index; `value` what was read. */
export interface PmuAccess {
  op: 'wrmsr' | 'rdmsr' | 'rdpmc';
  msr: number;
  value: number;
}

/** The guest's view of its PMU (CPUID.0AH as KVM exposes it). */
export interface GuestPmuShape {
  gp: number;
  fixed: number;
  widthBits: number;
  fixedWidthBits?: number;
  /** Event of each fixed counter (default INTEL_FIXED_COUNTER_EVENTS). */
  fixedEvents?: readonly WorkloadEventName[];
  /** PERF_CAPABILITIES.FW_WRITE (default true): period writes go to IA32_A_PMCx. */
  fullWidthWrites?: boolean;
}

export interface GuestPerfOptions {
  /** Guest kernel HZ (default 250). */
  hz?: number;
  /** perf_event_mux_interval_ms in ns (default 1e9 / HZ). */
  muxIntervalNs?: number;
  /** perf_event_max_sample_rate (default 100000). */
  maxSampleRateHz?: number;
}

/** Events counted per counter id since the previous call. */
export type CounterCounts = ReadonlyMap<number, number> | Readonly<Record<number, number>>;

export interface GuestCounterPlan {
  counterId: number;
  /** Index of the event in spec.events. */
  eventIndex: number;
  event: WorkloadEventName;
  eventSelect: number;
  umask: number;
  /** EN set (false while throttled). */
  enabled: boolean;
  /** Events until the counter wraps (the PMI). */
  eventsToOverflow: number;
}

export interface GuestPerfReportRow {
  event: string;
  index: number;
  supported: boolean;
  count: number;
  /** What perf stat prints: count * enabled / running (0 when running is 0). */
  scaledCount: number;
  timeEnabledNs: number;
  timeRunningNs: number;
  samples: number;
  /** Current sample period (record), max_period for stat. */
  samplePeriod: number;
}

interface Ev {
  index: number;
  name: string;
  event: WorkloadEventName | null;
  candidates: number[];
  counter: number;
  lastCounter: number;
  raw: number;
  count: number;
  enabledNs: number;
  runningNs: number;
  samplePeriod: number;
  periodLeft: number;
  lastPeriod: number;
  samples: number;
  freqTimeStampNs: number;
  freqCountStamp: number;
  interruptsThisTick: number;
  throttled: boolean;
}

const HW_OVERFLOW_MIN_LEFT = 2;

export class GuestPerfSession {
  private readonly events: Ev[];
  /** Rotation order of event positions (the flexible group list). */
  private order: number[];
  private readonly gpWidth: number;
  private readonly fxWidth: number;
  private readonly fixedEvents: readonly WorkloadEventName[];
  private readonly fullWidth: boolean;
  private readonly maxPeriod: number;
  private readonly tickNs: number;
  private readonly muxIntervalNs: number;
  private readonly maxPerTick: number;
  private readonly freqHz: number | undefined;
  private fixedCtrl = 0;
  private running = false;
  private stopped = false;
  private timeNs = 0;
  private nextRotateNs = 0;

  constructor(
    readonly spec: GuestPerfSpec,
    readonly shape: GuestPmuShape,
    opts: GuestPerfOptions = {},
  ) {
    if (shape.gp < 0 || shape.gp > 32 || shape.fixed < 0 || shape.fixed > 4) throw new Error(`guest PMU shape out of range: ${shape.gp} GP, ${shape.fixed} fixed`);
    this.gpWidth = shape.widthBits;
    this.fxWidth = shape.fixedWidthBits ?? shape.widthBits;
    this.fixedEvents = (shape.fixedEvents ?? INTEL_FIXED_COUNTER_EVENTS).slice(0, shape.fixed);
    this.fullWidth = shape.fullWidthWrites ?? true;
    this.maxPeriod = this.fullWidth ? 2 ** (Math.min(this.gpWidth, this.fxWidth) - 1) - 1 : 2 ** 31 - 1;
    const hz = opts.hz ?? 250;
    this.tickNs = Math.round(1e9 / hz);
    this.muxIntervalNs = opts.muxIntervalNs ?? this.tickNs;
    this.maxPerTick = Math.max(1, Math.floor((opts.maxSampleRateHz ?? 100_000) / hz));
    const sample = spec.command === 'record' ? spec.sample : undefined;
    this.freqHz = sample?.freqHz;
    const initialPeriod = sample === undefined ? this.maxPeriod : sample.freqHz !== undefined ? 1 : Math.min(sample.periodEvents!, this.maxPeriod);
    this.events = spec.events.map((name, index) => {
      const event = isWorkloadEvent(name) ? name : null;
      return {
        index,
        name,
        event,
        candidates: event ? this.candidatesFor(event) : [],
        counter: -1,
        lastCounter: -1,
        raw: 0,
        count: 0,
        enabledNs: 0,
        runningNs: 0,
        samplePeriod: initialPeriod,
        periodLeft: initialPeriod,
        lastPeriod: initialPeriod,
        samples: 0,
        freqTimeStampNs: 0,
        freqCountStamp: 0,
        interruptsThisTick: 0,
        throttled: false,
      };
    });
    this.order = this.events.map((_, i) => i);
  }

  /** Counters this event may use, preferred first ([] = "<not supported>"). */
  private candidatesFor(event: WorkloadEventName): number[] {
    const fixed = this.fixedEvents.indexOf(event);
    const gps = Array.from({ length: this.shape.gp }, (_, i) => i);
    if (event === 'ref-cycles' || event === 'topdown-slots') return fixed >= 0 ? [FIXED_ID_BASE + fixed] : [];
    return fixed >= 0 ? [FIXED_ID_BASE + fixed, ...gps] : gps;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Enables every event: one sched-in of the flexible groups. */
  start(nowNs: number): PmuAccess[] {
    if (this.running || this.stopped) throw new Error(`guest perf session ${this.spec.id}: start() twice`);
    this.timeNs = nowNs;
    this.running = true;
    this.nextRotateNs = nowNs + this.muxIntervalNs;
    for (const e of this.events) e.freqTimeStampNs = nowNs;
    const out: PmuAccess[] = [];
    this.pmuDisable(out);
    this.schedIn(out);
    this.pmuEnable(out);
    return out;
  }

  /** Disables every event (perf's close at the end of the command). */
  stop(nowNs: number, counts: CounterCounts = EMPTY_COUNTS): PmuAccess[] {
    if (!this.running) return [];
    this.advance(nowNs, counts);
    const out: PmuAccess[] = [];
    this.pmuDisable(out);
    this.schedOut(out);
    this.pmuEnable(out);
    this.running = false;
    this.stopped = true;
    return out;
  }

  /**
   * The guest scheduler tick (every 1e9/HZ ns): frequency adjustment and unthrottling
   * (perf_adjust_freq_unthr_context), then the multiplexing rotation when due and necessary.
   */
  onTick(nowNs: number, counts: CounterCounts = EMPTY_COUNTS): PmuAccess[] {
    if (!this.running) return [];
    this.advance(nowNs, counts);
    const out: PmuAccess[] = [];
    const active = this.activeEvents();
    if (active.some((e) => e.throttled || this.freqHz !== undefined)) {
      this.pmuDisable(out);
      for (const e of active) {
        if (e.throttled) {
          e.throttled = false;
          this.enableHw(e, out); // pmu->start(event, 0): no reload
        }
        if (this.freqHz === undefined) continue;
        this.disableHw(e, out); // pmu->stop(event, PERF_EF_UPDATE)
        this.update(e, out);
        const delta = e.count - e.freqCountStamp;
        e.freqCountStamp = e.count;
        if (delta > 0) this.adjustPeriod(e, this.tickNs, delta);
        if (delta > 0) this.setPeriod(e, out);
        this.enableHw(e, out);
      }
      this.pmuEnable(out);
    }
    for (const e of this.events) e.interruptsThisTick = 0;
    if (nowNs >= this.nextRotateNs) {
      this.nextRotateNs = nowNs + this.muxIntervalNs;
      if (this.rotationNecessary()) {
        this.pmuDisable(out);
        const first = this.activeEvents()[0];
        this.schedOut(out);
        if (first) this.order = [...this.order.filter((i) => i !== first.index), first.index];
        this.schedIn(out);
        this.pmuEnable(out);
      }
    }
    return out;
  }

  /** A guest PMI for the counters whose overflow bits are set (the world saw them wrap). */
  onPmi(nowNs: number, counts: CounterCounts, overflowed: readonly number[]): PmuAccess[] {
    if (!this.running) return [];
    this.advance(nowNs, counts);
    const out: PmuAccess[] = [];
    const ids = [...new Set(overflowed)].sort((a, b) => a - b);
    const status = ids.reduce((v, id) => v + 2 ** id, 0);
    out.push({ op: 'wrmsr', msr: MSR.PERF_GLOBAL_CTRL, value: 0 }); // __intel_pmu_disable_all
    out.push({ op: 'rdmsr', msr: MSR.PERF_GLOBAL_STATUS, value: status });
    out.push({ op: 'wrmsr', msr: MSR.PERF_GLOBAL_OVF_CTRL, value: status }); // intel_pmu_ack_status
    for (const id of ids) {
      const e = this.events.find((x) => x.counter === id);
      if (!e) continue; // not in active_mask: spurious, acknowledged only
      this.update(e, out);
      const elapsed = this.setPeriod(e, out);
      // Counting events (perf stat) overflow only to fold the count: no sample, no throttling.
      if (!elapsed || this.spec.command !== 'record') continue;
      e.samples++;
      e.interruptsThisTick++;
      if (e.interruptsThisTick > this.maxPerTick && !e.throttled) {
        e.throttled = true; // __perf_event_account_interrupt → x86_pmu_stop(event, 0)
        this.disableHw(e, out);
      }
      if (this.freqHz !== undefined) {
        const dt = nowNs - e.freqTimeStampNs;
        e.freqTimeStampNs = nowNs;
        if (dt > 0 && dt < 2 * this.tickNs) {
          const reload = this.adjustPeriod(e, dt, e.lastPeriod);
          if (reload && !e.throttled) {
            this.disableHw(e, out);
            this.update(e, out);
            this.setPeriod(e, out);
            this.enableHw(e, out);
          }
        }
      }
    }
    out.push({ op: 'rdmsr', msr: MSR.PERF_GLOBAL_STATUS, value: 0 });
    out.push({ op: 'wrmsr', msr: MSR.PERF_GLOBAL_CTRL, value: this.globalCtrlAll() });
    return out;
  }

  /** Credits counts and accounts time without any PMU access (e.g. before a report). */
  sync(nowNs: number, counts: CounterCounts = EMPTY_COUNTS): void {
    if (this.running) this.advance(nowNs, counts);
  }

  /** What the guest has programmed now, one entry per counter in use. */
  counters(): GuestCounterPlan[] {
    return this.activeEvents()
      .map((e) => {
        const enc = INTEL_ARCH_EVENTS[e.event!];
        const width = e.counter >= FIXED_ID_BASE ? this.fxWidth : this.gpWidth;
        return {
          counterId: e.counter,
          eventIndex: e.index,
          event: e.event!,
          eventSelect: enc.eventSelect,
          umask: enc.umask,
          enabled: !e.throttled,
          eventsToOverflow: 2 ** width - e.raw,
        };
      })
      .sort((a, b) => a.counterId - b.counterId);
  }

  /** The next time the world should call onTick for a rotation (ticks are every 1e9/HZ anyway). */
  get tickIntervalNs(): number {
    return this.tickNs;
  }

  /** Rows in spec.events order, as perf stat / perf report would summarize them. */
  report(): GuestPerfReportRow[] {
    return this.events.map((e) => ({
      event: e.name,
      index: e.index,
      supported: e.candidates.length > 0,
      count: e.count,
      scaledCount: scaleCount(e.count, e.enabledNs, e.runningNs),
      timeEnabledNs: e.enabledNs,
      timeRunningNs: e.runningNs,
      samples: e.samples,
      samplePeriod: e.samplePeriod,
    }));
  }

  // ------------------------------------------------------------------------------------------

  private activeEvents(): Ev[] {
    return this.order.map((i) => this.events[i]).filter((e) => e.counter >= 0);
  }

  private rotationNecessary(): boolean {
    return this.events.some((e) => e.candidates.length > 0 && e.counter < 0);
  }

  private advance(nowNs: number, counts: CounterCounts): void {
    if (nowNs < this.timeNs) throw new Error(`guest perf session ${this.spec.id}: time went backwards (${nowNs} < ${this.timeNs})`);
    const dt = nowNs - this.timeNs;
    this.timeNs = nowNs;
    for (const e of this.events) {
      if (e.candidates.length === 0) continue;
      e.enabledNs += dt;
      if (e.counter >= 0) {
        e.runningNs += dt;
        const n = countOf(counts, e.counter);
        if (n > 0) {
          // The counter register moves; perf folds it at the next RDPMC (x86_perf_event_update).
          e.raw = (e.raw + n) % 2 ** this.widthOf(e.counter);
          e.count += n;
          e.periodLeft -= n;
        }
      }
    }
  }

  /** x86_perf_event_update: the RDPMC (the count is already credited in `advance`). */
  private update(e: Ev, out: PmuAccess[]): void {
    const idx = e.counter >= FIXED_ID_BASE ? RDPMC_FIXED + (e.counter - FIXED_ID_BASE) : e.counter;
    out.push({ op: 'rdpmc', msr: idx, value: e.raw });
  }

  /** x86_perf_event_set_period: writes -left; true if a period elapsed (a sample is due). */
  private setPeriod(e: Ev, out: PmuAccess[]): boolean {
    let left = e.periodLeft;
    const period = e.samplePeriod;
    let elapsed = false;
    if (left <= -period) {
      left = period;
      e.lastPeriod = period;
      elapsed = true;
    }
    if (left <= 0) {
      left += period;
      e.lastPeriod = period;
      elapsed = true;
    }
    e.periodLeft = left;
    if (left < HW_OVERFLOW_MIN_LEFT) left = HW_OVERFLOW_MIN_LEFT;
    if (left > this.maxPeriod) left = this.maxPeriod;
    const width = this.widthOf(e.counter);
    e.raw = 2 ** width - left;
    const msr = e.counter >= FIXED_ID_BASE ? MSR.FIXED_CTR0 + (e.counter - FIXED_ID_BASE) : (this.fullWidth ? MSR.IA32_A_PMC0 : MSR.IA32_PMC0) + e.counter;
    out.push({ op: 'wrmsr', msr, value: e.raw });
    return elapsed;
  }

  /** perf_adjust_period; true when period_left was reset (the caller reloads the counter). */
  private adjustPeriod(e: Ev, nsec: number, count: number): boolean {
    const period = Math.floor((count * 1e9) / (nsec * this.freqHz!));
    let delta = period - e.samplePeriod;
    delta = delta >= 0 ? delta + 7 : delta - 7;
    delta = Math.trunc(delta / 8);
    e.samplePeriod = Math.max(1, Math.min(this.maxPeriod, e.samplePeriod + delta));
    if (e.periodLeft > 8 * e.samplePeriod) {
      e.periodLeft = 0;
      return true;
    }
    return false;
  }

  private enableHw(e: Ev, out: PmuAccess[]): void {
    if (e.counter >= FIXED_ID_BASE) {
      const f = e.counter - FIXED_ID_BASE;
      this.fixedCtrl = (this.fixedCtrl & ~(0xf << (4 * f))) | ((FIXED_CTRL.PMI | FIXED_CTRL.USR | FIXED_CTRL.OS) << (4 * f));
      out.push({ op: 'wrmsr', msr: MSR.FIXED_CTR_CTRL, value: this.fixedCtrl });
    } else {
      out.push({ op: 'wrmsr', msr: MSR.IA32_PERFEVTSEL0 + e.counter, value: this.eventSel(e) | EVTSEL.EN });
    }
  }

  private disableHw(e: Ev, out: PmuAccess[]): void {
    if (e.counter >= FIXED_ID_BASE) {
      const f = e.counter - FIXED_ID_BASE;
      this.fixedCtrl &= ~(0xf << (4 * f));
      out.push({ op: 'wrmsr', msr: MSR.FIXED_CTR_CTRL, value: this.fixedCtrl });
    } else {
      out.push({ op: 'wrmsr', msr: MSR.IA32_PERFEVTSEL0 + e.counter, value: this.eventSel(e) });
    }
  }

  /** EVENTSEL without EN: event, umask, USR, OS, INT (x86 sets INT on every event). */
  private eventSel(e: Ev): number {
    const enc = INTEL_ARCH_EVENTS[e.event!];
    return enc.eventSelect | (enc.umask << 8) | EVTSEL.USR | EVTSEL.OS | EVTSEL.INT;
  }

  private pmuDisable(out: PmuAccess[]): void {
    out.push({ op: 'wrmsr', msr: MSR.PERF_GLOBAL_CTRL, value: 0 });
  }

  private pmuEnable(out: PmuAccess[]): void {
    out.push({ op: 'wrmsr', msr: MSR.PERF_GLOBAL_CTRL, value: this.globalCtrlAll() });
  }

  /** x86_pmu.intel_ctrl: every GP and fixed counter. */
  private globalCtrlAll(): number {
    return (2 ** this.shape.gp - 1) + (2 ** this.shape.fixed - 1) * 2 ** 32;
  }

  private widthOf(counterId: number): number {
    return counterId >= FIXED_ID_BASE ? this.fxWidth : this.gpWidth;
  }

  /** ctx_sched_out(EVENT_FLEXIBLE): x86_pmu_del → x86_pmu_stop(UPDATE) for each active event. */
  private schedOut(out: PmuAccess[]): void {
    for (const e of this.activeEvents()) {
      if (!e.throttled) this.disableHw(e, out);
      this.update(e, out);
      e.lastCounter = e.counter;
      e.counter = -1;
    }
  }

  /** ctx_sched_in(EVENT_FLEXIBLE) then x86_pmu_enable: x86_pmu_start(RELOAD) on each assigned event. */
  private schedIn(out: PmuAccess[]): void {
    const chosen: Ev[] = [];
    let assignment: number[] = [];
    for (const i of this.order) {
      const e = this.events[i];
      if (e.candidates.length === 0) continue;
      const a = this.assign([...chosen, e]);
      if (!a) break; // can_add_hw = 0: no later hardware group is tried in this pass
      chosen.push(e);
      assignment = a;
    }
    chosen.forEach((e, k) => {
      e.counter = assignment[k];
      e.lastCounter = e.counter;
    });
    for (const e of [...chosen].sort((a, b) => a.counter - b.counter)) {
      this.setPeriod(e, out);
      if (!e.throttled) this.enableHw(e, out);
    }
  }

  /** x86_schedule_events: fast path (previous counters) else weight-ordered greedy, fixed first. */
  private assign(evs: Ev[]): number[] | null {
    const used = new Set<number>();
    const fast: number[] = [];
    for (const e of evs) {
      if (e.lastCounter < 0 || !e.candidates.includes(e.lastCounter) || used.has(e.lastCounter)) break;
      used.add(e.lastCounter);
      fast.push(e.lastCounter);
    }
    if (fast.length === evs.length) return fast;
    used.clear();
    const out: number[] = Array(evs.length).fill(-1);
    const byWeight = evs.map((e, k) => ({ e, k })).sort((a, b) => a.e.candidates.length - b.e.candidates.length || a.k - b.k);
    for (const { e, k } of byWeight) {
      const c = e.candidates.find((x) => !used.has(x));
      if (c === undefined) return null;
      used.add(c);
      out[k] = c;
    }
    return out;
  }
}

const EMPTY_COUNTS: CounterCounts = new Map();

function countOf(counts: CounterCounts, id: number): number {
  const v = counts instanceof Map ? counts.get(id) : (counts as Readonly<Record<number, number>>)[id];
  if (v === undefined) return 0;
  if (!(Number.isSafeInteger(v) && v >= 0)) throw new Error(`counter ${id}: count ${v} is not a non-negative integer`);
  return v;
}

/** perf stat's scaling (perf_counts_values__scale): 0 when never running. */
export function scaleCount(count: number, enabledNs: number, runningNs: number): number {
  if (runningNs === 0) return 0;
  if (runningNs >= enabledNs) return count;
  return Math.floor((count * enabledNs) / runningNs);
}

/** perf stat -a: counts, enabled and running times summed per event over CPUs, then scaled. */
export function sumGuestPerfReports(perCpu: readonly GuestPerfReportRow[][]): GuestPerfReportRow[] {
  if (perCpu.length === 0) return [];
  return perCpu[0].map((row, i) => {
    const rows = perCpu.map((r) => r[i]);
    const count = rows.reduce((s, r) => s + r.count, 0);
    const timeEnabledNs = rows.reduce((s, r) => s + r.timeEnabledNs, 0);
    const timeRunningNs = rows.reduce((s, r) => s + r.timeRunningNs, 0);
    return {
      ...row,
      count,
      timeEnabledNs,
      timeRunningNs,
      scaledCount: scaleCount(count, timeEnabledNs, timeRunningNs),
      samples: rows.reduce((s, r) => s + r.samples, 0),
    };
  });
}
