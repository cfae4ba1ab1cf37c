// `vpmu cluster up --kafka BROKERS | --mock-broker [--host-nodes N] [--guest-vms M] [--out DIR] [--partitions P] [--group G]`
// `vpmu cluster down`
// Starts / stops the services as local background processes (for users without Docker).
// Pids and logs are kept in .vpmu/cluster/ under the current directory.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertBrokersReachable, DEFAULT_GROUP, DEFAULT_PARTITIONS, KafkaSetupError, parseBrokers } from '@vpmu/transport';
import { parseArgs, type CommandSpec } from '../args';
import { CliError, EXIT } from '../cli-error';
import { kcatAvailable } from '../cluster/kcat-mock';
import {
  clusterServices,
  clusterStateDir,
  isAlive,
  readClusterState,
  spawnService,
  startDetachedMockBroker,
  stopServices,
  waitForReady,
  writeClusterState,
  type ClusterState,
} from '../cluster/cluster-processes';
import { prepareOutDir, relativeForDisplay } from '../out-dir';
import { runSweepService } from '../sweep/sweep-service';
import type { CommandIo } from './command-io';

export const CLUSTER_UP_SPEC: CommandSpec = {
  name: 'cluster up',
  positionals: [],
  flags: { kafka: 'string', 'mock-broker': 'bool', 'host-nodes': 'int', 'guest-vms': 'int', 'sweep-workers': 'int', out: 'string', partitions: 'int', group: 'string', 'ready-timeout': 'int', debug: 'bool' },
  help: {
    kafka: { value: 'BROKERS', text: 'the Kafka brokers, HOST:PORT[,HOST:PORT...] (default KAFKA_BROKERS)' },
    'mock-broker': { text: 'start a local mock broker instead of using Kafka' },
    'host-nodes': { value: 'N', text: 'host-node processes to start (default 2)' },
    'guest-vms': { value: 'M', text: 'guest-vm processes to start (default 2)' },
    'sweep-workers': { value: 'W', text: 'sweep-worker processes to start, each running one sweep point at a time (default 1; see vpmu sweep --kafka)' },
    out: { value: 'DIR', text: "where the aggregator writes each run's directory" },
    partitions: { value: 'P', text: 'partitions of the topics it creates' },
    group: { value: 'G', text: 'the consumer group prefix of the services' },
    'ready-timeout': { value: 'S', text: 'seconds to wait for every service to be ready' },
  },
};
export const CLUSTER_DOWN_SPEC: CommandSpec = {
  name: 'cluster down',
  positionals: [],
  flags: { 'grace-ms': 'int', debug: 'bool' },
  help: { 'grace-ms': { value: 'MS', text: 'how long each service may take to stop before it is killed' } },
};

export const CLUSTER_SWEEP_WORKER_SPEC: CommandSpec = {
  name: 'cluster sweep-worker',
  positionals: [],
  flags: { kafka: 'string', group: 'string', partitions: 'int', replica: 'string', debug: 'bool' },
  help: {
    kafka: { value: 'BROKERS', text: 'the Kafka brokers (default KAFKA_BROKERS)' },
    group: { value: 'G', text: 'the consumer group prefix (default VPMU_GROUP or vpmu): every worker of G shares the points' },
    partitions: { value: 'P', text: 'partitions of the sweep topics when it creates them (default VPMU_PARTITIONS or 4)' },
    replica: { value: 'NAME', text: 'this worker\'s name in logs and sweep results (default VPMU_REPLICA or HOST-PID)' },
  },
};

export async function clusterCommand(argv: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'up') return clusterUp(rest, io);
  if (sub === 'down') return clusterDown(rest, io);
  if (sub === 'status') return clusterStatus(io);
  if (sub === 'sweep-worker') return clusterSweepWorker(rest);
  throw new CliError(`vpmu cluster: expected "up", "down", "status" or "sweep-worker", got ${sub ? `"${sub}"` : 'nothing'} (see docs/cli/cluster.md).`);
}

