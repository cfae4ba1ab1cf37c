// Virtual time is integer nanoseconds; viewers want microseconds (Chrome trace JSON) or
// readable strings. Formatting goes through integer arithmetic so a 1000 s run keeps exact ns.

/** ns -> microseconds as an exact decimal string ("1234.567"). */
export function nsToUsDecimal(ns: number): string {
  const whole = Math.floor(ns / 1000);
  const frac = ns - whole * 1000;
  if (frac === 0) return String(whole);
  return `${whole}.${String(frac).padStart(3, '0').replace(/0+$/, '')}`;
}

/** A short human duration: "1.250 ms", "3.2 s", "850 ns". */
export function formatNs(ns: number): string {
  const abs = Math.abs(ns);
  if (abs >= 1e9) return `${(ns / 1e9).toFixed(abs >= 1e10 ? 2 : 3)} s`;
  if (abs >= 1e6) return `${(ns / 1e6).toFixed(3)} ms`;
  if (abs >= 1e3) return `${(ns / 1e3).toFixed(3)} µs`;
  return `${ns} ns`;
}
