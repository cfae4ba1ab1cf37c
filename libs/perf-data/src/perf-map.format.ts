// The symbol source for the guest's workload: a perf map file, the format JITs use to tell perf
// about code it cannot find on disk (tools/perf/Documentation/jit-interface.txt).
//
// How perf finds it: a PERF_RECORD_MMAP/MMAP2 of an executable mapping whose filename is "//anon"
// becomes, inside perf, the DSO "/tmp/perf-<pid>.map" (tools/perf/util/map.c, map__new), with
// identity address translation. At `perf report`/`perf script` time perf opens that path on the
// machine where it runs, and resolves each sample ip against the lines "START SIZE name" (hex,
// absolute addresses). So the user writes the text this module returns to
// /tmp/perf-<pid>.map (pid = the pid of the mmap record), owned by the user running perf or by
// root (perf ignores a map owned by someone else unless given -f), then runs perf as usual.
// perf first looks at /proc/<pid> of the reading machine (namespace, thread group): a guest pid
// that a live process there also has can send it to another file, so guest pids should not
// collide (docs/perf-data.md).
//
// Why this and not an ELF with .symtab: no build id, no file path to match, no ELF writer to
// maintain; the simulated workload has no binary on disk anyway.
import { toU64, type U64 } from './byte.writer';

/** One function of the workload's code. */
export interface PerfMapSymbol {
  startAddr: U64;
  sizeBytes: U64;
  name: string;
}

/** The path perf looks at for the anonymous executable mappings of process `pid`. */
export function perfMapPath(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`pid ${pid} is not a positive integer`);
  return `/tmp/perf-${pid}.map`;
}

/** The perf map text for `symbols`, sorted by address; overlaps and unnamed symbols are refused. */
export function formatPerfMap(symbols: readonly PerfMapSymbol[]): string {
  const sorted = symbols
    .map((s) => ({ start: toU64(s.startAddr, `${s.name} startAddr`), size: toU64(s.sizeBytes, `${s.name} sizeBytes`), name: s.name }))
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let prevEnd = 0n;
  let prevName = '';
  const lines: string[] = [];
  for (const s of sorted) {
    // perf splits the line at the second space and keeps the rest, so spaces in names are fine;
    // a newline would start a bogus symbol.
    if (s.name.length === 0 || /[\r\n]/.test(s.name)) throw new RangeError(`symbol name ${JSON.stringify(s.name)} is empty or has a newline`);
    if (s.size === 0n) throw new RangeError(`symbol ${s.name} has size 0`);
    if (s.start < prevEnd) throw new RangeError(`symbol ${s.name} overlaps ${prevName}`);
    lines.push(`${s.start.toString(16)} ${s.size.toString(16)} ${s.name}`);
    prevEnd = s.start + s.size;
    prevName = s.name;
  }
  return lines.map((l) => `${l}\n`).join('');
}