/** One sweep worker in the foreground until SIGTERM (what `cluster up --sweep-workers` starts). */
async function clusterSweepWorker(argv: string[]): Promise<number> {
  const args = parseArgs(CLUSTER_SWEEP_WORKER_SPEC, argv);
  const brokers = brokersFrom(args.flags.kafka as string | undefined, 'cluster sweep-worker');
  const envPartitions = process.env.VPMU_PARTITIONS === undefined ? undefined : Number(process.env.VPMU_PARTITIONS);
  const partitions = (args.flags.partitions as number | undefined) ?? envPartitions ?? DEFAULT_PARTITIONS;
  if (!Number.isInteger(partitions) || partitions < 1) throw new CliError(`vpmu cluster sweep-worker: --partitions must be a positive integer, got ${partitions}.`);
  return runSweepService({
    brokers,
    group: (args.flags.group as string | undefined) ?? process.env.VPMU_GROUP ?? DEFAULT_GROUP,
    partitions,
    replica: (args.flags.replica as string | undefined) ?? process.env.VPMU_REPLICA ?? `${os.hostname()}-${process.pid}`,
  });
}

export function brokersFrom(flag: string | undefined, command: string): string[] {
  const value = flag ?? process.env.KAFKA_BROKERS;
  if (!value) throw new CliError(`vpmu ${command}: no broker given; pass --kafka HOST:PORT or set KAFKA_BROKERS.`);
  try {
    return parseBrokers(value);
  } catch (err) {
    // Name the command, keep the kind.
    if (err instanceof KafkaSetupError) throw new KafkaSetupError(`vpmu ${command}: ${err.message}`, err.kind);
    throw err;
  }
}

async function clusterUp(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(CLUSTER_UP_SPEC, argv);
  const mock = args.flags['mock-broker'] === true;
  if (mock && args.flags.kafka !== undefined) throw new CliError('vpmu cluster up: give either --kafka BROKERS or --mock-broker, not both.');
  const given = mock ? [] : brokersFrom(args.flags.kafka as string | undefined, 'cluster up');
  const hostNodes = (args.flags['host-nodes'] as number | undefined) ?? 2;
  const guestVms = (args.flags['guest-vms'] as number | undefined) ?? 2;
  const sweepWorkers = (args.flags['sweep-workers'] as number | undefined) ?? 1;
  const partitions = (args.flags.partitions as number | undefined) ?? DEFAULT_PARTITIONS;
  if (partitions < 1) throw new CliError('vpmu cluster up: --partitions must be at least 1.');
  if (sweepWorkers < 0) throw new CliError('vpmu cluster up: --sweep-workers must be 0 or more.');
  // Both 0: a machine that only takes sweep points; one without the other could never run a scenario.
  const sweepOnly = hostNodes === 0 && guestVms === 0;
  if (!sweepOnly && (hostNodes < 1 || guestVms < 1)) throw new CliError('vpmu cluster up: --host-nodes and --guest-vms must be at least 1 (or both 0 with --sweep-workers for a machine that only takes sweep points).');
  if (sweepOnly && sweepWorkers < 1) throw new CliError('vpmu cluster up: nothing to start; with --host-nodes 0 --guest-vms 0 give --sweep-workers 1 or more.');
  const dir = clusterStateDir();
  const existing = readClusterState(dir);
  const alive = existing?.services.filter((s) => isAlive(s.pid)) ?? [];
  if (alive.length > 0) {
    throw new CliError(`a cluster is already running here (${alive.map((s) => `${s.name} pid ${s.pid}`).join(', ')}); run "vpmu cluster down" first.`);
  }
  // The aggregator writes every run there: refuse an unusable directory before starting anything.
  const outDir = prepareOutDir((args.flags.out as string | undefined) ?? 'out');
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const mockBroker = mock ? await startMockBroker(dir) : undefined;
  const brokers = mockBroker ? [mockBroker.address] : given;
  try {
    await assertBrokersReachable(brokers);
  } catch (err) {
    if (mockBroker) await stopServices([{ name: 'mock-broker', pid: mockBroker.pid }], 5000);
    throw err;
  }
  const group = (args.flags.group as string | undefined) ?? DEFAULT_GROUP;
  const state: ClusterState = { brokers, group, partitions, outDir, services: [], ...(mockBroker && { mockBroker }) };
  for (const spec of clusterServices({ brokers, hostNodes, guestVms, sweepWorkers, group, partitions, outDir })) {
    const log = path.join(dir, 'logs', `${spec.name}.log`);
    fs.writeFileSync(log, '');
    const child = spawnService(spec, log, true);
    state.services.push({ name: spec.name, app: spec.app, pid: child.pid ?? -1, log });
  }
  writeClusterState(dir, state);
  const ready = await waitForReady(state.services, ((args.flags['ready-timeout'] as number | undefined) ?? 30) * 1000);
  if (!ready.ok) {
    await stopServices(state.services, 5000);
    await stopMockBroker(state);
    fs.rmSync(path.join(dir, 'state.json'), { force: true });
    throw new CliError(`the cluster did not start: ${ready.name}: ${ready.reason} (logs in ${relativeForDisplay(path.join(dir, 'logs'))}).`, 'unavailable');
  }
  const roles = sweepOnly ? `${sweepWorkers} sweep-worker` : `${hostNodes} host-node, ${guestVms} guest-vm, ${sweepWorkers} sweep-worker, 1 aggregator writing to ${relativeForDisplay(outDir)}`;
  io.out(`cluster up on Kafka ${brokers.join(',')} (group ${group}, ${partitions} partitions): ${roles}`);
  if (mockBroker) io.out(`  ${'mock-broker'.padEnd(12)} pid ${String(mockBroker.pid).padEnd(8)} ${relativeForDisplay(mockBroker.log)} (kcat mock broker at ${mockBroker.address})`);
  for (const s of state.services) io.out(`  ${s.name.padEnd(12)} pid ${String(s.pid).padEnd(8)} ${relativeForDisplay(s.log)}`);
  if (!sweepOnly) io.out(`run a scenario with: vpmu run FILE --kafka ${brokers.join(',')}`);
  if (sweepWorkers > 0) io.out(`run a sweep's points here with: vpmu sweep FILE --kafka ${brokers.join(',')}`);
  io.out('stop with: vpmu cluster down');
  return EXIT.ok;
}

