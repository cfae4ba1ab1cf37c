// `vpmu inspect REC --at TIME`: the scheduler / vPMU / perf state of every host at a virtual
// time. Each host's world is restored from its latest checkpoint at or before TIME (the state at
// the start of that epoch) and simulated forward, whole epochs with their timeline actions, then
// the last partial window up to TIME, so the cost depends on the distance to a checkpoint, not
// to the start. Before the first checkpoint the worlds are built fresh from the scenario.
//
// "The state at TIME" is the state after every simulated event due strictly before TIME (an
// event due exactly at TIME has not happened yet). The forward simulation's events of the
// whole epochs are compared with the recording, so a state that the recording does not back
// (another tool version, a nondeterminism) is stated, not silently shown.
import { HostWorld, restoreHostWorld, type HostInspection } from '@vpmu/host';
import { encodeEventBatch } from '@vpmu/proto';
import { compareEpochFrames, iterateRecording, type RecordedFrame, type RecordingHeaderInfo } from '@vpmu/recording';
import type { Scenario, TimelineEntry } from '@vpmu/scenario';
import { epochCount, epochWindow, Prng, sortEventsCanonically } from '@vpmu/sim';
import { hostNode } from '@vpmu/transport';
import { CliError, EXIT } from '../cli-error';
import { checkToolVersion, scenarioFromHeader, withRecordingErrors, type ToolVersionCheck } from './recording-input';

export interface InspectOptions {
  /** Only this host (others are not simulated). */
  host?: string;
  /** Only this VM's vCPUs (on whichever host runs it at TIME). */
  vm?: string;
}

export interface InspectResult {
  recording: string;
  runId: string;
  seed: number;
  atNs: number;
  /** The epoch TIME falls in. */
  epoch: number;
  /** Epoch whose start-of-epoch checkpoint was restored, per host; null = built fresh. */
  restoredFrom: Record<string, number | null>;
  /** Whole epochs simulated after the restore, plus the partial one (0 or 1). */
  simulatedEpochs: number;
  partialWindowNs: number;
  /** False when the forward simulation produced events the recording does not have. */
  matchesRecording: boolean;
  mismatch: string | null;
  toolVersion: ToolVersionCheck;
  hosts: HostInspection[];
}

interface HostPlan {
  id: string;
  checkpoint: { epoch: number; state: Uint8Array } | null;
}

export function inspectRecording(file: string, atNs: number, options: InspectOptions = {}): InspectResult {
  return withRecordingErrors(() => inspect(file, atNs, options));
}

