// Guest `perf stat -e ...` and `perf record -F <freq> | -c <period> -e ... [-a]` on ONE vCPU of a
// guest, over the guest's (virtual) PMU through MSR accesses and RDPMC — what the guest kernel's
// x86 perf driver does, so each vPMU backend charges the accesses it traps, and every value the
// guest reads comes from the PMU model as the backend exposes it (a denied, starved or leaking
// counter shows in the counts).
//
// What it follows (Linux v6.x, kernel/events/core.c and arch/x86/events/{core.c,intel/core.c}):
// - every event is its own flexible group (perf stat/record -e a -e b): sched-in visits them in
//   list order (from the rotation point) and stops trying once one does not fit (merge_sched_in,
//   can_add_hw); instructions / cycles prefer their fixed counter, ref-cycles and topdown-slots
//   are fixed-only (perf's 0x0300/0x0400 pseudo encodings), everything else takes a GP counter;
// - multiplexing: when the events do not all fit, every guest tick (HZ=250: 4 ms; the mux
//   interval defaults to 1000/HZ ms) the schedule rotates by one event (rotate_ctx with singleton
//   groups); time_enabled / time_running per event, counts scaled by enabled / running;
// - x86_perf_event_set_period at every (re)load of a counter: period_left normalised
//   (`left <= -period → period`, `left <= 0 → left += period`, each starting a new last_period),
//   `left < 2 → 2`, max_period = 2^(width-1) - 1 with full-width writes, 2^31 - 1 without;
//   counting events (perf stat) get max_period too, and x86 sets INT on every event;
// - the MSR sequences: perf_pmu_disable / enable = GLOBAL_CTRL 0 / every counter
//   (x86_pmu.intel_ctrl); x86_pmu_stop = EVENTSEL without EN (FIXED_CTR_CTRL field cleared) then
//   RDPMC (x86_perf_event_update); x86_pmu_start(RELOAD) = counter write (IA32_A_PMCx with
//   full-width writes) then EVENTSEL with EN; the PMI handler (intel_pmu_handle_irq, v4+) =
//   GLOBAL_CTRL 0, RDMSR GLOBAL_STATUS, WRMSR GLOBAL_OVF_CTRL, per overflowed counter RDPMC +
//   counter write, RDMSR GLOBAL_STATUS again, GLOBAL_CTRL all, then the LVTPC unmask
//   apic_write(APIC_LVTPC, APIC_DM_NMI) (the "late ack" of Haswell and later big cores; older
//   cores ack first: one LVTPC write per handler run either way). The local APIC masks LVTPC when
//   it delivers a PMI, and so does KVM's emulated one (lapic.c kvm_apic_local_deliver), so the
//   handler must unmask it;
// - throttling is logged as the kernel logs it (perf_log_throttle): a THROTTLE when
//   __perf_event_account_interrupt stops the event, an UNTHROTTLE when
//   perf_adjust_freq_unthr_context restarts it at the tick or event_sched_in schedules a
//   throttled event back in; the context keeps the log until the caller (the host's guest perf
//   part) turns it into guest-visible events, so the model itself emits nothing;
// - sampling: one sample per elapsed period; frequency mode starts at period 1
//   (perf_event_alloc) and perf_adjust_period (1/8 low-pass toward count * 1e9 / (ns * freq))
//   runs at each sample with count = last_period over the time since the previous sample, and at
//   each tick with the events counted over the tick (perf_adjust_freq_unthr_context, which stops,
//   reloads and restarts the event); a period reset (period_left > 8 * sample_period) reloads the
//   counter; more than max_sample_rate / HZ interrupts in a tick throttle the event until the
//   next tick.
// Two clocks: `nowNs` is the vCPU's guest run time, the clock of time_enabled / time_running and of
// the accuracy window (what the guest ran); `clockNs` is the guest's perf_clock() (kvmclock: host
// time, so it advances while the vCPU is out of guest mode). The frequency estimate must use the
// latter: the time a PMI spends in the host (exit, PMU context switch, injection) passes for the
// guest too, and an estimator blind to it sees PMIs ~100 ns apart while the period ramps up from
// 1 and overshoots by orders of magnitude (one sample in 100 ms instead of 1000 per second).
// Not modelled: PEBS / LBR MSRs, the per-event enable ioctls at start (one
// sched-in stands for them), the x86 fast-path counter reuse (it only changes which MSRs are
// written, not what counts).
import type { GuestPerfSpec } from '@vpmu/world-spec';
import { INTEL_ARCH_EVENTS, MSR, EVTSEL, FIXED_CTRL, FIXED_COUNTER_ID_BASE, INTEL_FIXED_COUNTER_EVENTS, RDPMC_FIXED, type WorkloadEventName } from '@vpmu/pmu';

