import type { TimelineEntry } from '@vpmu/scenario';
import { MIGRATION_SETUP_NS } from '@vpmu/host';
import { actionsDueIn, checkpointDue, DEFAULT_MAX_WINDOW_EPOCHS, lookaheadWindowEnd, MAX_WINDOW_HOST_EPOCHS, runEpochCount, runEpochWindow, timelineHandOffBoundNs, windowEpochCap } from './epoch-schedule';
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

// The window rule follows the per-epoch protocol (docs/architecture.md "The epoch protocol"): a
// message sent in epoch x is applied at the start of x + 1, so one grant may run through the
// epoch of the earliest possible send and must stop there.
describe('lookahead windows', () => {
  const long = { durationNs: 500 * MS, epochNs: MS };
  const migrate = (atNs: number): TimelineEntry => ({ atNs, action: { kind: 'migrate', vm: 'v', to: 'h2', bandwidthBytesPerSec: 1e9, maxDowntimeNs: MS } });

  it('runs through the epoch of the earliest send, and no further', () => {
    // A send at 7.5 ms happens in epoch 7, applied at 8: the window from 2 is [2, 8).
    expect(lookaheadWindowEnd(long, 2, 7.5 * MS)).toBe(8);
    // A send exactly at an epoch's start belongs to that epoch.
    expect(lookaheadWindowEnd(long, 2, 7 * MS)).toBe(8);
    expect(lookaheadWindowEnd(long, 2, 7 * MS - 1)).toBe(7);
  });

  it('covers at least one epoch, even when a send is possible in it or already overdue', () => {
    expect(lookaheadWindowEnd(long, 5, 5 * MS)).toBe(6);
    expect(lookaheadWindowEnd(long, 5, 0)).toBe(6);
  });

  it('is capped by maxEpochs (default DEFAULT_MAX_WINDOW_EPOCHS) and 1 turns windows off', () => {
    expect(lookaheadWindowEnd(long, 0, Infinity)).toBe(DEFAULT_MAX_WINDOW_EPOCHS);
    expect(lookaheadWindowEnd(long, 10, Infinity, 4)).toBe(14);
    expect(lookaheadWindowEnd(long, 10, Infinity, 1)).toBe(11);
  });

  it('caps a window by host-epochs too, so one replica turn stays short in a big world', () => {
    expect(MAX_WINDOW_HOST_EPOCHS).toBe(64);
    expect(windowEpochCap(1)).toBe(DEFAULT_MAX_WINDOW_EPOCHS);
    expect(windowEpochCap(2)).toBe(32);
    expect(windowEpochCap(6)).toBe(10);
    expect(windowEpochCap(16)).toBe(4);
    expect(windowEpochCap(100)).toBe(1);
    expect(windowEpochCap(2, 1)).toBe(1); // --no-lookahead
    expect(windowEpochCap(2, 3)).toBe(3);
  });

  it('stops at the last simulated epoch: each drain epoch is a grant of its own', () => {
    // clock: 11 epochs (the last one clipped), drains 11 and 12.
    expect(lookaheadWindowEnd(clock, 3, Infinity)).toBe(11);
    expect(lookaheadWindowEnd(clock, 3, clock.durationNs + 5 * MS)).toBe(11);
    expect(lookaheadWindowEnd(clock, 11, Infinity)).toBe(12);
    expect(lookaheadWindowEnd(clock, 12, Infinity)).toBe(13);
  });

  it('bounds hand-offs from the timeline by the migrations not yet granted, each after its setup phase', () => {
    const timeline = [entry(2 * MS, 'a'), migrate(3 * MS), migrate(9 * MS)];
    expect(timelineHandOffBoundNs(timeline, 0)).toBe(3 * MS + MIGRATION_SETUP_NS);
    expect(timelineHandOffBoundNs(timeline, 3 * MS)).toBe(3 * MS + MIGRATION_SETUP_NS);
    // Granted already: the host that started it reports its stop-and-copy instead.
    expect(timelineHandOffBoundNs(timeline, 3 * MS + 1)).toBe(9 * MS + MIGRATION_SETUP_NS);
    expect(timelineHandOffBoundNs(timeline, 10 * MS)).toBe(Infinity);
    expect(timelineHandOffBoundNs([entry(0, 'x')], 0)).toBe(Infinity);
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
