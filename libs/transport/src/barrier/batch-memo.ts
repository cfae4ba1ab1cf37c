// Event batches that need no decoding in the process that encoded them. In an embedded run the
// aggregator receives, through the in-process bus, the very batches a host node encoded from its
// events moments before; decoding them again was about a twentieth of a fleet run. The sender
// leaves its events here under the batch's payload digest (the one it reports for the
// aggregator's checks, batch-check.ts); the aggregator takes them only once the delivered bytes
// have matched that digest, so it gets exactly the events those bytes decode to (the codec spec
// and the golden content digests hold decode(encode(events)) equal to events). A bus between
// processes has no memo: the aggregator decodes as before.
import type { SimEvent } from '@vpmu/sim';

/**
 * Past this many batches nobody took (an epoch recorded without checks decodes its batches
 * itself), the memo starts over: the aggregator then decodes, with the same result.
 */
const MAX_REMEMBERED_BATCHES = 4096;

export class BatchMemo {
  private readonly byDigest = new Map<string, readonly SimEvent[]>();

  /** The events a sender encoded into the batch whose payload digest is `digest`. */
  remember(digest: Buffer, events: readonly SimEvent[]): void {
    if (this.byDigest.size >= MAX_REMEMBERED_BATCHES) this.byDigest.clear();
    this.byDigest.set(digest.toString('latin1'), events);
  }

  /** The events of the batch with this payload digest, once; undefined when not remembered. */
  take(digest: Buffer): readonly SimEvent[] | undefined {
    const key = digest.toString('latin1');
    const events = this.byDigest.get(key);
    if (events !== undefined) this.byDigest.delete(key);
    return events;
  }
}
