// Cluster-test helpers: a throwaway Kafka-protocol broker (the kcat mock), the built CLI as an
// async child process, and `vpmu cluster up/down` in a temporary working directory.
import { spawn } from 'node:child_process';
import { startKcatMock, type MockBroker } from '../../apps/cli/src/cluster/kcat-mock';
import { CLI, type CliResult } from './cli';
import { REPO_ROOT } from './run-scenario';

export { startKcatMock, type MockBroker };

export function vpmuAsync(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult & { wallMs: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, CI: 'true' } });
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

export async function clusterUp(cwd: string, broker: string, o: { hostNodes: number; guestVms: number; partitions?: number }): Promise<void> {
  const args = ['cluster', 'up', '--kafka', broker, '--host-nodes', String(o.hostNodes), '--guest-vms', String(o.guestVms), '--out', 'cluster-out'];
  if (o.partitions) args.push('--partitions', String(o.partitions));
  const r = await vpmuAsync(args, { cwd, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`cluster up failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
}

export async function clusterDown(cwd: string): Promise<void> {
  await vpmuAsync(['cluster', 'down', '--grace-ms', '5000'], { cwd, timeoutMs: 30_000 });
}
