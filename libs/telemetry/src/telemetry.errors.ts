// Operating errors of the viewers' edge (docs/cluster.md, STYLE rule 7): a code, a
// retriable flag and a message that tells the user what to do. The CLI maps them to exit codes.
import { OperatingError, type OperatingErrorKind } from '@vpmu/errors';

export type TelemetryErrorCode = 'OTLP_EXPORT_FAILED' | 'OTLP_COLLECTOR_UNREACHABLE' | 'OTLP_ENDPOINT_MISSING' | 'OTLP_ENDPOINT_INVALID';

/** A collector that fails or cannot be reached is unavailable infrastructure; a missing or malformed endpoint is a bad argument. */
const KIND_OF_CODE: Record<TelemetryErrorCode, OperatingErrorKind> = {
  OTLP_EXPORT_FAILED: 'unavailable',
  OTLP_COLLECTOR_UNREACHABLE: 'unavailable',
  OTLP_ENDPOINT_MISSING: 'bad-input',
  OTLP_ENDPOINT_INVALID: 'bad-input',
};

export class TelemetryError extends OperatingError {
  constructor(
    readonly code: TelemetryErrorCode,
    message: string,
    retriable: boolean,
  ) {
    super(KIND_OF_CODE[code], message, { retriable });
    this.name = 'TelemetryError';
  }
}
