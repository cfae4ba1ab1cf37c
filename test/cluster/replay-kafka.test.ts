// `vpmu replay --kafka BROKERS --run ID` against a real cluster run (separate service processes on
// the kcat mock broker): the events read back from vpmu.events re-simulate to the same run
// (--verify exit 0, the cluster's digest), the aggregator's recording of that run passes the
// embedded replayer, duplicates on the topic are dropped, a frame planted on the topic is named
// as the divergence (exit 3), an unknown run id is exit 2 with the ids found, no broker is exit 4.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createKafkaClient, partitionForKey, readRunFromKafka, TOPICS, type KafkaProducer } from '@vpmu/transport';
import { encodeEnvelope, pb } from '@vpmu/proto';
import { SCENARIOS_DIR, tempDir } from '../support/run-scenario';
import { clusterDown, clusterUp, digestOf, startKcatMock, vpmuAsync, type MockBroker } from '../support/cluster';

jest.setTimeout(120_000);

// Two hosts and a migration between them: batches from several sources (keys), spread over the
// partitions of vpmu.events, read back in one canonical order. One replica per service keeps the
// suite light on a 2-core machine (placement does not change results: cluster.test.ts).
const SCENARIO = path.join(SCENARIOS_DIR, 'live-migration.yaml');

let broker: MockBroker;
let cwd: string;
let runId: string;
let digest: string;
let recording: string;

beforeAll(async () => {
  broker = await startKcatMock();
  cwd = tempDir('replay-kafka');
  await clusterUp(cwd, broker.address, { hostNodes: 1, guestVms: 1 });
  const r = await vpmuAsync(['run', SCENARIO, '--kafka', broker.address, '--quiet'], { cwd });
  if (r.code !== 0) throw new Error(`cluster run failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  digest = digestOf(r.stdout);
  recording = path.resolve(cwd, /^\s+(\S*recording\.vpmurec)$/m.exec(r.stdout)![1]);
  runId = JSON.parse(fs.readFileSync(path.join(path.dirname(recording), 'summary.json'), 'utf8')).run.id;
});

afterAll(async () => {
  if (cwd) await clusterDown(cwd);
  await broker?.stop();
});

describe('vpmu replay --kafka', () => {
  it('--verify re-simulates the run read from the topics: identical, with the cluster run\'s digest', async () => {
    const r = await vpmuAsync(['replay', '--kafka', broker.address, '--run', runId, '--verify', '--quiet'], { cwd });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(new RegExp(`^identical: 200 epochs, \\d+ events, digest ${digest} \\(read from Kafka`));
    expect(r.stdout).toContain('0 duplicates dropped');
  });

  it('the aggregator\'s recording of the cluster run passes the embedded replayer', async () => {
    const r = await vpmuAsync(['replay', recording, '--verify', '--quiet'], { cwd });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    // The content digest of the cluster run is the embedded run's, pinned in the golden file.
    const golden = JSON.parse(fs.readFileSync(path.join(SCENARIOS_DIR, '..', 'test', 'golden', 'content-digests.json'), 'utf8'));
    expect(r.stdout).toMatch(new RegExp(`^identical: 200 epochs, \\d+ events, digest ${digest}, content digest ${golden['scenarios/live-migration.yaml'].contentDigest} `));
  });

  it('streams the run to the viewers from Kafka (report.html, trace.perfetto.json)', async () => {
    const out = path.join(cwd, 'from-kafka');
    const r = await vpmuAsync(['replay', '--kafka', broker.address, '--run', runId, '--out', out, '--quiet'], { cwd });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`digest ${digest}.`);
    expect(fs.readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('<html');
    expect(JSON.parse(fs.readFileSync(path.join(out, 'trace.perfetto.json'), 'utf8')).traceEvents.length).toBeGreaterThan(100);
  });

  it('drops a redelivered batch by (epoch, source, seq), and names a planted batch as the divergence (exit 3)', async () => {
    const client = createKafkaClient({ brokers: [broker.address], clientId: 'replay-kafka-test' });
    const run = await readRunFromKafka({ client, brokers: [broker.address], runId, timeoutMs: 30_000 });
    expect(run.epochs.length).toBe(200);
    const real = run.epochs[5].frames[0];
    const producer: KafkaProducer = client.producer();
    await producer.connect();
    const send = (node: string, env: object): Promise<unknown> =>
      producer.sendBatch({ topicMessages: [{ topic: TOPICS.events, messages: [{ key: node, value: encodeEnvelope(pb.Envelope.create(env)), partition: partitionForKey(node, 4) }] }] });
    try {
      // A redelivery: same (epoch, source, seq) as a real batch, later on the same partition.
      await send(real.node, { runId, epoch: 5, sourceNode: real.node, seq: real.seq, destination: 'aggregator', events: new Uint8Array(0) });
      const again = await readRunFromKafka({ client, brokers: [broker.address], runId, timeoutMs: 30_000 });
      expect(again.stats.duplicates).toBe(1);
      expect(again.epochs[5].frames).toEqual(run.epochs[5].frames);

      // A batch the run never produced: a node that does not exist, in epoch 7.
      await send('host/planted', { runId, epoch: 7, sourceNode: 'host/planted', seq: 0, destination: 'aggregator', events: real.batch });
      const planted = await vpmuAsync(['replay', '--kafka', broker.address, '--run', runId, '--verify', '--quiet'], { cwd });
      expect(planted.code).toBe(3);
      expect(planted.stdout).toMatch(/^replay diverged at epoch 7, node host\/planted, event #0 .*\(missing-frame\)/);
      expect(planted.stdout).toMatch(/recorded digest [0-9a-f]{64} \(from Kafka\)/);
      expect(planted.stdout).toContain(`replayed digest ${digest}`);
    } finally {
      await producer.disconnect();
    }
  });

  it('an unknown run id is exit 2 with the run ids found; no broker is exit 4 naming the address', async () => {
    const unknown = await vpmuAsync(['replay', '--kafka', broker.address, '--run', 'no-such-run', '--verify', '--quiet'], { cwd });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe(`error: no run no-such-run on Kafka at ${broker.address}; the runs found on vpmu.control are: ${runId}.`);
    const down = await vpmuAsync(['replay', '--kafka', '127.0.0.1:9', '--run', runId, '--verify'], { cwd, timeoutMs: 20_000 });
    expect(down.code).toBe(4);
    expect(down.stderr.trim()).toBe('error: cannot reach Kafka at 127.0.0.1:9 (connection refused); start a broker or check --kafka.');
    expect(down.wallMs).toBeLessThan(10_000);
  });
});
