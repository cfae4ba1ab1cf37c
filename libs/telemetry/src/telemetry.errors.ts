// Operating errors of the viewers' edge (DESIGN.md "Reliability", STYLE rule 7): a code, a
// retriable flag and a message that tells the user what to do. The CLI maps them to exit codes.

export type TelemetryErrorCode = 'OTLP_EXPORT_FAILED' | 'OTLP_ENDPOINT_MISSING';

export class TelemetryError extends Error {
  constructor(
    readonly code: TelemetryErrorCode,
    message: string,
    readonly retriable: boolean,
  ) {
    super(message);
    this.name = 'TelemetryError';
  }
}
