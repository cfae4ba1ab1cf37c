// `vpmu replay REC --verify`: re-simulates a recording from its header (scenario text, seed,
// run id, tool version) with the embedded runtime and compares the two recordings epoch by
// epoch; inside the first differing epoch it compares events and reports the first differing
// one (the earliest in virtual time across nodes), as rr does.
//
// Memory: the recording is checked in one streaming pass before the replay starts (a damaged
// file fails fast, exit 2, without simulating anything), and both recordings are compared as
// streams, so nothing is held per event.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeEnvelope, decodeEventBatch, encodeEnvelope, encodeEventBatch } from '@vpmu/proto';
import { findFirstDivergence, RECORDING_FILE_NAME, type Divergence, type EpochFramesLike } from '@vpmu/recording';
import type { Scenario } from '@vpmu/scenario';
import type { SimEvent } from '@vpmu/sim';
import { checkKey, payloadDigest, TOPICS, type BusMessage } from '@vpmu/transport';
import type { ConductorProgress } from '@vpmu/conductor';
import { runEmbedded } from '../embedded-runtime';
import { checkToolVersion, recordedEpochs, scanRecording, scenarioFromHeader, type ToolVersionCheck } from './recording-input';

/**
 * Test-only: a deliberate nondeterminism planted in the replay. From `fromEpoch` on, `mutate`
 * may change the events a node sends to the aggregator (on the bus, before they are recorded),
 * exactly as a nondeterministic model would. Never set outside tests.
 */
export interface ReplayPerturbation {
  fromEpoch: number;
  /** Only this node's batches (default: every node's). */
  node?: string;
  mutate(events: SimEvent[], epoch: number, node: string): void;
}

export interface VerifyOptions {
  /** Where the replay writes its recording (default: a fresh temp dir, removed afterwards). */
  workDir?: string;
  /** Keep the replay's recording (only with workDir). */
  keep?: boolean;
  onProgress?: (p: ConductorProgress) => void;
  perturb?: ReplayPerturbation;
}

export interface VerifyResult {
  recording: string;
  runId: string;
  scenario: string;
  seed: number;
  identical: boolean;
  epochs: number;
  events: number;
  recordedDigest: string;
  replayedDigest: string;
  /** Content digests (event batches only): equal across tool versions when the events are. */
  recordedContentDigest: string;
  replayedContentDigest: string;
  toolVersion: ToolVersionCheck;
  divergence: Divergence | null;
  /** Wall time of the re-simulation and of the comparison. */
  replayMs: number;
  compareMs: number;
}

export async function verifyRecording(file: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const scan = scanRecording(file, { requireComplete: true });
  const { header } = scan;
  const scenario = scenarioFromHeader(file, header);
  const replay = await resimulateAndCompare(
    { runId: header.runId, scenario, scenarioText: header.scenarioText, toolVersion: header.toolVersion },
    () => recordedEpochs(file),
    options,
  );
  return {
    recording: file,
    runId: header.runId,
    scenario: header.scenarioName || scenario.name,
    seed: header.seed,
    identical: replay.divergence === null,
    epochs: scan.end.epochCount,
    events: scan.end.totalEvents,
    recordedDigest: scan.end.finalDigestHex,
    replayedDigest: replay.replayedDigest,
    recordedContentDigest: scan.end.contentDigestHex,
    replayedContentDigest: replay.replayedContentDigest,
    toolVersion: checkToolVersion(header),
    divergence: replay.divergence,
    replayMs: replay.replayMs,
    compareMs: replay.compareMs,
  };
}

/** What a re-simulation needs: the run as RunStart or a recording header describes it. */
export interface RunIdentity {
  runId: string;
  scenario: Scenario;
  scenarioText: string;
  toolVersion: string;
}

export interface ResimulationResult {
  divergence: Divergence | null;
  replayedDigest: string;
  replayedContentDigest: string;
  replayMs: number;
  compareMs: number;
}

/**
 * Re-simulates the run with the embedded runtime (its recording goes to a work directory) and
 * compares it epoch by epoch with `recorded` (a recording's epochs, or a run read from Kafka).
 */
export async function resimulateAndCompare(run: RunIdentity, recorded: () => Iterable<EpochFramesLike>, options: VerifyOptions = {}): Promise<ResimulationResult> {
  const workDir = options.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'vpmu-verify-'));
  const removeWorkDir = options.workDir === undefined || !options.keep;
  try {
    const t0 = performance.now(); // wall-clock ok: reporting only
    const replay = await runEmbedded({
      runId: run.runId,
      scenario: run.scenario,
      scenarioText: run.scenarioText,
      toolVersion: run.toolVersion,
      outDir: workDir,
      onProgress: options.onProgress,
      busTap: options.perturb ? perturbingTap(options.perturb, run.scenario.epochNs) : undefined,
    });
    const t1 = performance.now(); // wall-clock ok: reporting only
    const replayed = replay.recording.path;
    const divergence = findFirstDivergence(recorded(), recordedEpochs(replayed));
    const compareMs = performance.now() - t1; // wall-clock ok: reporting only
    return { divergence, replayedDigest: replay.recording.finalDigestHex, replayedContentDigest: replay.recording.contentDigestHex, replayMs: t1 - t0, compareMs };
  } finally {
    if (removeWorkDir) {
      if (options.workDir === undefined) fs.rmSync(workDir, { recursive: true, force: true });
      else for (const f of [RECORDING_FILE_NAME, 'summary.json']) fs.rmSync(path.join(workDir, f), { force: true });
    }
  }
}

/**
 * Plays a divergent sender: mutates its batches and, so that the aggregator's per-batch check
 * (batch-check.ts) accepts them as that sender's, the checks in its next report too.
 */
function perturbingTap(p: ReplayPerturbation, epochNs: number): (m: BusMessage) => BusMessage {
  const rewritten = new Map<string, { eventCount: number; digest: Buffer }>();
  return (m) => {
    if (m.topic === TOPICS.reports && rewritten.size > 0) {
      const env = decodeEnvelope(m.value);
      if (!env.report) return m;
      for (const c of env.report.sentChecks ?? []) {
        const r = rewritten.get(checkKey(c.source ?? '', c.seq ?? 0));
        if (r) Object.assign(c, r);
      }
      return { ...m, value: encodeEnvelope(env) };
    }
    if (m.topic !== TOPICS.events) return m;
    const env = decodeEnvelope(m.value);
    if (!env.events || env.epoch < p.fromEpoch) return m;
    if (p.node !== undefined && env.sourceNode !== p.node) return m;
    const events = decodeEventBatch(env.events);
    p.mutate(events, env.epoch, env.sourceNode);
    env.events = encodeEventBatch(events, env.epoch * epochNs);
    rewritten.set(checkKey(env.sourceNode, env.seq), { eventCount: events.length, digest: payloadDigest(env) });
    return { ...m, value: encodeEnvelope(env) };
  };
}
