// OTLP output of a run's spans: http/protobuf to a collector (Jaeger accepts it on :4318) through
// the official @opentelemetry/exporter-trace-otlp-proto, and the OTLP JSON encoding to a file
// (`vpmu export --format otlp-json`).
// Why not a TracerProvider with a BatchSpanProcessor: the spans carry ids derived from the seed
// and explicit virtual-time timestamps, so they are built as ReadableSpans directly and handed to
// the exporter in chunks, each export awaited. Nothing is queued behind our back, so nothing can
// be dropped by a full queue; close() forceFlushes and shuts the exporter down before returning.
import type { HrTime, Attributes, SpanContext } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { INSTRUMENTATION_SCOPE, type AttrValue, type Attrs, type TelemetrySpan, type TraceMeta, toUnixNs } from './otel-span.model';
import { TelemetryError } from './telemetry.errors';

export interface OtlpExportOptions {
  /** Full traces URL, e.g. http://localhost:4318/v1/traces (see resolveOtlpTracesUrl in otlp-endpoint.ts). */
  url: string;
  /** Spans per export request. Default 512. */
  chunkSize?: number;
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
  headers?: Record<string, string>;
  /** Makes the underlying exporter; default `new OTLPTraceExporter(config)` from
   * @opentelemetry/exporter-trace-otlp-proto. A port for tests: see otlpExporterFactoryForJest. */
  exporterFactory?: OtlpExporterFactory;
}

export type OtlpExporterConfig = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>;
export type OtlpExporterFactory = (config: OtlpExporterConfig) => SpanExporter;

export const defaultOtlpExporterFactory: OtlpExporterFactory = (config) => {
  // Loaded on first use: a run without an OTLP endpoint (most of them) never needs the exporter
  // and the ~150 modules it pulls in at every CLI start.
  const exporter = require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
  return new exporter.OTLPTraceExporter(config);
};

export interface OtlpExportStats {
  spans: number;
  requests: number;
}

/** Streams spans to an OTLP http/protobuf endpoint in awaited chunks. */
export class OtlpSpanExporter {
  private readonly exporter: SpanExporter;
  private readonly resource: Resource;
  // One object for every span: the OTLP serializer groups spans into ResourceSpans and ScopeSpans
  // by object identity, so a fresh scope object per span made one ScopeSpans per span.
  private readonly scope: InstrumentationScope = { ...INSTRUMENTATION_SCOPE };
  private readonly chunkSize: number;
  private pending: TelemetrySpan[] = [];
  private chain: Promise<void> = Promise.resolve();
  private failure: TelemetryError | null = null;
  private readonly stats: OtlpExportStats = { spans: 0, requests: 0 };
  private inFlightChunks = 0;

  constructor(
    private readonly meta: TraceMeta,
    private readonly options: OtlpExportOptions,
  ) {
    this.chunkSize = Math.max(1, options.chunkSize ?? 512);
    this.resource = resourceFromAttributes(meta.resource);
    this.exporter = (options.exporterFactory ?? defaultOtlpExporterFactory)({
      url: options.url,
      timeoutMillis: options.timeoutMs ?? 10_000,
      headers: options.headers,
    });
  }

  /** Chunks queued or being sent; a caller that wants bounded memory awaits drain() when high. */
  get chunksInFlight(): number {
    return this.inFlightChunks;
  }

  write(span: TelemetrySpan): void {
    this.pending.push(span);
    if (this.pending.length >= this.chunkSize) this.sendPending();
  }

  /** Waits for every chunk handed to the exporter so far. */
  async drain(): Promise<void> {
    await this.chain;
    if (this.failure) throw this.failure;
  }

  /** Sends what is left, waits for all of it, flushes and shuts the exporter down. */
  async close(): Promise<OtlpExportStats> {
    this.sendPending();
    try {
      await this.chain;
    } finally {
      await this.exporter.forceFlush?.().catch(() => undefined);
      await this.exporter.shutdown().catch(() => undefined);
    }
    if (this.failure) throw this.failure;
    return { ...this.stats };
  }

  private sendPending(): void {
    if (this.pending.length === 0) return;
    const chunk = this.pending;
    this.pending = [];
    this.inFlightChunks++;
    this.chain = this.chain.then(async () => {
      try {
        if (this.failure) return; // the endpoint already failed: do not hammer it
        await this.exportChunk(chunk);
      } finally {
        this.inFlightChunks--;
      }
    });
  }

  private exportChunk(chunk: TelemetrySpan[]): Promise<void> {
    const spans = chunk.map((s) => toReadableSpan(s, this.meta, this.resource, this.scope));
    return new Promise((resolve) => {
      this.exporter.export(spans, (result: ExportResult) => {
        this.stats.requests++;
        if (result.code === ExportResultCode.SUCCESS) {
          this.stats.spans += spans.length;
        } else {
          // A collector that answers non-2xx fails the export (the transport's result path): say its status.
          const status = (result.error as { code?: unknown } | undefined)?.code;
          const message = result.error?.message || 'unknown error';
          const why = typeof status === 'number' ? `HTTP ${status} ${message}` : message;
          this.failure = new TelemetryError(
            'OTLP_EXPORT_FAILED',
            `Could not export spans to ${this.options.url} (${why}); check that the collector (for example Jaeger with OTLP on port 4318) is running and the --otlp URL is right.`,
            true,
          );
        }
        resolve();
      });
    });
  }
}

