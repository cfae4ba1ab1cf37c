// The spans of a run, independent of the OpenTelemetry SDK: what OtelTraceBuilder produces and
// what the OTLP protobuf exporter and the OTLP JSON writer consume. Times are virtual ns; the
// wall-clock anchor (runStartUnixNs) lives in TraceMeta and is applied on output only.
// Ids are derived, never random: sha256 over (seed, runId, span path), truncated, so the same
// run always yields the same trace id and span ids; a replay or export is its own trace, derived
// from the anchor it is rendered at (deriveReplayTraceId), linked to the run's trace.
import { createHash } from 'node:crypto';

export type AttrValue = string | number | boolean;
export type Attrs = Record<string, AttrValue>;

export interface TelemetrySpanEvent {
  name: string;
  atNs: number;
  attributes: Attrs;
}

/** A link to a span of another trace (a replay's root links to the recorded run's root). */
export interface TelemetrySpanLink {
  traceId: string;
  spanId: string;
  attributes: Attrs;
}

export type SpanStatus = 'unset' | 'ok' | 'error';

export interface TelemetrySpan {
  /** Stable logical path, e.g. "vm/vm1/vcpu/0/run/12"; the span id is derived from it. */
  path: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startNs: number;
  endNs: number;
  attributes: Attrs;
  events: TelemetrySpanEvent[];
  droppedEventsCount: number;
  status: SpanStatus;
  statusMessage?: string;
  links?: TelemetrySpanLink[];
}

export interface TraceMeta {
  traceId: string;
  /** Wall-clock instant (Unix ns) that virtual time 0 maps to. */
  runStartUnixNs: bigint;
  /** OTLP resource attributes (service.name, vpmu.run.id, ...). */
  resource: Attrs;
}

export const INSTRUMENTATION_SCOPE = { name: '@vpmu/telemetry', version: '1' } as const;

export function deriveTraceId(seed: number, runId: string): string {
  return nonZero(sha256Hex(`vpmu\u0000trace\u0000${seed}\u0000${runId}`).slice(0, 32));
}

/** The trace of a replay or export anchored at `anchorUnixNs`: the same recording rendered at the
 * same anchor gets the same id; another anchor, another trace (never the run's). */
export function deriveReplayTraceId(seed: number, runId: string, anchorUnixNs: bigint): string {
  return nonZero(sha256Hex(`vpmu\u0000replay\u0000${seed}\u0000${runId}\u0000${anchorUnixNs}`).slice(0, 32));
}

export function deriveSpanId(seed: number, runId: string, path: string): string {
  return nonZero(sha256Hex(`vpmu\u0000span\u0000${seed}\u0000${runId}\u0000${path}`).slice(0, 16));
}

/** Virtual ns -> absolute Unix ns. */
export function toUnixNs(meta: TraceMeta, virtualNs: number): bigint {
  return meta.runStartUnixNs + BigInt(Math.round(virtualNs));
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

// An all-zero id is invalid in W3C trace context; astronomically unlikely, but never emit one.
function nonZero(hex: string): string {
  return /^0+$/.test(hex) ? `${hex.slice(0, -1)}1` : hex;
}
