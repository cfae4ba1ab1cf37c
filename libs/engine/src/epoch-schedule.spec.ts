import type { TimelineEntry } from '@vpmu/scenario';
import { actionsDueIn, checkpointDue, runEpochCount, runEpochWindow } from './epoch-schedule';
import { orderInboundTransfers, type InboundTransfer } from './inbound-transfers';

const MS = 1_000_000;
const clock = { durationNs: 10 * MS + 500_000, epochNs: MS };

function entry(atNs: number, vm: string): TimelineEntry {
  return { atNs, action: { kind: 'setPmu', vm, pmu: 'x' } };
}

describe('epoch schedule', () => {
  it('cuts the run into epochs, the last one clipped to the run, the drain epochs empty at its end', () => {
    expect(runEpochCount(clock)).toBe(11);
    expect(runEpochWindow(clock, 0)).toEqual({ epoch: 0, startNs: 0, endNs: MS });
    expect(runEpochWindow(clock, 10)).toEqual({ epoch: 10, startNs: 10 * MS, endNs: 10 * MS + 500_000 });
    expect(runEpochWindow(clock, 11)).toEqual({ epoch: 11, startNs: clock.durationNs, endNs: clock.durationNs });
    expect(runEpochWindow(clock, 12)).toEqual({ epoch: 12, startNs: clock.durationNs, endNs: clock.durationNs });
  });

  it('an action is due in the half-open window [start, end): at the start yes, at the end no', () => {
    const timeline = [entry(MS - 1, 'before'), entry(MS, 'atStart'), entry(MS + 999_999, 'inside'), entry(2 * MS, 'atEnd')];
    expect(actionsDueIn(timeline, MS, 2 * MS).map((t) => (t.action as { vm: string }).vm)).toEqual(['atStart', 'inside']);
    expect(actionsDueIn(timeline, 2 * MS, 3 * MS).map((t) => (t.action as { vm: string }).vm)).toEqual(['atEnd']);
  });

  it('keeps timeline order among actions due at the same time and none in an empty (drain) window', () => {
    const timeline = [entry(5 * MS, 'b'), entry(5 * MS, 'a')];
    expect(actionsDueIn(timeline, 5 * MS, 6 * MS).map((t) => (t.action as { vm: string }).vm)).toEqual(['b', 'a']);
    expect(actionsDueIn([entry(clock.durationNs, 'end')], clock.durationNs, clock.durationNs)).toEqual([]);
  });

  it('checkpoints every N epochs, never at epoch 0, never when the cadence is off', () => {
    const due = Array.from({ length: 13 }, (_, e) => e).filter((e) => checkpointDue(e, 4));
    expect(due).toEqual([4, 8, 12]);
    expect(checkpointDue(0, 1)).toBe(false);
    expect(checkpointDue(5, 0)).toBe(false);
  });
});

describe('inbound hand-offs', () => {
  const transfer = (vm: string): InboundTransfer['transfer'] => ({ vm, fromHost: 'x', toHost: 'y', pausedAtNs: 0, readyAtNs: 0, bytesSent: 0, guestState: new Uint8Array() });

  it('are applied in canonical message order (sent epoch, source node, seq), whatever the delivery order', () => {
    const delivered: InboundTransfer[] = [
      { key: { sentEpoch: 4, sourceNode: 'host/b', seq: 1 }, transfer: transfer('b1') },
      { key: { sentEpoch: 4, sourceNode: 'host/a', seq: 9 }, transfer: transfer('a9') },
      { key: { sentEpoch: 3, sourceNode: 'host/c', seq: 0 }, transfer: transfer('c0') },
      { key: { sentEpoch: 4, sourceNode: 'host/a', seq: 2 }, transfer: transfer('a2') },
    ];
    const inOrder = orderInboundTransfers(delivered).map((t) => t.vm);
    expect(inOrder).toEqual(['c0', 'a2', 'a9', 'b1']);
    expect(orderInboundTransfers(delivered.slice().reverse()).map((t) => t.vm)).toEqual(inOrder);
    expect(delivered.map((d) => d.transfer.vm)).toEqual(['b1', 'a9', 'c0', 'a2']); // input untouched
  });
});
