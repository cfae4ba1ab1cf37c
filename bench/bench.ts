// `npm run bench`: throughput and size figures of the pipeline, all measured in one run on the
// same machine so their ratios mean something on a shared, noisy box. Prints one table and
// writes bench/results.json. Wall-clock use throughout is measurement, outside the simulation.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeEventBatch } from '@vpmu/proto';
import { iterateRecording, readRecording } from '@vpmu/recording';
import { parseScenario, type Scenario } from '@vpmu/scenario';
import { runEmbedded } from '../apps/cli/src/embedded-runtime';
import { deriveRunId } from '../apps/cli/src/scenario-file';
import { TOOL_VERSION } from '../apps/cli/src/version';
import { inspectRecording, simulateFromStart } from '../apps/cli/src/replay/inspect';
import { verifyRecording } from '../apps/cli/src/replay/verify';
import { runOnCluster } from '../apps/cli/src/cluster/cluster-runtime';
import { clusterServices, spawnService, stopServices, waitForReady, type ClusterState } from '../apps/cli/src/cluster/cluster-processes';
import { kcatAvailable, startKcatMock } from '../apps/cli/src/cluster/kcat-mock';
import { measureExportThroughput } from '@vpmu/telemetry';
import { createKafkaClient, readRunFromKafka } from '@vpmu/transport';
import { formatScaleMatrix, parseMatrix, runScaleRow, type ScaleMatrixRow } from './scale-matrix';
import { benchLookahead, formatLookahead, lookaheadWorlds, type LookaheadRow } from './lookahead-bench';

interface Row {
  name: string;
  value: number;
  unit: string;
}

const ROOT = path.resolve(__dirname, '..', '..');
let peakRssBytes = 0;
const sampler = setInterval(() => (peakRssBytes = Math.max(peakRssBytes, process.memoryUsage().rss)), 20); // wall-clock ok: bench sampling

/** The scenario also measured through the Kafka transport (first of VPMU_BENCH_SCENARIOS). */
const CLUSTER_SCENARIO = (process.env.VPMU_BENCH_SCENARIOS ?? 'quickstart.yaml').split(',')[0];
const notes: string[] = [];

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
  if (file === CLUSTER_SCENARIO) await benchCluster(name, text, scenario, r.summary.digest, rows);

  // The ceiling: raw protobuf decode of the same event batches, no simulation, no transport.
  const rec = readRecording(path.join(outDir, 'recording.vpmurec'));
  const batches = rec.epochs.flatMap((e) => e.frames.map((f) => f.batch));
  const t1 = performance.now(); // wall-clock ok: bench
  let decoded = 0;
  for (let rep = 0; rep < 3; rep++) for (const b of batches) decoded += decodeEventBatch(b).length;
  const decodeMs = performance.now() - t1; // wall-clock ok: bench
  rows.push({ name: `${name}: raw decode rate, decodeEventBatch (ceiling)`, value: Math.round(decoded / (decodeMs / 1000)), unit: 'events/s' });
  await benchReplay(name, path.join(outDir, 'recording.vpmurec'), scenario, rows);
  fs.rmSync(outDir, { recursive: true, force: true });
}

/**
 * The same scenario text through the Kafka transport: separate processes (1 aggregator, 2
 * host-node, 2 guest-vm from dist/) on the kcat mock broker, this process as the conductor.
 * Timed from RunStart to the aggregator's RunResult (process start, group joins and the handshake
 * are set-up, not throughput). Skipped with a note when kcat is missing or VPMU_BENCH_CLUSTER=0.
 */
