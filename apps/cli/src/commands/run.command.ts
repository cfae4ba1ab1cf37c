// `vpmu run FILE [--out DIR] [--seed N] [--otlp URL] [--kafka BROKERS] [--json] [--no-lookahead]
// [--allow-test-faults] [--overhead]`: runs a scenario
// embedded in this process (or on a cluster with --kafka), shows progress, prints the summary
// table (or its key figures as JSON) and the paths it wrote.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunSummary } from '@vpmu/summary';
import { assertOtlpReachable, deriveTraceId, jaegerTraceUrl, resolveOtlpTracesUrl, TelemetryError } from '@vpmu/telemetry';
import { parseArgs, type CommandSpec } from '../args';
import { CliError } from '../cli-error';
import { runEmbedded } from '../embedded-runtime';
import { roundTo, summaryFigures } from '../json-figures';
import { defaultOutDir, prepareOutDir, relativeForDisplay } from '../out-dir';
import { Progress } from '../progress';
import { deriveRunId, loadScenarioFile } from '../scenario-file';
import { renderSummaryTable } from '../summary-table';
import { assertTestFaultsAllowed } from '../test-faults';
import { traceLine } from '../trace-line';
import { TOOL_VERSION } from '../version';
import type { CommandIo } from './command-io';
import { overheadTable } from './overhead.command';
import { attachOverhead, renderOverheadLines } from './overhead-report';
import { runClusterCommand } from './run-cluster';

export const RUN_SPEC: CommandSpec = {
  name: 'run',
  positionals: [{ name: 'FILE', required: true, help: 'the scenario file (YAML), e.g. scenarios/quickstart.yaml' }],
  flags: { out: 'string', seed: 'int', otlp: 'string', quiet: 'bool', json: 'bool', debug: 'bool', kafka: 'string', 'no-lookahead': 'bool', 'allow-test-faults': 'bool', overhead: 'bool' },
  help: {
    out: { value: 'DIR', text: 'where the recording, summary.json and viewers go (default out/<scenario name>)' },
    seed: { value: 'N', text: "replace the scenario's seed (the run id and every random choice follow it)" },
    otlp: { value: 'URL', text: 'export the trace over OTLP/HTTP; a URL without a path gets /v1/traces (default OTEL_EXPORTER_OTLP_ENDPOINT)' },
    json: { text: "print the summary's key figures and the files written as JSON on stdout (no progress line)" },
    kafka: { value: 'BROKERS', text: 'run on a cluster through these Kafka brokers (default KAFKA_BROKERS; see vpmu cluster up)' },
    'no-lookahead': { text: 'grant every epoch in its own barrier round trip (no lookahead windows); the recording is the same, only slower' },
    overhead: { text: "also measure the guest perf overhead table (as vpmu overhead does) and put it in summary.json and the report" },
    'allow-test-faults': { text: 'run a scenario that injects test-only faults (they imitate KVM defects to test the checks; refused without it)' },
  },
};

