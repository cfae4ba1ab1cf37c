// Cluster tier, faults (docs/cluster.md): real service processes, the kcat
// mock broker, `vpmu run --kafka` as the conductor; a replica killed or restarted mid-run, the
// broker restarted mid-run. The property is the one the cluster rests on: whatever fails and
// whoever takes over, the run's digest is the unfaulted (embedded) run's; and a run that cannot
// go on ends with a clear error in bounded time, its recording valid up to the last epoch.
//
// "Mid-run" is observed, never slept for: each fault waits until the aggregator's recording
// (PATH.partial while the run goes) holds epoch 25 of the fixture's 150, i.e. after its checkpoint
// at epoch 20, so a takeover restores a checkpoint and re-simulates from it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRecording } from '@vpmu/recording';
import { runScenarioText, tempDir } from '../support/run-scenario';
import {
  clusterDown,
  clusterUp,
  digestOf,
  killService,
  restartService,
  servicesSimulating,
  startKcatMock,
  vpmuAsync,
  waitFor,
  waitForRecordedEpoch,
  type MockBroker,
} from '../support/cluster';
import { KafkaRestartProxy } from '../support/kafka-proxy';

// Generous: on a shared 2-core box at load 20 a cluster run takes minutes; only the outcome is tested.
jest.setTimeout(240_000);

const FIXTURE = path.join(__dirname, 'fixtures', 'failover.yaml');
const KILL_AT_EPOCH = 25;

let broker: MockBroker;
let cwd: string;
let embeddedDigest: string;
let embeddedEpochDigests: Map<number, string>;

const recordingPath = (): string => path.join(cwd, 'cluster-out', 'failover', 'recording.vpmurec');
function run(kafka: string): ReturnType<typeof vpmuAsync> {
  // A fresh output directory: the epochs awaited must be this run's.
  fs.rmSync(path.dirname(recordingPath()), { recursive: true, force: true });
  return vpmuAsync(['run', FIXTURE, '--kafka', kafka, '--quiet'], { cwd, timeoutMs: 200_000 });
}

beforeAll(async () => {
  broker = await startKcatMock();
  cwd = tempDir('reliability');
  const embedded = await runScenarioText(fs.readFileSync(FIXTURE, 'utf8'), { outDir: path.join(cwd, 'embedded') });
  embeddedDigest = embedded.summary.digest;
  embeddedEpochDigests = new Map(readRecording(embedded.recording.path).epochs.map((e) => [e.epoch, Buffer.from(e.digest).toString('hex')]));
});

afterAll(async () => {
  if (cwd) await clusterDown(cwd);
  await broker?.stop();
});

afterEach(() => clusterDown(cwd));

