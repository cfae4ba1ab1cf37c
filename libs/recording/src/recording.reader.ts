// Reads a recording back: iterateRecording streams its items (header, whole epochs, checkpoints,
// trailer, end) through the verifying parser (recording-stream.parser.ts); readRecording keeps
// the whole file in memory and, with `salvage`, everything before the damage; and
// findCheckpointAtOrBefore finds where a replay can start.
import * as fs from 'node:fs';
import type { RecordedCheckpoint, RecordedEpoch, RecordingEnd, RecordingItem, RecordingTrailerInfo, ReadRecordingOptions } from './recording-item.types';
import { RecordingParser } from './recording-stream.parser';
import { PARTIAL_SUFFIX, RecordingHeaderInfo, toHex } from './recording.format';
import { RecordingCorruptError, RecordingEmptyError, RecordingIoError, RecordingNotFoundError } from './recording.errors';

export type {
  ReadRecordingOptions,
  RecordedCheckpoint,
  RecordedEpoch,
  RecordedFrame,
  RecordingEnd,
  RecordingItem,
  RecordingTrailerInfo,
} from './recording-item.types';

export interface Recording extends RecordingEnd {
  path: string;
  header: RecordingHeaderInfo;
  epochs: RecordedEpoch[];
  checkpoints: RecordedCheckpoint[];
  trailer: RecordingTrailerInfo | null;
  /** Set only with `salvage: true`: the damage that ended the read; everything above is intact. */
  corruption: RecordingCorruptError | null;
}

const DEFAULT_CHUNK_BYTES = 1 << 20;

/** Reads the whole recording into memory (views into the file's chunks, no per-event work). */
export function readRecording(path: string, options: ReadRecordingOptions & { salvage?: boolean } = {}): Recording {
  let header: RecordingHeaderInfo | null = null;
  const epochs: RecordedEpoch[] = [];
  const checkpoints: RecordedCheckpoint[] = [];
  let trailer: RecordingTrailerInfo | null = null;
  let end: RecordingEnd | null = null;
  let corruption: RecordingCorruptError | null = null;
  try {
    for (const item of iterateRecording(path, options)) {
      switch (item.kind) {
        case 'header':
          header = item.header;
          break;
        case 'epoch':
          epochs.push(item);
          break;
        case 'checkpoint':
          checkpoints.push(item);
          break;
        case 'trailer':
          trailer = item.trailer;
          break;
        case 'end':
          end = item;
          break;
      }
    }
  } catch (err) {
    // Without a header there is nothing to salvage.
    if (!(err instanceof RecordingCorruptError) || !options.salvage || header === null) throw err;
    corruption = err;
  }
  if (header === null) throw new Error('readRecording: iterator ended without a header'); // unreachable: a bug
  if (end === null) {
    const last = epochs[epochs.length - 1];
    end = {
      complete: false,
      bytes: corruption?.offset ?? 0,
      finalDigestHex: last ? toHex(last.digest) : '',
      // The salvage path keeps per-epoch running hashes only; the content digest is not known.
      contentDigestHex: '',
      totalEvents: epochs.reduce((n, e) => n + e.eventCount, 0),
      epochCount: epochs.length,
      lastEpoch: last ? last.epoch : null,
    };
  }
  return {
    path,
    header,
    epochs,
    checkpoints,
    trailer,
    corruption,
    complete: end.complete,
    bytes: end.bytes,
    finalDigestHex: end.finalDigestHex,
    contentDigestHex: end.contentDigestHex,
    totalEvents: end.totalEvents,
    epochCount: end.epochCount,
    lastEpoch: end.lastEpoch,
  };
}

/**
 * Streams a recording: `header` first, then `epoch` and `checkpoint` items in file order, then
 * `trailer` when present, and always a final `end` item. Throws RecordingCorruptError after
 * the last intact epoch; RecordingNotFoundError / RecordingEmptyError / RecordingVersionError /
 * RecordingIoError for files that cannot be read at all. Breaking out of the loop closes the
 * file.
 */
export function* iterateRecording(path: string, options: ReadRecordingOptions = {}): Generator<RecordingItem, void, undefined> {
  const file = openRecordingFile(path);
  try {
    const growing = options.growing === true || file.isPartial;
    yield* new RecordingParser(path, file.fd, file.size, growing, options.requireComplete === true, options.chunkBytes ?? DEFAULT_CHUNK_BYTES).items();
  } finally {
    fs.closeSync(file.fd);
  }
}

export interface CheckpointSet {
  epoch: number;
  /** Every node's checkpoint taken at `epoch`, in file order. */
  checkpoints: RecordedCheckpoint[];
}

/**
 * The latest checkpoint at or before `epoch` (all nodes' entries for that epoch), or null.
 * From a path it reads only as far as needed: checkpoints precede the epoch they describe.
 */
export function findCheckpointAtOrBefore(recordingOrPath: string | Pick<Recording, 'checkpoints'>, epoch: number): CheckpointSet | null {
  let best: CheckpointSet | null = null;
  const consider = (c: RecordedCheckpoint): void => {
    if (c.epoch > epoch) return;
    if (best === null || c.epoch > best.epoch) best = { epoch: c.epoch, checkpoints: [c] };
    else if (c.epoch === best.epoch) best.checkpoints.push(c);
  };
  if (typeof recordingOrPath !== 'string') {
    for (const c of recordingOrPath.checkpoints) consider(c);
    return best;
  }
  for (const item of iterateRecording(recordingOrPath)) {
    if (item.kind === 'checkpoint') {
      if (item.epoch > epoch) break;
      consider(item);
    } else if (item.kind === 'epoch' && item.epoch >= epoch) {
      break; // later checkpoints describe later epochs
    }
  }
  return best;
}

interface OpenFile {
  fd: number;
  size: number;
  isPartial: boolean;
}

function openRecordingFile(path: string): OpenFile {
  let fd: number;
  let isPartial = false;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new RecordingIoError(path, 'read', err);
    // A recording still being written (or whose writer died) exists only as PATH.partial.
    try {
      fd = fs.openSync(path + PARTIAL_SUFFIX, 'r');
      isPartial = true;
    } catch {
      throw new RecordingNotFoundError(path);
    }
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    if (st.size === 0 && !isPartial) throw new RecordingEmptyError(path);
    return { fd, size: st.size, isPartial };
  } catch (err) {
    fs.closeSync(fd);
    if (err instanceof RecordingEmptyError) throw err;
    throw new RecordingIoError(path, 'read', err);
  }
}
