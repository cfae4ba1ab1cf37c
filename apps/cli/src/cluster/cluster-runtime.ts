// Cluster mode of `vpmu run --kafka`: this process is the conductor. It boots the same
// ConductorModule as the embedded runtime, on the Kafka strategy instead of the in-process one,
// asks the running services who owns which node (the handshake), drives the epochs, and waits
// for the aggregator process's RunResult (summary and the paths it wrote).
// Operating failures become CliErrors here, in one place: exit 4 for infrastructure.
import * as crypto from 'node:crypto';
import type { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConductorModule, ConductorService, type ConductorProgress } from '@vpmu/conductor';
import type { Scenario } from '@vpmu/scenario';
import type { RunSummary } from '@vpmu/summary';
import {
  assertBrokersReachable,
  ClusterHandshake,
  ClusterNotReadyError,
  createKafkaClient,
  ensureTopics,
  KafkaBus,
  KafkaTransportServer,
  KafkaUnavailableError,
  probeBroker,
  ALL_TOPICS,
  logEndOffsets,
  RunSupervisor,
  DEFAULT_PARTITIONS,
  type FailoverRecord,
  startPlatformTracing,
  type NodeAssignment,
} from '@vpmu/transport';
import { SimulationFailedError } from '../embedded-runtime';

export interface ClusterRunRequest {
  brokers: string[];
  runId: string;
  scenario: Scenario;
  scenarioText: string;
  toolVersion: string;
  onProgress?: (p: ConductorProgress) => void;
  /** How long to wait for the services to answer (default 30 s). */
  readyTimeoutMs?: number;
  /** An epoch that makes no progress while no service does any work for this long ends the run (default 30 s). */
  epochTimeoutMs?: number;
  /** The broker refusing connections for this long ends the run with exit 4 (default 10 s). */
  brokerLostMs?: number;
  /** Failover decisions, one line each (stderr). */
  log?: (line: string) => void;
  /** The most epochs one grant covers (1: no lookahead windows); default the conductor's. */
  maxWindowEpochs?: number;
}

export interface ClusterRunResult {
  summary: RunSummary;
  files: string[];
  barrierRoundTripMs: number[];
  assignments: NodeAssignment[];
  messagesDelivered: number;
  /** Wall time from RunStart to the aggregator's RunResult (no connect, join or handshake). */
  runWallMs: number;
  /** Takeovers during the run (failover), with their detection and recovery times. */
  failovers: FailoverRecord[];
}

export async function runOnCluster(req: ClusterRunRequest): Promise<ClusterRunResult> {
  const brokers = req.brokers;
  await assertBrokersReachable(brokers);
  const conductorId = `cli-${process.pid}-${crypto.randomBytes(3).toString('hex')}`; // wall-clock ok: identifies this CLI process on the broker, never a simulation input
  // The conductor's Kafka traffic as platform traces when an OTLP endpoint is set (before kafkajs loads).
  const tracing = startPlatformTracing('vpmu-conductor', { instance: conductorId });
  try {
    return await conductRun(req, conductorId);
  } finally {
    await tracing?.shutdown();
  }
}