describe('a replica dies mid-run', () => {
  it('kills a host-node replica (of 3): the others restore its hosts from the checkpoint and the digest is the embedded one', async () => {
    await clusterUp(cwd, broker.address, { hostNodes: 3, guestVms: 1, group: 'vpmu-fault-1' });
    const running = run(broker.address);
    await waitForRecordedEpoch(recordingPath(), KILL_AT_EPOCH);
    const victim = servicesSimulating(cwd, 'host/')[0];
    const killedAt = Date.now();
    await killService(cwd, victim);
    const r = await running;
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringMatching(/takeover of .*host\//) });
    expect(digestOf(r.stdout)).toBe(embeddedDigest);
    const failover = /^failover at epoch (\d+): (.*) restored by their new owners \(stalled ([\d.]+) s before the takeover; next epoch completed ([\d.]+) s later\)$/m.exec(r.stdout);
    expect(failover).not.toBeNull();
    expect(Number(failover![1])).toBeGreaterThanOrEqual(KILL_AT_EPOCH);
    process.stdout.write(`host-node takeover: ${failover![2]} at epoch ${failover![1]}; stalled ${failover![3]} s, recovered ${failover![4]} s later; run ended ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill\n`);
  });

  it('restarts a guest-vm replica and the aggregator: the VMs and the recording are rebuilt from the log, same digest', async () => {
    await clusterUp(cwd, broker.address, { hostNodes: 2, guestVms: 2, group: 'vpmu-fault-2' });
    const running = run(broker.address);
    await waitForRecordedEpoch(recordingPath(), KILL_AT_EPOCH);
    const guest = servicesSimulating(cwd, 'vm/')[0];
    await Promise.all([killService(cwd, guest), killService(cwd, 'aggregator')]);
    restartService(cwd, guest);
    restartService(cwd, 'aggregator');
    const r = await running;
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringMatching(/takeover of aggregator/) });
    expect(digestOf(r.stdout)).toBe(embeddedDigest);
    // The restarted aggregator wrote the whole recording again: complete, and the same chain.
    const rec = readRecording(recordingPath(), { requireComplete: true });
    expect(rec.finalDigestHex).toBe(embeddedDigest);
    expect(JSON.parse(fs.readFileSync(path.join(cwd, 'cluster-out', 'failover', 'summary.json'), 'utf8')).digest).toBe(embeddedDigest);
  });

  it('kills the only host-node replica: exit 4 naming the lost hosts within a bounded time; the recording stays valid up to the last complete epoch', async () => {
    await clusterUp(cwd, broker.address, { hostNodes: 1, guestVms: 1, group: 'vpmu-fault-3' });
    const running = run(broker.address);
    await waitForRecordedEpoch(recordingPath(), KILL_AT_EPOCH);
    const killedAt = Date.now();
    await killService(cwd, 'host-node-1');
    const r = await running;
    const tookMs = Date.now() - killedAt;
    expect(r.code).toBe(4);
    const m = /^error: lost (host\/h1, host\/h2, host\/h3, host\/h4, host\/h5, host\/h6) at epoch (\d+): host-node replica host-node-1 stopped answering and no other host-node replica took over within \d+ s .*; the recording up to epoch (\d+) is valid in (\S+)\.$/m.exec(r.stderr);
    expect({ stderr: r.stderr, matched: m !== null }).toEqual({ stderr: r.stderr, matched: true });
    // One error sentence, no stack trace. Takeover progress lines may come before it: a takeover
    // the conductor planned in the meantime, which found no replica to run it.
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => !/^epoch \d+: takeover of /.test(l))).toEqual([lines[lines.length - 1]]);
    expect(tookMs).toBeLessThan(35_000); // stall detection 1.5 s + 20 s without an owner + the aggregator's answer
    const lostEpoch = Number(m![2]);
    const lastGood = Number(m![3]);
    expect(lastGood).toBe(lostEpoch - 1);
    expect(m![4]).toBe(recordingPath() + '.partial');
    // Readable, ends at the last complete epoch, and every epoch in it is the unfaulted run's.
    const rec = readRecording(recordingPath());
    expect({ complete: rec.complete, lastEpoch: rec.lastEpoch }).toEqual({ complete: false, lastEpoch: lastGood });
    for (const e of rec.epochs) expect({ epoch: e.epoch, digest: Buffer.from(e.digest).toString('hex') }).toEqual({ epoch: e.epoch, digest: embeddedEpochDigests.get(e.epoch) });
    expect(rec.checkpoints.map((c) => c.epoch)).toContain(20);
    const replay = await vpmuAsync(['replay', path.join(cwd, 'cluster-out', 'failover'), '--verify'], { cwd });
    expect(replay.code).toBe(2);
    expect(replay.stderr).toContain(`epochs up to ${lastGood} are intact and usable`);
    process.stdout.write(`no replica left: exit 4 ${(tookMs / 1000).toFixed(1)} s after the kill, recording valid up to epoch ${lastGood}\n`);
  });
});

describe('the broker restarts mid-run', () => {
  it('drops every connection and refuses new ones for 3 s: clients reconnect and the run ends with the embedded digest', async () => {
    const proxy = await KafkaRestartProxy.start(broker.address);
    try {
      await clusterUp(cwd, proxy.address, { hostNodes: 2, guestVms: 1, group: 'vpmu-fault-4' });
      const running = run(proxy.address);
      const before = await waitForRecordedEpoch(recordingPath(), KILL_AT_EPOCH);
      await proxy.stop();
      await new Promise((res) => setTimeout(res, 3000)); // the outage itself, not a synchronisation
      const connectionsBefore = proxy.connections;
      const restartedAt = Date.now();
      await proxy.restart();
      // Reconnect time: from the broker's return until the recording moves again.
      const after = await waitFor('the recording to move after the restart', 60_000, () => {
        const rec = fs.existsSync(recordingPath() + '.partial') || fs.existsSync(recordingPath()) ? readRecording(recordingPath()) : null;
        return rec && rec.lastEpoch !== null && rec.lastEpoch > before + 2 ? rec.lastEpoch : null;
      });
      const reconnectMs = Date.now() - restartedAt;
      const r = await running;
      expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(digestOf(r.stdout)).toBe(embeddedDigest);
      expect(proxy.connections).toBeGreaterThan(connectionsBefore); // they did reconnect
      process.stdout.write(`broker restart: 3 s outage at epoch ~${before}; recording moving again (epoch ${after}) ${(reconnectMs / 1000).toFixed(1)} s after the restart\n`);
    } finally {
      await clusterDown(cwd);
      await proxy.stop();
    }
  });
});
