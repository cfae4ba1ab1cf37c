import { decodeEnvelope, encodeEnvelope, pb } from '@vpmu/proto';
import type { BusMessage, MessageBus } from '../../bus/message-bus.port';
import { TOPICS } from '../../bus/topics';
import { ClusterMember, type Adoption, type AdoptionPort, type LogReader } from './cluster-member';
import type { LoggedEnvelope } from './log-catch-up';

class RecordingBus implements MessageBus {
  readonly sent: BusMessage[] = [];
  publish(m: BusMessage): void {
    this.sent.push(m);
  }
  async flush(): Promise<void> {}
}

const msg = (topic: string, env: object): BusMessage => ({ topic, key: 'k', value: encodeEnvelope(pb.Envelope.create({ sourceNode: 'conductor', ...env })) });

function member(ready = true): { m: ClusterMember; bus: RecordingBus; delivered: string[]; dispatch: (x: BusMessage) => Promise<void> } {
  const bus = new RecordingBus();
  const delivered: string[] = [];
  const m = new ClusterMember({ service: 'guest-vm', replica: 'g1', bus, partitionCount: 4, staticNodes: [], isReady: () => ready, assignedPartitions: () => [1, 3], log: () => undefined });
  const dispatch = async (x: BusMessage): Promise<void> => {
    const env = decodeEnvelope(x.value);
    delivered.push(`${x.topic}:${env.runStart ? 'start' : env.grant ? 'grant' : env.runEnd ? 'end' : 'msg'}:${env.runId}:${env.seq}`);
  };
  return { m, bus, delivered, dispatch };
}

describe('ClusterMember', () => {
  it('answers a probe with its partitions, only once its consumers are positioned', async () => {
    const notReady = member(false);
    await notReady.m.intercept(msg(TOPICS.control, { runId: 'r', readyProbe: { probeId: 'p1', runId: 'r' } }), notReady.dispatch);
    expect(notReady.bus.sent).toHaveLength(0);
    const { m, bus, delivered, dispatch } = member();
    await m.intercept(msg(TOPICS.control, { runId: 'r', readyProbe: { probeId: 'p1', runId: 'r' } }), dispatch);
    expect(delivered).toEqual([]);
    expect(bus.sent).toHaveLength(1);
    expect(bus.sent[0].topic).toBe(TOPICS.reports);
    expect(decodeEnvelope(bus.sent[0].value).serviceReady).toEqual(expect.objectContaining({ probeId: 'p1', replica: 'g1', partitions: [1, 3], partitionCount: 4 }));
  });

  it('holds messages of the announced run that overtake its RunStart, then releases them after it', async () => {
    const { m, delivered, dispatch } = member();
    await m.intercept(msg(TOPICS.control, { runId: 'r', readyProbe: { probeId: 'p1', runId: 'r' } }), dispatch);
    await m.intercept(msg(TOPICS.inbox, { runId: 'r', seq: 7, guestOutput: {} }), dispatch);
    await m.intercept(msg(TOPICS.inbox, { runId: 'other', seq: 8, guestOutput: {} }), dispatch);
    expect(delivered).toEqual(['vpmu.inbox:msg:other:8']);
    await m.intercept(msg(TOPICS.control, { runId: 'r', seq: 0, sourceNode: 'conductor', runStart: { runId: 'r' } }), dispatch);
    expect(delivered).toEqual(['vpmu.inbox:msg:other:8', 'vpmu.control:start:r:0', 'vpmu.inbox:msg:r:7']);
  });

  it('drops a duplicate RunStart or grant, and accepts the same ids again from the next conductor', async () => {
    const { m, delivered, dispatch } = member();
    const start = msg(TOPICS.control, { runId: 'r', seq: 0, sourceNode: 'conductor', runStart: { runId: 'r' } });
    const grant = msg(TOPICS.control, { runId: 'r', seq: 1, sourceNode: 'conductor', grant: { epoch: 0 } });
    for (const x of [start, grant, start, grant]) await m.intercept(x, dispatch);
    expect(delivered).toEqual(['vpmu.control:start:r:0', 'vpmu.control:grant:r:1']);
    await m.intercept(msg(TOPICS.control, { runId: 'r', readyProbe: { probeId: 'p2', runId: 'r' } }), dispatch);
    await m.intercept(start, dispatch);
    expect(delivered).toHaveLength(3);
  });

  it('passes undecodable messages to the handler, which dead-letters them', async () => {
    const { m, dispatch } = member();
    const seen: BusMessage[] = [];
    await m.intercept({ topic: TOPICS.inbox, key: 'x', value: Buffer.from([0xff, 0xff]) }, async (x) => void seen.push(x));
    expect(seen).toHaveLength(1);
    void dispatch;
  });

  it('answers a failover probe of its current run from within the run, keeping its state', async () => {
    const { m, bus, delivered, dispatch } = member();
    const grant = msg(TOPICS.control, { runId: 'r', seq: 1, sourceNode: 'conductor', grant: { epoch: 0 } });
    await m.intercept(msg(TOPICS.control, { runId: 'r', readyProbe: { probeId: 'p1', runId: 'r' } }), dispatch);
    await m.intercept(msg(TOPICS.control, { runId: 'r', seq: 0, sourceNode: 'conductor', runStart: { runId: 'r' } }), dispatch);
    await m.intercept(grant, dispatch);
    await m.intercept(msg(TOPICS.control, { runId: 'r', readyProbe: { probeId: 'p2', runId: 'r', failover: true } }), dispatch);
    await m.intercept(grant, dispatch); // still a duplicate: the run state was kept
    expect(delivered).toEqual(['vpmu.control:start:r:0', 'vpmu.control:grant:r:1']);
    expect(bus.sent.map((x) => decodeEnvelope(x.value).serviceReady?.inRun)).toEqual(['', 'r']);
  });
});

