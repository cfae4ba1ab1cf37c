// Steps the logical nodes a service owns through granted epochs. A node runs epoch e only when
// it has run e-1 and holds exactly the messages the grant announced for it; grants and messages
// may arrive in any order and any number of times (duplicates are dropped by the endpoint).
import type { vpmu } from '@vpmu/proto';
import type { MessageBus } from './message-bus.port';
import { NodeEndpoint } from './node-endpoint';

type Envelope = vpmu.v1.Envelope;

export interface Participant<S> {
  node: string;
  state: S;
  endpoint: NodeEndpoint;
  lastEpoch: number;
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
    const p: Participant<S> = { node, state, endpoint: new NodeEndpoint(node, this.runId, this.bus), lastEpoch: -1 };
    this.nodes.set(node, p);
    return p;
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
        const inbound = p.endpoint.take(epoch - 1, expected);
        if (inbound === null) break;
        const eventCount = this.step(p, grant, inbound);
        p.lastEpoch = epoch;
        p.endpoint.report(epoch, eventCount);
      }
    }
    let oldest = Infinity;
    for (const p of this.nodes.values()) oldest = Math.min(oldest, p.lastEpoch);
    for (const e of [...this.grants.keys()]) if (e <= oldest) this.grants.delete(e);
  }
}
