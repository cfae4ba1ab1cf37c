// The conductor side of the cluster handshake, as a delivery interceptor in front of the
// conductor's report handler. Before a run it probes (ReadyProbe on vpmu.control) until the
// answers (ServiceReady on vpmu.reports) cover every node of the scenario: an aggregator, and for
// each simulated host and VM exactly one replica, the one whose vpmu.inbox partitions contain the
// node's partition (or that owns it statically). The owners go into RunStart.assignments, so
// placement is decided once, visibly, by the consumer groups, and a later takeover can reassign.
// Two consecutive probes must agree, so a consumer-group rebalance in flight is never used.
// After the run it waits for the aggregator's RunResult.
import { OperatingError } from '@vpmu/errors';
import { decodeEnvelope, encodeEnvelope, pb, type vpmu } from '@vpmu/proto';
import type { BusMessage, MessageBus } from '../../bus/message-bus.port';
import { CONDUCTOR_NODE, hostNode, TOPICS, vmNode } from '../../bus/topics';
import type { DeliveryInterceptor } from '../messaging/kafka.server';
import { partitionForKey } from '../client/partitioner';

export interface ReadyReply {
  service: string;
  replica: string;
  partitions: number[];
  partitionCount: number;
  staticNodes: string[];
  /** The run the replica is taking part in ('' = none; absent in the pure tests = none). */
  inRun?: string;
  /** Deliveries its handlers finished so far, and whether one is being handled (liveness). */
  handled?: number;
  busy?: boolean;
}

/** The latest sign of life of one replica: a heartbeat or an answer to a probe. */
export interface HeardReply {
  reply: ReadyReply;
  /** Wall time (performance.now) it arrived. */
  atMs: number;
}

export interface NodeAssignment {
  node: string;
  replica: string;
}

export type AssignmentOutcome = { ok: true; assignments: NodeAssignment[]; replicas: ReadyReply[] } | { ok: false; problems: string[] };

export class ClusterNotReadyError extends OperatingError {
  constructor(message: string) {
    super('unavailable', message, { retriable: true });
  }
}

/** Pure: who owns which node, from one probe's answers; or what is missing. */
export function computeAssignments(hosts: string[], vms: string[], replies: ReadyReply[]): AssignmentOutcome {
  const problems: string[] = [];
  const byService = (s: string): ReadyReply[] => replies.filter((r) => r.service === s).sort((a, b) => (a.replica < b.replica ? -1 : 1));
  if (byService('aggregator').length === 0) problems.push('no aggregator answered');
  const assignments: NodeAssignment[] = [];
  const place = (service: string, nodes: string[]): void => {
    const reps = byService(service);
    if (nodes.length === 0) return;
    if (reps.length === 0) {
      problems.push(`no ${service} replica answered`);
      return;
    }
    const counts = [...new Set(reps.filter((r) => r.staticNodes.length === 0).map((r) => r.partitionCount))];
    if (counts.length > 1) {
      problems.push(`${service} replicas place messages on different partition counts (${counts.join(', ')}); start them with one --partitions`);
      return;
    }
    const owners = new Map<number, string>();
    for (const r of reps) {
      for (const p of r.partitions) {
        if (owners.has(p)) {
          problems.push(`${service} replicas ${owners.get(p)} and ${r.replica} both hold partition ${p} (a rebalance is in progress)`);
          return;
        }
        owners.set(p, r.replica);
      }
    }
    for (const node of nodes) {
      const statics = reps.filter((r) => r.staticNodes.includes(node));
      if (statics.length > 1) {
        problems.push(`${node} is owned by several ${service} replicas (${statics.map((r) => r.replica).join(', ')})`);
        continue;
      }
      if (statics.length === 1) {
        assignments.push({ node, replica: statics[0].replica });
        continue;
      }
      if (counts.length === 0) {
        problems.push(`no ${service} replica owns ${node}`);
        continue;
      }
      const partition = partitionForKey(node, counts[0]);
      const owner = owners.get(partition);
      if (owner === undefined) problems.push(`no ${service} replica holds vpmu.inbox partition ${partition} (${node})`);
      else assignments.push({ node, replica: owner });
    }
  };
  place('host-node', hosts.map(hostNode));
  place('guest-vm', vms.map(vmNode));
  if (problems.length > 0) return { ok: false, problems };
  assignments.sort((a, b) => (a.node < b.node ? -1 : 1));
  return { ok: true, assignments, replicas: replies };
}

export interface RunResultMessage {
  runId: string;
  summaryJson: string;
  files: string[];
  error: string;
}

export class ClusterHandshake implements DeliveryInterceptor {
  private readonly replies = new Map<string, ReadyReply[]>();
  private readonly results = new Map<string, RunResultMessage>();
  /** "service/replica" -> its latest heartbeat or answer (failover liveness, run-supervisor.ts). */
  private readonly heard = new Map<string, HeardReply>();
  private resultWaiters: (() => void)[] = [];
  private seq = 0;

