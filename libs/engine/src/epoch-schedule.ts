// The run's epoch schedule: virtual time cut into fixed epochs (the counted barrier's unit), the
// window each epoch grant covers (the two drain epochs after the last one cover no time), the
// lookahead windows (how many epochs one grant may cover), the timeline actions due in a window,
// and the epochs at whose start a host's state is checkpointed.
// The conductor grants from this schedule and every driver of the host models simulates by it,
// so a run, a lock-step replay and an inspect all cut time the same way.
import type { Scenario, TimelineEntry } from '@vpmu/world-spec';
import { epochCount, epochWindow, type EpochWindow } from '@vpmu/sim';
import { MIGRATION_SETUP_NS } from '@vpmu/host';

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

/**
 * The most epochs one lookahead window covers. Each node buffers what the others send it during
 * a window until the next grant (the aggregator: every host's events), so the cap bounds that
 * memory; 64 epochs already turn the barrier's round trip into a small share of the window.
 */
export const DEFAULT_MAX_WINDOW_EPOCHS = 64;

/**
 * The most host-epochs (hosts x epochs) one window holds. A service replica runs a window in one
 * synchronous turn, and a Kafka consumer that cannot heartbeat for its session timeout (6 s) is
 * thrown out of its group and its nodes taken over; a host-epoch of a fleet host costs about
 * 10 ms, so 64 of them keep a turn near 0.6 s, with room for a loaded machine. Big worlds get
 * short windows, where their per-epoch work dwarfs the round trip anyway.
 */
export const MAX_WINDOW_HOST_EPOCHS = 64;

/** The window cap for a world of `hostCount` hosts: at most maxEpochs, at most MAX_WINDOW_HOST_EPOCHS host-epochs, at least 1. */
export function windowEpochCap(hostCount: number, maxEpochs: number = DEFAULT_MAX_WINDOW_EPOCHS): number {
  return Math.max(1, Math.min(maxEpochs, Math.floor(MAX_WINDOW_HOST_EPOCHS / Math.max(hostCount, 1))));
}

/**
 * The earliest virtual time at which a timeline action due at or after `fromNs` can make a host
 * hand a VM off to another host, or Infinity. Only `migrate` moves anything between hosts, and
 * its setup phase comes first (migration.part.ts), so the hand-off is at least MIGRATION_SETUP_NS
 * after the action. Actions before `fromNs` were granted already; the hosts report the migrations
 * they started (HostWorld.earliestHandOffNs).
 */
export function timelineHandOffBoundNs(timeline: readonly TimelineEntry[], fromNs: number): number {
  let boundNs = Infinity;
  for (const t of timeline) {
    if (t.action.kind === 'migrate' && t.atNs >= fromNs) boundNs = Math.min(boundNs, t.atNs + MIGRATION_SETUP_NS);
  }
  return boundNs;
}

/**
 * The exclusive end of the lookahead window granted from `fromEpoch`, when no simulation node
 * sends to another before `earliestSendNs`. A message sent in epoch x is applied at the start of
 * x + 1 (the per-epoch protocol), so the window may run through the epoch the earliest send falls
 * in, and no further: the message then reaches its destination at the start of the next grant,
 * the epoch it would have been applied at with one grant per epoch. At least one epoch; never
 * into the drain epochs (each of those is its own grant); at most `maxEpochs`.
 */
export function lookaheadWindowEnd(clock: RunClock, fromEpoch: number, earliestSendNs: number, maxEpochs: number = DEFAULT_MAX_WINDOW_EPOCHS): number {
  const epochs = runEpochCount(clock);
  if (fromEpoch >= epochs || maxEpochs <= 1) return fromEpoch + 1;
  const sendEpoch = earliestSendNs >= clock.durationNs ? epochs - 1 : Math.floor(earliestSendNs / clock.epochNs);
  return Math.max(fromEpoch + 1, Math.min(sendEpoch + 1, epochs, fromEpoch + maxEpochs));
}
