import { decodeEnvelope, pb, type vpmu } from '@vpmu/proto';
import { EpochParticipants } from './epoch-participants';
import type { BusMessage, MessageBus } from '../bus/message-bus.port';
import { TOPICS } from '../bus/topics';

class RecordingBus implements MessageBus {
  readonly sent: BusMessage[] = [];
  publish(m: BusMessage): void {
    this.sent.push(m);
  }
  async flush(): Promise<void> {}
}

const grant = (epoch: number, count: number): vpmu.v1.IEpochGrant => ({ epoch, startNs: epoch * 10, endNs: epoch * 10 + 10, expected: [{ node: 'n', count }] });
const msg = (epoch: number, seq: number): vpmu.v1.Envelope => pb.Envelope.create({ runId: 'r', epoch, sourceNode: 'src', seq, destination: 'n', guestOutput: { workloadUnits: epoch * 100 + seq } });

/** A node that sums what it receives and sends one message per epoch: its state is the sum. */
function world(bus: MessageBus): { parts: EpochParticipants<{ sum: number }>; steps: { epoch: number; inbound: number[]; resumed: boolean }[] } {
  const steps: { epoch: number; inbound: number[]; resumed: boolean }[] = [];
  const parts = new EpochParticipants<{ sum: number }>('r', bus, (p, g, inbound) => {
    steps.push({ epoch: g.epoch ?? 0, inbound: inbound.map((e) => Number(e.guestOutput?.workloadUnits)), resumed: p.resumedAt === g.epoch });
    for (const e of inbound) p.state.sum += Number(e.guestOutput?.workloadUnits);
    p.endpoint.send(TOPICS.inbox, 'other', g.epoch ?? 0, { guestOutput: { workloadUnits: p.state.sum } });
    return { events: 0 };
  });
  return { parts, steps };
}

describe('EpochParticipants.restore (failover)', () => {
  it('re-runs a node from a checkpoint with the same output, ignoring what the checkpoint already holds', () => {
    // The original: epochs 0..3, two messages sent to it in each of epochs 0..2.
    const liveBus = new RecordingBus();
    const live = world(liveBus);
    live.parts.add('n', { sum: 0 });
    const inbound = [0, 1, 2].flatMap((e) => [msg(e, 2 * e), msg(e, 2 * e + 1)]);
    for (const m of inbound) live.parts.onMessage(m);
    for (const e of [0, 1, 2, 3]) live.parts.onGrant(grant(e, e === 0 ? 0 : 2));
    const sent = (bus: RecordingBus): string[] => bus.sent.filter((m) => m.topic === TOPICS.inbox).map((m) => m.value.toString('hex'));
    expect(live.steps.map((s) => s.epoch)).toEqual([0, 1, 2, 3]);

    // A checkpoint at the start of epoch 2 holds the messages applied at 2 (those sent in 1):
    // sum = 0+1 (sent in 0) + 102+103 (sent in 1). Its seq is the node's first of epoch 2.
    const seqAt2 = decodeEnvelope(liveBus.sent.filter((m) => m.topic === TOPICS.inbox)[2].value).seq;
    const bus = new RecordingBus();
    const restored = world(bus);
    restored.parts.restore('n', { sum: 0 + 1 + 102 + 103 }, { epoch: 2, seq: seqAt2, inboundApplied: true });
    for (const m of [...inbound].reverse()) restored.parts.onMessage(m); // the whole log, any order, twice
    for (const m of inbound) restored.parts.onMessage(m);
    for (const e of [0, 1, 2, 3]) restored.parts.onGrant(grant(e, e === 0 ? 0 : 2));
    expect(restored.steps).toEqual([
      { epoch: 2, inbound: [], resumed: true },
      { epoch: 3, inbound: [204, 205], resumed: false },
    ]);
    // What it sends for epochs 2 and 3 is byte for byte what the original sent.
    expect(sent(bus)).toEqual(sent(liveBus).slice(2));
    expect(restored.parts.get('n')!.endpoint.old).toBe(8); // sent in epochs 0 and 1, twice each
  });

  it('rebuilds a node from the start of the run, and forgets a released one', () => {
    const bus = new RecordingBus();
    const w = world(bus);
    w.parts.restore('n', { sum: 0 }, { epoch: 0, seq: 0, inboundApplied: false });
    w.parts.onMessage(msg(0, 0));
    for (const e of [0, 1]) w.parts.onGrant(grant(e, e === 0 ? 0 : 1));
    expect(w.steps.map((s) => [s.epoch, s.inbound])).toEqual([
      [0, []],
      [1, [0]],
    ]);
    expect(w.parts.remove('n')).toBe(true);
    w.parts.onGrant(grant(2, 0));
    expect(w.steps).toHaveLength(2);
  });
});

