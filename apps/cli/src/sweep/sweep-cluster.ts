// `vpmu sweep --kafka BROKERS`: the uncached runs of a sweep as work items on the cluster. Each
// run is published on vpmu.sweep.work (keyed by its cache key) and taken by one of the sweep
// workers (sweep-service.ts, one consumer group over every machine running them); their reports
// come back on vpmu.sweep.results and a finished run's files become its cache entry here, by one
// rename, so an interrupted sweep leaves only finished entries and the same command resumes.
//
// Flow control: one item in flight per partition of the work topic. A partition belongs to one
// worker at a time, so a worker that finishes sooner frees its partitions sooner and is handed
// more points; no worker queues up more than its partitions' share at the end of the sweep.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  assertBrokersReachable,
  asUnavailable,
  createKafkaClient,
  DEFAULT_PARTITIONS,
  ensureTopics,
  KafkaUnavailableError,
  type KafkaConsumer,
  type KafkaEachMessagePayload,
  type KafkaGroupJoinPayload,
  type KafkaProducer,
} from '@vpmu/transport';
import type { vpmu } from '@vpmu/proto';
import { CliError } from '../cli-error';
import { TOOL_VERSION } from '../version';
import type { PoolProgress } from './sweep-pool';
import type { SweepCache, SweepRun } from './sweep-plan';
import { decodeReport, encodeWorkItem, EntryAssembler, SWEEP_TOPICS } from './sweep-wire';

export interface KafkaSweepOptions {
  brokers: string[];
  /** No report from any worker for this long while points wait ends the sweep (default 30 s). */
  silenceMs?: number;
}

export interface KafkaSweepResult {
  /** Runs whose entry came from each worker (replica name). */
  workers: Record<string, number>;
}

