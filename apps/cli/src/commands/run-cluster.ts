// The --kafka branch of `vpmu run`: the same progress and summary as an embedded run, with the
// files written by the aggregator process (copied into --out when given and visible from here).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CliError } from '../cli-error';
import { runOnCluster } from '../cluster/cluster-runtime';
import { roundTo, summaryFigures } from '../json-figures';
import { prepareOutDir, relativeForDisplay } from '../out-dir';
import { Progress } from '../progress';
import { deriveRunId, type LoadedScenario } from '../scenario-file';
import { renderSummaryTable } from '../summary-table';
import { TOOL_VERSION } from '../version';
import { brokersFrom } from './cluster.command';
import type { CommandIo } from './command-io';

export async function runClusterCommand(loaded: LoadedScenario, flags: { kafka?: string; out?: string; quiet?: boolean; otlp?: string; json?: boolean; maxWindowEpochs?: number }, io: CommandIo): Promise<number> {
  const brokers = brokersFrom(flags.kafka, 'run');
  if (flags.otlp) throw new CliError('vpmu run: --otlp is not supported with --kafka yet; run embedded, or export the recording with "vpmu export --format otlp-json".');
  const scenario = loaded.scenario;
  const outDir = flags.out === undefined ? null : prepareOutDir(flags.out);
  const progress = new Progress(io.stderr, `running ${scenario.name} on Kafka ${brokers.join(',')}`, !flags.quiet && !flags.json);
  const startedMs = Date.now(); // wall-clock ok: reporting only
  const result = await runOnCluster({
    brokers,
    runId: deriveRunId(loaded.text, scenario),
    scenario,
    scenarioText: loaded.text,
    toolVersion: TOOL_VERSION,
    maxWindowEpochs: flags.maxWindowEpochs,
    onProgress: (p) => progress.update(p.epoch, p.epochs, p.events),
    log: (line) => io.err(line), // stderr: stdout stays one JSON object with --json
  });
  const wallMs = Date.now() - startedMs; // wall-clock ok: reporting only
  let files = result.files;
  if (outDir) {
    const missing = files.filter((f) => !fs.existsSync(f));
    if (missing.length > 0) {
      throw new CliError(`the aggregator wrote ${missing.join(', ')} on another machine; drop --out, or give the aggregator its directory (vpmu cluster up --out DIR, or a volume in docker-compose).`);
    }
    files = files.map((f) => {
      const to = path.join(outDir, path.basename(f));
      if (path.resolve(f) === to) return to;
      if (fs.statSync(f).isDirectory()) {
        // guest/: this run's files only, as the aggregator's own directory holds them.
        fs.rmSync(to, { recursive: true, force: true });
        fs.cpSync(f, to, { recursive: true });
      } else {
        fs.copyFileSync(f, to);
      }
      return to;
    });
  }
  const rt = result.barrierRoundTripMs.slice().sort((a, b) => a - b);
  const p50 = rt[Math.floor(rt.length / 2)] ?? 0;
  if (flags.json) {
    const placement = result.assignments.map((a) => ({ replica: a.replica, node: a.node }));
    const failovers = result.failovers.map((f) => ({ epoch: f.epoch, adopt: f.adopt, detectMs: roundTo(f.detectMs), recoverMs: f.recoverMs === null ? null : roundTo(f.recoverMs) }));
    const figures = { ...summaryFigures(result.summary), wallMs: roundTo(wallMs), barrierRoundTripP50Ms: roundTo(p50), barrierRoundTrips: rt.length, brokers, placement, failovers, otlp: null };
    io.out(JSON.stringify({ ...figures, files: files.map(relativeForDisplay) }, null, 2));
    return 0;
  }
  for (const line of renderSummaryTable(result.summary)) io.out(line);
  io.out(`took ${(wallMs / 1000).toFixed(2)}s wall (${Math.round(result.summary.events.total / Math.max(wallMs / 1000, 1e-3))} events/s, barrier round trip p50 ${p50.toFixed(2)} ms, ${rt.length} round trips) on Kafka ${brokers.join(',')}`);
  const owners = new Map<string, string[]>();
  for (const a of result.assignments) owners.set(a.replica, [...(owners.get(a.replica) ?? []), a.node]);
  io.out(`placement: ${[...owners.entries()].map(([r, nodes]) => `${r}: ${nodes.join(' ')}`).join('; ')}`);
  for (const f of result.failovers) {
    const recovered = f.recoverMs === null ? 'no epoch completed after it' : `next epoch completed ${(f.recoverMs / 1000).toFixed(2)} s later`;
    io.out(`failover at epoch ${f.epoch}: ${f.adopt.join(' ')} restored by their new owners (stalled ${(f.detectMs / 1000).toFixed(2)} s before the takeover; ${recovered})`);
  }
  io.out('wrote:');
  for (const f of files) io.out(`  ${relativeForDisplay(f)}`);
  return 0;
}
