// The normalized scenario (version 1): the complete description of a simulated world and what
// happens in it, as the models run it. Every duration is integer virtual nanoseconds, every
// default is filled in, every reference (vm.host, timeline targets) names something that exists.
// Readers of a file format (libs/scenario for YAML) produce it; docs/scenario.md documents the
// YAML form, its units and defaults.

import type { HostSpec } from './host-spec.types';
import type { EventFilterSpec, VmSpec } from './vm-spec.types';

export type TraceLevel = 'full' | 'summary';
export const TRACE_LEVELS: readonly TraceLevel[] = ['full', 'summary'];

export interface Scenario {
  version: 1;
  name: string;
  seed: number;
  durationNs: number;
  epochNs: number;
  /** Every how many epochs a checkpoint is taken (recording). */
  checkpointEveryEpochs: number;
  /** Period of the per-vCPU counter samples emitted into the event stream. */
  sampleIntervalNs: number;
  /**
   * What the event stream holds: 'full' (default: every exit, entry and PMI) or 'summary' (those
   * three as per-epoch counts per vCPU and reason, traceSummary events). Absent means 'full'.
   */
  trace?: TraceLevel;
  hosts: HostSpec[];
  vms: VmSpec[];
  timeline: TimelineEntry[];
  /** Optional cost model overrides: parameter name -> value (units in the name). */
  costs: Record<string, number>;
}

/**
 * A fault's `params` are strings as written (durations may carry units, e.g. `20us`): the
 * fault injector interprets them with parseDurationNs (quantity.parser.ts).
 */
export type TimelineAction =
  | { kind: 'migrate'; vm: string; to: string; bandwidthBytesPerSec: number; maxDowntimeNs: number }
  | { kind: 'setPmu'; vm: string; pmu: string }
  /** KVM_SET_PMU_EVENT_FILTER on a running VM (filter null: remove it). Mediated VMs only. */
  | { kind: 'setFilter'; vm: string; filter: EventFilterSpec | null }
  | { kind: 'hostPerf'; host: string; session: string; action: 'start' | 'stop' }
  | { kind: 'guestPerf'; vm: string; session: string; action: 'start' | 'stop' }
  | { kind: 'fault'; fault: string; target: string; durationNs: number; params: Record<string, string> };

export interface TimelineEntry {
  atNs: number;
  action: TimelineAction;
}
