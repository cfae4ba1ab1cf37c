// Streams a recording's events back, epoch by epoch and node by node in canonical order (what
// the aggregator hands its viewers during a run), without re-simulating: for `vpmu replay REC`
// and `vpmu export`. The summary the viewers finish with is the run's summary.json when it
// sits next to the recording and carries the same digest; otherwise it is rebuilt from the
// recorded events (guest workload scores are not recorded, so they read 0 there).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeEventBatch, EventBatchDecodeError } from '@vpmu/proto';
import { CliError } from '../cli-error';
import type { RecordingEnd, RecordingHeaderInfo } from '@vpmu/recording';
import type { Scenario } from '@vpmu/scenario';
import type { SimEvent } from '@vpmu/sim';
import { SummaryBuilder, type RunSummary } from '@vpmu/summary';
import { recordedEpochs, scanRecording, scenarioFromHeader } from './recording-input';

/** Something fed the decoded events of each recorded frame. */
export interface RecordingConsumer {
  onEvents(epoch: number, node: string, events: readonly SimEvent[]): void;
  /** Awaited after each epoch: back-pressure (e.g. an OTLP exporter with chunks in flight). */
  pace?(): Promise<void>;
}

export interface StreamOptions {
  /** Times virtual speed (2 = twice as fast as virtual time); absent = as fast as possible. */
  speed?: number;
  /** Sleep used for pacing; injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Wall clock in ms used for pacing (performance.now); injectable for tests, with `sleep`. */
  nowMs?: () => number;
  onEpoch?: (epoch: number, epochs: number, events: number) => void;
}

export interface StreamResult {
  header: RecordingHeaderInfo;
  scenario: Scenario;
  end: RecordingEnd;
  summary: RunSummary;
  summarySource: 'summary.json' | 'rebuilt';
  epochs: number;
  events: number;
  frames: number;
}

/** Opens and fully checks a recording (exit 2 if damaged) before anything is streamed. */
export function prepareStream(file: string): { header: RecordingHeaderInfo; scenario: Scenario; end: RecordingEnd } {
  const scan = scanRecording(file, { requireComplete: true });
  return { header: scan.header, scenario: scenarioFromHeader(file, scan.header), end: scan.end };
}

export async function streamRecording(file: string, consumers: readonly RecordingConsumer[], options: StreamOptions = {}): Promise<StreamResult> {
  const { header, scenario, end } = prepareStream(file);
  const builder = new SummaryBuilder(scenario);
  const counts = await streamEpochs(recordedEpochs(file, { requireComplete: true }), scenario, end.epochCount, builder, consumers, options);
  const recorded = readMatchingSummary(file, end.finalDigestHex);
  const summary =
    recorded ??
    builder.finish({ id: header.runId, seed: header.seed, toolVersion: header.toolVersion, transport: 'in-process' }, { digestHex: end.finalDigestHex, contentDigestHex: end.contentDigestHex }, Math.ceil(scenario.durationNs / scenario.epochNs));
  return { header, scenario, end, summary, summarySource: recorded ? 'summary.json' : 'rebuilt', ...counts };
}

/** An epoch's event batches, in canonical node order (a recording's or a run read from Kafka). */
export interface EpochBatches {
  epoch: number;
  /** `eventCount` (a recording's frame field, CRC-protected) is checked against the decoded batch when given. */
  frames: readonly { node: string; batch: Uint8Array; eventCount?: number }[];
}

/**
 * Feeds epochs to the consumers and the summary builder, paced at `options.speed` times virtual
 * speed (or as fast as possible), awaiting each consumer's back-pressure after every epoch.
 */
export async function streamEpochs(
  source: Iterable<EpochBatches>,
  scenario: Scenario,
  epochCount: number,
  builder: SummaryBuilder,
  consumers: readonly RecordingConsumer[],
  options: StreamOptions = {},
): Promise<{ epochs: number; events: number; frames: number }> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))); // wall-clock ok: replay pacing, outside the simulation
  const nowMs = options.nowMs ?? (() => performance.now()); // wall-clock ok: replay pacing
  const startMs = nowMs();
  let events = 0;
  let frames = 0;
  let epochs = 0;
  for (const item of source) {
    if (options.speed !== undefined) {
      const dueMs = (item.epoch * scenario.epochNs) / 1e6 / options.speed;
      const aheadMs = dueMs - (nowMs() - startMs);
      if (aheadMs > 1) await sleep(aheadMs);
    }
    for (const f of item.frames) {
      const decoded = decodeFrame(item.epoch, f);
      builder.onEvents(decoded);
      for (const c of consumers) c.onEvents(item.epoch, f.node, decoded);
      events += decoded.length;
      frames++;
    }
    epochs++;
    for (const c of consumers) if (c.pace) await c.pace();
    options.onEpoch?.(epochs, epochCount, events);
  }
  return { epochs, events, frames };
}

/**
 * A frame's events. A batch can pass its CRC and still be damage (written so, or forged with a
 * matching CRC): one that does not decode, or decodes to another number of events than its frame
 * says, is bad input (exit 2), never an internal error and never silently fewer events.
 */
function decodeFrame(epoch: number, f: { node: string; batch: Uint8Array; eventCount?: number }): SimEvent[] {
  let decoded: SimEvent[];
  try {
    decoded = decodeEventBatch(f.batch);
  } catch (err) {
    if (!(err instanceof EventBatchDecodeError)) throw err;
    throw new CliError(`the recorded batch of ${f.node} in epoch ${epoch} passes its CRC but cannot be decoded (${err.message}); the recording is damaged from epoch ${epoch} on.`);
  }
  if (f.eventCount !== undefined && decoded.length !== f.eventCount) {
    throw new CliError(`the recorded frame of ${f.node} in epoch ${epoch} says ${f.eventCount} events but its batch holds ${decoded.length}; the recording is damaged from epoch ${epoch} on.`);
  }
  return decoded;
}

/** DIR/summary.json of the run that wrote DIR/recording.vpmurec, if its digest matches. */
export function readMatchingSummary(recordingFile: string, digestHex: string): RunSummary | null {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(path.dirname(recordingFile), 'summary.json'), 'utf8')) as RunSummary;
    return s && s.schema === 1 && s.digest === digestHex ? s : null;
  } catch {
    return null;
  }
}
