// `vpmu sweep --kafka`: the sweep's runs as work items on the kcat mock broker, taken by two
// sweep-worker processes (`vpmu cluster up --host-nodes 0 --guest-vms 0 --sweep-workers 2`). The
// cluster sweep writes the same sweep.json and the same cache entries as a local sweep (every run
// is a pure function of expanded scenario, seed and tool version, whoever simulates it); items a
// worker cannot run get a failure report and the worker carries on; a worker killed holding an
// item leaves it uncommitted and the other worker runs it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createKafkaClient, type KafkaConsumer, type KafkaProducer } from '@vpmu/transport';
import type { vpmu as pbTypes } from '@vpmu/proto';
import { clusterDown, clusterState, clusterUp, killService, startKcatMock, vpmuAsync, waitFor, type MockBroker } from '../support/cluster';
import { tempDir } from '../support/run-scenario';
import { tinySweepScenario } from '../support/sweep-scenario';
import { TOOL_VERSION } from '../../apps/cli/src/version';
import { cacheKey } from '../../apps/cli/src/sweep/sweep-plan';
import { decodeReport, encodeWorkItem, EntryAssembler, SWEEP_TOPICS } from '../../apps/cli/src/sweep/sweep-wire';

jest.setTimeout(300_000);

let broker: MockBroker;
let cwd: string;
let producer: KafkaProducer;
let consumer: KafkaConsumer;
const reports: pbTypes.v1.SweepReport[] = [];

const scenarioText = tinySweepScenario({ name: 'sweep-cluster', seed: 4, duration: '8ms', sampleFreqHz: 2000 });

function cacheFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, name);
      if (fs.statSync(path.join(dir, r)).isDirectory()) walk(r);
      else out[r] = fs.readFileSync(path.join(dir, r)).toString('base64');
    }
  };
  walk('');
  return out;
}

async function publishItem(key: string, value: Buffer, partition: number): Promise<void> {
  await producer.sendBatch({ topicMessages: [{ topic: SWEEP_TOPICS.work, messages: [{ key, value, partition }] }] });
}

beforeAll(async () => {
  broker = await startKcatMock();
  cwd = tempDir('sweep-cluster');
  await clusterUp(cwd, broker.address, { hostNodes: 0, guestVms: 0, sweepWorkers: 2 });
  const client = createKafkaClient({ brokers: [broker.address], clientId: 'sweep-cluster-test' });
  producer = client.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  // Every report any worker publishes (the workers created the topics when they started).
  consumer = client.consumer({ groupId: 'sweep-cluster-test', maxWaitTimeInMs: 50, minBytes: 1 });
  await consumer.connect();
  await consumer.subscribe({ topics: [SWEEP_TOPICS.results], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message }) => {
      const r = decodeReport(message.value);
      if (r) reports.push(r);
    },
  });
});

afterAll(async () => {
  await consumer?.disconnect().catch(() => undefined);
  await producer?.disconnect().catch(() => undefined);
  if (cwd) await clusterDown(cwd);
  await broker?.stop();
});

it('answers an undecodable item and one planned by another tool version with a failure report, and keeps serving', async () => {
  await publishItem('garbage', Buffer.from('not a work item'), 0);
  await publishItem('garbage-1', Buffer.from([0xff, 0xff, 0xff]), 1);
  const foreignKey = cacheKey(scenarioText, 4, 'vpmu 0.0.0+other');
  await publishItem(foreignKey, encodeWorkItem({ key: foreignKey, scenarioText, seed: 4, toolVersion: '0.0.0+other', sweep: 'test' }), 2);
  const failures = await waitFor('three failure reports', 60_000, () => {
    const f = reports.filter((r) => r.failure && ['garbage', 'garbage-1', foreignKey].includes(r.key));
    return f.length >= 3 ? f : null;
  });
  const byKey = Object.fromEntries(failures.map((r) => [r.key, r.failure!.error]));
  expect(byKey.garbage).toMatch(/refused the item at vpmu\.sweep\.work partition 0 offset \d+: the work item is not a SweepWorkItem/);
  expect(byKey['garbage-1']).toMatch(/refused the item at vpmu\.sweep\.work partition 1 offset \d+/);
  expect(byKey[foreignKey]).toContain(`runs tool version ${TOOL_VERSION} but the sweep was planned by 0.0.0+other`);
  // Both workers still run (no crash loop): the sweep below needs them.
  for (const s of clusterState(cwd).services) expect(() => process.kill(s.pid, 0)).not.toThrow();
});

