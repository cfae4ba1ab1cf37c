import { ARM_PMU_REGS, ArmPmu, CYCLE_COUNTER_ID, PMCR, PMEVTYPER, armConfigFromCluster, type ArmPmuReg } from './arm-pmu';
import { CPU_PRESETS, type ArmPmuSpec } from './cpu-presets';
import { ARM_EVENTS, EventRates, MODE_GUEST, MODE_GUEST_KERNEL, MODE_HOST, MODE_HOST_KERNEL } from './events';

const preset = CPU_PRESETS['arm-a76-a55'] as ArmPmuSpec;
const big = () => new ArmPmu(armConfigFromCluster(preset.clusters[0]));
const little = () => new ArmPmu(armConfigFromCluster(preset.clusters[1]));
const withN = (n: number) => new ArmPmu(armConfigFromCluster(preset.clusters[0], { counters: n }));
const UNDEF = { ok: false, fault: 'undefined' };
const val = (v: number | bigint) => ({ ok: true, value: BigInt(v) });
const rates = EventRates.of({ instructions: 2, cycles: 1, 'cache-references': 0.25 }, { instructions: 1, cycles: 1 });
const userOnly = EventRates.of({ cycles: 1 });
const num = (r: { ok: boolean; value?: bigint }) => Number((r as { value: bigint }).value);

describe('ArmPmu registers as KVM exposes them', () => {
  it('PMCR.N reports the counter count and is read-only; P and C read as zero', () => {
    const p = withN(4);
    expect((num(p.read('PMCR_EL0')) >> PMCR.N_SHIFT) & 0x1f).toBe(4);
    p.write('PMCR_EL0', (31 << PMCR.N_SHIFT) | PMCR.E | PMCR.P | PMCR.C);
    const pmcr = num(p.read('PMCR_EL0'));
    expect((pmcr >> PMCR.N_SHIFT) & 0x1f).toBe(4);
    expect(pmcr & (PMCR.E | PMCR.P | PMCR.C)).toBe(PMCR.E);
    expect(pmcr >>> 24).toBe(0x41);
  });

  it('PMCR.LP is RES0 before PMUv3p5', () => {
    const p = big();
    p.write('PMCR_EL0', PMCR.LP | PMCR.LC);
    expect(num(p.read('PMCR_EL0')) & (PMCR.LP | PMCR.LC)).toBe(PMCR.LC);
    const v3p5 = new ArmPmu(armConfigFromCluster(preset.clusters[0], { hasPmuV3p5: true }));
    v3p5.write('PMCR_EL0', PMCR.LP);
    expect(num(v3p5.read('PMCR_EL0')) & PMCR.LP).toBe(PMCR.LP);
  });

  it.each(['PMCNTENSET_EL0', 'PMINTENSET_EL1', 'PMOVSSET_EL0'] as const)('%s: bits of counters >= N read as zero and ignore writes', (reg) => {
    const p = withN(4);
    p.write(reg, 0xffff_ffff);
    expect(p.read(reg)).toEqual(val(0x8000_000f));
    const clr = reg.replace('SET', 'CLR') as ArmPmuReg;
    expect(p.read(clr)).toEqual(val(0x8000_000f));
    p.write(clr, 0x8000_0001);
    expect(p.read(reg)).toEqual(val(0xe));
  });

  it('PMEVCNTR/PMEVTYPER n >= N are UNDEFINED, directly and through PMSELR', () => {
    const p = withN(4);
    for (let n = 0; n < 31; n++) {
      const exists = n < 4;
      expect(p.write('PMEVCNTR_EL0', 5, n)).toEqual(exists ? { ok: true } : UNDEF);
      expect(p.read('PMEVCNTR_EL0', n)).toEqual(exists ? val(5) : UNDEF);
      expect(p.write('PMEVTYPER_EL0', ARM_EVENTS.INST_RETIRED, n)).toEqual(exists ? { ok: true } : UNDEF);
      expect(p.read('PMEVTYPER_EL0', n)).toEqual(exists ? val(ARM_EVENTS.INST_RETIRED) : UNDEF);
      p.write('PMSELR_EL0', n);
      expect(p.read('PMXEVCNTR_EL0')).toEqual(exists ? val(5) : UNDEF);
      expect(p.access('PMXEVTYPER_EL0', undefined, 0x11)).toEqual(exists ? { ok: true, value: 0n } : UNDEF);
    }
    // SEL = 31 addresses the cycle counter and PMCCFILTR
    p.write('PMSELR_EL0', 31);
    p.write('PMXEVCNTR_EL0', 42);
    expect(p.read('PMCCNTR_EL0')).toEqual(val(42));
    p.write('PMXEVTYPER_EL0', PMEVTYPER.EXCLUDE_EL1 + 0x11);
    expect(p.read('PMCCFILTR_EL0')).toEqual(val(PMEVTYPER.EXCLUDE_EL1)); // no event field in PMCCFILTR
  });

  it('PMCEID0/1 differ per core type and are read-only', () => {
    const b = big();
    const l = little();
    expect(b.read('PMCEID1_EL0')).not.toEqual(l.read('PMCEID1_EL0'));
    expect(b.implementsEvent(ARM_EVENTS.LL_CACHE_RD)).toBe(true);
    expect(l.implementsEvent(ARM_EVENTS.LL_CACHE_RD)).toBe(false);
    expect(l.implementsEvent(ARM_EVENTS.INST_RETIRED)).toBe(true);
    expect(b.write('PMCEID0_EL0', 0)).toEqual(UNDEF);
    expect(b.write('PMCEID1_EL0', 0)).toEqual(UNDEF);
    expect(b.hostCandidates('cache-references')).toEqual([0, 1, 2, 3, 4, 5]);
    expect(l.hostCandidates('cache-references')).toEqual([]);
    expect(b.hostCandidates('cycles')[0]).toBe(CYCLE_COUNTER_ID);
    expect(b.hostCandidates('ref-cycles')).toEqual([]);
  });

  it('every register name is handled', () => {
    const p = big();
    for (const r of ARM_PMU_REGS) expect(p.read(r).ok).toBe(true);
  });
});

