// Failover reads the run back from the log: a replica that adopts a node mid-run (takeover,
// restart) needs what the node needs to re-simulate — the run's RunStart and grants from
// vpmu.control, the node's latest checkpoint from vpmu.checkpoints, the messages sent to it from
// vpmu.inbox (the aggregator: every event batch from vpmu.events). Kafka keeps all of it, so
// nothing depends on which process consumed what before the failure.
//
// A fresh consumer group (never committed) reads the topics from the beginning up to the high
// watermarks taken before it starts: everything published before the adoption began is below
// them, and everything published after is delivered live to the adopter (which holds its live
// deliveries meanwhile; duplicates are dropped by (epoch, source, seq)).
import * as crypto from 'node:crypto';
import { decodeEnvelope, type vpmu } from '@vpmu/proto';
import type { KafkaClient, KafkaConsumer, KafkaEachMessagePayload } from '../client/kafka-client.types';
import { asUnavailable, KafkaUnavailableError, unavailableMessage } from '../client/kafka.errors';

export interface LogCatchUpOptions {
  client: KafkaClient;
  brokers: string[];
  topics: string[];
  /** Keeps an envelope read from `topic`; undecodable messages are skipped. */
  accept: (topic: string, env: vpmu.v1.Envelope) => boolean;
  /** Prefix of the fresh consumer group's id. */
  groupPrefix: string;
  /** The whole read, group join included (default 30 s). */
  timeoutMs?: number;
}

export interface LoggedEnvelope {
  topic: string;
  partition: number;
  offset: number;
  env: vpmu.v1.Envelope;
}

export interface LogCatchUp {
  /** Kept envelopes, per partition in offset order. */
  envelopes: LoggedEnvelope[];
  /** Messages read (all runs'). */
  scanned: number;
  wallMs: number;
}

export async function catchUpFromLog(o: LogCatchUpOptions): Promise<LogCatchUp> {
  const t0 = performance.now(); // wall-clock ok: read timeout and reporting
  const timeoutMs = o.timeoutMs ?? 30_000;
  const targets = new Map<string, number>(); // "topic/partition" -> high watermark to reach
  const consumed = new Map<string, number>(); // "topic/partition" -> next offset
  const admin = o.client.admin();
  try {
    await admin.connect();
    for (const topic of o.topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        targets.set(`${topic}/${p.partition}`, Number(p.high));
        consumed.set(`${topic}/${p.partition}`, Number(p.low));
      }
    }
  } catch (err) {
    throw asUnavailable(o.brokers, err);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const caughtUp = (): boolean => [...targets].every(([k, high]) => (consumed.get(k) ?? 0) >= high);
  const envelopes: LogCatchUp['envelopes'] = [];
  let scanned = 0;
  let finish: (err?: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => (finish = (err) => (err ? reject(err) : resolve())));
  const onMessage = async (p: KafkaEachMessagePayload): Promise<void> => {
    const k = `${p.topic}/${p.partition}`;
    const offset = Number(p.message.offset);
    if (offset < (targets.get(k) ?? 0)) {
      scanned++;
      let env: vpmu.v1.Envelope | null = null;
      try {
        env = p.message.value ? decodeEnvelope(p.message.value) : null;
      } catch {
        env = null; // garbage: the live consumers dead-letter it
      }
      if (env && o.accept(p.topic, env)) envelopes.push({ topic: p.topic, partition: p.partition, offset, env });
    }
    consumed.set(k, Math.max(consumed.get(k) ?? 0, offset + 1));
    if (caughtUp()) finish();
  };
  if (caughtUp()) return { envelopes, scanned, wallMs: performance.now() - t0 }; // wall-clock ok: reporting only

  const consumer: KafkaConsumer = o.client.consumer({
    groupId: `${o.groupPrefix}.${crypto.randomBytes(4).toString('hex')}`, // wall-clock ok: a consumer group name, outside the simulation
    maxWaitTimeInMs: 20,
    minBytes: 1,
    sessionTimeout: 10_000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 500,
    allowAutoTopicCreation: false,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
  });
  consumer.on(consumer.events.CRASH, (e) => {
    const p = e.payload as { error?: Error; restart?: boolean };
    if (!p.restart) finish(asUnavailable(o.brokers, p.error ?? new Error('the catch-up consumer crashed')));
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: o.topics, fromBeginning: true });
    await consumer.run({ autoCommit: false, partitionsConsumedConcurrently: 1, eachMessage: onMessage });
    const seconds = Math.round(timeoutMs / 1000);
    const left = Math.max(0, timeoutMs - (performance.now() - t0)); // wall-clock ok: read timeout
    timer = setTimeout(() => finish(new KafkaUnavailableError(unavailableMessage(o.brokers, `reading ${o.topics.join(', ')} back took longer than ${seconds} s`), o.brokers)), left); // wall-clock ok: read timeout
    await done;
  } catch (err) {
    throw err instanceof KafkaUnavailableError ? err : asUnavailable(o.brokers, err);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
  }
  return { envelopes, scanned, wallMs: performance.now() - t0 }; // wall-clock ok: reporting only
}

/** Where each partition of `topics` ends now (RunStart.log_start: where a run's log begins). */
export async function logEndOffsets(client: KafkaClient, brokers: string[], topics: readonly string[]): Promise<{ topic: string; partition: number; offset: number }[]> {
  const admin = client.admin();
  try {
    await admin.connect();
    const out: { topic: string; partition: number; offset: number }[] = [];
    for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) out.push({ topic, partition: p.partition, offset: Number(p.high) });
    return out;
  } catch (err) {
    throw asUnavailable(brokers, err);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
