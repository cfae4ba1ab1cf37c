// The analytic counting engine shared by the Intel and arm64 PMU models.
//
// A counter does not tick: over a segment of dtNs at a constant rate it gains
// floor((rateQ * dtNs + acc) / 2^16) events, where rateQ is the rate in 2^-16 events/ns and acc
// the carried fraction. All arithmetic is on integers below 2^53, so counts are exact, never move
// backwards, and advancing by a then b equals advancing by a + b (chunk-independent, which replay
// and the "exact overflow instant" rely on). The overflow instant is the smallest integer k with
// rateQ * k + acc >= need * 2^16 (need = events left to the wrap), computed, not polled
// (counters advance analytically; the exact overflow instant is computed, never polled).
//
// Register values are kept in a signed form: `stored` is congruent to the register value modulo
// 2^widthBits and lies in (-2^53, 2^53). Widths up to 52 bits are stored as is; a 64-bit register
// holding a value v >= 2^63 (arm's PMCCNTR written with -period) is stored as v - 2^64. A counter
// overflows each time `stored` crosses a multiple of 2^overflowBits (overflowBits < widthBits for
// arm's cycle counter with PMCR.LC = 0).

import { RATE_SCALE, type EventRates, type ExecMode } from './events';

/** Advance in chunks of at most 2^29 ns: rateQ < 2^23 keeps rateQ * dt below 2^52. */
const MAX_CHUNK_NS = 2 ** 29;
/** Beyond this many events to the wrap, need * 2^16 is no longer exact: predict conservatively. */
const MAX_EXACT_NEED = 2 ** 36;

export type CountFilter = 'plain' | 'cmask';

export class CounterBank {
  readonly size: number;
  readonly stored: Float64Array;
  readonly acc: Float64Array;
  readonly sinceWrite: Float64Array;
  readonly valueModulus: Float64Array;
  readonly overflowModulus: Float64Array;
  /** Workload event index counted, -1 = none. */
  readonly eventIdx: Int8Array;
  /** Mode bits (pmu.types MODE_*_BIT) after the privilege and guest/host filters. */
  readonly modeBits: Uint8Array;
  /** 1 = every enable condition holds (set by the PMU model via `setCounting`). */
  readonly counting: Uint8Array;
  /** 1 = an overflow raises a PMI. */
  readonly interrupt: Uint8Array;
  /** Intel CMASK / INV / EDGE approximation (see effectiveRate). */
  readonly cmask: Uint8Array;
  readonly inv: Uint8Array;
  readonly edge: Uint8Array;

  /** Effective rate per counter for the cached (rates, mode, config) key. */
  private readonly effQ: Float64Array;
  private cacheRates: EventRates | null = null;
  private cacheMode = -1;
  private configVersion = 0;
  private cacheVersion = -1;
  /** Indices of counting counters with a non-zero effective rate... recomputed with the cache. */
  private readonly live: Int32Array;
  private liveCount = 0;
  /** Indices of counting counters with an event, for the cached configuration. */
  private readonly enabled: Int32Array;
  private enabledCount = 0;
  private liveInterrupt = 0;

  /** Wraps observed during advance, drained by the owning PMU. Parallel arrays, reused. */
  wrapCount = 0;
  wrapIdx: Int32Array;
  wrapAtNs: Float64Array;

  constructor(widthBits: readonly number[], overflowBits: readonly number[] = widthBits) {
    const n = widthBits.length;
    this.size = n;
    this.stored = new Float64Array(n);
    this.acc = new Float64Array(n);
    this.sinceWrite = new Float64Array(n);
    this.valueModulus = new Float64Array(n);
    this.overflowModulus = new Float64Array(n);
    this.eventIdx = new Int8Array(n).fill(-1);
    this.modeBits = new Uint8Array(n);
    this.counting = new Uint8Array(n);
    this.interrupt = new Uint8Array(n);
    this.cmask = new Uint8Array(n);
    this.inv = new Uint8Array(n);
    this.edge = new Uint8Array(n);
    this.effQ = new Float64Array(n);
    this.live = new Int32Array(n);
    this.enabled = new Int32Array(n);
    this.wrapIdx = new Int32Array(16);
    this.wrapAtNs = new Float64Array(16);
    for (let i = 0; i < n; i++) {
      this.valueModulus[i] = 2 ** widthBits[i];
      this.overflowModulus[i] = 2 ** overflowBits[i];
    }
  }

