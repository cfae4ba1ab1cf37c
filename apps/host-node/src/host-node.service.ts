// host-node: simulates the physical hosts this replica owns. For each granted epoch and each
// owned host it waits for exactly the announced node-to-node messages, simulates the window,
// sends the host's events to the aggregator and each VM's guest output to its guest-vm node,
// then reports. The simulation itself is libs/host; this service only moves messages.
import { Inject, Injectable } from '@nestjs/common';
import { HostWorld, snapshotHostWorld, type VmTransferOut } from '@vpmu/host';
import { encodeEventBatch, type vpmu } from '@vpmu/proto';
import { Prng, sortEventsCanonically } from '@vpmu/sim';
import {
  AGGREGATOR_NODE,
  EpochParticipants,
  fromActionMessage,
  hostNode,
  MESSAGE_BUS,
  nodesAssignedTo,
  runContextFromStart,
  TOPICS,
  vmNode,
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
}

@Injectable()
export class HostNodeService {
  private run: RunContext | null = null;
  private participants: EpochParticipants<HostWorld> | null = null;

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
    const run = runContextFromStart(m);
    this.run = run;
    this.participants = new EpochParticipants(run.runId, this.bus, (p, grant, inbound) => this.runEpoch(run, p, grant, inbound));
    const root = Prng.fromSeed(run.scenario.seed);
    const assigned = nodesAssignedTo(m, this.config.replica);
    for (const h of run.scenario.hosts) {
      if (assigned ? !assigned.has(hostNode(h.id)) : this.config.hosts !== 'all' && !this.config.hosts.includes(h.id)) continue;
      this.participants.add(hostNode(h.id), new HostWorld(run.scenario, h.id, root));
    }
  }

  onRunEnd(): void {
    this.run = null;
    this.participants = null;
  }

  onGrant(grant: vpmu.v1.IEpochGrant): void {
    this.participants?.onGrant(grant);
  }

  onInbox(env: vpmu.v1.Envelope): void {
    this.participants?.onMessage(env);
  }

  private runEpoch(run: RunContext, p: Participant<HostWorld>, grant: vpmu.v1.IEpochGrant, inbound: vpmu.v1.Envelope[]): number {
    const epoch = grant.epoch ?? 0;
    if (epoch >= run.epochs) return 0; // drain epochs: nothing left to simulate
    const startNs = Number(grant.startNs);
    // VMs migrating in are applied first, so the checkpoint below holds them too.
    p.state.receiveArrivals(startNs, inbound.filter((env) => env.vmTransfer).map((env) => vmTransferFromMessage(env.vmTransfer!)));
    const every = run.scenario.checkpointEveryEpochs;
    if (every > 0 && epoch > 0 && epoch % every === 0) {
      // The host's whole state at the start of this epoch: inspect --at and takeover restore it.
      p.endpoint.send(TOPICS.events, AGGREGATOR_NODE, epoch, { checkpoint: { epoch, node: p.node, state: snapshotHostWorld(p.state) } });
    }
    const actions = (grant.actions ?? []).map(fromActionMessage);
    const result = p.state.runEpoch(startNs, Number(grant.endNs), actions);
    const events = sortEventsCanonically(result.events);
    p.endpoint.send(TOPICS.events, AGGREGATOR_NODE, epoch, { events: encodeEventBatch(events, startNs) });
    for (const g of result.guestOutputs) {
      p.endpoint.send(TOPICS.inbox, vmNode(g.vm), epoch, { guestOutput: { vm: g.vm, workloadUnits: g.workloadUnits, guestNs: g.guestNs } });
    }
    for (const t of result.transfers) {
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
          vpmu: { vm: t.vm, mode: vm.vpmu.mode, armPmu: vm.vpmu.armPmu ?? '', armNrCounters: vm.vpmu.nrCounters ?? 0 },
        },
      });
    }
    return events.length;
  }
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
  };
}
