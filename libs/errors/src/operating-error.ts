// The operating-error family: failures caused by the world outside the program (a bad scenario or
// argument, a broker or collector that does not answer, a corrupt recording, an unwritable output
// directory), as opposed to bugs. Each says what went wrong and what to do in one sentence, says
// whether trying again may help (`retriable`), and carries a kind that the CLI turns into its
// exit code in one place. Anything thrown that is not an OperatingError is a bug.
//
// This lib is pure (no Node I/O, no frameworks) so every layer, models included, may use it.

/**
 * What kind of failure it is, from the user's side:
 * - `bad-input`: the input (scenario, arguments, recording, run id) is wrong; fix it.
 * - `diverged`: a replay does not reproduce its recording.
 * - `unavailable`: infrastructure (Kafka, the OTLP collector, the services) did not answer.
 */
export type OperatingErrorKind = 'bad-input' | 'diverged' | 'unavailable';

export interface OperatingErrorOptions {
  /** True when the same operation may succeed later without changing anything (a broker coming back). */
  retriable?: boolean;
  /** Further lines shown under the message (one per schema error, ...). */
  details?: readonly string[];
  /** The lower-level failure this one explains (an errno, a kafkajs error). */
  cause?: unknown;
}

export class OperatingError extends Error {
  readonly retriable: boolean;
  readonly details: readonly string[];

  constructor(
    readonly kind: OperatingErrorKind,
    message: string,
    options: OperatingErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retriable = options.retriable ?? false;
    this.details = options.details ?? [];
  }
}

/** True for every member of the family (and only for them): the rest are bugs. */
export function isOperatingError(err: unknown): err is OperatingError {
  return err instanceof OperatingError;
}
