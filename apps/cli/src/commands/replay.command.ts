// `vpmu replay REC --verify [--json]`: re-simulates the recording and compares, naming the first
// differing event (exit 0 identical, 3 diverged).
// `vpmu replay REC [--otlp URL] [--out DIR] [--speed X]`: streams the recorded events to the
// viewers without re-simulating, at X times virtual speed or as fast as possible.
// `vpmu replay --kafka BROKERS --run ID [...]`: the same from the run's topics (replay-kafka.ts).
import * as path from 'node:path';
import { formatDivergence } from '@vpmu/recording';
import { assertOtlpReachable, jaegerTraceUrl, resolveOtlpTracesUrl } from '@vpmu/telemetry';
import { traceLine } from '../trace-line';
import { parseArgs, usageOf, type CommandSpec } from '../args';
import { CliError, EXIT } from '../cli-error';
import { roundTo } from '../json-figures';
import { prepareOutDir, relativeForDisplay } from '../out-dir';
import { Progress } from '../progress';
import { resolveRecordingPath, toolVersionWarning, checkToolVersion } from '../replay/recording-input';
import { prepareStream, streamRecording } from '../replay/stream';
import { verifyRecording } from '../replay/verify';
import { htmlReportViewer, otlpViewer, perfettoViewer, type Viewer } from '../replay/viewers';
import type { CommandIo } from './command-io';
import { replayFromKafka } from './replay-kafka';

export const REPLAY_SPEC: CommandSpec = {
  name: 'replay',
  positionals: [{ name: 'REC', required: false, help: 'the recording (recording.vpmurec, or the run directory holding it)' }],
  flags: { verify: 'bool', json: 'bool', otlp: 'string', out: 'string', speed: 'number', kafka: 'string', run: 'string', timeout: 'int', quiet: 'bool', debug: 'bool' },
  help: {
    verify: { text: 're-simulate the recording and compare event by event (exit 3 on divergence)' },
    json: { text: 'print the result as JSON on stdout (no progress line)' },
    otlp: { value: 'URL', text: 'stream the trace over OTLP/HTTP; a URL without a path gets /v1/traces (default OTEL_EXPORTER_OTLP_ENDPOINT)' },
    out: { value: 'DIR', text: 'write trace.perfetto.json and report.html there' },
    speed: { value: 'X', text: 'pace the stream at X times virtual speed (default as fast as possible)' },
    kafka: { value: 'BROKERS', text: "read the run from a cluster's topics through these brokers (default KAFKA_BROKERS)" },
    run: { value: 'ID', text: 'the run id to read back from Kafka' },
    timeout: { value: 'S', text: 'give up reading from Kafka after S seconds' },
  },
};

export async function replayCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(REPLAY_SPEC, argv);
  const f = args.flags;
  const rec = args.positionals[0];
  // A malformed endpoint is bad input, said before anything is read or sent.
  const otlpUrl = f.verify ? null : resolveOtlpTracesUrl(f.otlp as string | undefined);
  if (f.kafka !== undefined || f.run !== undefined) {
    if (rec !== undefined) throw new CliError(`vpmu replay: give either a recording (REC) or --kafka BROKERS --run ID, not both.`);
    if (otlpUrl) await assertOtlpReachable(otlpUrl);
    return replayFromKafka(
      {
        kafka: f.kafka as string | undefined,
        run: f.run as string | undefined,
        verify: !!f.verify,
        json: !!f.json,
        quiet: !!f.quiet,
        otlp: f.otlp as string | undefined,
        out: f.out as string | undefined,
        speed: f.speed as number | undefined,
        timeoutS: f.timeout as number | undefined,
      },
      io,
    );
  }
  if (f.timeout !== undefined) throw new CliError('vpmu replay: --timeout bounds a read from Kafka and goes with --kafka BROKERS --run ID.');
  if (rec === undefined) throw new CliError(`vpmu replay: missing REC, the recording to replay (usage: vpmu replay ${usageOf(REPLAY_SPEC)}).`);
  const file = resolveRecordingPath(rec);
  if (f.verify) {
    for (const flag of ['otlp', 'out', 'speed'] as const) {
      if (f[flag] !== undefined) throw new CliError(`vpmu replay: --${flag} streams a recording to viewers and does not go with --verify; run them separately.`);
    }
    return verify(file, !!f.json, !f.quiet && !f.json, io);
  }
  return stream(file, { otlpUrl, out: f.out as string | undefined, speed: f.speed as number | undefined, json: !!f.json, progress: !f.quiet && !f.json }, io);
}

