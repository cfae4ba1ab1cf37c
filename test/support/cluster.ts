// Cluster-test helpers: a throwaway Kafka-protocol broker (the kcat mock), the built CLI as an
// async child process, and `vpmu cluster up/down` in a temporary working directory.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { iterateRecording } from '@vpmu/recording';
import { clusterServices, spawnService } from '../../apps/cli/src/cluster/cluster-processes';
import { startKcatMock, type MockBroker } from '../../apps/cli/src/cluster/kcat-mock';
import { CLI, type CliResult } from './cli';
import { REPO_ROOT } from './run-scenario';

export { startKcatMock, type MockBroker };

export function vpmuAsync(args: string[], opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult & { wallMs: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, CI: 'true', ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`vpmu ${args.join(' ')} timed out\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, wallMs: Date.now() - t0 });
    });
  });
}

export function digestOf(stdout: string): string {
  const m = /digest: ([0-9a-f]{64})/.exec(stdout);
  if (!m) throw new Error(`no digest in output:\n${stdout}`);
  return m[1];
}

/** Parses "placement: r1: host/a host/b; r2: vm/x" into replica -> nodes. */
export function placementOf(stdout: string): Map<string, string[]> {
  const line = /^placement: (.*)$/m.exec(stdout)?.[1] ?? '';
  const out = new Map<string, string[]>();
  for (const part of line.split('; ').filter(Boolean)) {
    const [replica, nodes] = part.split(': ');
    out.set(replica, nodes.split(' '));
  }
  return out;
}

/** `env` reaches the service processes too (e.g. OTEL_EXPORTER_OTLP_ENDPOINT). */
export async function clusterUp(cwd: string, broker: string, o: { hostNodes: number; guestVms: number; sweepWorkers?: number; partitions?: number; env?: Record<string, string>; group?: string }): Promise<void> {
  // No sweep worker unless asked: the other cluster tests start only what their runs need.
  const args = ['cluster', 'up', '--kafka', broker, '--host-nodes', String(o.hostNodes), '--guest-vms', String(o.guestVms), '--sweep-workers', String(o.sweepWorkers ?? 0), '--out', 'cluster-out'];
  if (o.partitions) args.push('--partitions', String(o.partitions));
  if (o.group) args.push('--group', o.group); // a fresh group: no members left over from a killed replica
  const r = await vpmuAsync(args, { cwd, timeoutMs: 60_000, env: o.env });
  if (r.code !== 0) throw new Error(`cluster up failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
}

/**
 * `vpmu cluster down`; when it cannot finish (a machine so loaded that the CLI itself is slow to
 * start), the services it would have stopped are killed, so no test leaves processes behind.
 */
export async function clusterDown(cwd: string): Promise<void> {
  const services = fs.existsSync(stateFile(cwd)) ? clusterState(cwd).services : [];
  try {
    await vpmuAsync(['cluster', 'down', '--grace-ms', '5000'], { cwd, timeoutMs: 90_000 });
  } catch (err) {
    for (const s of services) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    throw err;
  }
}

// --- Failover helpers (test/cluster/reliability.test.ts) ---------------------------------------

interface ClusterStateFile {
  brokers: string[];
  group: string;
  partitions: number;
  outDir: string;
  services: { name: string; app: 'host-node' | 'guest-vm' | 'aggregator' | 'sweep-worker'; pid: number; log: string }[];
}

function stateFile(cwd: string): string {
  return path.join(cwd, '.vpmu', 'cluster', 'state.json');
}

export function clusterState(cwd: string): ClusterStateFile {
  return JSON.parse(fs.readFileSync(stateFile(cwd), 'utf8')) as ClusterStateFile;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` every 50 ms until it returns a value, or fails after `timeoutMs` with `what`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => T | null | undefined | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGKILLs a `vpmu cluster up` service (by its pid in state.json) and waits until it is gone. */
export async function killService(cwd: string, name: string): Promise<void> {
  const s = clusterState(cwd).services.find((x) => x.name === name);
  if (!s) throw new Error(`no service ${name} in ${stateFile(cwd)}`);
  process.kill(s.pid, 'SIGKILL');
  await waitFor(`${name} (pid ${s.pid}) to exit`, 10_000, () => !alive(s.pid));
}

/** Starts a service again with the arguments `vpmu cluster up` gave it; state.json gets its pid. */
export function restartService(cwd: string, name: string): void {
  const state = clusterState(cwd);
  const s = state.services.find((x) => x.name === name);
  if (!s) throw new Error(`no service ${name} in ${stateFile(cwd)}`);
  const spec = clusterServices({ brokers: state.brokers, hostNodes: 9, guestVms: 9, sweepWorkers: 9, group: state.group, partitions: state.partitions, outDir: state.outDir }).find((x) => x.name === name)!;
  const child = spawnService(spec, path.resolve(cwd, s.log), true);
  s.pid = child.pid!;
  fs.writeFileSync(stateFile(cwd), JSON.stringify(state, null, 2) + '\n');
}

/** The services whose log says they simulate a node starting with `prefix` in the current run. */
export function servicesSimulating(cwd: string, prefix: string): string[] {
  return clusterState(cwd)
    .services.filter((s) => {
      const text = fs.existsSync(path.resolve(cwd, s.log)) ? fs.readFileSync(path.resolve(cwd, s.log), 'utf8') : '';
      const last = [...text.matchAll(/run \S+ started; simulating (.*)$/gm)].pop();
      return last !== undefined && last[1].split(' ').some((n) => n.startsWith(prefix));
    })
    .map((s) => s.name);
}

/**
 * Resolves once the aggregator's recording (still PATH.partial while running) holds `epoch`. The
 * bound is generous: on a shared CI machine a cluster of separate processes can run at a tenth of
 * its quiet speed, and reaching the epoch late is not what the callers test.
 */
export function waitForRecordedEpoch(recording: string, epoch: number, timeoutMs = 120_000): Promise<number> {
  return waitFor(`${recording} to reach epoch ${epoch}`, timeoutMs, () => {
    if (!fs.existsSync(recording + '.partial') && !fs.existsSync(recording)) return null;
    let last: number | null = null;
    try {
      for (const item of iterateRecording(recording, { growing: true })) if (item.kind === 'end') last = item.lastEpoch;
    } catch {
      return null; // being renamed at the end of the run
    }
    return last !== null && last >= epoch ? last : null;
  });
}
