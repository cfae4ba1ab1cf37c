// GuestPerfVcpu against a real guest PMU register model (IntelPmu in guest mode) behind a port
// that records every access: the exact MSR / RDPMC sequences of the guest kernel's x86 perf
// driver, counter assignment, multiplexing, sampling, the frequency ramp and throttling.
import { EventRates, IntelPmu, MSR, RDPMC_FIXED, getCpuPreset, intelConfigFromPreset, type ExecMode } from '@vpmu/pmu';
import type { GuestPerfSpec } from '@vpmu/world-spec';
import { APIC_LVTPC_DM_NMI, GUEST_TICK_NS, GuestPerfVcpu, GuestPmuContext, scaleCount, type GuestPerfMsrPort } from './guest-perf-session';

const TICK = GUEST_TICK_NS;
const W48 = 2n ** 48n;
const MAX_PERIOD = 2n ** 47n - 1n;
const ALL_ON = 0xffn | (0xfn << 32n);
const GUEST_USER: ExecMode = { guest: true, kernel: false };

function stat(events: string[]): GuestPerfSpec {
  return { id: 's', command: 'stat', events, allCpus: true, callGraph: 'none', startNs: 0 };
}
function record(events: string[], sample: GuestPerfSpec['sample']): GuestPerfSpec {
  return { id: 'r', command: 'record', events, sample, allCpus: true, callGraph: 'none', startNs: 0 };
}

type Access = { op: 'wrmsr' | 'rdmsr' | 'rdpmc' | 'apic'; msr: number; value: bigint };

/** A guest PMU (the host's SPR shape unless overridden) that logs what the guest does to it. */
class RecordingPort implements GuestPerfMsrPort {
  readonly log: Access[] = [];
  readonly pmu: IntelPmu;
  constructor(overrides: Parameters<typeof intelConfigFromPreset>[1] = {}) {
    const p = getCpuPreset('intel-spr');
    if (p.arch !== 'intel') throw new Error('intel preset expected');
    this.pmu = new IntelPmu(intelConfigFromPreset(p, overrides));
  }
  wrmsr(msr: number, value: bigint): boolean {
    this.log.push({ op: 'wrmsr', msr, value });
    return this.pmu.wrmsr(msr, value).ok;
  }
  rdmsr(msr: number): bigint {
    const r = this.pmu.rdmsr(msr);
    const v = r.ok ? r.value : 0n;
    this.log.push({ op: 'rdmsr', msr, value: v });
    return v;
  }
  rdpmc(index: number): bigint {
    const r = this.pmu.rdpmc(index);
    const v = r.ok ? r.value : 0n;
    this.log.push({ op: 'rdpmc', msr: index, value: v });
    return v;
  }
  apicWriteLvtpc(value: number): void {
    this.log.push({ op: 'apic', msr: 0x340, value: BigInt(value) });
  }
  take(): Access[] {
    return this.log.splice(0);
  }
}

const w = (msr: number, value: bigint): Access => ({ op: 'wrmsr', msr, value });

/**
 * A minimal world: the guest runs at `rates` in user mode; the PMU advances to the next overflow
 * or tick; a PMI reaches the guest handler `pmiLatencyNs` later (the counters keep counting), and
 * the guest's clock runs on.
 */
function drive(s: GuestPerfVcpu, port: RecordingPort, fromNs: number, toNs: number, rates: EventRates, pmiLatencyNs = 0): number {
  let t = fromNs;
  let nextTick = Math.floor(fromNs / TICK) * TICK + TICK;
  let pmis = 0;
  while (t < toNs) {
    const toOverflow = port.pmu.nextOverflowInNs(rates, GUEST_USER);
    const tOvf = Number.isFinite(toOverflow) ? t + toOverflow + pmiLatencyNs : Infinity;
    const tNext = Math.min(nextTick, toNs, tOvf);
    port.pmu.advance(tNext - t, rates, GUEST_USER);
    port.pmu.takeOverflows();
    t = tNext;
    if (t === tOvf) {
      s.pmi(port, t, t);
      pmis++;
    }
    if (t === nextTick) {
      s.tick(port, t);
      nextTick += TICK;
    }
  }
  return pmis;
}

