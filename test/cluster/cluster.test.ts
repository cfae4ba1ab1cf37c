// Cluster tier: the services as separate OS processes (dist/), started with
// `vpmu cluster up`, against a real Kafka-protocol broker (the librdkafka mock in kcat), driven by
// `vpmu run --kafka`. The property under test (docs/architecture.md): a run is a pure function of
// (scenario, seed, tool version), whatever the process count, placement or broker timing.
//
// Partition counts: the kcat mock has no CreateTopics API and auto-creates every topic with 4
// partitions, so "1 partition" is the placement-equivalent: `--partitions 1` makes every keyed
// message land on partition 0, so one group member owns every node (see ensure-topics.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createKafkaClient, TOPICS, type KafkaProducer } from '@vpmu/transport';
import { encodeEnvelope, pb } from '@vpmu/proto';
import { runScenarioFile, runScenarioText, SCENARIOS_DIR, tempDir } from '../support/run-scenario';
import { clusterDown, clusterUp, digestOf, placementOf, startKcatMock, vpmuAsync, type MockBroker } from '../support/cluster';

jest.setTimeout(180_000);

const FIXTURE = path.join(__dirname, 'fixtures', 'many-hosts.yaml');
const BUILT_IN = fs.readdirSync(SCENARIOS_DIR).filter((f) => f.endsWith('.yaml')).sort();

/** The summary.json the aggregator process wrote, from the "wrote:" lines. */
function summaryPathOf(stdout: string): string {
  const m = /^\s+(\S*summary\.json)$/m.exec(stdout);
  if (!m) throw new Error(`no summary.json in output:\n${stdout}`);
  return path.resolve(cwd, m[1]);
}

let broker: MockBroker;
let cwd: string;
const embedded = new Map<string, string>();
/** Scenario -> the embedded run's guest perf files (path under guest/ -> bytes). */
const embeddedGuestFiles = new Map<string, Map<string, Buffer>>();

/** Every file under dir (relative path -> bytes), sorted; empty when dir does not exist. */
function filesUnder(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!fs.existsSync(dir)) return out;
  for (const rel of (fs.readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const p = path.join(dir, rel);
    if (fs.statSync(p).isFile()) out.set(rel, fs.readFileSync(p));
  }
  return out;
}

beforeAll(async () => {
  broker = await startKcatMock();
  cwd = tempDir('cluster');
  for (const f of BUILT_IN) {
    const outDir = path.join(cwd, 'embedded', f);
    embedded.set(f, (await runScenarioFile(f, { outDir })).summary.digest);
    embeddedGuestFiles.set(f, filesUnder(path.join(outDir, 'guest')));
  }
  embedded.set('many-hosts', (await runScenarioText(fs.readFileSync(FIXTURE, 'utf8'), { outDir: path.join(cwd, 'embedded', 'many-hosts') })).summary.digest);
});

afterAll(async () => {
  if (cwd) await clusterDown(cwd);
  await broker?.stop();
});

