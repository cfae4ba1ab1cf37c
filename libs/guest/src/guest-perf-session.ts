// Guest `perf stat` / `perf record -F` on one vCPU of a guest, over the guest's (virtual) PMU
// through MSR accesses — what the guest kernel's x86 perf driver does, so each backend charges
// the accesses it traps. Follows arch/x86/events/core.c and intel/core.c as the host model
// (docs/perf-model.md) does, reduced to what a guest session needs:
// - counter assignment: instructions / cycles / ref-cycles / topdown-slots prefer their fixed
//   counter (ref-cycles and slots are fixed-only), everything else takes a GP counter;
// - multiplexing when the events do not fit: every guest tick (HZ=250, 4 ms of guest run time)
//   the schedule rotates by one event (perf_rotate_context with singleton groups); counts are
//   scaled by time_enabled / time_running as perf prints them;
// - x86_pmu_enable / disable sequences: GLOBAL_CTRL = 0, counter and EVENTSEL / FIXED_CTR_CTRL
//   writes, GLOBAL_CTRL = enabled mask;
// - sampling: period_left bookkeeping, counter written with -left (min 2), the PMI handler's
//   sequence (read GLOBAL_STATUS, GLOBAL_CTRL = 0, read and re-arm each overflowed counter, write
//   GLOBAL_OVF_CTRL, GLOBAL_CTRL = mask) and the frequency mode's period adjustment (1/8 low-pass
//   at each PMI and each tick, starting from period 1 as perf_event_alloc does).
// Time is the vCPU's guest run time (guest ns), the clock the guest kernel's perf runs on here.
import type { GuestPerfSpec } from '@vpmu/scenario';
import { INTEL_ARCH_EVENTS, MSR, EVTSEL, FIXED_CTRL, FIXED_COUNTER_ID_BASE, INTEL_FIXED_COUNTER_EVENTS, type WorkloadEventName } from '@vpmu/pmu';

/** The guest's PMU as the guest kernel reaches it (the backend decides what traps). */
export interface GuestPerfMsrPort {
  wrmsr(msr: number, value: bigint): boolean;
  /** 0 on a fault. */
  rdmsr(msr: number): bigint;
}

export const GUEST_TICK_NS = 4_000_000;

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
  lastPmiNs: number;
}

export interface GuestPerfReading {
  event: string;
  count: number;
  scaledCount: number;
  timeEnabledNs: number;
  timeRunningNs: number;
  samples: number;
}

/** One guest perf session's state on one vCPU. */
export class GuestPerfVcpu {
  readonly events: GuestPerfEventState[];
  running = false;
  private rotation = 0;
  private lastNs = 0;
  /** Guest ns at which the session started on this vCPU (the accuracy window's start). */
  startNs = 0;
  /** Guest ns the session was enabled on this vCPU. */
  windowNs = 0;
  multiplexed = false;

  constructor(
    readonly spec: GuestPerfSpec,
    readonly gpCounters: number,
    readonly fixedCounters: number,
    readonly widthBits: number,
  ) {
    this.events = spec.events.map((name) => ({
      name: name as WorkloadEventName,
      counter: -1,
      count: 0,
      enabledNs: 0,
      runningNs: 0,
      lastRaw: 0n,
      samplePeriod: 0,
      periodLeft: 0,
      lastPeriod: 0,
      samples: 0,
      freqCountStamp: 0,
      lastPmiNs: 0,
    }));
    for (const e of this.events) {
      if (spec.command === 'record' && spec.sample) {
        e.samplePeriod = spec.sample.periodEvents ?? 1;
        e.periodLeft = e.samplePeriod;
        e.lastPeriod = e.samplePeriod;
      }
    }
  }

  get sampling(): boolean {
    return this.spec.command === 'record' && this.spec.sample !== undefined;
  }

  start(port: GuestPerfMsrPort, nowNs: number): void {
    if (this.running) return;
    this.running = true;
    this.startNs = nowNs;
    this.lastNs = nowNs;
    this.schedule(port);
  }

