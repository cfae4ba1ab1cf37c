// Cluster tier: every message to the aggregator is checked on receipt against its sender's
// report (event count and payload digest, relayed in the next grant; batch-check.ts). Forged
// envelopes on vpmu.events that reuse a real (epoch, source, seq) of a coming epoch, one with a
// garbage batch and one with a batch that decodes as empty, arrive before the genuine ones: they
// are dead-lettered and never recorded, the genuine batches are recorded under the same keys,
// and the run ends with the embedded run's digest (no failed aggregator, no takeover loop).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeEnvelope, encodeEventBatch, pb } from '@vpmu/proto';
import { catchUpFromLog, createKafkaClient, partitionForKey, TOPICS, type KafkaProducer } from '@vpmu/transport';
import { runScenarioText, tempDir } from '../support/run-scenario';
import { clusterDown, clusterState, clusterUp, digestOf, startKcatMock, vpmuAsync, waitForRecordedEpoch, type MockBroker } from '../support/cluster';

jest.setTimeout(300_000);

const FIXTURE = path.join(__dirname, 'fixtures', 'failover.yaml');
const FORGED_EPOCHS = [60, 61];

let broker: MockBroker;
let cwd: string;
let embeddedDigest: string;

beforeAll(async () => {
  broker = await startKcatMock();
  cwd = tempDir('forged-envelope');
  embeddedDigest = (await runScenarioText(fs.readFileSync(FIXTURE, 'utf8'), { outDir: path.join(cwd, 'embedded') })).summary.digest;
});

afterAll(async () => {
  if (cwd) await clusterDown(cwd);
  await broker?.stop();
});

it('dead-letters a garbage batch and an empty one under real (epoch, source, seq) keys, records the genuine ones: exit 0, the embedded digest', async () => {
  await clusterUp(cwd, broker.address, { hostNodes: 2, guestVms: 1, group: 'vpmu-forged-1' });
  const outDir = path.join(cwd, 'cluster-out', 'failover');
  const run = (): ReturnType<typeof vpmuAsync> => vpmuAsync(['run', FIXTURE, '--kafka', broker.address, '--quiet'], { cwd, timeoutMs: 240_000 });
  // A first run puts the keys in the log; the run id and every seq are the same in the next run
  // of the same scenario (a run is a pure function of its inputs).
  const first = await run();
  expect(first.code).toBe(0);
  const client = createKafkaClient({ brokers: [broker.address], clientId: 'forger' });
  const read = await catchUpFromLog({ client, brokers: [broker.address], topics: [TOPICS.events], accept: (_t, env) => !!env.events && env.sourceNode === 'host/h1' && FORGED_EPOCHS.includes(env.epoch), groupPrefix: 'forger' });
  const genuine = FORGED_EPOCHS.map((e) => read.envelopes.find((x) => x.env.epoch === e)!.env);
  expect(genuine.map((g) => g.epoch)).toEqual(FORGED_EPOCHS);

  fs.rmSync(outDir, { recursive: true, force: true });
  const running = run();
  await waitForRecordedEpoch(path.join(outDir, 'recording.vpmurec'), 20);
  const batches = [Buffer.from('this is not an event batch, but its envelope is fine'), encodeEventBatch([], genuine[1].epoch * 1_000_000)];
  const forged = genuine.map((g, i) => encodeEnvelope(pb.Envelope.create({ runId: g.runId, epoch: g.epoch, sourceNode: g.sourceNode, seq: g.seq, destination: g.destination, events: batches[i] })));
  const producer: KafkaProducer = client.producer();
  await producer.connect();
  await producer.sendBatch({ topicMessages: [{ topic: TOPICS.events, messages: forged.map((value) => ({ key: 'host/h1', value, partition: partitionForKey('host/h1', 4) })) }] });
  await producer.disconnect();

  const r = await running;
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(digestOf(r.stdout)).toBe(embeddedDigest);
  const summary = JSON.parse(fs.readFileSync(path.join(outDir, 'summary.json'), 'utf8'));
  expect(summary.deadLetters).toBeGreaterThanOrEqual(2);
  const log = fs.readFileSync(path.resolve(cwd, clusterState(cwd).services.find((x) => x.app === 'aggregator')!.log), 'utf8');
  expect(log).toMatch(/dead-lettered instead of recorded: event batch from host\/h1 \(epoch 60, seq \d+\) differs from what its sender reported/);
  expect(log).toMatch(/dead-lettered instead of recorded: event batch from host\/h1 \(epoch 61, seq \d+\) differs from what its sender reported/);
});
