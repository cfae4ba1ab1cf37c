// NestJS custom transport strategy over Kafka (kafkajs consumers). The same @EventPattern(topic)
// handlers as in-process: each receives the raw protobuf Buffer and a BaseRpcContext of
// [topic, key, headers]. Topics are consumed in one of two ways:
// - broadcast: a consumer group unique to this process (every process sees every message), for
//   control, events, reports and dead letters;
// - shared: one consumer group for all replicas of a service (members split the partitions),
//   for vpmu.inbox, so the partitions a replica is assigned decide which nodes it owns.
// Fresh groups start at the end of the log (no committed offsets, autoCommit off): a process
// only sees what is published after it is ready, which the cluster handshake makes safe.
// Deliveries from both consumers go through one queue, so handlers never interleave.
import { CustomTransportStrategy, Server } from '@nestjs/microservices';
import { BaseRpcContext } from '@nestjs/microservices/ctx-host/base-rpc.context';
import type { BusMessage } from '../../bus/message-bus.port';
import type { KafkaClient, KafkaConsumer, KafkaEachMessagePayload, KafkaGroupJoinPayload, KafkaHeaders } from '../client/kafka-client.types';
import { asUnavailable } from '../client/kafka.errors';

/** How often a pending delivery heartbeats its consumer group (kafkajs skips early ones). */
const GROUP_HEARTBEAT_MS = 500;

/** Sees every delivered message before its handler; calls `dispatch` now, later or never. */
export interface DeliveryInterceptor {
  intercept(message: BusMessage, dispatch: (m: BusMessage) => Promise<void>): Promise<void>;
}

export interface KafkaServerOptions {
  client: KafkaClient;
  brokers: string[];
  /** Group id of this process's broadcast consumer (must be unique per process). */
  instanceGroupId: string;
  /** Topics whose partitions are split among the members of `groupId`. */
  shared?: { groupId: string; topics: string[] };
  interceptor?: DeliveryInterceptor;
  /** One line per state change (health logging). */
  log?: (line: string) => void;
  /** A handler threw: the process decides (the CLI aborts the run, services log it). */
  onHandlerError?: (err: Error) => void;
}

interface ConsumerState {
  name: 'broadcast' | 'shared';
  groupId: string;
  consumer: KafkaConsumer;
  topics: string[];
  joins: number;
  fetchStartedAfterJoin: number;
  ready: boolean;
  assignment: Record<string, number[]>;
  /** "topic/partition" -> the offset after the last message delivered to this process. */
  positions: Map<string, number>;
}

export class KafkaTransportServer extends Server implements CustomTransportStrategy {
  private consumers: ConsumerState[] = [];
  private chain: Promise<void> = Promise.resolve();
  private readyWaiters: (() => void)[] = [];
  private closing = false;
  delivered = 0;

  constructor(private readonly options: KafkaServerOptions) {
    super();
  }

  listen(callback: (err?: unknown) => void): void {
    this.start().then(
      () => callback(),
      (err) => callback(asUnavailable(this.options.brokers, err)),
    );
  }

  /** True when every consumer has joined its group and positioned itself (offsets resolved). */
  isReady(): boolean {
    return this.consumers.length > 0 && this.consumers.every((c) => c.ready);
  }

  whenReady(): Promise<void> {
    if (this.isReady()) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Partitions of `topic` this process's shared consumer is assigned (sorted). */
  assignedPartitions(topic: string): number[] {
    const shared = this.consumers.find((c) => c.name === 'shared');
    return [...(shared?.assignment[topic] ?? [])].sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.consumers.map((c) => c.consumer.disconnect().catch(() => undefined)));
    await this.chain.catch(() => undefined);
  }

  on(): never {
    throw new Error('KafkaTransportServer reports its state through the log option, not events');
  }

  unwrap<T>(): T {
    return this.consumers.map((c) => c.consumer) as unknown as T;
  }

  private async start(): Promise<void> {
    const topics = [...this.messageHandlers.keys()].sort();
    const sharedTopics = topics.filter((t) => this.options.shared?.topics.includes(t));
    const broadcastTopics = topics.filter((t) => !sharedTopics.includes(t));
    if (broadcastTopics.length > 0) this.consumers.push(this.createConsumer('broadcast', this.options.instanceGroupId, broadcastTopics));
    if (sharedTopics.length > 0) this.consumers.push(this.createConsumer('shared', this.options.shared!.groupId, sharedTopics));
    for (const c of this.consumers) await this.runConsumer(c);
  }

  private async runConsumer(c: ConsumerState): Promise<void> {
    await c.consumer.connect();
    await c.consumer.subscribe({ topics: c.topics, fromBeginning: false });
    await c.consumer.run({ autoCommit: false, partitionsConsumedConcurrently: 1, eachMessage: (p) => this.onMessage(p, c) });
  }

  /**
   * kafkajs restarts a consumer after a retriable failure only; after any other (the kcat mock
   * answers some SyncGroups with an error kafkajs deems fatal, a broker restart can end in one)
   * the consumer would stay stopped and the process deaf. Start it again, until it runs.
   */
  private restartLater(c: ConsumerState, log: (line: string) => void): void {
    // wall-clock ok: reconnect pacing
    setTimeout(() => {
      if (this.closing) return;
      log(`${c.name} consumer restarting`);
      this.runConsumer(c).catch((err: unknown) => {
        log(`${c.name} consumer restart failed: ${(err as Error).message}`);
        this.restartLater(c, log);
      });
    }, 1000); // wall-clock ok: reconnect pacing
  }

