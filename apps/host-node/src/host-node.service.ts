// host-node: simulates the physical hosts this replica owns. For each grant (a lookahead window
// of one or more epochs) and each owned host it waits for exactly the announced node-to-node
// messages, then steps the host through every epoch of the window with the engine's host step
// (@vpmu/engine: arrivals at the window's first epoch, checkpoint cadence, the epoch's window and
// actions, canonical event order), and sends per epoch what the step returns: the checkpoint to
// the aggregator (and on a cluster to vpmu.checkpoints), the events to the aggregator, each VM's
// guest output to its guest-vm node and each hand-off to its destination host. Its report says
// when it may next hand a VM off, which bounds the conductor's next window; a hand-off inside a
// window (before its last epoch) would reach its destination late, so it is refused as a bug.
// Failover (cluster): it can adopt a host mid-run, restored from the host's latest checkpoint
// (or rebuilt from the start of the run) and re-simulated up to the current epoch from the run's
// log; everything it re-sends has the (epoch, source, seq) it had the first time.
import { Inject, Injectable } from '@nestjs/common';
import { actionsDueIn, freshHostWorlds, runEpochWindow, stepHost, type InboundTransfer } from '@vpmu/engine';
import { restoreHostWorld, type HostWorld, type VmTransferOut } from '@vpmu/host';
import { isGuestVisible } from '@vpmu/guest-perf-output';
import { encodeEventBatch, type vpmu } from '@vpmu/proto';
import type { SimEvent } from '@vpmu/sim';
import type { Scenario, TimelineEntry } from '@vpmu/world-spec';
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
  grantEndEpoch,
  type Participant,
  type RunContext,
  type StepOutcome,
  yieldToEventLoop,
  YIELD_AFTER_MS,
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
    this.participants = new EpochParticipants(run.runId, this.bus, (p, grant, inbound, fromEpoch) => this.runWindow(run, p, grant, inbound, fromEpoch));
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

  /**
   * Restores each host from its latest checkpoint (else from the start) and re-simulates it. The
   * checkpoint is the latest one at or before the first epoch of the current (last) grant, so
   * the host re-runs that whole window and its report counts everything it sent in it.
   */
  adopt(a: Adoption): Promise<void> {
    if (!a.inRun || this.run?.runId !== a.runStart.runId) this.begin(a.runStart, () => false);
    const run = this.run!;
    const participants = this.participants!;
    let currentGrantEpoch = 0;
    for (const g of a.grants) currentGrantEpoch = Math.max(currentGrantEpoch, g.epoch ?? 0);
    for (const node of a.nodes) {
      let latest: vpmu.v1.Envelope | null = null;
      for (const env of a.envelopes) {
        const at = env.checkpoint?.epoch ?? 0;
        if (env.checkpoint && env.sourceNode === node && at <= currentGrantEpoch && (latest === null || at > (latest.checkpoint!.epoch ?? 0))) latest = env;
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
    return participants.settled();
  }

  /** Resolves when the windows the grant made runnable have run (the delivery stays in flight until then). */
  onGrant(grant: vpmu.v1.IEpochGrant): Promise<void> {
    this.participants?.onGrant(grant);
    return this.participants?.settled() ?? Promise.resolve();
  }

  onInbox(env: vpmu.v1.Envelope): Promise<void> {
    this.participants?.onMessage(env);
    return this.participants?.settled() ?? Promise.resolve();
  }

  private async runWindow(run: RunContext, p: Participant<HostWorld>, grant: vpmu.v1.IEpochGrant, inbound: vpmu.v1.Envelope[], fromEpoch: number): Promise<StepOutcome> {
    const first = grant.epoch ?? 0;
    const endEpoch = Math.min(grantEndEpoch(grant), run.epochs);
    const actions = (grant.actions ?? []).map(fromActionMessage);
    // Hosts receive only hand-offs, each sent in the last epoch of a window: all were sent in first - 1.
    const late = inbound.find((env) => env.epoch !== first - 1);
    if (late) throw new Error(`${p.node}: a message sent in epoch ${late.epoch} by ${late.sourceNode} arrived for the window starting at epoch ${first}: a lookahead window was granted past a hand-off (seed ${run.scenario.seed})`);
    let events = 0;
    let sliceStartMs = performance.now(); // wall-clock ok: when to yield, never what is simulated
    for (let epoch = fromEpoch; epoch < endEpoch; epoch++) {
      // Yielding changes when the epochs run, never what they compute.
      if (epoch > fromEpoch && performance.now() - sliceStartMs >= YIELD_AFTER_MS) { // wall-clock ok: when to yield
        await yieldToEventLoop();
        if (this.run !== run || this.participants?.get(p.node) !== p) return { events }; // taken away meanwhile
        sliceStartMs = performance.now(); // wall-clock ok
      }
      events += this.runEpoch(run, p, epoch, actions, epoch === first ? inbound : [], epoch === grantEndEpoch(grant) - 1);
    }
    // Drain epochs simulate nothing and hand nothing off.
    return { events, nextSendNs: first >= run.epochs ? Infinity : p.state.earliestHandOffNs() };
  }

  private runEpoch(run: RunContext, p: Participant<HostWorld>, epoch: number, windowActions: TimelineEntry[], inbound: vpmu.v1.Envelope[], lastOfWindow: boolean): number {
    const w = runEpochWindow(run.scenario, epoch);
    const startNs = w.startNs;
    // A host restored from this epoch's checkpoint already holds its arrivals.
    const resumed = p.resumedAt === epoch;
    const step = stepHost(p.state, run.scenario, {
      epoch,
      startNs,
      endNs: w.endNs,
      actions: actionsDueIn(windowActions, w.startNs, w.endNs),
      inbound: inbound.filter((env) => env.vmTransfer).map(inboundTransferOf),
      ...(resumed && { resumedFrom: { checkpoint: this.resumeCheckpoints.get(p.node) ?? null } }),
    });
    if (step.checkpoint !== null) {
      // The host's whole state at the start of this epoch: inspect --at and takeover restore it.
      const bytes = p.endpoint.send(TOPICS.events, AGGREGATOR_NODE, epoch, { checkpoint: { epoch, node: p.node, state: step.checkpoint } });
      if (this.config.publishCheckpoints && !resumed) this.bus.publish({ topic: TOPICS.checkpoints, key: checkpointKey(run.runId, p.node), value: bytes });
    }
    if (resumed) this.resumeCheckpoints.delete(p.node);
    p.endpoint.send(TOPICS.events, AGGREGATOR_NODE, epoch, { events: encodeEventBatch(step.events, startNs) }, step.events.length, step.events);
    const guestViews = guestViewBatches(run.scenario, step.events, startNs);
    for (const g of step.guestOutputs) {
      const guestEvents = guestViews.get(g.vm);
      guestViews.delete(g.vm);
      p.endpoint.send(TOPICS.inbox, vmNode(g.vm), epoch, { guestOutput: { vm: g.vm, workloadUnits: g.workloadUnits, guestNs: g.guestNs, ...(guestEvents && { guestEvents }) } });
    }
    // A VM that left this host during the epoch (migration) has no output here, but its guest
    // saw events until it paused: they belong to its one perf session across hosts.
    for (const [vm, guestEvents] of guestViews) p.endpoint.send(TOPICS.inbox, vmNode(vm), epoch, { guestOutput: { vm, guestEvents } });
    if (step.transfers.length > 0 && !lastOfWindow) {
      throw new Error(`${p.node}: hands VM ${step.transfers[0].vm} off in epoch ${epoch}, inside a lookahead window that runs past it: its destination would apply it late (seed ${run.scenario.seed}, ${step.transfers[0].pausedAtNs} ns)`);
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

/**
 * Per VM with a guest perf session, its guest-visible events of the epoch, encoded, for the
 * guest-vm service to build the guest's perf files from (VMs without a session: nothing to build).
 * In the order the VMs first appear in the events (canonical), so the messages are too.
 */
function guestViewBatches(scenario: Scenario, events: readonly SimEvent[], startNs: number): Map<string, Uint8Array> {
  const perVm = new Map<string, SimEvent[]>();
  const withSessions = new Set(scenario.vms.filter((v) => v.guestPerf.length > 0).map((v) => v.id));
  if (withSessions.size === 0) return new Map();
  for (const e of events) {
    const vm = e.at.vm;
    if (vm === undefined || !withSessions.has(vm) || !isGuestVisible(e)) continue;
    let list = perVm.get(vm);
    if (!list) perVm.set(vm, (list = []));
    list.push(e);
  }
  return new Map([...perVm].map(([vm, list]) => [vm, encodeEventBatch(list, startNs)]));
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
