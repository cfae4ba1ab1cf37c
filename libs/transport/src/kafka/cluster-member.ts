// The service side of the cluster handshake, as a delivery interceptor in front of a service's
// handlers (host-node, guest-vm, aggregator processes):
// - answers the conductor's ReadyProbe with ServiceReady once its consumers are positioned,
//   naming the vpmu.inbox partitions its consumer group assigned it (or its static nodes);
// - holds messages of the announced run that overtake that run's RunStart (Kafka orders only
//   within a partition: a guest output may arrive before RunStart on another topic) and
//   releases them right after RunStart has been handled;
// - drops duplicate control messages by (run, source, seq): a retried produce may deliver a
//   RunStart or a grant twice, and a second RunStart would restart the run.
import { decodeEnvelope, pb, encodeEnvelope, type vpmu } from '@vpmu/proto';
import type { BusMessage, MessageBus } from '../message-bus.port';
import { CONDUCTOR_NODE, TOPICS } from '../topics';
import type { DeliveryInterceptor } from './kafka.server';

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
}

export class ClusterMember implements DeliveryInterceptor {
  private announced: string | null = null;
  private current: string | null = null;
  private readonly held: BusMessage[] = [];
  private seenControl = new Set<string>();
  private seq = 0;
  private lastAnswer = '';

  constructor(private readonly o: ClusterMemberOptions) {}

  async intercept(m: BusMessage, dispatch: (m: BusMessage) => Promise<void>): Promise<void> {
    if (m.topic === TOPICS.deadletter) return dispatch(m);
    let env: vpmu.v1.Envelope;
    try {
      env = decodeEnvelope(m.value);
    } catch {
      return dispatch(m); // the handler dead-letters it with the reason
    }
    if (m.topic !== TOPICS.control) {
      if (env.runId === this.announced && env.runId !== this.current) {
        this.held.push(m);
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
      this.o.log(`run ${env.runId} started`);
      const early = this.held.splice(0);
      for (const h of early) await dispatch(h);
      return;
    }
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
    // A conductor probes only between runs: whatever run this replica was in is over (its
    // conductor is gone), and control sequence numbers restart with the new conductor.
    if ((probe.runId ?? '') !== this.announced) this.held.length = 0;
    this.announced = probe.runId ?? '';
    this.current = null;
    this.seenControl.clear();
    const partitions = this.o.staticNodes.length > 0 ? [] : this.o.assignedPartitions();
    const ready = { probeId: probe.probeId, service: this.o.service, replica: this.o.replica, partitions, partitionCount: this.o.partitionCount, staticNodes: this.o.staticNodes };
    const answer = `${partitions.join(',')}/${this.o.partitionCount}`;
    if (answer !== this.lastAnswer) {
      this.lastAnswer = answer;
      this.o.log(`answering the conductor: ${this.o.staticNodes.length > 0 ? `owns ${this.o.staticNodes.join(',')}` : `vpmu.inbox partitions [${partitions.join(',')}] of ${this.o.partitionCount}`}`);
    }
    const env = pb.Envelope.create({ runId: probe.runId ?? '', sourceNode: `${this.o.service}/${this.o.replica}`, seq: this.seq++, destination: CONDUCTOR_NODE, serviceReady: ready });
    this.o.bus.publish({ topic: TOPICS.reports, key: CONDUCTOR_NODE, value: encodeEnvelope(env) });
  }
}
