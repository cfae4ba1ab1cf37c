import fc from 'fast-check';
import { CPU_PRESETS, type IntelPmuSpec } from './cpu-presets';
import { EventRates, MODE_GUEST, MODE_HOST, MODE_HOST_KERNEL } from './events';
import { EVTSEL, FIXED_CTRL, IntelPmu, MSR, RDPMC_FAST, RDPMC_FIXED, intelConfigFromPreset, type IntelPmuConfig } from './intel-pmu';

const spr = CPU_PRESETS['intel-spr'] as IntelPmuSpec;
function pmu(over: Partial<IntelPmuConfig> = {}): IntelPmu {
  return new IntelPmu(intelConfigFromPreset(spr, over));
}
const GP = { ok: false, fault: 'gp' };
const val = (v: number | bigint) => ({ ok: true, value: BigInt(v) });
const W48 = 2n ** 48n;

// instructions 2/ns user + 1/ns kernel, cycles 1/ns user + 1/ns kernel.
const rates = EventRates.of({ instructions: 2, cycles: 1, 'ref-cycles': 1, branches: 0.5 }, { instructions: 1, cycles: 1, 'ref-cycles': 1 });

function evtsel(event: number, umask: number, bits: number): number {
  return event | (umask << 8) | bits;
}

describe('IntelPmu MSRs: KVM selftest behaviours (tools/testing/selftests/kvm/x86/pmu_counters_test.c)', () => {
  it.each([0, 1, 4, 8])('GP counters with N=%i: write/read back below N, #GP above (legacy 0xC1/0xC2 quirk)', (n) => {
    const p = pmu({ gpCounters: n });
    for (let i = 0; i < 8; i++) {
      const msr = MSR.IA32_PMC0 + i;
      const exists = i < n;
      const quirk = !exists && (msr === 0xc1 || msr === 0xc2);
      const w = p.wrmsr(msr, 0xffff);
      const r = p.rdmsr(msr);
      if (exists) {
        expect(w).toEqual({ ok: true });
        expect(r).toEqual(val(0xffff));
        expect(p.rdpmc(i)).toEqual(val(0xffff));
      } else if (quirk) {
        expect(w).toEqual({ ok: true }); // dropped
        expect(r).toEqual(val(0));
        expect(p.rdpmc(i)).toEqual(GP); // RDPMC has no quirk
      } else {
        expect(w).toEqual(GP);
        expect(r).toEqual(GP);
        expect(p.rdpmc(i)).toEqual(GP);
      }
      expect(p.rdpmc(i + RDPMC_FAST)).toEqual(GP); // fast RDPMC always #GPs
      // full-width aliases: same rule, no quirk
      const a = MSR.IA32_A_PMC0 + i;
      expect(p.wrmsr(a, 0x1234)).toEqual(exists ? { ok: true } : GP);
      expect(p.rdmsr(a)).toEqual(exists ? val(0x1234) : GP);
    }
  });

  it('GLOBAL_CTRL resets to the mask of GP counters', () => {
    expect(pmu({ gpCounters: 8 }).rdmsr(MSR.PERF_GLOBAL_CTRL)).toEqual(val(0xff));
    expect(pmu({ gpCounters: 4, fixedCounters: 3 }).rdmsr(MSR.PERF_GLOBAL_CTRL)).toEqual(val(0xf));
    const p = pmu();
    p.wrmsr(MSR.PERF_GLOBAL_CTRL, 0);
    p.reset();
    expect(p.rdmsr(MSR.PERF_GLOBAL_CTRL)).toEqual(val(0xff));
  });

  it('a disabled counter does not move and reads back what was written', () => {
    const p = pmu();
    p.wrmsr(MSR.IA32_PMC0, 777);
    p.wrmsr(MSR.IA32_PERFEVTSEL0, evtsel(0xc0, 0, EVTSEL.USR | EVTSEL.OS)); // EN clear
    p.advance(1_000_000, rates, MODE_HOST);
    expect(p.rdmsr(MSR.IA32_PMC0)).toEqual(val(777));
    expect(p.rdpmc(0)).toEqual(val(777));
    // enabled in EVENTSEL but not in GLOBAL_CTRL: still still
    p.wrmsr(MSR.IA32_PERFEVTSEL0, evtsel(0xc0, 0, EVTSEL.USR | EVTSEL.OS | EVTSEL.EN));
    p.wrmsr(MSR.PERF_GLOBAL_CTRL, 0);
    p.advance(1_000_000, rates, MODE_HOST);
    expect(p.rdpmc(0)).toEqual(val(777));
  });

  it('fixed counter i exists iff i < M; missing ones #GP on the counter, RDPMC and their control bits', () => {
    for (const m of [0, 3, 4]) {
      const p = pmu({ fixedCounters: m });
      for (let i = 0; i < 4; i++) {
        const exists = i < m;
        expect(p.wrmsr(MSR.FIXED_CTR0 + i, 0xffff)).toEqual(exists ? { ok: true } : GP);
        expect(p.rdmsr(MSR.FIXED_CTR0 + i)).toEqual(exists ? val(0xffff) : GP);
        expect(p.rdpmc(RDPMC_FIXED | i)).toEqual(exists ? val(0xffff) : GP);
        expect(p.rdpmc(RDPMC_FIXED | i | RDPMC_FAST)).toEqual(GP);
        expect(p.wrmsr(MSR.FIXED_CTR_CTRL, FIXED_CTRL.OS << (4 * i))).toEqual(exists ? { ok: true } : GP);
        expect(p.wrmsr(MSR.PERF_GLOBAL_CTRL, 2 ** (32 + i))).toEqual(exists ? { ok: true } : GP);
      }
      expect(p.cpuid0a().edx & 0x1f).toBe(m);
    }
  });

  it('reserved bits #GP: FIXED_CTR_CTRL ANY, EVENTSEL ANY and bits 63:32, GLOBAL_CTRL beyond counters', () => {
    const p = pmu({ gpCounters: 4, fixedCounters: 3 });
    expect(p.wrmsr(MSR.FIXED_CTR_CTRL, FIXED_CTRL.ANY)).toEqual(GP);
    expect(p.wrmsr(MSR.IA32_PERFEVTSEL0, EVTSEL.ANY)).toEqual(GP);
    expect(p.wrmsr(MSR.IA32_PERFEVTSEL0, 2 ** 32)).toEqual(GP);
    expect(p.wrmsr(MSR.IA32_PERFEVTSEL0 + 4, 0)).toEqual(GP);
    expect(p.rdmsr(MSR.IA32_PERFEVTSEL0 + 4)).toEqual(GP);
    expect(p.wrmsr(MSR.PERF_GLOBAL_CTRL, 1 << 4)).toEqual(GP);
    expect(p.wrmsr(MSR.PERF_GLOBAL_CTRL, 0xf + 7 * 2 ** 32)).toEqual({ ok: true });
    expect(p.rdmsr(MSR.PERF_GLOBAL_CTRL)).toEqual(val(0xf + 7 * 2 ** 32));
    const sel = evtsel(0x3c, 0, EVTSEL.USR | EVTSEL.OS | EVTSEL.INT | EVTSEL.EN | EVTSEL.EDGE | EVTSEL.INV | (3 << 24));
    expect(p.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, sel)).toEqual({ ok: true });
    expect(p.rdmsr(MSR.IA32_PERFEVTSEL0 + 1)).toEqual(val(sel >>> 0));
  });

  it('legacy PMC writes sign-extend bit 31; full-width writes need PERF_CAPABILITIES bit 13 and fit the width', () => {
    const p = pmu();
    p.wrmsr(MSR.IA32_PMC0, 0x8000_0000);
    expect(p.rdmsr(MSR.IA32_PMC0)).toEqual(val(W48 - 0x8000_0000n));
    p.wrmsr(MSR.IA32_A_PMC0, 0x8000_0000);
    expect(p.rdmsr(MSR.IA32_PMC0)).toEqual(val(0x8000_0000));
    expect(p.wrmsr(MSR.IA32_A_PMC0, W48)).toEqual(GP);
    expect(p.wrmsr(MSR.IA32_A_PMC0, W48 - 1n)).toEqual({ ok: true });
    expect(p.rdmsr(MSR.PERF_CAPABILITIES)).toEqual(val((1n << 13n) | 0x3fn));
    expect(p.wrmsr(MSR.PERF_CAPABILITIES, 0)).toEqual(GP);
    const noFw = pmu({ fullWidthWrites: false });
    expect(noFw.wrmsr(MSR.IA32_A_PMC0, 1)).toEqual(GP);
    expect(noFw.rdmsr(MSR.IA32_A_PMC0)).toEqual(GP);
    expect(noFw.rdmsr(MSR.PERF_CAPABILITIES)).toEqual(val(0x3f));
  });

  it('GLOBAL_STATUS is read-only; OVF_CTRL clears and STATUS_SET sets its bits', () => {
    const p = pmu({ gpCounters: 4, fixedCounters: 3 });
    expect(p.wrmsr(MSR.PERF_GLOBAL_STATUS, 1)).toEqual(GP);
    const bits = 0b101n | (0b10n << 32n) | (1n << 59n) | (1n << 62n);
    expect(p.wrmsr(MSR.PERF_GLOBAL_STATUS_SET, bits)).toEqual({ ok: true });
    expect(p.rdmsr(MSR.PERF_GLOBAL_STATUS)).toEqual(val(bits));
    expect(p.wrmsr(MSR.PERF_GLOBAL_STATUS_SET, 1n << 8n)).toEqual(GP); // GP counter 8 does not exist
    expect(p.wrmsr(MSR.PERF_GLOBAL_OVF_CTRL, 0b1n | (1n << 59n))).toEqual({ ok: true });
    expect(p.rdmsr(MSR.PERF_GLOBAL_STATUS)).toEqual(val(0b100n | (0b10n << 32n) | (1n << 62n)));
    expect(p.rdmsr(MSR.PERF_GLOBAL_OVF_CTRL)).toEqual(val(0));
    expect(pmu({ perfmonVersion: 3 }).wrmsr(MSR.PERF_GLOBAL_STATUS_SET, 1)).toEqual(GP);
  });

  it('DEBUGCTL accepts LBR / freeze bits only', () => {
    const p = pmu();
    expect(p.wrmsr(MSR.DEBUGCTL, (1 << 0) | (1 << 11) | (1 << 12))).toEqual({ ok: true });
    expect(p.rdmsr(MSR.DEBUGCTL)).toEqual(val((1 << 0) | (1 << 11) | (1 << 12)));
    expect(p.wrmsr(MSR.DEBUGCTL, 1 << 20)).toEqual(GP);
  });

  it('MSRs that are not PMU MSRs #GP', () => {
    expect(pmu().rdmsr(0x1234)).toEqual(GP);
    expect(pmu().wrmsr(MSR.IA32_PMC0 + 8, 0)).toEqual(GP);
  });
});