async function verify(file: string, json: boolean, showProgress: boolean, io: CommandIo): Promise<number> {
  const progress = new Progress(io.stderr, 'verifying', showProgress);
  const result = await verifyRecording(file, { onProgress: (p) => progress.update(p.epoch, p.epochs, p.events) });
  const warning = toolVersionWarning(result.toolVersion);
  if (warning) io.err(warning);
  const eventsPerSec = Math.round(result.events / Math.max((result.replayMs + result.compareMs) / 1000, 1e-3));
  if (json) {
    io.out(JSON.stringify({ ...result, replayMs: roundTo(result.replayMs), compareMs: roundTo(result.compareMs), eventsPerSec }, null, 2));
  } else if (result.divergence) {
    io.out(formatDivergence(result.divergence));
    io.out(`recorded digest ${result.recordedDigest}  content ${result.recordedContentDigest || 'not recorded'}`);
    io.out(`replayed digest ${result.replayedDigest}  content ${result.replayedContentDigest}`);
  } else {
    io.out(
      `identical: ${result.epochs} epochs, ${result.events} events, digest ${result.recordedDigest}, content digest ${result.replayedContentDigest} ` +
        `(re-simulated and compared in ${((result.replayMs + result.compareMs) / 1000).toFixed(2)}s, ${eventsPerSec} events/s).`,
    );
  }
  return result.identical ? EXIT.ok : EXIT.diverged;
}

interface StreamFlags {
  otlpUrl: string | null;
  out?: string;
  speed?: number;
  json: boolean;
  progress: boolean;
}

async function stream(file: string, flags: StreamFlags, io: CommandIo): Promise<number> {
  // Check the whole file and the destinations before anything is sent or written.
  const { header, scenario } = prepareStream(file);
  const warning = toolVersionWarning(checkToolVersion(header));
  if (warning) io.err(warning);
  const otlpUrl = flags.otlpUrl;
  if (otlpUrl) await assertOtlpReachable(otlpUrl);
  const outDir = flags.out !== undefined ? prepareOutDir(flags.out) : null;
  const viewers: Viewer[] = [];
  const identity = { runId: header.runId, seed: header.seed, scenario, runStartUnixNs: BigInt(Date.now()) * 1_000_000n, replay: true }; // wall-clock ok: OTLP timestamps of a live replay
  const otlp = otlpUrl ? otlpViewer(otlpUrl, identity) : null;
  if (otlp) viewers.push(otlp);
  if (outDir) viewers.push(perfettoViewer(path.join(outDir, 'trace.perfetto.json')), htmlReportViewer(path.join(outDir, 'report.html')));
  if (viewers.length === 0 && !flags.json) {
    io.err('note: no viewer given (--otlp URL, OTEL_EXPORTER_OTLP_ENDPOINT or --out DIR); the events are read and counted only.');
  }
  const progress = new Progress(io.stderr, `replaying ${header.scenarioName || scenario.name}`, flags.progress);
  const startedMs = Date.now(); // wall-clock ok: reporting only
  let result;
  const files: string[] = [];
  try {
    result = await streamRecording(file, viewers, { speed: flags.speed, onEpoch: (e, n, ev) => progress.update(e, n, ev) });
    for (const v of viewers) files.push(...(await v.finish(result.summary)));
  } catch (err) {
    for (const v of viewers) v.abort();
    throw err;
  }
  const wallMs = Date.now() - startedMs; // wall-clock ok: reporting only
  const out = {
    recording: file,
    runId: header.runId,
    epochs: result.epochs,
    events: result.events,
    digest: result.end.finalDigestHex,
    summary: result.summarySource,
    speed: flags.speed ?? null,
    wallMs: roundTo(wallMs),
    otlp: otlp ? { url: otlpUrl, spans: otlp.spans(), traceId: otlp.traceId, jaegerUrl: jaegerTraceUrl(otlpUrl!, otlp.traceId) } : null,
    files,
  };
  if (flags.json) {
    io.out(JSON.stringify(out, null, 2));
    return EXIT.ok;
  }
  io.out(`replayed ${result.epochs} epochs, ${result.events} events of run ${header.runId} in ${(wallMs / 1000).toFixed(2)}s${flags.speed ? ` (at ${flags.speed}x virtual speed)` : ''}.`);
  if (result.summarySource === 'rebuilt') io.out('summary rebuilt from the recording (no matching summary.json beside it; guest workload scores are not recorded and read 0).');
  if (otlp) io.out(traceLine(`sent ${otlp.spans()} spans to ${otlpUrl}`, otlpUrl!, otlp.traceId));
  if (files.length > 0) {
    io.out('wrote:');
    for (const f of files) io.out(`  ${relativeForDisplay(f)}`);
  }
  return EXIT.ok;
}
