// One row of the scale matrix, run in its own process so its peak RSS is its own:
// `node dist/bench/scale-row.js HOSTS DURATION_MS [--run-only] [--trace summary]` prints one JSON line
// (ScaleRowResult). Also the entry point for profiling one world:
// `node --cpu-prof dist/bench/scale-row.js 4 500 --run-only` (--run-only: no decode pass after
// the run, so the profile holds the run alone; both decode rates are then 0).
// Wall-clock use here is measurement, outside the simulation.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeEventBatch, eventsFromBatch, pb } from '@vpmu/proto';
import { readRecording } from '@vpmu/recording';
import { parseScenario } from '@vpmu/scenario';
import { runEmbedded } from '../apps/cli/src/embedded-runtime';
import { deriveRunId } from '../apps/cli/src/scenario-file';
import { TOOL_VERSION } from '../apps/cli/src/version';
import { fleetScenarioYaml, fleetVcpus } from './fleet-scenario';

export interface ScaleRowResult {
  hosts: number;
  trace: 'full' | 'summary';
  vcpus: number;
  durationMs: number;
  wallMs: number;
  /** CPU time of this process (user + system) during the run, ms. */
  cpuMs: number;
  events: number;
  recordingBytes: number;
  /**
   * Raw protobuf decode of the same recorded batches into events, events/s (best of 3 passes):
   * with the generated protobufjs decoder (the reference), and with decodeEventBatch (the
   * hand-written decoder the aggregator and replay use).
   */
  pbjsDecodeEventsPerSec: number;
  decodeEventsPerSec: number;
  /** Peak resident set of the whole process (simulation, recording, decode pass), bytes. */
  peakRssBytes: number;
  /** Barrier round trips (grants) of the run, lookahead windows on. */
  barrierRoundTrips: number;
  /** Run digest (names the tool version too) and content digest (the events only). */
  digest: string;
  contentDigest: string;
}

async function runRow(hosts: number, durationMs: number, trace: 'full' | 'summary', decodePass: boolean): Promise<ScaleRowResult> {
  const text = fleetScenarioYaml({ hosts, durationMs, trace });
  const parsed = parseScenario(text);
  if (!parsed.ok) throw new Error(`generated fleet scenario (${hosts} hosts) is invalid: ${JSON.stringify(parsed)}`);
  const scenario = parsed.scenario;
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpmu-scale-'));
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now(); // wall-clock ok: bench
    const r = await runEmbedded({ runId: deriveRunId(text, scenario), scenario, scenarioText: text, toolVersion: TOOL_VERSION, outDir, viewers: false });
    const wallMs = performance.now() - t0; // wall-clock ok: bench
    const cpu = process.cpuUsage(cpu0);
    const rec = decodePass ? readRecording(path.join(outDir, 'recording.vpmurec')) : { epochs: [] };
    const batches = rec.epochs.flatMap((e) => e.frames.map((f) => f.batch));
    const rate = (decode: (b: Uint8Array) => unknown[]): number => {
      let bestMs = Infinity;
      let decoded = 0;
      for (let pass = 0; decodePass && pass < 3; pass++) {
        const t1 = performance.now(); // wall-clock ok: bench
        decoded = 0;
        for (const b of batches) decoded += decode(b).length;
        bestMs = Math.min(bestMs, performance.now() - t1); // wall-clock ok: bench
      }
      return decodePass ? decoded / (bestMs / 1000) : 0;
    };
    const pbjsDecodeEventsPerSec = rate((b) => eventsFromBatch(pb.EventBatch.decode(b)));
    const decodeEventsPerSec = rate(decodeEventBatch);
    return {
      hosts,
      trace,
      vcpus: fleetVcpus({ hosts, durationMs }),
      durationMs,
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      events: r.summary.events.total,
      recordingBytes: r.recording.bytes,
      pbjsDecodeEventsPerSec,
      decodeEventsPerSec,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      barrierRoundTrips: r.barrierRoundTripMs.length,
      digest: r.summary.digest,
      contentDigest: r.summary.contentDigest,
    };
  } finally {
    fs.rmSync(outDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const runOnly = args.includes('--run-only');
  const traceAt = args.indexOf('--trace');
  const trace = traceAt >= 0 ? args[traceAt + 1] : 'full';
  const [hosts, durationMs] = args.filter((a, i) => a !== '--run-only' && (traceAt < 0 || (i !== traceAt && i !== traceAt + 1))).map(Number);
  if (!Number.isInteger(hosts) || hosts < 1 || !Number.isInteger(durationMs) || durationMs < 1 || (trace !== 'full' && trace !== 'summary')) {
    process.stderr.write('usage: node dist/bench/scale-row.js HOSTS DURATION_MS [--run-only] [--trace full|summary]\n');
    process.exit(2);
  }
  runRow(hosts, durationMs, trace, !runOnly).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (err: Error) => {
      process.stderr.write(`scale row failed: ${err.stack}\n`);
      process.exitCode = 1;
    },
  );
}
