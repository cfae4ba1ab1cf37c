// The sweep-worker role (`vpmu cluster sweep-worker`, started by `vpmu cluster up --sweep-workers N`
// and by the docker-compose sweep-worker service): takes sweep points from vpmu.sweep.work in one
// consumer group shared by every worker, runs each embedded in a forked simulation process (the
// same sweep-worker.ts as a local sweep), and publishes the cache entry on vpmu.sweep.results.
//
// An item's offset is committed only after its result is published, so a worker that dies holding
// an item leaves it uncommitted: the group hands its partitions to another member, which runs the
// item again (a duplicate result is harmless: the entry is the same run). An item this build
// cannot run (another tool version, undecodable bytes) is answered with a failure report and
// committed, never retried in a loop. While a point runs the worker says so every few seconds
// (busy reports), which is what the sweeping CLI judges the workers' liveness by.
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RECORDING_FILE_NAME } from '@vpmu/recording';
import type { vpmu } from '@vpmu/proto';
import {
  assertBrokersReachable,
  createKafkaClient,
  ensureTopics,
  healthLogger,
  KafkaSetupError,
  KafkaUnavailableError,
  type KafkaConsumer,
  type KafkaEachMessagePayload,
  type KafkaGroupJoinPayload,
  type KafkaProducer,
} from '@vpmu/transport';
import { TOOL_VERSION } from '../version';
import type { WorkerJob, WorkerReply } from './sweep-worker';
import { decodeWorkItem, encodeReport, entryPieces, SWEEP_TOPICS, type EntryFile } from './sweep-wire';

export interface SweepServiceConfig {
  brokers: string[];
  group: string;
  partitions: number;
  replica: string;
}

/** Every file of a run's directory (summary.json, the recording, the guests' perf output), relative, sorted. */
export function entryFiles(dir: string, under = ''): EntryFile[] {
  const out: EntryFile[] = [];
  for (const name of fs.readdirSync(path.join(dir, under)).sort()) {
    const rel = under ? `${under}/${name}` : name;
    if (fs.statSync(path.join(dir, rel)).isDirectory()) out.push(...entryFiles(dir, rel));
    else out.push({ name: rel, bytes: fs.readFileSync(path.join(dir, rel)) });
  }
  return out;
}

const BUSY_EVERY_MS = 3000;
const SIMULATION_PROCESS = path.join(__dirname, 'sweep-worker.js');

/** The consumer group every sweep worker of a cluster shares. */
export function sweepWorkerGroup(group: string): string {
  return `${group}.sweep-worker`;
}