describe('IntelPmu counting', () => {
  it('counts by USR/OS filter exactly (floor of rate x time)', () => {
    const p = pmu();
    p.wrmsr(MSR.IA32_PERFEVTSEL0, evtsel(0xc0, 0, EVTSEL.USR | EVTSEL.EN));
    p.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, evtsel(0xc0, 0, EVTSEL.OS | EVTSEL.EN));
    p.wrmsr(MSR.IA32_PERFEVTSEL0 + 2, evtsel(0xc0, 0, EVTSEL.USR | EVTSEL.OS | EVTSEL.EN));
    p.wrmsr(MSR.IA32_PERFEVTSEL0 + 3, evtsel(0xc4, 0, EVTSEL.USR | EVTSEL.OS | EVTSEL.EN));
    p.wrmsr(MSR.IA32_PERFEVTSEL0 + 4, evtsel(0x99, 0, EVTSEL.USR | EVTSEL.OS | EVTSEL.EN)); // unknown event
    p.advance(1000, rates, MODE_HOST);
    expect([0, 1, 2, 3, 4].map((i) => p.rdpmc(i))).toEqual([val(2000), val(1000), val(3000), val(500), val(0)]);
    p.advance(1000, rates, MODE_HOST_KERNEL); // whole segment privileged: every event is kernel
    expect([0, 1, 2].map((i) => p.rdpmc(i))).toEqual([val(2000), val(4000), val(6000)]);
  });

  it('fixed counters count their architectural event per FIXED_CTR_CTRL', () => {
    const p = pmu();
    p.wrmsr(MSR.FIXED_CTR_CTRL, FIXED_CTRL.USR | ((FIXED_CTRL.OS | FIXED_CTRL.USR) << 4) | (FIXED_CTRL.OS << 8));
    p.wrmsr(MSR.PERF_GLOBAL_CTRL, 0x7n << 32n);
    p.advance(100, rates, MODE_HOST);
    expect([0, 1, 2].map((i) => p.rdpmc(RDPMC_FIXED | i))).toEqual([val(200), val(200), val(100)]);
  });

  it('host-programmed guest/host filters follow the GLOBAL_CTRL switch at entry/exit', () => {
    const p = pmu();
    const base = { event: 'instructions' as const, countUser: true, countKernel: true, interrupt: false };
    p.hostProgram(0, { ...base, countGuest: false, countHost: true });
    p.hostProgram(1, { ...base, countGuest: true, countHost: false });
    p.advance(10, rates, MODE_HOST);
    p.advance(10, rates, MODE_GUEST);
    expect(p.countedSinceWrite(0)).toBe(30);
    expect(p.countedSinceWrite(1)).toBe(30);
  });

  it('overflow: exact instant, GLOBAL_STATUS bit, PMI at instant + skid', () => {
    const p = pmu({ pmiSkidNs: 50 });
    p.wrmsr(MSR.IA32_A_PMC0 + 2, W48 - 1001n);
    p.wrmsr(MSR.IA32_PERFEVTSEL0 + 2, evtsel(0xc0, 0, EVTSEL.USR | EVTSEL.OS | EVTSEL.INT | EVTSEL.EN)); // 3/ns
    const t = p.nextOverflowInNs(rates, MODE_HOST);
    expect(t).toBe(334); // 1001 events at 3/ns: the wrap needs 1001 events -> ceil(1001/3)
    p.advance(t - 1, rates, MODE_HOST);
    expect(p.takeOverflows()).toEqual([]);
    p.advance(1, rates, MODE_HOST);
    expect(p.takeOverflows()).toEqual([{ counterId: 2, overflowNs: 334, pmi: true, pmiNs: 384 }]);
    expect(p.rdmsr(MSR.PERF_GLOBAL_STATUS)).toEqual(val(0b100));
    expect(p.rdpmc(2)).toEqual(val(1)); // 1002 events counted: one past the wrap
  });

  it('overflow inside a long advance is reported at its exact instant', () => {
    const p = pmu();
    p.wrmsr(MSR.IA32_A_PMC0, W48 - 10n);
    p.wrmsr(MSR.IA32_PERFEVTSEL0, evtsel(0x3c, 0, EVTSEL.USR | EVTSEL.INT | EVTSEL.EN)); // user cycles 1/ns
    p.advance(7, rates, MODE_HOST);
    p.advance(1_000_000, rates, MODE_HOST);
    expect(p.takeOverflows()).toEqual([{ counterId: 0, overflowNs: 10, pmi: true, pmiNs: 10 + spr.pmiSkidNs }]);
  });

  it('freeze-on-PMI stops every counter at the overflow instant until CTR_FRZ is cleared', () => {
    const p = pmu();
    p.wrmsr(MSR.DEBUGCTL, 1 << 12);
    p.wrmsr(MSR.IA32_A_PMC0, W48 - 100n);
    p.wrmsr(MSR.IA32_PERFEVTSEL0, evtsel(0x3c, 0, EVTSEL.USR | EVTSEL.INT | EVTSEL.EN)); // 1/ns
    p.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, evtsel(0xc0, 0, EVTSEL.USR | EVTSEL.EN)); // 2/ns, no INT
    p.advance(10_000, rates, MODE_HOST);
    expect(p.takeOverflows().map((o) => o.overflowNs)).toEqual([100]);
    expect(p.rdpmc(1)).toEqual(val(200));
    expect(p.rdmsr(MSR.PERF_GLOBAL_STATUS)).toEqual(val(1n | (1n << 59n)));
    p.wrmsr(MSR.PERF_GLOBAL_OVF_CTRL, 1n | (1n << 59n));
    p.advance(10, rates, MODE_HOST);
    expect(p.rdpmc(1)).toEqual(val(220));
  });

  it('CMASK counts cycles with at least CMASK events (even-spread approximation); INV the rest', () => {
    const p = pmu();
    const r = EventRates.of({ instructions: 2.5, cycles: 1 });
    p.wrmsr(MSR.IA32_PERFEVTSEL0, evtsel(0xc0, 0, EVTSEL.USR | EVTSEL.EN | (3 << 24)));
    p.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, evtsel(0xc0, 0, EVTSEL.USR | EVTSEL.EN | EVTSEL.INV | (3 << 24)));
    p.wrmsr(MSR.IA32_PERFEVTSEL0 + 2, evtsel(0xc0, 0, EVTSEL.USR | EVTSEL.EN | (2 << 24)));
    p.advance(1000, r, MODE_HOST);
    expect([0, 1, 2].map((i) => p.rdpmc(i))).toEqual([val(500), val(500), val(1000)]);
  });

  it('saveState/loadState round-trips and the restored PMU counts identically', () => {
    const a = pmu();
    a.wrmsr(MSR.IA32_PERFEVTSEL0, evtsel(0xc5, 0, EVTSEL.USR | EVTSEL.EN));
    a.wrmsr(MSR.FIXED_CTR_CTRL, FIXED_CTRL.USR);
    a.wrmsr(MSR.PERF_GLOBAL_CTRL, 1n | (1n << 32n));
    const r = EventRates.of({ 'branch-misses': 0.3, instructions: 1.7 });
    a.advance(333, r, MODE_HOST);
    const s = JSON.parse(JSON.stringify(a.saveState()));
    const b = pmu();
    b.loadState(s);
    a.advance(1001, r, MODE_HOST);
    b.advance(1001, r, MODE_HOST);
    expect(b.saveState()).toEqual({ ...a.saveState(), nowNs: b.nowNs });
    expect(b.rdpmc(0)).toEqual(a.rdpmc(0));
    expect(() => pmu({ gpCounters: 4 }).loadState(s)).toThrow(/different PMU shape/);
  });
});

