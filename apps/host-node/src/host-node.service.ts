// host-node: simulates the physical hosts this replica owns. For each granted epoch and each
// owned host it waits for exactly the announced node-to-node messages, hands the host's inbound
// VM transfers and the grant to the engine's host step (@vpmu/engine: arrivals, checkpoint
// cadence, the window, canonical event order), then sends what the step returns: the checkpoint
// to the aggregator (and on a cluster to vpmu.checkpoints), the events to the aggregator, each
// VM's guest output to its guest-vm node and each hand-off to its destination host, and reports.
// Failover (cluster): it can adopt a host mid-run, restored from the host's latest checkpoint
// (or rebuilt from the start of the run) and re-simulated up to the current epoch from the run's
// log; everything it re-sends has the (epoch, source, seq) it had the first time.
import { Inject, Injectable } from '@nestjs/common';
import { freshHostWorlds, stepHost, type InboundTransfer } from '@vpmu/engine';
import { restoreHostWorld, type HostWorld, type VmTransferOut } from '@vpmu/host';
import { encodeEventBatch, type vpmu } from '@vpmu/proto';
import { vpmuStateFromMessage, vpmuStateToMessage } from './vpmu-state.codec';
import {
  AGGREGATOR_NODE,
  checkpointKey,
  EpochParticipants,
  fromActionMessage,
  hostNode,
  MESSAGE_BUS,
  nodesAssignedTo,
  runContextFromStart,
  TOPICS,
  vmNode,
  type Adoption,
  type AdoptionPort,
  type MessageBus,
  type Participant,
  type RunContext,
} from '@vpmu/transport';

export const HOST_NODE_CONFIG = Symbol('HOST_NODE_CONFIG');
export interface HostNodeConfig {
  /** Host ids this replica simulates, or 'all'. */
  hosts: string[] | 'all';
  /** Cluster replica id: when RunStart assigns nodes, this replica simulates those assigned to it. */
  replica?: string;
  /** Cluster: also publish each checkpoint on vpmu.checkpoints, where a takeover reads it. */
  publishCheckpoints?: boolean;
}

