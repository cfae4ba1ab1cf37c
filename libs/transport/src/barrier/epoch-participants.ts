// Steps the logical nodes a service owns through granted epochs. A grant covers a window of one
// or more epochs [a, b) (lookahead windows, docs/cluster.md); a node runs it only when it has run
// a-1 and holds exactly the messages the grant announced for it (those sent to it during the
// previous window), and reports once for the whole window. Grants and messages may arrive in any
// order and any number of times (duplicates are dropped by the endpoint).
// A node can also be restored mid-run (failover): from a checkpoint of epoch c, which already
// holds the messages applied at c, it re-runs c, c+1, ... from the grants and messages of the log
// (c may lie inside a window: the node runs that window's rest).
// A step may return a promise (a host-node yields to the event loop inside a long window, so its
// heartbeats go out): the participants then go on when it settles, and `settled()` tells the
// delivery that started them when all is done. Steps never overlap.
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
export type EpochStep<S> = (p: Participant<S>, grant: vpmu.v1.IEpochGrant, inbound: Envelope[], fromEpoch: number) => StepOutcome | Promise<StepOutcome>;

/** A window a node can run now. */
interface RunnableWindow<S> {
  p: Participant<S>;
  grant: vpmu.v1.IEpochGrant;
  inbound: Envelope[];
  fromEpoch: number;
}

/**
 * Wall time a step may run before it yields to the event loop (heartbeats, probe answers and the
 * consumer group's heartbeat need turns), far below the 8 s lease even at a load of 10.
 */
export const YIELD_AFTER_MS = 50;

/** Lets timers and I/O run (setImmediate: after pending I/O callbacks, unlike a microtask). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve)); // wall-clock ok: scheduling only, never a simulation input
}

/** The exclusive end epoch of a grant's window (a grant without end_epoch covers one epoch). */
export function grantEndEpoch(grant: vpmu.v1.IEpochGrant): number {
  const epoch = grant.epoch ?? 0;
  return Math.max(epoch + 1, grant.endEpoch ?? 0);
}

export class EpochParticipants<S> {
  private readonly nodes = new Map<string, Participant<S>>();
  private grants = new Map<number, vpmu.v1.IEpochGrant>();
  /** True while windows are being run (synchronously, or waiting on a step's promise). */
  private running = false;
  /** The step being waited on, when one returned a promise. */
  private pending: Promise<void> | null = null;

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

  /**
   * Resolves when no window is running or waiting (at once when the steps are synchronous);
   * rejects with the error of a step that failed meanwhile.
   */
  async settled(): Promise<void> {
    while (this.pending) await this.pending;
  }

  private advance(): void {
    if (this.running) return; // the running loop looks for runnable windows again before it stops
    this.running = true;
    this.drive();
  }

  /** Runs every runnable window, in canonical node order; continues after a step's promise. */
  private drive(): void {
    try {
      for (let next = this.nextWindow(); next; next = this.nextWindow()) {
        const outcome = this.step(next.p, next.grant, next.inbound, next.fromEpoch);
        if (outcome instanceof Promise) {
          const w = next;
          const pending: Promise<void> = outcome.then((o) => {
            this.finish(w, o);
            if (this.pending === pending) this.pending = null;
            this.drive();
          });
          pending.catch(() => {
            this.running = false;
            if (this.pending === pending) this.pending = null;
          });
          this.pending = pending;
          return;
        }
        this.finish(next, outcome);
      }
    } catch (err) {
      this.running = false;
      throw err;
    }
    this.running = false;
    let oldest = Infinity;
    for (const p of this.nodes.values()) oldest = Math.min(oldest, p.lastEpoch);
    for (const [e, g] of [...this.grants.entries()]) if (grantEndEpoch(g) - 1 <= oldest) this.grants.delete(e);
  }

  /** The first node (canonical order) whose next window is granted and whose messages are all here. */
  private nextWindow(): RunnableWindow<S> | null {
    for (const p of this.all()) {
      const fromEpoch = p.lastEpoch + 1;
      const grant = this.grantCovering(fromEpoch);
      if (!grant) continue;
      const expected = grant.expected?.find((x) => x.node === p.node)?.count ?? 0;
      // A node restored inside a window resumes from a checkpoint that holds the window's arrivals.
      const inbound = p.resumedAt === fromEpoch ? [] : p.endpoint.take(grant.epoch ?? 0, expected);
      if (inbound === null) continue;
      return { p, grant, inbound, fromEpoch };
    }
    return null;
  }

  private finish(w: RunnableWindow<S>, outcome: StepOutcome): void {
    // A node taken from this replica (or restored afresh) while its step was waiting: the new
    // owner's state speaks for it now.
    if (this.nodes.get(w.p.node) !== w.p) return;
    const endEpoch = grantEndEpoch(w.grant);
    w.p.lastEpoch = endEpoch - 1;
    w.p.resumedAt = null;
    w.p.endpoint.report(w.grant.epoch ?? 0, endEpoch, outcome.events, outcome.nextSendNs);
  }
}