async function clusterDown(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(CLUSTER_DOWN_SPEC, argv);
  const dir = clusterStateDir();
  const state = readClusterState(dir);
  if (!state) {
    io.out('no cluster is running here (no .vpmu/cluster/state.json).');
    return EXIT.ok;
  }
  const hard = await stopServices(state.services, (args.flags['grace-ms'] as number | undefined) ?? 10_000);
  const mockStopped = await stopMockBroker(state);
  fs.rmSync(path.join(dir, 'state.json'), { force: true });
  io.out(`cluster down: stopped ${state.services.length} services${mockStopped ? ' and the mock broker' : ''}${hard.length ? ` (${hard.join(', ')} did not stop on SIGTERM and were killed)` : ''}; logs kept in ${relativeForDisplay(path.join(dir, 'logs'))}.`);
  return EXIT.ok;
}

function clusterStatus(io: CommandIo): number {
  const state = readClusterState(clusterStateDir());
  if (!state) {
    io.out('no cluster is running here.');
    return EXIT.ok;
  }
  io.out(`cluster on Kafka ${state.brokers.join(',')} (group ${state.group}, ${state.partitions} partitions), writing to ${relativeForDisplay(state.outDir)}`);
  for (const s of state.services) io.out(`  ${s.name.padEnd(12)} pid ${String(s.pid).padEnd(8)} ${isAlive(s.pid) ? 'running' : 'stopped'}`);
  const m = state.mockBroker;
  if (m) io.out(`  ${'mock-broker'.padEnd(12)} pid ${String(m.pid).padEnd(8)} ${isAlive(m.pid) ? 'running' : 'stopped'} (kcat mock broker at ${m.address})`);
  return EXIT.ok;
}

async function startMockBroker(dir: string): Promise<NonNullable<ClusterState['mockBroker']>> {
  if (!kcatAvailable()) {
    throw new CliError('vpmu cluster up --mock-broker: kcat is not installed; it ships the librdkafka mock broker (Debian: apt-get install kcat), or pass --kafka BROKERS.', 'unavailable');
  }
  const log = path.join(dir, 'logs', 'mock-broker.log');
  try {
    return { ...(await startDetachedMockBroker(log, 15_000)), log };
  } catch (err) {
    throw new CliError(`vpmu cluster up --mock-broker: the kcat mock broker did not start: ${(err as Error).message} (log: ${relativeForDisplay(log)}).`, 'unavailable');
  }
}

/** Stops the mock broker `cluster up --mock-broker` started, if any; true when there was one. */
async function stopMockBroker(state: ClusterState): Promise<boolean> {
  const m = state.mockBroker;
  if (!m) return false;
  await stopServices([{ name: 'mock-broker', pid: m.pid }], 5000);
  return true;
}
