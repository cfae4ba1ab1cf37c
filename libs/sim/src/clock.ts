// Integer-nanosecond virtual clock. Virtual time never goes backwards and is never read from
// the wall clock. JS numbers hold integers exactly up to 2^53 ns (about 104 days), far beyond
// any scenario, and are much faster than bigint on the hot path.

export const NS_PER_US = 1_000;
export const NS_PER_MS = 1_000_000;
export const NS_PER_SEC = 1_000_000_000;
export const MAX_VIRTUAL_NS = Number.MAX_SAFE_INTEGER;

export class SimClock {
  private nowNsValue: number;

  constructor(startNs = 0) {
    assertVirtualNs(startNs, 'startNs');
    this.nowNsValue = startNs;
  }

  get nowNs(): number {
    return this.nowNsValue;
  }

  /** Moves virtual time forward to `ns`. Moving backwards is a model bug. */
  advanceTo(ns: number): void {
    assertVirtualNs(ns, 'ns');
    if (ns < this.nowNsValue) {
      throw new Error(`SimClock: time went backwards (${ns} < ${this.nowNsValue})`);
    }
    this.nowNsValue = ns;
  }
}

export function assertVirtualNs(ns: number, what: string): void {
  if (!Number.isSafeInteger(ns) || ns < 0) {
    throw new Error(`${what} must be a non-negative integer number of ns, got ${ns}`);
  }
}

/** Formats virtual ns for people: 1.5ms, 250us, 2s. */
export function formatNs(ns: number): string {
  if (ns >= NS_PER_SEC && ns % NS_PER_MS === 0) return `${trim(ns / NS_PER_SEC)}s`;
  if (ns >= NS_PER_MS) return `${trim(ns / NS_PER_MS)}ms`;
  if (ns >= NS_PER_US) return `${trim(ns / NS_PER_US)}us`;
  return `${ns}ns`;
}

function trim(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(3).replace(/0+$/, '').replace(/\.$/, '');
}
