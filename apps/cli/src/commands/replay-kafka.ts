// `vpmu replay --kafka BROKERS --run ID [--verify] [--json] [--otlp URL] [--out DIR] [--speed X] [--timeout S]`:
// reads a run back from the topics it travelled on (libs/transport readRunFromKafka: RunStart and
// RunEnd from vpmu.control, the event batches from vpmu.events, duplicates dropped, regrouped in
// the aggregator's canonical order), then either re-simulates it embedded and compares epoch by
// epoch (--verify: exit 0 identical, 3 diverged, as `replay REC --verify`), or streams it to the
// viewers like `replay REC`. Unknown run id: exit 2 with the ids found; no broker: exit 4.
import * as path from 'node:path';
import { Reader } from 'protobufjs/minimal';
import { formatDivergence, HashChain } from '@vpmu/recording';
import { SummaryBuilder } from '@vpmu/summary';
import { jaegerTraceUrl, resolveOtlpTracesUrl } from '@vpmu/telemetry';
import { traceLine } from '../trace-line';
import {
  assertBrokersReachable,
  createKafkaClient,
  hostNode,
  readRunFromKafka,
  runContextFromStart,
  RunStartError,
  type KafkaRun,
  type RunContext,
} from '@vpmu/transport';
import { CliError, EXIT } from '../cli-error';
import { prepareOutDir, relativeForDisplay } from '../out-dir';
import { Progress } from '../progress';
import { checkToolVersion, toolVersionWarning } from '../replay/recording-input';
import { streamEpochs } from '../replay/stream';
import { resimulateAndCompare } from '../replay/verify';
import { roundTo } from '../json-figures';
import { htmlReportViewer, otlpViewer, perfettoViewer, type Viewer } from '../replay/viewers';
import { brokersFrom } from './cluster.command';
import type { CommandIo } from './command-io';

export interface ReplayKafkaFlags {
  kafka?: string;
  run?: string;
  verify: boolean;
  json: boolean;
  quiet: boolean;
  otlp?: string;
  out?: string;
  speed?: number;
  timeoutS?: number;
}

/** A run read from Kafka, with what the replay commands need from it. */
export interface LoadedKafkaRun {
  run: KafkaRun;
  ctx: RunContext;
  /** The digest the aggregator's recording of this run has (recomputed from the batches read). */
  digestHex: string;
  contentDigestHex: string;
  events: number;
  /** Events read per second once the consumer has joined its group (the join itself is set-up). */
  readEventsPerSec: number;
}

export async function replayFromKafka(flags: ReplayKafkaFlags, io: CommandIo): Promise<number> {
  if (flags.run === undefined) throw new CliError('vpmu replay: --kafka BROKERS and --run ID go together (vpmu replay --kafka BROKERS --run ID [--verify]).');
  const brokers = brokersFrom(flags.kafka, 'replay');
  if (flags.verify) {
    for (const flag of ['otlp', 'out', 'speed'] as const) {
      if (flags[flag] !== undefined) throw new CliError(`vpmu replay: --${flag} streams a run to viewers and does not go with --verify; run them separately.`);
    }
  }
  if (flags.timeoutS !== undefined && flags.timeoutS < 1) throw new CliError('vpmu replay: --timeout is in seconds and must be at least 1.');
  // Destinations are checked before anything is read.
  const otlpUrl = flags.verify ? null : resolveOtlpTracesUrl(flags.otlp);
  const outDir = !flags.verify && flags.out !== undefined ? prepareOutDir(flags.out) : null;
  const loaded = await loadRunFromKafka(brokers, flags.run, (flags.timeoutS ?? 30) * 1000, flags.quiet || flags.json ? undefined : (l) => io.err(l));
  const warning = toolVersionWarning(checkToolVersion({ toolVersion: loaded.ctx.toolVersion }));
  if (warning) io.err(warning);
  if (loaded.run.starts > 1) io.err(`note: run ${loaded.ctx.runId} was started ${loaded.run.starts} times on this broker (same scenario and seed); its deliveries are merged by (epoch, source, seq).`);
  return flags.verify ? verifyKafkaRun(loaded, brokers, flags, io) : streamKafkaRun(loaded, brokers, { otlpUrl, outDir }, flags, io);
}