async function benchCluster(name: string, text: string, scenario: Scenario, embeddedDigest: string, rows: Row[]): Promise<void> {
  if (process.env.VPMU_BENCH_CLUSTER === '0') return void notes.push('cluster rows skipped (VPMU_BENCH_CLUSTER=0)');
  if (!kcatAvailable()) return void notes.push('cluster rows skipped: kcat (its librdkafka mock broker) is not installed; apt-get install -y kcat');
  const broker = await startKcatMock();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpmu-bench-cluster-'));
  const services: ClusterState['services'] = [];
  try {
    for (const spec of clusterServices({ brokers: [broker.address], hostNodes: 2, guestVms: 2, group: 'bench', partitions: 4, outDir: path.join(dir, 'out') })) {
      const log = path.join(dir, `${spec.name}.log`);
      const child = spawnService(spec, log, false);
      services.push({ name: spec.name, app: spec.app, pid: child.pid ?? -1, log });
    }
    const ready = await waitForReady(services, 60_000);
    if (!ready.ok) throw new Error(`bench cluster did not start: ${ready.name}: ${ready.reason}`);
    const r = await runOnCluster({ brokers: [broker.address], runId: deriveRunId(text, scenario), scenario, scenarioText: text, toolVersion: TOOL_VERSION });
    if (r.summary.digest !== embeddedDigest) throw new Error(`cluster digest ${r.summary.digest} differs from embedded ${embeddedDigest}`);
    rows.push({ name: `${name}: simulated events/s (cluster: Kafka, 5 processes)`, value: Math.round(r.summary.events.total / (r.runWallMs / 1000)), unit: 'events/s' });
    const rt = r.barrierRoundTripMs.slice().sort((a, b) => a - b);
    rows.push({ name: `${name}: barrier round trip p50 (cluster)`, value: round(rt[Math.floor(rt.length / 2)] ?? 0, 3), unit: 'ms' });
    rows.push({ name: `${name}: barrier round trip p99 (cluster)`, value: round(rt[Math.floor(rt.length * 0.99)] ?? 0, 3), unit: 'ms' });
    // replay --kafka: the same run read back from the topics (the group join is set-up, excluded).
    const read = await readRunFromKafka({ client: createKafkaClient({ brokers: [broker.address], clientId: 'bench-replay' }), brokers: [broker.address], runId: deriveRunId(text, scenario), timeoutMs: 60_000 });
    const readEvents = read.epochs.reduce((n, e) => n + e.frames.reduce((m, f) => m + decodeEventBatch(f.batch).length, 0), 0);
    rows.push({ name: `${name}: replay --kafka read events/s (after a ${round(read.stats.joinMs / 1000, 2)} s group join)`, value: Math.round(readEvents / ((read.stats.wallMs - read.stats.joinMs) / 1000)), unit: 'events/s' });
    if (read.truncated.length > 0) notes.push(`replay --kafka read ${readEvents} of ${r.summary.events.total} events: the broker deleted the oldest (${read.truncated.join(', ')}; the kcat mock keeps a few MB per partition)`);
  } finally {
    await stopServices(services, 5000);
    await broker.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** replay --verify throughput, and inspect at the end of the run against a full re-simulation. */
async function benchReplay(name: string, rec: string, scenario: Scenario, rows: Row[]): Promise<void> {
  const v = await verifyRecording(rec);
  if (!v.identical) throw new Error(`${name}: replay --verify diverged: ${v.divergence?.detail}`);
  const verifyMs = v.replayMs + v.compareMs;
  rows.push({ name: `${name}: replay --verify events/s (re-simulate + compare)`, value: Math.round(v.events / (verifyMs / 1000)), unit: 'events/s' });
  // The end of the run, mid-epoch: the farthest point from the start.
  const atNs = scenario.durationNs - Math.floor(scenario.epochNs / 2);
  const r = inspectRecording(rec, atNs);
  const inspectMs = bestOf(3, () => inspectRecording(rec, atNs));
  const fromStartMs = bestOf(3, () => simulateFromStart(scenario, atNs));
  rows.push({ name: `${name}: inspect --at end (from checkpoint ${r.restoredFromEpoch}, ${r.simulatedEpochs} epochs)`, value: round(inspectMs, 1), unit: 'ms' });
  // inspect reads (and verifies) the file up to TIME: linear in the offset, but cheap.
  const scanMs = bestOf(3, () => {
    for (const item of iterateRecording(rec)) void item;
  });
  rows.push({ name: `${name}: verified read of the whole recording`, value: round(scanMs, 1), unit: 'ms' });
  rows.push({ name: `${name}: full re-simulation 0 -> end (host models only)`, value: round(fromStartMs, 1), unit: 'ms' });
  rows.push({ name: `${name}: full replay --verify wall time`, value: round(verifyMs, 1), unit: 'ms' });
}

/** Best wall time of `n` runs (the first pays for JIT warm-up). */
function bestOf(n: number, fn: () => unknown): number {
  let best = Infinity;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now(); // wall-clock ok: bench
    fn();
    best = Math.min(best, performance.now() - t0); // wall-clock ok: bench
  }
  return best;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  // The scale matrix first, while this process is still small and idle.
  const matrix: ScaleMatrixRow[] = [];
  for (const cell of parseMatrix(process.env.VPMU_BENCH_MATRIX)) {
    process.stderr.write(`bench: scale row ${cell.hosts} hosts x ${cell.durationMs / 1000} s ...\n`);
    matrix.push(runScaleRow(cell));
  }
  const files = (process.env.VPMU_BENCH_SCENARIOS ?? 'quickstart.yaml').split(',');
  for (const f of files) await benchScenario(f, rows);
  // Barrier round trips with lookahead windows on and off, embedded and on a cluster (VPMU_BENCH_LOOKAHEAD=0 skips).
  const lookahead: LookaheadRow[] = process.env.VPMU_BENCH_LOOKAHEAD === '0' ? [] : await benchLookahead(lookaheadWorlds(), notes);
  // Viewer throughput: spans/s through the real OTLP http/protobuf exporter to a local receiver.
  const otlp = await measureExportThroughput({ durationMs: Number(process.env.VPMU_BENCH_OTLP_MS ?? 1000) });
  rows.push({ name: `OTLP export throughput (${otlp.spans} spans, ${otlp.otlpRequests} requests)`, value: Math.round(otlp.spansPerSec), unit: 'spans/s' });
  rows.push({ name: 'Perfetto writer throughput', value: Math.round(otlp.perfettoEventsPerSec), unit: 'trace events/s' });
  clearInterval(sampler);
  rows.push({ name: 'peak RSS of the bench process (scenario, cluster conductor, OTLP rows)', value: round(peakRssBytes / (1024 * 1024), 1), unit: 'MiB' });
  const width = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write(`vpmu-lab bench (${os.cpus().length} cores, node ${process.version})\n\n`);
  process.stdout.write('scale matrix (generated fleets: per host 8 pCPUs, 4 VMs of 2 vCPUs, emulated/specint and passthrough/fio, guest perf stat; embedded)\n');
  process.stdout.write(formatScaleMatrix(matrix) + '\n');
  if (lookahead.length > 0) process.stdout.write('lookahead windows (barrier round trips; cluster: 1 aggregator, 2 host-node, 2 guest-vm processes on the kcat mock)\n' + formatLookahead(lookahead) + '\n');
  for (const r of rows) process.stdout.write(`${r.name.padEnd(width)}  ${String(r.value).padStart(12)} ${r.unit}\n`);
  for (const n of notes) process.stdout.write(`note: ${n}\n`);
  const out = path.join(ROOT, 'bench', 'results.json');
  fs.writeFileSync(out, JSON.stringify({ node: process.version, cores: os.cpus().length, scaleMatrix: matrix, lookahead, rows, notes }, null, 2) + '\n');
  process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
}

main().catch((err) => {
  clearInterval(sampler);
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exitCode = 1;
});