const perNs = (instructions: number, extra: Record<string, number> = {}) => EventRates.of({ instructions, cycles: 2 * instructions, ...extra });

describe('GuestPerfVcpu: counter assignment', () => {
  it('fixed counters for instructions / cycles / ref-cycles / slots, GP for the rest', () => {
    const port = new RecordingPort();
    const s = new GuestPerfVcpu(stat(['branches', 'instructions', 'cycles', 'ref-cycles', 'topdown-slots', 'cache-misses']), 8, 4, 48);
    s.start(port, 0);
    expect(s.events.map((e) => [e.name, e.counter])).toEqual([
      ['branches', 0],
      ['instructions', 32],
      ['cycles', 33],
      ['ref-cycles', 34],
      ['topdown-slots', 35],
      ['cache-misses', 1],
    ]);
    expect(s.multiplexed).toBe(false);
  });

  it('without fixed counters: instructions on GP; ref-cycles and slots are <not supported> (no rotation)', () => {
    const port = new RecordingPort({ fixedCounters: 0 });
    const s = new GuestPerfVcpu(stat(['instructions', 'ref-cycles', 'topdown-slots']), 4, 0, 48);
    s.start(port, 0);
    expect(s.events.map((e) => e.counter)).toEqual([0, -1, -1]);
    expect(s.multiplexed).toBe(false);
  });
});

describe('GuestPerfVcpu: MSR sequences', () => {
  it('start: GLOBAL_CTRL off, per counter (in counter order) the period write then the enable, GLOBAL_CTRL on', () => {
    const port = new RecordingPort();
    const s = new GuestPerfVcpu(stat(['instructions', 'branches']), 8, 4, 48);
    s.start(port, 0);
    expect(port.take()).toEqual([
      w(MSR.PERF_GLOBAL_CTRL, 0n),
      w(MSR.IA32_A_PMC0, W48 - MAX_PERIOD), // branches on GP0, counting: max_period
      w(MSR.IA32_PERFEVTSEL0, 0x5300c4n), // USR|OS|INT|EN, event 0xc4
      w(MSR.FIXED_CTR0, W48 - MAX_PERIOD), // instructions on fixed 0
      w(MSR.FIXED_CTR_CTRL, 0xbn), // PMI|USR|OS for fixed 0
      w(MSR.PERF_GLOBAL_CTRL, ALL_ON),
    ]);
  });

  it('without full-width writes the period goes to IA32_PMCx and max_period is 2^31-1', () => {
    const port = new RecordingPort({ fullWidthWrites: false });
    const s = new GuestPerfVcpu(stat(['branches']), 8, 4, 48, { fullWidthWrites: false });
    s.start(port, 0);
    expect(port.take()[1]).toEqual(w(MSR.IA32_PMC0, W48 - (2n ** 31n - 1n)));
  });

  it('stop: disable and RDPMC each counter between GLOBAL_CTRL off/on; counts come from the PMU', () => {
    const port = new RecordingPort();
    const s = new GuestPerfVcpu(stat(['instructions', 'branches']), 8, 4, 48);
    s.start(port, 0);
    port.take();
    port.pmu.advance(1000, perNs(1, { branches: 0.5 }), GUEST_USER);
    s.stop(port, 1000);
    expect(port.take()).toEqual([
      w(MSR.PERF_GLOBAL_CTRL, 0n),
      w(MSR.FIXED_CTR_CTRL, 0n),
      { op: 'rdpmc', msr: RDPMC_FIXED, value: W48 - MAX_PERIOD + 1000n },
      w(MSR.IA32_PERFEVTSEL0, 0x1300c4n), // EN cleared
      { op: 'rdpmc', msr: 0, value: W48 - MAX_PERIOD + 500n },
      w(MSR.PERF_GLOBAL_CTRL, ALL_ON),
    ]);
    expect(s.readings(() => 0n, 1000).map((r) => r.count)).toEqual([1000, 500]);
  });

  // arch/x86/events/intel/core.c intel_pmu_handle_irq: the late ack apic_write(APIC_LVTPC,
  // APIC_DM_NMI) comes last, after the counters were re-enabled (one LVTPC write per handler run).
  it('PMI handler: GLOBAL_CTRL off, read STATUS, ack OVF_CTRL, per counter RDPMC + re-arm, STATUS again, GLOBAL_CTRL on, then the LVTPC unmask (intel_pmu_handle_irq late ack)', () => {
    const port = new RecordingPort();
    const s = new GuestPerfVcpu(record(['branches'], { periodEvents: 1000 }), 8, 4, 48);
    s.start(port, 0);
    port.take();
    const rates = perNs(2, { branches: 1 });
    expect(port.pmu.nextOverflowInNs(rates, GUEST_USER)).toBe(1000);
    port.pmu.advance(1000, rates, GUEST_USER);
    expect(s.pmi(port, 1000)).toBe(1);
    expect(port.take()).toEqual([
      w(MSR.PERF_GLOBAL_CTRL, 0n),
      { op: 'rdmsr', msr: MSR.PERF_GLOBAL_STATUS, value: 1n },
      w(MSR.PERF_GLOBAL_OVF_CTRL, 1n),
      { op: 'rdpmc', msr: 0, value: 0n },
      w(MSR.IA32_A_PMC0, W48 - 1000n),
      { op: 'rdmsr', msr: MSR.PERF_GLOBAL_STATUS, value: 0n },
      w(MSR.PERF_GLOBAL_CTRL, ALL_ON),
      { op: 'apic', msr: 0x340, value: BigInt(APIC_LVTPC_DM_NMI) },
    ]);
    expect(s.events[0].samples).toBe(1);
  });

  it('a session that is not running only looks at GLOBAL_STATUS', () => {
    const port = new RecordingPort();
    const s = new GuestPerfVcpu(stat(['branches']), 8, 4, 48);
    expect(s.pmi(port, 10)).toBe(0);
    expect(port.take()).toEqual([{ op: 'rdmsr', msr: MSR.PERF_GLOBAL_STATUS, value: 0n }]);
  });
});

