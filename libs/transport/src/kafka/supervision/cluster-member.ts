// The service side of the cluster handshake, as a delivery interceptor in front of a service's
// handlers (host-node, guest-vm, aggregator processes):
// - answers the conductor's ReadyProbe with ServiceReady once its consumers are positioned,
//   naming the vpmu.inbox partitions its consumer group assigned it (or its static nodes);
// - holds messages of the announced run that overtake that run's RunStart (Kafka orders only
//   within a partition: a guest output may arrive before RunStart on another topic) and
//   releases them right after RunStart has been handled;
// - drops duplicate control messages by (run, source, seq): a retried produce may deliver a
//   RunStart or a grant twice, and a second RunStart would restart the run;
// - carries out the conductor's Takeover during a run (failover): drops the nodes given to
//   others, and adopts the nodes given to it by reading the run back from the log (RunStart and
//   grants, checkpoints, the nodes' messages; log-catch-up.ts) and handing that to the service,
//   which restores and re-simulates them. Live deliveries are held meanwhile and released after,
//   in order, so the adopter sees everything exactly once (duplicates are dropped downstream);
// - sends a heartbeat (ServiceReady marked heartbeat) every second from a timer that does not
//   wait behind queued deliveries, with how many deliveries it has handled: the conductor tells
//   a slow replica (heartbeats on time, handled count moving) from a dead one (no heartbeat).
import { decodeEnvelope, pb, encodeEnvelope, type vpmu } from '@vpmu/proto';
import type { BusMessage, MessageBus } from '../../bus/message-bus.port';
import { CONDUCTOR_NODE, TOPICS } from '../../bus/topics';
import type { DeliveryInterceptor } from '../messaging/kafka.server';
import type { LoggedEnvelope } from './log-catch-up';

/** What a service gets to adopt nodes mid-run. */
export interface Adoption {
  /** The run's RunStart (for a replica that was not in the run: it joins it first). */
  runStart: vpmu.v1.IRunStart;
  /** True when this replica was already in the run. */
  inRun: boolean;
  /** Every grant of the run so far, ascending by epoch. */
  grants: vpmu.v1.IEpochGrant[];
  /** The nodes to restore. */
  nodes: string[];
  /** The run's messages to those nodes (and, on vpmu.checkpoints, from them), in log order. */
  envelopes: vpmu.v1.Envelope[];
}

/** The service side of failover (host-node, guest-vm, aggregator services implement it). */
export interface AdoptionPort {
  /** The nodes this replica simulates now. */
  ownedNodes(): string[];
  /** Stops simulating `nodes` (the conductor gave them to another replica). */
  release(nodes: string[]): void;
  /**
   * Restores `a.nodes` and re-simulates them as far as the grants allow. May return a promise:
   * the adoption lasts (the member counts as busy) until it settles.
   */
  adopt(a: Adoption): void | Promise<void>;
}

/** Reads the run's envelopes back from `topics` (catchUpFromLog), keeping those `accept` wants. */
export type LogReader = (topics: string[], accept: (topic: string, env: vpmu.v1.Envelope) => boolean) => Promise<LoggedEnvelope[]>;

/** The topics an adopted node's state is rebuilt from, per service (besides vpmu.control). */
export const ADOPTION_TOPICS: Record<ServiceName, string[]> = {
  'host-node': [TOPICS.checkpoints, TOPICS.inbox],
  'guest-vm': [TOPICS.inbox],
  aggregator: [TOPICS.events],
};

export type ServiceName = 'host-node' | 'guest-vm' | 'aggregator';

export interface ClusterMemberOptions {
  service: ServiceName;
  replica: string;
  bus: MessageBus;
  /** The placement partition count of keyed messages (KafkaBus.placementPartitions). */
  partitionCount: number;
  /** Nodes this replica owns whatever the partitions (from --hosts / --vms), else empty. */
  staticNodes: string[];
  /** Consumer state, read at each probe. */
  isReady: () => boolean;
  assignedPartitions: () => number[];
  log: (line: string) => void;
  /** Called before RunStart reaches the handlers (the aggregator picks the run's directory). */
  beforeRunStart?: (m: vpmu.v1.IRunStart) => void;
  /** Failover: the service's adoption port and a reader of the log (absent: takeovers are ignored). */
  adoption?: () => AdoptionPort | null;
  readLog?: LogReader;
}

