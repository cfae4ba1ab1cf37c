// Operating errors of the recording adapter (STYLE rule 7): each carries a stable `code`, a
// `retriable` flag and a one-sentence message that says what to do. All of them are of kind
// `bad-input` (the CLI maps that to exit 2 in one place); nothing here knows about exit codes.
//
// Broken invariants on the writing side (epochs out of order, a write after close) are bugs
// in the caller and throw plain Errors instead.
import { OperatingError } from '@vpmu/errors';

export type RecordingErrorCode =
  | 'recording-not-found'
  | 'recording-empty'
  | 'recording-corrupt'
  | 'recording-version'
  | 'recording-io';

export abstract class RecordingError extends OperatingError {
  abstract readonly code: RecordingErrorCode;
  constructor(
    message: string,
    readonly path: string,
    retriable = false,
  ) {
    super('bad-input', message, { retriable });
  }
}

export class RecordingNotFoundError extends RecordingError {
  readonly code = 'recording-not-found';
  constructor(path: string) {
    super(`recording ${path} does not exist; check the path (vpmu run writes DIR/recording.vpmurec).`, path);
  }
}

export class RecordingEmptyError extends RecordingError {
  readonly code = 'recording-empty';
  constructor(path: string) {
    super(`recording ${path} is empty (0 bytes); re-run the scenario to record it again.`, path);
  }
}

/** Written by a newer tool: the format version is above the one this tool reads. */
export class RecordingVersionError extends RecordingError {
  readonly code = 'recording-version';
  constructor(
    path: string,
    readonly fileVersion: number,
    readonly toolVersion: number,
  ) {
    super(
      `recording format v${fileVersion} is newer than this tool's v${toolVersion}; upgrade vpmu-lab to read ${path}.`,
      path,
    );
  }
}

/** Reading or writing failed at the OS level (permissions, disk full, not a file). */
export class RecordingIoError extends RecordingError {
  readonly code = 'recording-io';
  constructor(path: string, what: string, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    const reason = errno ?? (cause as Error | undefined)?.message ?? String(cause);
    super(
      `cannot ${what} recording ${path} (${reason}); check that the path exists, is a regular file and is ${what === 'read' ? 'readable' : 'writable'}.`,
      path,
      errno === 'ENOSPC' || errno === 'EAGAIN' || errno === 'EMFILE',
    );
  }
}

/**
 * Truncated or damaged file. Everything up to and including `lastGoodEpoch` passed every check
 * (CRCs, hash chain, epoch markers) and stays usable; `lastGoodEpoch` is null when no epoch did.
 */
export class RecordingCorruptError extends RecordingError {
  readonly code = 'recording-corrupt';
  constructor(
    path: string,
    /** What is wrong, a short phrase: "frame CRC mismatch", "file ends inside a record", ... */
    readonly reason: string,
    /** Byte offset of the first record that failed. */
    readonly offset: number,
    readonly lastGoodEpoch: number | null,
  ) {
    super(
      `recording ${path} is corrupt at byte ${offset} (${reason}); ` +
        (lastGoodEpoch === null
          ? 'no epoch is intact, so re-run the scenario to record it again.'
          : `epochs up to ${lastGoodEpoch} are intact and usable, later ones are lost.`),
      path,
    );
  }
}

/** The file does not start with the recording magic: it is not a vpmu-lab recording at all. */
export class RecordingBadMagicError extends RecordingCorruptError {
  constructor(path: string) {
    super(path, 'wrong magic bytes', 0, null);
    this.message = `${path} is not a vpmu-lab recording (its first bytes are not the VPMUREC magic); pass a recording.vpmurec file.`;
  }
}