describe('EpochParticipants with lookahead windows', () => {
  const windowGrant = (epoch: number, endEpoch: number, count: number): vpmu.v1.IEpochGrant => ({ epoch, endEpoch, startNs: epoch * 10, endNs: endEpoch * 10, expected: [{ node: 'n', count }] });

  function windowed(bus: MessageBus): { parts: EpochParticipants<null>; runs: { from: number; epochs: [number, number]; inbound: number[] }[] } {
    const runs: { from: number; epochs: [number, number]; inbound: number[] }[] = [];
    const parts = new EpochParticipants<null>('r', bus, (_p, g, inbound, fromEpoch) => {
      runs.push({ from: fromEpoch, epochs: [g.epoch ?? 0, g.endEpoch ?? 0], inbound: inbound.map((e) => e.epoch) });
      return { events: 2, nextSendNs: 1234 };
    });
    return { parts, runs };
  }

  it('runs a window once, with every message sent during the previous window, and reports it once', () => {
    const bus = new RecordingBus();
    const w = windowed(bus);
    w.parts.add('n', null);
    w.parts.onGrant(windowGrant(0, 3, 0));
    // Sent during [0, 3): in epochs 0 and 2; the grant of [3, 5) announces both.
    w.parts.onGrant(windowGrant(3, 5, 2));
    expect(w.runs).toEqual([{ from: 0, epochs: [0, 3], inbound: [] }]);
    w.parts.onMessage(msg(2, 1));
    expect(w.runs).toHaveLength(1); // one of two: not yet
    w.parts.onMessage(msg(0, 0));
    expect(w.runs[1]).toEqual({ from: 3, epochs: [3, 5], inbound: [0, 2] });
    const reports = bus.sent.filter((m) => m.topic === TOPICS.reports).map((m) => decodeEnvelope(m.value).report!);
    expect(reports.map((r) => [r.epoch, r.endEpoch, r.eventCount, Number(r.nextSendNs)])).toEqual([
      [0, 3, 2, 1234],
      [3, 5, 2, 1234],
    ]);
  });

  it('a node restored inside a window runs the rest of it, without inbound messages', () => {
    const bus = new RecordingBus();
    const w = windowed(bus);
    w.parts.restore('n', null, { epoch: 4, seq: 0, inboundApplied: true });
    w.parts.onGrant(windowGrant(0, 3, 0));
    w.parts.onGrant(windowGrant(3, 6, 1));
    w.parts.onMessage(msg(2, 0)); // applied at 3: the checkpoint of 4 holds it
    w.parts.onGrant(windowGrant(6, 7, 0));
    expect(w.runs).toEqual([
      { from: 4, epochs: [3, 6], inbound: [] },
      { from: 6, epochs: [6, 7], inbound: [] },
    ]);
  });
});

describe('EpochParticipants with steps that yield (a host-node inside a long window)', () => {
  /** Like world(), but each step waits on the event loop before it finishes. */
  function yieldingWorld(bus: MessageBus, fail?: number): { parts: EpochParticipants<{ sum: number }>; steps: number[]; overlapping: boolean } {
    const out = { parts: null as unknown as EpochParticipants<{ sum: number }>, steps: [] as number[], overlapping: false };
    let inStep = false;
    out.parts = new EpochParticipants<{ sum: number }>('r', bus, async (p, g, inbound) => {
      if (inStep) out.overlapping = true;
      inStep = true;
      await new Promise((resolve) => setImmediate(resolve));
      inStep = false;
      if (g.epoch === fail) throw new Error(`step ${fail} failed`);
      for (const e of inbound) p.state.sum += Number(e.guestOutput?.workloadUnits);
      out.steps.push(g.epoch ?? 0);
      p.endpoint.send(TOPICS.inbox, 'other', g.epoch ?? 0, { guestOutput: { workloadUnits: p.state.sum } });
      return { events: 0 };
    });
    return out;
  }

  it('runs the windows in order, never two at once, and sends what synchronous steps send', async () => {
    const syncBus = new RecordingBus();
    const sync = world(syncBus);
    sync.parts.add('n', { sum: 0 });
    const bus = new RecordingBus();
    const y = yieldingWorld(bus);
    y.parts.add('n', { sum: 0 });
    const inbound = [0, 1, 2].flatMap((e) => [msg(e, 2 * e), msg(e, 2 * e + 1)]);
    for (const parts of [sync.parts, y.parts]) {
      // Grants and messages arrive while a step is waiting: they are taken up when it ends.
      for (const e of [0, 1, 2, 3]) parts.onGrant(grant(e, e === 0 ? 0 : 2));
      for (const m of inbound) parts.onMessage(m);
    }
    await y.parts.settled();
    expect(y.steps).toEqual([0, 1, 2, 3]);
    expect(y.overlapping).toBe(false);
    const sent = (b: RecordingBus): string[] => b.sent.map((m) => m.value.toString('hex'));
    expect(sent(bus)).toEqual(sent(syncBus));
  });

  it('a node released while its step waits reports nothing for it', async () => {
    const bus = new RecordingBus();
    const y = yieldingWorld(bus);
    y.parts.add('n', { sum: 0 });
    y.parts.onGrant(grant(0, 0));
    y.parts.remove('n');
    await y.parts.settled();
    expect(bus.sent.filter((m) => m.topic === TOPICS.reports)).toEqual([]);
  });

  it('a failed step rejects settled() with its error, and the next delivery runs again', async () => {
    const y = yieldingWorld(new RecordingBus(), 1);
    y.parts.add('n', { sum: 0 });
    y.parts.onGrant(grant(0, 0));
    y.parts.onGrant(grant(1, 0));
    await expect(y.parts.settled()).rejects.toThrow('step 1 failed');
    y.parts.onGrant(grant(2, 0)); // epoch 1 is still unrun: it is tried again, and fails again
    await expect(y.parts.settled()).rejects.toThrow('step 1 failed');
    expect(y.steps).toEqual([0]);
  });
});
