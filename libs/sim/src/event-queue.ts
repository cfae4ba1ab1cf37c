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
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
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
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l], h[m])) m = l;
        if (r < h.length && before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }

  /** Pops every entry due strictly before `endNs`, in order. */
  *drainBefore(endNs: number): Generator<QueueEntry<T>> {
    while (this.heap.length > 0 && this.heap[0].dueNs < endNs) yield this.pop()!;
  }
}

function before<T>(a: QueueEntry<T>, b: QueueEntry<T>): boolean {
  return a.dueNs < b.dueNs || (a.dueNs === b.dueNs && a.seq < b.seq);
}
