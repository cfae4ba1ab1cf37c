// readRunFromKafka against an in-memory stand-in for the kafkajs client: partitions with offsets,
// a consumer that delivers everything from the beginning (and later appends), an admin that
// answers high watermarks. The cluster tier (test/cluster/replay-kafka.test.ts) runs it against
// a real broker and a real run.
import { encodeEnvelope, type vpmu } from '@vpmu/proto';
import { TOPICS } from '../../bus/topics';
import type { KafkaClient, KafkaConsumer, KafkaEachMessagePayload } from '../client/kafka-client.types';
import { KafkaRunIncompleteError, KafkaRunNotFoundError, readRunFromKafka } from './kafka-run.reader';

class FakeLog {
  readonly partitions = new Map<string, Buffer[][]>();
  private listener: ((p: KafkaEachMessagePayload) => Promise<void>) | null = null;
  private delivered = new Map<string, number>();

  constructor(partitions = 2) {
    for (const t of [TOPICS.control, TOPICS.events, TOPICS.reports]) this.partitions.set(t, Array.from({ length: partitions }, () => []));
  }

  append(topic: string, partition: number, env: vpmu.v1.IEnvelope | Buffer): void {
    this.partitions.get(topic)![partition].push(Buffer.isBuffer(env) ? env : encodeEnvelope(env));
    void this.pump();
  }

  client(): KafkaClient {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const log = this;
    const consumer = {
      events: { GROUP_JOIN: 'join', FETCH_START: 'fs', FETCH: 'f', REBALANCING: 'r', CRASH: 'crash', DISCONNECT: 'd', STOP: 's' },
      connect: async () => undefined,
      disconnect: async () => {
        log.listener = null;
      },
      subscribe: async () => undefined,
      run: async (c: { eachMessage: (p: KafkaEachMessagePayload) => Promise<void> }) => {
        log.listener = c.eachMessage;
        void log.pump();
      },
      stop: async () => undefined,
      on: () => () => undefined,
    } as unknown as KafkaConsumer;
    return {
      producer: () => {
        throw new Error('not used');
      },
      consumer: () => consumer,
      admin: () => ({
        connect: async () => undefined,
        disconnect: async () => undefined,
        listTopics: async () => [...log.partitions.keys()],
        createTopics: async () => true,
        fetchTopicMetadata: async () => ({ topics: [] }),
        fetchTopicOffsets: async (topic: string) => log.partitions.get(topic)!.map((msgs, partition) => ({ partition, low: '0', high: String(msgs.length) })),
      }),
    };
  }