async function conductRun(req: ClusterRunRequest, conductorId: string): Promise<ClusterRunResult> {
  const brokers = req.brokers;
  const client = createKafkaClient({ brokers, clientId: `vpmu-conductor-${conductorId}`, retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 } });
  const layout = await ensureTopics(client, DEFAULT_PARTITIONS);
  let failure: Error | null = null;
  let conductor: ConductorService | null = null;
  const fail = (e: Error): void => {
    if (failure) return;
    failure = e;
    conductor?.abort(e.message);
  };
  const bus = await KafkaBus.connect({ client, brokers, topicPartitions: layout.partitions, partitions: Number.MAX_SAFE_INTEGER, onError: fail });
  const handshake = new ClusterHandshake(bus, conductorId);
  const server = new KafkaTransportServer({ client, brokers, instanceGroupId: `vpmu.conductor.${conductorId}`, interceptor: handshake, onHandlerError: fail });
  let app: INestMicroservice | null = null;
  try {
    app = await NestFactory.createMicroservice(ConductorModule.register(bus), { strategy: server, logger: false });
    await app.listen();
    await withTimeout(server.whenReady(), req.readyTimeoutMs ?? 30_000, () => new ClusterNotReadyError(`the conductor could not join a consumer group on Kafka at ${brokers.join(',')}; check the broker.`));
    const placement = await handshake.negotiate({
      runId: req.runId,
      hosts: req.scenario.hosts.map((h) => h.id),
      vms: req.scenario.vms.map((v) => v.id),
      timeoutMs: req.readyTimeoutMs ?? 30_000,
    }).catch((err: Error) => {
      throw err instanceof ClusterNotReadyError ? new ClusterNotReadyError(`${err.message}; start the services with "vpmu cluster up --kafka ${brokers.join(',')}" (see docs/cluster.md).`) : err;
    });
    const started = app.get(ConductorService);
    conductor = started;
    // Failover: a stalled epoch makes the supervisor probe the services and move the nodes of a
    // dead or restarted replica to a live one, or end the run naming them (run-supervisor.ts).
    // Set while the broker refuses connections (the broker check below).
    let brokerDownSinceMs: number | null = null;
    const supervisor = new RunSupervisor({
      runId: req.runId,
      hosts: req.scenario.hosts.map((h) => h.id),
      vms: req.scenario.vms.map((v) => v.id),
      assignments: placement.assignments,
      aggregatorReplica: placement.replicas.filter((r) => r.service === 'aggregator').map((r) => r.replica).sort()[0] ?? '',
      handshake,
      conductor: started,
      onLost: fail,
      log: req.log,
      brokerDown: () => brokerDownSinceMs !== null,
    });
    const epochTimeoutMs = req.epochTimeoutMs ?? 30_000;
    let lastProgressMs = performance.now(); // wall-clock ok: stall watchdog
    let lastEpoch = -1;
    started.onProgress((p) => {
      lastProgressMs = performance.now(); // wall-clock ok: stall watchdog
      lastEpoch = p.epoch;
      supervisor.progressed();
      req.onProgress?.(p);
    });
    // Slow is not dead: the watchdog ends a stalled run only when no live service has done any
    // work (heartbeats report what they handle) for its whole budget, never because an epoch
    // simply takes long on a busy machine.
    const watchdog = setInterval(() => {
      // A takeover restarts the clock (the adopters re-simulate before the epoch can complete);
      // while nodes wait for a new owner the supervisor bounds the wait itself.
      if (supervisor.awaitingOwners) return;
      if (performance.now() - Math.max(lastProgressMs, supervisor.lastTakeoverMs, supervisor.lastActivityMs()) < epochTimeoutMs) return; // wall-clock ok: stall watchdog
      fail(new ClusterNotReadyError(`epoch ${lastEpoch + 1} made no progress for ${Math.round(epochTimeoutMs / 1000)} s and no service did any work meanwhile: a service stopped answering (see .vpmu/cluster/*.log)`));
    }, 500); // wall-clock ok: stall watchdog
    // A dead broker: nothing arrives and nothing can be sent, so neither the supervisor nor the
    // watchdog hears anything to judge by. Checked directly (a TCP connection) once the run
    // stalls; refused for brokerLostMs in a row ends the run (exit 4).
    const brokerLostMs = req.brokerLostMs ?? 10_000;
    let brokerChecking = false;
    const brokerCheck = setInterval(() => {
      if (brokerChecking || failure || performance.now() - lastProgressMs < 1500) { // wall-clock ok: broker check
        if (!brokerChecking && !failure) brokerDownSinceMs = null;
        return;
      }
      brokerChecking = true;
      void Promise.all(brokers.map((b) => probeBroker(b, 2000)))
        .then((reasons) => {
          const now = performance.now(); // wall-clock ok: broker check
          if (reasons.some((r) => r === null)) {
            brokerDownSinceMs = null;
            return;
          }
          brokerDownSinceMs ??= now;
          if (now - brokerDownSinceMs < brokerLostMs) return;
          fail(new KafkaUnavailableError(`lost the Kafka broker at ${brokers.join(',')} during epoch ${lastEpoch + 1} (${[...new Set(reasons)].join('; ')} for ${Math.round(brokerLostMs / 1000)} s); restart it and run the scenario again`, brokers));
        })
        .finally(() => (brokerChecking = false));
    }, 1000); // wall-clock ok: broker check
    // Where this run's share of each log begins: failover reads the run back from there.
    const logStart = await logEndOffsets(client, brokers, ALL_TOPICS);
    const runStartedMs = performance.now(); // wall-clock ok: reporting only
    supervisor.start();
    try {
      await started.start({ runId: req.runId, scenario: req.scenario, scenarioText: req.scenarioText, toolVersion: req.toolVersion, assignments: placement.assignments, logStart, ...(req.maxWindowEpochs !== undefined && { maxWindowEpochs: req.maxWindowEpochs }) });
    } catch (err) {
      supervisor.stop();
      const cause: Error = failure ?? (err as Error);
      const brokerLost = cause instanceof KafkaUnavailableError;
      // Bounded: with the broker gone the abort can never be sent.
      await bounded(bus.flush(), 5000);
      // The aggregator answers an aborted run too, saying how much of the recording is valid.
      const result = brokerLost ? null : await handshake.waitForResult(req.runId, 10_000);
      const kept = /\((the recording up to epoch \d+ is valid in .*|no epoch was recorded)\)$/.exec(result?.error ?? '')?.[1];
      if (kept) cause.message = `${cause.message.replace(/\.$/, '')}; ${kept}.`;
      else if (brokerLost) cause.message = `${cause.message.replace(/\.$/, '')}; the aggregator's recording (recording.vpmurec.partial in its output directory) is valid up to its last complete epoch.`;
      throw cause;
    } finally {
      supervisor.stop();
      clearInterval(watchdog);
      clearInterval(brokerCheck);
    }
    await bus.flush();
    const result = await handshake.waitForResult(req.runId, 60_000);
    if (!result) throw new ClusterNotReadyError(`the run completed but the aggregator sent no result within 60 s (see its log in .vpmu/cluster/).`);
    const runWallMs = performance.now() - runStartedMs; // wall-clock ok: reporting only
    if (result.error) throw new SimulationFailedError(`simulation failed (seed ${req.scenario.seed}): ${result.error}`);
    return {
      summary: JSON.parse(result.summaryJson) as RunSummary,
      files: result.files,
      barrierRoundTripMs: started.barrierRoundTripMs,
      assignments: placement.assignments,
      messagesDelivered: server.delivered,
      runWallMs,
      failovers: supervisor.failovers,
    };
  } finally {
    // Bounded: disconnecting from a dead broker would otherwise wait for kafkajs' retries.
    await bounded(app?.close().catch(() => undefined), 5000);
    await bounded(bus.close().catch(() => undefined), 5000);
  }
}

/** Waits for `p` at most `ms` (shutdown steps that a dead broker could hold forever). */
async function bounded(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((resolve) => (t = setTimeout(resolve, ms)))]); // wall-clock ok: shutdown bound
  clearTimeout(t);
}

async function withTimeout<T>(p: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(error()), ms)))]); // wall-clock ok: infrastructure timeout
  } finally {
    clearTimeout(t);
  }
}
