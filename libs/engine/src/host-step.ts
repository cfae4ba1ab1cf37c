// One host through one epoch, the unit both a host node (one granted epoch of a host it owns)
// and the lock-step driver (every host of a scenario in one process) simulate by. In order:
// the VMs handed off to this host in the previous epoch arrive (canonical order), then, when the
// cadence says so, the host's whole state is checkpointed (so the checkpoint holds the arrivals
// and a host restored from it resumes the epoch without them), then the window is simulated with
// the timeline actions due in it. The events come out in the canonical order of a node's batch.
import { snapshotHostWorld, type GuestEpochOutput, type HostWorld, type VmTransferOut } from '@vpmu/host';
import type { Scenario, TimelineEntry } from '@vpmu/world-spec';
import { sortEventsCanonically, type SimEvent } from '@vpmu/sim';
import { checkpointDue, runEpochCount } from './epoch-schedule';
import { orderInboundTransfers, type InboundTransfer } from './inbound-transfers';
import { summarizeTrace } from './trace-summary';

export interface HostStepInput {
  epoch: number;
  startNs: number;
  /** Where to stop: the window's end, or earlier to see the host part-way through the epoch. */
  endNs: number;
  /** The timeline entries due in the epoch's window (actionsDueIn), queued at its start. */
  actions: readonly TimelineEntry[];
  /** VMs handed off to this host during the previous epoch, in any order. */
  inbound: readonly InboundTransfer[];
  /**
   * Set when the world was restored from this epoch's checkpoint: it already holds the epoch's
   * arrivals (inbound is then ignored), and a checkpoint due now is these same bytes again.
   */
  resumedFrom?: { checkpoint: Uint8Array | null };
  /** False to skip checkpointing (a driver that never restores); default true. */
  checkpoints?: boolean;
}

export interface HostStepResult {
  /** The host's state at the start of the epoch, after its arrivals, when the cadence is due; else null. */
  checkpoint: Uint8Array | null;
  /** The epoch's events in canonical order (by time, then emission). */
  events: SimEvent[];
  guestOutputs: GuestEpochOutput[];
  /** VMs leaving this host: applied by their destination at the start of the next epoch. */
  transfers: VmTransferOut[];
}

export function stepHost(world: HostWorld, scenario: Scenario, input: HostStepInput): HostStepResult {
  // The drain epochs after the run simulate nothing (transfers still in flight are dropped).
  if (input.epoch >= runEpochCount(scenario)) return { checkpoint: null, events: [], guestOutputs: [], transfers: [] };
  const resumed = input.resumedFrom !== undefined;
  if (!resumed) world.receiveArrivals(input.startNs, orderInboundTransfers(input.inbound));
  let checkpoint: Uint8Array | null = null;
  if (input.checkpoints !== false && checkpointDue(input.epoch, scenario.checkpointEveryEpochs)) {
    checkpoint = input.resumedFrom?.checkpoint ?? snapshotHostWorld(world);
  }
  const result = world.runEpoch(input.startNs, input.endNs, input.actions);
  const events = sortEventsCanonically(result.events);
  return {
    checkpoint,
    events: scenario.trace === 'summary' ? summarizeTrace(events, input.startNs) : events,
    guestOutputs: result.guestOutputs,
    transfers: result.transfers,
  };
}