/** The guest's PMU as the guest kernel reaches it (the backend decides what traps). */
export interface GuestPerfMsrPort {
  wrmsr(msr: number, value: bigint): boolean;
  /** 0 on a fault. */
  rdmsr(msr: number): bigint;
  /** RDPMC with the ECX index (bit 30 = fixed counters); 0 on a fault. */
  rdpmc(index: number): bigint;
  /**
   * apic_write(APIC_LVTPC, value) to the guest's local APIC (x2APIC: WRMSR 0x834). Not a PMU
   * register: the hypervisor's local-APIC emulation decides what it costs.
   */
  apicWriteLvtpc(value: number): void;
}

/** APIC_DM_NMI: LVTPC delivery mode NMI, unmasked (what the PMI handler writes back). */
export const APIC_LVTPC_DM_NMI = 0x400;

/** Guest kernel tick (HZ=250), also the default multiplexing interval. */
export const GUEST_TICK_NS = 4_000_000;
/** perf_event_max_sample_rate default. */
export const GUEST_MAX_SAMPLE_RATE_HZ = 100_000;

export interface GuestPerfOptions {
  /** PERF_CAPABILITIES.FW_WRITE (default true): periods go to IA32_A_PMCx, max_period 2^(w-1)-1. */
  fullWidthWrites?: boolean;
  /** perf_event_max_sample_rate (default 100000). */
  maxSampleRateHz?: number;
}

export interface GuestPerfEventState {
  name: WorkloadEventName;
  /** Counter id while scheduled (GP i / 32 + fixed i), else -1. */
  counter: number;
  count: number;
  enabledNs: number;
  runningNs: number;
  lastRaw: bigint;
  samplePeriod: number;
  periodLeft: number;
  lastPeriod: number;
  samples: number;
  freqCountStamp: number;
  /** perf_clock() at the last sample (hwc->freq_time_stamp), guest clock ns. */
  lastPmiNs: number;
  interruptsThisTick: number;
  throttled: boolean;
}

/** One perf_log_throttle of the guest kernel: which session's event, throttled or unthrottled. */
export interface GuestThrottleChange {
  /** The session's id (vms[].guestPerf[].id). */
  session: string;
  /** Index of the event in the session's events (spec order). */
  eventIndex: number;
  event: WorkloadEventName;
  /** true: PERF_RECORD_THROTTLE; false: PERF_RECORD_UNTHROTTLE. */
  throttled: boolean;
}

export interface GuestPerfReading {
  event: string;
  count: number;
  scaledCount: number;
  timeEnabledNs: number;
  timeRunningNs: number;
  samples: number;
}

const HW_OVERFLOW_MIN_LEFT = 2;

/**
 * The guest kernel's perf context of one vCPU (one CPU's perf_cpu_context with its task context):
 * every running session's events share the guest PMU. Sessions join the flexible list in the
 * order they start; each (re)schedule fills the counters from the rotation point and stops at the
 * first event that does not fit, so a second session gets the counters the first left free and
 * multiplexes with it when they do not all fit (kernel/events/core.c: perf_install_in_context ->
 * ctx_resched, rotate_ctx; arch/x86/events/core.c: x86_schedule_events). One PMI handler serves
 * every event (intel_pmu_handle_irq walks the overflow status once), and FIXED_CTR_CTRL is one
 * register with a field per counter, whoever programmed it.
 */
