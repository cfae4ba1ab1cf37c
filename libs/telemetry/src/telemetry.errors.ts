// Operating errors of the viewers' edge (docs/cluster.md, STYLE rule 7): a code, a
// retriable flag and a message that tells the user what to do. The CLI maps them to exit codes.
import { OperatingError, type OperatingErrorKind } from '@vpmu/errors';

export type TelemetryErrorCode = 'OTLP_EXPORT_FAILED' | 'OTLP_ENDPOINT_MISSING';

/** A collector that fails is unavailable infrastructure; a missing endpoint is a bad argument. */
const KIND_OF_CODE: Record<TelemetryErrorCode, OperatingErrorKind> = { OTLP_EXPORT_FAILED: 'unavailable', OTLP_ENDPOINT_MISSING: 'bad-input' };

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