  constructor(
    private readonly bus: MessageBus,
    private readonly conductorId: string,
  ) {}

  async intercept(m: BusMessage, dispatch: (m: BusMessage) => Promise<void>): Promise<void> {
    if (m.topic !== TOPICS.reports) return dispatch(m);
    let env: vpmu.v1.Envelope;
    try {
      env = decodeEnvelope(m.value);
    } catch {
      return dispatch(m);
    }
    if (env.serviceReady) {
      const r = env.serviceReady;
      const reply: ReadyReply = {
        service: r.service ?? '',
        replica: r.replica ?? '',
        partitions: [...(r.partitions ?? [])].map(Number),
        partitionCount: r.partitionCount ?? 0,
        staticNodes: [...(r.staticNodes ?? [])],
        inRun: r.inRun ?? '',
        handled: Number(r.handled ?? 0),
        busy: r.busy ?? false,
      };
      this.heard.set(`${reply.service}/${reply.replica}`, { reply, atMs: performance.now() }); // wall-clock ok: liveness
      if (r.heartbeat) return;
      const list = this.replies.get(r.probeId ?? '');
      if (list && !list.some((x) => x.replica === r.replica && x.service === r.service)) list.push(reply);
      return;
    }
    if (env.runResult) {
      const r = env.runResult;
      if (!this.results.has(r.runId ?? '')) this.results.set(r.runId ?? '', { runId: r.runId ?? '', summaryJson: r.summaryJson ?? '', files: [...(r.files ?? [])], error: r.error ?? '' });
      for (const w of this.resultWaiters.splice(0)) w();
      return;
    }
    return dispatch(m);
  }

  /** Every replica heard from (heartbeat or answer) within the last `leaseMs`, with when. */
  heardWithin(leaseMs: number): HeardReply[] {
    const now = performance.now(); // wall-clock ok: liveness
    return [...this.heard.values()].filter((h) => now - h.atMs <= leaseMs).sort((a, b) => (`${a.reply.service}/${a.reply.replica}` < `${b.reply.service}/${b.reply.replica}` ? -1 : 1));
  }

  /** One probe round: who answers within `waitMs`; `failover`: during the run (it stalled). */
  async probe(runId: string, waitMs: number, failover = false): Promise<ReadyReply[]> {
    const probeId = `${this.conductorId}-${this.seq++}`;
    this.replies.set(probeId, []);
    const env = pb.Envelope.create({ runId, sourceNode: CONDUCTOR_NODE, seq: this.seq, readyProbe: { probeId, runId, failover } });
    this.bus.publish({ topic: TOPICS.control, key: CONDUCTOR_NODE, value: encodeEnvelope(env) });
    // Bounded: with the broker gone a flush waits for the producer's whole outage budget, and
    // the failover rounds (and the broker check beside them) must keep running meanwhile.
    await Promise.race([this.bus.flush(), sleep(Math.max(waitMs, 2000))]);
    await sleep(waitMs);
    const replies = this.replies.get(probeId) ?? [];
    this.replies.delete(probeId);
    return replies;
  }

  /** Probes until two consecutive probes give the same complete placement, or the timeout. */
  async negotiate(o: { runId: string; hosts: string[]; vms: string[]; timeoutMs: number; probeIntervalMs?: number }): Promise<{ assignments: NodeAssignment[]; replicas: ReadyReply[] }> {
    const interval = o.probeIntervalMs ?? 250;
    const deadline = performance.now() + o.timeoutMs; // wall-clock ok: handshake timeout
    let previous = '';
    let last: AssignmentOutcome = { ok: false, problems: ['no service answered'] };
    while (performance.now() < deadline) { // wall-clock ok: handshake timeout
      last = computeAssignments(o.hosts, o.vms, await this.probe(o.runId, interval));
      if (!last.ok) {
        previous = '';
        continue;
      }
      const key = JSON.stringify(last.assignments) + JSON.stringify(last.replicas.map((r) => [r.service, r.replica, r.partitions]).sort());
      if (key === previous) return { assignments: last.assignments, replicas: last.replicas };
      previous = key;
    }
    const problems = last.ok ? ['the consumer groups kept rebalancing'] : last.problems;
    throw new ClusterNotReadyError(`the cluster is not ready after ${Math.round(o.timeoutMs / 1000)} s: ${problems.join('; ')}`);
  }

  /** Resolves with the aggregator's RunResult for `runId`, or null after `timeoutMs`. */
  async waitForResult(runId: string, timeoutMs: number): Promise<RunResultMessage | null> {
    const deadline = performance.now() + timeoutMs; // wall-clock ok: result timeout
    while (!this.results.has(runId)) {
      const left = deadline - performance.now(); // wall-clock ok: result timeout
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left); // wall-clock ok: result timeout
        this.resultWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.results.get(runId)!;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms)); // wall-clock ok: handshake pacing
}
