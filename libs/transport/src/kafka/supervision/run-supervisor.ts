// Failover on a cluster (docs/cluster.md), the conductor's side. Results never depend on
// it: a run is a pure function of its inputs whoever simulates which node. What it decides is
// who simulates what after a failure, and when to give up. Slow is not dead: a replica counts
// as alive while its own heartbeats arrive (cluster-member.ts sends them from a timer that does
// not wait for its handlers), however long the epoch takes; only evidence makes it gone (its
// heartbeats stop for `leaseMs`, or it answers from outside the run after a restart, or the
// consumer group gave its partitions to another member):
// - an epoch that stalls (no progress for `stallMs`) starts probe rounds (ReadyProbe with the
//   run's id; live replicas answer with the run they are in, see cluster-member.ts); a replica
//   whose answer is late but whose heartbeat is recent counts with its last heartbeat;
// - the placement is recomputed from the answers exactly as at the start (the vpmu.inbox
//   partitions each replica's consumer group holds now); a node whose owner stopped answering,
//   restarted (answers outside the run) or no longer holds the node's partition goes to the new
//   owner, which restores it from the log (Takeover). Two consecutive rounds must agree, so a
//   rebalance in flight is never used. A dead replica keeps its partitions until its session
//   times out (6 s), so a takeover takes that long at least;
// - a stall with an unchanged placement whose owners are idle (their handled count has not
//   moved and nothing is being handled) for `readoptAfterMs` has the stalled nodes restored by
//   their own owners (a message they missed during a rebalance is in the log); busy owners are
//   left alone;
// - takeovers are bounded: after `maxTakeovers` in a row without the run progressing the run
//   ends with TakeoverFailedError naming the nodes (the CLI exits 4) instead of trying forever;
// - a node whose owner is gone ends the run with NodeLostError, naming the nodes (the CLI exits
//   4), when no other replica of its service has answered for `lostAfterMs`, or after
//   `maxOwnerWaitMs` however busy the consumer group is with rebalancing.
// Wall-clock time decides only these timeouts.
import { OperatingError } from '@vpmu/errors';
import { AGGREGATOR_NODE } from '../../bus/topics';
import { computeAssignments, type ClusterHandshake, type HeardReply, type NodeAssignment, type ReadyReply } from './cluster-handshake';

/**
 * How long nodes may have no live owner before the run ends. A takeover needs the dead member's
 * session to expire (6 s) and the group to rebalance, which the kcat mock delays by ~5 s per
 * round (a new member joining meanwhile costs another round): 20 s covers two rounds.
 */
export const DEFAULT_LOST_AFTER_MS = 20_000;
/** With live replicas of the service around, rebalance rounds may take this long in all. */
export const DEFAULT_MAX_OWNER_WAIT_MS = 60_000;
/**
 * A replica whose heartbeat (one a second) has not arrived for this long is gone. Longer than a
 * consumer's session timeout (6 s), so the group has let its partitions go by then too; long
 * enough that a replica on a machine at load 10 is never mistaken for a dead one.
 */
export const DEFAULT_LEASE_MS = 8_000;
/** Takeovers in a row without the run progressing before the run ends (no takeover loop). */
export const DEFAULT_MAX_TAKEOVERS = 3;

/** Takeovers did not bring the run forward: the same nodes would be taken over again and again. */
export class TakeoverFailedError extends OperatingError {
  constructor(
    message: string,
    readonly nodes: string[],
    readonly epoch: number,
  ) {
    super('unavailable', message, { retriable: false });
  }
}

export class NodeLostError extends OperatingError {
  constructor(
    message: string,
    readonly nodes: string[],
    readonly epoch: number,
  ) {
    super('unavailable', message, { retriable: true });
  }
}

export type FailoverPlan =
  /** Every node has a live owner holding its partition. */
  | { kind: 'steady'; assignments: NodeAssignment[] }
  /** A new placement: `adopt` must be restored by their (new) owners. */
  | { kind: 'takeover'; assignments: NodeAssignment[]; adopt: string[]; gone: string[] }
  /** No complete placement from the answers: `gone` have no live owner (yet). */
  | { kind: 'unplaceable'; problems: string[]; gone: string[] };

