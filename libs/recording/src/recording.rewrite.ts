// Copies a recording through a transformation and re-seals it (CRCs, hash chain, trailer), so
// the result is a valid recording that differs only in content. Tests use it to plant a
// change that replay --verify must find; tools can use it to cut a recording to its intact
// prefix.
import type { RecordingHeaderInit } from './recording.format';
import { readRecording, RecordedEpoch } from './recording.reader';
import { EpochFrameInput, RecordingWriter, RecordingWriteResult } from './recording.writer';

export interface RewriteOptions {
  /** Returns the frames to write for an epoch (default: unchanged), or null to drop the epoch. */
  editEpoch?: (epoch: RecordedEpoch) => EpochFrameInput[] | null;
  /** Keep only epochs up to this one (inclusive). */
  untilEpoch?: number;
  /** Read the intact prefix of a damaged source instead of failing. */
  salvage?: boolean;
  /** Header fields to replace (e.g. the tool version: a recording as another build would have made it). */
  header?: Partial<RecordingHeaderInit>;
}

export function rewriteRecording(srcPath: string, dstPath: string, options: RewriteOptions = {}): RecordingWriteResult {
  const src = readRecording(srcPath, { salvage: options.salvage });
  const writer = new RecordingWriter().open(dstPath, { ...src.header, ...options.header });
  try {
    let c = 0;
    for (const e of src.epochs) {
      if (options.untilEpoch !== undefined && e.epoch > options.untilEpoch) break;
      // Checkpoints precede the epoch they describe.
      for (; c < src.checkpoints.length && src.checkpoints[c].epoch <= e.epoch; c++) {
        const cp = src.checkpoints[c];
        writer.writeCheckpoint(cp.epoch, cp.node, cp.state);
      }
      const frames = options.editEpoch ? options.editEpoch(e) : e.frames;
      if (frames !== null) writer.writeEpoch(e.epoch, frames);
    }
    if (options.untilEpoch === undefined) {
      for (; c < src.checkpoints.length; c++) {
        const cp = src.checkpoints[c];
        writer.writeCheckpoint(cp.epoch, cp.node, cp.state);
      }
    }
    return writer.close();
  } catch (err) {
    writer.abort();
    throw err;
  }
}
