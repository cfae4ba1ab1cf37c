// `vpmu run FILE [--out DIR] [--seed N] [--kafka BROKERS]`: runs a scenario embedded in this process (or on a
// cluster with --kafka), shows progress, prints the summary table and the paths it wrote.
import * as path from 'node:path';
import { resolveOtlpTracesUrl, TelemetryError } from '@vpmu/telemetry';
import { parseArgs, type CommandSpec } from '../args';
import { runEmbedded } from '../embedded-runtime';
import { prepareOutDir, relativeForDisplay } from '../out-dir';
import { Progress } from '../progress';
import { deriveRunId, loadScenarioFile } from '../scenario-file';
import { renderSummaryTable } from '../summary-table';
import { TOOL_VERSION } from '../version';
import type { CommandIo } from './command-io';
import { runClusterCommand } from './run-cluster';

export const RUN_SPEC: CommandSpec = {
  name: 'run',
  positionals: [{ name: 'FILE', required: true }],
  flags: { out: 'string', seed: 'int', otlp: 'string', quiet: 'bool', debug: 'bool', kafka: 'string' },
};

export async function runCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(RUN_SPEC, argv);
  const loaded = loadScenarioFile(args.positionals[0], args.flags.seed as number | undefined);
  for (const w of loaded.warnings) io.err(`warning: ${w}`);
  const kafka = (args.flags.kafka as string | undefined) ?? process.env.KAFKA_BROKERS;
  if (kafka) return runClusterCommand(loaded, { kafka, out: args.flags.out as string | undefined, quiet: args.flags.quiet as boolean | undefined, otlp: args.flags.otlp as string | undefined }, io);
  const scenario = loaded.scenario;
  const outDir = prepareOutDir((args.flags.out as string | undefined) ?? path.join('out', scenario.name));
  const runId = deriveRunId(loaded.text, scenario);
  const progress = new Progress(io.stderr, `running ${scenario.name}`, !args.flags.quiet);
  const otlpUrl = resolveOtlpTracesUrl(args.flags.otlp as string | undefined);
  const startedMs = Date.now(); // wall-clock ok: reporting only
  const result = await runEmbedded({
    runId,
    scenario,
    scenarioText: loaded.text,
    toolVersion: TOOL_VERSION,
    outDir,
    otlpUrl,
    onProgress: (p) => progress.update(p.epoch, p.epochs, p.events),
  }).catch((err: unknown) => {
    // The exporter fails only once the run has written its files: say so, keep code and kind.
    if (err instanceof TelemetryError) {
      throw new TelemetryError(err.code, `${err.message.replace(/\.$/, '')} (the run itself completed; its files are written).`, err.retriable);
    }
    throw err;
  });
  const wallMs = Date.now() - startedMs; // wall-clock ok: reporting only
  for (const line of renderSummaryTable(result.summary)) io.out(line);
  const speedup = wallMs > 0 ? scenario.durationNs / 1e6 / wallMs : 0;
  io.out(`took ${(wallMs / 1000).toFixed(2)}s wall (${speedup.toFixed(2)}x virtual speed, ${Math.round(result.summary.events.total / Math.max(wallMs / 1000, 1e-3))} events/s)`);
  if (otlpUrl) io.out(`trace exported to ${otlpUrl} (trace id derived from the seed)`);
  io.out('wrote:');
  for (const f of result.files) io.out(`  ${relativeForDisplay(f)}`);
  return 0;
}
