// Reads one run back from the topics it travelled on (`vpmu replay --kafka BROKERS --run ID`):
// RunStart / RunEnd from vpmu.control, the event batches from vpmu.events, the nodes' epoch
// reports from vpmu.reports (their event counts tell whether every batch is still on the topic:
// retention may have deleted the oldest). A fresh consumer group reads the topics from the
// beginning, keeps only the run's envelopes, drops duplicate
// deliveries by (epoch, source, seq) exactly as the barrier does, and regroups the batches by
// (epoch, source node) in the aggregator's canonical order, so what comes out is what the
// aggregator recorded, frame for frame.
//
// When to stop: the high watermarks of the topics are read first; the reader stops once every
// partition is consumed up to them and the run's RunEnd has been seen. A RunEnd that arrives
// only while reading (the run was still going) moves the vpmu.events targets up to the new
// watermarks: a node's events are produced before its epoch report, and the conductor sends
// RunEnd only after every report, so they are in the log by then. Everything else is bounded by
// a timeout. Memory: the run's batches are held (copied out of the fetch buffers), nothing else.
import { OperatingError, type OperatingErrorKind } from '@vpmu/errors';
import * as crypto from 'node:crypto';
import { decodeEnvelope, type vpmu } from '@vpmu/proto';
import { TOPICS } from '../../bus/topics';
import type { KafkaClient, KafkaConsumer, KafkaEachMessagePayload } from '../client/kafka-client.types';
import { asUnavailable } from '../client/kafka.errors';

export interface KafkaRunReadOptions {
  client: KafkaClient;
  brokers: string[];
  runId: string;
  /** The whole read, group join included (default 30 s). */
  timeoutMs?: number;
  /** Consumer group (default: a fresh one per read, never committed). */
  groupId?: string;
  /** One line per state change. */
  log?: (line: string) => void;
}

export interface KafkaRunFrame {
  node: string;
  /** Encoded EventBatch, byte for byte as the node sent it. */
  batch: Uint8Array;
  seq: number;
}

export interface KafkaRunEpoch {
  epoch: number;
  /** Canonical order: node ids ascending, then seq. */
  frames: KafkaRunFrame[];
}

/** A guest-vm's cumulative workload result, as it reaches the aggregator. */
export interface KafkaGuestOutput {
  epoch: number;
  node: string;
  seq: number;
  vm: string;
  workloadUnits: number;
  guestNs: number;
}

/**
 * A node's EpochReport: how many events it produced in the grant's epochs [epoch, endEpoch) (a
 * lookahead window; endEpoch = epoch + 1 for a one-epoch grant); its batches hold exactly these.
 */
export interface KafkaEpochReport {
  epoch: number;
  endEpoch: number;
  node: string;
  eventCount: number;
}

export interface KafkaRun {
  runId: string;
  start: vpmu.v1.IRunStart;
  end: vpmu.v1.IRunEnd;
  /** Epochs with at least one event batch, ascending. */
  epochs: KafkaRunEpoch[];
  /** In canonical order (epoch, source, seq). */
  guestOutputs: KafkaGuestOutput[];
  /** The nodes' epoch reports of this run (one per grant and node), for completeness checks. */
  reports: KafkaEpochReport[];
  /** "topic/partition@low" of partitions whose oldest messages were deleted (retention). */
  truncated: string[];
  /** RunStart messages of this run id seen on vpmu.control (a re-run of the same scenario and seed has the same id). */
  starts: number;
  stats: KafkaRunReadStats;
}

export interface KafkaRunReadStats {
  /** Messages consumed on both topics (every run's). */
  messages: number;
  /** Envelopes of this run kept (event batches and guest outputs). */
  kept: number;
  duplicates: number;
  /** Messages of the topics that are not envelopes at all (garbage, dead-letter candidates). */
  undecodable: number;
  /** Wall time of the read, group join included. */
  wallMs: number;
  /** Wall time until the first message arrived (connect and group join). */
  joinMs: number;
}

/** The run id is not on vpmu.control: a bad argument (exit 2), with the ids that are. */
export class KafkaRunNotFoundError extends OperatingError {
  constructor(
    readonly runId: string,
    readonly runsFound: string[],
    brokers: string[],
  ) {
    super(
      'bad-input',
      runsFound.length === 0
        ? `no run ${runId} on Kafka at ${brokers.join(',')}: vpmu.control holds no run at all; run one with "vpmu run FILE --kafka ${brokers.join(',')}".`
        : `no run ${runId} on Kafka at ${brokers.join(',')}; the runs found on vpmu.control are: ${runsFound.join(', ')}.`,
    );
  }
}

/**
 * The run cannot be replayed whole: still running, aborted, or its end never came (`bad-input`),
 * or the broker did not deliver the control topic in time (`unavailable`).
 */
