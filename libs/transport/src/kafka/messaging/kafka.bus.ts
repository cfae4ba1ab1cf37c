// MessageBus over Kafka (kafkajs producer). kafkajs has no linger, so batching happens here:
// publish() only queues, and the queue is drained once the current synchronous turn is over,
// as one sendBatch grouped by topic. A node publishes all of an epoch's output in one turn, so
// an epoch travels as one produce request. Sends are chained, so per-key order is publish order.
// Retried sends may duplicate a message; receivers drop duplicates by (epoch, source, seq) and
// the cluster member drops duplicate control messages, so at-least-once delivery is safe.
import type { BusMessage, MessageBus } from '../../bus/message-bus.port';
import { TOPICS } from '../../bus/topics';
import type { KafkaClient, KafkaProducer, KafkaTopicMessages } from '../client/kafka-client.types';
import { asUnavailable } from '../client/kafka.errors';
import { partitionForKey } from '../client/partitioner';
import { publishSpan } from './platform-tracing';

export interface KafkaBusOptions {
  client: KafkaClient;
  brokers: string[];
  /** Physical partitions per topic (from ensureTopics). */
  topicPartitions: Map<string, number>;
  /** Partitions keyed messages are spread over: min(this, physical). See client/ensure-topics.ts. */
  partitions: number;
  /** Called when a batch could not be sent after kafkajs' retries. */
  onError?: (err: Error) => void;
  /** How long a retriable send failure (broker restart or outage) is retried (default 60 s). */
  maxOutageMs?: number;
}

export class KafkaBus implements MessageBus {
  private queue: BusMessage[] = [];
  private scheduled = false;
  private sending: Promise<void> = Promise.resolve();
  private closed = false;
  messagesSent = 0;
  batchesSent = 0;
  /** Batches sent again after kafkajs gave up on them (a broker outage). */
  retriedBatches = 0;

  private constructor(
    private readonly producer: KafkaProducer,
    private readonly options: KafkaBusOptions,
  ) {}

  static async connect(options: KafkaBusOptions): Promise<KafkaBus> {
    const producer = options.client.producer({ allowAutoTopicCreation: false, retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 3000 } });
    try {
      await producer.connect();
    } catch (err) {
      throw asUnavailable(options.brokers, err);
    }
    return new KafkaBus(producer, options);
  }

  /** The partitions keyed messages of `topic` are placed on. */
  partitionCount(topic: string): number {
    return Math.max(1, Math.min(this.options.partitions, this.options.topicPartitions.get(topic) ?? 1));
  }

  /** The partitions node-to-node messages are placed on (what replicas announce in the handshake). */
  get placementPartitions(): number {
    return this.partitionCount(TOPICS.inbox);
  }

  publish(message: BusMessage): void {
    if (this.closed) throw new Error(`KafkaBus is closed (message for ${message.topic} dropped)`);
    this.queue.push(message);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const batch = this.queue;
      this.queue = [];
      this.sending = this.sending.then(() => this.send(batch));
    });
  }

  async flush(): Promise<void> {
    // A drain may be scheduled for this turn; let it run, then wait for every chained send.
    for (;;) {
      await Promise.resolve();
      const sending = this.sending;
      await sending;
      if (!this.scheduled && this.queue.length === 0 && sending === this.sending) return;
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.producer.disconnect().catch(() => undefined);
  }

  private async send(batch: BusMessage[]): Promise<void> {
    if (batch.length === 0) return;
    const byTopic = new Map<string, KafkaTopicMessages>();
    for (const m of batch) {
      let t = byTopic.get(m.topic);
      if (!t) byTopic.set(m.topic, (t = { topic: m.topic, messages: [] }));
      // Headers copied: platform tracing adds `traceparent` to them (see platform-tracing.ts).
      t.messages.push({ key: m.key, value: m.value, partition: partitionForKey(m.key, this.partitionCount(m.topic)), headers: m.headers && { ...m.headers } });
    }
    let failingSinceMs: number | null = null;
    for (;;) {
      try {
        await publishSpan({ topics: [...byTopic.keys()], messages: batch.length }, () => this.producer.sendBatch({ topicMessages: [...byTopic.values()] }));
        this.messagesSent += batch.length;
        this.batchesSent++;
        return;
      } catch (err) {
        // A broker restart or outage outlasts kafkajs' own retries: keep the batch (a lost
        // message would stall the epoch barrier for good) and send it again, in order, until
        // the outage has lasted `maxOutageMs`. Duplicates are dropped by (epoch, source, seq).
        failingSinceMs ??= performance.now(); // wall-clock ok: outage bound
        if (isRetriable(err) && performance.now() - failingSinceMs < (this.options.maxOutageMs ?? 60_000)) { // wall-clock ok: outage bound
          this.retriedBatches++;
          await new Promise((resolve) => setTimeout(resolve, 500)); // wall-clock ok: retry pacing
          continue;
        }
        const e = asUnavailable(this.options.brokers, err);
        if (this.options.onError) this.options.onError(e);
        else throw e;
        return;
      }
    }
  }
}

/** kafkajs marks transient failures retriable; exhausted retries wrap the last one. */
function isRetriable(err: unknown): boolean {
  for (let e = err as { name?: string; retriable?: boolean; cause?: unknown; originalError?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (e.retriable === true || e.name === 'KafkaJSNumberOfRetriesExceeded' || e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSRequestTimeoutError') return true;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return false;
}