export class GuestPmuContext {
  /** Running sessions in the order they started: the context's flexible list. */
  sessions: GuestPerfVcpu[] = [];
  rotation = 0;
  multiplexed = false;
  fixedCtrl = 0;
  /** perf_log_throttle calls not yet taken by takeThrottleLog (empty between host steps). */
  throttleLog: GuestThrottleChange[] = [];

  constructor(
    readonly gpCounters: number,
    readonly fixedCounters: number,
  ) {}

  /** perf_install_in_context for each event of `s`: ctx_resched (sched out flexible, then in). */
  join(s: GuestPerfVcpu, port: GuestPerfMsrPort, nowNs: number): void {
    this.accountAll(nowNs);
    this.pmuDisable(port);
    this.schedOutAll(port);
    this.sessions.push(s);
    this.schedInAll(port);
    this.pmuEnable(port);
  }

  /**
   * perf_remove_from_context for each event of `s`: they leave their counters; the others are not
   * rescheduled now (the counters freed are taken at the next rotation, if one is needed).
   */
  leave(s: GuestPerfVcpu, port: GuestPerfMsrPort, nowNs: number): void {
    s.account(nowNs);
    this.pmuDisable(port);
    s.schedOut(port);
    this.pmuEnable(port);
    this.sessions = this.sessions.filter((x) => x !== s);
    if (this.sessions.length === 0) this.multiplexed = false;
  }

  /** The guest tick: each session's unthrottling / frequency adjustment, then the rotation. */
  tick(port: GuestPerfMsrPort, nowNs: number): void {
    if (this.sessions.length === 0) return;
    this.accountAll(nowNs);
    for (const s of this.sessions) s.adjustAtTick(port);
    if (this.multiplexed) {
      this.pmuDisable(port);
      this.schedOutAll(port);
      const n = this.flexible().length;
      this.rotation = n === 0 ? 0 : (this.rotation + 1) % n;
      this.schedInAll(port);
      this.pmuEnable(port);
    }
  }

  /** intel_pmu_handle_irq, once for every event of every session. Returns the samples taken. */
  pmi(port: GuestPerfMsrPort, nowNs: number, clockNs: number): number {
    if (this.sessions.length === 0) {
      port.rdmsr(MSR.PERF_GLOBAL_STATUS); // not ours: the handler only looks
      return 0;
    }
    this.accountAll(nowNs);
    port.wrmsr(MSR.PERF_GLOBAL_CTRL, 0n); // __intel_pmu_disable_all
    const status = port.rdmsr(MSR.PERF_GLOBAL_STATUS);
    if (status !== 0n) port.wrmsr(MSR.PERF_GLOBAL_OVF_CTRL, status); // intel_pmu_ack_status
    let taken = 0;
    for (const s of this.sessions) taken += s.handleOverflows(port, status, clockNs);
    port.rdmsr(MSR.PERF_GLOBAL_STATUS);
    port.wrmsr(MSR.PERF_GLOBAL_CTRL, this.globalCtrlAll());
    // intel_pmu_handle_irq's late ack: unmask LVTPC (masked when the PMI was delivered) only
    // after the counters were handled, so a new overflow cannot interrupt the handler.
    port.apicWriteLvtpc(APIC_LVTPC_DM_NMI);
    return taken;
  }

  /** The throttle changes logged since the last call, in the order the guest kernel made them. */
  takeThrottleLog(): GuestThrottleChange[] {
    if (this.throttleLog.length === 0) return [];
    const log = this.throttleLog;
    this.throttleLog = [];
    return log;
  }

