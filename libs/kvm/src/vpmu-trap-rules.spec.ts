import { accessExits, countExits, type AccessLike } from './vpmu-trap-rules';

const wr = (msr: number): AccessLike => ({ op: 'wrmsr', msr });
const rd = (msr: number): AccessLike => ({ op: 'rdmsr', msr });
const rdpmc: AccessLike = { op: 'rdpmc', msr: 0 };
const emulated = { mode: 'emulated' as const, interceptEventSelect: false };
const ptAll = { mode: 'passthrough' as const, interceptEventSelect: false };
const ptFilter = { mode: 'passthrough' as const, interceptEventSelect: true };

describe('which guest PMU accesses exit, per backend', () => {
  it.each([
    ['IA32_PMC0 write', wr(0xc1), true, false, false],
    ['IA32_A_PMC3 write', wr(0x4c4), true, false, false],
    ['FIXED_CTR2 read', rd(0x30b), true, false, false],
    ['GLOBAL_CTRL write', wr(0x38f), true, false, false],
    ['GLOBAL_STATUS read', rd(0x38e), true, false, false],
    ['GLOBAL_OVF_CTRL write', wr(0x390), true, false, false],
    ['RDPMC', rdpmc, true, false, false],
    ['EVENTSEL0 write', wr(0x186), true, false, true],
    ['EVENTSEL7 read', rd(0x18d), true, false, true],
    ['FIXED_CTR_CTRL write', wr(0x38d), true, false, true],
    ['PERF_CAPABILITIES read', rd(0x345), true, true, true],
    ['DEBUGCTL write', wr(0x1d9), true, true, true],
  ])('%s: emulated %s, all passthrough %s, passthrough + filter %s', (_n, a, em, pt, ptf) => {
    expect(accessExits(a, emulated)).toBe(em);
    expect(accessExits(a, ptAll)).toBe(pt);
    expect(accessExits(a, ptFilter)).toBe(ptf);
    expect(accessExits(a, { mode: 'none', interceptEventSelect: false })).toBe(true);
    expect(accessExits(a, { mode: 'paravirt', interceptEventSelect: false })).toBe(true);
  });

  it('countExits over a PMI handler sequence', () => {
    const pmi = [wr(0x38f), rd(0x38e), wr(0x390), rdpmc, wr(0x4c1), rd(0x38e), wr(0x38f)];
    expect(countExits(pmi, emulated)).toBe(7);
    expect(countExits(pmi, ptFilter)).toBe(0);
  });
});
