// `vpmu diff A B [--json]`: two runs side by side (run-diff.ts). A and B are run output
// directories (summary.json, recording.vpmurec), recordings or summary.json files. For two runs of
// the same scenario text and seed whose events differ (another tool version, or a nondeterminism)
// it also names the first diverging event, with the divergence finder `replay --verify` uses.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findFirstDivergence, formatDivergence, RECORDING_FILE_NAME, type Divergence } from '@vpmu/recording';
import type { RunSummary } from '@vpmu/summary';
import { parseArgs, type CommandSpec } from '../args';
import { CliError } from '../cli-error';
import { diffSummaries, renderRunDiff, type RunDiff } from '../diff/run-diff';
import { relativeForDisplay } from '../out-dir';
import { recordedEpochs, scanRecording } from '../replay/recording-input';
import { streamRecording } from '../replay/stream';
import type { CommandIo } from './command-io';

export const DIFF_SPEC: CommandSpec = {
  name: 'diff',
  positionals: [
    { name: 'A', required: true, help: 'a run: its output directory, its recording.vpmurec or its summary.json' },
    { name: 'B', required: true, help: 'the run to compare with A (the same forms)' },
  ],
  flags: { json: 'bool', debug: 'bool' },
  help: { json: { text: 'print the comparison as JSON on stdout' } },
};

export interface RunInput {
  path: string;
  summary: RunSummary;
  /** The recording, when the run has one (needed for the first diverging event). */
  recording: string | null;
  /** The recorded scenario text (from the recording's header), null for a summary alone. */
  scenarioText: string | null;
  /** The summary was rebuilt from the recording (workload scores are not recorded: 0). */
  rebuilt: boolean;
}

export interface DiffResult extends RunDiff {
  a: RunIdentityView;
  b: RunIdentityView;
  /** Why the first diverging event was or was not looked for. */
  divergenceChecked: 'compared' | 'identical-events' | 'different-scenario-or-seed' | 'no-recording';
  divergence: Divergence | null;
}

interface RunIdentityView {
  path: string;
  runId: string;
  scenario: string;
  seed: number;
  toolVersion: string;
  contentDigest: string;
  summaryRebuilt: boolean;
}

export async function diffCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(DIFF_SPEC, argv);
  const a = await loadRun(args.positionals[0]);
  const b = await loadRun(args.positionals[1]);
  const result = diffRuns(a, b);
  if (args.flags.json) {
    io.out(JSON.stringify(result, null, 2));
    return 0;
  }
  for (const r of [result.a, result.b]) {
    io.out(`${r === result.a ? 'A' : 'B'}: ${relativeForDisplay(r.path)}  run ${r.runId}  scenario "${r.scenario}"  seed ${r.seed}  tool ${r.toolVersion}`);
  }
  if (a.rebuilt || b.rebuilt) io.out('note: a summary was rebuilt from its recording (no matching summary.json beside it): its workload scores read 0.');
  for (const line of renderRunDiff(result, ['A', 'B'])) io.out(line);
  io.out(
    result.identicalEvents
      ? 'events: identical (same content digest)'
      : `events: differ (content digest ${short(result.a.contentDigest)} vs ${short(result.b.contentDigest)}); ${result.differences} compared figure(s) or finding(s) differ`,
  );
  if (result.divergence) io.out(formatDivergence(result.divergence).replace(/^replay diverged/, 'first diverging event'));
  else if (result.divergenceChecked === 'different-scenario-or-seed' && !result.identicalEvents) io.out('(different scenario or seed: no first diverging event is looked for)');
  return 0;
}

export function diffRuns(a: RunInput, b: RunInput): DiffResult {
  const sameText = a.scenarioText !== null && b.scenarioText !== null ? a.scenarioText === b.scenarioText : a.summary.run.scenario === b.summary.run.scenario;
  const d = diffSummaries(a.summary, b.summary, sameText);
  let divergenceChecked: DiffResult['divergenceChecked'];
  let divergence: Divergence | null = null;
  if (d.identicalEvents) divergenceChecked = 'identical-events';
  else if (!d.sameScenario || !d.sameSeed) divergenceChecked = 'different-scenario-or-seed';
  else if (a.recording === null || b.recording === null) divergenceChecked = 'no-recording';
  else {
    divergenceChecked = 'compared';
    divergence = findFirstDivergence(recordedEpochs(a.recording, { requireComplete: true }), recordedEpochs(b.recording, { requireComplete: true }));
  }
  return { a: identity(a), b: identity(b), ...d, divergenceChecked, divergence };
}

function identity(r: RunInput): RunIdentityView {
  const s = r.summary;
  return { path: r.path, runId: s.run.id, scenario: s.run.scenario, seed: s.run.seed, toolVersion: s.run.toolVersion, contentDigest: s.contentDigest, summaryRebuilt: r.rebuilt };
}

function short(digest: string): string {
  return digest ? `${digest.slice(0, 8)}…` : '(none)';
}

/** A run from a directory, a recording or a summary.json; exit 2 naming what was expected. */
export async function loadRun(arg: string): Promise<RunInput> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(arg);
  } catch {
    throw new CliError(`vpmu diff: ${arg} does not exist; give a run's output directory, its recording.vpmurec or its summary.json.`);
  }
  const abs = path.resolve(arg);
  if (stat.isDirectory()) {
    const rec = path.join(abs, RECORDING_FILE_NAME);
    const sum = path.join(abs, 'summary.json');
    if (fs.existsSync(rec)) return fromRecording(rec, fs.existsSync(sum) ? readSummary(sum) : null);
    if (fs.existsSync(sum)) return { path: abs, summary: readSummary(sum), recording: null, scenarioText: null, rebuilt: false };
    throw new CliError(`vpmu diff: ${arg} holds neither ${RECORDING_FILE_NAME} nor summary.json; give a run's output directory (vpmu run --out DIR).`);
  }
  if (abs.endsWith('.json')) return { path: abs, summary: readSummary(abs), recording: null, scenarioText: null, rebuilt: false };
  const beside = path.join(path.dirname(abs), 'summary.json');
  return fromRecording(abs, fs.existsSync(beside) ? readSummary(beside) : null);
}

async function fromRecording(rec: string, summary: RunSummary | null): Promise<RunInput> {
  const scan = scanRecording(rec, { requireComplete: true });
  if (summary && summary.digest === scan.end.finalDigestHex) {
    return { path: rec, summary, recording: rec, scenarioText: scan.header.scenarioText, rebuilt: false };
  }
  const streamed = await streamRecording(rec, []);
  return { path: rec, summary: streamed.summary, recording: rec, scenarioText: scan.header.scenarioText, rebuilt: streamed.summarySource === 'rebuilt' };
}

function readSummary(file: string): RunSummary {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CliError(`vpmu diff: cannot read ${file} as JSON (${(err as Error).message}); give a summary.json written by vpmu run.`);
  }
  const s = parsed as RunSummary;
  if (!s || s.schema !== 1 || typeof s.vms !== 'object' || !s.run) {
    throw new CliError(`vpmu diff: ${file} is not a run summary (schema 1); give a summary.json written by vpmu run.`);
  }
  return s;
}