describe('ClusterMember takeover', () => {
  const at = (topic: string, partition: number, offset: number, env: object): LoggedEnvelope => ({ topic, partition, offset, env: pb.Envelope.create({ sourceNode: 'conductor', ...env }) });

  it('releases what went elsewhere, reads this run back from the log and adopts, holding live deliveries until then', async () => {
    const bus = new RecordingBus();
    const delivered: string[] = [];
    const dispatch = async (x: BusMessage): Promise<void> => void delivered.push(`${x.topic}:${decodeEnvelope(x.value).seq}`);
    const owned = new Set(['vm/a', 'vm/b']);
    const adoptions: Adoption[] = [];
    const port: AdoptionPort = { ownedNodes: () => [...owned].sort(), release: (n) => n.forEach((x) => owned.delete(x)), adopt: (a) => void adoptions.push(a) };
    let finishRead: () => void = () => undefined;
    const reads: string[][] = [];
    const readLog: LogReader = async (topics, accept) => {
      reads.push(topics);
      await new Promise<void>((res) => (finishRead = res));
      // An earlier run with the same id (offsets 1..3), then this run (RunStart at offset 10).
      const log = [
        at(TOPICS.control, 0, 1, { runId: 'r', seq: 0, runStart: { runId: 'r', scenarioText: 'old' } }),
        at(TOPICS.control, 0, 2, { runId: 'r', seq: 1, grant: { epoch: 0 } }),
        at(TOPICS.inbox, 2, 3, { runId: 'r', epoch: 0, seq: 5, sourceNode: 'host/h', destination: 'vm/c', guestOutput: {} }),
        at(TOPICS.control, 0, 10, { runId: 'r', seq: 0, runStart: { runId: 'r', scenarioText: 'new', logStart: [{ topic: TOPICS.inbox, partition: 2, offset: 7 }] } }),
        at(TOPICS.control, 0, 11, { runId: 'r', seq: 1, grant: { epoch: 0 } }),
        at(TOPICS.control, 0, 12, { runId: 'r', seq: 2, grant: { epoch: 1 } }),
        at(TOPICS.inbox, 2, 8, { runId: 'r', epoch: 0, seq: 5, sourceNode: 'host/h', destination: 'vm/c', guestOutput: {} }),
        at(TOPICS.inbox, 2, 9, { runId: 'r', epoch: 0, seq: 6, sourceNode: 'host/h', destination: 'vm/a', guestOutput: {} }),
        at(TOPICS.inbox, 2, 9, { runId: 'other', epoch: 0, seq: 7, sourceNode: 'host/h', destination: 'vm/c', guestOutput: {} }),
      ];
      return log.filter((e) => accept(e.topic, e.env));
    };
    const m = new ClusterMember({ service: 'guest-vm', replica: 'g1', bus, partitionCount: 4, staticNodes: [], isReady: () => true, assignedPartitions: () => [2], log: () => undefined, adoption: () => port, readLog });
    await m.intercept(msg(TOPICS.control, { runId: 'r', readyProbe: { probeId: 'p1', runId: 'r' } }), dispatch);
    await m.intercept(msg(TOPICS.control, { runId: 'r', seq: 0, sourceNode: 'conductor', runStart: { runId: 'r' } }), dispatch);
    const assignments = [
      { node: 'vm/a', replica: 'g2' },
      { node: 'vm/b', replica: 'g1' },
      { node: 'vm/c', replica: 'g1' },
    ];
    await m.intercept(msg(TOPICS.control, { runId: 'r', seq: 3, sourceNode: 'conductor', takeover: { runId: 'r', epoch: 1, assignments, adopt: ['vm/a', 'vm/c'] } }), dispatch);
    expect(owned).toEqual(new Set(['vm/b'])); // vm/a went to g2 at once
    expect(reads).toEqual([[TOPICS.control, TOPICS.inbox]]);
    await m.intercept(msg(TOPICS.inbox, { runId: 'r', seq: 40, guestOutput: {} }), dispatch); // held while reading
    await m.intercept(msg(TOPICS.inbox, { runId: 'r', seq: 41, guestOutput: {} }), dispatch);
    expect(delivered).toEqual(['vpmu.control:0']);
    finishRead();
    await m.idle;
    expect(adoptions).toHaveLength(1);
    const a = adoptions[0];
    expect({ nodes: a.nodes, inRun: a.inRun, scenario: a.runStart.scenarioText, grants: a.grants.map((g) => g.epoch) }).toEqual({ nodes: ['vm/c'], inRun: true, scenario: 'new', grants: [0, 1] });
    expect(a.envelopes.map((e) => `${e.destination}:${e.seq}`)).toEqual(['vm/c:5']); // offset 8 only: 3 is the earlier run's
    expect(delivered).toEqual(['vpmu.control:0', 'vpmu.inbox:40', 'vpmu.inbox:41']);
    await m.intercept(msg(TOPICS.inbox, { runId: 'r', seq: 42, guestOutput: {} }), dispatch); // live again
    expect(delivered).toHaveLength(4);
  });
});
