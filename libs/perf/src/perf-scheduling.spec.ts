import fc from 'fast-check';
import { EventRates, MODE_GUEST, MODE_HOST } from '@vpmu/pmu';
import { MS, RATES, host, runAll } from './testing/perf-core.fixture';

const ok = (r: { ok: boolean }) => {
  expect(r).toMatchObject({ ok: true });
};

describe('perf counting', () => {
  it('a per-CPU counting event counts rate x time, enabled == running', () => {
    const { core } = host();
    ok(core.createEvent({ event: 'branches' }, { cpu: 0, id: 'b' }, 0));
    runAll(core, 10 * MS);
    expect(core.read('b', 10 * MS)).toMatchObject({ state: 'active', count: 5 * MS, scaledCount: 5 * MS, timeEnabledNs: 10 * MS, timeRunningNs: 10 * MS });
  });

  it('exclude_user / exclude_kernel split by privilege; exclude_guest / exclude_host by guest mode', () => {
    const { core } = host();
    ok(core.createEvent({ event: 'instructions', excludeKernel: true }, { cpu: 0, id: 'u' }, 0));
    ok(core.createEvent({ event: 'instructions', excludeUser: true }, { cpu: 0, id: 'k' }, 0));
    ok(core.createEvent({ event: 'instructions', excludeGuest: true }, { cpu: 0, id: 'host' }, 0));
    ok(core.createEvent({ event: 'instructions', excludeHost: true }, { cpu: 0, id: 'guest' }, 0));
    const c = core.cpus[0];
    c.advanceTo(1000, RATES, MODE_HOST);
    c.advanceTo(3000, RATES, MODE_GUEST); // an emulated-vPMU guest: no perf guest enter/exit
    const r = (id: string) => core.read(id, 3000)!.count;
    expect([r('u'), r('k'), r('host'), r('guest')]).toEqual([4500, 1500, 2000, 4000]);
  });

  it('instructions/cycles prefer fixed counters; ref-cycles is fixed-only; arm has no ref-cycles', () => {
    const { core } = host('intel-skx', 1);
    ok(core.createEvent({ event: 'ref-cycles' }, { cpu: 0, id: 'r1' }, 0));
    ok(core.createEvent({ event: 'ref-cycles' }, { cpu: 0, id: 'r2' }, 0));
    runAll(core, MS);
    expect(core.read('r1', MS)!.timeRunningNs).toBe(MS);
    expect(core.read('r2', MS)!.state).toBe('inactive'); // only fixed counter 2 can count it
    const arm = host('arm-a76-a55', 2).core;
    expect(arm.createEvent({ event: 'ref-cycles' }, { cpu: 0 }, 0)).toMatchObject({ ok: false, errno: 'ENOENT' });
    // cache-references exists on the big core (cpu0) only
    expect(arm.createEvent({ event: 'cache-references' }, { cpu: 0 }, 0)).toMatchObject({ ok: true });
    expect(arm.createEvent({ event: 'cache-references' }, { cpu: 1 }, 0)).toMatchObject({ ok: false, errno: 'ENOENT' });
  });

  it('argument errors: EINVAL and ENOENT as perf_event_open(2)', () => {
    const { core } = host();
    expect(core.createEvent({ event: 'cycles', sampleFreqHz: 100_001 }, { cpu: 0 }, 0)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(core.createEvent({ event: 'cycles', sampleFreqHz: 100_000 }, { cpu: 0 }, 0)).toMatchObject({ ok: true });
    expect(core.createEvent({ event: 'cycles' }, {}, 0)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(core.createEvent({ event: 'cycles' }, { cpu: 9 }, 0)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(core.createEvent({ event: 'uncore-clockticks' }, { task: 't' }, 0)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(core.createEvent({ event: 'bogus' }, { cpu: 0 }, 0)).toMatchObject({ ok: false, errno: 'ENOENT' });
    expect(core.createEvent({ event: 'cycles', samplePeriod: 0 }, { cpu: 0 }, 0)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(core.createEvent({ event: 'cycles', samplePeriod: 10, sampleFreqHz: 10 }, { cpu: 0 }, 0)).toMatchObject({ ok: false, errno: 'EINVAL' });
    ok(core.createEvent({ event: 'cycles' }, { cpu: 0, id: 'L' }, 0));
    expect(core.createEvent({ event: 'cycles' }, { cpu: 1, groupLeader: 'L' }, 0)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(core.createEvent({ event: 'cycles', pinned: true }, { cpu: 0, groupLeader: 'L' }, 0)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(core.createEvent({ event: 'cycles' }, { cpu: 0, id: 'L' }, 0)).toMatchObject({ ok: false, errno: 'EINVAL' });
  });
});

describe('perf scheduling', () => {
  it('pinned groups go first; a pinned group that cannot fit goes to ERROR and reads 0 until re-enabled', () => {
    const { core, records } = host('intel-skx', 1); // 4 GP counters
    for (let i = 0; i < 4; i++) ok(core.createEvent({ event: 'branches' }, { cpu: 0, id: `f${i}` }, 0));
    ok(core.createEvent({ event: 'branches', pinned: true }, { cpu: 0, id: 'p' }, 0));
    runAll(core, MS);
    expect(core.read('p', MS)).toMatchObject({ state: 'active', timeRunningNs: MS });
    // A pinned group of 4 cannot fit beside p: ERROR
    ok(core.createEvent({ event: 'branches', pinned: true }, { cpu: 0, id: 'G' }, MS));
    for (let i = 0; i < 3; i++) ok(core.createEvent({ event: 'branches' }, { cpu: 0, groupLeader: 'G', id: `g${i}` }, MS));
    runAll(core, 2 * MS);
    expect(core.read('G', 2 * MS)).toMatchObject({ state: 'error', count: 0, scaledCount: 0 });
    expect(records).toContainEqual(expect.objectContaining({ kind: 'perfState', eventId: 'G', to: 'error', cause: 'pinned-no-counter' }));
    core.close('p', 2 * MS);
    core.enable('G', 2 * MS);
    runAll(core, 3 * MS);
    expect(core.read('G', 3 * MS)).toMatchObject({ state: 'active', count: MS / 2 });
    expect(core.read('g2', 3 * MS)).toMatchObject({ state: 'active', count: MS / 2 });
  });

  it('6 flexible events on 4 counters: each runs 4/6 of the time, scaled counts are exact at constant rate', () => {
    const { core } = host('intel-skx', 1);
    for (let i = 0; i < 6; i++) ok(core.createEvent({ event: 'branches' }, { cpu: 0, id: `e${i}` }, 0));
    const end = 6 * 4 * MS * 5; // five full rotation cycles
    runAll(core, end);
    for (let i = 0; i < 6; i++) {
      const r = core.read(`e${i}`, end)!;
      expect(r.timeEnabledNs).toBe(end);
      expect(r.timeRunningNs / r.timeEnabledNs).toBeCloseTo(4 / 6, 10);
      expect(r.scaledCount).toBe(end / 2);
    }
  });

  it('10 instructions events on SPR (fixed 0 + 8 GP = 9 slots): each runs 9/10', () => {
    const { core } = host('intel-spr', 1);
    for (let i = 0; i < 10; i++) ok(core.createEvent({ event: 'instructions' }, { cpu: 0, id: `i${i}` }, 0));
    const end = 10 * 4 * MS * 3;
    runAll(core, end);
    for (let i = 0; i < 10; i++) expect(core.read(`i${i}`, end)!.timeRunningNs / end).toBeCloseTo(0.9, 10);
  });

  it('groups are all-or-nothing and a failed flexible group stops later groups of the pass (can_add_hw)', () => {
    const { core } = host('intel-skx', 1);
    ok(core.createEvent({ event: 'branches' }, { cpu: 0, id: 'A' }, 0));
    for (let i = 0; i < 2; i++) ok(core.createEvent({ event: 'branches' }, { cpu: 0, groupLeader: 'A', id: `a${i}` }, 0));
    ok(core.createEvent({ event: 'branches' }, { cpu: 0, id: 'B' }, 0));
    for (let i = 0; i < 2; i++) ok(core.createEvent({ event: 'branches' }, { cpu: 0, groupLeader: 'B', id: `b${i}` }, 0));
    ok(core.createEvent({ event: 'branch-misses' }, { cpu: 0, id: 'C' }, 0)); // would fit, but comes after B failed
    runAll(core, 1000);
    expect(['A', 'a0', 'a1', 'B', 'b0', 'C'].map((id) => core.read(id, 1000)!.state)).toEqual(['active', 'active', 'active', 'inactive', 'inactive', 'inactive']);
    const end = 2 * 4 * MS * 4;
    runAll(core, end);
    const runA = core.read('A', end)!.timeRunningNs;
    expect(core.read('a1', end)!.timeRunningNs).toBe(runA);
    expect(core.read('B', end)!.timeRunningNs).toBe(core.read('b1', end)!.timeRunningNs);
    expect(runA + core.read('B', end)!.timeRunningNs).toBe(end);
  });

  it('property: n flexible single-event groups on k counters run k/n of the time (±1 mux interval) and scaled counts stay within the multiplexing bound', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ dtMs: fc.integer({ min: 1, max: 30 }), rate: fc.double({ min: 0, max: 3, noNaN: true }) }), { minLength: 1, maxLength: 12 }),
        (n, k, segments) => {
          const { core } = host('intel-skx', 1, {}, { gpCounters: k });
          for (let i = 0; i < n; i++) ok(core.createEvent({ event: 'branches' }, { cpu: 0, id: `e${i}` }, 0));
          let t = 0;
          let trueCount = 0;
          let rmin = Infinity;
          let rmax = 0;
          for (const s of segments) {
            const rates = EventRates.of({ branches: s.rate });
            t += s.dtMs * MS;
            core.cpus[0].advanceTo(t, rates, MODE_HOST);
            trueCount += rates.ratePerNs('branches') * s.dtMs * MS;
            rmin = Math.min(rmin, rates.ratePerNs('branches'));
            rmax = Math.max(rmax, rates.ratePerNs('branches'));
          }
          const mux = 4 * MS;
          for (let i = 0; i < n; i++) {
            const r = core.read(`e${i}`, t)!;
            expect(r.timeEnabledNs).toBe(t);
            const fit = Math.min(1, k / n);
            // Over c full cycles of n intervals each group runs k intervals; partial cycles add at most k intervals of error.
            expect(Math.abs(r.timeRunningNs - fit * t)).toBeLessThanOrEqual(k * mux + 1);
            if (r.timeRunningNs > 0) expect(Math.abs(r.scaledCount - trueCount)).toBeLessThanOrEqual((rmax - rmin) * t + t / r.timeRunningNs + 1);
            if (n <= k) expect(Math.abs(r.scaledCount - trueCount)).toBeLessThanOrEqual(1);
          }
        },
      ),
      // A fixed seed: a property run in CI must not pass or fail by the draw (the known edge below
      // was found by an unseeded run).
      { numRuns: 60, seed: 20261202 },
    );
  });

  // Found by the property above with a random seed: after a long slow segment, a counter that
  // reaches exactly its period inside a 1 ns segment with no PMI skid overflows at the very end
  // of the advance; the PMI is due at that instant and must be handled before the caller reads
  // (perf_event_overflow runs in the NMI at the overflow, kernel/events/core.c), not at the next
  // advance.
  it('a period reached inside a 1 ns segment after a slow one takes its sample', () => {
    const period = 8;
    const { core } = host('intel-icx', 1, { emitPmis: false }, { pmiSkidNs: 0 });
    ok(core.createEvent({ event: 'instructions', samplePeriod: period }, { cpu: 0, id: 's' }, 0));
    const c = core.cpus[0];
    let t = 0;
    for (const s of [{ dt: 65536, rate: 0.00002288818359375 }, { dt: 1, rate: 5.999992370605469 }]) {
      const rates = EventRates.of({ instructions: s.rate });
      t += s.dt;
      while (c.nowNs < t) c.advanceTo(Math.min(t, c.nextDeadlineNs(rates, MODE_HOST)), rates, MODE_HOST);
    }
    const r = core.read('s', t)!;
    expect(r.samples).toBe(Math.floor(r.count / period));
  });
});

describe('per-task contexts', () => {
  it('task events count only while their thread runs; task pinned goes before CPU flexible', () => {
    const { core } = host('intel-skx', 2);
    for (let i = 0; i < 4; i++) ok(core.createEvent({ event: 'branches' }, { cpu: 0, id: `cf${i}` }, 0));
    ok(core.createEvent({ event: 'branches', pinned: true }, { task: 't1', id: 'tp' }, 0));
    ok(core.createEvent({ event: 'instructions' }, { task: 't1', id: 'ti' }, 0));
    runAll(core, MS);
    expect(core.read('tp', MS)).toMatchObject({ state: 'inactive', timeEnabledNs: 0, count: 0 });
    core.cpus[0].schedIn('t1', MS);
    expect(core.read('tp', MS)!.state).toBe('active');
    expect(['cf0', 'cf1', 'cf2', 'cf3'].filter((id) => core.read(id, MS)!.state === 'active').length).toBe(3);
    runAll(core, 2 * MS);
    core.cpus[0].schedOut(2 * MS);
    core.cpus[1].schedIn('t1', 2 * MS); // migrates to cpu1
    runAll(core, 4 * MS);
    core.cpus[1].schedOut(4 * MS);
    runAll(core, 5 * MS);
    expect(core.read('tp', 5 * MS)).toMatchObject({ timeEnabledNs: 3 * MS, timeRunningNs: 3 * MS, count: 1.5 * MS });
    expect(core.read('ti', 5 * MS)).toMatchObject({ timeEnabledNs: 3 * MS, count: 6 * MS });
  });

  it('guest-only per-task flexible events (how KVM backs emulated guest counters) count guest mode of the vCPU thread', () => {
    const { core } = host('intel-skx', 1);
    ok(core.createEvent({ event: 'instructions', excludeHost: true }, { task: 'vcpu0', id: 'g' }, 0));
    const c = core.cpus[0];
    c.schedIn('vcpu0', 0);
    c.advanceTo(1000, RATES, MODE_HOST);
    c.advanceTo(2000, RATES, MODE_GUEST);
    c.schedOut(2000);
    c.advanceTo(3000, RATES, MODE_GUEST);
    expect(core.read('g', 3000)).toMatchObject({ count: 2000, timeEnabledNs: 2000 });
  });

  it('closing a leader promotes its siblings to singleton groups; a closed event keeps its final reading', () => {
    const { core } = host('intel-skx', 1);
    ok(core.createEvent({ event: 'branches' }, { cpu: 0, id: 'L' }, 0));
    ok(core.createEvent({ event: 'instructions' }, { cpu: 0, id: 's', groupLeader: 'L' }, 0));
    runAll(core, 1000);
    expect(core.close('L', 1000)).toBe(true);
    runAll(core, 2000);
    expect(core.read('L', 2000)).toMatchObject({ count: 500, state: 'active' });
    expect(core.read('s', 2000)).toMatchObject({ count: 4000, state: 'active' });
    expect(core.readAll(2000).map((r) => r.id)).toEqual(['L', 's']);
  });
});

describe('perf sampling', () => {
  it('property: with a fixed period and no skid, samples == floor(count / period)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 8, max: 200_000 }),
        fc.array(fc.record({ dt: fc.integer({ min: 1, max: 2 * MS }), rate: fc.double({ min: 0, max: 6, noNaN: true }) }), { minLength: 1, maxLength: 10 }),
        (period, segs) => {
          const { core } = host('intel-icx', 1, { emitPmis: false }, { pmiSkidNs: 0 });
          ok(core.createEvent({ event: 'instructions', samplePeriod: period }, { cpu: 0, id: 's' }, 0));
          const c = core.cpus[0];
          let t = 0;
          for (const s of segs) {
            const rates = EventRates.of({ instructions: s.rate });
            t += s.dt;
            // the world's loop: advance to each deadline
            while (c.nowNs < t) c.advanceTo(Math.min(t, c.nextDeadlineNs(rates, MODE_HOST)), rates, MODE_HOST);
          }
          const r = core.read('s', t)!;
          const maxPerTick = 100_000 / 250;
          if (r.samples < maxPerTick * (t / (4 * MS))) expect(r.samples).toBe(Math.floor(r.count / period));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('PMIs arrive at overflow + skid and are reported as pmi records', () => {
    const { core, records } = host('intel-icx', 1, {}, { pmiSkidNs: 100 });
    ok(core.createEvent({ event: 'cycles', samplePeriod: 10_000 }, { cpu: 0, id: 's' }, 0));
    const c = core.cpus[0];
    const rates = EventRates.of({ cycles: 1 });
    expect(c.nextDeadlineNs(rates, MODE_HOST)).toBe(10_000);
    c.advanceTo(10_000, rates, MODE_HOST);
    expect(c.nextDeadlineNs(rates, MODE_HOST)).toBe(10_100);
    c.advanceTo(50_000, rates, MODE_HOST);
    const pmis = records.filter((r) => r.kind === 'pmi');
    expect(pmis.map((p) => [p.atNs, p.kind === 'pmi' && p.overflowNs])).toEqual([
      [10_100, 10_000],
      [20_100, 20_000],
      [30_100, 30_000],
      [40_100, 40_000],
    ]);
    expect(core.read('s', 50_000)!.samples).toBe(4);
  });

  it('frequency mode: the period adapts so samples arrive at about the asked frequency', () => {
    const { core } = host('intel-icx', 1, { emitPmis: false });
    ok(core.createEvent({ event: 'cycles', sampleFreqHz: 1000 }, { cpu: 0, id: 'f' }, 0));
    const c = core.cpus[0];
    const rates = EventRates.of({ cycles: 2.5 }); // 2.5 GHz -> period -> 2.5e6 at 1 kHz
    const step = (to: number) => {
      while (c.nowNs < to) c.advanceTo(Math.min(to, c.nextDeadlineNs(rates, MODE_HOST)), rates, MODE_HOST);
    };
    step(200 * MS);
    const before = core.read('f', 200 * MS)!.samples;
    step(1200 * MS);
    const r = core.read('f', 1200 * MS)!;
    expect(r.samples - before).toBeGreaterThan(950);
    expect(r.samples - before).toBeLessThan(1050);
    expect(r.samplePeriod).toBeGreaterThan(2.3e6);
    expect(r.samplePeriod).toBeLessThan(2.7e6);
  });

  it('throttles an event above max_sample_rate / HZ interrupts per tick', () => {
    const { core } = host('intel-icx', 1, { emitPmis: false }, { pmiSkidNs: 0 });
    ok(core.createEvent({ event: 'cycles', samplePeriod: 100 }, { cpu: 0, id: 's' }, 0));
    const c = core.cpus[0];
    const rates = EventRates.of({ cycles: 1 });
    while (c.nowNs < 8 * MS) c.advanceTo(Math.min(8 * MS, c.nextDeadlineNs(rates, MODE_HOST)), rates, MODE_HOST);
    // 1 sample per 100 ns would be 80000; the throttle allows 401 per 4 ms tick.
    expect(core.read('s', 8 * MS)!.samples).toBeLessThanOrEqual(2 * 401);
  });
});
