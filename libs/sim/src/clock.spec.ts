import { formatNs, SimClock } from './clock';
import { compareMessageKeys, epochCount, epochWindow } from './epoch';

describe('SimClock', () => {
  it('starts at the given instant and advances in integer ns', () => {
    const c = new SimClock(5);
    c.advanceTo(5);
    c.advanceTo(1_000_000);
    expect(c.nowNs).toBe(1_000_000);
  });

  it('refuses to go backwards or to non-integer instants', () => {
    const c = new SimClock(100);
    expect(() => c.advanceTo(99)).toThrow(/backwards/);
    expect(() => c.advanceTo(100.5)).toThrow(/integer/);
    expect(() => new SimClock(-1)).toThrow(/integer/);
  });

  it('formats ns for people', () => {
    expect(formatNs(2_000_000_000)).toBe('2s');
    expect(formatNs(1_500_000)).toBe('1.5ms');
    expect(formatNs(250_000)).toBe('250us');
    expect(formatNs(42)).toBe('42ns');
  });
});

describe('epochs', () => {
  it('cuts the duration into windows, the last one clipped', () => {
    expect(epochCount(10_500_000, 1_000_000)).toBe(11);
    expect(epochWindow(10, 1_000_000, 10_500_000)).toEqual({ epoch: 10, startNs: 10_000_000, endNs: 10_500_000 });
  });

  it('orders messages by (sentEpoch, sourceNode, seq)', () => {
    const keys = [
      { sentEpoch: 2, sourceNode: 'a', seq: 0 },
      { sentEpoch: 1, sourceNode: 'b', seq: 5 },
      { sentEpoch: 1, sourceNode: 'b', seq: 1 },
      { sentEpoch: 1, sourceNode: 'a', seq: 9 },
    ];
    expect(keys.sort(compareMessageKeys)).toEqual([
      { sentEpoch: 1, sourceNode: 'a', seq: 9 },
      { sentEpoch: 1, sourceNode: 'b', seq: 1 },
      { sentEpoch: 1, sourceNode: 'b', seq: 5 },
      { sentEpoch: 2, sourceNode: 'a', seq: 0 },
    ]);
  });
});
