// Properties of the analytic counting engine as the world drives it: sampling counters reloaded
// at each overflow, exact overflow instants, on both PMU kinds.
import fc from 'fast-check';
import { ArmPmu, CYCLE_COUNTER_ID, armConfigFromCluster } from './arm-pmu';
import { CPU_PRESETS, type ArmPmuSpec, type IntelPmuSpec } from './cpu-presets';
import { EventRates, MODE_HOST, type RateRecord } from './events';
import { IntelPmu, intelConfigFromPreset } from './intel-pmu';
import type { PmuModel } from './pmu.types';

const arbSegment = (maxDt: number) => fc.record({ dt: fc.integer({ min: 1, max: maxDt }), inst: fc.double({ min: 0, max: 6, noNaN: true }) });

const makers: [string, () => PmuModel, number][] = [
  ['intel', () => new IntelPmu(intelConfigFromPreset(CPU_PRESETS['intel-icx'] as IntelPmuSpec)), 33],
  ['arm', () => new ArmPmu(armConfigFromCluster((CPU_PRESETS['arm-a76-a55'] as ArmPmuSpec).clusters[0])), CYCLE_COUNTER_ID],
];

describe.each(makers)('%s PMU sampling', (_name, make, cyclesCounter) => {
  it('overflows == floor(events / period) when the handler reloads at each overflow', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(fc.integer({ min: 500, max: 50_000 }), fc.array(arbSegment(100_000), { minLength: 1, maxLength: 10 })),
          fc.tuple(fc.integer({ min: 1, max: 20 }), fc.array(arbSegment(500), { minLength: 1, maxLength: 10 })),
        ),
        ([period, segments]) => {
          const p = make();
          const cfg = { event: 'instructions' as const, countUser: true, countKernel: true, countGuest: true, countHost: true, interrupt: true };
          p.hostProgram(0, { ...cfg, periodEvents: period });
          let overflows = 0;
          let folded = 0;
          let left = period;
          let expectedQ = 0;
          for (const seg of segments) {
            const rates = EventRates.of({ instructions: seg.inst } as RateRecord);
            expectedQ += rates.userQ[0] * seg.dt;
            let remaining = seg.dt;
            while (remaining > 0) {
              const t = Math.min(remaining, p.nextOverflowInNs(rates, MODE_HOST));
              p.advance(t, rates, MODE_HOST);
              remaining -= t;
              for (const o of p.takeOverflows()) {
                expect(o.overflowNs).toBe(p.nowNs); // we stopped exactly at the instant
                overflows++;
                // perf's period_left: overshoot past the wrap shortens the next period.
                const counted = p.countedSinceWrite(0);
                folded += counted;
                left = period - (counted - left);
                while (left <= 0) {
                  left += period;
                  overflows++; // several periods in one ns (rate > 1/ns, tiny period)
                }
                p.hostProgram(0, { ...cfg, periodEvents: left });
              }
            }
          }
          const total = folded + p.countedSinceWrite(0);
          expect(overflows).toBe(Math.floor(total / period));
          // exact: the carried fraction survives reprogramming
          expect(total).toBe(Math.floor(expectedQ / 65536));
          void cyclesCounter;
        },
      ),
    );
  });

  it('nextOverflowInNs is exact: advancing one ns less reports nothing, exactly that reports it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.double({ min: 0.001, max: 7, noNaN: true }), fc.integer({ min: 0, max: 5000 }), (period, rate, pre) => {
        const p = make();
        const rates = EventRates.of({ cycles: rate });
        p.hostProgram(cyclesCounter, { event: 'cycles', countUser: true, countKernel: true, countGuest: true, countHost: true, interrupt: false });
        p.advance(pre, rates, MODE_HOST); // leave a fractional carry behind
        p.hostProgram(cyclesCounter, { event: 'cycles', countUser: true, countKernel: true, countGuest: true, countHost: true, interrupt: true, periodEvents: period });
        const t = p.nextOverflowInNs(rates, MODE_HOST);
        if (!Number.isFinite(t)) return;
        p.advance(t - 1, rates, MODE_HOST);
        expect(p.takeOverflows()).toEqual([]);
        expect(p.countedSinceWrite(cyclesCounter)).toBeLessThan(period);
        p.advance(1, rates, MODE_HOST);
        expect(p.takeOverflows().map((o) => o.overflowNs)).toEqual([p.nowNs]);
        expect(p.countedSinceWrite(cyclesCounter)).toBeGreaterThanOrEqual(period);
      }),
    );
  });
});
