import { MSR } from '@vpmu/pmu';
import type { GuestPerfSpec } from '@vpmu/scenario';
import { GuestPerfSession, scaleCount, sumGuestPerfReports, type GuestPmuShape, type PmuAccess } from './guest-perf';

const SPR: GuestPmuShape = { gp: 8, fixed: 4, widthBits: 48 };
const W48 = 2 ** 48;
const MAX_PERIOD = 2 ** 47 - 1;
const ALL_ON = 0xff + 0xf * 2 ** 32;
const TICK = 4_000_000;

function stat(events: string[]): GuestPerfSpec {
  return { id: 's', command: 'stat', events, allCpus: true, callGraph: 'none', startNs: 0 };
}
function record(events: string[], sample: GuestPerfSpec['sample']): GuestPerfSpec {
  return { id: 'r', command: 'record', events, sample, allCpus: true, callGraph: 'none', startNs: 0 };
}
const w = (msr: number, value: number): PmuAccess => ({ op: 'wrmsr', msr, value });

/**
 * A minimal world: every enabled guest counter counts `ratePerNs(event)` events per ns; the loop
 * stops at the first overflow (PMI) or tick, whichever comes first, and credits the counts.
 */
function drive(s: GuestPerfSession, fromNs: number, toNs: number, ratePerNs: (event: string) => number, log?: PmuAccess[][]): void {
  let t = fromNs;
  let nextTick = fromNs + TICK;
  while (t < toNs) {
    const plan = s.counters().filter((c) => c.enabled && ratePerNs(c.event) > 0);
    let tNext = Math.min(nextTick, toNs);
    for (const c of plan) tNext = Math.min(tNext, t + Math.ceil(c.eventsToOverflow / ratePerNs(c.event)));
    const dt = tNext - t;
    const counts = new Map<number, number>();
    const overflowed: number[] = [];
    for (const c of plan) {
      const n = ratePerNs(c.event) * dt;
      counts.set(c.counterId, n);
      if (n >= c.eventsToOverflow) overflowed.push(c.counterId);
    }
    t = tNext;
    // (not `log?.push(s.onPmi(...))`: optional chaining would skip the call itself)
    const pmi = overflowed.length > 0 ? s.onPmi(t, counts, overflowed) : (s.sync(t, counts), []);
    if (pmi.length > 0) log?.push(pmi);
    if (t === nextTick) {
      const tick = s.onTick(t);
      log?.push(tick);
      nextTick += TICK;
    }
  }
}

describe('GuestPerfSession: counter assignment', () => {
  it('fixed counters for instructions / cycles / ref-cycles / slots, GP for the rest', () => {
    const s = new GuestPerfSession(stat(['branches', 'instructions', 'cycles', 'ref-cycles', 'topdown-slots', 'cache-misses']), SPR);
    s.start(0);
    expect(s.counters().map((c) => [c.event, c.counterId])).toEqual([
      ['branches', 0],
      ['cache-misses', 1],
      ['instructions', 32],
      ['cycles', 33],
      ['ref-cycles', 34],
      ['topdown-slots', 35],
    ]);
  });

  it('without fixed counters: instructions on GP, ref-cycles and slots <not supported>', () => {
    const s = new GuestPerfSession(stat(['instructions', 'ref-cycles', 'topdown-slots']), { gp: 4, fixed: 0, widthBits: 48 });
    s.start(0);
    expect(s.counters().map((c) => [c.event, c.counterId])).toEqual([['instructions', 0]]);
    s.stop(TICK);
    expect(s.report().map((r) => [r.event, r.supported, r.timeEnabledNs])).toEqual([
      ['instructions', true, TICK],
      ['ref-cycles', false, 0],
      ['topdown-slots', false, 0],
    ]);
  });

  it('no PMU at all (vpmu none): every event unsupported, no accesses beyond GLOBAL_CTRL', () => {
    const s = new GuestPerfSession(stat(['instructions']), { gp: 0, fixed: 0, widthBits: 48 });
    expect(s.start(0)).toEqual([w(MSR.PERF_GLOBAL_CTRL, 0), w(MSR.PERF_GLOBAL_CTRL, 0)]);
    expect(s.report()[0].supported).toBe(false);
  });
});

