// Seeded, splittable PRNG (TigerBeetle/madsim style): one seed derives every stream.
//
// Generator: xoshiro128** (Blackman & Vigna), 32-bit arithmetic only, so results are the same on
// every platform and fast in V8. Splitting: a child stream's state is derived by hashing the
// parent's *seed material* (not its current position) with the child's label, so
// `root.child('vm/vm2')` is the same whether or not `vm/vm1` exists or has drawn numbers.
// Adding a VM therefore never reshuffles another VM's stream. Pinned by a golden vector test.

export interface PrngState {
  material: number[];
  s: [number, number, number, number];
}

export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(private readonly material: readonly number[]) {
    let h = 0x9e3779b9;
    const state: number[] = [];
    // splitmix32 over the material words fills the four state words.
    for (let i = 0; i < 4; i++) {
      h = (h + 0x9e3779b9) | 0;
      for (const w of material) h = mix32((h ^ w) >>> 0);
      state.push(mix32(h + i) >>> 0);
    }
    if ((state[0] | state[1] | state[2] | state[3]) === 0) state[0] = 1;
    [this.s0, this.s1, this.s2, this.s3] = state;
  }

  /** Root stream of a run. `seed` is a non-negative safe integer (up to 2^53 - 1). */
  static fromSeed(seed: number): Prng {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new Error(`seed must be a non-negative safe integer, got ${seed}`);
    }
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
    return new Prng([lo, hi]);
  }

  /** Independent child stream named `label` (e.g. "host/h1", "vcpu/0"). */
  child(label: string): Prng {
    return new Prng([...this.material, ...hashLabel(label)]);
  }

  /** The generator's position, for checkpoints (restore with `Prng.fromState`). */
  getState(): PrngState {
    return { material: [...this.material], s: [this.s0, this.s1, this.s2, this.s3] };
  }

  static fromState(state: PrngState): Prng {
    const p = new Prng(state.material);
    [p.s0, p.s1, p.s2, p.s3] = state.s;
    return p;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling), n <= 2^32. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x1_0000_0000) throw new Error(`nextInt: bad bound ${n}`);
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Uniform integer in [lo, hi] inclusive. */
  nextRange(lo: number, hi: number): number {
    return lo + this.nextInt(hi - lo + 1);
  }

  /** Exponentially distributed integer ns with the given mean (at least 1). */
  nextExponentialNs(meanNs: number): number {
    const u = 1 - this.nextFloat(); // (0, 1]
    return Math.max(1, Math.round(-Math.log(u) * meanNs));
  }

  /** Bernoulli trial. */
  chance(p: number): boolean {
    return this.nextFloat() < p;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Two independent 32-bit FNV-1a variants over the label's UTF-16 code units. */
function hashLabel(label: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < label.length; i++) {
    const c = label.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x01000193) >>> 0;
    b = mix32(b);
  }
  return [mix32(a ^ label.length), b];
}