/** Exports spans and waits until all are delivered (or throws a TelemetryError). */
export async function exportSpansOtlp(spans: readonly TelemetrySpan[], meta: TraceMeta, options: OtlpExportOptions): Promise<OtlpExportStats> {
  const exporter = new OtlpSpanExporter(meta, options);
  for (const s of spans) exporter.write(s);
  return exporter.close();
}

/** `scope` should be one object shared by all spans of an export (see OtlpSpanExporter.scope). */
export function toReadableSpan(s: TelemetrySpan, meta: TraceMeta, resource: Resource, scope: InstrumentationScope = { ...INSTRUMENTATION_SCOPE }): ReadableSpan {
  const ctx: SpanContext = { traceId: s.traceId, spanId: s.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: false };
  const startTime = hrTime(toUnixNs(meta, s.startNs));
  const endTime = hrTime(toUnixNs(meta, s.endNs));
  const span: ReadableSpan = {
    name: s.name,
    kind: SpanKind.INTERNAL,
    spanContext: () => ctx,
    parentSpanContext: s.parentSpanId === undefined ? undefined : { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: false },
    startTime,
    endTime,
    status: { code: statusCode(s), message: s.statusMessage },
    attributes: s.attributes as Attributes,
    links: (s.links ?? []).map((l) => ({ context: { traceId: l.traceId, spanId: l.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: false }, attributes: l.attributes as Attributes, droppedAttributesCount: 0 })),
    events: s.events.map((e) => ({ name: e.name, time: hrTime(toUnixNs(meta, e.atNs)), attributes: e.attributes as Attributes, droppedAttributesCount: 0 })),
    duration: hrTime(BigInt(Math.max(0, Math.round(s.endNs - s.startNs)))),
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: s.droppedEventsCount,
    droppedLinksCount: 0,
  };
  return span;
}

function statusCode(s: TelemetrySpan): SpanStatusCode {
  return s.status === 'error' ? SpanStatusCode.ERROR : s.status === 'ok' ? SpanStatusCode.OK : SpanStatusCode.UNSET;
}

function hrTime(ns: bigint): HrTime {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

// ---- OTLP JSON (file) ---------------------------------------------------------------------------

/**
 * Writes the OTLP JSON encoding (ExportTraceServiceRequest as JSON, per the OTLP spec: hex ids,
 * int64 as strings, enum values as integers) incrementally: one resource, one scope, the spans
 * streamed as they come.
 */
export class OtlpJsonWriter {
  private first = true;
  private closed = false;

  constructor(
    private readonly meta: TraceMeta,
    private readonly sink: (chunk: string) => void,
  ) {
    const resourceJson = JSON.stringify({ attributes: encodeAttributes(meta.resource) });
    const scopeJson = JSON.stringify({ name: INSTRUMENTATION_SCOPE.name, version: INSTRUMENTATION_SCOPE.version });
    this.sink(`{"resourceSpans":[{"resource":${resourceJson},"scopeSpans":[{"scope":${scopeJson},"spans":[\n`);
  }

  write(span: TelemetrySpan): void {
    if (this.closed) throw new Error('OtlpJsonWriter: write after close');
    this.sink(`${this.first ? '' : ',\n'}${JSON.stringify(encodeSpanJson(span, this.meta))}`);
    this.first = false;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sink('\n]}]}]}\n');
  }
}

/** The whole OTLP JSON document for a set of spans. */
export function encodeOtlpJson(spans: readonly TelemetrySpan[], meta: TraceMeta): string {
  const parts: string[] = [];
  const w = new OtlpJsonWriter(meta, (c) => parts.push(c));
  for (const s of spans) w.write(s);
  w.close();
  return parts.join('');
}

export function encodeSpanJson(s: TelemetrySpan, meta: TraceMeta): Record<string, unknown> {
  const out: Record<string, unknown> = {
    traceId: s.traceId,
    spanId: s.spanId,
    name: s.name,
    kind: 1, // SPAN_KIND_INTERNAL
    startTimeUnixNano: toUnixNs(meta, s.startNs).toString(),
    endTimeUnixNano: toUnixNs(meta, s.endNs).toString(),
    attributes: encodeAttributes(s.attributes),
    events: s.events.map((e) => ({ timeUnixNano: toUnixNs(meta, e.atNs).toString(), name: e.name, attributes: encodeAttributes(e.attributes) })),
    status: s.status === 'unset' ? {} : { code: s.status === 'ok' ? 1 : 2, ...(s.statusMessage ? { message: s.statusMessage } : {}) },
  };
  if (s.parentSpanId !== undefined) out.parentSpanId = s.parentSpanId;
  if (s.droppedEventsCount > 0) out.droppedEventsCount = s.droppedEventsCount;
  if (s.links && s.links.length > 0) out.links = s.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: encodeAttributes(l.attributes) }));
  return out;
}

function encodeAttributes(attrs: Attrs): { key: string; value: Record<string, unknown> }[] {
  return Object.entries(attrs).map(([key, v]) => ({ key, value: anyValue(v) }));
}

function anyValue(v: AttrValue): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}
