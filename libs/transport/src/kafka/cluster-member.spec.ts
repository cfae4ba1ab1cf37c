import { decodeEnvelope, encodeEnvelope, pb } from '@vpmu/proto';
import type { BusMessage, MessageBus } from '../message-bus.port';
import { TOPICS } from '../topics';
import { ClusterMember } from './cluster-member';

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
});
