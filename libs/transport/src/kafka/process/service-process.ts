// One service (host-node, guest-vm or aggregator) as its own OS process on the Kafka transport:
// configuration from flags and environment, topic set-up, the NestJS microservice with the Kafka
// strategy, health logging (one line per state change, on stderr) and graceful shutdown on
// SIGTERM/SIGINT (consumers and producer disconnect, exit 0).
// Exit codes follow the CLI's: 2 bad flags, 4 broker unreachable or topics impossible, 1 a bug.
import { OperatingError } from '@vpmu/errors';
import * as os from 'node:os';
import type { DynamicModule, INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { RethrowExceptionFilter } from '../../nest/rethrow.filter';
import type { vpmu } from '@vpmu/proto';
import { hostNode, TOPICS, vmNode } from '../../bus/topics';
import { ClusterMember, type AdoptionPort, type ServiceName } from '../supervision/cluster-member';
import { catchUpFromLog } from '../supervision/log-catch-up';
import { ensureTopics } from '../client/ensure-topics';
import { createKafkaClient } from '../client/kafka-client.types';
import { KafkaBus } from '../messaging/kafka.bus';
import { assertBrokersReachable, KafkaSetupError, KafkaUnavailableError, parseBrokers } from '../client/kafka.errors';
import { KafkaTransportServer } from '../messaging/kafka.server';
import { startPlatformTracing } from '../messaging/platform-tracing';

export const DEFAULT_PARTITIONS = 4;
export const DEFAULT_GROUP = 'vpmu';

export interface ServiceConfig {
  brokers: string[];
  group: string;
  partitions: number;
  replica: string;
  /** Static ownership (--hosts / --vms): node ids, e.g. host/h1; empty = by partition. */
  staticNodes: string[];
  /** Raw ids from --hosts / --vms, or 'all'. */
  ids: string[] | 'all';
  out: string;
}

export class ServiceArgsError extends OperatingError {
  constructor(message: string) {
    super('bad-input', message);
  }
}

const FLAGS: Record<ServiceName, string[]> = {
  'host-node': ['kafka', 'group', 'partitions', 'replica', 'hosts'],
  'guest-vm': ['kafka', 'group', 'partitions', 'replica', 'vms'],
  aggregator: ['kafka', 'group', 'partitions', 'replica', 'out'],
};

const ENV: Record<string, string> = { kafka: 'KAFKA_BROKERS', group: 'VPMU_GROUP', partitions: 'VPMU_PARTITIONS', replica: 'VPMU_REPLICA', hosts: 'VPMU_HOSTS', vms: 'VPMU_VMS', out: 'VPMU_OUT' };

/** Flags win over the environment: `--kafka B` / KAFKA_BROKERS, `--group G` / VPMU_GROUP, ... */
export function parseServiceConfig(service: ServiceName, argv: string[], env: NodeJS.ProcessEnv): ServiceConfig {
  const values: Record<string, string> = {};
  for (const f of FLAGS[service]) if (env[ENV[f]]) values[f] = env[ENV[f]]!;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? (eq > 0 ? a.slice(2, eq) : a.slice(2)) : '';
    if (!FLAGS[service].includes(name)) throw new ServiceArgsError(`${service}: unknown argument "${a}" (options: ${FLAGS[service].map((f) => `--${f}`).join(', ')}).`);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ServiceArgsError(`${service}: --${name} needs a value.`);
    values[name] = value;
  }
  if (!values.kafka) throw new ServiceArgsError(`${service}: no broker given; pass --kafka HOST:PORT or set KAFKA_BROKERS.`);
  let brokers: string[];
  try {
    brokers = parseBrokers(values.kafka);
  } catch (err) {
    throw new ServiceArgsError(`${service}: ${(err as Error).message}`);
  }
  const partitions = values.partitions === undefined ? DEFAULT_PARTITIONS : Number(values.partitions);
  if (!Number.isInteger(partitions) || partitions < 1) throw new ServiceArgsError(`${service}: --partitions must be a positive integer, got "${values.partitions}".`);
  const list = values.hosts ?? values.vms;
  const ids = list === undefined || list === 'all' ? 'all' : list.split(',').map((s) => s.trim()).filter(Boolean);
  const toNode = service === 'host-node' ? hostNode : vmNode;
  return {
    brokers,
    group: values.group ?? DEFAULT_GROUP,
    partitions,
    replica: values.replica ?? `${os.hostname()}-${process.pid}`,
    staticNodes: ids === 'all' ? [] : ids.map(toNode),
    ids,
    out: values.out ?? 'out',
  };
}

export interface ServiceDefinition {
  service: ServiceName;
  /** The NestJS module of the service, wired to the bus. */
  module: (bus: KafkaBus, config: ServiceConfig) => DynamicModule;
  beforeRunStart?: (m: vpmu.v1.IRunStart, config: ServiceConfig) => void;
  /** Runs once the service is ready (the aggregator starts answering with RunResult). */
  afterStart?: (app: INestMicroservice, bus: KafkaBus, config: ServiceConfig, log: (line: string) => void) => void;
  /** Failover: the service's adoption port (supervision/cluster-member.ts); without it takeovers are ignored. */
  adoption?: (app: INestMicroservice) => AdoptionPort;
}