describe('GuestPerfSession: MSR sequences', () => {
  it('start: GLOBAL_CTRL off, per counter the period write then the enable, GLOBAL_CTRL on', () => {
    const s = new GuestPerfSession(stat(['instructions', 'branches']), SPR);
    expect(s.start(0)).toEqual([
      w(MSR.PERF_GLOBAL_CTRL, 0),
      w(MSR.IA32_A_PMC0, W48 - MAX_PERIOD), // branches on GP0, counting: max_period
      w(MSR.IA32_PERFEVTSEL0, 0x5300c4), // USR|OS|INT|EN, event 0xc4
      w(MSR.FIXED_CTR0, W48 - MAX_PERIOD), // instructions on fixed 0
      w(MSR.FIXED_CTR_CTRL, 0xb), // PMI|USR|OS for fixed 0
      w(MSR.PERF_GLOBAL_CTRL, ALL_ON),
    ]);
  });

  it('without full-width writes the period goes to IA32_PMCx and max_period is 2^31-1', () => {
    const s = new GuestPerfSession(stat(['branches']), { ...SPR, fullWidthWrites: false });
    expect(s.start(0)[1]).toEqual(w(MSR.IA32_PMC0, W48 - (2 ** 31 - 1)));
  });

  it('stop: disable and read each counter between GLOBAL_CTRL off/on', () => {
    const s = new GuestPerfSession(stat(['instructions', 'branches']), SPR);
    s.start(0);
    const out = s.stop(1000, new Map([[0, 10], [32, 20]]));
    expect(out).toEqual([
      w(MSR.PERF_GLOBAL_CTRL, 0),
      // flexible_active order = list order: instructions (fixed 0) first
      w(MSR.FIXED_CTR_CTRL, 0),
      { op: 'rdpmc', msr: 0x4000_0000, value: W48 - MAX_PERIOD + 20 },
      w(MSR.IA32_PERFEVTSEL0, 0x1300c4), // EN cleared
      { op: 'rdpmc', msr: 0, value: W48 - MAX_PERIOD + 10 },
      w(MSR.PERF_GLOBAL_CTRL, ALL_ON),
    ]);
    expect(s.report().map((r) => r.count)).toEqual([20, 10]);
  });

  it('PMI handler: GLOBAL_CTRL off, read STATUS, ack OVF_CTRL, per counter RDPMC + re-arm, STATUS again, GLOBAL_CTRL on', () => {
    const s = new GuestPerfSession(record(['branches'], { periodEvents: 1000 }), SPR);
    s.start(0);
    const [plan] = s.counters();
    expect(plan.eventsToOverflow).toBe(1000);
    expect(s.onPmi(500, new Map([[0, 1000]]), [0])).toEqual([
      w(MSR.PERF_GLOBAL_CTRL, 0),
      { op: 'rdmsr', msr: MSR.PERF_GLOBAL_STATUS, value: 1 },
      w(MSR.PERF_GLOBAL_OVF_CTRL, 1),
      { op: 'rdpmc', msr: 0, value: 0 },
      w(MSR.IA32_A_PMC0, W48 - 1000),
      { op: 'rdmsr', msr: MSR.PERF_GLOBAL_STATUS, value: 0 },
      w(MSR.PERF_GLOBAL_CTRL, ALL_ON),
    ]);
    expect(s.report()[0].samples).toBe(1);
    // A spurious bit (no event on that counter) is only acknowledged.
    const spurious = s.onPmi(600, new Map(), [3]);
    expect(spurious.filter((a) => a.op === 'rdpmc')).toEqual([]);
    expect(s.report()[0].samples).toBe(1);
  });

  it('counting events overflow only to fold the count: no samples', () => {
    const s = new GuestPerfSession(stat(['branches']), { gp: 1, fixed: 0, widthBits: 48 });
    s.start(0);
    s.onPmi(10, new Map([[0, MAX_PERIOD]]), [0]);
    expect(s.report()[0]).toMatchObject({ count: MAX_PERIOD, samples: 0 });
  });
});