  /** Call after any change of eventIdx / modeBits / counting / interrupt / cmask. */
  touch(): void {
    this.configVersion++;
  }

  /**
   * Copies another bank's counter values (same size): the value half of a PMU context switch,
   * allocation-free (typed-array `set`: native, fast even before the JIT warms up).
   */
  copyValuesFrom(src: CounterBank): void {
    if (src.size !== this.size) throw new Error(`CounterBank.copyValuesFrom: ${src.size} counters into ${this.size}`);
    // Element loops, not TypedArray.set: a bank holds a dozen counters and this runs at every
    // passthrough entry and exit, where set()'s per-call overhead dominates.
    const n = this.size;
    const ds = this.stored, da = this.acc, dw = this.sinceWrite;
    const ss = src.stored, sa = src.acc, sw = src.sinceWrite;
    for (let i = 0; i < n; i++) {
      ds[i] = ss[i];
      da[i] = sa[i];
      dw[i] = sw[i];
    }
  }

  /**
   * Copies another bank's per-counter configuration (what the owning PMU derives from its
   * registers, and the overflow widths), then invalidates the rate cache. Pending wraps are not
   * copied (the owning PMU drains them after every advance).
   */
  copyConfigFrom(src: CounterBank): void {
    if (src.size !== this.size) throw new Error(`CounterBank.copyConfigFrom: ${src.size} counters into ${this.size}`);
    // Element loops (see copyValuesFrom).
    for (let i = 0, n = this.size; i < n; i++) {
      this.overflowModulus[i] = src.overflowModulus[i];
      this.eventIdx[i] = src.eventIdx[i];
      this.modeBits[i] = src.modeBits[i];
      this.counting[i] = src.counting[i];
      this.interrupt[i] = src.interrupt[i];
      this.cmask[i] = src.cmask[i];
      this.inv[i] = src.inv[i];
      this.edge[i] = src.edge[i];
    }
    this.touch();
  }

  setOverflowBits(i: number, bits: number): void {
    this.overflowModulus[i] = 2 ** bits;
    this.touch();
  }

  /**
   * Register write: the value is taken modulo 2^width. The fractional carry is kept: it is the
   * sub-event progress of the execution stream, not part of the register, so reprogramming never
   * loses or invents events.
   */
  write(i: number, value: number | bigint): void {
    const mod = this.valueModulus[i];
    let v: number;
    if (typeof value === 'bigint') {
      const bmod = BigInt(mod);
      let b = ((value % bmod) + bmod) % bmod;
      if (mod > 2 ** 52 && b >= bmod / 2n) b -= bmod;
      v = Number(b);
    } else if (mod > 2 ** 52) {
      // A 64-bit register written from a number: numbers are exact only within +-2^53, which is
      // exactly the signed form (negative = close below 2^64).
      if (!Number.isSafeInteger(value)) throw new Error(`counter value ${value} is not exact; pass a bigint`);
      v = value;
    } else {
      v = ((value % mod) + mod) % mod;
    }
    this.stored[i] = v;
    this.sinceWrite[i] = 0;
  }

  /** Sets the counter so that it overflows after exactly `events` more events. */
  writeToOverflowIn(i: number, events: number): void {
    if (!(Number.isSafeInteger(events) && events >= 1)) throw new Error(`period must be a positive integer, got ${events}`);
    const mod = this.overflowModulus[i];
    const vmod = this.valueModulus[i];
    // -events modulo 2^overflowBits, within the register width.
    this.stored[i] = vmod > 2 ** 52 && mod === vmod ? -events : mod - (events % mod === 0 ? mod : events % mod);
    this.sinceWrite[i] = 0;
  }

