// Quantities with units as users write them in a scenario: durations (`2s`, `1.5ms`), sizes
// (`4GiB`), bandwidths (`10Gbps`, `1GB/s`) and integers written in hex (`0x186`).
//
// Arithmetic is exact (BigInt over the decimal digits), so `0.3s` is 300000000 ns and not
// 299999999.99999997; a quantity that is not a whole number of the base unit is refused rather
// than rounded, because a silently rounded duration would change a run.

export type QuantityResult = { ok: true; value: number } | { ok: false; message: string };

interface UnitScale {
  /** base units per unit = num / den */
  num: bigint;
  den: bigint;
}

const NS = (n: bigint): UnitScale => ({ num: n, den: 1n });

const DURATION_UNITS: Record<string, UnitScale> = {
  ns: NS(1n),
  us: NS(1_000n),
  'µs': NS(1_000n),
  ms: NS(1_000_000n),
  s: NS(1_000_000_000n),
};

const SIZE_UNITS: Record<string, UnitScale> = {
  B: NS(1n),
  KB: NS(1_000n),
  kB: NS(1_000n),
  MB: NS(1_000_000n),
  GB: NS(1_000_000_000n),
  TB: NS(1_000_000_000_000n),
  KiB: NS(1n << 10n),
  MiB: NS(1n << 20n),
  GiB: NS(1n << 30n),
  TiB: NS(1n << 40n),
};

const BANDWIDTH_UNITS: Record<string, UnitScale> = {
  // bits per second (network style), converted to bytes per second
  bps: { num: 1n, den: 8n },
  Kbps: { num: 1_000n, den: 8n },
  kbps: { num: 1_000n, den: 8n },
  Mbps: { num: 1_000_000n, den: 8n },
  Gbps: { num: 1_000_000_000n, den: 8n },
  Tbps: { num: 1_000_000_000_000n, den: 8n },
  // bytes per second
  'B/s': NS(1n),
  'KB/s': NS(1_000n),
  'kB/s': NS(1_000n),
  'MB/s': NS(1_000_000n),
  'GB/s': NS(1_000_000_000n),
  'TB/s': NS(1_000_000_000_000n),
  'KiB/s': NS(1n << 10n),
  'MiB/s': NS(1n << 20n),
  'GiB/s': NS(1n << 30n),
  'TiB/s': NS(1n << 40n),
};

interface QuantityKind {
  what: string;          // "duration"
  base: string;          // "nanoseconds"
  units: Record<string, UnitScale>;
  unitList: string;      // for messages
  example: string;
}

const DURATION: QuantityKind = {
  what: 'duration',
  base: 'nanoseconds',
  units: DURATION_UNITS,
  unitList: 'ns, us, ms, s',
  example: '500ms',
};
const SIZE: QuantityKind = {
  what: 'size',
  base: 'bytes',
  units: SIZE_UNITS,
  unitList: 'B, KiB, MiB, GiB, TiB, KB, MB, GB, TB',
  example: '4GiB',
};
const BANDWIDTH: QuantityKind = {
  what: 'bandwidth',
  base: 'bytes per second',
  units: BANDWIDTH_UNITS,
  unitList: 'bps, Kbps, Mbps, Gbps, Tbps, B/s, KB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s',
  example: '10Gbps',
};

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const QUANTITY_RE = /^([+-]?)(\d+)(?:\.(\d+))?\s*(.*)$/;