  stop(port: GuestPerfMsrPort, nowNs: number): void {
    if (!this.running) return;
    this.account(nowNs);
    this.unschedule(port);
    this.running = false;
  }

  /** The guest tick: multiplexing rotation and the frequency mode's period adjustment. */
  tick(port: GuestPerfMsrPort, nowNs: number): void {
    if (!this.running) return;
    this.account(nowNs);
    if (this.multiplexed) {
      this.unschedule(port);
      this.rotation = (this.rotation + 1) % this.events.length;
      this.schedule(port);
      return;
    }
    if (this.sampling && this.spec.sample?.freqHz !== undefined) {
      // perf_adjust_freq_unthr_context: read, stop, adjust, restart each sampling event.
      for (const e of this.events) {
        if (e.counter < 0) continue;
        this.fold(port, e);
        const delta = e.count - e.freqCountStamp;
        e.freqCountStamp = e.count;
        this.writeSel(port, e, false);
        if (delta > 0) this.adjustPeriod(e, GUEST_TICK_NS, delta);
        this.arm(port, e);
        this.writeSel(port, e, true);
      }
    }
  }

  /** The guest PMI handler (intel_pmu_handle_irq). Returns the samples taken. */
  pmi(port: GuestPerfMsrPort, nowNs: number): number {
    if (!this.running) {
      port.rdmsr(MSR.PERF_GLOBAL_STATUS);
      return 0;
    }
    this.account(nowNs);
    const status = port.rdmsr(MSR.PERF_GLOBAL_STATUS);
    port.wrmsr(MSR.PERF_GLOBAL_CTRL, 0n);
    let taken = 0;
    let ack = 0n;
    for (const e of this.events) {
      if (e.counter < 0) continue;
      const bit = e.counter >= FIXED_COUNTER_ID_BASE ? 32n + BigInt(e.counter - FIXED_COUNTER_ID_BASE) : BigInt(e.counter);
      if (((status >> bit) & 1n) === 0n) continue;
      ack |= 1n << bit;
      this.fold(port, e);
      if (!this.sampling) continue;
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
        taken++;
        if (this.spec.sample?.freqHz !== undefined) {
          const dt = nowNs - e.lastPmiNs;
          e.lastPmiNs = nowNs;
          if (dt > 0 && dt < 2 * GUEST_TICK_NS) this.adjustPeriod(e, dt, e.lastPeriod);
        }
      }
      this.arm(port, e);
    }
    if (ack !== 0n) port.wrmsr(MSR.PERF_GLOBAL_OVF_CTRL, ack);
    port.wrmsr(MSR.PERF_GLOBAL_CTRL, this.enabledMask());
    return taken;
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

  // ------------------------------------------------------------------------------------------

  private account(nowNs: number): void {
    const dt = nowNs - this.lastNs;
    if (dt <= 0) return;
    this.lastNs = nowNs;
    this.windowNs += dt;
    for (const e of this.events) {
      e.enabledNs += dt;
      if (e.counter >= 0) e.runningNs += dt;
    }
  }

  private fold(port: GuestPerfMsrPort, e: GuestPerfEventState): void {
    const raw = port.rdmsr(counterMsr(e.counter));
    const d = Number(BigInt.asUintN(this.widthBits, raw - e.lastRaw));
    e.lastRaw = raw;
    e.count += d;
    if (this.sampling) e.periodLeft -= d;
  }

  /** Writes the counter with -left (x86_perf_event_set_period). */
  private arm(port: GuestPerfMsrPort, e: GuestPerfEventState): void {
    let v = 0n;
    if (this.sampling) {
      let left = e.periodLeft;
      if (left < 2) left = 2;
      const max = 2 ** (this.widthBits - 1) - 1;
      if (left > max) left = max;
      v = BigInt.asUintN(this.widthBits, -BigInt(left));
    } else {
      v = e.lastRaw;
    }
    port.wrmsr(counterMsr(e.counter), v);
    e.lastRaw = v;
  }