export function healthLogger(service: string, replica: string): (line: string) => void {
  return (line) => process.stderr.write(`${new Date().toISOString()} ${service}[${replica}] ${line}\n`); // wall-clock ok: log timestamps
}

/** Passes a line on unless the same line passed less than `windowMs` ago (then it is counted). */
export function withoutRepeats(log: (line: string) => void, windowMs: number): (line: string) => void {
  const last = new Map<string, { atMs: number; suppressed: number }>();
  return (line) => {
    const now = performance.now(); // wall-clock ok: log rate limiting
    const seen = last.get(line);
    if (seen && now - seen.atMs < windowMs) {
      seen.suppressed++;
      return;
    }
    if (last.size > 200) last.clear();
    last.set(line, { atMs: now, suppressed: 0 });
    log(seen && seen.suppressed > 0 ? `${line} (and ${seen.suppressed} times more in the last ${Math.round((now - seen.atMs) / 1000)} s)` : line);
  };
}

/** Boots the service; resolves once it is ready. Exits the process on fatal errors and on SIGTERM. */
export async function startService(def: ServiceDefinition, argv = process.argv.slice(2), env = process.env): Promise<void> {
  let config: ServiceConfig;
  try {
    config = parseServiceConfig(def.service, argv, env);
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const log = healthLogger(def.service, config.replica);
  // A broker outage makes kafkajs repeat the same error many times a second: one line each 5 s.
  const kafkaLog = withoutRepeats(log, 5000);
  // Before kafkajs is loaded (createKafkaClient): the instrumentation patches it as it loads.
  const tracing = startPlatformTracing(`vpmu-${def.service}`, { instance: config.replica, log });
  let app: INestMicroservice | null = null;
  let bus: KafkaBus | null = null;
  let heartbeats: ClusterMember | null = null;
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${signal})`);
    heartbeats?.stopHeartbeats();
    await app?.close().catch(() => undefined);
    await bus?.close().catch(() => undefined);
    await tracing?.shutdown();
    log('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  try {
    log(`starting: kafka ${config.brokers.join(',')}, group ${config.group}, partitions ${config.partitions}${config.staticNodes.length ? `, owns ${config.staticNodes.join(',')}` : ''}`);
    await assertBrokersReachable(config.brokers);
    const client = createKafkaClient({
      brokers: config.brokers,
      clientId: `vpmu-${def.service}-${config.replica}`,
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 3000 },
      log: (level, ns, message) => {
        if (level === 'error' || level === 'warn') kafkaLog(`kafkajs ${level} (${ns}): ${message}`);
      },
    });
    const layout = await ensureTopics(client, config.partitions);
    log(`topics ${layout.how}: ${[...layout.partitions.entries()].map(([t, n]) => `${t}(${n})`).join(' ')}`);
    const connected = await KafkaBus.connect({ client, brokers: config.brokers, topicPartitions: layout.partitions, partitions: config.partitions, onError: (e) => log(`produce failed: ${e.message}`) });
    bus = connected;
    const sharedInbox = def.service !== 'aggregator' && config.staticNodes.length === 0;
    let server: KafkaTransportServer | null = null;
    const member = new ClusterMember({
      service: def.service,
      replica: config.replica,
      bus: connected,
      partitionCount: connected.placementPartitions,
      staticNodes: config.staticNodes,
      isReady: () => server?.isReady() ?? false,
      assignedPartitions: () => server?.assignedPartitions(TOPICS.inbox) ?? [],
      log,
      beforeRunStart: def.beforeRunStart ? (m) => def.beforeRunStart!(m, config) : undefined,
      adoption: () => (app && def.adoption ? def.adoption(app) : null),
      readLog: async (topics, accept) => {
        const read = await catchUpFromLog({ client, brokers: config.brokers, topics, accept, groupPrefix: `${config.group}.catch-up.${def.service}.${config.replica}` });
        log(`read ${topics.join(', ')} back: ${read.envelopes.length} of ${read.scanned} messages kept in ${Math.round(read.wallMs)} ms`);
        return read.envelopes;
      },
    });
    server = new KafkaTransportServer({
      client,
      brokers: config.brokers,
      instanceGroupId: `${config.group}.${def.service}.${config.replica}`,
      shared: sharedInbox ? { groupId: `${config.group}.${def.service}`, topics: [TOPICS.inbox] } : undefined,
      interceptor: member,
      log,
    });
    app = await NestFactory.createMicroservice(def.module(connected, config), { strategy: server, logger: false });
    app.useGlobalFilters(new RethrowExceptionFilter());
    await app.listen();
    log('connected; joining consumer groups');
    await server.whenReady();
    log(`ready: ${sharedInbox ? `vpmu.inbox partitions [${server.assignedPartitions(TOPICS.inbox).join(',')}] in group ${config.group}.${def.service}` : 'consuming'}`);
    // From now on the conductor can tell this replica is alive while its handlers are busy.
    member.startHeartbeats();
    heartbeats = member;
    def.afterStart?.(app, connected, config, log);
  } catch (err) {
    const unavailable = err instanceof KafkaUnavailableError || err instanceof KafkaSetupError;
    log(`error: ${(err as Error).message}`);
    if (!unavailable && (err as Error).stack) process.stderr.write(`${(err as Error).stack}\n`);
    await app?.close().catch(() => undefined);
    await bus?.close().catch(() => undefined);
    await tracing?.shutdown();
    process.exit(unavailable ? 4 : 1);
  }
}
