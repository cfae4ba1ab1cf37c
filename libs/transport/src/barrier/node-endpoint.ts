// One logical node's side of the counted epoch barrier (docs/architecture.md
// "The epoch protocol"). It numbers what the node sends, counts it per destination for the epoch report,
// drops duplicate deliveries by (epoch, source, seq), buffers early messages by the epoch they
// were sent in, and hands a node exactly the messages its grant announced, in canonical order.
// Messages of epochs it has already consumed are dropped as old: a node restored by a takeover
// re-sends what it sent before, with the same (epoch, source, seq).
import { createHash } from 'node:crypto';
import { pb, encodeEnvelope, type vpmu } from '@vpmu/proto';
import { compareMessageKeys, type SimEvent } from '@vpmu/sim';
import type { MessageBus } from '../bus/message-bus.port';
import { AGGREGATOR_NODE, CONDUCTOR_NODE, TOPICS } from '../bus/topics';
import { payloadDigest } from './batch-check';

type Envelope = vpmu.v1.Envelope;
export type EnvelopePayload = Omit<vpmu.v1.IEnvelope, 'runId' | 'epoch' | 'sourceNode' | 'seq' | 'destination'>;

export class NodeEndpoint {
  private seq = 0;
  private sentTo = new Map<string, number>();
  /** What this node sent the aggregator this epoch, reported for the aggregator's checks (batch-check.ts). */
  private sentChecks: vpmu.v1.ISentCheck[] = [];
  private readonly inbox = new Map<number, Envelope[]>();
  private readonly seen = new Set<string>();
  private hash = createHash('sha256');
  /** Messages sent in an epoch below this one are already applied (or held by a checkpoint). */
  private floorEpoch = -1;
  duplicates = 0;
  old = 0;

  constructor(
    readonly nodeId: string,
    private readonly runId: string,
    private readonly bus: MessageBus,
  ) {}

  /**
   * Sends a payload to `destination` on `topic`, tagged with the epoch it is sent in. A message
   * to the aggregator is also reported with its payload digest and `eventCount` (of a batch).
   * `events`: those the batch was encoded from, left in the bus's batch memo when it has one.
   */
  send(topic: string, destination: string, epoch: number, payload: EnvelopePayload, eventCount = 0, events?: readonly SimEvent[]): Buffer {
    if (destination === AGGREGATOR_NODE) {
      const digest = payloadDigest(payload);
      this.sentChecks.push({ source: this.nodeId, seq: this.seq, eventCount, digest });
      if (events && payload.events && this.bus.batchMemo) this.bus.batchMemo.remember(digest, events);
    }
    const bytes = this.publish(topic, destination, epoch, payload);
    this.hash.update(bytes);
    this.sentTo.set(destination, (this.sentTo.get(destination) ?? 0) + 1);
    return bytes;
  }

  private publish(topic: string, destination: string, epoch: number, payload: EnvelopePayload): Buffer {
    const env: vpmu.v1.IEnvelope = { runId: this.runId, epoch, sourceNode: this.nodeId, seq: this.seq++, destination, ...payload };
    const bytes = encodeEnvelope(env);
    this.bus.publish({ topic, key: topic === TOPICS.events ? this.nodeId : destination, value: bytes });
    return bytes;
  }

  /**
   * A node restored from a checkpoint of epoch `resumeEpoch` (or from the start of the run):
   * its next message gets `seq`, the one its first message of that epoch had, and messages sent
   * to it before `floorEpoch` are already in its state.
   */
  resume(seq: number, floorEpoch: number): void {
    this.seq = seq;
    this.floorEpoch = floorEpoch;
  }

  /** Accepts a delivered message for this node; returns false for a duplicate or an old epoch. */
  deliver(env: Envelope): boolean {
    if (env.epoch < this.floorEpoch) {
      this.old++;
      return false;
    }
    const key = `${env.epoch}\u0000${env.sourceNode}\u0000${env.seq}`;
    if (this.seen.has(key)) {
      this.duplicates++;
      return false;
    }
    this.seen.add(key);
    let list = this.inbox.get(env.epoch);
    if (!list) this.inbox.set(env.epoch, (list = []));
    list.push(env);
    return true;
  }

  /**
   * The messages sent to this node before `beforeEpoch` and not yet taken (those of the previous
   * grant's window), canonically sorted, once all `expected` are in; null while some are missing.
   */
  take(beforeEpoch: number, expected: number): Envelope[] | null {
    const epochs = [...this.inbox.keys()].filter((e) => e < beforeEpoch);
    let count = 0;
    for (const e of epochs) count += this.inbox.get(e)!.length;
    if (count < expected) return null;
    if (count > expected) {
      throw new Error(`${this.nodeId}: ${count} messages sent before epoch ${beforeEpoch}, the grant announced ${expected}`);
    }
    const list: Envelope[] = [];
    for (const e of epochs) {
      list.push(...this.inbox.get(e)!);
      this.inbox.delete(e);
    }
    // Later deliveries of these epochs are old (dropped before the seen check); keep the set small.
    if (beforeEpoch > this.floorEpoch) {
      this.floorEpoch = beforeEpoch;
      for (const k of [...this.seen]) if (Number(k.slice(0, k.indexOf('\u0000'))) < beforeEpoch) this.seen.delete(k);
    }
    return list.sort((a, b) =>
      compareMessageKeys({ sentEpoch: a.epoch, sourceNode: a.sourceNode, seq: a.seq }, { sentEpoch: b.epoch, sourceNode: b.sourceNode, seq: b.seq }),
    );
  }

  /**
   * Closes a grant (epochs [epoch, endEpoch)): sends the EpochReport to the conductor and resets
   * the counts. `nextSendNs`: the earliest virtual time this node may next send to another
   * simulation node (Infinity: nothing in flight could).
   */
  report(epoch: number, endEpoch: number, eventCount: number, nextSendNs: number = Infinity): void {
    const digest = this.hash.digest();
    const sentTo = [...this.sentTo.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([node, count]) => ({ node, count }));
    this.sentTo = new Map();
    this.hash = createHash('sha256');
    const sentChecks = this.sentChecks;
    this.sentChecks = [];
    const report = pb.EpochReport.create({ epoch, endEpoch, node: this.nodeId, sentTo, eventCount, digest, sentChecks, ...(Number.isFinite(nextSendNs) && { nextSendNs }) });
    // Reports are not barrier traffic: they are not counted in any grant.
    this.publish(TOPICS.reports, CONDUCTOR_NODE, epoch, { report });
  }
}