  private adjustPeriod(e: GuestPerfEventState, nsec: number, count: number): void {
    const freq = this.spec.sample!.freqHz!;
    const period = Math.floor((count * 1e9) / (nsec * freq));
    let delta = period - e.samplePeriod;
    delta = delta >= 0 ? delta + 7 : delta - 7;
    delta = Math.trunc(delta / 8);
    let sp = e.samplePeriod + delta;
    if (sp < 1) sp = 1;
    e.samplePeriod = sp;
    if (e.periodLeft > 8 * sp) e.periodLeft = 0;
  }

  private enabledMask(): bigint {
    let m = 0n;
    for (const e of this.events) {
      if (e.counter < 0) continue;
      m |= e.counter >= FIXED_COUNTER_ID_BASE ? 1n << BigInt(32 + e.counter - FIXED_COUNTER_ID_BASE) : 1n << BigInt(e.counter);
    }
    return m;
  }

  /** x86_pmu_enable: assign counters from the rotation point, program them, enable globally. */
  private schedule(port: GuestPerfMsrPort): void {
    const usedGp = new Set<number>();
    const usedFixed = new Set<number>();
    const n = this.events.length;
    this.multiplexed = false;
    port.wrmsr(MSR.PERF_GLOBAL_CTRL, 0n);
    for (let k = 0; k < n; k++) {
      const e = this.events[(this.rotation + k) % n];
      const f = INTEL_FIXED_COUNTER_EVENTS.indexOf(e.name);
      let counter = -1;
      if (f >= 0 && f < this.fixedCounters && !usedFixed.has(f)) {
        counter = FIXED_COUNTER_ID_BASE + f;
        usedFixed.add(f);
      } else if (e.name !== 'ref-cycles' && e.name !== 'topdown-slots') {
        for (let i = 0; i < this.gpCounters; i++) {
          if (!usedGp.has(i)) {
            counter = i;
            usedGp.add(i);
            break;
          }
        }
      }
      if (counter < 0) {
        this.multiplexed = true;
        continue;
      }
      e.counter = counter;
      if (!this.sampling) e.lastRaw = 0n;
      this.arm(port, e);
      this.writeSel(port, e, true);
    }
    port.wrmsr(MSR.PERF_GLOBAL_CTRL, this.enabledMask());
  }

  /** x86_pmu_disable + del: fold every active counter and release it. */
  private unschedule(port: GuestPerfMsrPort): void {
    port.wrmsr(MSR.PERF_GLOBAL_CTRL, 0n);
    for (const e of this.events) {
      if (e.counter < 0) continue;
      this.fold(port, e);
      this.writeSel(port, e, false);
      e.counter = -1;
    }
  }

  private fixedCtrl = 0;

  private writeSel(port: GuestPerfMsrPort, e: GuestPerfEventState, enable: boolean): void {
    const intr = this.sampling;
    if (e.counter >= FIXED_COUNTER_ID_BASE) {
      const f = e.counter - FIXED_COUNTER_ID_BASE;
      const field = enable ? FIXED_CTRL.OS | FIXED_CTRL.USR | (intr ? FIXED_CTRL.PMI : 0) : 0;
      this.fixedCtrl = (this.fixedCtrl & ~(0xf << (4 * f))) | (field << (4 * f));
      port.wrmsr(MSR.FIXED_CTR_CTRL, BigInt(this.fixedCtrl));
      return;
    }
    const enc = INTEL_ARCH_EVENTS[e.name];
    const v = enc.eventSelect | (enc.umask << 8) | EVTSEL.USR | EVTSEL.OS | (intr ? EVTSEL.INT : 0) | (enable ? EVTSEL.EN : 0);
    port.wrmsr(MSR.IA32_PERFEVTSEL0 + e.counter, BigInt(v));
  }
}

function counterMsr(counter: number): number {
  return counter >= FIXED_COUNTER_ID_BASE ? MSR.FIXED_CTR0 + counter - FIXED_COUNTER_ID_BASE : MSR.IA32_A_PMC0 + counter;
}