export class ClusterMember implements DeliveryInterceptor {
  private announced: string | null = null;
  private current: string | null = null;
  private readonly held: { m: BusMessage; dispatch: (m: BusMessage) => Promise<void> }[] = [];
  private seenControl = new Set<string>();
  private seq = 0;
  private lastAnswer = '';
  /** Set while an adoption reads the log: every delivery waits in `pending`, in order. */
  private adopting: string | null = null;
  private readonly pending: { m: BusMessage; dispatch: (m: BusMessage) => Promise<void> }[] = [];
  /** Resolves when the last adoption has finished (tests, shutdown). */
  idle: Promise<void> = Promise.resolve();
  /** Deliveries handled so far and being handled now (heartbeat evidence of progress). */
  private handled = 0;
  private inFlight = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: ClusterMemberOptions) {}

  async intercept(m: BusMessage, dispatch: (m: BusMessage) => Promise<void>): Promise<void> {
    this.inFlight++;
    try {
      if (this.adopting !== null) {
        this.pending.push({ m, dispatch });
        return;
      }
      return await this.process(m, dispatch);
    } finally {
      this.inFlight--;
      this.handled++;
    }
  }

  /** Sends a heartbeat every `intervalMs` until stopHeartbeats (the process lives, whatever its handlers do). */
  startHeartbeats(intervalMs = 1000): void {
    if (this.heartbeatTimer) return;
    this.heartbeatTimer = setInterval(() => this.heartbeat(), intervalMs); // wall-clock ok: liveness, never a simulation input
    this.heartbeatTimer.unref();
  }

  stopHeartbeats(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private heartbeat(): void {
    if (!this.o.isReady()) return; // a rebalance in flight: its partitions are not known yet
    const inRun = this.adopting ?? this.current ?? '';
    const partitions = this.o.staticNodes.length > 0 ? [] : this.o.assignedPartitions();
    const ready = { probeId: '', service: this.o.service, replica: this.o.replica, partitions, partitionCount: this.o.partitionCount, staticNodes: this.o.staticNodes, inRun, heartbeat: true, handled: this.handled, busy: this.inFlight > 0 || this.adopting !== null };
    const env = pb.Envelope.create({ runId: inRun, sourceNode: `${this.o.service}/${this.o.replica}`, seq: this.seq++, destination: CONDUCTOR_NODE, serviceReady: ready });
    try {
      this.o.bus.publish({ topic: TOPICS.reports, key: CONDUCTOR_NODE, value: encodeEnvelope(env) });
    } catch {
      this.stopHeartbeats(); // the bus is closed: the process is shutting down
    }
  }

  private async process(m: BusMessage, dispatch: (m: BusMessage) => Promise<void>): Promise<void> {
    if (m.topic === TOPICS.deadletter) return dispatch(m);
    let env: vpmu.v1.Envelope;
    try {
      env = decodeEnvelope(m.value);
    } catch {
      return dispatch(m); // the handler dead-letters it with the reason
    }
    if (m.topic !== TOPICS.control) {
      if (env.runId === this.announced && env.runId !== this.current) {
        this.held.push({ m, dispatch });
        return;
      }
      return dispatch(m);
    }
    if (env.readyProbe) return this.answer(env.readyProbe);
    const id = `${env.runId}\u0000${env.sourceNode}\u0000${env.seq}`;
    if (this.seenControl.has(id)) return; // a duplicate delivery
    this.seenControl.add(id);
    if (env.runStart) {
      this.seenControl = new Set([id]);
      this.o.beforeRunStart?.(env.runStart);
      await dispatch(m);
      this.current = env.runId;
      const owns = (env.runStart.assignments ?? []).filter((x) => x.replica === this.o.replica).map((x) => x.node);
      this.o.log(`run ${env.runId} started${owns.length > 0 ? `; simulating ${owns.join(' ')}` : ''}`);
      const early = this.held.splice(0);
      for (const h of early) await h.dispatch(h.m);
      return;
    }
    if (env.takeover) return this.onTakeover(env.runId, env.takeover);
    if (env.runEnd && env.runId === this.current) {
      await dispatch(m);
      this.o.log(`run ${env.runId} ended: ${env.runEnd.reason}`);
      this.current = null;
      this.announced = null;
      this.seenControl.clear();
      return;
    }
    return dispatch(m);
  }

  private answer(probe: vpmu.v1.IReadyProbe): void {
    if (!this.o.isReady()) return; // the conductor probes again
    const runId = probe.runId ?? '';
    const inRun = this.adopting ?? this.current;
    if (!probe.failover || runId !== inRun) {
      // A probe before a run: whatever run this replica was in is over (its conductor is gone;
      // a new one may start the same run id again), and control sequence numbers restart with
      // the new conductor. The conductor of the current run also probes during the run when it
      // stalls (failover, run-supervisor.ts): the replica then keeps its run and says so.
      if (runId !== this.announced) this.held.length = 0;
      this.announced = runId;
      this.current = null;
      this.seenControl.clear();
    }
    const partitions = this.o.staticNodes.length > 0 ? [] : this.o.assignedPartitions();
    const ready = { probeId: probe.probeId, service: this.o.service, replica: this.o.replica, partitions, partitionCount: this.o.partitionCount, staticNodes: this.o.staticNodes, inRun: probe.failover && runId === inRun ? runId : '', handled: this.handled, busy: this.inFlight > 1 };
    const answer = `${partitions.join(',')}/${this.o.partitionCount}`;
    if (answer !== this.lastAnswer) {
      this.lastAnswer = answer;
      this.o.log(`answering the conductor: ${this.o.staticNodes.length > 0 ? `owns ${this.o.staticNodes.join(',')}` : `vpmu.inbox partitions [${partitions.join(',')}] of ${this.o.partitionCount}`}`);
    }
    const env = pb.Envelope.create({ runId: probe.runId ?? '', sourceNode: `${this.o.service}/${this.o.replica}`, seq: this.seq++, destination: CONDUCTOR_NODE, serviceReady: ready });
    this.o.bus.publish({ topic: TOPICS.reports, key: CONDUCTOR_NODE, value: encodeEnvelope(env) });
  }

  private onTakeover(runId: string, t: vpmu.v1.ITakeover): void {
    const port = this.o.adoption?.() ?? null;
    if (!port || !this.o.readLog) return;
    if (runId !== this.current && runId !== this.announced) return; // another conductor's run
    const mine = new Set((t.assignments ?? []).filter((a) => a.replica === this.o.replica).map((a) => a.node ?? ''));
    const inRun = runId === this.current;
    if (inRun) {
      const gone = port.ownedNodes().filter((n) => !mine.has(n));
      if (gone.length > 0) {
        port.release(gone);
        this.o.log(`takeover at epoch ${t.epoch}: released ${gone.join(' ')}`);
      }
    }
    const adopt = (t.adopt ?? []).filter((n) => mine.has(n)).sort();
    if (adopt.length === 0) return;
    this.o.log(`takeover at epoch ${t.epoch}${t.reason ? ` (${t.reason})` : ''}: adopting ${adopt.join(' ')}; reading run ${runId} back from the log`);
    this.adopting = runId;
    this.idle = this.adopt(port, runId, inRun, adopt, t.epoch ?? 0);
  }

  private async adopt(port: AdoptionPort, runId: string, inRun: boolean, nodes: string[], epoch: number): Promise<void> {
    const t0 = performance.now(); // wall-clock ok: reporting only
    const wanted = new Set(nodes);
    try {
      const logged = await this.o.readLog!([TOPICS.control, ...ADOPTION_TOPICS[this.o.service]], (topic, env) => {
        if (env.runId !== runId) return false;
        if (topic === TOPICS.control) return !!(env.runStart || env.grant);
        if (topic === TOPICS.checkpoints) return !!env.checkpoint && wanted.has(env.sourceNode);
        return wanted.has(env.destination);
      });
      // The run id repeats when a scenario is run again: this run is what follows its last
      // RunStart, whose log_start says where each partition's share of it begins.
      let start: LoggedEnvelope | null = null;
      for (const e of logged) if (e.env.runStart && (start === null || e.offset > start.offset)) start = e;
      if (!start) throw new Error(`run ${runId} has no RunStart on ${TOPICS.control}`);
      const runStart = start.env.runStart!;
      const from = new Map((runStart.logStart ?? []).map((x) => [`${x.topic}/${x.partition}`, Number(x.offset)]));
      const envelopes = logged
        .filter((e) => e.env !== start!.env && (e.topic === TOPICS.control ? e.partition === start!.partition && e.offset > start!.offset : e.offset >= (from.get(`${e.topic}/${e.partition}`) ?? 0)))
        .map((e) => e.env);
      const grants = new Map<number, vpmu.v1.IEpochGrant>();
      for (const e of envelopes) if (e.grant && !grants.has(e.grant.epoch ?? 0)) grants.set(e.grant.epoch ?? 0, e.grant);
      if (!inRun) this.o.beforeRunStart?.(runStart);
      await port.adopt({
        runStart,
        inRun,
        grants: [...grants.values()].sort((a, b) => (a.epoch ?? 0) - (b.epoch ?? 0)),
        nodes,
        envelopes: envelopes.filter((e) => !e.grant),
      });
      if (!inRun) {
        this.current = runId;
        this.o.log(`run ${runId} joined at epoch ${epoch}`);
      }
      this.o.log(`adopted ${nodes.join(' ')} in ${Math.round(performance.now() - t0)} ms (${grants.size} grants, ${envelopes.length - grants.size} messages read back)`); // wall-clock ok: reporting only
    } catch (err) {
      // The nodes stay stalled; the conductor tries again or ends the run with the reason.
      this.o.log(`takeover of ${nodes.join(' ')} failed: ${(err as Error).message}`);
    }
    // Release what arrived before (a replica joining the run held the run's messages) and
    // meanwhile, in order, then deliver live again.
    const failed = (m: BusMessage) => (err: unknown) => this.o.log(`delivery of a ${m.topic} message failed: ${(err as Error).message}`);
    if (this.current === runId) for (const h of this.held.splice(0)) await h.dispatch(h.m).catch(failed(h.m));
    while (this.pending.length > 0) {
      const { m, dispatch } = this.pending.shift()!;
      await this.process(m, dispatch).catch(failed(m));
    }
    this.adopting = null;
  }
}
