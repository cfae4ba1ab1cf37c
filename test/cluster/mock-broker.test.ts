// `vpmu cluster up --mock-broker`: the throwaway broker for users without Docker. The broker and
// the services are real separate processes; the broker must outlive the CLI that started it
// (the documented `kcat … | grep -m1` recipe did not: grep's exit killed kcat with SIGPIPE), serve
// a whole run, and go away with `cluster down`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAlive } from '../../apps/cli/src/cluster/cluster-processes';
import { tempDir, REPO_ROOT } from '../support/run-scenario';
import { clusterState, vpmuAsync } from '../support/cluster';
import { vpmu } from '../support/cli';

jest.setTimeout(240_000);

describe('vpmu cluster up --mock-broker', () => {
  it('starts a kcat mock broker that outlives the CLI, serves a run with the embedded content digest, and stops with cluster down', async () => {
    const cwd = tempDir('mock-broker');
    const up = await vpmuAsync(['cluster', 'up', '--mock-broker', '--host-nodes', '1', '--guest-vms', '1', '--ready-timeout', '120'], { cwd, timeoutMs: 180_000 });
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    const address = /kcat mock broker at (127\.0\.0\.1:\d+)/.exec(up.stdout)?.[1];
    expect(address).toBeDefined();
    const state = clusterState(cwd) as unknown as { brokers: string[]; mockBroker: { pid: number; address: string } };
    expect(state.brokers).toEqual([address]);
    expect(isAlive(state.mockBroker.pid)).toBe(true);
    try {
      const status = vpmu(['cluster', 'status'], { cwd });
      expect(status.stdout).toMatch(/mock-broker\s+pid \d+\s+running/);
      const scenario = path.join(REPO_ROOT, 'scenarios', 'host-perf-multiplex.yaml');
      const run = await vpmuAsync(['run', scenario, '--kafka', address!, '--quiet'], { cwd, timeoutMs: 180_000 });
      expect(run.code).toBe(0);
      const golden = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'golden', 'content-digests.json'), 'utf8'));
      expect(run.stdout).toContain(`content digest: ${golden['scenarios/host-perf-multiplex.yaml'].contentDigest}`);
    } finally {
      const down = await vpmuAsync(['cluster', 'down'], { cwd, timeoutMs: 60_000 });
      expect(down.stdout).toContain('and the mock broker');
    }
    expect(isAlive(state.mockBroker.pid)).toBe(false);
  });

  it('refuses an unusable aggregator --out before starting anything (exit 2)', () => {
    const cwd = tempDir('cluster-out');
    fs.writeFileSync(path.join(cwd, 'file'), 'x');
    const r = vpmu(['cluster', 'up', '--mock-broker', '--out', path.join(cwd, 'file', 'sub')], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot write to the output directory .*file\/sub \(ENOTDIR\); choose another --out/);
    expect(fs.existsSync(path.join(cwd, '.vpmu', 'cluster', 'state.json'))).toBe(false);
  });

  it('refuses --mock-broker together with --kafka (exit 2), before starting anything', () => {
    const cwd = tempDir('mock-broker-both');
    const r = vpmu(['cluster', 'up', '--mock-broker', '--kafka', '127.0.0.1:9092'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('either --kafka BROKERS or --mock-broker');
    expect(fs.existsSync(path.join(cwd, '.vpmu', 'cluster', 'state.json'))).toBe(false);
  });
});
