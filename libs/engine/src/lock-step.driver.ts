// Every host of a scenario simulated in one process, epoch by epoch in lock step, exactly as the
// host nodes of a run simulate them: each host takes the same step (host-step.ts) with the
// timeline actions due in the epoch's window, and the VMs a host hands off in epoch e are routed
// to their destination for e + 1, keyed as the messages that carry them in a run (sent epoch,
// source host node, emission order). `vpmu inspect` drives it from a checkpoint to a virtual time
// inside an epoch and compares its frames with the recording; `vpmu overhead` reads the guest
// outputs; both get what they need through the per-epoch hook.
import { HostWorld, type GuestEpochOutput, type VmTransferOut } from '@vpmu/host';
import type { Scenario } from '@vpmu/world-spec';
import { Prng, type SimEvent } from '@vpmu/sim';
import { actionsDueIn, runEpochCount, runEpochWindow } from './epoch-schedule';
import { stepHost } from './host-step';
import type { InboundTransfer } from './inbound-transfers';

/** One host's output of one lock-step epoch. */
export interface LockStepHostFrame {
  hostId: string;
  /** Canonical order (by time, then emission), as the host node sends them. */
  events: SimEvent[];
  guestOutputs: GuestEpochOutput[];
  transfers: VmTransferOut[];
}

/** One epoch of a lock-step run: the hosts in canonical (host id) order. */
export interface LockStepFrame {
  epoch: number;
  startNs: number;
  /** Where the epoch's simulation stopped: its window's end, or `untilNs` inside the window. */
  endNs: number;
  /** The end of the epoch's window (endNs unless the run stopped inside it). */
  windowEndNs: number;
  hosts: LockStepHostFrame[];
}

export interface LockStepOptions {
  /** The epoch the worlds are at the start of (0, or the epoch of the checkpoints they were restored from). */
  fromEpoch?: number;
  /**
   * Stop at this virtual time: the epochs before it are simulated whole, the one it falls in
   * only up to it (events due exactly at untilNs have not happened). Default: the end of the run.
   */
  untilNs?: number;
  /** Called after each epoch with every host's output. */
  onEpoch?: (frame: LockStepFrame) => void;
  /** Called with each host's checkpoint when the cadence is due (none are taken without it). */
  onCheckpoint?: (epoch: number, hostId: string, state: Uint8Array) => void;
}

/** The hosts of the scenario (or those named), built fresh at virtual time 0 from the run's seed. */
export function freshHostWorlds(scenario: Scenario, hostIds: readonly string[] = scenario.hosts.map((h) => h.id)): HostWorld[] {
  const root = Prng.fromSeed(scenario.seed);
  return hostIds.map((id) => new HostWorld(scenario, id, root));
}

/**
 * Simulates `worlds` (at the start of `fromEpoch`) in lock step up to `untilNs`. Only the hosts
 * given are simulated: a VM handed off to a host not among them is an error.
 */
export function runLockStep(scenario: Scenario, worlds: readonly HostWorld[], options: LockStepOptions = {}): void {
  const untilNs = options.untilNs ?? scenario.durationNs;
  const epochs = runEpochCount(scenario);
  // Host ids order as their node ids `host/<id>` do (a common prefix), the canonical source order.
  const hosts = worlds.slice().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const byId = new Map(hosts.map((w) => [w.id, w]));
  let inbound = new Map<string, InboundTransfer[]>();
  for (let epoch = options.fromEpoch ?? 0; epoch < epochs; epoch++) {
    const window = runEpochWindow(scenario, epoch);
    if (window.startNs >= untilNs) break;
    const endNs = Math.min(window.endNs, untilNs);
    // A part-way epoch still queues every action of its window, as the host node does.
    const actions = actionsDueIn(scenario.timeline, window.startNs, window.endNs);
    const next = new Map<string, InboundTransfer[]>();
    const frames: LockStepHostFrame[] = [];
    for (const world of hosts) {
      const step = stepHost(world, scenario, {
        epoch,
        startNs: window.startNs,
        endNs,
        actions,
        inbound: inbound.get(world.id) ?? [],
        checkpoints: options.onCheckpoint !== undefined,
      });
      if (step.checkpoint !== null) options.onCheckpoint!(epoch, world.id, step.checkpoint);
      step.transfers.forEach((transfer, seq) => {
        if (!byId.has(transfer.toHost)) {
          throw new Error(`lock step: host ${world.id} hands VM ${transfer.vm} off to host ${transfer.toHost}, which is not simulated`);
        }
        let list = next.get(transfer.toHost);
        if (!list) next.set(transfer.toHost, (list = []));
        list.push({ key: { sentEpoch: epoch, sourceNode: world.id, seq }, transfer });
      });
      frames.push({ hostId: world.id, events: step.events, guestOutputs: step.guestOutputs, transfers: step.transfers });
    }
    inbound = next;
    options.onEpoch?.({ epoch, startNs: window.startNs, endNs, windowEndNs: window.endNs, hosts: frames });
  }
}