  private pumping = false;
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let progressed = true; progressed && this.listener; ) {
        progressed = false;
        for (const [topic, parts] of this.partitions) {
          for (let partition = 0; partition < parts.length; partition++) {
            const k = `${topic}/${partition}`;
            const next = this.delivered.get(k) ?? 0;
            if (next >= parts[partition].length || !this.listener) continue;
            this.delivered.set(k, next + 1);
            progressed = true;
            await this.listener({ topic, partition, message: { key: null, value: parts[partition][next], offset: String(next) } });
          }
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}

const RUN = 'run-a';
const start = (runId: string, toolVersion = '1'): vpmu.v1.IEnvelope => ({ runId, sourceNode: 'conductor', runStart: { runId, scenarioText: 'x', seed: 1, toolVersion } });
const end = (runId: string, reason = 'completed'): vpmu.v1.IEnvelope => ({ runId, sourceNode: 'conductor', runEnd: { runId, finalEpoch: 3, reason } });
const batch = (runId: string, epoch: number, node: string, seq: number, byte: number): vpmu.v1.IEnvelope => ({ runId, epoch, sourceNode: node, seq, destination: 'aggregator', events: Uint8Array.from([byte]) });

function read(log: FakeLog, runId = RUN, timeoutMs = 2000): ReturnType<typeof readRunFromKafka> {
  return readRunFromKafka({ client: log.client(), brokers: ['b:1'], runId, timeoutMs });
}

describe('readRunFromKafka', () => {
  it('keeps only the run, drops duplicates by (epoch, source, seq), regroups batches by epoch in node order', async () => {
    const log = new FakeLog();
    log.append(TOPICS.control, 0, start('other'));
    log.append(TOPICS.control, 0, start(RUN));
    log.append(TOPICS.events, 1, batch(RUN, 1, 'host/b', 4, 0xb1));
    log.append(TOPICS.events, 0, batch(RUN, 0, 'host/a', 0, 0xa0));
    log.append(TOPICS.events, 0, batch(RUN, 1, 'host/a', 1, 0xa1));
    log.append(TOPICS.events, 0, batch(RUN, 1, 'host/a', 1, 0xff)); // redelivery: same key, other bytes
    log.append(TOPICS.events, 1, batch('other', 1, 'host/b', 4, 0x00));
    log.append(TOPICS.events, 1, Buffer.from([0xff, 0xfe, 0x13])); // garbage
    log.append(TOPICS.events, 1, { runId: RUN, epoch: 1, sourceNode: 'vm/v', seq: 2, guestOutput: { vm: 'v', workloadUnits: 7, guestNs: 9 } });
    log.append(TOPICS.reports, 0, { runId: RUN, sourceNode: 'host/a', report: { epoch: 1, node: 'host/a', eventCount: 1 } });
    log.append(TOPICS.reports, 0, { runId: RUN, sourceNode: 'host/a', report: { epoch: 1, node: 'host/a', eventCount: 1 } });
    log.append(TOPICS.control, 0, end(RUN));
    const run = await read(log);
    expect(run.reports).toEqual([{ epoch: 1, endEpoch: 2, node: 'host/a', eventCount: 1 }]);
    expect(run.epochs.map((e) => ({ epoch: e.epoch, frames: e.frames.map((f) => `${f.node}:${f.batch[0].toString(16)}`) }))).toEqual([
      { epoch: 0, frames: ['host/a:a0'] },
      { epoch: 1, frames: ['host/a:a1', 'host/b:b1'] },
    ]);
    expect(run.guestOutputs).toEqual([{ epoch: 1, node: 'vm/v', seq: 2, vm: 'v', workloadUnits: 7, guestNs: 9 }]);
    expect(run.stats).toMatchObject({ duplicates: 1, undecodable: 1, kept: 4 });
    expect(run.start.runId).toBe(RUN);
    expect(run.end.reason).toBe('completed');
  });

  it('an unknown run id lists the runs found', async () => {
    const log = new FakeLog();
    log.append(TOPICS.control, 0, start('r1'));
    log.append(TOPICS.control, 1, start('r2'));
    const err = await read(log, 'nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KafkaRunNotFoundError);
    expect((err as Error).message).toBe('no run nope on Kafka at b:1; the runs found on vpmu.control are: r1, r2.');
  });

  it('waits for a run still going: a later RunEnd raises the events targets to what was produced before it', async () => {
    const log = new FakeLog();
    log.append(TOPICS.control, 0, start(RUN));
    log.append(TOPICS.events, 0, batch(RUN, 0, 'host/a', 0, 1));
    const reading = read(log, RUN, 5000);
    await new Promise((r) => setTimeout(r, 50));
    log.append(TOPICS.events, 1, batch(RUN, 1, 'host/b', 0, 2));
    log.append(TOPICS.control, 0, end(RUN));
    const run = await reading;
    expect(run.epochs.map((e) => e.epoch)).toEqual([0, 1]);
  });

  it('a run without RunEnd, or aborted, is incomplete', async () => {
    const going = new FakeLog();
    going.append(TOPICS.control, 0, start(RUN));
    await expect(read(going, RUN, 300)).rejects.toThrow(new KafkaRunIncompleteError(`run ${RUN} has no RunEnd on vpmu.control after 0 s: it is still running or its conductor stopped; wait for it to finish, or replay what the aggregator recorded.`, true));
    const aborted = new FakeLog();
    aborted.append(TOPICS.control, 0, start(RUN));
    aborted.append(TOPICS.control, 0, end(RUN, 'host-node h1 stopped answering'));
    await expect(read(aborted)).rejects.toThrow(`run ${RUN} did not complete (host-node h1 stopped answering); there is no whole run to replay.`);
  });
});