describe('IntelPmu properties', () => {
  const arbRates = fc.record({
    instructions: fc.double({ min: 0, max: 8, noNaN: true }),
    cycles: fc.double({ min: 0, max: 5, noNaN: true }),
    branches: fc.double({ min: 0, max: 2, noNaN: true }),
  });
  const arbStep = fc.oneof(
    fc.record({ kind: fc.constant('advance' as const), dt: fc.integer({ min: 0, max: 5_000_000 }), r: arbRates, kfrac: fc.double({ min: 0, max: 1, noNaN: true }), guest: fc.boolean(), kernel: fc.boolean() }),
    fc.record({ kind: fc.constant('toggle' as const), i: fc.integer({ min: 0, max: 3 }), bits: fc.integer({ min: 0, max: 7 }) }),
  );

  it('a counter never moves backwards except by a write or a wrap', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: W48 - 1n }), { minLength: 4, maxLength: 4 }), fc.array(arbStep, { maxLength: 40 }), (starts, steps) => {
        const p = pmu({ gpCounters: 4 });
        starts.forEach((v, i) => p.wrmsr(MSR.IA32_A_PMC0 + i, v));
        const events = [0xc0, 0x3c, 0xc4, 0xc0];
        for (let i = 0; i < 4; i++) p.wrmsr(MSR.IA32_PERFEVTSEL0 + i, evtsel(events[i], 0, EVTSEL.USR | EVTSEL.OS | EVTSEL.EN));
        for (const s of steps) {
          if (s.kind === 'toggle') {
            const bits = (s.bits & 1 ? EVTSEL.USR : 0) | (s.bits & 2 ? EVTSEL.OS : 0) | (s.bits & 4 ? EVTSEL.EN : 0);
            p.wrmsr(MSR.IA32_PERFEVTSEL0 + s.i, evtsel(events[s.i], 0, bits));
            continue;
          }
          const before = [0, 1, 2, 3].map((i) => (p.rdpmc(i) as { value: bigint }).value);
          p.wrmsr(MSR.PERF_GLOBAL_OVF_CTRL, 0xf);
          p.advance(s.dt, EventRates.split(s.r, s.kfrac), { guest: s.guest, kernel: s.kernel });
          const status = (p.rdmsr(MSR.PERF_GLOBAL_STATUS) as { value: bigint }).value;
          for (let i = 0; i < 4; i++) {
            const after = (p.rdpmc(i) as { value: bigint }).value;
            const wrapped = ((status >> BigInt(i)) & 1n) === 1n;
            if (!wrapped) expect(after >= before[i]).toBe(true);
            else expect(after < before[i]).toBe(true);
          }
        }
      }),
    );
  });

  it('counts are independent of how time is chunked (exact integer arithmetic)', () => {
    fc.assert(
      fc.property(arbRates, fc.array(fc.integer({ min: 0, max: 3_000_000 }), { minLength: 1, maxLength: 30 }), (r, chunks) => {
        const rates1 = EventRates.of(r);
        const a = pmu();
        const b = pmu();
        for (const p of [a, b]) {
          p.wrmsr(MSR.FIXED_CTR_CTRL, 0x333);
          p.wrmsr(MSR.PERF_GLOBAL_CTRL, 0x7n << 32n);
        }
        for (const c of chunks) a.advance(c, rates1, MODE_HOST);
        b.advance(chunks.reduce((x, y) => x + y, 0), rates1, MODE_HOST);
        expect(a.rdpmc(RDPMC_FIXED)).toEqual(b.rdpmc(RDPMC_FIXED));
        expect(a.rdpmc(RDPMC_FIXED | 1)).toEqual(b.rdpmc(RDPMC_FIXED | 1));
      }),
    );
  });
});