/**
 * Reads the run. The transport's errors are operating errors: an unknown or incomplete run is
 * bad input (exit 2), a broker that does not answer is unavailable (exit 4).
 */
export async function loadRunFromKafka(brokers: string[], runId: string, timeoutMs: number, log?: (line: string) => void): Promise<LoadedKafkaRun> {
  await assertBrokersReachable(brokers);
  const client = createKafkaClient({ brokers, clientId: `vpmu-replay-${process.pid}`, retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 } });
  const run: KafkaRun = await readRunFromKafka({ client, brokers, runId, timeoutMs, log });
  let ctx: RunContext;
  try {
    ctx = runContextFromStart(run.start);
  } catch (err) {
    if (err instanceof RunStartError) throw new RunStartError(`${err.message}; this tool cannot replay it.`);
    throw err;
  }
  // The aggregator's hash chain over the same header and batches: the digest its recording has.
  const chain = HashChain.forHeader({
    toolVersion: ctx.toolVersion,
    runId: ctx.runId,
    seed: ctx.scenario.seed,
    scenarioText: ctx.scenarioText,
    scenarioName: ctx.scenario.name,
    epochNs: ctx.scenario.epochNs,
    durationNs: ctx.scenario.durationNs,
  });
  let events = 0;
  const batchEvents = new Map<string, number>();
  for (const e of run.epochs) {
    for (let i = 1; i < e.frames.length; i++) {
      if (e.frames[i].node === e.frames[i - 1].node) {
        throw new CliError(`run ${runId}: node ${e.frames[i].node} sent two event batches in epoch ${e.epoch} (seq ${e.frames[i - 1].seq} and ${e.frames[i].seq}); the run cannot be replayed from Kafka.`, EXIT.badInput);
      }
    }
    chain.addEpoch(e.epoch, e.frames);
    for (const f of e.frames) {
      const n = countEvents(f.batch);
      batchEvents.set(`${e.epoch}\u0000${f.node}`, n);
      events += n;
    }
  }
  assertWholeRun(run, ctx, batchEvents);
  return { run, ctx, digestHex: chain.currentHex, contentDigestHex: chain.contentHex, events, readEventsPerSec: Math.round(events / Math.max((run.stats.wallMs - run.stats.joinMs) / 1000, 1e-3)) };
}

/**
 * The topics still hold the whole run: every host node reported every epoch (one grant or a
 * lookahead window per report), and each report's event count is the count of the batches read
 * for its epochs. Retention (or the kcat mock's few MB per
 * partition) deletes the oldest messages first; a replay of a partial run would be a false
 * divergence, so this is refused with what is missing.
 */
function assertWholeRun(run: KafkaRun, ctx: RunContext, batchEvents: Map<string, number>): void {
  // A report covers its grant's epochs [epoch, endEpoch) (one, or a lookahead window).
  const covered = new Set<string>();
  for (const r of run.reports) for (let e = r.epoch; e < r.endEpoch; e++) covered.add(`${e}\u0000${r.node}`);
  const gaps: { epoch: number; node: string; what: string }[] = [];
  for (let epoch = 0; epoch < ctx.epochs; epoch++) {
    for (const h of ctx.scenario.hosts) {
      const node = hostNode(h.id);
      if (!covered.has(`${epoch}\u0000${node}`)) gaps.push({ epoch, node, what: 'its epoch report' });
    }
  }
  for (const r of run.reports) {
    let got = 0;
    for (let e = r.epoch; e < r.endEpoch; e++) got += batchEvents.get(`${e}\u0000${r.node}`) ?? 0;
    const batches = r.endEpoch > r.epoch + 1 ? `event batches of epochs ${r.epoch}..${r.endEpoch - 1}` : 'event batch';
    if (r.eventCount !== got) gaps.push({ epoch: r.epoch, node: r.node, what: `its ${batches} (${r.eventCount} events reported, ${got} on vpmu.events)` });
  }
  if (gaps.length === 0) return;
  gaps.sort((a, b) => a.epoch - b.epoch);
  const first = gaps[0];
  const retention = run.truncated.length > 0 ? ` The oldest messages of ${run.truncated.join(', ')} were deleted (retention).` : '';
  throw new CliError(
    `the topics no longer hold all of run ${ctx.runId}: ${gaps.length} pieces are missing, the first in epoch ${first.epoch}: ${first.what} of ${first.node}.${retention} Replay the aggregator's recording.vpmurec instead.`,
    EXIT.badInput,
  );
}