export function serviceOfNode(node: string): 'aggregator' | 'host-node' | 'guest-vm' {
  return node === AGGREGATOR_NODE ? 'aggregator' : node.startsWith('host/') ? 'host-node' : 'guest-vm';
}

/** Pure: the placement after one probe round, given the current owners (`aggregator` included). */
export function planFailover(runId: string, hosts: string[], vms: string[], owners: ReadonlyMap<string, string>, replies: ReadyReply[]): FailoverPlan {
  const byReplica = new Map(replies.map((r) => [`${r.service}/${r.replica}`, r]));
  const alive = (node: string, replica: string | undefined): boolean => byReplica.get(`${serviceOfNode(node)}/${replica}`)?.inRun === runId;
  const nodes = [...owners.keys()].sort();
  const gone = nodes.filter((n) => !alive(n, owners.get(n)));
  const placement = computeAssignments(hosts, vms, replies);
  if (!placement.ok) return { kind: 'unplaceable', problems: placement.problems, gone };
  // The aggregator has no partition: it stays where it is while its replica is in the run,
  // else it goes to an aggregator that answered (the first by id), which rebuilds it.
  const aggregators = replies.filter((r) => r.service === 'aggregator').sort((a, b) => (a.replica < b.replica ? -1 : 1));
  const currentAggregator = owners.get(AGGREGATOR_NODE);
  const aggregator = alive(AGGREGATOR_NODE, currentAggregator) ? currentAggregator! : (aggregators.find((r) => r.inRun === runId) ?? aggregators[0]).replica;
  const assignments = [...placement.assignments, { node: AGGREGATOR_NODE, replica: aggregator }].sort((a, b) => (a.node < b.node ? -1 : 1));
  const adopt = assignments.filter((a) => a.replica !== owners.get(a.node) || gone.includes(a.node)).map((a) => a.node);
  if (adopt.length === 0) return { kind: 'steady', assignments };
  return { kind: 'takeover', assignments, adopt, gone };
}

/** What the supervisor needs from the conductor. */
export interface SupervisedConductor {
  readonly currentEpoch: number;
  missingNodes(): string[];
  takeover(assignments: NodeAssignment[], adopt: string[], reason: string): void;
}

export interface RunSupervisorOptions {
  runId: string;
  hosts: string[];
  vms: string[];
  /** The placement the run started with (RunStart.assignments) and the aggregator's replica. */
  assignments: NodeAssignment[];
  aggregatorReplica: string;
  /** `heardWithin` (heartbeats) is optional only for tests that probe alone. */
  handshake: Pick<ClusterHandshake, 'probe'> & Partial<Pick<ClusterHandshake, 'heardWithin'>>;
  conductor: SupervisedConductor;
  /** The run cannot go on: `err` says which nodes are lost, or which takeovers kept failing. */
  onLost: (err: NodeLostError | TakeoverFailedError) => void;
  log?: (line: string) => void;
  stallMs?: number;
  probeWaitMs?: number;
  /** After a takeover, give the adopters this long before judging again. */
  settleMs?: number;
  readoptAfterMs?: number;
  lostAfterMs?: number;
  maxOwnerWaitMs?: number;
  leaseMs?: number;
  maxTakeovers?: number;
  /**
   * True while the broker refuses connections: every replica then falls silent at once, which is
   * no evidence that any of them is gone, so no takeover is planned (the broker check ends the run).
   */
  brokerDown?: () => boolean;
}

export interface FailoverRecord {
  epoch: number;
  adopt: string[];
  gone: string[];
  /** Wall time from the last progress before the stall to the Takeover. */
  detectMs: number;
  /** Wall time from the Takeover to the next progress (filled in then). */
  recoverMs: number | null;
}

