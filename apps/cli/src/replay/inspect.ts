// `vpmu inspect REC --at TIME`: the scheduler / vPMU / perf state of every host at a virtual
// time. The hosts are restored from the latest checkpoint at or before TIME (their state at the
// start of that epoch) and simulated forward by the engine's lock-step driver (@vpmu/engine),
// whole epochs with their timeline actions and VM hand-offs, then the part of TIME's epoch
// before TIME, so the cost depends on the distance to a checkpoint, not to the start. Before the
// first checkpoint they are built fresh.
//
// "The state at TIME" is the state after every simulated event due strictly before TIME (an
// event due exactly at TIME has not happened yet). Every event the forward simulation produces
// is compared with the recording; when they differ, an earlier checkpoint (finally time 0) is
// tried, and if even that differs the result says so: a state the recording does not back
// (another tool version, a nondeterminism) is stated, never silently shown.
import { freshHostWorlds, runEpochCount, runEpochWindow, runLockStep } from '@vpmu/engine';
import { restoreHostWorld, type HostInspection, type HostWorld } from '@vpmu/host';
import { decodeEventBatch, encodeEventBatch } from '@vpmu/proto';
import { compareEpochFrames, iterateRecording, type RecordedFrame, type RecordingHeaderInfo } from '@vpmu/recording';
import type { Scenario } from '@vpmu/scenario';
import type { SimEvent } from '@vpmu/sim';
import { hostNode } from '@vpmu/transport';
import { CliError, EXIT } from '../cli-error';
import { checkToolVersion, scenarioFromHeader, type ToolVersionCheck } from './recording-input';

export interface InspectOptions {
  /** Only this host in the output (every host is simulated: VMs move between them). */
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
  /** Epoch whose start-of-epoch checkpoint was restored; null = built fresh at time 0. */
  restoredFromEpoch: number | null;
  /** Checkpoints tried first and set aside because simulating forward from them did not reproduce the recording. */
  rejectedCheckpoints: { epoch: number; reason: string }[];
  /** Epochs simulated after the restore, the partial last one included. */
  simulatedEpochs: number;
  partialWindowNs: number;
  /** False when even a simulation from time 0 does not reproduce the recording (another tool, a nondeterminism). */
  matchesRecording: boolean;
  mismatch: string | null;
  toolVersion: ToolVersionCheck;
  hosts: HostInspection[];
}

interface RecordingIndex {
  header: RecordingHeaderInfo;
  /** Checkpoint epoch -> host id -> state, for epochs at or before TIME's epoch. */
  checkpoints: Map<number, Map<string, Uint8Array>>;
  lastRecordedEpoch: number;
  reachedEnd: boolean;
  /** Host frames of the epochs from the latest checkpoint through TIME's epoch (bounded by the checkpoint interval). */
  latestFrames: Map<number, RecordedFrame[]>;
  latestCheckpoint: number;
}