describe('GuestPerfVcpu: multiplexing (rotation every 4 ms tick)', () => {
  const instructions = (n: number) => Array.from({ length: n }, () => 'instructions');

  it('6 instructions events fit (fixed 0 + 5 GP): no rotation, running == enabled, exact counts', () => {
    const port = new RecordingPort();
    const s = new GuestPerfVcpu(stat(instructions(6)), 8, 4, 48);
    s.start(port, 0);
    port.take();
    drive(s, port, 0, 100 * TICK, perNs(3));
    expect(port.take()).toEqual([]); // counting, no rotation: nothing to do at ticks
    s.stop(port, 100 * TICK);
    for (const r of s.readings(() => 0n, 100 * TICK)) expect(r).toMatchObject({ count: 300 * TICK, timeEnabledNs: 100 * TICK, timeRunningNs: 100 * TICK, scaledCount: 300 * TICK });
  });

  it('10 instructions events on 9 counters: each runs 9/10 of the time, scaled counts are exact', () => {
    const port = new RecordingPort();
    const s = new GuestPerfVcpu(stat(instructions(10)), 8, 4, 48);
    s.start(port, 0);
    expect(s.events.filter((e) => e.counter >= 0)).toHaveLength(9);
    port.take();
    drive(s, port, 0, 250 * TICK, perNs(2));
    // Every rotation stops and restarts all nine counters: 2 GLOBAL_CTRL writes + 9 x (disable,
    // RDPMC) + 9 x (period write, enable) = 38 accesses per tick (FIXED_CTR_CTRL counts as one).
    expect(port.take()).toHaveLength(250 * 38);
    s.stop(port, 250 * TICK);
    for (const r of s.readings(() => 0n, 250 * TICK)) {
      expect(r.timeEnabledNs).toBe(250 * TICK);
      expect(r.timeRunningNs).toBe(225 * TICK);
      expect(r.count).toBe(2 * 225 * TICK);
      expect(r.scaledCount).toBe(2 * 250 * TICK);
    }
  });

  it('rotation moves the schedule by one event per tick', () => {
    const port = new RecordingPort({ gpCounters: 2, fixedCounters: 0 });
    const s = new GuestPerfVcpu(stat(['branches', 'branch-misses', 'cache-misses']), 2, 0, 48);
    s.start(port, 0);
    const active = () => s.events.flatMap((e, i) => (e.counter >= 0 ? [i] : []));
    expect(active()).toEqual([0, 1]);
    s.tick(port, TICK);
    expect(active()).toEqual([1, 2]);
    s.tick(port, 2 * TICK);
    expect(active()).toEqual([0, 2]);
  });
});

