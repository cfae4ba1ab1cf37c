// The scale matrix of `npm run bench`: generated fleet worlds (bench/fleet-scenario.ts) of
// 1, 4 and 16 hosts at 0.5 s and 5 s of virtual time (1x and 10x), embedded, each row in its own
// `node dist/bench/scale-row.js` process so that its peak RSS is its own and one row's garbage
// never slows the next. Rows run one after another: on a shared box, parallel rows would measure
// each other.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import type { ScaleRowResult } from './scale-row';

export interface ScaleCell {
  hosts: number;
  durationMs: number;
  /** The scenario's trace level; full when absent. */
  trace?: 'full' | 'summary';
}

/**
 * The default matrix: 0.5 s and 5 s (1x and 10x) for 1 and 4 hosts; the 16-host world at 0.25 s
 * and 2.5 s (still 1x and 10x), because 16 hosts x 5 s alone took about 5 minutes on the shared
 * 2-core bench machine and the whole bench has to stay near 10 minutes.
 * VPMU_BENCH_MATRIX (e.g. `1x500,4x500,16x5000,4x500:summary`) replaces the list.
 */
export const DEFAULT_MATRIX: ScaleCell[] = [
  { hosts: 1, durationMs: 500 },
  { hosts: 1, durationMs: 5000 },
  { hosts: 4, durationMs: 500 },
  { hosts: 4, durationMs: 5000 },
  { hosts: 16, durationMs: 250 },
  { hosts: 16, durationMs: 2500 },
  // The 32-vCPU world again at the summary trace level, which has its own vCPU-s/wall-s goal (docs/bench.md).
  { hosts: 4, durationMs: 500, trace: 'summary' },
  { hosts: 4, durationMs: 5000, trace: 'summary' },
];

export function parseMatrix(spec: string | undefined): ScaleCell[] {
  if (!spec) return DEFAULT_MATRIX;
  return spec.split(',').map((cell) => {
    const m = /^(\d+)x(\d+)(?::(full|summary))?$/.exec(cell.trim());
    if (!m) throw new Error(`VPMU_BENCH_MATRIX: "${cell}" is not HOSTSxDURATION_MS[:full|summary] (e.g. 4x500 or 4x500:summary)`);
    return { hosts: Number(m[1]), durationMs: Number(m[2]), ...(m[3] === 'summary' && { trace: 'summary' as const }) };
  });
}

export interface ScaleMatrixRow extends ScaleRowResult {
  /** Simulated vCPU-seconds per wall second (vCPUs x virtual s / wall s). */
  vcpuSecondsPerWallSecond: number;
  eventsPerSec: number;
  /** Simulation events/s over the raw protobuf decode rate (generated decoder) of the same batches. */
  ratioToDecode: number;
  bytesPerEvent: number;
  /** CPU seconds the run's process used per wall second (above 1: GC and compiler threads). */
  cpuSecondsPerWallSecond: number;
  /** Barrier round trips per virtual second (lookahead windows on; one per epoch without them). */
  roundTripsPerVirtualSecond: number;
}

export function runScaleRow(cell: ScaleCell): ScaleMatrixRow {
  const script = path.join(__dirname, 'scale-row.js');
  const r = spawnSync(process.execPath, [script, String(cell.hosts), String(cell.durationMs), '--trace', cell.trace ?? 'full'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`scale row ${cell.hosts} hosts x ${cell.durationMs} ms failed (exit ${r.status}): ${r.stderr.trim()}`);
  const row = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ScaleRowResult;
  const wallS = row.wallMs / 1000;
  const eventsPerSec = row.events / wallS;
  return {
    ...row,
    vcpuSecondsPerWallSecond: (row.vcpus * row.durationMs) / 1000 / wallS,
    eventsPerSec,
    ratioToDecode: eventsPerSec / row.pbjsDecodeEventsPerSec,
    bytesPerEvent: row.recordingBytes / Math.max(row.events, 1),
    cpuSecondsPerWallSecond: row.cpuMs / row.wallMs,
    roundTripsPerVirtualSecond: row.barrierRoundTrips / (row.durationMs / 1000),
  };
}

/** The matrix as a fixed-width text table, plus the RSS growth from 1x to 10x per world. */
export function formatScaleMatrix(rows: ScaleMatrixRow[]): string {
  const header = ['world', 'trace', 'vCPUs', 'virtual s', 'wall s', 'vCPU-s/wall-s', 'events', 'events/s', 'pbjs decode ev/s', 'sim/pbjs', 'decodeEventBatch ev/s', 'B/event', 'peak RSS MiB', 'round trips/virtual s'];
  const body = rows.map((r) => [
    `${r.hosts} host${r.hosts === 1 ? '' : 's'}`,
    r.trace,
    String(r.vcpus),
    (r.durationMs / 1000).toString(),
    r.wallMs >= 10_000 ? (r.wallMs / 1000).toFixed(1) : (r.wallMs / 1000).toFixed(2),
    r.vcpuSecondsPerWallSecond.toFixed(2),
    String(r.events),
    String(Math.round(r.eventsPerSec)),
    String(Math.round(r.pbjsDecodeEventsPerSec)),
    r.ratioToDecode.toFixed(3),
    String(Math.round(r.decodeEventsPerSec)),
    r.bytesPerEvent.toFixed(2),
    (r.peakRssBytes / (1024 * 1024)).toFixed(1),
    r.roundTripsPerVirtualSecond.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  for (const world of [...new Set(rows.map((r) => `${r.hosts} ${r.trace}`))]) {
    const [hosts, trace] = [Number(world.split(' ')[0]), world.split(' ')[1]];
    const ofWorld = rows.filter((r) => r.hosts === hosts && r.trace === trace).sort((a, b) => a.durationMs - b.durationMs);
    if (ofWorld.length < 2) continue;
    const first = ofWorld[0];
    const last = ofWorld[ofWorld.length - 1];
    out.push(
      `${hosts} host${hosts === 1 ? '' : 's'}${trace === 'summary' ? ' (trace: summary)' : ''}: peak RSS ${(first.peakRssBytes / 1048576).toFixed(1)} MiB at ${first.durationMs / 1000} s, ` +
        `${(last.peakRssBytes / 1048576).toFixed(1)} MiB at ${last.durationMs / 1000} s (${(last.durationMs / first.durationMs).toFixed(0)}x duration, ` +
        `${(last.peakRssBytes / first.peakRssBytes).toFixed(2)}x RSS)`,
    );
  }
  return out.join('\n') + '\n';
}
