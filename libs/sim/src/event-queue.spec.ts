import fc from 'fast-check';
import { EventQueue } from './event-queue';

describe('EventQueue', () => {
  it('pops by due time, then by insertion order for equal times', () => {
    const q = new EventQueue<string>();
    q.push(20, 'c');
    q.push(10, 'a');
    q.push(20, 'd');
    q.push(10, 'b');
    q.push(5, 'first');
    const out: string[] = [];
    for (let e = q.pop(); e; e = q.pop()) out.push(e.item);
    expect(out).toEqual(['first', 'a', 'b', 'c', 'd']);
  });

  it('orders any sequence of pushes by (dueNs, seq) (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), (dues) => {
        const q = new EventQueue<number>();
        dues.forEach((d, i) => q.push(d, i));
        const popped: { d: number; i: number }[] = [];
        for (let e = q.pop(); e; e = q.pop()) popped.push({ d: e.dueNs, i: e.item });
        const expected = dues.map((d, i) => ({ d, i })).sort((a, b) => a.d - b.d || a.i - b.i);
        expect(popped).toEqual(expected);
      }),
    );
  });

  it('drains only the entries due strictly before the end of a window', () => {
    const q = new EventQueue<string>();
    q.push(100, 'in');
    q.push(199, 'edge-in');
    q.push(200, 'next-window');
    expect([...q.drainBefore(200)].map((e) => e.item)).toEqual(['in', 'edge-in']);
    expect(q.size).toBe(1);
  });

  it('rejects times that are not non-negative integers', () => {
    const q = new EventQueue<string>();
    expect(() => q.push(-1, 'x')).toThrow();
    expect(() => q.push(1.5, 'x')).toThrow();
  });
});
