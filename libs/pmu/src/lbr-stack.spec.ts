import { Prng } from '@vpmu/sim';
import fc from 'fast-check';
import { CPU_PRESETS } from './cpu-presets';
import { LBR_DEBUGCTL, LBR_MSR, LbrStack, guestLbrOwner, hostLbrOwner } from './lbr-stack';

const HOST = hostLbrOwner('noise0');
const GUEST = guestLbrOwner('vm1', 0);
const on = (s: LbrStack, bits = LBR_DEBUGCTL.LBR) => {
  s.writeDebugCtl(bits);
  return s;
};

describe('LbrStack', () => {
  it('takes its depth from the preset: 32 on the Intel presets, none on arm', () => {
    expect(LbrStack.forPreset(CPU_PRESETS['intel-spr'], 0).depth).toBe(32);
    expect(LbrStack.forPreset(CPU_PRESETS['intel-spr'], 0).archLbr).toBe(true);
    expect(LbrStack.forPreset(CPU_PRESETS['intel-icx'], 0).archLbr).toBe(false);
    expect(LbrStack.forPreset(CPU_PRESETS['intel-skx'], 3, 16).depth).toBe(16);
    const arm = on(LbrStack.forPreset(CPU_PRESETS['arm-a76-a55'], 0));
    expect(arm.depth).toBe(0);
    expect(arm.recording).toBe(false);
    expect(arm.fill(100, GUEST, Prng.fromSeed(1))).toBe(0);
  });

  it('records nothing while DEBUGCTL.LBR is clear, and draws nothing from the stream', () => {
    const s = new LbrStack(8);
    const p = Prng.fromSeed(7);
    const before = p.getState();
    expect(s.fill(50, GUEST, p)).toBe(0);
    expect(p.getState()).toEqual(before);
    expect(s.entries()).toEqual([]);
  });

  it('keeps the youngest `depth` branches, each tagged with its owner', () => {
    const s = on(new LbrStack(8));
    expect(s.fill(3, GUEST, Prng.fromSeed(1))).toBe(3);
    expect(s.entries().map((e) => e.owner)).toEqual([GUEST, GUEST, GUEST]);
    expect(s.countForeign(GUEST)).toBe(0);
    expect(s.fill(5, HOST, Prng.fromSeed(2))).toBe(5);
    expect(s.entries().map((e) => e.owner)).toEqual([...Array(5).fill(HOST), ...Array(3).fill(GUEST)]);
    expect(s.countForeign(GUEST)).toBe(5);
    expect(s.countForeign(HOST)).toBe(3);
    // 1000 more branches: only `depth` survive
    expect(s.fill(1000, HOST, Prng.fromSeed(3))).toBe(8);
    expect(s.countForeign(GUEST)).toBe(8);
    expect(s.entriesRecorded).toBe(16);
  });

  it('draws its addresses from the given stream: same seed, same stack', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 1, max: 200 }), (seed, n) => {
        const a = on(new LbrStack(32));
        const b = on(new LbrStack(32));
        a.fill(n, GUEST, Prng.fromSeed(seed));
        b.fill(n, GUEST, Prng.fromSeed(seed));
        expect(a.save()).toEqual(b.save());
        for (const e of a.entries()) {
          expect(Number.isSafeInteger(e.fromIp) && Number.isSafeInteger(e.toIp)).toBe(true);
          expect(Math.abs(e.toIp - e.fromIp)).toBeLessThanOrEqual(0x8000);
        }
      }),
    );
  });

  it('freezes on a PMI only with FREEZE_LBRS_ON_PMI, until LBR_FRZ is cleared', () => {
    const s = on(new LbrStack(4));
    expect(s.pmi()).toBe(false);
    expect(s.recording).toBe(true);
    s.writeDebugCtl(LBR_DEBUGCTL.LBR | LBR_DEBUGCTL.FREEZE_LBRS_ON_PMI);
    s.fill(4, GUEST, Prng.fromSeed(1));
    const frozenContent = s.save();
    expect(s.pmi()).toBe(true);
    expect(s.frozen).toBe(true);
    expect(s.fill(10, HOST, Prng.fromSeed(2))).toBe(0);
    expect(s.save()).toEqual(frozenContent);
    s.unfreeze();
    expect(s.fill(1, HOST, Prng.fromSeed(2))).toBe(1);
    expect(s.countForeign(GUEST)).toBe(1);
  });

  it('accepts DEBUGCTL as the bigint IntelPmu uses and keeps only the LBR bits', () => {
    const s = new LbrStack(4);
    s.writeDebugCtl((1n << 12n) | (1n << 11n) | 1n);
    expect(s.debugCtl).toBe(LBR_DEBUGCTL.LBR | LBR_DEBUGCTL.FREEZE_LBRS_ON_PMI);
  });

  it('save/restore brings a stack back over whatever ran in between (the perf LBR context switch)', () => {
    const s = on(new LbrStack(16));
    s.fill(20, GUEST, Prng.fromSeed(11));
    const saved = s.save();
    const snapshotBefore = s.snapshotEvent(5, { pcpu: 0 }, GUEST);
    s.fill(7, HOST, Prng.fromSeed(12));
    expect(s.countForeign(GUEST)).toBe(7);
    s.restore(saved);
    expect(s.countForeign(GUEST)).toBe(0);
    expect(s.snapshotEvent(5, { pcpu: 0 }, GUEST)).toEqual(snapshotBefore);
    // the saved state is a copy: later fills do not change it
    s.fill(3, HOST, Prng.fromSeed(13));
    expect(saved.owners.filter((o) => o === HOST)).toHaveLength(0);
    expect(() => new LbrStack(8).restore(saved)).toThrow(/depth/);
  });

  it('answers the legacy LBR MSRs (TOS-relative) and the architectural ones (youngest first)', () => {
    const legacy = on(new LbrStack(4));
    legacy.fill(6, GUEST, Prng.fromSeed(5));
    const tos = Number(legacy.readMsr(LBR_MSR.LBR_TOS));
    expect(tos).toBe(legacy.tos);
    expect(legacy.readMsr(LBR_MSR.FROM0 + tos)).toBe(BigInt(legacy.entry(0).fromIp));
    expect(legacy.readMsr(LBR_MSR.TO0 + ((tos + 3) % 4))).toBe(BigInt(legacy.entry(1).toIp));
    expect(legacy.readMsr(LBR_MSR.FROM0 + 4)).toBeUndefined();
    const arch = on(new LbrStack(4, { archLbr: true }));
    arch.fill(6, GUEST, Prng.fromSeed(5));
    expect(arch.readMsr(LBR_MSR.ARCH_FROM0)).toBe(BigInt(arch.entry(0).fromIp));
    expect(arch.readMsr(LBR_MSR.ARCH_INFO0 + 3)).toBe(BigInt(arch.entry(3).info));
    expect(arch.readMsr(LBR_MSR.ARCH_DEPTH)).toBe(4n);
    expect(arch.readMsr(LBR_MSR.LBR_TOS)).toBeUndefined();
  });

  it('snapshot events list the entries youngest first and count the foreign ones', () => {
    const s = on(new LbrStack(8, { pcpu: 2 }));
    s.fill(2, GUEST, Prng.fromSeed(1));
    s.fill(3, HOST, Prng.fromSeed(2));
    const ev = s.snapshotEvent(100, { host: 'h1', pcpu: 2 }, GUEST);
    expect(ev).toMatchObject({ kind: 'lbrSnapshot', atNs: 100, foreignEntries: 3 });
    expect(ev.fromIps).toEqual(s.entries().map((e) => e.fromIp));
    expect(ev.fromIps).toHaveLength(5);
  });

  it('clear() empties the stack', () => {
    const s = on(new LbrStack(4, { pcpu: 1 }));
    s.fill(4, HOST, Prng.fromSeed(1));
    s.clear();
    expect(s.entries()).toEqual([]);
    expect(s.debugCtl).toBe(0);
    expect(s.pcpu).toBe(1);
  });
});
