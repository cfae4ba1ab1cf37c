// guest-vm: owns what belongs to a VM wherever it runs: its identity and its guest-visible
// results (the workload score, guest run time) and the guest's own perf output (what its
// `perf record` / `perf stat` sessions would have written). It receives each epoch's guest
// output from whichever host runs the VM, so a migrated VM's perf.data is one session across
// hosts, and in the first drain epoch hands the totals and the perf files to the aggregator.
// It only collects what it receives and sends nothing to a simulation node, so it never bounds
// a lookahead window: it takes a window's guest outputs at the next grant, all before the totals.
// Failover (cluster): a VM's state is its totals and guest events, rebuilt by re-running it
// from the start of the run with every guest output of the run's log.
import { Inject, Injectable } from '@nestjs/common';
import { buildGuestPerfFiles, GuestEventsCollector } from '@vpmu/guest-perf-output';
import { decodeEventBatch, guestFilePieces, type vpmu } from '@vpmu/proto';
import {
  AGGREGATOR_NODE,
  EpochParticipants,
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
  type StepOutcome,
} from '@vpmu/transport';

export const GUEST_VM_CONFIG = Symbol('GUEST_VM_CONFIG');
export interface GuestVmConfig {
  vms: string[] | 'all';
  /** Cluster replica id: when RunStart assigns nodes, this replica owns the VMs assigned to it. */
  replica?: string;
}

interface VmTotals {
  id: string;
  workloadUnits: number;
  guestNs: number;
  /** The guest-visible events so far (only for a VM with guest perf sessions). */
  guestEvents: GuestEventsCollector;
}

function freshTotals(id: string): VmTotals {
  return { id, workloadUnits: 0, guestNs: 0, guestEvents: new GuestEventsCollector() };
}

@Injectable()
export class GuestVmService implements AdoptionPort {
  private run: RunContext | null = null;
  private participants: EpochParticipants<VmTotals> | null = null;

  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(GUEST_VM_CONFIG) private readonly config: GuestVmConfig,
  ) {}

  get runId(): string | null {
    return this.run?.runId ?? null;
  }

  owns(node: string): boolean {
    return this.participants?.has(node) ?? false;
  }

  onRunStart(m: vpmu.v1.IRunStart): void {
    const assigned = nodesAssignedTo(m, this.config.replica);
    this.begin(m, (vmId) => (assigned ? assigned.has(vmNode(vmId)) : this.config.vms === 'all' || this.config.vms.includes(vmId)));
  }

  private begin(m: vpmu.v1.IRunStart, owned: (vmId: string) => boolean): void {
    const run = runContextFromStart(m);
    this.run = run;
    this.participants = new EpochParticipants(run.runId, this.bus, (p, grant, inbound) => this.runWindow(run, p, grant, inbound));
    for (const vm of run.scenario.vms) {
      if (owned(vm.id)) this.participants.add(vmNode(vm.id), freshTotals(vm.id));
    }
  }

  ownedNodes(): string[] {
    return this.participants?.all().map((p) => p.node) ?? [];
  }

  release(nodes: string[]): void {
    for (const n of nodes) this.participants?.remove(n);
  }

  /** Re-runs each VM from the start of the run with the guest outputs read back from the log. */
  adopt(a: Adoption): void {
    if (!a.inRun || this.run?.runId !== a.runStart.runId) this.begin(a.runStart, () => false);
    const participants = this.participants!;
    for (const node of a.nodes) {
      participants.restore(node, freshTotals(node.slice(vmNode('').length)), { epoch: 0, seq: 0, inboundApplied: false });
    }
    for (const env of a.envelopes) participants.onMessage(env);
    for (const g of a.grants) participants.onGrant(g);
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

  private runWindow(run: RunContext, p: Participant<VmTotals>, grant: vpmu.v1.IEpochGrant, inbound: vpmu.v1.Envelope[]): StepOutcome {
    const vm = p.state;
    for (const env of inbound) {
      if (!env.guestOutput) continue;
      vm.workloadUnits += Number(env.guestOutput.workloadUnits ?? 0);
      vm.guestNs += Number(env.guestOutput.guestNs ?? 0);
      const batch = env.guestOutput.guestEvents;
      if (batch && batch.length > 0) vm.guestEvents.onEvents(decodeEventBatch(batch));
    }
    // The first drain epoch is a grant of its own (windows never reach into the drain epochs).
    if (grant.epoch === run.epochs) {
      p.endpoint.send(TOPICS.events, AGGREGATOR_NODE, grant.epoch, { guestOutput: { vm: vm.id, workloadUnits: vm.workloadUnits, guestNs: vm.guestNs } });
      const spec = run.scenario.vms.find((v) => v.id === vm.id);
      if (spec) {
        for (const f of buildGuestPerfFiles(run.scenario, spec, vm.guestEvents.forVm(vm.id)).files) {
          for (const piece of guestFilePieces(vm.id, f)) p.endpoint.send(TOPICS.events, AGGREGATOR_NODE, grant.epoch, { guestFile: piece });
        }
      }
    }
    return { events: 0 };
  }
}