export function inspectRecording(file: string, atNs: number, options: InspectOptions = {}): InspectResult {
  const header = readHeader(file);
  const scenario = scenarioFromHeader(file, header);
  const durationNs = scenario.durationNs;
  if (!Number.isSafeInteger(atNs) || atNs < 0 || atNs > durationNs) {
    throw new CliError(`--at ${formatNs(atNs)} is beyond the run, which covers 0 to ${formatNs(durationNs)} of virtual time; pick a time inside it.`, EXIT.badInput);
  }
  if (options.host !== undefined && !scenario.hosts.some((h) => h.id === options.host)) {
    throw new CliError(`--host ${options.host} is not in the recorded scenario (hosts: ${scenario.hosts.map((h) => h.id).join(', ')}).`, EXIT.badInput);
  }
  if (options.vm !== undefined && !scenario.vms.some((v) => v.id === options.vm)) {
    throw new CliError(`--vm ${options.vm} is not in the recorded scenario (VMs: ${scenario.vms.map((v) => v.id).join(', ') || 'none'}).`, EXIT.badInput);
  }
  const epochs = runEpochCount(scenario);
  // TIME at the very end of the run is the end of the last epoch.
  const epoch = Math.min(Math.floor(atNs / scenario.epochNs), epochs);
  const index = indexRecording(file, epoch, scenario);
  if (index.reachedEnd && index.lastRecordedEpoch < epoch - 1) {
    // A recording still being written (or cut short at an epoch boundary): TIME is past what it holds.
    const upTo = index.lastRecordedEpoch < 0 ? 0 : runEpochWindow(scenario, index.lastRecordedEpoch).endNs;
    throw new CliError(`--at ${formatNs(atNs)} is beyond what ${file} holds (epochs up to ${index.lastRecordedEpoch}, virtual time ${formatNs(upTo)}); pick an earlier time.`, EXIT.badInput);
  }

  // Latest checkpoint first. A checkpoint holds each host's state at the start of its epoch,
  // the VMs arriving then included, but a checkpoint written by another tool version (or a
  // nondeterminism) need not lead to the recorded events, so the forward simulation is checked
  // against the recording and an earlier start is taken when it differs.
  const candidates: (number | null)[] = [...index.checkpoints.keys()].filter((c) => c <= epoch).sort((a, b) => b - a);
  candidates.push(null);
  const rejected: { epoch: number; reason: string }[] = [];
  let last: { worlds: HostWorld[]; from: number | null; mismatch: string | null } | null = null;
  for (const from of candidates) {
    let worlds: HostWorld[];
    let mismatch: string | null;
    try {
      worlds = from === null ? freshHostWorlds(scenario) : restoreWorlds(file, scenario, index.checkpoints.get(from)!);
      const latest = from !== null && from === index.latestCheckpoint;
      const recorded = latest ? index.latestFrames : recordedHostFrames(file, from ?? 0, epoch);
      mismatch = simulateForward(scenario, worlds, from ?? 0, atNs, recorded);
    } catch (err) {
      // A checkpoint can pass its CRC and still be garbage (a buggy or hostile writer): it is
      // rejected like one that leads elsewhere, and an earlier one (finally time 0) is taken.
      if (from === null || err instanceof CliError) throw err;
      rejected.push({ epoch: from, reason: `its state cannot be restored (${(err as Error).message})` });
      continue;
    }
    last = { worlds, from, mismatch };
    if (mismatch === null) break;
    if (from !== null) rejected.push({ epoch: from, reason: `simulating from it did not reproduce the recording: ${mismatch}` });
  }
  const { worlds, from, mismatch } = last!;
  const partialWindowNs = epoch < epochs ? atNs - epoch * scenario.epochNs : 0;

  let hosts = worlds.map((w) => w.inspect());
  if (options.host !== undefined) hosts = hosts.filter((h) => h.host === options.host);
  if (options.vm !== undefined) {
    const vm = options.vm;
    hosts = hosts.filter((h) => h.vcpus.some((v) => v.vm === vm)).map((h) => ({ ...h, vcpus: h.vcpus.filter((v) => v.vm === vm) }));
    if (hosts.length === 0) {
      throw new CliError(`VM ${vm} runs on no ${options.host ? `host ${options.host}` : 'host'} at ${formatNs(atNs)} (it may be between hosts in a migration).`, EXIT.badInput);
    }
  }
  return {
    recording: file,
    runId: header.runId,
    seed: header.seed,
    atNs,
    epoch,
    restoredFromEpoch: from,
    rejectedCheckpoints: rejected,
    simulatedEpochs: epoch - (from ?? 0) + (partialWindowNs > 0 ? 1 : 0),
    partialWindowNs,
    matchesRecording: mismatch === null,
    mismatch,
    toolVersion: checkToolVersion(header),
    hosts,
  };
}

function readHeader(file: string): RecordingHeaderInfo {
  const it = iterateRecording(file);
  try {
    const first = it.next();
    if (first.done || first.value.kind !== 'header') throw new Error(`inspect: ${file} yielded no header`); // a reader bug
    return first.value.header;
  } finally {
    it.return();
  }
}