export class KafkaRunIncompleteError extends OperatingError {
  constructor(message: string, retriable: boolean, kind: OperatingErrorKind = 'bad-input') {
    super(kind, message, { retriable });
  }
}

interface FrameKeyed extends KafkaRunFrame {
  epoch: number;
}

export async function readRunFromKafka(o: KafkaRunReadOptions): Promise<KafkaRun> {
  const t0 = performance.now(); // wall-clock ok: reporting and the read timeout
  const timeoutMs = o.timeoutMs ?? 30_000;
  const log = o.log ?? (() => undefined);
  const stats: KafkaRunReadStats = { messages: 0, kept: 0, duplicates: 0, undecodable: 0, wallMs: 0, joinMs: 0 };

  const admin = o.client.admin();
  const truncated: string[] = [];
  const targets = new Map<string, number>(); // "topic/partition" -> high watermark still to reach
  const consumed = new Map<string, number>(); // "topic/partition" -> next offset
  const raiseTargets = async (topic: string): Promise<void> => {
    let offsets;
    try {
      offsets = await admin.fetchTopicOffsets(topic);
    } catch (err) {
      // A broker that never saw a run has no such topic: nothing to read there.
      if ((err as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') return;
      throw err;
    }
    for (const p of offsets) {
      const k = `${topic}/${p.partition}`;
      targets.set(k, Math.max(targets.get(k) ?? 0, Number(p.high)));
      // Messages below the low watermark are gone (retention): there is nothing to wait for.
      consumed.set(k, Math.max(consumed.get(k) ?? 0, Number(p.low)));
      if (Number(p.low) > 0 && !truncated.includes(`${k}@${p.low}`)) truncated.push(`${k}@${p.low}`);
    }
  };
  try {
    await admin.connect();
    await raiseTargets(TOPICS.control);
    await raiseTargets(TOPICS.events);
    await raiseTargets(TOPICS.reports);
  } catch (err) {
    await admin.disconnect().catch(() => undefined);
    throw asUnavailable(o.brokers, err);
  }

  const runsFound: string[] = [];
  let start: vpmu.v1.IRunStart | null = null;
  let end: vpmu.v1.IRunEnd | null = null;
  let starts = 0;
  const seen = new Set<string>();
  const frames: FrameKeyed[] = [];
  const guestOutputs: KafkaGuestOutput[] = [];
  const reports = new Map<string, KafkaEpochReport>();
  let raising: Promise<void> = Promise.resolve();

  const caughtUp = (): boolean => {
    for (const [k, high] of targets) if ((consumed.get(k) ?? 0) < high) return false;
    return true;
  };

  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const check = (): void => {
    // Caught up with the log as it was, and either the run's end is in or the run is not there.
    if (caughtUp() && (end !== null || start === null)) finish();
  };

  const onMessage = async (p: KafkaEachMessagePayload): Promise<void> => {
    if (stats.messages++ === 0) stats.joinMs = performance.now() - t0; // wall-clock ok: reporting only
    const k = `${p.topic}/${p.partition}`;
    consumed.set(k, Math.max(consumed.get(k) ?? 0, Number(p.message.offset) + 1));
    const value = p.message.value;
    let env: vpmu.v1.Envelope | null = null;
    if (value && value.length > 0) {
      try {
        env = decodeEnvelope(value);
      } catch {
        env = null;
      }
    }
    if (env === null) {
      stats.undecodable++;
    } else if (p.topic === TOPICS.control) {
      if (env.runStart) {
        const id = env.runStart.runId || env.runId;
        if (!runsFound.includes(id)) runsFound.push(id);
        if (id === o.runId) {
          starts++;
          if (start !== null && start.toolVersion !== env.runStart.toolVersion) {
            log(`run ${o.runId} was started again by another tool version (${start.toolVersion} then ${env.runStart.toolVersion}); keeping the latest start`);
          }
          start = env.runStart;
        }
      } else if (env.runEnd && (env.runEnd.runId || env.runId) === o.runId) {
        end = env.runEnd;
        // Events the run produced after our first look at the watermarks are in the log now.
        raising = raising.then(() => raiseTargets(TOPICS.events)).then(() => raiseTargets(TOPICS.reports)).catch((err: unknown) => log(`could not re-read the vpmu.events watermarks: ${(err as Error).message}`));
        await raising;
      }
    } else if (p.topic === TOPICS.reports) {
      const r = env.report;
      if (r && env.runId === o.runId) {
        const key = `${r.epoch}\u0000${r.node}`;
        if (!reports.has(key)) reports.set(key, { epoch: r.epoch ?? 0, endEpoch: Math.max((r.epoch ?? 0) + 1, r.endEpoch ?? 0), node: r.node ?? '', eventCount: r.eventCount ?? 0 });
      }
    } else if (env.runId === o.runId && (env.events || env.guestOutput)) {
      const key = `${env.epoch}\u0000${env.sourceNode}\u0000${env.seq}`;
      if (seen.has(key)) {
        stats.duplicates++;
      } else {
        seen.add(key);
        stats.kept++;
        if (env.events) {
          // Copied: a view would keep the whole fetch response (every run's messages) alive.
          frames.push({ epoch: env.epoch, node: env.sourceNode, seq: env.seq, batch: Uint8Array.from(env.events) });
        } else if (env.guestOutput) {
          const g = env.guestOutput;
          guestOutputs.push({ epoch: env.epoch, node: env.sourceNode, seq: env.seq, vm: g.vm ?? '', workloadUnits: Number(g.workloadUnits ?? 0), guestNs: Number(g.guestNs ?? 0) });
        }
      }
    }
    check();
  };

  const groupId = o.groupId ?? `vpmu.replay.${o.runId}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`; // wall-clock ok: a consumer group name, outside the simulation
  const consumer: KafkaConsumer = o.client.consumer({
    groupId,
    maxWaitTimeInMs: 20,
    minBytes: 1,
    sessionTimeout: 10_000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 500,
    allowAutoTopicCreation: false,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
  });
  const failure: { error: Error | null } = { error: null };
  consumer.on(consumer.events.CRASH, (e) => {
    const p = e.payload as { error?: Error; restart?: boolean };
    if (p.restart) return;
    failure.error = p.error ?? new Error('the consumer crashed');
    finish();
  });
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  try {
    check(); // empty topics: nothing to read at all
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [TOPICS.control, TOPICS.events, TOPICS.reports], fromBeginning: true });
      await consumer.run({ autoCommit: false, partitionsConsumedConcurrently: 1, eachMessage: onMessage });
    } catch (err) {
      throw asUnavailable(o.brokers, err);
    }
    log(`reading vpmu.control, vpmu.events and vpmu.reports from the beginning in group ${groupId}`);
    const remainingMs = Math.max(0, timeoutMs - (performance.now() - t0)); // wall-clock ok: read timeout
    await Promise.race([
      done,
      new Promise<void>((resolve) => {
        // wall-clock ok: read timeout
        timer = setTimeout(() => {
          timedOut = true;
          resolve();
        }, remainingMs); // wall-clock ok: read timeout
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await raising;
    await consumer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  stats.wallMs = performance.now() - t0; // wall-clock ok: reporting only
  if (failure.error) throw asUnavailable(o.brokers, failure.error);

  const seconds = Math.round(timeoutMs / 1000);
  const foundStart = start as vpmu.v1.IRunStart | null;
  const foundEnd = end as vpmu.v1.IRunEnd | null;
  if (foundStart === null) {
    if (timedOut && !caughtUp()) {
      throw new KafkaRunIncompleteError(`could not read vpmu.control to its end within ${seconds} s (Kafka at ${o.brokers.join(',')}); run ${o.runId} was not among the runs read so far (${runsFound.join(', ') || 'none'}).`, true, 'unavailable');
    }
    throw new KafkaRunNotFoundError(o.runId, runsFound, o.brokers);
  }
  if (foundEnd === null) {
    throw new KafkaRunIncompleteError(`run ${o.runId} has no RunEnd on vpmu.control after ${seconds} s: it is still running or its conductor stopped; wait for it to finish, or replay what the aggregator recorded.`, true);
  }
  if (!caughtUp()) {
    throw new KafkaRunIncompleteError(`run ${o.runId} ended, but vpmu.events could not be read to its end within ${seconds} s; try again with a longer --timeout.`, true);
  }
  if (foundEnd.reason !== 'completed') {
    throw new KafkaRunIncompleteError(`run ${o.runId} did not complete (${foundEnd.reason || 'no reason given'}); there is no whole run to replay.`, false);
  }
  return {
    runId: o.runId,
    start: foundStart,
    end: foundEnd,
    epochs: groupByEpoch(frames),
    guestOutputs: guestOutputs.sort(byCanonical),
    reports: [...reports.values()].sort((a, b) => a.epoch - b.epoch || compareStrings(a.node, b.node)),
    truncated,
    starts,
    stats,
  };
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byCanonical(a: { epoch: number; node: string; seq: number }, b: { epoch: number; node: string; seq: number }): number {
  return a.epoch - b.epoch || compareStrings(a.node, b.node) || a.seq - b.seq;
}

/** Groups the batches by epoch, each epoch's frames in the aggregator's order (node id, then seq). */
export function groupByEpoch(frames: FrameKeyed[]): KafkaRunEpoch[] {
  const sorted = frames.slice().sort(byCanonical);
  const out: KafkaRunEpoch[] = [];
  for (const f of sorted) {
    let last = out[out.length - 1];
    if (!last || last.epoch !== f.epoch) out.push((last = { epoch: f.epoch, frames: [] }));
    last.frames.push({ node: f.node, batch: f.batch, seq: f.seq });
  }
  return out;
}