/** Events in an encoded EventBatch: its `events` entries (field 3) counted without decoding them. */
function countEvents(batch: Uint8Array): number {
  const r = Reader.create(batch);
  let n = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 3) n++;
    r.skipType(tag & 7);
  }
  return n;
}

async function verifyKafkaRun(loaded: LoadedKafkaRun, brokers: string[], flags: ReplayKafkaFlags, io: CommandIo): Promise<number> {
  const { ctx, run } = loaded;
  const progress = new Progress(io.stderr, 'verifying', !flags.quiet && !flags.json);
  const r = await resimulateAndCompare(
    { runId: ctx.runId, scenario: ctx.scenario, scenarioText: ctx.scenarioText, toolVersion: ctx.toolVersion },
    () => run.epochs,
    { onProgress: (p) => progress.update(p.epoch, p.epochs, p.events) },
  );
  const verifyEventsPerSec = Math.round(loaded.events / Math.max((r.replayMs + r.compareMs) / 1000, 1e-3));
  const result = {
    source: `kafka://${brokers.join(',')}`,
    runId: ctx.runId,
    scenario: ctx.scenario.name,
    seed: ctx.scenario.seed,
    identical: r.divergence === null,
    epochs: run.epochs.length,
    events: loaded.events,
    recordedDigest: loaded.digestHex,
    replayedDigest: r.replayedDigest,
    recordedContentDigest: loaded.contentDigestHex,
    replayedContentDigest: r.replayedContentDigest,
    toolVersion: checkToolVersion({ toolVersion: ctx.toolVersion }),
    divergence: r.divergence,
    kafka: { ...roundedMs(run.stats), readEventsPerSec: loaded.readEventsPerSec },
    replayMs: roundTo(r.replayMs),
    compareMs: roundTo(r.compareMs),
    eventsPerSec: verifyEventsPerSec,
  };
  if (flags.json) {
    io.out(JSON.stringify(result, null, 2));
  } else if (r.divergence) {
    io.out(formatDivergence(r.divergence));
    io.out(`recorded digest ${loaded.digestHex} (from Kafka)`);
    io.out(`replayed digest ${r.replayedDigest}`);
  } else {
    io.out(
      `identical: ${result.epochs} epochs, ${loaded.events} events, digest ${loaded.digestHex} ` +
        `(read from Kafka in ${(run.stats.wallMs / 1000).toFixed(2)}s, group join ${(run.stats.joinMs / 1000).toFixed(2)}s, then ${loaded.readEventsPerSec} events/s, ${run.stats.duplicates} duplicates dropped; ` +
        `re-simulated and compared in ${((r.replayMs + r.compareMs) / 1000).toFixed(2)}s, ${verifyEventsPerSec} events/s).`,
    );
  }
  return r.divergence === null ? EXIT.ok : EXIT.diverged;
}