  /** Register value as an unsigned bigint. */
  readBig(i: number): bigint {
    const s = this.stored[i];
    if (s >= 0) return BigInt(s);
    return BigInt(this.valueModulus[i]) + BigInt(s);
  }

  private refresh(rates: EventRates, mode: ExecMode): void {
    const modeKey = (mode.guest ? 2 : 0) | (mode.kernel ? 1 : 0);
    if (rates === this.cacheRates && modeKey === this.cacheMode && this.cacheVersion === this.configVersion) return;
    if (this.cacheVersion !== this.configVersion) {
      // Configuration changed: only counting counters with an event can have a rate; the rest
      // stay at 0 until the next configuration change, whatever the rates (which change at every
      // guest entry and exit).
      let n = 0;
      for (let i = 0; i < this.size; i++) {
        this.effQ[i] = 0;
        if (this.counting[i] && this.eventIdx[i] >= 0) this.enabled[n++] = i;
      }
      this.enabledCount = n;
    }
    this.cacheRates = rates;
    this.cacheMode = modeKey;
    this.cacheVersion = this.configVersion;
    const g = mode.guest ? 2 : 0;
    let live = 0;
    let liveInt = 0;
    for (let j = 0; j < this.enabledCount; j++) {
      const i = this.enabled[j];
      const e = this.eventIdx[i];
      const bits = this.modeBits[i];
      const u = (bits >> g) & 1;
      const k = (bits >> (g + 1)) & 1;
      let q: number;
      if (mode.kernel) q = k ? rates.totalQ[e] : 0;
      else q = (u ? rates.userQ[e] : 0) + (k ? rates.kernelQ[e] : 0);
      if (this.cmask[i] || this.inv[i] || this.edge[i]) q = this.effectiveRate(i, q, rates, mode, u, k);
      this.effQ[i] = q;
      if (q > 0) {
        this.live[live++] = i;
        if (this.interrupt[i]) liveInt++;
      }
    }
    this.liveCount = live;
    this.liveInterrupt = liveInt;
  }

  /**
   * CMASK / INV / EDGE counters count cycles, not events. The analytic model assumes events are
   * spread evenly over cycles: with r events per cycle, a cycle sees floor(r) or ceil(r) events,
   * ceil(r) in a fraction frac(r) of cycles. CMASK=c counts cycles with >= c events, INV counts
   * the complement, EDGE counts rising edges of the condition (min(p, 1-p) per cycle). A model
   * approximation, documented in docs/perf-model.md; real counts depend on burstiness.
   */
  private effectiveRate(i: number, q: number, rates: EventRates, mode: ExecMode, u: number, k: number): number {
    const c = this.cmask[i];
    const cyclesQ = mode.kernel ? (k ? rates.totalQ[1] : 0) : (u ? rates.userQ[1] : 0) + (k ? rates.kernelQ[1] : 0);
    if (cyclesQ === 0) return 0;
    if (c === 0 && !this.inv[i] && !this.edge[i]) return q;
    const r = q / cyclesQ;
    const threshold = c === 0 ? 1 : c;
    const fl = Math.floor(r);
    let p = fl >= threshold ? 1 : Math.ceil(r) >= threshold ? r - fl : 0;
    if (this.inv[i]) p = 1 - p;
    if (this.edge[i]) p = Math.min(p, 1 - p);
    return Math.floor(cyclesQ * p);
  }

  /** Number of counters counting at a non-zero rate with their interrupt enabled. */
  interruptLiveCount(rates: EventRates, mode: ExecMode): number {
    this.refresh(rates, mode);
    return this.liveInterrupt;
  }