/** Runs until SIGTERM/SIGINT; exits 4 when the broker cannot be reached, 1 on a bug. */
export async function runSweepService(config: SweepServiceConfig): Promise<never> {
  const log = healthLogger('sweep-worker', config.replica);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `vpmu-sweep-worker-${process.pid}-`));
  const simulation = new SimulationProcess();
  let consumer: KafkaConsumer | null = null;
  let producer: KafkaProducer | null = null;
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${signal})`);
    // The point in hand is left uncommitted: another worker runs it.
    simulation.kill();
    await consumer?.disconnect().catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
    fs.rmSync(scratch, { recursive: true, force: true });
    log('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  try {
    log(`starting: kafka ${config.brokers.join(',')}, group ${sweepWorkerGroup(config.group)}, tool version ${TOOL_VERSION}`);
    await assertBrokersReachable(config.brokers);
    const client = createKafkaClient({
      brokers: config.brokers,
      clientId: `vpmu-sweep-worker-${config.replica}`,
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 3000 },
      log: (level, ns, message) => {
        if (level === 'error') log(`kafkajs ${level} (${ns}): ${message}`);
      },
    });
    const layout = await ensureTopics(client, config.partitions, Object.values(SWEEP_TOPICS));
    log(`topics ${layout.how}: ${[...layout.partitions.entries()].map(([t, n]) => `${t}(${n})`).join(' ')}`);
    const prod = client.producer({ allowAutoTopicCreation: false, retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 3000 } });
    await prod.connect();
    producer = prod;
    let attempts = 0;
    const publish = async (key: string, body: Partial<vpmu.v1.ISweepReport>, attempt: string): Promise<void> => {
      await prod.sendBatch({ topicMessages: [{ topic: SWEEP_TOPICS.results, messages: [{ key, value: encodeReport({ key, worker: config.replica, attempt, toolVersion: TOOL_VERSION, ...body }) }] }] });
    };
    const handle = async (p: KafkaEachMessagePayload): Promise<void> => {
      const attempt = `${config.replica}/${process.pid}/${++attempts}`;
      const where = `${p.topic} partition ${p.partition} offset ${p.message.offset}`;
      const item = decodeWorkItem(p.message.value);
      const key = item instanceof Error ? (p.message.key?.toString('utf8') ?? '') : item.key;
      if (item instanceof Error) {
        log(`refused the item at ${where}: ${item.message}`);
        await publish(key, { failure: { error: `sweep worker ${config.replica} refused the item at ${where}: ${item.message}.` } }, attempt);
      } else if (item.toolVersion !== TOOL_VERSION) {
        log(`refused point ${key.slice(0, 12)}: planned by tool version ${item.toolVersion}, this worker is ${TOOL_VERSION}`);
        const error = `sweep worker ${config.replica} runs tool version ${TOOL_VERSION} but the sweep was planned by ${item.toolVersion}; run one build on both sides (build, then restart the workers: vpmu cluster down, vpmu cluster up)`;
        await publish(key, { failure: { error } }, attempt);
      } else {
        await publish(key, { busy: {} }, attempt);
        // kafkajs sends no heartbeat while a handler runs: keep the membership (and tell the CLI
        // this worker is alive) until the point is done.
        const busy = setInterval(() => {
          void p.heartbeat?.().catch(() => undefined);
          void publish(key, { busy: {} }, attempt).catch(() => undefined);
        }, BUSY_EVERY_MS); // wall-clock ok: liveness reports, never a simulation input
        const t0 = performance.now(); // wall-clock ok: log only
        let outcome: { files: EntryFile[] } | { error: string };
        try {
          outcome = await runPoint(item, path.join(scratch, key), simulation);
        } finally {
          clearInterval(busy);
        }
        if (stopping) return; // killed on purpose: leave it uncommitted
        if ('error' in outcome) {
          log(`point ${key.slice(0, 12)} failed: ${outcome.error}`);
          await publish(key, { failure: { error: outcome.error } }, attempt);
        } else {
          // One piece per request: a batch of pieces would exceed the broker's message limit as one record batch.
          for (const piece of entryPieces({ key, worker: config.replica, attempt, toolVersion: TOOL_VERSION }, outcome.files)) {
            await prod.sendBatch({ topicMessages: [{ topic: SWEEP_TOPICS.results, messages: [{ key, value: encodeReport(piece) }] }] });
          }
          const bytes = outcome.files.reduce((n, f) => n + f.bytes.length, 0);
          log(`point ${key.slice(0, 12)} (seed ${item.seed}) done in ${Math.round(performance.now() - t0)} ms, ${bytes} bytes published`); // wall-clock ok: log only
        }
      }
      if (stopping) return;
      await consumer?.commitOffsets([{ topic: p.topic, partition: p.partition, offset: String(Number(p.message.offset) + 1) }]);
    };
    const cons = client.consumer({
      groupId: sweepWorkerGroup(config.group),
      maxWaitTimeInMs: 50,
      minBytes: 1,
      // A worker that dies leaves the group after this long; its uncommitted point goes to another.
      sessionTimeout: 10_000,
      // A rebalance waits this long for a member busy with a point to rejoin.
      rebalanceTimeout: 60_000,
      heartbeatInterval: 1000,
      allowAutoTopicCreation: false,
      retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 2000 },
    });
    consumer = cons;
    let ready = false;
    cons.on(cons.events.GROUP_JOIN, (e) => {
      const parts = (e.payload as KafkaGroupJoinPayload).memberAssignment[SWEEP_TOPICS.work] ?? [];
      log(`${ready ? '' : 'ready: '}joined group ${sweepWorkerGroup(config.group)}: ${SWEEP_TOPICS.work}[${[...parts].sort((a, b) => a - b).join(',')}]`);
      ready = true;
    });
    const runConsumer = async (): Promise<void> => {
      await cons.connect();
      // A group with no committed offset starts at the beginning: items published before any worker
      // was up are not lost. Committed offsets carry the group past everything handled.
      await cons.subscribe({ topics: [SWEEP_TOPICS.work], fromBeginning: true });
      await cons.run({
        autoCommit: false,
        partitionsConsumedConcurrently: 1,
        eachMessage: (p) =>
          handle(p).catch((err: Error) => {
            // A publish or commit that failed after kafkajs' retries: the item stays uncommitted and
            // is taken again (by this worker after the consumer restarts, or by another).
            log(`point at ${p.topic}[${p.partition}]@${p.message.offset}: ${err.message}`);
            throw err;
          }),
      });
    };
    // kafkajs restarts a consumer only after a retriable failure; the kcat mock answers some
    // SyncGroups with an error it deems fatal (as the services' transport knows): start it again.
    const restartLater = (): void => {
      setTimeout(() => {
        if (stopping) return;
        log('consumer restarting');
        runConsumer().catch((err: Error) => {
          log(`consumer restart failed: ${err.message}`);
          restartLater();
        });
      }, 1000); // wall-clock ok: reconnect pacing
    };
    cons.on(cons.events.CRASH, (e) => {
      const c = e.payload as { error?: Error; restart?: boolean };
      if (stopping) return;
      log(`consumer crashed: ${c.error?.message ?? 'unknown error'}${c.restart ? ' (restarting)' : ''}`);
      if (!c.restart) restartLater();
    });
    await runConsumer();
    // Loading the models takes the simulation process seconds: do it before the first point arrives.
    simulation.warmUp();
  } catch (err) {
    const unavailable = err instanceof KafkaUnavailableError || err instanceof KafkaSetupError;
    log(`error: ${(err as Error).message}`);
    if (!unavailable && (err as Error).stack) process.stderr.write(`${(err as Error).stack}\n`);
    simulation.kill();
    fs.rmSync(scratch, { recursive: true, force: true });
    process.exit(unavailable ? 4 : 1);
  }
  return new Promise<never>(() => undefined);
}

async function runPoint(item: vpmu.v1.SweepWorkItem, entryDir: string, simulation: SimulationProcess): Promise<{ files: EntryFile[] } | { error: string }> {
  fs.rmSync(entryDir, { recursive: true, force: true });
  const reply = await simulation.run({ key: item.key, scenarioText: item.scenarioText, seed: Number(item.seed), entryDir });
  try {
    if (!reply.ok) return { error: `the run of point ${item.key.slice(0, 12)} (seed ${Number(item.seed)}) failed: ${reply.error}` };
    // The whole run directory, as a local sweep's entry holds it (the cache entry is the same either way).
    const files = entryFiles(entryDir);
    if (!files.some((f) => f.name === 'summary.json') || !files.some((f) => f.name === RECORDING_FILE_NAME)) return { error: `the run of point ${item.key.slice(0, 12)} left no summary.json or recording` };
    return { files };
  } finally {
    fs.rmSync(entryDir, { recursive: true, force: true });
  }
}

/** The forked simulation process (sweep-worker.ts), kept across points and forked again if it dies. */
class SimulationProcess {
  private child: ChildProcess | null = null;

  run(job: WorkerJob): Promise<WorkerReply> {
    const child = this.ensure();
    return new Promise((resolve) => {
      const onMessage = (reply: WorkerReply): void => {
        if (reply.key !== job.key) return;
        child.off('exit', onExit);
        child.off('message', onMessage);
        resolve(reply);
      };
      const onExit = (code: number | null, signal: string | null): void => {
        child.off('message', onMessage);
        this.child = null;
        resolve({ key: job.key, ok: false, error: `its simulation process ended (${signal ?? `exit ${code}`})` });
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(job);
    });
  }

  warmUp(): void {
    this.ensure();
  }

  kill(): void {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
    this.child = null;
  }

  private ensure(): ChildProcess {
    if (this.child && this.child.exitCode === null && this.child.connected) return this.child;
    this.child = fork(SIMULATION_PROCESS, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    return this.child;
  }
}