  /** x86_pmu.intel_ctrl: every counter the guest has (per-counter enables live in the selects). */
  globalCtrlAll(): bigint {
    return ((1n << BigInt(this.gpCounters)) - 1n) | (((1n << BigInt(this.fixedCounters)) - 1n) << 32n);
  }

  private pmuDisable(port: GuestPerfMsrPort): void {
    port.wrmsr(MSR.PERF_GLOBAL_CTRL, 0n);
  }

  private pmuEnable(port: GuestPerfMsrPort): void {
    port.wrmsr(MSR.PERF_GLOBAL_CTRL, this.globalCtrlAll());
  }

  private accountAll(nowNs: number): void {
    for (const s of this.sessions) s.account(nowNs);
  }

  /** Every running session's events, in list order. */
  private flexible(): { s: GuestPerfVcpu; e: GuestPerfEventState }[] {
    const out: { s: GuestPerfVcpu; e: GuestPerfEventState }[] = [];
    for (const s of this.sessions) for (const e of s.events) out.push({ s, e });
    return out;
  }

  private schedOutAll(port: GuestPerfMsrPort): void {
    for (const s of this.sessions) s.schedOut(port);
  }

  /** ctx_sched_in(EVENT_FLEXIBLE) from the rotation point, then x86_pmu_start(RELOAD) per event. */
  private schedInAll(port: GuestPerfMsrPort): void {
    let usedGp = 0;
    let usedFixed = 0;
    const list = this.flexible();
    const n = list.length;
    this.multiplexed = false;
    const chosen: { s: GuestPerfVcpu; e: GuestPerfEventState }[] = [];
    for (let k = 0; k < n; k++) {
      const entry = list[(this.rotation + k) % n];
      const e = entry.e;
      if (!this.supported(e.name)) continue; // "<not supported>": never in the context
      const f = INTEL_FIXED_COUNTER_EVENTS.indexOf(e.name);
      let counter = -1;
      if (f >= 0 && f < this.fixedCounters && (usedFixed & (1 << f)) === 0) {
        counter = FIXED_COUNTER_ID_BASE + f;
        usedFixed |= 1 << f;
      } else if (e.name !== 'ref-cycles' && e.name !== 'topdown-slots') {
        for (let i = 0; i < this.gpCounters; i++) {
          if ((usedGp & (1 << i)) === 0) {
            counter = i;
            usedGp |= 1 << i;
            break;
          }
        }
      }
      if (counter < 0) {
        // can_add_hw = 0: no later hardware group is tried in this pass.
        this.multiplexed = true;
        break;
      }
      e.counter = counter;
      chosen.push(entry);
    }
    for (const s of this.sessions) s.multiplexed = this.multiplexed;
    chosen.sort((a, b) => a.e.counter - b.e.counter);
    for (const { s, e } of chosen) s.load(port, e);
  }

  /** The guest's PMU can count the event at all (else perf_event_open failed: "<not supported>"). */
  supported(name: WorkloadEventName): boolean {
    const f = INTEL_FIXED_COUNTER_EVENTS.indexOf(name);
    if (f >= 0 && f < this.fixedCounters) return true;
    return name !== 'ref-cycles' && name !== 'topdown-slots' && this.gpCounters > 0;
  }
}

/** One guest perf session's state on one vCPU (its counters come from the vCPU's GuestPmuContext). */
export class GuestPerfVcpu {
  readonly events: GuestPerfEventState[];
  running = false;
  private lastNs = 0;
  /** Guest ns at which the session started on this vCPU (the accuracy window's start). */
  startNs = 0;
  /** Guest ns the session was enabled on this vCPU. */
  windowNs = 0;
  /** The context needed rotation at this session's last schedule. */
  multiplexed = false;
  /** The vCPU's perf context, shared with the other sessions of the vCPU. */
  readonly ctx: GuestPmuContext;
  private readonly fullWidth: boolean;
  private readonly maxPeriod: number;
  private readonly maxPerTick: number;

