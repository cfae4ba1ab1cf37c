// Steps the logical nodes a service owns through granted epochs. A grant covers a window of one
// or more epochs [a, b) (lookahead windows, docs/cluster.md); a node runs it only when it has run
// a-1 and holds exactly the messages the grant announced for it (those sent to it during the
// previous window), and reports once for the whole window. Grants and messages may arrive in any
// order and any number of times (duplicates are dropped by the endpoint).
// A node can also be restored mid-run (failover): from a checkpoint of epoch c, which already
// holds the messages applied at c, it re-runs c, c+1, ... from the grants and messages of the log
// (c may lie inside a window: the node runs that window's rest).
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

/** What a node's run of one grant gives the conductor back in its report. */
export interface StepOutcome {
  /** Simulation events the node emitted in the window. */
  events: number;
  /** The earliest virtual time the node may next send to another simulation node; default Infinity. */
  nextSendNs?: number;
}

/**
 * Runs one node through the epochs [fromEpoch, grantEndEpoch(grant)) of a grant: fromEpoch is
 * the grant's first epoch, or later for a node restored inside the window. `inbound` are the
 * messages sent to it during the previous window (none when it resumes from a checkpoint).
 */
export type EpochStep<S> = (p: Participant<S>, grant: vpmu.v1.IEpochGrant, inbound: Envelope[], fromEpoch: number) => StepOutcome;

/** The exclusive end epoch of a grant's window (a grant without end_epoch covers one epoch). */
export function grantEndEpoch(grant: vpmu.v1.IEpochGrant): number {
  const epoch = grant.epoch ?? 0;
  return Math.max(epoch + 1, grant.endEpoch ?? 0);
}

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

  /** The grant whose window holds `epoch` (normally the one starting there). */
  private grantCovering(epoch: number): vpmu.v1.IEpochGrant | undefined {
    const exact = this.grants.get(epoch);
    if (exact) return exact;
    for (const g of this.grants.values()) if ((g.epoch ?? 0) < epoch && epoch < grantEndEpoch(g)) return g;
    return undefined;
  }

  private advance(): void {
    for (const p of this.all()) {
      for (;;) {
        const fromEpoch = p.lastEpoch + 1;
        const grant = this.grantCovering(fromEpoch);
        if (!grant) break;
        const first = grant.epoch ?? 0;
        const expected = grant.expected?.find((x) => x.node === p.node)?.count ?? 0;
        // A node restored inside a window resumes from a checkpoint that holds the window's arrivals.
        const inbound = p.resumedAt === fromEpoch ? [] : p.endpoint.take(first, expected);
        if (inbound === null) break;
        const endEpoch = grantEndEpoch(grant);
        const outcome = this.step(p, grant, inbound, fromEpoch);
        p.lastEpoch = endEpoch - 1;
        p.resumedAt = null;
        p.endpoint.report(first, endEpoch, outcome.events, outcome.nextSendNs);
      }
    }
    let oldest = Infinity;
    for (const p of this.nodes.values()) oldest = Math.min(oldest, p.lastEpoch);
    for (const [e, g] of [...this.grants.entries()]) if (grantEndEpoch(g) - 1 <= oldest) this.grants.delete(e);
  }
}