// The guest kernel keeps every event of a CPU in one perf context, whichever perf session opened
// it: a new event goes through perf_install_in_context -> ctx_resched, which schedules the
// flexible events out and back in over the counters left free (kernel/events/core.c); when they
// do not all fit, rotate_ctx multiplexes them at the tick; intel_pmu_handle_irq serves them all.
describe('GuestPmuContext: two sessions on one vCPU share the guest PMU (kernel/events/core.c ctx_resched)', () => {
  const twoSessions = (gp: number, fixed: number, a: GuestPerfSpec, b: GuestPerfSpec) => {
    const ctx = new GuestPmuContext(gp, fixed);
    return [new GuestPerfVcpu(a, gp, fixed, 48, {}, ctx), new GuestPerfVcpu(b, gp, fixed, 48, {}, ctx)];
  };

  it('a stat session beside a record session: each event gets its own counter, both count exactly', () => {
    const port = new RecordingPort();
    const [st, rec] = twoSessions(8, 4, stat(['instructions', 'branches']), record(['cycles', 'branches'], { periodEvents: 1_000_000 }));
    const rates = perNs(2, { branches: 0.5 });
    rec.start(port, 0);
    drive(rec, port, 0, 10 * TICK, rates);
    st.start(port, 10 * TICK);
    const counters = [...st.events, ...rec.events].map((e) => e.counter);
    expect(new Set(counters).size).toBe(4); // no counter programmed by both sessions
    drive(st, port, 10 * TICK, 60 * TICK, rates);
    st.stop(port, 60 * TICK);
    rec.stop(port, 60 * TICK);
    const stats = st.readings(() => 0n, 60 * TICK);
    expect(stats.map((r) => r.count)).toEqual([2 * 50 * TICK, 0.5 * 50 * TICK]);
    const recs = rec.readings(() => 0n, 60 * TICK);
    expect(recs.map((r) => r.count)).toEqual([4 * 60 * TICK, 0.5 * 60 * TICK]);
    // -c 1000000 on cycles at 4/ns for 240 ms: one sample per period, none lost to the stat session.
    expect(rec.events[0].samples).toBe((4 * 60 * TICK) / 1_000_000);
  });

  it('the fixed counter control keeps the other session\'s fields (one register, a field per counter)', () => {
    const port = new RecordingPort();
    const [a, b] = twoSessions(8, 4, stat(['instructions']), stat(['cycles']));
    a.start(port, 0);
    b.start(port, TICK);
    const ctrl = port.pmu.rdmsr(MSR.FIXED_CTR_CTRL);
    expect(ctrl.ok && (ctrl.value & 0xffn)).toBe(0xbbn); // fixed 0 and 1 both OS|USR|PMI
  });

  it('when they do not fit the sessions multiplex together; each count scales to the exact total', () => {
    const port = new RecordingPort({ gpCounters: 2, fixedCounters: 0 });
    const [a, b] = twoSessions(2, 0, stat(['branches', 'branch-misses']), stat(['cache-misses']));
    const rates = perNs(1, { branches: 0.5, 'branch-misses': 0.25, 'cache-misses': 0.125 });
    a.start(port, 0);
    b.start(port, 0);
    expect(a.multiplexed && b.multiplexed).toBe(true);
    drive(a, port, 0, 300 * TICK, rates);
    a.stop(port, 300 * TICK);
    b.stop(port, 300 * TICK);
    const rows = [...a.readings(() => 0n, 300 * TICK), ...b.readings(() => 0n, 300 * TICK)];
    for (const r of rows) {
      expect(r.timeRunningNs).toBe(200 * TICK); // two counters for three events: 2/3 of the time each
      expect(r.timeEnabledNs).toBe(300 * TICK);
    }
    expect(rows.map((r) => r.scaledCount)).toEqual([0.5, 0.25, 0.125].map((q) => q * 300 * TICK));
  });

  it('a session that stops frees its counters for the others at the next rotation', () => {
    const port = new RecordingPort({ gpCounters: 1, fixedCounters: 0 });
    const [a, b] = twoSessions(1, 0, stat(['branches']), stat(['cache-misses']));
    a.start(port, 0);
    b.start(port, 0);
    a.stop(port, TICK / 2);
    b.tick(port, TICK);
    expect(b.events[0].counter).toBe(0);
  });
});

