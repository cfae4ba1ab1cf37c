// Every file a VM's guest perf sessions would have left behind, as bytes: per `perf record`
// session a perf.data file and the workload's perf map (once per guest pid), per `perf stat`
// session the text table and the `-x,` CSV. The one builder behind both the files a run writes
// (the guest-vm service builds them, the aggregator writes them) and `vpmu export --format
// perf-data` (rebuilt from a recording), so the two are the same bytes by construction.
import { formatPerfMap, formatPerfStat, formatPerfStatCsv, perfMapPath, writePerfData, type PerfDataRecord } from '@vpmu/perf-data';
import type { Scenario, VmSpec } from '@vpmu/world-spec';
import type { VmGuestEvents } from './guest-events.collector';
import { buildRecordExports } from './perf-record.build';
import { buildStatRun } from './perf-stat.build';
import type { WorkloadFunction } from './workload-symbols.table';

export type GuestPerfFileKind = 'perf.data' | 'perf map' | 'perf stat' | 'perf stat csv';

export interface GuestPerfFile {
  /** File name inside the VM's directory. */
  name: string;
  kind: GuestPerfFileKind;
  /** The guest perf session (vms[].guestPerf[].id) the file belongs to. */
  session: string;
  bytes: Uint8Array;
  /** perf.data: samples per event (spec order) and lost samples. */
  samplesPerEvent?: number[];
  lostSamples?: number;
  /** perf.data: THROTTLE and UNTHROTTLE records (the guest kernel's throttling of the session's events). */
  throttles?: number;
  unthrottles?: number;
  /** perf map: where perf looks for it. */
  perfMapTarget?: string;
  /** perf.data: the functions with the largest share, as `perf report` ranks them. */
  topFunctions?: TopFunction[];
}

export interface TopFunction {
  name: string;
  /** Share of the session's sampled period, parts per million (perf report's Overhead column). */
  overheadPpm: number;
  samples: number;
}

const TOP_FUNCTIONS = 5;

export interface GuestPerfFileSet {
  files: GuestPerfFile[];
  /** Guest PMIs outside every record session (not written). */
  unattributedPmis: number;
}

const utf8 = new TextEncoder();

/**
 * perf report's default ranking: each symbol's summed sample period over the total (its
 * Overhead column), ties by name. Only samples count; COMM/MMAP/LOST/THROTTLE records carry no period.
 */
function topFunctions(records: readonly PerfDataRecord[], functions: readonly WorkloadFunction[]): TopFunction[] {
  const byName = new Map<string, { period: bigint; samples: number }>();
  let total = 0n;
  for (const r of records) {
    if (r.kind !== 'sample') continue;
    const ip = BigInt(r.ip);
    const f = functions.find((fn) => ip >= fn.startAddr && ip < fn.startAddr + BigInt(fn.sizeBytes));
    const name = f?.name ?? '[unknown]';
    const period = BigInt(r.periodEvents);
    const acc = byName.get(name) ?? { period: 0n, samples: 0 };
    acc.period += period;
    acc.samples++;
    byName.set(name, acc);
    total += period;
  }
  if (total === 0n) return [];
  return [...byName.entries()]
    .sort(([an, a], [bn, b]) => (a.period !== b.period ? (a.period > b.period ? -1 : 1) : an < bn ? -1 : an > bn ? 1 : 0))
    .slice(0, TOP_FUNCTIONS)
    .map(([name, a]) => ({ name, samples: a.samples, overheadPpm: Number((a.period * 1_000_000n + total / 2n) / total) }));
}

export function buildGuestPerfFiles(scenario: Scenario, vm: VmSpec, events: VmGuestEvents): GuestPerfFileSet {
  const files: GuestPerfFile[] = [];
  if (vm.guestPerf.length === 0) return { files, unattributedPmis: 0 };
  const records = buildRecordExports(scenario, vm, events);
  const maps = new Set<number>();
  for (const r of records.sessions) {
    files.push({
      name: `${r.session.id}.perf.data`,
      kind: 'perf.data',
      session: r.session.id,
      bytes: writePerfData(r.perfData),
      samplesPerEvent: r.samplesPerEvent,
      lostSamples: r.lostSamples,
      throttles: r.throttles,
      unthrottles: r.unthrottles,
      topFunctions: topFunctions(r.perfData.records, r.image.functions),
    });
    if (maps.has(r.image.pid)) continue;
    maps.add(r.image.pid);
    const target = perfMapPath(r.image.pid);
    const symbols = r.image.functions.map((f) => ({ startAddr: f.startAddr, sizeBytes: f.sizeBytes, name: f.name }));
    files.push({ name: target.slice(target.lastIndexOf('/') + 1), kind: 'perf map', session: r.session.id, bytes: utf8.encode(formatPerfMap(symbols)), perfMapTarget: target });
  }
  for (const spec of vm.guestPerf) {
    if (spec.command !== 'stat') continue;
    const run = buildStatRun(scenario, vm, spec, events.readings.get(spec.id) ?? []);
    files.push({ name: `${spec.id}.perf-stat.txt`, kind: 'perf stat', session: spec.id, bytes: utf8.encode(formatPerfStat(run)) });
    files.push({ name: `${spec.id}.perf-stat.csv`, kind: 'perf stat csv', session: spec.id, bytes: utf8.encode(formatPerfStatCsv(run)) });
  }
  return { files, unattributedPmis: records.unattributedPmis };
}