export class RunSupervisor {
  private readonly owners = new Map<string, string>();
  private lastProgressMs = performance.now(); // wall-clock ok: failover timeouts
  private lastActionMs = 0;
  private goneSinceMs: number | null = null;
  /** Services with a replica that answered since `goneSinceMs`: someone may still take over. */
  private readonly candidates = new Set<string>();
  private previousPlan = '';
  private busy = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Takeovers since the run last progressed (bounded by maxTakeovers). */
  private takeoversSinceProgress = 0;
  /** "service/replica" -> its handled count and when that last moved or it was busy. */
  private readonly activity = new Map<string, { handled: number; activeAtMs: number }>();
  readonly failovers: FailoverRecord[] = [];

  constructor(private readonly o: RunSupervisorOptions) {
    for (const a of o.assignments) this.owners.set(a.node, a.replica);
    this.owners.set(AGGREGATOR_NODE, o.aggregatorReplica);
  }

  /** True while nodes have no live owner and the supervisor waits for one (it bounds that wait). */
  get awaitingOwners(): boolean {
    return this.goneSinceMs !== null;
  }

  /** Wall time (performance.now) of the last Takeover, 0 before any. */
  get lastTakeoverMs(): number {
    return this.lastActionMs;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), 250); // wall-clock ok: failover timeouts
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** The conductor completed an epoch. */
  progressed(): void {
    const now = performance.now(); // wall-clock ok: failover timeouts
    const last = this.failovers[this.failovers.length - 1];
    if (last && last.recoverMs === null) last.recoverMs = now - this.lastActionMs;
    this.lastProgressMs = now;
    this.goneSinceMs = null;
    this.previousPlan = '';
    this.takeoversSinceProgress = 0;
  }

  /**
   * Wall time of the latest work any live replica did (its handled count moved, or it was
   * handling a delivery), from heartbeats: the epoch watchdog gives up on a stalled run only
   * when nobody has been working for its whole budget.
   */
  lastActivityMs(): number {
    this.noteActivity(this.o.handshake.heardWithin?.(this.o.leaseMs ?? DEFAULT_LEASE_MS) ?? []);
    let latest = 0;
    for (const a of this.activity.values()) latest = Math.max(latest, a.activeAtMs);
    return latest;
  }

  private noteActivity(heard: HeardReply[]): void {
    for (const h of heard) {
      const key = `${h.reply.service}/${h.reply.replica}`;
      const handled = h.reply.handled ?? 0;
      const prev = this.activity.get(key);
      if (!prev || prev.handled !== handled || h.reply.busy) this.activity.set(key, { handled, activeAtMs: h.reply.busy || !prev || prev.handled !== handled ? h.atMs : prev.activeAtMs });
    }
  }

  private async tick(): Promise<void> {
    const now = performance.now(); // wall-clock ok: failover timeouts
    if (this.busy || this.stopped) return;
    if (now - this.lastProgressMs < (this.o.stallMs ?? 1500)) return;
    if (now - this.lastActionMs < (this.o.settleMs ?? 3000)) return;
    this.busy = true;
    try {
      await this.round();
    } catch (err) {
      this.o.log?.(`failover round failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  private async round(): Promise<void> {
    const answered = await this.o.handshake.probe(this.o.runId, this.o.probeWaitMs ?? 300, true);
    if (this.stopped) return;
    const now = performance.now(); // wall-clock ok: failover timeouts
    // A replica too busy to answer within probeWaitMs still counts while its heartbeats arrive.
    const heard = this.o.handshake.heardWithin?.(this.o.leaseMs ?? DEFAULT_LEASE_MS) ?? [];
    this.noteActivity(heard);
    const key = (r: ReadyReply): string => `${r.service}/${r.replica}`;
    const answeredKeys = new Set(answered.map(key));
    const replies = [...answered, ...heard.map((h) => h.reply).filter((r) => !answeredKeys.has(key(r)))];
    if (this.o.brokerDown?.()) {
      this.previousPlan = '';
      return;
    }
    const plan = planFailover(this.o.runId, this.o.hosts, this.o.vms, this.owners, replies);
    const epoch = this.o.conductor.currentEpoch;
    if (plan.kind === 'takeover') {
      const planKey = JSON.stringify(plan);
      if (planKey !== this.previousPlan) {
        this.previousPlan = planKey; // act only when the next round agrees
        return;
      }
      const moved = plan.adopt.filter((n) => !plan.gone.includes(n));
      const reason = [plan.gone.length > 0 ? `owner gone: ${plan.gone.join(' ')}` : '', moved.length > 0 ? `partition moved: ${moved.join(' ')}` : ''].filter(Boolean).join('; ');
      this.act(plan.assignments, plan.adopt, plan.gone, reason, now);
      return;
    }
    this.previousPlan = '';
    if (plan.kind === 'steady') {
      this.goneSinceMs = null;
      const missing = this.o.conductor.missingNodes();
      // Owners still working (slow, not stuck) are left to finish: only idle owners re-adopt.
      const owners = new Set(missing.map((n) => `${serviceOfNode(n)}/${this.owners.get(n)}`));
      const lastOwnerWorkMs = Math.max(0, ...[...owners].map((o) => this.activity.get(o)?.activeAtMs ?? 0));
      if (now - Math.max(this.lastProgressMs, this.lastActionMs, lastOwnerWorkMs) < (this.o.readoptAfterMs ?? 10_000)) return;
      if (missing.length > 0) this.act(plan.assignments, missing, [], `no progress for ${Math.round((now - this.lastProgressMs) / 1000)} s with their owners idle`, now);
      return;
    }
    if (plan.gone.length === 0) return; // e.g. a rebalance in flight; the epoch watchdog bounds it
    if (this.goneSinceMs === null) {
      this.goneSinceMs = now;
      this.candidates.clear();
    }
    for (const r of replies) this.candidates.add(r.service);
    const services = [...new Set(plan.gone.map(serviceOfNode))];
    // Replicas that answer between rebalance rounds may still take the nodes over: wait longer.
    const hope = services.every((sv) => this.candidates.has(sv));
    const limitMs = hope ? (this.o.maxOwnerWaitMs ?? DEFAULT_MAX_OWNER_WAIT_MS) : (this.o.lostAfterMs ?? DEFAULT_LOST_AFTER_MS);
    if (now - this.goneSinceMs < limitMs) return;
    this.stop();
    const owners = [...new Set(plan.gone.map((n) => `${serviceOfNode(n)} replica ${this.owners.get(n)}`))];
    this.o.onLost(
      new NodeLostError(
        `lost ${plan.gone.join(', ')} at epoch ${epoch}: ${owners.join(', ')} stopped answering and no other ${services.join(' or ')} replica took over within ${Math.round(limitMs / 1000)} s (${plan.problems.join('; ')}); start another replica (vpmu cluster up) and run the scenario again.`,
        plan.gone,
        epoch,
      ),
    );
  }

  private act(assignments: NodeAssignment[], adopt: string[], gone: string[], reason: string, now: number): void {
    const max = this.o.maxTakeovers ?? DEFAULT_MAX_TAKEOVERS;
    if (this.takeoversSinceProgress >= max) {
      const epoch = this.o.conductor.currentEpoch;
      this.stop();
      this.o.onLost(
        new TakeoverFailedError(
          `epoch ${epoch} did not complete after ${max} takeovers in a row (last of ${adopt.join(', ')}: ${reason}); giving up instead of trying again. The services' logs (.vpmu/cluster/*.log) say why the adopters failed.`,
          adopt,
          epoch,
        ),
      );
      return;
    }
    this.takeoversSinceProgress++;
    this.o.log?.(`epoch ${this.o.conductor.currentEpoch}: takeover of ${adopt.join(' ')} (${reason})`);
    this.o.conductor.takeover(assignments, adopt, reason);
    for (const a of assignments) this.owners.set(a.node, a.replica);
    this.failovers.push({ epoch: this.o.conductor.currentEpoch, adopt, gone, detectMs: now - this.lastProgressMs, recoverMs: null });
    this.lastActionMs = now;
    this.previousPlan = '';
    this.goneSinceMs = null;
  }
}