describe('GuestPerfSession: multiplexing (rotation every 4 ms tick)', () => {
  const instructions = (n: number) => Array.from({ length: n }, () => 'instructions');

  it('6 instructions events fit (fixed 0 + 5 GP): no rotation, running == enabled', () => {
    const s = new GuestPerfSession(stat(instructions(6)), SPR);
    s.start(0);
    const log: PmuAccess[][] = [];
    drive(s, 0, 100 * TICK, () => 3, log);
    expect(log.flat()).toEqual([]); // counting, no rotation: nothing to do at ticks
    s.stop(100 * TICK);
    for (const r of s.report()) expect(r).toMatchObject({ count: 300 * TICK, timeEnabledNs: 100 * TICK, timeRunningNs: 100 * TICK, scaledCount: 300 * TICK });
  });

  it('10 instructions events on 9 counters: each runs 9/10 of the time, scaled counts are exact', () => {
    const s = new GuestPerfSession(stat(instructions(10)), SPR);
    s.start(0);
    expect(s.counters()).toHaveLength(9);
    const log: PmuAccess[][] = [];
    drive(s, 0, 250 * TICK, () => 2, log);
    s.stop(250 * TICK);
    const rows = s.report();
    for (const r of rows) {
      expect(r.timeEnabledNs).toBe(250 * TICK);
      expect(r.timeRunningNs).toBe(225 * TICK);
      expect(r.count).toBe(2 * 225 * TICK);
      expect(r.scaledCount).toBe(2 * 250 * TICK);
    }
    // Every rotation stops and restarts all nine counters: 2 GLOBAL_CTRL writes + 9 x (disable,
    // rdpmc) + 9 x (period write, enable) = 38 accesses per tick.
    const rotations = log.filter((l) => l.length > 0);
    expect(rotations).toHaveLength(250);
    expect(rotations.every((l) => l.length === 38)).toBe(true);
  });

  it('rotation moves the first active event to the end of the list', () => {
    const s = new GuestPerfSession(stat(['branches', 'branch-misses', 'cache-misses']), { gp: 2, fixed: 0, widthBits: 48 });
    s.start(0);
    expect(s.counters().map((c) => c.eventIndex)).toEqual([0, 1]);
    s.onTick(TICK);
    expect(s.counters().map((c) => c.eventIndex).sort()).toEqual([1, 2]);
    s.onTick(2 * TICK);
    expect(s.counters().map((c) => c.eventIndex).sort()).toEqual([0, 2]);
  });
});

describe('GuestPerfSession: sampling', () => {
  it('-c period: one sample per period', () => {
    const s = new GuestPerfSession(record(['instructions'], { periodEvents: 1_000_000 }), SPR);
    s.start(0);
    drive(s, 0, 100_000_000, () => 2); // 2e8 instructions in 100 ms
    s.stop(100_000_000);
    expect(s.report()[0]).toMatchObject({ count: 200_000_000, samples: 200 });
  });

  it('-F 1000: the period converges toward rate / freq, ~1000 samples per second', () => {
    const s = new GuestPerfSession(record(['instructions'], { freqHz: 1000 }), SPR);
    s.start(0);
    drive(s, 0, 1_000_000_000, () => 2);
    const before = s.report()[0].samples;
    drive(s, 1_000_000_000, 2_000_000_000, () => 2);
    const r = s.report()[0];
    expect(Math.abs(r.samplePeriod - 2_000_000) / 2_000_000).toBeLessThan(0.02);
    expect(Math.abs(r.samples - before - 1000)).toBeLessThan(20);
  });

  it('freq mode: each tick stops, reads, reloads and restarts the event (perf_adjust_freq_unthr_context)', () => {
    const s = new GuestPerfSession(record(['branches'], { freqHz: 1000 }), { gp: 1, fixed: 0, widthBits: 48 });
    s.start(0);
    const out = s.onTick(TICK, new Map([[0, 1]]));
    expect(out.map((a) => `${a.op} ${a.msr.toString(16)}`)).toEqual(['wrmsr 38f', 'wrmsr 186', 'rdpmc 0', 'wrmsr 4c1', 'wrmsr 186', 'wrmsr 38f']);
  });

  it('more than max_sample_rate/HZ interrupts in a tick throttle the event until the next tick', () => {
    const s = new GuestPerfSession(record(['branches'], { periodEvents: 10 }), { gp: 1, fixed: 0, widthBits: 48 }, { maxSampleRateHz: 1000 });
    s.start(0);
    for (let i = 1; i <= 4; i++) s.onPmi(i, new Map([[0, 10]]), [0]);
    // 1000 Hz / 250 = 4 per tick: the 5th interrupt throttles.
    expect(s.counters()[0].enabled).toBe(true);
    const out = s.onPmi(5, new Map([[0, 10]]), [0]);
    expect(out).toContainEqual(w(MSR.IA32_PERFEVTSEL0, 0x1300c4)); // stopped: EN clear
    expect(s.counters()[0].enabled).toBe(false);
    expect(s.onTick(TICK)).toContainEqual(w(MSR.IA32_PERFEVTSEL0, 0x5300c4));
    expect(s.counters()[0].enabled).toBe(true);
  });
});

describe('perf stat output', () => {
  it('scaling and -a sums', () => {
    expect(scaleCount(90, 100, 90)).toBe(100);
    expect(scaleCount(90, 100, 0)).toBe(0);
    const row = { event: 'instructions', index: 0, supported: true, samples: 1, samplePeriod: 1 };
    const sum = sumGuestPerfReports([
      [{ ...row, count: 90, scaledCount: 100, timeEnabledNs: 100, timeRunningNs: 90 }],
      [{ ...row, count: 100, scaledCount: 100, timeEnabledNs: 100, timeRunningNs: 100 }],
    ]);
    expect(sum[0]).toMatchObject({ count: 190, timeEnabledNs: 200, timeRunningNs: 190, scaledCount: 200, samples: 2 });
  });
});
