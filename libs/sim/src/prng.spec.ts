import fc from 'fast-check';
import { Prng } from './prng';

describe('Prng', () => {
  it('is pinned by a golden vector (changing it changes every recorded run)', () => {
    const r = Prng.fromSeed(42);
    expect([r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([4144604024, 2484236927, 2798862140, 2945464481]);
    const child = Prng.fromSeed(42).child('vm/vm1');
    expect([child.nextU32(), child.nextU32()]).toEqual([1995229284, 1823908867]);
    const big = Prng.fromSeed(2 ** 53 - 1);
    expect([big.nextU32(), big.nextU32()]).toEqual([2471924571, 2480547660]);
  });

  it('derives child streams from seed material, not from the parent position or siblings', () => {
    const a = Prng.fromSeed(7);
    const before = a.child('vm/vm2').nextU32();
    a.child('vm/vm1');
    for (let i = 0; i < 100; i++) a.nextU32();
    expect(a.child('vm/vm2').nextU32()).toBe(before);
    expect(Prng.fromSeed(7).child('vm/vm1').nextU32()).not.toBe(before);
  });

  it('gives different streams for different seeds and labels', () => {
    expect(Prng.fromSeed(1).nextU32()).not.toBe(Prng.fromSeed(2).nextU32());
    expect(Prng.fromSeed(1).child('a').nextU32()).not.toBe(Prng.fromSeed(1).child('b').nextU32());
    expect(Prng.fromSeed(1).child('ab').nextU32()).not.toBe(Prng.fromSeed(1).child('a').child('b').nextU32());
  });

  it('restores its exact position from a checkpointed state', () => {
    const a = Prng.fromSeed(99).child('host/h1');
    for (let i = 0; i < 10; i++) a.nextU32();
    const b = Prng.fromState(JSON.parse(JSON.stringify(a.getState())));
    expect([b.nextU32(), b.nextU32()]).toEqual([a.nextU32(), a.nextU32()]);
  });

  it('rejects seeds that are not non-negative safe integers', () => {
    expect(() => Prng.fromSeed(-1)).toThrow(/seed/);
    expect(() => Prng.fromSeed(1.5)).toThrow(/seed/);
    expect(() => Prng.fromSeed(2 ** 53)).toThrow(/seed/);
  });

  it('draws bounded integers in range, unbiased enough to cover every value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 1000 }), (seed, n) => {
        const r = Prng.fromSeed(seed);
        for (let i = 0; i < 20; i++) {
          const x = r.nextInt(n);
          if (!(Number.isInteger(x) && x >= 0 && x < n)) return false;
        }
        return true;
      }),
    );
    const r = Prng.fromSeed(3);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(r.nextInt(6));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('draws exponential ns with about the asked mean, never below 1', () => {
    const r = Prng.fromSeed(5);
    let sum = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const x = r.nextExponentialNs(1000);
      expect(x).toBeGreaterThanOrEqual(1);
      sum += x;
    }
    expect(sum / n).toBeGreaterThan(950);
    expect(sum / n).toBeLessThan(1050);
  });
});
