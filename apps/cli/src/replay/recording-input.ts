// Opening a recording for the replay-side commands (replay, inspect, export): a directory means
// DIR/recording.vpmurec; the recording lib's errors are operating errors (exit 2) whose message
// is one sentence (a damaged file names its last good epoch) and pass through unchanged; the
// scenario comes from the header, with the recorded seed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  iterateRecording,
  RECORDING_FILE_NAME,
  type RecordedEpoch,
  type RecordingEnd,
  type RecordingHeaderInfo,
  type ReadRecordingOptions,
} from '@vpmu/recording';
import { parseScenario, type Scenario } from '@vpmu/scenario';
import { formatNs } from '@vpmu/sim';
import { CliError, EXIT } from '../cli-error';
import { TOOL_VERSION } from '../version';

/** `REC` may be the file or the run's output directory. */
export function resolveRecordingPath(rec: string): string {
  try {
    if (fs.statSync(rec).isDirectory()) return path.join(rec, RECORDING_FILE_NAME);
  } catch {
    // missing: the reader says so (and looks for REC.partial)
  }
  return rec;
}

export interface RecordingScan {
  path: string;
  header: RecordingHeaderInfo;
  end: RecordingEnd;
}

/**
 * Reads the whole file once, checking every CRC, the hash chain and (with requireComplete) the
 * trailer, without keeping anything: memory stays flat whatever the length. Throws a
 * RecordingError (exit 2) naming the last good epoch when the file is damaged.
 */
export function scanRecording(file: string, options: ReadRecordingOptions = {}): RecordingScan {
  let header: RecordingHeaderInfo | null = null;
  let end: RecordingEnd | null = null;
  for (const item of iterateRecording(file, options)) {
    if (item.kind === 'header') header = item.header;
    else if (item.kind === 'end') end = item;
  }
  if (header === null || end === null) throw new Error(`scanRecording: ${file} yielded no header or end`); // a bug in the reader
  return { path: file, header, end };
}

/** The epochs of a recording, streamed (for the divergence finder and viewers). */
export function* recordedEpochs(file: string, options: ReadRecordingOptions = {}): Generator<RecordedEpoch, void, undefined> {
  for (const item of iterateRecording(file, options)) if (item.kind === 'epoch') yield item;
}

/** The recorded scenario with the recorded seed; exit 2 if this tool cannot parse it. */
export function scenarioFromHeader(file: string, header: RecordingHeaderInfo): Scenario {
  const parsed = parseScenario(header.scenarioText);
  if (!parsed.ok) {
    const first = parsed.errors[0];
    throw new CliError(
      `the scenario recorded in ${file} is not valid for this tool (v${TOOL_VERSION}, recorded by v${header.toolVersion}): ${first.path}: ${first.message}.`,
      EXIT.badInput,
    );
  }
  // The header's epoch length and duration are written from the embedded scenario: a header
  // that disagrees with it (a hand-edited or forged file) would pace, window and count the
  // epochs differently from the run that made the recording.
  const s = parsed.scenario;
  for (const [field, inHeader, inScenario] of [['epoch length', header.epochNs, s.epochNs], ['duration', header.durationNs, s.durationNs]] as const) {
    if (inHeader !== inScenario) {
      throw new CliError(`the header of ${file} says ${field} ${formatNs(inHeader)} but the scenario recorded in it says ${formatNs(inScenario)}; the recording is inconsistent (damaged or edited).`, EXIT.badInput);
    }
  }
  return { ...s, seed: header.seed };
}

export interface ToolVersionCheck {
  recording: string;
  tool: string;
  matches: boolean;
}

export function checkToolVersion(header: Pick<RecordingHeaderInfo, 'toolVersion'>): ToolVersionCheck {
  return { recording: header.toolVersion, tool: TOOL_VERSION, matches: header.toolVersion === TOOL_VERSION };
}

/** The line a command prints on stderr when the versions differ (a difference is stated, never hidden). */
export function toolVersionWarning(v: ToolVersionCheck): string | null {
  if (v.matches) return null;
  return `warning: recorded by vpmu-lab ${v.recording}, replayed by ${v.tool}; a divergence may come from the version change, not from nondeterminism.`;
}
