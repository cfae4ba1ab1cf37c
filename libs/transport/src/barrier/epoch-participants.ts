// Steps the logical nodes a service owns through granted epochs. A node runs epoch e only when
// it has run e-1 and holds exactly the messages the grant announced for it; grants and messages
// may arrive in any order and any number of times (duplicates are dropped by the endpoint).
// A node can also be restored mid-run (failover): from a checkpoint of epoch c, which already
// holds the messages applied at c, it re-runs c, c+1, ... from the grants and messages of the log.
import type { vpmu } from '@vpmu/proto';
import type { MessageBus } from '../bus/message-bus.port';
import { NodeEndpoint } from './node-endpoint';

type Envelope = vpmu.v1.Envelope;

export interface Participant<S> {
  node: string;
  state: S;
  endpoint: NodeEndpoint;
  lastEpoch: number;
  /**
   * Set on a node restored from a checkpoint of this epoch: the checkpoint already holds the
   * messages applied at its start, so the step runs it without inbound messages (and without
   * applying arrivals again). Cleared once that epoch has run.
   */
  resumedAt: number | null;
}

export interface RestorePoint {
  /** The first epoch to run: the checkpoint's epoch, or 0 for a node rebuilt from the start. */
  epoch: number;
  /** The seq of the node's first message of that epoch (the checkpoint envelope's), 0 at the start. */
  seq: number;
  /** True when the state already holds the messages applied at `epoch` (a checkpoint). */
  inboundApplied: boolean;
}

/** Runs one node's epoch; returns the number of simulation events it emitted. */
export type EpochStep<S> = (p: Participant<S>, grant: vpmu.v1.IEpochGrant, inbound: Envelope[]) => number;

export class EpochParticipants<S> {
  private readonly nodes = new Map<string, Participant<S>>();
  private grants = new Map<number, vpmu.v1.IEpochGrant>();

  constructor(
    private readonly runId: string,
    private readonly bus: MessageBus,
    private readonly step: EpochStep<S>,
  ) {}

  add(node: string, state: S): Participant<S> {
    const p: Participant<S> = { node, state, endpoint: new NodeEndpoint(node, this.runId, this.bus), lastEpoch: -1, resumedAt: null };
    this.nodes.set(node, p);
    return p;
  }

  /**
   * Replaces (or adds) `node` with a restored state that resumes at `from.epoch`. The grants it
   * needs from there on are fed again with onGrant; its messages with onMessage.
   */
  restore(node: string, state: S, from: RestorePoint): Participant<S> {
    const p = this.add(node, state);
    p.lastEpoch = from.epoch - 1;
    p.resumedAt = from.inboundApplied ? from.epoch : null;
    p.endpoint.resume(from.seq, from.inboundApplied ? from.epoch : from.epoch - 1);
    return p;
  }

  /** Stops simulating `node` (it now belongs to another replica). */
  remove(node: string): boolean {
    return this.nodes.delete(node);
  }

  has(node: string): boolean {
    return this.nodes.has(node);
  }

  get(node: string): Participant<S> | undefined {
    return this.nodes.get(node);
  }

  /** Participants in canonical (node id) order. */
  all(): Participant<S>[] {
    return [...this.nodes.values()].sort((a, b) => (a.node < b.node ? -1 : 1));
  }

  onGrant(grant: vpmu.v1.IEpochGrant): void {
    if (!this.grants.has(grant.epoch ?? 0)) this.grants.set(grant.epoch ?? 0, grant);
    this.advance();
  }

  onMessage(env: Envelope): void {
    const p = this.nodes.get(env.destination);
    if (!p) return;
    p.endpoint.deliver(env);
    this.advance();
  }

  private advance(): void {
    for (const p of this.all()) {
      for (;;) {
        const grant = this.grants.get(p.lastEpoch + 1);
        if (!grant) break;
        const epoch = grant.epoch ?? 0;
        const expected = grant.expected?.find((x) => x.node === p.node)?.count ?? 0;
        const inbound = p.resumedAt === epoch ? [] : p.endpoint.take(epoch - 1, expected);
        if (inbound === null) break;
        const eventCount = this.step(p, grant, inbound);
        p.lastEpoch = epoch;
        p.resumedAt = null;
        p.endpoint.report(epoch, eventCount);
      }
    }
    let oldest = Infinity;
    for (const p of this.nodes.values()) oldest = Math.min(oldest, p.lastEpoch);
    for (const e of [...this.grants.keys()]) if (e <= oldest) this.grants.delete(e);
  }
}