  constructor(
    readonly spec: GuestPerfSpec,
    readonly gpCounters: number,
    readonly fixedCounters: number,
    readonly widthBits: number,
    opts: GuestPerfOptions = {},
    ctx?: GuestPmuContext,
  ) {
    this.ctx = ctx ?? new GuestPmuContext(gpCounters, fixedCounters);
    this.fullWidth = opts.fullWidthWrites ?? true;
    this.maxPeriod = this.fullWidth ? 2 ** (widthBits - 1) - 1 : 2 ** 31 - 1;
    this.maxPerTick = Math.max(1, Math.floor((opts.maxSampleRateHz ?? GUEST_MAX_SAMPLE_RATE_HZ) / (1e9 / GUEST_TICK_NS)));
    const sample = this.sampling ? spec.sample! : undefined;
    const initial = sample === undefined ? this.maxPeriod : sample.freqHz !== undefined ? 1 : Math.min(sample.periodEvents ?? 1, this.maxPeriod);
    this.events = spec.events.map((name) => ({
      name: name as WorkloadEventName,
      counter: -1,
      count: 0,
      enabledNs: 0,
      runningNs: 0,
      lastRaw: 0n,
      samplePeriod: initial,
      periodLeft: initial,
      lastPeriod: initial,
      samples: 0,
      freqCountStamp: 0,
      lastPmiNs: 0,
      interruptsThisTick: 0,
      throttled: false,
    }));
  }

  get sampling(): boolean {
    return this.spec.command === 'record' && this.spec.sample !== undefined;
  }

  private get freqHz(): number | undefined {
    return this.sampling ? this.spec.sample!.freqHz : undefined;
  }

  /** Enables every event: they join the vCPU's perf context. `clockNs`: the guest's perf_clock(). */
  start(port: GuestPerfMsrPort, nowNs: number, clockNs: number = nowNs): void {
    if (this.running) return;
    this.running = true;
    this.startNs = nowNs;
    this.lastNs = nowNs;
    for (const e of this.events) e.lastPmiNs = clockNs;
    this.ctx.join(this, port, nowNs);
  }

  stop(port: GuestPerfMsrPort, nowNs: number): void {
    if (!this.running) return;
    this.ctx.leave(this, port, nowNs);
    this.running = false;
  }

  /** The guest tick of the vCPU's whole perf context (every session sharing it). */
  tick(port: GuestPerfMsrPort, nowNs: number): void {
    this.ctx.tick(port, nowNs);
  }

  /** The guest PMI handler of the vCPU's whole perf context. Returns the samples. */
  pmi(port: GuestPerfMsrPort, nowNs: number, clockNs: number = nowNs): number {
    return this.ctx.pmi(port, nowNs, clockNs);
  }

  /** Counts as of now without touching the PMU's state beyond reads of `peek`. */
  readings(peek: (counterId: number) => bigint, nowNs: number): GuestPerfReading[] {
    const dt = this.running ? nowNs - this.lastNs : 0;
    return this.events.map((e) => {
      let count = e.count;
      let running = e.runningNs;
      if (e.counter >= 0 && this.running) {
        count += Number(BigInt.asUintN(this.widthBits, peek(e.counter) - e.lastRaw));
        running += dt;
      }
      const enabled = e.enabledNs + dt;
      return {
        event: e.name,
        count,
        scaledCount: running === 0 ? 0 : Math.round((count * enabled) / running),
        timeEnabledNs: enabled,
        timeRunningNs: running,
        samples: e.samples,
      };
    });
  }

  /** Guest ns the session has been enabled, up to now. */
  windowUntil(nowNs: number): number {
    return this.windowNs + (this.running ? nowNs - this.lastNs : 0);
  }

  // ---- called by the context -----------------------------------------------------------------

  account(nowNs: number): void {
    const dt = nowNs - this.lastNs;
    if (dt <= 0) return;
    this.lastNs = nowNs;
    this.windowNs += dt;
    for (const e of this.events) {
      e.enabledNs += dt;
      if (e.counter >= 0) e.runningNs += dt;
    }
  }

