// libs/telemetry: the viewers of a run (docs/viewing.md). Each consumes the event stream
// per epoch batch (`onEvents`) and the summary at the end (`finish`):
//   PerfettoWriter     -> trace.perfetto.json (Chrome trace-event JSON, streamed)
//   OtelTraceBuilder   -> spans with seed-derived ids; OtlpSpanExporter (http/protobuf) and
//                         OtlpJsonWriter (OTLP JSON file) ship them
//   ReportCollector    -> ReportData; renderHtmlReport(summary, data) -> report.html
// All three read vCPU run slices, PMIs and counter samples through one fold (run-timeline.fold.ts).
export { PerfettoWriter, type PerfettoWriterOptions, type ChunkSink } from './perfetto.writer';
export { OtelTraceBuilder, SPAN_NAMES, attrKeyPart, type OtelTraceOptions } from './otel-trace.builder';
export { TOOL_VERSION } from './tool-version';
export {
  type TelemetrySpan,
  type TelemetrySpanEvent,
  type TraceMeta,
  type Attrs,
  type AttrValue,
  type SpanStatus,
  deriveTraceId,
  deriveReplayTraceId,
  deriveSpanId,
  type TelemetrySpanLink,
  toUnixNs,
} from './otel-span.model';
export {
  OtlpSpanExporter,
  OtlpJsonWriter,
  exportSpansOtlp,
  encodeOtlpJson,
  toReadableSpan,
  defaultOtlpExporterFactory,
  type OtlpExporterFactory,
  type OtlpExporterConfig,
  type OtlpExportOptions,
  type OtlpExportStats,
} from './otlp.exporter';
export { resolveOtlpTracesUrl, assertOtlpReachable, otlpAddress, jaegerTraceUrl, OTLP_TRACES_PATH } from './otlp-endpoint';
export {
  ReportCollector,
  type ReportCollectorOptions,
  type ReportData,
  type ReportSlice,
  type ReportMark,
  type ReportVcpuTrack,
  type ReportCounterSeries,
  type ReportMigration,
} from './report.collector';
export { renderHtmlReport, type HtmlReportOptions } from './html-report.renderer';
export { FileChunkSink } from './file-chunk.sink';
export { formatVcpuThreadName, parseVcpuThreadName, type VcpuRef } from './thread-names';
export { TelemetryError, type TelemetryErrorCode } from './telemetry.errors';
// `npm run bench` (bench/bench.ts) measures the viewers' throughput with it.
export { measureExportThroughput, type ExportThroughput } from './export-throughput.bench';
// Test fixtures (src/testing/) are not exported: specs import them by path.