describe('IntelPmu.copyStateFrom (the passthrough context switch)', () => {
  const cfg = intelConfigFromPreset(spr);
  const guestRates = EventRates.of({ instructions: 2, cycles: 1, branches: 0.5 }, { instructions: 1, cycles: 1 });

  it('equals loadState(saveState()) for any guest programming, then counts and overflows alike', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(MSR.IA32_PERFEVTSEL0, MSR.IA32_PERFEVTSEL0 + 3, MSR.FIXED_CTR_CTRL, MSR.PERF_GLOBAL_CTRL, MSR.IA32_A_PMC0, MSR.FIXED_CTR0 + 1), fc.bigInt({ min: 0n, max: W48 - 1n })), { maxLength: 8 }),
        fc.integer({ min: 1, max: 5_000 }),
        (writes, dtNs) => {
          const guest = new IntelPmu(cfg);
          for (const [msr, v] of writes) guest.wrmsr(msr, msr === MSR.IA32_PERFEVTSEL0 || msr === MSR.IA32_PERFEVTSEL0 + 3 ? (v & 0xffff_ffffn & ~BigInt(EVTSEL.ANY)) | BigInt(EVTSEL.EN | EVTSEL.USR | EVTSEL.INT) : msr === MSR.FIXED_CTR_CTRL ? v & 0xbbbn : v);
          guest.advance(dtNs, guestRates, MODE_GUEST);
          guest.takeOverflows();
          // Two hardware PMUs that perf programmed differently: one copies, one loads a snapshot.
          const hwA = new IntelPmu(cfg);
          const hwB = new IntelPmu(cfg);
          for (const hw of [hwA, hwB]) hw.hostProgram(33, { event: 'cycles', countUser: true, countKernel: true, countGuest: false, countHost: true, interrupt: true, periodEvents: 1000 });
          hwA.copyStateFrom(guest);
          hwB.loadState(guest.saveState());
          expect(hwA.saveState()).toEqual({ ...hwB.saveState(), nowNs: hwA.nowNs });
          for (const hw of [hwA, hwB]) hw.advance(dtNs, guestRates, MODE_GUEST);
          expect(hwA.takeOverflows().map((o) => o.counterId)).toEqual(hwB.takeOverflows().map((o) => o.counterId));
          expect(hwA.nextOverflowInNs(guestRates, MODE_GUEST)).toBe(hwB.nextOverflowInNs(guestRates, MODE_GUEST));
          for (let i = 0; i < 8; i++) expect(hwA.rdpmc(i)).toEqual(hwB.rdpmc(i));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('counterIsZero answers without a bigint read', () => {
    const pmu = new IntelPmu(cfg);
    expect(pmu.counterIsZero(5)).toBe(true);
    pmu.wrmsr(MSR.IA32_A_PMC0 + 5, 7n);
    expect(pmu.counterIsZero(5)).toBe(false);
    expect(pmu.counterIsZero(32)).toBe(true);
  });

  it('refuses a PMU of another shape', () => {
    expect(() => new IntelPmu(cfg).copyStateFrom(new IntelPmu({ ...cfg, gpCounters: 4 }))).toThrow(/copyStateFrom/);
  });
});
