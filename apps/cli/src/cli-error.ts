// Operating errors raised by the CLI itself (bad arguments, unwritable output, a cluster that does
// not start): one sentence that says what to do, with optional detail lines. A member of the
// operating-error family (@vpmu/errors); main.ts maps its kind to the exit code.
import { OperatingError, type OperatingErrorKind } from '@vpmu/errors';
import { kindOfExitCode, type OperatingExitCode } from './exit-codes';

export { EXIT } from './exit-codes';

export class CliError extends OperatingError {
  /** `kind` may also be given as the exit code it ends with (EXIT.badInput, EXIT.unavailable, ...). */
  constructor(message: string, kind: OperatingErrorKind | OperatingExitCode = 'bad-input', details: readonly string[] = []) {
    super(typeof kind === 'number' ? kindOfExitCode(kind) : kind, message, { details });
  }
}