async function streamKafkaRun(loaded: LoadedKafkaRun, brokers: string[], dest: { otlpUrl: string | null; outDir: string | null }, flags: ReplayKafkaFlags, io: CommandIo): Promise<number> {
  const { ctx, run } = loaded;
  const viewers: Viewer[] = [];
  const identity = { runId: ctx.runId, seed: ctx.scenario.seed, scenario: ctx.scenario, runStartUnixNs: BigInt(Date.now()) * 1_000_000n, replay: true }; // wall-clock ok: OTLP timestamps of a live replay
  const otlp = dest.otlpUrl ? otlpViewer(dest.otlpUrl, identity) : null;
  if (otlp) viewers.push(otlp);
  if (dest.outDir) viewers.push(perfettoViewer(path.join(dest.outDir, 'trace.perfetto.json')), htmlReportViewer(path.join(dest.outDir, 'report.html')));
  if (viewers.length === 0 && !flags.json) {
    io.err('note: no viewer given (--otlp URL, OTEL_EXPORTER_OTLP_ENDPOINT or --out DIR); the events are read and counted only.');
  }
  const progress = new Progress(io.stderr, `replaying ${ctx.scenario.name} from Kafka`, !flags.quiet && !flags.json);
  const startedMs = Date.now(); // wall-clock ok: reporting only
  const builder = new SummaryBuilder(ctx.scenario);
  // The guest-vm services' workload results reach the aggregator on vpmu.events too, so the
  // summary rebuilt here has the guest scores a recording alone lacks.
  for (const g of run.guestOutputs) builder.setGuestResult(g.vm, g.workloadUnits, g.guestNs);
  const files: string[] = [];
  let counts;
  try {
    counts = await streamEpochs(run.epochs, ctx.scenario, run.epochs.length, builder, viewers, { speed: flags.speed, onEpoch: (e, n, ev) => progress.update(e, n, ev) });
    const summary = builder.finish({ id: ctx.runId, seed: ctx.scenario.seed, toolVersion: ctx.toolVersion, transport: 'kafka' }, { digestHex: loaded.digestHex, contentDigestHex: loaded.contentDigestHex }, ctx.epochs);
    for (const v of viewers) files.push(...(await v.finish(summary)));
  } catch (err) {
    for (const v of viewers) v.abort();
    throw err;
  }
  const wallMs = Date.now() - startedMs; // wall-clock ok: reporting only
  const out = {
    source: `kafka://${brokers.join(',')}`,
    runId: ctx.runId,
    epochs: counts.epochs,
    events: counts.events,
    digest: loaded.digestHex,
    kafka: { ...roundedMs(run.stats), readEventsPerSec: loaded.readEventsPerSec },
    speed: flags.speed ?? null,
    wallMs: roundTo(wallMs),
    otlp: otlp ? { url: dest.otlpUrl, spans: otlp.spans(), traceId: otlp.traceId, jaegerUrl: jaegerTraceUrl(dest.otlpUrl!, otlp.traceId) } : null,
    files,
  };
  if (flags.json) {
    io.out(JSON.stringify(out, null, 2));
    return EXIT.ok;
  }
  io.out(
    `replayed ${counts.epochs} epochs, ${counts.events} events of run ${ctx.runId} from Kafka ${brokers.join(',')} ` +
      `(read in ${(run.stats.wallMs / 1000).toFixed(2)}s, group join ${(run.stats.joinMs / 1000).toFixed(2)}s, then ${loaded.readEventsPerSec} events/s; streamed in ${(wallMs / 1000).toFixed(2)}s${flags.speed ? ` at ${flags.speed}x virtual speed` : ''}), digest ${loaded.digestHex}.`,
  );
  if (otlp) io.out(traceLine(`sent ${otlp.spans()} spans to ${dest.otlpUrl}`, dest.otlpUrl!, otlp.traceId));
  if (files.length > 0) {
    io.out('wrote:');
    for (const f of files) io.out(`  ${relativeForDisplay(f)}`);
  }
  return EXIT.ok;
}

/** The stats with every `...Ms` figure rounded to the microsecond (JSON output). */
function roundedMs<T extends object>(stats: T): T {
  return Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, k.endsWith('Ms') && typeof v === 'number' ? roundTo(v) : v])) as T;
}
