// The run's epoch schedule: virtual time cut into fixed epochs (the counted barrier's unit), the
// window each epoch grant covers (the two drain epochs after the last one cover no time), the
// timeline actions due in a window, and the epochs at whose start a host's state is checkpointed.
// The conductor grants from this schedule and every driver of the host models simulates by it,
// so a run, a lock-step replay and an inspect all cut time the same way.
import type { Scenario, TimelineEntry } from '@vpmu/world-spec';
import { epochCount, epochWindow, type EpochWindow } from '@vpmu/sim';

/** The scenario fields that fix a run's epochs. */
export type RunClock = Pick<Scenario, 'durationNs' | 'epochNs'>;

/** Number of simulated epochs of the run (the last one may be shorter than epochNs). */
export function runEpochCount(clock: RunClock): number {
  return epochCount(clock.durationNs, clock.epochNs);
}

/**
 * The virtual-time window of epoch `epoch`. Past the last simulated epoch (the drain epochs,
 * in which nodes only exchange results) the window is empty, at the end of the run.
 */
export function runEpochWindow(clock: RunClock, epoch: number): EpochWindow {
  if (epoch >= runEpochCount(clock)) return { epoch, startNs: clock.durationNs, endNs: clock.durationNs };
  return epochWindow(epoch, clock.epochNs, clock.durationNs);
}

/** The timeline entries due in the half-open window [startNs, endNs), in timeline order. */
export function actionsDueIn(timeline: readonly TimelineEntry[], startNs: number, endNs: number): TimelineEntry[] {
  return timeline.filter((t) => t.atNs >= startNs && t.atNs < endNs);
}

/**
 * Whether a host's state is checkpointed at the start of `epoch` (after the epoch's arrivals):
 * every `everyEpochs` epochs, never at epoch 0 (a fresh host is rebuilt from the scenario).
 */
export function checkpointDue(epoch: number, everyEpochs: number): boolean {
  return everyEpochs > 0 && epoch > 0 && epoch % everyEpochs === 0;
}