export async function runOnKafka(runs: readonly SweepRun[], cache: SweepCache, o: KafkaSweepOptions, onProgress: (p: PoolProgress) => void): Promise<KafkaSweepResult> {
  const workers: Record<string, number> = {};
  if (runs.length === 0) return { workers };
  const { brokers } = o;
  await assertBrokersReachable(brokers);
  const sweepId = `cli-${process.pid}-${crypto.randomBytes(3).toString('hex')}`; // wall-clock ok: names this CLI on the broker, never a simulation input
  const client = createKafkaClient({ brokers, clientId: `vpmu-sweep-${sweepId}`, retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 } });
  const layout = await ensureTopics(client, DEFAULT_PARTITIONS, Object.values(SWEEP_TOPICS));
  const workPartitions = layout.partitions.get(SWEEP_TOPICS.work) ?? 1;
  // Reports published before this sweep started are another sweep's business: read from here on.
  const start = new Map<number, number>();
  const admin = client.admin();
  try {
    await admin.connect();
    for (const p of await admin.fetchTopicOffsets(SWEEP_TOPICS.results)) start.set(p.partition, Number(p.high));
  } catch (err) {
    throw asUnavailable(brokers, err);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }

  const position = new Map<number, number>(); // results partition -> the offset after the last report read
  const pending = new Map(runs.map((r) => [r.key, r]));
  const queue = [...runs];
  const inFlight = new Map<number, string>(); // work partition -> key
  const running = new Set<string>();
  const assembler = new EntryAssembler();
  let done = 0;
  let lastHeardMs = performance.now(); // wall-clock ok: worker liveness
  let finish: (err?: Error) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => (finish = (err) => (err ? reject(err) : resolve())));
  const progress = (): void => onProgress({ done, running: running.size, total: runs.length });

  let producer: KafkaProducer | null = null;
  let consumer: KafkaConsumer | null = null;
  let sending: Promise<void> = Promise.resolve();
  const fill = (): void => {
    for (let p = 0; p < workPartitions && queue.length > 0; p++) {
      if (inFlight.has(p)) continue;
      const run = queue.shift()!;
      inFlight.set(p, run.key);
      const item: vpmu.v1.ISweepWorkItem = { key: run.key, scenarioText: run.scenarioText, seed: run.seed, toolVersion: TOOL_VERSION, sweep: sweepId };
      const prod = producer!;
      sending = sending
        .then(() => prod.sendBatch({ topicMessages: [{ topic: SWEEP_TOPICS.work, messages: [{ key: run.key, value: encodeWorkItem(item), partition: p }] }] }))
        .then(undefined, (err: unknown) => finish(asUnavailable(brokers, err)));
    }
  };
  const complete = (key: string, worker: string): void => {
    pending.delete(key);
    running.delete(key);
    workers[worker] = (workers[worker] ?? 0) + 1;
    done++;
    for (const [p, k] of inFlight) if (k === key) inFlight.delete(p);
    if (pending.size === 0) finish();
    else fill();
    progress();
  };
  const onReport = (r: vpmu.v1.SweepReport): void => {
    lastHeardMs = performance.now(); // wall-clock ok: worker liveness
    if (!pending.has(r.key)) return; // another sweep's point, or one already in the cache
    if (r.busy) {
      if (!running.has(r.key)) {
        running.add(r.key);
        progress();
      }
      return;
    }
    if (r.failure) {
      // A worker of another build refused it (exit 4: the cluster cannot serve this build);
      // anything else is a run that failed, a bug (exit 1), as in a local sweep.
      if (r.toolVersion !== TOOL_VERSION) finish(new CliError(`vpmu sweep: ${(r.failure.error ?? 'refused').replace(/\.$/, '')}; the finished runs are in the cache.`, 'unavailable'));
      else finish(new Error(`a sweep run (key ${r.key.slice(0, 12)}) failed on ${r.worker}: ${r.failure.error}`));
      return;
    }
    const got = assembler.add(r);
    if (got.kind === 'bad') {
      finish(new KafkaUnavailableError(`vpmu sweep: the result of point ${got.key.slice(0, 12)} from ${got.worker} arrived broken (${got.error}); run the same command again to resume.`, brokers));
      return;
    }
    if (got.kind !== 'entry') return;
    const entry = cache.entryDir(got.key);
    const tmp = `${entry}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    for (const f of got.files) {
      fs.mkdirSync(path.dirname(path.join(tmp, f.name)), { recursive: true });
      fs.writeFileSync(path.join(tmp, f.name), f.bytes);
    }
    if (fs.existsSync(entry)) fs.rmSync(tmp, { recursive: true, force: true });
    else fs.renameSync(tmp, entry);
    complete(got.key, got.worker);
  };

  const silenceMs = o.silenceMs ?? 30_000;
  const onSignal = (): void => finish(new CliError('vpmu sweep: interrupted; the finished runs are in the cache and the same command resumes from them.'));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Slow is not dead: a busy worker reports every few seconds, so only silence from every worker
  // while points wait means nobody is taking them.
  const watchdog = setInterval(() => {
    if (performance.now() - lastHeardMs < silenceMs) return; // wall-clock ok: worker liveness
    finish(
      new KafkaUnavailableError(
        `vpmu sweep: no sweep worker answered for ${Math.round(silenceMs / 1000)} s (${pending.size} runs waiting on ${SWEEP_TOPICS.work}); start workers with "vpmu cluster up --kafka ${brokers.join(',')} --sweep-workers N" (or the docker-compose sweep-worker service); the finished runs are in the cache and the same command resumes.`,
        brokers,
      ),
    );
  }, 1000); // wall-clock ok: worker liveness
  try {
    const cons = client.consumer({
      groupId: `vpmu.sweep.${sweepId}`,
      maxWaitTimeInMs: 50,
      minBytes: 1,
      sessionTimeout: 10_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 1000,
      allowAutoTopicCreation: false,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    });
    consumer = cons;
    // On every join (a rejoin after a rebalance included) go on from the last report read, or from
    // where the log ended when the sweep began: nothing is missed and nothing is read twice.
    cons.on(cons.events.GROUP_JOIN, (e) => {
      for (const partition of (e.payload as KafkaGroupJoinPayload).memberAssignment[SWEEP_TOPICS.results] ?? []) {
        cons.seek({ topic: SWEEP_TOPICS.results, partition, offset: String(position.get(partition) ?? start.get(partition) ?? 0) });
      }
    });
    cons.on(cons.events.CRASH, (e) => {
      const c = e.payload as { error?: Error; restart?: boolean };
      if (!c.restart) finish(asUnavailable(brokers, c.error ?? new Error('the result consumer crashed')));
    });
    await cons.connect();
    await cons.subscribe({ topics: [SWEEP_TOPICS.results], fromBeginning: true });
    await cons.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachMessage: async (p: KafkaEachMessagePayload) => {
        if (Number(p.message.offset) < (position.get(p.partition) ?? start.get(p.partition) ?? 0)) return;
        position.set(p.partition, Number(p.message.offset) + 1);
        const r = decodeReport(p.message.value);
        if (r) onReport(r);
      },
    });
    const prod = client.producer({ allowAutoTopicCreation: false, retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 3000 } });
    await prod.connect();
    producer = prod;
    progress();
    fill();
    await finished;
    return { workers: Object.fromEntries(Object.entries(workers).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
  } catch (err) {
    throw err instanceof CliError || err instanceof KafkaUnavailableError || !isKafkaError(err) ? err : asUnavailable(brokers, err);
  } finally {
    clearInterval(watchdog);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await bounded(sending, 5000);
    await bounded(consumer?.disconnect().catch(() => undefined), 5000);
    await bounded(producer?.disconnect().catch(() => undefined), 5000);
  }
}

function isKafkaError(err: unknown): boolean {
  return typeof (err as { name?: unknown })?.name === 'string' && (err as { name: string }).name.startsWith('KafkaJS');
}

/** Waits for `p` at most `ms` (shutdown steps a dead broker could hold forever). */
async function bounded(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((resolve) => (t = setTimeout(resolve, ms)))]); // wall-clock ok: shutdown bound
  clearTimeout(t);
}
