// `npm run bench`: throughput and size figures of the pipeline, all measured in one run on the
// same machine so their ratios mean something on a shared, noisy box. Prints one table and
// writes bench/results.json. Wall-clock use throughout is measurement, outside the simulation.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeEventBatch } from '@vpmu/proto';
import { readRecording } from '@vpmu/recording';
import { parseScenario } from '@vpmu/scenario';
import { runEmbedded } from '../apps/cli/src/embedded-runtime';
import { deriveRunId } from '../apps/cli/src/scenario-file';
import { TOOL_VERSION } from '../apps/cli/src/version';

interface Row {
  name: string;
  value: number;
  unit: string;
}

const ROOT = path.resolve(__dirname, '..', '..');
let peakRssBytes = 0;
const sampler = setInterval(() => (peakRssBytes = Math.max(peakRssBytes, process.memoryUsage().rss)), 20); // wall-clock ok: bench sampling

/** Bench runs use a longer duration than the scenario's (steady state, not start-up). */
const BENCH_DURATION = process.env.VPMU_BENCH_DURATION ?? '2s';

async function benchScenario(file: string, rows: Row[]): Promise<void> {
  const text = fs.readFileSync(path.join(ROOT, 'scenarios', file), 'utf8').replace(/^duration: .*$/m, `duration: ${BENCH_DURATION}`);
  const parsed = parseScenario(text);
  if (!parsed.ok) throw new Error(`${file} invalid`);
  const scenario = parsed.scenario;
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpmu-bench-'));
  const t0 = performance.now(); // wall-clock ok: bench
  const r = await runEmbedded({ runId: deriveRunId(text, scenario), scenario, scenarioText: text, toolVersion: TOOL_VERSION, outDir });
  const wallMs = performance.now() - t0; // wall-clock ok: bench
  const events = r.summary.events.total;
  const name = `${scenario.name} (${BENCH_DURATION})`;
  rows.push({ name: `${name}: simulated events/s (embedded)`, value: Math.round(events / (wallMs / 1000)), unit: 'events/s' });
  rows.push({ name: `${name}: virtual-to-wall speed-up`, value: round(scenario.durationNs / 1e6 / wallMs, 3), unit: 'x' });
  rows.push({ name: `${name}: recording bytes/event`, value: round(r.recording.bytes / Math.max(events, 1), 2), unit: 'B/event' });
  const rt = r.barrierRoundTripMs.slice().sort((a, b) => a - b);
  rows.push({ name: `${name}: barrier round trip p50 (embedded)`, value: round(rt[Math.floor(rt.length / 2)] ?? 0, 3), unit: 'ms' });

  // The ceiling: raw protobuf decode of the same event batches, no simulation, no transport.
  const rec = readRecording(path.join(outDir, 'recording.vpmurec'));
  const batches = rec.epochs.flatMap((e) => e.frames.map((f) => f.batch));
  const t1 = performance.now(); // wall-clock ok: bench
  let decoded = 0;
  for (let rep = 0; rep < 3; rep++) for (const b of batches) decoded += decodeEventBatch(b).length;
  const decodeMs = performance.now() - t1; // wall-clock ok: bench
  rows.push({ name: `${name}: raw protobuf decode rate (ceiling)`, value: Math.round(decoded / (decodeMs / 1000)), unit: 'events/s' });
  fs.rmSync(outDir, { recursive: true, force: true });
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const files = (process.env.VPMU_BENCH_SCENARIOS ?? 'quickstart.yaml').split(',');
  for (const f of files) await benchScenario(f, rows);
  clearInterval(sampler);
  rows.push({ name: 'peak RSS', value: round(peakRssBytes / (1024 * 1024), 1), unit: 'MiB' });
  const width = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write(`vpmu-lab bench (${os.cpus().length} cores, node ${process.version})\n`);
  for (const r of rows) process.stdout.write(`${r.name.padEnd(width)}  ${String(r.value).padStart(12)} ${r.unit}\n`);
  const out = path.join(ROOT, 'bench', 'results.json');
  fs.writeFileSync(out, JSON.stringify({ node: process.version, cores: os.cpus().length, rows }, null, 2) + '\n');
  process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
}

main().catch((err) => {
  clearInterval(sampler);
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exitCode = 1;
});
