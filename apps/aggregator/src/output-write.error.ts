// A run's output file (recording, summary, a viewer) that the file system refuses to create or
// write: the world outside the program failed (a read-only or full disk, a path taken by a
// directory), not the model. Worded and classed like the CLI's own output-directory check
// (apps/cli/src/out-dir.ts), so both end the same way (bad input: choose another --out).
import { OperatingError, isOperatingError } from '@vpmu/errors';

export class OutputWriteError extends OperatingError {
  constructor(outDir: string, code: string, cause: unknown) {
    super('bad-input', `cannot write the run's output in ${outDir} (${code}); choose another --out.`, { cause });
  }
}

/** A file-system refusal (an errno from node:fs) becomes an OutputWriteError; the rest passes unchanged. */
export function asOutputWriteError(err: unknown, outDir: string): unknown {
  if (isOperatingError(err)) return err;
  const e = err as NodeJS.ErrnoException | null;
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string') return new OutputWriteError(outDir, e.code, err);
  return err;
}