function inspect(file: string, atNs: number, options: InspectOptions): InspectResult {
  const it = iterateRecording(file);
  const first = it.next();
  if (first.done || first.value.kind !== 'header') throw new Error(`inspect: ${file} yielded no header`); // a reader bug
  const header: RecordingHeaderInfo = first.value.header;
  const scenario = scenarioFromHeader(file, header);
  const durationNs = scenario.durationNs;
  if (!Number.isSafeInteger(atNs) || atNs < 0 || atNs > durationNs) {
    it.return();
    throw new CliError(`--at ${formatNs(atNs)} is beyond the run, which covers 0 to ${formatNs(durationNs)} of virtual time; pick a time inside it.`, EXIT.badInput);
  }
  if (options.host !== undefined && !scenario.hosts.some((h) => h.id === options.host)) {
    it.return();
    throw new CliError(`--host ${options.host} is not in the recorded scenario (hosts: ${scenario.hosts.map((h) => h.id).join(', ')}).`, EXIT.badInput);
  }
  if (options.vm !== undefined && !scenario.vms.some((v) => v.id === options.vm)) {
    it.return();
    throw new CliError(`--vm ${options.vm} is not in the recorded scenario (VMs: ${scenario.vms.map((v) => v.id).join(', ') || 'none'}).`, EXIT.badInput);
  }
  const epochs = epochCount(durationNs, scenario.epochNs);
  // TIME at the very end of the run is the end of the last epoch.
  const epoch = Math.min(Math.floor(atNs / scenario.epochNs), epochs);
  const hostIds = scenario.hosts.map((h) => h.id).filter((h) => options.host === undefined || h === options.host);
  const nodes = new Map(hostIds.map((h) => [hostNode(h), h]));

  // One pass up to TIME's epoch: the latest checkpoint of each host at or before it, and the
  // recorded frames of the epochs after it (to check the forward simulation against).
  const plans = new Map<string, HostPlan>(hostIds.map((h) => [h, { id: h, checkpoint: null }]));
  let oldestCheckpoint = -1;
  let frames = new Map<number, RecordedFrame[]>();
  let ended = false;
  let lastRecordedEpoch = -1;
  try {
    for (let r = it.next(); !r.done; r = it.next()) {
      const item = r.value;
      if (item.kind === 'checkpoint') {
        if (item.epoch > epoch) break;
        const host = nodes.get(item.node);
        if (host === undefined) continue;
        plans.get(host)!.checkpoint = { epoch: item.epoch, state: item.state };
        const restoreFrom = Math.min(...[...plans.values()].map((p) => p.checkpoint?.epoch ?? 0));
        if (restoreFrom > oldestCheckpoint) {
          oldestCheckpoint = restoreFrom;
          frames = new Map([...frames].filter(([e]) => e >= restoreFrom)); // bounded by the checkpoint interval
        }
      } else if (item.kind === 'epoch') {
        lastRecordedEpoch = item.epoch;
        if (item.epoch >= epoch) break;
        const own = item.frames.filter((f) => nodes.has(f.node));
        if (own.length > 0) frames.set(item.epoch, own);
      } else if (item.kind === 'end') {
        ended = true;
      }
    }
  } finally {
    it.return();
  }
  if (ended && lastRecordedEpoch < epoch - 1) {
    // A recording still being written (or cut short): TIME is past what it holds.
    const upTo = lastRecordedEpoch < 0 ? 0 : epochWindow(lastRecordedEpoch, scenario.epochNs, durationNs).endNs;
    throw new CliError(`--at ${formatNs(atNs)} is beyond what ${file} holds (epochs up to ${lastRecordedEpoch}, virtual time ${formatNs(upTo)}); pick an earlier time.`, EXIT.badInput);
  }

  const root = Prng.fromSeed(scenario.seed);
  const worlds: HostWorld[] = [];
  const restoredFrom: Record<string, number | null> = {};
  let simulatedEpochs = 0;
  let mismatch: string | null = null;
  for (const h of hostIds) {
    const plan = plans.get(h)!;
    let world: HostWorld;
    if (plan.checkpoint) {
      world = restoreHostWorld(plan.checkpoint.state);
      if (world.id !== h) throw new CliError(`${file}: the checkpoint of node ${hostNode(h)} holds host ${world.id}; the recording is inconsistent.`, EXIT.badInput);
    } else {
      world = new HostWorld(scenario, h, root);
    }
    restoredFrom[h] = plan.checkpoint?.epoch ?? null;
    const from = plan.checkpoint?.epoch ?? 0;
    for (let e = from; e < epoch; e++) {
      const w = epochWindow(e, scenario.epochNs, durationNs);
      const result = world.runEpoch(w.startNs, w.endNs, actionsIn(scenario, w.startNs, w.endNs));
      if (mismatch === null) {
        const batch = encodeEventBatch(sortEventsCanonically(result.events), w.startNs);
        const recorded = (frames.get(e) ?? []).filter((f) => f.node === hostNode(h));
        const d = compareEpochFrames(e, recorded, [{ node: hostNode(h), batch }]);
        if (d) mismatch = d.detail;
      }
    }
    simulatedEpochs = Math.max(simulatedEpochs, epoch - from);
    const start = epochWindow(epoch, scenario.epochNs, durationNs).startNs;
    if (epoch < epochs && atNs > start) {
      // The epoch's actions are queued at its start, as in the run; only events before TIME happen.
      const end = epochWindow(epoch, scenario.epochNs, durationNs).endNs;
      world.runEpoch(start, atNs, actionsIn(scenario, start, end));
    }
    worlds.push(world);
  }
  const partialWindowNs = epoch < epochs ? atNs - epoch * scenario.epochNs : 0;

  let hosts = worlds.map((w) => w.inspect());
  if (options.vm !== undefined) {
    const vm = options.vm;
    hosts = hosts.filter((h) => h.vcpus.some((v) => v.vm === vm)).map((h) => ({ ...h, vcpus: h.vcpus.filter((v) => v.vm === vm) }));
    if (hosts.length === 0) {
      throw new CliError(`VM ${vm} runs on no simulated host at ${formatNs(atNs)}${options.host ? ` (only host ${options.host} was inspected)` : ''}.`, EXIT.badInput);
    }
  }
  return {
    recording: file,
    runId: header.runId,
    seed: header.seed,
    atNs,
    epoch,
    restoredFrom,
    simulatedEpochs: simulatedEpochs + (partialWindowNs > 0 ? 1 : 0),
    partialWindowNs,
    matchesRecording: mismatch === null,
    mismatch,
    toolVersion: checkToolVersion(header),
    hosts,
  };
}

/** The timeline entries due in [startNs, endNs), as the conductor grants them. */
export function actionsIn(scenario: Scenario, startNs: number, endNs: number): TimelineEntry[] {
  return scenario.timeline.filter((t) => t.atNs >= startNs && t.atNs < endNs);
}

/**
 * The reference the checkpoint path must agree with: every host built fresh and simulated from
 * virtual time 0 to `atNs` (tests and the bench compare inspectRecording against it).
 */
export function simulateFromStart(scenario: Scenario, atNs: number, hostIds: string[] = scenario.hosts.map((h) => h.id)): HostInspection[] {
  const root = Prng.fromSeed(scenario.seed);
  const epochs = epochCount(scenario.durationNs, scenario.epochNs);
  const epoch = Math.min(Math.floor(atNs / scenario.epochNs), epochs);
  return hostIds.map((h) => {
    const world = new HostWorld(scenario, h, root);
    for (let e = 0; e < epoch; e++) {
      const w = epochWindow(e, scenario.epochNs, scenario.durationNs);
      world.runEpoch(w.startNs, w.endNs, actionsIn(scenario, w.startNs, w.endNs));
    }
    const w = epochWindow(epoch, scenario.epochNs, scenario.durationNs);
    if (epoch < epochs && atNs > w.startNs) world.runEpoch(w.startNs, atNs, actionsIn(scenario, w.startNs, w.endNs));
    return world.inspect();
  });
}

export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return String(ns);
  if (ns >= 1e9 && ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns >= 1e6) return `${Number((ns / 1e6).toFixed(6))}ms`;
  if (ns >= 1e3) return `${Number((ns / 1e3).toFixed(3))}us`;
  return `${ns}ns`;
}
