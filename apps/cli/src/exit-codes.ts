// The CLI's exit codes (README): 0 ok, 1 internal bug, 2 bad input, 3 replay divergence,
// 4 infrastructure unavailable. This is the one place where a failure becomes an exit code: an
// operating error (@vpmu/errors) by its kind, anything else is a bug.
import { isOperatingError, type OperatingErrorKind } from '@vpmu/errors';

export const EXIT = { ok: 0, bug: 1, badInput: 2, diverged: 3, unavailable: 4 } as const;

/** The exit codes an operating error can end the process with. */
export type OperatingExitCode = (typeof EXIT)['badInput' | 'diverged' | 'unavailable'];

const EXIT_CODE_OF_KIND: Record<OperatingErrorKind, OperatingExitCode> = {
  'bad-input': EXIT.badInput,
  diverged: EXIT.diverged,
  unavailable: EXIT.unavailable,
};

/** The exit code for a failure that reached the top-level handler. */
export function exitCodeFor(err: unknown): number {
  return isOperatingError(err) ? EXIT_CODE_OF_KIND[err.kind] : EXIT.bug;
}

/** The kind that ends the process with `code` (for errors raised by exit code, see CliError). */
export function kindOfExitCode(code: OperatingExitCode): OperatingErrorKind {
  const kinds = Object.keys(EXIT_CODE_OF_KIND) as OperatingErrorKind[];
  return kinds.find((k) => EXIT_CODE_OF_KIND[k] === code)!;
}