/** One pass up to TIME's epoch: the checkpoints at or before it and how far the file goes. */
function indexRecording(file: string, epoch: number, scenario: Scenario): RecordingIndex {
  const hostOf = new Map(scenario.hosts.map((h) => [hostNode(h.id), h.id]));
  const checkpoints = new Map<number, Map<string, Uint8Array>>();
  let header: RecordingHeaderInfo | null = null;
  let lastRecordedEpoch = -1;
  let reachedEnd = false;
  let latestFrames = new Map<number, RecordedFrame[]>();
  let latestCheckpoint = -1;
  for (const item of iterateRecording(file)) {
    if (item.kind === 'header') {
      header = item.header;
    } else if (item.kind === 'checkpoint') {
      if (item.epoch > epoch) break; // checkpoints precede the epoch they describe
      const host = hostOf.get(item.node);
      if (host === undefined) continue;
      let set = checkpoints.get(item.epoch);
      if (!set) checkpoints.set(item.epoch, (set = new Map()));
      set.set(host, item.state);
      if (item.epoch > latestCheckpoint) {
        latestCheckpoint = item.epoch;
        latestFrames = new Map();
      }
    } else if (item.kind === 'epoch') {
      lastRecordedEpoch = item.epoch;
      if (item.epoch >= latestCheckpoint && latestCheckpoint >= 0) latestFrames.set(item.epoch, hostFrames(item.frames));
      if (item.epoch >= epoch) break;
    } else if (item.kind === 'end') {
      reachedEnd = true;
    }
  }
  // Only checkpoints that cover every host can start the simulation.
  for (const [e, set] of checkpoints) if (set.size !== scenario.hosts.length) checkpoints.delete(e);
  return { header: header!, checkpoints, lastRecordedEpoch, reachedEnd, latestFrames, latestCheckpoint };
}

/** The host nodes' recorded frames of epochs [from, through]. */
function recordedHostFrames(file: string, from: number, through: number): Map<number, RecordedFrame[]> {
  const out = new Map<number, RecordedFrame[]>();
  for (const item of iterateRecording(file)) {
    if (item.kind !== 'epoch' || item.epoch < from) continue;
    if (item.epoch > through) break;
    out.set(item.epoch, hostFrames(item.frames));
  }
  return out;
}

function hostFrames(frames: RecordedFrame[]): RecordedFrame[] {
  return frames.filter((f) => f.node.startsWith('host/'));
}

function restoreWorlds(file: string, scenario: Scenario, states: Map<string, Uint8Array>): HostWorld[] {
  return scenario.hosts.map((h) => {
    const world = restoreHostWorld(states.get(h.id)!);
    if (world.id !== h.id) throw new CliError(`${file}: the checkpoint of node ${hostNode(h.id)} holds host ${world.id}; the recording is inconsistent.`, EXIT.badInput);
    return world;
  });
}

/**
 * Simulates the hosts in lock step from the start of epoch `from` to `atNs` (the engine's
 * driver: the run's actions and hand-offs, as the host nodes do) and compares the events of the
 * epochs simulated with `recorded` (whole epochs, then the part of TIME's epoch before TIME);
 * returns the first difference, or null.
 */
function simulateForward(scenario: Scenario, worlds: HostWorld[], from: number, atNs: number, recorded: Map<number, RecordedFrame[]>): string | null {
  const epoch = Math.min(Math.floor(atNs / scenario.epochNs), runEpochCount(scenario));
  let mismatch: string | null = null;
  runLockStep(scenario, worlds, {
    fromEpoch: from,
    untilNs: atNs,
    onEpoch: (frame) => {
      if (mismatch !== null) return;
      const partial = frame.epoch === epoch;
      const frames = frame.hosts.map((h) => ({ node: hostNode(h.hostId), batch: encodeEventBatch(partial ? before(h.events, atNs) : h.events, frame.startNs) }));
      let rec: { node: string; batch: Uint8Array }[] = recorded.get(frame.epoch) ?? [];
      if (partial) rec = rec.map((f) => ({ node: f.node, batch: encodeEventBatch(before(decodeEventBatch(f.batch), atNs), frame.startNs) }));
      const d = compareEpochFrames(frame.epoch, rec, frames);
      if (d) mismatch = d.detail;
    },
  });
  return mismatch;
}

function before(events: SimEvent[], atNs: number): SimEvent[] {
  return events.filter((e) => e.atNs < atNs);
}

/**
 * The reference the checkpoint path must agree with: every host built fresh and simulated from
 * virtual time 0 to `atNs` (tests and the bench compare inspectRecording against it).
 */
export function simulateFromStart(scenario: Scenario, atNs: number): HostInspection[] {
  const worlds = freshHostWorlds(scenario);
  runLockStep(scenario, worlds, { untilNs: atNs });
  return worlds.map((w) => w.inspect());
}

export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return String(ns);
  if (ns >= 1e9 && ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns >= 1e6) return `${Number((ns / 1e6).toFixed(6))}ms`;
  if (ns >= 1e3) return `${Number((ns / 1e3).toFixed(3))}us`;
  return `${ns}ns`;
}