function parseQuantity(input: string | number, kind: QuantityKind): QuantityResult {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { ok: false, message: `expected a ${kind.what}, got ${input}` };
    if (input < 0) return { ok: false, message: `${kind.what} must not be negative, got ${input}` };
    if (!Number.isInteger(input)) {
      return {
        ok: false,
        message: `${input} is not a whole number of ${kind.base}; write it with a unit (e.g. ${kind.example})`,
      };
    }
    if (!Number.isSafeInteger(input)) return { ok: false, message: `${kind.what} ${input} is too large` };
    return { ok: true, value: input };
  }
  const text = input.trim();
  const m = QUANTITY_RE.exec(text);
  if (!m) {
    return {
      ok: false,
      message: `"${truncate(input)}" is not a ${kind.what}; write a number and a unit (${kind.unitList}), e.g. ${kind.example}`,
    };
  }
  const [, sign, intDigits, fracDigits = '', unit] = m;
  if (unit !== '' && !/^[A-Za-zµ]/.test(unit)) {
    return {
      ok: false,
      message: `"${truncate(input)}" is not a ${kind.what}; write a number and a unit (${kind.unitList}), e.g. ${kind.example}`,
    };
  }
  if (unit === '') {
    return {
      ok: false,
      message: `"${truncate(input)}" has no unit; add one (${kind.unitList}) or write a plain integer number of ${kind.base} without quotes`,
    };
  }
  const scale = kind.units[unit];
  if (!scale) {
    return { ok: false, message: `unknown ${kind.what} unit "${truncate(unit)}" in "${truncate(input)}" (use ${kind.unitList})` };
  }
  if (sign === '-' && /[1-9]/.test(intDigits + fracDigits)) {
    return { ok: false, message: `${kind.what} must not be negative, got "${truncate(input)}"` };
  }
  const mantissa = BigInt(intDigits + fracDigits);
  const num = mantissa * scale.num;
  const den = 10n ** BigInt(fracDigits.length) * scale.den;
  if (num % den !== 0n) {
    return { ok: false, message: `"${truncate(input)}" is not a whole number of ${kind.base}` };
  }
  const value = num / den;
  if (value > MAX_SAFE) return { ok: false, message: `${kind.what} "${truncate(input)}" is too large` };
  return { ok: true, value: Number(value) };
}

/** The unit names each quantity accepts (`ms`, `GiB`, `Gbps`, ...), for schemas and help. */
export const QUANTITY_UNIT_NAMES: Readonly<Record<'duration' | 'size' | 'bandwidth', readonly string[]>> = {
  duration: Object.keys(DURATION_UNITS),
  size: Object.keys(SIZE_UNITS),
  bandwidth: Object.keys(BANDWIDTH_UNITS),
};

/** `2s`, `500ms`, `250us`, `1.5ms`, `100ns` or an integer number of nanoseconds → ns. */
export function parseDurationNs(input: string | number): QuantityResult {
  return parseQuantity(input, DURATION);
}

/** `4GiB`, `512MiB`, `1GB` or an integer number of bytes → bytes. */
export function parseSizeBytes(input: string | number): QuantityResult {
  return parseQuantity(input, SIZE);
}

/** `10Gbps` (bits), `1GB/s`, `512MiB/s` or an integer number of bytes per second → bytes/s. */
export function parseBandwidthBytesPerSec(input: string | number): QuantityResult {
  return parseQuantity(input, BANDWIDTH);
}

/**
 * An integer written as a YAML integer or as a hex string (`"0x186"`, for MSR numbers and
 * register values). Limited to 2^53 - 1, the largest integer a JS number holds exactly.
 */
export function parseInteger(input: string | number): QuantityResult {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || !Number.isInteger(input)) {
      return { ok: false, message: `expected a whole number, got ${input}` };
    }
    if (!Number.isSafeInteger(input)) {
      return { ok: false, message: `${input} is larger than 2^53 - 1, the largest value this tool holds exactly` };
    }
    return { ok: true, value: input };
  }
  const text = input.trim();
  const hex = /^(-?)0[xX]([0-9a-fA-F]+)$/.exec(text);
  if (hex) {
    const value = BigInt('0x' + hex[2]) * (hex[1] === '-' ? -1n : 1n);
    if (value > MAX_SAFE || value < -MAX_SAFE) {
      return { ok: false, message: `${text} is larger than 2^53 - 1, the largest value this tool holds exactly` };
    }
    return { ok: true, value: Number(value) };
  }
  return {
    ok: false,
    message: `expected a whole number (e.g. 390) or a hex string (e.g. 0x186), got "${truncate(input)}"`,
  };
}

/** Renders ns with the largest unit that keeps it short: 200ms, 1.5ms, 250us, 3ns. */
export function formatDurationNs(ns: number): string {
  const units: [string, number][] = [
    ['s', 1e9],
    ['ms', 1e6],
    ['us', 1e3],
  ];
  for (const [unit, scale] of units) {
    if (Math.abs(ns) >= scale) {
      const v = ns / scale;
      // at most three decimals, and only when exact
      if (Number.isInteger(v * 1000)) return `${v}${unit}`;
    }
  }
  return `${ns}ns`;
}

function truncate(s: string, max = 40): string {
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}
