// `vpmu cluster up/down`: the services as local background processes against a broker, for users
// without Docker. State (pids, logs) lives in .vpmu/cluster/ under the current directory.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A service's role; `sweep-worker` is the CLI itself (`vpmu cluster sweep-worker`), taking sweep points. */
export type ServiceApp = 'host-node' | 'guest-vm' | 'aggregator' | 'sweep-worker';

export interface ServiceSpec {
  name: string; // e.g. host-node-1
  app: ServiceApp;
  args: string[];
}

export interface ClusterState {
  brokers: string[];
  group: string;
  partitions: number;
  outDir: string;
  services: { name: string; app: ServiceApp; pid: number; log: string }[];
  /** The throwaway kcat mock broker `cluster up --mock-broker` started; `cluster down` stops it. */
  mockBroker?: { pid: number; log: string; address: string };
}

export function clusterStateDir(cwd = process.cwd()): string {
  return path.join(cwd, '.vpmu', 'cluster');
}

/** dist/apps/<app>/main.js next to this CLI's build output. */
export function serviceEntry(app: Exclude<ServiceApp, 'sweep-worker'> | 'cli'): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'apps', app, 'main.js');
    if (path.basename(dir) === 'dist' && fs.existsSync(candidate)) return candidate;
    const dist = path.join(dir, 'dist', 'apps', app, 'main.js');
    if (fs.existsSync(dist)) return dist;
    dir = path.dirname(dir);
  }
  throw new Error(`cannot find the built ${app} service (dist/apps/${app}/main.js); run "npm run build" first.`);
}

/**
 * The processes of a cluster. With no host-node and no guest-vm there is no aggregator either:
 * a machine that only takes sweep points (`--host-nodes 0 --guest-vms 0 --sweep-workers N`).
 */
export function clusterServices(o: { brokers: string[]; hostNodes: number; guestVms: number; sweepWorkers?: number; group: string; partitions: number; outDir: string }): ServiceSpec[] {
  const common = ['--kafka', o.brokers.join(','), '--group', o.group, '--partitions', String(o.partitions)];
  const specs: ServiceSpec[] = o.hostNodes + o.guestVms > 0 ? [{ name: 'aggregator', app: 'aggregator', args: [...common, '--out', o.outDir] }] : [];
  for (let i = 1; i <= o.hostNodes; i++) specs.push({ name: `host-node-${i}`, app: 'host-node', args: [...common, '--replica', `host-node-${i}`] });
  for (let i = 1; i <= o.guestVms; i++) specs.push({ name: `guest-vm-${i}`, app: 'guest-vm', args: [...common, '--replica', `guest-vm-${i}`] });
  for (let i = 1; i <= (o.sweepWorkers ?? 0); i++) specs.push({ name: `sweep-worker-${i}`, app: 'sweep-worker', args: ['cluster', 'sweep-worker', ...common, '--replica', `sweep-worker-${i}`] });
  return specs;
}

/** Starts one service with stdout/stderr appended to `logFile`; detached so it outlives the CLI. */
export function spawnService(spec: ServiceSpec, logFile: string, detached: boolean): ChildProcess {
  const fd = fs.openSync(logFile, 'a');
  try {
    const entry = serviceEntry(spec.app === 'sweep-worker' ? 'cli' : spec.app);
    const child = spawn(process.execPath, [entry, ...spec.args], { detached, stdio: ['ignore', fd, fd], env: { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1' } });
    if (detached) child.unref();
    return child;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Starts the kcat mock broker under its supervisor (mock-broker.main.ts), detached, and waits for
 * the address it prints. Rejects with the reason when it does not serve within `timeoutMs`.
 */
export async function startDetachedMockBroker(logFile: string, timeoutMs: number): Promise<{ pid: number; address: string }> {
  const fd = fs.openSync(logFile, 'w');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [path.join(__dirname, 'mock-broker.main.js')], { detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
  } finally {
    fs.closeSync(fd);
  }
  const pid = child.pid ?? -1;
  const deadline = Date.now() + timeoutMs; // wall-clock ok: process supervision
  for (;;) {
    const text = fs.readFileSync(logFile, 'utf8');
    const m = /^bootstrap\.servers=([0-9.]+:\d+)$/m.exec(text);
    if (m) return { pid, address: m[1] };
    if (!isAlive(pid)) throw new Error(lastLine(text, /error: (.*)$/m) ?? lastLine(text, /(.+)/) ?? 'it exited without a word');
    if (Date.now() > deadline) { // wall-clock ok: process supervision
      safeKill(pid, 'SIGTERM');
      throw new Error(`it printed no address within ${Math.round(timeoutMs / 1000)} s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type WaitOutcome = { ok: true } | { ok: false; name: string; reason: string };

/** Waits until every service logged "ready", one exited, or the timeout. */
export async function waitForReady(services: ClusterState['services'], timeoutMs: number): Promise<WaitOutcome> {
  const deadline = Date.now() + timeoutMs; // wall-clock ok: process supervision
  const pending = new Set(services.map((s) => s.name));
  while (pending.size > 0) {
    for (const s of services) {
      if (!pending.has(s.name)) continue;
      const text = fs.existsSync(s.log) ? fs.readFileSync(s.log, 'utf8') : '';
      if (/\] ready: /.test(text)) {
        pending.delete(s.name);
        continue;
      }
      if (!isAlive(s.pid)) return { ok: false, name: s.name, reason: lastLine(text, /error: (.*)$/m) ?? 'it exited' };
    }
    if (pending.size === 0) break;
    if (Date.now() > deadline) return { ok: false, name: [...pending].join(', '), reason: `not ready within ${Math.round(timeoutMs / 1000)} s` }; // wall-clock ok: process supervision
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ok: true };
}

function lastLine(text: string, re: RegExp): string | null {
  const lines = text.trim().split('\n').reverse();
  for (const l of lines) {
    const m = re.exec(l);
    if (m) return m[1];
  }
  return null;
}

/** SIGTERM, then SIGKILL for whatever still runs after `graceMs`. Returns the names killed hard. */
export async function stopServices(services: readonly { name: string; pid: number }[], graceMs: number): Promise<string[]> {
  for (const s of services) if (isAlive(s.pid)) safeKill(s.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs; // wall-clock ok: process supervision
  while (services.some((s) => isAlive(s.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100)); // wall-clock ok: process supervision
  const hard: string[] = [];
  for (const s of services) {
    if (!isAlive(s.pid)) continue;
    safeKill(s.pid, 'SIGKILL');
    hard.push(s.name);
  }
  return hard;
}

function safeKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export function readClusterState(dir: string): ClusterState | null {
  const file = path.join(dir, 'state.json');
  if (!fs.existsSync(file)) return null;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ClusterState;
}

export function writeClusterState(dir: string, state: ClusterState): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state, null, 2) + '\n');
}
