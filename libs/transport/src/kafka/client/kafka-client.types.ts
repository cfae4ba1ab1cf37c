// The few kafkajs types this transport uses, re-declared (as NestJS microservices do: third-party types live in one
// small interface file, the rest of the code never imports kafkajs). kafkajs itself is loaded
// lazily here, so embedded runs that import @vpmu/transport never load it.

export interface KafkaHeaders {
  [key: string]: Buffer | string | (Buffer | string)[] | undefined;
}

export interface KafkaProducerRecord {
  key: string;
  value: Buffer;
  partition?: number;
  headers?: Record<string, string>;
}

export interface KafkaTopicMessages {
  topic: string;
  messages: KafkaProducerRecord[];
}

export interface KafkaProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  sendBatch(batch: { topicMessages: KafkaTopicMessages[]; acks?: number }): Promise<unknown>;
}

export interface KafkaConsumedMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers?: KafkaHeaders;
  offset: string;
}

export interface KafkaEachMessagePayload {
  topic: string;
  partition: number;
  message: KafkaConsumedMessage;
  /** Heartbeats the consumer group (kafkajs sends one only between messages otherwise). */
  heartbeat?: () => Promise<void>;
}

export interface KafkaInstrumentationEvent<T> {
  id: number;
  type: string;
  timestamp: number;
  payload: T;
}

export interface KafkaGroupJoinPayload {
  groupId: string;
  memberId: string;
  memberAssignment: Record<string, number[]>;
}

export interface KafkaConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(s: { topics: string[]; fromBeginning?: boolean }): Promise<void>;
  run(c: { autoCommit?: boolean; partitionsConsumedConcurrently?: number; eachMessage: (p: KafkaEachMessagePayload) => Promise<void> }): Promise<void>;
  stop(): Promise<void>;
  seek(o: { topic: string; partition: number; offset: string }): void;
  /** With autoCommit off: `offset` is the next message to read (the handled one + 1). */
  commitOffsets(o: { topic: string; partition: number; offset: string }[]): Promise<void>;
  on(event: string, listener: (e: KafkaInstrumentationEvent<unknown>) => void): () => void;
  events: { GROUP_JOIN: string; FETCH_START: string; FETCH: string; REBALANCING: string; CRASH: string; DISCONNECT: string; STOP: string };
}

export interface KafkaConsumerConfig {
  groupId: string;
  sessionTimeout?: number;
  rebalanceTimeout?: number;
  heartbeatInterval?: number;
  maxWaitTimeInMs?: number;
  minBytes?: number;
  allowAutoTopicCreation?: boolean;
  retry?: KafkaRetryConfig;
}

export interface KafkaRetryConfig {
  retries?: number;
  initialRetryTime?: number;
  maxRetryTime?: number;
}

export interface KafkaTopicMetadata {
  name: string;
  partitions: { partitionId: number; leader: number }[];
}

export interface KafkaPartitionOffsets {
  partition: number;
  low: string;
  high: string;
}

export interface KafkaAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  listTopics(): Promise<string[]>;
  createTopics(o: {
    topics: { topic: string; numPartitions: number; replicationFactor?: number; configEntries?: { name: string; value: string }[] }[];
    waitForLeaders?: boolean;
    timeout?: number;
  }): Promise<boolean>;
  fetchTopicMetadata(o: { topics: string[] }): Promise<{ topics: KafkaTopicMetadata[] }>;
  /** Per partition: `high` is the high watermark (the offset the next message will get). */
  fetchTopicOffsets(topic: string): Promise<KafkaPartitionOffsets[]>;
}

export interface KafkaClient {
  producer(c?: { allowAutoTopicCreation?: boolean; retry?: KafkaRetryConfig }): KafkaProducer;
  consumer(c: KafkaConsumerConfig): KafkaConsumer;
  admin(): KafkaAdmin;
}

export type KafkaLogLine = (level: 'error' | 'warn' | 'info' | 'debug', namespace: string, message: string) => void;

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  connectionTimeoutMs?: number;
  retry?: KafkaRetryConfig;
  /** Where kafkajs' own log lines go (errors and warnings only); silent when absent. */
  log?: KafkaLogLine;
}

/** The only place that loads kafkajs. */
export function createKafkaClient(o: KafkaClientOptions): KafkaClient {
  const kafkajs = require('kafkajs') as {
    Kafka: new (config: object) => KafkaClient;
    logLevel: Record<'NOTHING' | 'ERROR' | 'WARN' | 'INFO' | 'DEBUG', number>;
    Partitioners: { DefaultPartitioner: unknown };
  };
  const names: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
    [kafkajs.logLevel.ERROR]: 'error',
    [kafkajs.logLevel.WARN]: 'warn',
    [kafkajs.logLevel.INFO]: 'info',
    [kafkajs.logLevel.DEBUG]: 'debug',
  };
  const log = o.log;
  const kafka = new kafkajs.Kafka({
    clientId: o.clientId,
    brokers: o.brokers,
    connectionTimeout: o.connectionTimeoutMs ?? 3000,
    retry: o.retry,
    logLevel: log ? kafkajs.logLevel.WARN : kafkajs.logLevel.NOTHING,
    logCreator: () => (entry: { namespace: string; level: number; log: { message: string } }) => {
      log?.(names[entry.level] ?? 'info', entry.namespace, entry.log.message);
    },
  });
  return {
    // Partitions are always set explicitly (partitioner.ts); naming the partitioner only keeps
    // kafkajs from warning about its v2 default change.
    producer: (c) => kafka.producer({ ...c, createPartitioner: kafkajs.Partitioners.DefaultPartitioner } as object),
    consumer: (c) => kafka.consumer(c),
    admin: () => kafka.admin(),
  };
}