it('a cluster sweep writes the same sweep.json and cache as the local one, both workers take points, and a second sweep is all cache hits', async () => {
  const file = path.join(cwd, 'sweep.yaml');
  fs.writeFileSync(file, scenarioText);
  const axis = ['--vary', 'vms.vm1.vpmu.mode=emulated,passthrough'];
  const localOut = path.join(cwd, 'local');
  const clusterOut = path.join(cwd, 'on-cluster');
  const [local, r] = await Promise.all([
    vpmuAsync(['sweep', file, ...axis, '--out', localOut, '--jobs', '1', '--json'], { cwd, timeoutMs: 300_000 }),
    vpmuAsync(['sweep', file, ...axis, '--out', clusterOut, '--kafka', broker.address, '--json'], { cwd, timeoutMs: 300_000 }),
  ]);
  expect(local.code).toBe(0);
  expect(r.code).toBe(0);
  const stats = JSON.parse(r.stdout) as { simulated: number; cached: number; kafka: string[]; workers: Record<string, number> };
  // 2 points and their 2 baselines (the mode stays in the baseline), all simulated on the workers.
  expect(stats).toMatchObject({ simulated: 4, cached: 0, kafka: [broker.address] });
  // One item in flight per partition, two partitions per worker: each takes two of the four.
  expect(Object.keys(stats.workers)).toEqual(['sweep-worker-1', 'sweep-worker-2']);
  expect(fs.readFileSync(path.join(clusterOut, 'sweep.json'), 'utf8')).toBe(fs.readFileSync(path.join(localOut, 'sweep.json'), 'utf8'));
  // The whole run directory came back (summary, recording, the guest's perf files), byte for byte.
  expect(cacheFiles(path.join(clusterOut, 'cache'))).toEqual(cacheFiles(path.join(localOut, 'cache')));
  const again = await vpmuAsync(['sweep', file, ...axis, '--out', clusterOut, '--kafka', broker.address, '--json'], { cwd, timeoutMs: 300_000 });
  expect(JSON.parse(again.stdout)).toMatchObject({ simulated: 0, cached: 4 });
});

it('a worker killed holding an item leaves it uncommitted: the other worker runs it', async () => {
  // A longer point than above, so the kill lands while it runs.
  const text = scenarioText.replace('duration: 8ms', 'duration: 100ms');
  const key = cacheKey(text, 4, TOOL_VERSION);
  await publishItem(key, encodeWorkItem({ key, scenarioText: text, seed: 4, toolVersion: TOOL_VERSION, sweep: 'test' }), 3);
  const taker = await waitFor('a worker to take the item', 60_000, () => reports.find((r) => r.key === key && r.busy)?.worker);
  await killService(cwd, taker);
  const assembler = new EntryAssembler();
  const entry = await waitFor('the item run to its end by another worker', 120_000, () => {
    for (const r of reports.splice(0)) {
      if (r.key !== key) continue;
      expect(r.failure).toBeFalsy();
      const got = assembler.add(r);
      if (got.kind === 'entry') return got;
    }
    return null;
  });
  expect(entry.worker).not.toBe(taker);
  expect(entry.files.map((f) => f.name)).toEqual(expect.arrayContaining(['summary.json', 'recording.vpmurec']));
});
