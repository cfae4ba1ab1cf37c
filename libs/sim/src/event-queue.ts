// The one priority queue of the simulated world: ordered by (dueNs, seq), where seq is the
// insertion counter. Two entries due at the same instant run in insertion order, so the order
// never depends on heap internals, object identity or the JS microtask queue.

export interface QueueEntry<T> {
  readonly dueNs: number;
  readonly seq: number;
  readonly item: T;
}

export class EventQueue<T> {
  private heap: QueueEntry<T>[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(dueNs: number, item: T): QueueEntry<T> {
    if (!Number.isSafeInteger(dueNs) || dueNs < 0) throw new Error(`EventQueue: bad dueNs ${dueNs}`);
    const entry = { dueNs, seq: this.nextSeq++, item };
    const h = this.heap;
    // Sift up with a hole (no swaps): same final layout as pairwise swapping.
    let i = h.length;
    h.push(entry);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const q = h[p];
      if (!(dueNs < q.dueNs || (dueNs === q.dueNs && entry.seq < q.seq))) break;
      h[i] = q;
      i = p;
    }
    h[i] = entry;
    return entry;
  }

  peek(): QueueEntry<T> | undefined {
    return this.heap[0];
  }

  pop(): QueueEntry<T> | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    const n = h.length;
    if (n > 0) {
      // Sift down with a hole (no swaps): same final layout as pairwise swapping.
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        let m = l;
        let mv = h[l];
        const r = l + 1;
        if (r < n) {
          const rv = h[r];
          if (before(rv, mv)) {
            m = r;
            mv = rv;
          }
        }
        if (!before(mv, last)) break;
        h[i] = mv;
        i = m;
      }
      h[i] = last;
    }
    return top;
  }

  /** Pops the first entry if it is due strictly before `endNs` (the loop form of drainBefore). */
  popBefore(endNs: number): QueueEntry<T> | undefined {
    const h = this.heap;
    return h.length > 0 && h[0].dueNs < endNs ? this.pop() : undefined;
  }

  /**
   * Every pending entry, in heap (not due) order: for order-independent questions such as the
   * earliest entry of some kind. Nothing is popped.
   */
  pending(): readonly QueueEntry<T>[] {
    return this.heap;
  }

  /** Pops every entry due strictly before `endNs`, in order. */
  *drainBefore(endNs: number): Generator<QueueEntry<T>> {
    while (this.heap.length > 0 && this.heap[0].dueNs < endNs) yield this.pop()!;
  }
}

function before<T>(a: QueueEntry<T>, b: QueueEntry<T>): boolean {
  return a.dueNs < b.dueNs || (a.dueNs === b.dueNs && a.seq < b.seq);
}
