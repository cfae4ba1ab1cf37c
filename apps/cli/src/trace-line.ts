// The line `run` and `replay` print after spans were exported: the trace id to search for, and
// the Jaeger UI address of the trace when the OTLP endpoint names a host.
import { jaegerTraceUrl } from '@vpmu/telemetry';

export function traceLine(what: string, tracesUrl: string, traceId: string): string {
  const ui = jaegerTraceUrl(tracesUrl, traceId);
  return `${what}: trace ${traceId}${ui ? ` (Jaeger: ${ui})` : ''}`;
}