export async function runCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(RUN_SPEC, argv);
  const json = args.flags.json === true;
  // Every check of the input comes before anything runs or is written.
  const otlpUrl = resolveOtlpTracesUrl(args.flags.otlp as string | undefined);
  const loaded = loadScenarioFile(args.positionals[0], args.flags.seed as number | undefined);
  for (const w of loaded.warnings) io.err(`warning: ${w}`);
  assertTestFaultsAllowed(loaded.scenario, args.flags['allow-test-faults'] === true);
  const kafka = (args.flags.kafka as string | undefined) ?? process.env.KAFKA_BROKERS;
  // One epoch per grant: the per-epoch protocol the lookahead windows must reproduce byte for byte.
  const maxWindowEpochs = args.flags['no-lookahead'] === true ? 1 : undefined;
  const wantsOverhead = args.flags.overhead === true;
  if (kafka && wantsOverhead) throw new CliError('--overhead runs with the embedded run only; drop --kafka, or run vpmu overhead FILE beside the cluster run.');
  // Computed before the run: a scenario without guest perf is refused before anything is written.
  const overhead = wantsOverhead ? overheadTable(loaded.scenario) : null;
  if (kafka) {
    return runClusterCommand(loaded, { kafka, out: args.flags.out as string | undefined, quiet: args.flags.quiet as boolean | undefined, otlp: args.flags.otlp as string | undefined, json, maxWindowEpochs }, io);
  }
  const scenario = loaded.scenario;
  if (otlpUrl) await assertOtlpReachable(otlpUrl);
  const outDir = prepareOutDir((args.flags.out as string | undefined) ?? defaultOutDir(scenario.name));
  const runId = deriveRunId(loaded.text, scenario);
  const progress = new Progress(io.stderr, `running ${scenario.name}`, !args.flags.quiet && !json);
  const startedMs = Date.now(); // wall-clock ok: reporting only
  let summary: RunSummary;
  let files: string[];
  let exportFailure: TelemetryError | null = null;
  try {
    const result = await runEmbedded({
      runId,
      scenario,
      scenarioText: loaded.text,
      toolVersion: TOOL_VERSION,
      outDir,
      otlpUrl,
      maxWindowEpochs,
      onProgress: (p) => progress.update(p.epoch, p.epochs, p.events),
    });
    summary = result.summary;
    files = result.files;
  } catch (err) {
    // The exporter fails only once the simulation has finished and written its files: show them.
    if (!(err instanceof TelemetryError)) throw err;
    const finished = readFinishedRun(outDir, runId);
    if (!finished) throw err;
    ({ summary, files } = finished);
    exportFailure = new TelemetryError(err.code, `${err.message.replace(/\.$/, '')} (the run itself completed; its files are written).`, err.retriable);
  }
  const wallMs = Date.now() - startedMs; // wall-clock ok: reporting only
  if (overhead && !exportFailure) summary = await attachOverhead(outDir, summary, overhead);
  const traceId = deriveTraceId(scenario.seed, runId);
  const otlp = otlpUrl ? { url: otlpUrl, exported: exportFailure === null, traceId, jaegerUrl: jaegerTraceUrl(otlpUrl, traceId) } : null;
  if (json) {
    io.out(JSON.stringify({ ...summaryFigures(summary), ...(summary.overhead && { overhead: summary.overhead }), wallMs: roundTo(wallMs), otlp, files: files.map(relativeForDisplay) }, null, 2));
  } else {
    for (const line of renderSummaryTable(summary)) io.out(line);
    if (overhead) for (const line of renderOverheadLines(overhead, scenario.name)) io.out(line);
    const speedup = wallMs > 0 ? scenario.durationNs / 1e6 / wallMs : 0;
    io.out(`took ${(wallMs / 1000).toFixed(2)}s wall (${speedup.toFixed(2)}x virtual speed, ${Math.round(summary.events.total / Math.max(wallMs / 1000, 1e-3))} events/s)`);
    if (otlp?.exported) io.out(traceLine(`trace exported to ${otlpUrl}`, otlpUrl!, traceId));
    io.out('wrote:');
    for (const f of files) io.out(`  ${relativeForDisplay(f)}`);
  }
  if (exportFailure) throw exportFailure;
  return 0;
}

/**
 * The summary and files of a run whose simulation finished but whose trace export failed: the
 * aggregator writes the recording and summary.json before it hands the run to the viewers.
 */
function readFinishedRun(outDir: string, runId: string): { summary: RunSummary; files: string[] } | null {
  const summaryPath = path.join(outDir, 'summary.json');
  const recording = path.join(outDir, 'recording.vpmurec');
  if (!fs.existsSync(summaryPath) || !fs.existsSync(recording)) return null;
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as RunSummary;
  if (summary.run?.id !== runId) return null; // an earlier run's files: this one did not finish
  const files = [recording, summaryPath, path.join(outDir, 'report.html'), path.join(outDir, 'trace.perfetto.json')].filter((f) => fs.existsSync(f));
  return { summary, files };
}