describe('GuestPerfVcpu: sampling', () => {
  it('-c period: one sample per period', () => {
    const port = new RecordingPort();
    const s = new GuestPerfVcpu(record(['instructions'], { periodEvents: 1_000_000 }), 8, 4, 48);
    s.start(port, 0);
    expect(drive(s, port, 0, 100_000_000, perNs(2))).toBe(200); // 2e8 instructions in 100 ms
    expect(s.events[0].samples).toBe(200);
  });

  it.each([0, 2_000, 100_000])('-F 1000 (PMI latency %i ns): the period converges toward rate / freq, ~1000 samples per second', (latencyNs) => {
    const port = new RecordingPort();
    const s = new GuestPerfVcpu(record(['instructions'], { freqHz: 1000 }), 8, 4, 48);
    s.start(port, 0);
    drive(s, port, 0, 1_000_000_000, perNs(2), latencyNs);
    const before = s.events[0].samples;
    drive(s, port, 1_000_000_000, 2_000_000_000, perNs(2), latencyNs);
    expect(Math.abs(s.events[0].samplePeriod - 2_000_000) / 2_000_000).toBeLessThan(0.05);
    expect(Math.abs(s.events[0].samples - before - 1000)).toBeLessThan(30);
  });

  it('-F with a guest clock blind to PMI latency overshoots the period (why the world passes kvmclock time)', () => {
    // The handler sees its own guest-run clock advance by the skid only while the period ramps up
    // from 1: perf_adjust_period overestimates the rate by orders of magnitude.
    const port = new RecordingPort();
    const s = new GuestPerfVcpu(record(['cycles'], { freqHz: 1000 }), 8, 4, 48);
    s.start(port, 0);
    let t = 0;
    for (let i = 0; i < 4; i++) {
      port.pmu.advance(port.pmu.nextOverflowInNs(perNs(1.5), GUEST_USER) + 100, perNs(1.5), GUEST_USER);
      t += 100; // the guest's run time between PMIs: the skid; the host's exit and injection time is not in it
      s.pmi(port, t, t);
    }
    expect(s.events[0].samplePeriod).toBeGreaterThan(100 * 3_000_000);
  });

  it('freq mode: each tick stops, reads, reloads and restarts the event (perf_adjust_freq_unthr_context)', () => {
    const port = new RecordingPort({ gpCounters: 1, fixedCounters: 0 });
    const s = new GuestPerfVcpu(record(['branches'], { freqHz: 1000 }), 1, 0, 48);
    s.start(port, 0);
    port.take();
    port.pmu.advance(1, perNs(2, { branches: 1 }), GUEST_USER);
    port.pmu.takeOverflows();
    s.tick(port, TICK);
    expect(port.take().map((a) => `${a.op} ${a.msr.toString(16)}`)).toEqual(['wrmsr 38f', 'wrmsr 186', 'rdpmc 0', 'wrmsr 4c1', 'wrmsr 186', 'wrmsr 38f']);
  });

  it('more than max_sample_rate/HZ interrupts in a tick throttle the event until the next tick', () => {
    const port = new RecordingPort({ gpCounters: 1, fixedCounters: 0 });
    const s = new GuestPerfVcpu(record(['branches'], { periodEvents: 10 }), 1, 0, 48, { maxSampleRateHz: 1000 });
    s.start(port, 0);
    const rates = perNs(2, { branches: 1 });
    for (let i = 1; i <= 4; i++) {
      port.pmu.advance(10, rates, GUEST_USER);
      s.pmi(port, 10 * i);
    }
    // 1000 Hz / 250 = 4 per tick: the 5th interrupt throttles.
    expect(s.events[0].throttled).toBe(false);
    port.take();
    port.pmu.advance(10, rates, GUEST_USER);
    s.pmi(port, 50);
    expect(port.take()).toContainEqual(w(MSR.IA32_PERFEVTSEL0, 0x1300c4n)); // stopped: EN clear
    expect(s.events[0].throttled).toBe(true);
    s.tick(port, TICK);
    expect(port.take()).toContainEqual(w(MSR.IA32_PERFEVTSEL0, 0x5300c4n));
    expect(s.events[0].throttled).toBe(false);
  });

  it('logs each throttle and unthrottle as perf_log_throttle does (kernel/events/core.c: __perf_event_account_interrupt, perf_adjust_freq_unthr_context)', () => {
    const port = new RecordingPort({ gpCounters: 2, fixedCounters: 0 });
    const s = new GuestPerfVcpu(record(['instructions', 'branches'], { periodEvents: 10 }), 2, 0, 48, { maxSampleRateHz: 1000 });
    s.start(port, 0);
    // branches overflow at half the rate of instructions: only instructions passes 4 per tick.
    const rates = perNs(2, { instructions: 1, branches: 0.5 });
    for (let i = 1; i <= 5; i++) {
      port.pmu.advance(10, rates, GUEST_USER);
      s.pmi(port, 10 * i);
    }
    expect(s.ctx.takeThrottleLog()).toEqual([{ session: 'r', eventIndex: 0, event: 'instructions', throttled: true }]);
    expect(s.ctx.takeThrottleLog()).toEqual([]); // taken once
    s.tick(port, TICK);
    expect(s.ctx.takeThrottleLog()).toEqual([{ session: 'r', eventIndex: 0, event: 'instructions', throttled: false }]);
    s.tick(port, 2 * TICK);
    expect(s.ctx.takeThrottleLog()).toEqual([]);
  });

  it('a throttled event scheduled back in is unthrottled at once (kernel/events/core.c event_sched_in: interrupts == MAX_INTERRUPTS)', () => {
    const port = new RecordingPort({ gpCounters: 2, fixedCounters: 0 });
    const ctx = new GuestPmuContext(2, 0);
    const a = new GuestPerfVcpu(record(['branches'], { periodEvents: 10 }), 2, 0, 48, { maxSampleRateHz: 1000 }, ctx);
    const b = new GuestPerfVcpu({ ...stat(['cycles']), id: 'b' }, 2, 0, 48, {}, ctx);
    a.start(port, 0);
    const rates = perNs(2, { branches: 1 });
    for (let i = 1; i <= 5; i++) {
      port.pmu.advance(10, rates, GUEST_USER);
      a.pmi(port, 10 * i);
    }
    expect(a.events[0].throttled).toBe(true);
    ctx.takeThrottleLog();
    port.take();
    // perf_install_in_context of b: ctx_resched schedules a's event out and back in.
    b.start(port, 60);
    expect(a.events[0].throttled).toBe(false);
    expect(ctx.takeThrottleLog()).toEqual([{ session: 'r', eventIndex: 0, event: 'branches', throttled: false }]);
    expect(port.take()).toContainEqual(w(MSR.IA32_PERFEVTSEL0 + a.events[0].counter, 0x5300c4n)); // enabled again
  });
});

describe('perf stat output', () => {
  it('scaling', () => {
    expect(scaleCount(90, 100, 90)).toBe(100);
    expect(scaleCount(90, 100, 0)).toBe(0);
    expect(scaleCount(90, 90, 90)).toBe(90);
  });
});