@Injectable()
export class HostNodeService implements AdoptionPort {
  private run: RunContext | null = null;
  private participants: EpochParticipants<HostWorld> | null = null;
  /** Adopted hosts: the checkpoint they resume from, re-sent as it was when that epoch re-runs. */
  private readonly resumeCheckpoints = new Map<string, Uint8Array>();

  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(HOST_NODE_CONFIG) private readonly config: HostNodeConfig,
  ) {}

  get runId(): string | null {
    return this.run?.runId ?? null;
  }

  owns(node: string): boolean {
    return this.participants?.has(node) ?? false;
  }

  onRunStart(m: vpmu.v1.IRunStart): void {
    const assigned = nodesAssignedTo(m, this.config.replica);
    this.begin(m, (hostId) => (assigned ? assigned.has(hostNode(hostId)) : this.config.hosts === 'all' || this.config.hosts.includes(hostId)));
  }

  private begin(m: vpmu.v1.IRunStart, owned: (hostId: string) => boolean): void {
    const run = runContextFromStart(m);
    this.run = run;
    this.resumeCheckpoints.clear();
    this.participants = new EpochParticipants(run.runId, this.bus, (p, grant, inbound) => this.runEpoch(run, p, grant, inbound));
    const hostIds = run.scenario.hosts.map((h) => h.id).filter(owned);
    for (const world of freshHostWorlds(run.scenario, hostIds)) this.participants.add(hostNode(world.id), world);
  }

  onRunEnd(): void {
    this.run = null;
    this.participants = null;
    this.resumeCheckpoints.clear();
  }

  ownedNodes(): string[] {
    return this.participants?.all().map((p) => p.node) ?? [];
  }

  release(nodes: string[]): void {
    for (const n of nodes) this.participants?.remove(n);
  }

  /** Restores each host from its latest checkpoint (else from the start) and re-simulates it. */
  adopt(a: Adoption): void {
    if (!a.inRun || this.run?.runId !== a.runStart.runId) this.begin(a.runStart, () => false);
    const run = this.run!;
    const participants = this.participants!;
    for (const node of a.nodes) {
      let latest: vpmu.v1.Envelope | null = null;
      for (const env of a.envelopes) {
        if (env.checkpoint && env.sourceNode === node && (latest === null || (env.checkpoint.epoch ?? 0) > (latest.checkpoint!.epoch ?? 0))) latest = env;
      }
      this.resumeCheckpoints.delete(node);
      if (latest) {
        const state = latest.checkpoint!.state ?? new Uint8Array();
        this.resumeCheckpoints.set(node, state);
        participants.restore(node, restoreHostWorld(state), { epoch: latest.checkpoint!.epoch ?? 0, seq: latest.seq, inboundApplied: true });
      } else {
        const hostId = node.slice(hostNode('').length);
        participants.restore(node, freshHostWorlds(run.scenario, [hostId])[0], { epoch: 0, seq: 0, inboundApplied: false });
      }
    }
    for (const env of a.envelopes) if (!env.checkpoint) participants.onMessage(env);
    for (const g of a.grants) participants.onGrant(g);
  }

  onGrant(grant: vpmu.v1.IEpochGrant): void {
    this.participants?.onGrant(grant);
  }

  onInbox(env: vpmu.v1.Envelope): void {
    this.participants?.onMessage(env);
  }

  private runEpoch(run: RunContext, p: Participant<HostWorld>, grant: vpmu.v1.IEpochGrant, inbound: vpmu.v1.Envelope[]): number {
    const epoch = grant.epoch ?? 0;
    if (epoch >= run.epochs) return 0; // drain epochs: nothing to simulate (the step would skip them too)
    const startNs = Number(grant.startNs);
    // A host restored from this epoch's checkpoint already holds its arrivals.
    const resumed = p.resumedAt === epoch;
    const step = stepHost(p.state, run.scenario, {
      epoch,
      startNs,
      endNs: Number(grant.endNs),
      actions: (grant.actions ?? []).map(fromActionMessage),
      inbound: inbound.filter((env) => env.vmTransfer).map(inboundTransferOf),
      ...(resumed && { resumedFrom: { checkpoint: this.resumeCheckpoints.get(p.node) ?? null } }),
    });
    if (step.checkpoint !== null) {
      // The host's whole state at the start of this epoch: inspect --at and takeover restore it.
      const bytes = p.endpoint.send(TOPICS.events, AGGREGATOR_NODE, epoch, { checkpoint: { epoch, node: p.node, state: step.checkpoint } });
      if (this.config.publishCheckpoints && !resumed) this.bus.publish({ topic: TOPICS.checkpoints, key: checkpointKey(run.runId, p.node), value: bytes });
    }
    if (resumed) this.resumeCheckpoints.delete(p.node);
    p.endpoint.send(TOPICS.events, AGGREGATOR_NODE, epoch, { events: encodeEventBatch(step.events, startNs) }, step.events.length);
    for (const g of step.guestOutputs) {
      p.endpoint.send(TOPICS.inbox, vmNode(g.vm), epoch, { guestOutput: { vm: g.vm, workloadUnits: g.workloadUnits, guestNs: g.guestNs } });
    }
    for (const t of step.transfers) {
      const vm = run.scenario.vms.find((v) => v.id === t.vm)!;
      p.endpoint.send(TOPICS.inbox, hostNode(t.toHost), epoch, {
        vmTransfer: {
          vm: t.vm,
          fromHost: t.fromHost,
          toHost: t.toHost,
          pausedAtNs: t.pausedAtNs,
          readyAtNs: t.readyAtNs,
          bytesSent: t.bytesSent,
          guestState: t.guestState,
          // The vPMU state taken from the live backends at stop-and-copy (libs/migration vpmu-state.ts).
          vpmu: t.vpmu ? vpmuStateToMessage(t.vpmu) : { vm: t.vm, mode: vm.vpmu.mode, armPmu: vm.vpmu.armPmu ?? '', armNrCounters: vm.vpmu.nrCounters ?? 0 },
        },
      });
    }
    return step.events.length;
  }
}

function inboundTransferOf(env: vpmu.v1.Envelope): InboundTransfer {
  return { key: { sentEpoch: env.epoch, sourceNode: env.sourceNode, seq: env.seq }, transfer: vmTransferFromMessage(env.vmTransfer!) };
}

function vmTransferFromMessage(m: vpmu.v1.IVmTransfer): VmTransferOut {
  return {
    vm: m.vm ?? '',
    fromHost: m.fromHost ?? '',
    toHost: m.toHost ?? '',
    pausedAtNs: Number(m.pausedAtNs ?? 0),
    readyAtNs: Number(m.readyAtNs ?? 0),
    bytesSent: Number(m.bytesSent ?? 0),
    guestState: m.guestState ?? new Uint8Array(),
    ...(m.vpmu && (m.vpmu.vcpus?.length ?? 0) > 0 && { vpmu: vpmuStateFromMessage(m.vpmu) }),
  };
}