describe('cluster: 1 aggregator, 2 host-node and 2 guest-vm processes over Kafka', () => {
  beforeAll(() => clusterUp(cwd, broker.address, { hostNodes: 2, guestVms: 2 }));
  afterAll(() => clusterDown(cwd));

  it('gives every built-in scenario the same digest as the embedded run', async () => {
    for (const f of BUILT_IN) {
      const r = await vpmuAsync(['run', path.join(SCENARIOS_DIR, f), '--kafka', broker.address, '--quiet'], { cwd });
      expect({ f, code: r.code, stderr: r.stderr }).toEqual({ f, code: 0, stderr: '' });
      expect({ f, digest: digestOf(r.stdout) }).toEqual({ f, digest: embedded.get(f) });
      expect(r.stdout).toMatch(/barrier round trip p50 [\d.]+ ms/);
      const summary = JSON.parse(fs.readFileSync(summaryPathOf(r.stdout), 'utf8'));
      expect(summary.digest).toBe(embedded.get(f));
      // The guest's perf files, built by the guest-vm processes: the embedded run's bytes.
      const guestFiles = filesUnder(path.join(path.dirname(summaryPathOf(r.stdout)), 'guest'));
      expect({ f, guestFiles: [...guestFiles.keys()] }).toEqual({ f, guestFiles: [...(embeddedGuestFiles.get(f) ?? new Map()).keys()] });
      for (const [rel, bytes] of guestFiles) expect({ f, rel, same: bytes.equals(embeddedGuestFiles.get(f)!.get(rel)!) }).toEqual({ f, rel, same: true });
    }
    expect([...embeddedGuestFiles.values()].some((m) => [...m.keys()].some((k) => k.endsWith('.perf.data')))).toBe(true);
    // Ten runs back to back: on a busy 2-core machine each takes tens of seconds.
  }, 900_000);

  it('spreads six hosts over both host-node replicas, with VM migration across replicas, and the same digest', async () => {
    const r = await vpmuAsync(['run', FIXTURE, '--kafka', broker.address, '--quiet', '--out', path.join(cwd, 'copied')], { cwd });
    expect(r.code).toBe(0);
    expect(digestOf(r.stdout)).toBe(embedded.get('many-hosts'));
    const placement = placementOf(r.stdout);
    const hostOwners = [...placement.entries()].filter(([, nodes]) => nodes.some((n) => n.startsWith('host/')));
    expect(hostOwners.length).toBe(2);
    // --out copies the aggregator's files (the cluster runs on this machine).
    expect(fs.existsSync(path.join(cwd, 'copied', 'recording.vpmurec'))).toBe(true);
  });

  it('dead-letters garbage on every topic, with the reason, and still ends the run with the same digest', async () => {
    const client = createKafkaClient({ brokers: [broker.address], clientId: 'garbage' });
    const producer: KafkaProducer = client.producer();
    await producer.connect();
    const foreign = encodeEnvelope(pb.Envelope.create({ runId: 'someone-elses-run', epoch: 1, sourceNode: 'host/x', seq: 1, destination: 'vm/vm-emulated', guestOutput: { vm: 'vm-emulated', workloadUnits: 5 } }));
    const run = vpmuAsync(['run', path.join(SCENARIOS_DIR, 'quickstart.yaml'), '--kafka', broker.address, '--quiet'], { cwd });
    let done = false;
    void run.then(() => (done = true));
    let rounds = 0;
    while (!done) {
      await producer.sendBatch({
        topicMessages: [
          ...Object.values(TOPICS).map((topic) => ({ topic, messages: [{ key: `garbage-${rounds}`, value: Buffer.from([0xff, 0xfe, 0x00, 0x13, rounds & 0xff]) }] })),
          { topic: TOPICS.inbox, messages: [{ key: 'vm/vm-emulated', value: foreign }] },
          { topic: TOPICS.events, messages: [{ key: 'host/x', value: foreign }] },
        ],
      });
      rounds++;
      await new Promise((r) => setTimeout(r, 50));
    }
    await producer.disconnect();
    const r = await run;
    expect(r.code).toBe(0);
    expect(rounds).toBeGreaterThan(5);
    expect(digestOf(r.stdout)).toBe(embedded.get('quickstart.yaml'));
    const summary = JSON.parse(fs.readFileSync(summaryPathOf(r.stdout), 'utf8'));
    expect(summary.deadLetters).toBeGreaterThan(0);

    // Read the dead-letter topic back: every topic's garbage is there, with its reason.
    const consumer = client.consumer({ groupId: `deadletter-reader-${Date.now()}`, maxWaitTimeInMs: 50 });
    const seen = new Map<string, string>();
    await consumer.connect();
    await consumer.subscribe({ topics: [TOPICS.deadletter], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const topic = message.headers?.['vpmu-topic']?.toString() ?? 'raw';
        if (!seen.has(topic)) seen.set(topic, message.headers?.['vpmu-reason']?.toString() ?? '');
      },
    });
    const deadline = Date.now() + 20_000;
    while (seen.size < 5 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    await consumer.disconnect();
    expect([...seen.keys()].sort()).toEqual(['raw', TOPICS.control, TOPICS.events, TOPICS.inbox, TOPICS.reports].sort());
    expect(seen.get(TOPICS.control)).toMatch(/\S/);
    expect([...seen.values()].join('\n')).not.toMatch(/at .+:\d+:\d+/); // reasons, not stack traces
  });
});

describe('placement does not change results', () => {
  it('3 host-node replicas over 4 partitions and 1 replica over 1 partition give the embedded digest', async () => {
    await clusterUp(cwd, broker.address, { hostNodes: 3, guestVms: 1, partitions: 4 });
    const three = await vpmuAsync(['run', FIXTURE, '--kafka', broker.address, '--quiet'], { cwd });
    await clusterDown(cwd);
    expect(three.code).toBe(0);
    expect(digestOf(three.stdout)).toBe(embedded.get('many-hosts'));
    expect([...placementOf(three.stdout).values()].filter((nodes) => nodes.some((n) => n.startsWith('host/'))).length).toBe(3);

    await clusterUp(cwd, broker.address, { hostNodes: 1, guestVms: 1, partitions: 1 });
    const one = await vpmuAsync(['run', FIXTURE, '--kafka', broker.address, '--quiet'], { cwd });
    const migration = await vpmuAsync(['run', path.join(SCENARIOS_DIR, 'live-migration.yaml'), '--kafka', broker.address, '--quiet'], { cwd });
    await clusterDown(cwd);
    expect(one.code).toBe(0);
    expect(digestOf(one.stdout)).toBe(embedded.get('many-hosts'));
    expect(placementOf(one.stdout).get('host-node-1')?.filter((n) => n.startsWith('host/'))).toHaveLength(6);
    expect(digestOf(migration.stdout)).toBe(embedded.get('live-migration.yaml'));
  });
});

describe('broker unreachable', () => {
  it('exits 4 within 10 s naming the address, for run and for cluster up', async () => {
    const run = await vpmuAsync(['run', path.join(SCENARIOS_DIR, 'quickstart.yaml'), '--kafka', '127.0.0.1:9'], { cwd, timeoutMs: 20_000 });
    expect(run.code).toBe(4);
    expect(run.stderr.trim()).toBe('error: cannot reach Kafka at 127.0.0.1:9 (connection refused); start a broker or check --kafka.');
    expect(run.wallMs).toBeLessThan(10_000);
    const up = await vpmuAsync(['cluster', 'up', '--kafka', '127.0.0.1:9'], { cwd: tempDir('cluster-down'), timeoutMs: 20_000 });
    expect(up.code).toBe(4);
    expect(up.stderr).toContain('cannot reach Kafka at 127.0.0.1:9 (connection refused)');
    expect(up.wallMs).toBeLessThan(10_000);
  });
});