  /** perf_adjust_freq_unthr_context for this session's events (the tick). */
  adjustAtTick(port: GuestPerfMsrPort): void {
    const freq = this.freqHz !== undefined;
    if (this.events.some((e) => e.counter >= 0 && (e.throttled || freq))) {
      port.wrmsr(MSR.PERF_GLOBAL_CTRL, 0n);
      for (const e of this.events) {
        if (e.counter < 0) continue;
        if (e.throttled) {
          e.throttled = false;
          this.logThrottle(e, false);
          this.writeSel(port, e, true); // pmu->start(event, 0): no reload
        }
        if (!freq) continue;
        this.writeSel(port, e, false); // pmu->stop(event, PERF_EF_UPDATE)
        this.fold(port, e);
        const delta = e.count - e.freqCountStamp;
        e.freqCountStamp = e.count;
        if (delta > 0) {
          this.adjustPeriod(e, GUEST_TICK_NS, delta);
          this.arm(port, e); // pmu->start(event, PERF_EF_RELOAD)
        }
        this.writeSel(port, e, true);
      }
      port.wrmsr(MSR.PERF_GLOBAL_CTRL, this.ctx.globalCtrlAll());
    }
    for (const e of this.events) e.interruptsThisTick = 0;
  }

  /** The PMI handler's work on this session's overflowed counters (status already acked). */
  handleOverflows(port: GuestPerfMsrPort, status: bigint, clockNs: number): number {
    let taken = 0;
    for (const e of this.events) {
      if (e.counter < 0) continue;
      const bit = e.counter >= FIXED_COUNTER_ID_BASE ? 32n + BigInt(e.counter - FIXED_COUNTER_ID_BASE) : BigInt(e.counter);
      if (((status >> bit) & 1n) === 0n) continue;
      this.fold(port, e);
      const elapsed = this.arm(port, e); // intel_pmu_save_and_restart
      // Counting events overflow only to fold the count: no sample, no throttling.
      if (!elapsed || !this.sampling) continue;
      e.samples++;
      taken++;
      e.interruptsThisTick++;
      if (e.interruptsThisTick > this.maxPerTick && !e.throttled) {
        e.throttled = true; // __perf_event_account_interrupt → x86_pmu_stop(event, 0)
        this.logThrottle(e, true);
        this.writeSel(port, e, false);
      }
      if (this.freqHz !== undefined) {
        const dt = clockNs - e.lastPmiNs;
        e.lastPmiNs = clockNs;
        if (dt > 0 && dt < 2 * GUEST_TICK_NS && this.adjustPeriod(e, dt, e.lastPeriod) && !e.throttled) {
          // perf_adjust_period(disable = true): the reset period_left is reloaded at once.
          this.writeSel(port, e, false);
          this.fold(port, e);
          this.arm(port, e);
          this.writeSel(port, e, true);
        }
      }
    }
    return taken;
  }

  /**
   * x86_pmu_start(RELOAD) of an event just given its counter. A throttled event scheduled back in
   * is unthrottled first (event_sched_in: interrupts == MAX_INTERRUPTS → perf_log_throttle(1)).
   */
  load(port: GuestPerfMsrPort, e: GuestPerfEventState): void {
    if (e.throttled) {
      e.throttled = false;
      e.interruptsThisTick = 0;
      this.logThrottle(e, false);
    }
    this.arm(port, e);
    this.writeSel(port, e, true);
  }

  /** ctx_sched_out(EVENT_FLEXIBLE): x86_pmu_del → x86_pmu_stop(UPDATE) for each active event. */
  schedOut(port: GuestPerfMsrPort): void {
    for (const e of this.events) {
      if (e.counter < 0) continue;
      if (!e.throttled) this.writeSel(port, e, false);
      this.fold(port, e);
      e.counter = -1;
    }
  }

  // ------------------------------------------------------------------------------------------

