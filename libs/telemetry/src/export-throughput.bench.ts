// Viewer throughput for `npm run bench`: spans/s through the real OTLP http/protobuf exporter to a
// local sink receiver (127.0.0.1, answers 200 to everything), and trace events/s of the Perfetto
// writer, both on a synthetic run of the given length. Wall-clock use is measurement only.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { OtelTraceBuilder } from './otel-trace.builder';
import type { TelemetrySpan } from './otel-span.model';
import { OtlpSpanExporter, type OtlpExporterFactory } from './otlp.exporter';
import { PerfettoWriter } from './perfetto.writer';
import { makeSyntheticRun } from './testing/synthetic-run.fixture';

export interface ExportThroughput {
  simEvents: number;
  spans: number;
  otlpRequests: number;
  otlpBytes: number;
  otlpSeconds: number;
  spansPerSec: number;
  perfettoEvents: number;
  perfettoSeconds: number;
  perfettoEventsPerSec: number;
}

export async function measureExportThroughput(options: { durationMs?: number; chunkSize?: number; exporterFactory?: OtlpExporterFactory } = {}): Promise<ExportThroughput> {
  const run = makeSyntheticRun({ durationMs: options.durationMs ?? 1000 });
  const simEvents = run.batches.reduce((n, b) => n + b.length, 0);

  let otlpBytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (otlpBytes += c.length));
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  try {
    const spans: TelemetrySpan[] = [];
    const builder = new OtelTraceBuilder({ seed: run.summary.run.seed, runId: run.summary.run.id, runStartUnixNs: 0n, onSpan: (s) => spans.push(s) });
    for (const b of run.batches) builder.onEvents(b);
    builder.finish(run.summary);

    const t0 = performance.now(); // wall-clock ok
    const exporter = new OtlpSpanExporter(builder.meta, { url, chunkSize: options.chunkSize ?? 512, exporterFactory: options.exporterFactory });
    for (const s of spans) exporter.write(s);
    const stats = await exporter.close();
    const otlpSeconds = (performance.now() - t0) / 1000; // wall-clock ok

    const t1 = performance.now(); // wall-clock ok
    let perfettoChars = 0;
    const writer = new PerfettoWriter((c) => (perfettoChars += c.length));
    for (const b of run.batches) writer.onEvents(b);
    writer.finish(run.summary);
    const perfettoSeconds = (performance.now() - t1) / 1000; // wall-clock ok
    void perfettoChars;

    return {
      simEvents,
      spans: stats.spans,
      otlpRequests: stats.requests,
      otlpBytes,
      otlpSeconds,
      spansPerSec: stats.spans / Math.max(otlpSeconds, 1e-9),
      perfettoEvents: writer.traceEventCount,
      perfettoSeconds,
      perfettoEventsPerSec: writer.traceEventCount / Math.max(perfettoSeconds, 1e-9),
    };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