  private createConsumer(name: ConsumerState['name'], groupId: string, topics: string[]): ConsumerState {
    const consumer = this.options.client.consumer({
      groupId,
      // Loopback latency: answer a fetch as soon as one byte is there, never wait long for more.
      maxWaitTimeInMs: 5,
      minBytes: 1,
      // A replica that dies leaves the group after this long (failover starts then); 6 s is a
      // real Kafka's smallest allowed value (group.min.session.timeout.ms).
      sessionTimeout: 6_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 500,
      allowAutoTopicCreation: false,
      retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 2000 },
    });
    const state: ConsumerState = { name, groupId, consumer, topics, joins: 0, fetchStartedAfterJoin: -1, ready: false, assignment: {}, positions: new Map() };
    const log = this.options.log ?? (() => undefined);
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const p = e.payload as KafkaGroupJoinPayload;
      state.joins++;
      state.ready = false;
      state.assignment = p.memberAssignment;
      // After a rejoin (rebalance, session expiry after a broker outage, restart after a crash)
      // kafkajs resolves every assigned partition's position again from committed offsets, which
      // these groups never write: from the end of the log, skipping whatever was published
      // meanwhile. Go back to where this process was instead; what is delivered twice is dropped
      // by (epoch, source, seq). Partitions it never received anything on have no position: a
      // node whose messages were missed there stalls, and the conductor's failover restores it
      // from the log (supervision/run-supervisor.ts).
      for (const [topic, partitions] of Object.entries(p.memberAssignment)) {
        for (const partition of partitions) {
          const next = state.positions.get(`${topic}/${partition}`);
          if (next !== undefined) consumer.seek({ topic, partition, offset: String(next) });
        }
      }
      const parts = Object.entries(p.memberAssignment)
        .map(([t, ps]) => `${t}[${[...ps].sort((a, b) => a - b).join(',')}]`)
        .join(' ');
      log(`${name} consumer joined group ${groupId}: ${parts || 'no partitions'}`);
    });
    consumer.on(consumer.events.FETCH_START, () => {
      if (state.joins > 0 && state.fetchStartedAfterJoin < state.joins) state.fetchStartedAfterJoin = state.joins;
    });
    consumer.on(consumer.events.FETCH, () => {
      // The first fetch that started after the join has resolved this member's offsets: from
      // now on nothing published to its partitions can be missed.
      if (state.ready || state.fetchStartedAfterJoin !== state.joins) return;
      state.ready = true;
      if (this.isReady()) for (const w of this.readyWaiters.splice(0)) w();
    });
    consumer.on(consumer.events.REBALANCING, () => {
      if (state.ready) log(`${name} consumer rebalancing in group ${groupId}`);
      state.ready = false;
    });
    consumer.on(consumer.events.CRASH, (e) => {
      state.ready = false;
      const p = e.payload as { error?: Error; restart?: boolean };
      if (this.closing) return;
      log(`${name} consumer crashed: ${p.error?.message ?? 'unknown error'}${p.restart ? ' (restarting)' : ''}`);
      if (!p.restart) this.restartLater(state, log);
    });
    return state;
  }

  private onMessage(p: KafkaEachMessagePayload, c: ConsumerState): Promise<void> {
    c.positions.set(`${p.topic}/${p.partition}`, Number(p.message.offset) + 1);
    const message: BusMessage = {
      topic: p.topic,
      key: p.message.key ? p.message.key.toString('utf8') : '',
      value: p.message.value ?? Buffer.alloc(0),
      headers: toStringHeaders(p.message.headers),
    };
    const run = (): Promise<void> =>
      (this.options.interceptor ? this.options.interceptor.intercept(message, (m) => this.dispatch(m)) : this.dispatch(message)).catch((err: unknown) =>
        this.options.log?.(`delivery of a ${message.topic} message failed: ${(err as Error).message}`),
      );
    this.chain = this.chain.then(run, run);
    return this.keepGroupAlive(this.chain, p.heartbeat);
  }

  /**
   * kafkajs heartbeats the consumer group only between messages, so a delivery that takes longer
   * than the session timeout (a host-node's window of many epochs on a loaded machine, or one
   * waiting behind it in the chain) would cost this member its partitions: a rebalance and a
   * takeover of nodes that are simply busy. Heartbeat while it is pending; the handlers yield to
   * the event loop often enough for the timer to run.
   */
  private keepGroupAlive(pending: Promise<void>, heartbeat: (() => Promise<void>) | undefined): Promise<void> {
    if (!heartbeat) return pending;
    const timer = setInterval(() => void heartbeat().catch(() => undefined), GROUP_HEARTBEAT_MS); // wall-clock ok: liveness, never a simulation input
    timer.unref();
    return pending.finally(() => clearInterval(timer));
  }

  private async dispatch(m: BusMessage): Promise<void> {
    const handler = this.getHandlerByPattern(m.topic);
    if (!handler) return;
    this.delivered++;
    try {
      const result = await handler(m.value, new BaseRpcContext([m.topic, m.key, m.headers ?? {}]));
      if (result && typeof (result as { subscribe?: unknown }).subscribe === 'function') {
        await new Promise<void>((resolve, reject) => (result as { subscribe: (o: object) => void }).subscribe({ complete: resolve, error: reject }));
      }
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      if (this.options.onHandlerError) this.options.onHandlerError(e);
      else this.options.log?.(`handler for ${m.topic} failed: ${e.message}`);
    }
  }
}

function toStringHeaders(h: KafkaHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    out[k] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}