  private logThrottle(e: GuestPerfEventState, throttled: boolean): void {
    this.ctx.throttleLog.push({ session: this.spec.id, eventIndex: this.events.indexOf(e), event: e.name, throttled });
  }

  /** x86_perf_event_update: RDPMC, fold the delta into the count and period_left. */
  private fold(port: GuestPerfMsrPort, e: GuestPerfEventState): void {
    const index = e.counter >= FIXED_COUNTER_ID_BASE ? RDPMC_FIXED + (e.counter - FIXED_COUNTER_ID_BASE) : e.counter;
    const raw = port.rdpmc(index);
    const d = Number(BigInt.asUintN(this.widthBits, raw - e.lastRaw));
    e.lastRaw = raw;
    e.count += d;
    e.periodLeft -= d;
  }

  /** x86_perf_event_set_period: normalises period_left, writes -left; true if a period elapsed. */
  private arm(port: GuestPerfMsrPort, e: GuestPerfEventState): boolean {
    const period = e.samplePeriod;
    let elapsed = false;
    if (e.periodLeft <= -period) {
      e.periodLeft = period;
      e.lastPeriod = period;
      elapsed = true;
    }
    if (e.periodLeft <= 0) {
      e.periodLeft += period;
      e.lastPeriod = period;
      elapsed = true;
    }
    let left = e.periodLeft;
    if (left < HW_OVERFLOW_MIN_LEFT) left = HW_OVERFLOW_MIN_LEFT;
    if (left > this.maxPeriod) left = this.maxPeriod;
    const v = BigInt.asUintN(this.widthBits, -BigInt(left));
    port.wrmsr(counterMsr(e.counter, this.fullWidth), v);
    e.lastRaw = v;
    return elapsed;
  }

  /** perf_adjust_period; true when period_left was reset (the caller reloads the counter). */
  private adjustPeriod(e: GuestPerfEventState, nsec: number, count: number): boolean {
    const freq = this.freqHz!;
    const period = Math.floor((count * 1e9) / (nsec * freq));
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

  /** EVENTSEL / FIXED_CTR_CTRL field: USR, OS and INT (x86 sets INT on every event), EN / enable. */
  private writeSel(port: GuestPerfMsrPort, e: GuestPerfEventState, enable: boolean): void {
    if (e.counter >= FIXED_COUNTER_ID_BASE) {
      const f = e.counter - FIXED_COUNTER_ID_BASE;
      const field = enable ? FIXED_CTRL.OS | FIXED_CTRL.USR | FIXED_CTRL.PMI : 0;
      // One register for every fixed counter: the other sessions' fields stay as they are.
      this.ctx.fixedCtrl = (this.ctx.fixedCtrl & ~(0xf << (4 * f))) | (field << (4 * f));
      port.wrmsr(MSR.FIXED_CTR_CTRL, BigInt(this.ctx.fixedCtrl));
      return;
    }
    const enc = INTEL_ARCH_EVENTS[e.name];
    const v = enc.eventSelect | (enc.umask << 8) | EVTSEL.USR | EVTSEL.OS | EVTSEL.INT | (enable ? EVTSEL.EN : 0);
    port.wrmsr(MSR.IA32_PERFEVTSEL0 + e.counter, BigInt(v));
  }
}

function counterMsr(counter: number, fullWidth: boolean): number {
  if (counter >= FIXED_COUNTER_ID_BASE) return MSR.FIXED_CTR0 + counter - FIXED_COUNTER_ID_BASE;
  return (fullWidth ? MSR.IA32_A_PMC0 : MSR.IA32_PMC0) + counter;
}

/** perf stat's scaling (perf_counts_values__scale): 0 when never running. */
export function scaleCount(count: number, enabledNs: number, runningNs: number): number {
  if (runningNs === 0) return 0;
  if (runningNs >= enabledNs) return count;
  return Math.floor((count * enabledNs) / runningNs);
}
