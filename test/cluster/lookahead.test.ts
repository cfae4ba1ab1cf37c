// Lookahead windows on a cluster (docs/cluster.md "Lookahead windows"): separate processes over
// Kafka (1 aggregator, 2 host-node and 2 guest-vm replicas on the kcat mock broker) record the
// same bytes with windows on (the default) and forced off (`--no-lookahead`, one epoch per
// barrier round trip), and the same bytes as the embedded run. The scenario is many-hosts: its six
// hosts spread over both host-node replicas and its VMs migrate between them, so windows end at
// each hand-off (a window that ran past one would fail the run or change the bytes).
// cluster.test.ts runs every built-in scenario on the cluster with windows on against the embedded
// digest, so this file adds only the windows-off run and the round-trip count.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, runScenarioText, tempDir } from '../support/run-scenario';
import { clusterDown, clusterUp, startKcatMock, vpmuAsync, type MockBroker } from '../support/cluster';

jest.setTimeout(300_000);

const SCENARIOS = ['test/cluster/fixtures/many-hosts.yaml'];

let broker: MockBroker;
let cwd: string;

beforeAll(async () => {
  broker = await startKcatMock();
  cwd = tempDir('lookahead');
  await clusterUp(cwd, broker.address, { hostNodes: 2, guestVms: 2 });
});

afterAll(async () => {
  if (cwd) await clusterDown(cwd);
  await broker?.stop();
});

/** Runs `file` on the cluster into its own --out directory; returns the recording's bytes and the round trips. */
async function clusterRun(file: string, name: string, extra: string[]): Promise<{ recording: Buffer; roundTrips: number }> {
  const out = path.join(cwd, name);
  const r = await vpmuAsync(['run', path.join(REPO_ROOT, file), '--kafka', broker.address, '--quiet', '--out', out, ...extra], { cwd, timeoutMs: 240_000 });
  expect({ file, extra, code: r.code, stderr: r.stderr }).toEqual({ file, extra, code: 0, stderr: '' });
  const roundTrips = Number(/, (\d+) round trips\)/.exec(r.stdout)?.[1]);
  return { recording: fs.readFileSync(path.join(out, 'recording.vpmurec')), roundTrips };
}

describe('cluster: lookahead windows on and off record the same bytes', () => {
  for (const file of SCENARIOS) {
    it(`${file}: windows on, windows off and embedded give one recording`, async () => {
      const base = path.basename(file, '.yaml');
      const on = await clusterRun(file, `${base}-on`, []);
      const off = await clusterRun(file, `${base}-off`, ['--no-lookahead']);
      const embedded = await runScenarioText(fs.readFileSync(path.join(REPO_ROOT, file), 'utf8'), { outDir: path.join(cwd, `${base}-embedded`) });
      expect(on.recording.equals(off.recording)).toBe(true);
      expect(on.recording.equals(fs.readFileSync(path.join(embedded.outDir, 'recording.vpmurec')))).toBe(true);
      // The same grants as embedded: the windows depend on the scenario only, never on timing.
      expect(on.roundTrips).toBe(embedded.barrierRoundTripMs.length);
      expect(on.roundTrips).toBeLessThan(off.roundTrips);
    });
  }
});
