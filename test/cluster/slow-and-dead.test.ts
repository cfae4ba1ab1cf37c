// Cluster tier, the failure detector (docs/cluster.md "Failover"): slow is not dead. A replica
// is gone on evidence only (its heartbeats stop, it answers from outside the run, the group
// moves its partitions), never because an epoch takes long on a busy machine. Two sides:
// - the fixture run on a machine loaded by CPU-burning child processes (bounded in time) ends
//   with no takeover and the embedded run's digest; the slowdown factor is printed;
// - a broker that dies mid-run (the kcat mock SIGKILLed) ends the run with exit 4 in bounded
//   time, the aggregator's recording valid up to its last complete epoch.
// A killed host-node is still detected and recovered: reliability.test.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readRecording } from '@vpmu/recording';
import { runScenarioText, tempDir } from '../support/run-scenario';
import { clusterDown, clusterUp, digestOf, startKcatMock, vpmuAsync, waitForRecordedEpoch, type MockBroker } from '../support/cluster';

jest.setTimeout(240_000);

const FIXTURE = path.join(__dirname, 'fixtures', 'failover.yaml');

let cwd: string;
let embeddedDigest: string;
let embeddedEpochDigests: Map<number, string>;

const outDir = (): string => path.join(cwd, 'cluster-out', 'failover');
function run(kafka: string): ReturnType<typeof vpmuAsync> {
  fs.rmSync(outDir(), { recursive: true, force: true });
  return vpmuAsync(['run', FIXTURE, '--kafka', kafka, '--quiet'], { cwd, timeoutMs: 200_000 });
}

/** CPU burners: each spins until killed, and kills itself after `maxMs` whatever happens to the test. */
function burnCpus(count: number, maxMs: number): ChildProcess[] {
  const code = `const end = Date.now() + ${maxMs}; while (Date.now() < end) { for (let i = 0; i < 1e6; i++); }`;
  return Array.from({ length: count }, () => spawn(process.execPath, ['-e', code], { stdio: 'ignore' }));
}

beforeAll(async () => {
  cwd = tempDir('slow-and-dead');
  const embedded = await runScenarioText(fs.readFileSync(FIXTURE, 'utf8'), { outDir: path.join(cwd, 'embedded') });
  embeddedDigest = embedded.summary.digest;
  embeddedEpochDigests = new Map(readRecording(embedded.recording.path).epochs.map((e) => [e.epoch, Buffer.from(e.digest).toString('hex')]));
});

afterEach(() => clusterDown(cwd));

describe('slow is not dead', () => {
  let broker: MockBroker;
  beforeAll(async () => (broker = await startKcatMock()));
  afterAll(() => broker?.stop());

  it('a cluster run on a machine loaded by CPU burners: no takeover, the embedded digest', async () => {
    await clusterUp(cwd, broker.address, { hostNodes: 3, guestVms: 1, group: 'vpmu-slow-1' });
    const quiet = await run(broker.address);
    expect({ code: quiet.code, stderr: quiet.stderr }).toEqual({ code: 0, stderr: '' });
    // Twice the cores in burners on top of the six cluster processes: a load far beyond the cores.
    const burners = burnCpus(2 * os.cpus().length, 180_000);
    let loaded: Awaited<ReturnType<typeof vpmuAsync>>;
    try {
      loaded = await run(broker.address);
    } finally {
      for (const b of burners) b.kill('SIGKILL');
    }
    expect({ code: loaded.code, takeovers: loaded.stderr.match(/takeover of .*/g) ?? [] }).toEqual({ code: 0, takeovers: [] });
    expect(loaded.stdout).not.toMatch(/^failover at epoch/m);
    expect(digestOf(loaded.stdout)).toBe(embeddedDigest);
    expect(digestOf(quiet.stdout)).toBe(embeddedDigest);
    process.stdout.write(`under load (${burners.length} CPU burners on ${os.cpus().length} cores): 0 takeovers, same digest; wall ${(quiet.wallMs / 1000).toFixed(1)} s quiet, ${(loaded.wallMs / 1000).toFixed(1)} s loaded (slowdown x${(loaded.wallMs / quiet.wallMs).toFixed(2)})\n`);
  });
});

describe('a dead broker', () => {
  it('the broker killed mid-run: exit 4 in bounded time naming the broker; the recording valid up to its last complete epoch', async () => {
    const broker = await startKcatMock();
    try {
      await clusterUp(cwd, broker.address, { hostNodes: 2, guestVms: 1, group: 'vpmu-dead-1' });
      const running = run(broker.address);
      const recording = path.join(outDir(), 'recording.vpmurec');
      await waitForRecordedEpoch(recording, 25);
      await broker.stop();
      const killedAt = Date.now();
      const r = await running;
      const tookMs = Date.now() - killedAt;
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/^error: lost the Kafka broker at \S+ during epoch \d+ \(.*\); restart it and run the scenario again; the aggregator's recording \(recording\.vpmurec\.partial in its output directory\) is valid up to its last complete epoch\.$/m);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      // Bounded by the broker check (10 s refused) and the bounded shutdown, not by a guess at simulation speed.
      expect(tookMs).toBeLessThan(90_000);
      const rec = readRecording(recording);
      expect(rec.complete).toBe(false);
      expect(rec.lastEpoch).toBeGreaterThanOrEqual(25);
      for (const e of rec.epochs) expect({ epoch: e.epoch, digest: Buffer.from(e.digest).toString('hex') }).toEqual({ epoch: e.epoch, digest: embeddedEpochDigests.get(e.epoch) });
      process.stdout.write(`dead broker: exit 4 ${(tookMs / 1000).toFixed(1)} s after the kill; recording valid up to epoch ${rec.lastEpoch}\n`);
    } finally {
      await broker.stop();
    }
  });
});