  /**
   * Advances every live counter by dtNs starting at t0Ns, recording wraps (index and exact
   * instant) in wrapIdx / wrapAtNs. Returns nothing; allocation-free unless > 16 wraps pile up.
   */
  advance(dtNs: number, t0Ns: number, rates: EventRates, mode: ExecMode): void {
    if (dtNs <= 0) return;
    this.refresh(rates, mode);
    if (this.liveCount === 0) return;
    while (dtNs > MAX_CHUNK_NS) {
      this.advanceChunk(MAX_CHUNK_NS, t0Ns);
      dtNs -= MAX_CHUNK_NS;
      t0Ns += MAX_CHUNK_NS;
    }
    this.advanceChunk(dtNs, t0Ns);
  }

  private advanceChunk(dtNs: number, t0Ns: number): void {
    const live = this.live;
    for (let j = 0; j < this.liveCount; j++) {
      const i = live[j];
      const q = this.effQ[i];
      const a0 = this.acc[i];
      const total = q * dtNs + a0;
      const n = Math.floor(total / RATE_SCALE);
      this.acc[i] = total - n * RATE_SCALE;
      if (n === 0) continue;
      const s = this.stored[i];
      const om = this.overflowModulus[i];
      let boundary = (Math.floor(s / om) + 1) * om;
      const ns = s + n;
      this.sinceWrite[i] += n;
      if (ns >= boundary) {
        // One or more wraps inside this chunk: record each at its exact instant.
        let need = boundary - s;
        while (need <= n) {
          this.recordWrap(i, t0Ns + firstNsReaching(need, q, a0));
          boundary += om;
          need += om;
        }
        const vm = this.valueModulus[i];
        this.stored[i] = ns >= vm ? ns - Math.floor(ns / vm) * vm : ns;
      } else {
        this.stored[i] = ns;
      }
    }
  }

  private recordWrap(i: number, atNs: number): void {
    if (this.wrapCount === this.wrapIdx.length) {
      const idx = new Int32Array(this.wrapCount * 2);
      idx.set(this.wrapIdx);
      const at = new Float64Array(this.wrapCount * 2);
      at.set(this.wrapAtNs);
      this.wrapIdx = idx;
      this.wrapAtNs = at;
    }
    this.wrapIdx[this.wrapCount] = i;
    this.wrapAtNs[this.wrapCount] = atNs;
    this.wrapCount++;
  }

  /**
   * Exact ns until the first interrupt-enabled live counter overflows (Infinity if none). When
   * the wrap is more than 2^36 events away the answer is a safe lower bound instead (the caller
   * asks again when it gets there).
   */
  nextInterruptWrapInNs(rates: EventRates, mode: ExecMode): number {
    this.refresh(rates, mode);
    if (this.liveInterrupt === 0) return Infinity;
    let best = Infinity;
    for (let j = 0; j < this.liveCount; j++) {
      const i = this.live[j];
      if (!this.interrupt[i]) continue;
      const k = this.nsToWrap(i);
      if (k < best) best = k;
    }
    return best;
  }

  /** Exact ns until counter i (live) next wraps; lower bound beyond 2^36 events. */
  nsToWrap(i: number): number {
    const q = this.effQ[i];
    if (q <= 0) return Infinity;
    const s = this.stored[i];
    const om = this.overflowModulus[i];
    const need = (Math.floor(s / om) + 1) * om - s;
    if (need > MAX_EXACT_NEED) return Math.max(1, Math.floor(((need - 1) * RATE_SCALE) / q) - 1);
    return firstNsReaching(need, q, this.acc[i]);
  }

  /** Events the counter gains in the next dtNs under the cached rates (no state change). */
  eventsIn(i: number, dtNs: number): number {
    return Math.floor((this.effQ[i] * dtNs + this.acc[i]) / RATE_SCALE);
  }
}

/** Smallest integer k >= 1 with floor((q*k + a0) / 2^16) >= need (need >= 1, q > 0). */
function firstNsReaching(need: number, q: number, a0: number): number {
  const target = need * RATE_SCALE - a0;
  let k = Math.ceil(target / q);
  if (k < 1) k = 1;
  // Guard the float division: the result must be exact on integers.
  while (q * k < target) k++;
  while (k > 1 && q * (k - 1) >= target) k--;
  return k;
}