describe('ArmPmu counting', () => {
  function enableAll(p: ArmPmu): void {
    p.write('PMCNTENSET_EL0', 0xffff_ffff);
    p.write('PMCR_EL0', PMCR.E | PMCR.LC);
  }

  it('counts only with PMCR.E and the PMCNTENSET bit', () => {
    const p = big();
    p.write('PMEVTYPER_EL0', ARM_EVENTS.INST_RETIRED, 0);
    p.write('PMCNTENSET_EL0', 1);
    p.advance(100, rates, MODE_GUEST);
    expect(p.read('PMEVCNTR_EL0', 0)).toEqual(val(0));
    p.write('PMCR_EL0', PMCR.E);
    p.advance(100, rates, MODE_GUEST);
    expect(p.read('PMEVCNTR_EL0', 0)).toEqual(val(300));
    p.write('PMCNTENCLR_EL0', 1);
    p.advance(100, rates, MODE_GUEST);
    expect(p.read('PMEVCNTR_EL0', 0)).toEqual(val(300));
  });

  it('EL filters: EXCLUDE_EL0, EXCLUDE_EL1 (guest kernel), INCLUDE_EL2 (VHE host kernel)', () => {
    const p = big();
    enableAll(p);
    const inst = ARM_EVENTS.INST_RETIRED;
    p.write('PMEVTYPER_EL0', inst, 0); // EL0 + EL1
    p.write('PMEVTYPER_EL0', inst + PMEVTYPER.EXCLUDE_EL0, 1); // EL1 only
    p.write('PMEVTYPER_EL0', inst + PMEVTYPER.EXCLUDE_EL1, 2); // EL0 only
    p.write('PMEVTYPER_EL0', inst + PMEVTYPER.INCLUDE_EL2, 3); // EL0 + EL1 + EL2
    p.write('PMEVTYPER_EL0', ARM_EVENTS.LL_CACHE_RD, 4);
    const counts = () => [0, 1, 2, 3, 4].map((n) => num(p.read('PMEVCNTR_EL0', n)));
    p.advance(10, rates, MODE_GUEST_KERNEL);
    expect(counts()).toEqual([30, 30, 0, 30, 2]);
    p.advance(10, rates, MODE_HOST_KERNEL);
    expect(counts()).toEqual([30, 30, 0, 60, 2]);
    p.advance(10, rates, MODE_HOST); // user 2/ns at EL0, kernel 1/ns at EL2
    expect(counts()).toEqual([50, 30, 20, 90, 5]); // 2.5 + 2.5 cache refs: the carried half counts
  });

  it('an event the core does not implement (PMCEID) counts nothing', () => {
    const p = little();
    enableAll(p);
    p.write('PMEVTYPER_EL0', ARM_EVENTS.LL_CACHE_RD, 0);
    p.advance(1000, rates, MODE_GUEST);
    expect(p.read('PMEVCNTR_EL0', 0)).toEqual(val(0));
  });

  it('32-bit event counter overflow sets PMOVS and asserts the interrupt when PMINTEN is set', () => {
    const p = big();
    enableAll(p);
    p.write('PMEVTYPER_EL0', ARM_EVENTS.CPU_CYCLES, 2);
    p.write('PMEVCNTR_EL0', 2 ** 32 - 50, 2);
    p.write('PMINTENSET_EL1', 1 << 2);
    expect(p.nextOverflowInNs(userOnly, MODE_GUEST)).toBe(50);
    p.advance(60, userOnly, MODE_GUEST);
    expect(p.takeOverflows()).toEqual([{ counterId: 2, overflowNs: 50, pmi: true, pmiNs: 50 + p.pmiSkidNs }]);
    expect(num(p.read('PMOVSSET_EL0'))).toBe(1 << 2);
    expect(p.read('PMEVCNTR_EL0', 2)).toEqual(val(10));
    expect(p.interruptAsserted()).toBe(true);
    p.write('PMOVSCLR_EL0', 1 << 2);
    expect(p.interruptAsserted()).toBe(false);
  });

  it('cycle counter overflows at 2^32 with PMCR.LC=0 and at 2^64 with LC=1', () => {
    const p = big();
    p.write('PMCNTENSET_EL0', 2 ** 31);
    p.write('PMINTENSET_EL1', 2 ** 31);
    p.write('PMCR_EL0', PMCR.E);
    p.write('PMCCNTR_EL0', 2 ** 32 - 5);
    p.advance(10, userOnly, MODE_GUEST);
    expect(p.takeOverflows().map((o) => [o.counterId, o.overflowNs])).toEqual([[31, 5]]);
    expect(p.read('PMCCNTR_EL0')).toEqual(val(2 ** 32 + 5)); // the register itself is 64-bit
    p.write('PMCR_EL0', PMCR.E | PMCR.LC);
    p.write('PMCCNTR_EL0', 2n ** 64n - 7n);
    expect(p.read('PMCCNTR_EL0')).toEqual(val(2n ** 64n - 7n));
    expect(p.nextOverflowInNs(userOnly, MODE_GUEST)).toBe(7);
    p.advance(10, userOnly, MODE_GUEST);
    expect(p.takeOverflows().map((o) => [o.counterId, o.overflowNs])).toEqual([[31, 17]]);
    expect(p.read('PMCCNTR_EL0')).toEqual(val(3));
  });

  it('PMCR.P resets the event counters, PMCR.C the cycle counter', () => {
    const p = big();
    p.write('PMEVCNTR_EL0', 9, 0);
    p.write('PMCCNTR_EL0', 9);
    p.write('PMCR_EL0', PMCR.P);
    expect([p.read('PMEVCNTR_EL0', 0), p.read('PMCCNTR_EL0')]).toEqual([val(0), val(9)]);
    p.write('PMCR_EL0', PMCR.C);
    expect(p.read('PMCCNTR_EL0')).toEqual(val(0));
  });

  it('host perf programming counts through the guest/host switch', () => {
    const p = big();
    p.hostProgram(CYCLE_COUNTER_ID, { event: 'cycles', countUser: true, countKernel: true, countGuest: false, countHost: true, interrupt: false });
    p.hostProgram(0, { event: 'instructions', countUser: true, countKernel: false, countGuest: true, countHost: true, interrupt: false });
    p.advance(10, rates, MODE_HOST);
    p.advance(10, rates, MODE_GUEST);
    expect(p.countedSinceWrite(CYCLE_COUNTER_ID)).toBe(20);
    expect(p.countedSinceWrite(0)).toBe(40);
  });

  it('saveState/loadState round-trips', () => {
    const a = big();
    enableAll(a);
    a.write('PMEVTYPER_EL0', ARM_EVENTS.BR_RETIRED, 1);
    a.write('PMCCNTR_EL0', 2n ** 64n - 3n);
    a.advance(77, rates, MODE_GUEST);
    const b = big();
    b.loadState(JSON.parse(JSON.stringify(a.saveState())));
    expect(b.read('PMCCNTR_EL0')).toEqual(a.read('PMCCNTR_EL0'));
    expect(() => withN(4).loadState(a.saveState())).toThrow(/different PMU/);
  });
});
