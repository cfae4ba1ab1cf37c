// The viewers of a run, fed by the aggregator epoch by epoch: trace.perfetto.json (streamed),
// report.html (downsampled collector, rendered at the end) and, when an OTLP endpoint is given,
// the run's trace exported over OTLP http/protobuf with seed-derived ids. Files are written under
// a .partial name and renamed when complete, so an aborted run leaves nothing half-written.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunSummary } from '@vpmu/summary';
import type { SimEvent } from '@vpmu/sim';
import {
  FileChunkSink,
  OtelTraceBuilder,
  OtlpSpanExporter,
  PerfettoWriter,
  ReportCollector,
  renderHtmlReport,
  type OtlpExporterFactory,
} from '@vpmu/telemetry';
import type { EventSink } from './aggregator.service';

export interface TelemetrySinkOptions {
  outDir: string;
  seed: number;
  runId: string;
  vmModes: Record<string, string>;
  /** The run's start instant on the wall clock (ns): where virtual time 0 lands in Jaeger. */
  runStartUnixNs: bigint;
  otlpUrl: string | null;
  otlpExporterFactory?: OtlpExporterFactory;
}

export class TelemetrySink implements EventSink {
  private readonly perfettoFile: FileChunkSink;
  private readonly perfetto: PerfettoWriter;
  private readonly report = new ReportCollector();
  private trace: OtelTraceBuilder | null = null;
  private readonly exporter: OtlpSpanExporter | null;
  private readonly perfettoPath: string;

  constructor(private readonly opts: TelemetrySinkOptions) {
    this.perfettoPath = path.join(opts.outDir, 'trace.perfetto.json');
    this.perfettoFile = new FileChunkSink(`${this.perfettoPath}.partial`);
    this.perfetto = new PerfettoWriter(this.perfettoFile.write);
    try {
      this.exporter = opts.otlpUrl ? this.openExporter(opts.otlpUrl) : null;
    } catch (err) {
      this.abort(); // the perfetto file is already open: a sink that never ran leaves nothing behind
      throw err;
    }
  }

  private openExporter(url: string): OtlpSpanExporter {
    const opts = this.opts;
    let exporter: OtlpSpanExporter | null = null;
    this.trace = new OtelTraceBuilder({
      seed: opts.seed,
      runId: opts.runId,
      runStartUnixNs: opts.runStartUnixNs,
      vmModes: opts.vmModes,
      onSpan: (s) => exporter!.write(s),
    });
    exporter = new OtlpSpanExporter(this.trace.meta, { url, ...(opts.otlpExporterFactory && { exporterFactory: opts.otlpExporterFactory }) });
    return exporter;
  }

  onEpoch(_epoch: number, events: readonly SimEvent[]): void {
    this.perfetto.onEvents(events);
    this.report.onEvents(events);
    this.trace?.onEvents(events);
  }

  async finish(summary: RunSummary, outDir: string): Promise<string[]> {
    this.perfetto.finish(summary);
    this.perfettoFile.close();
    fs.renameSync(`${this.perfettoPath}.partial`, this.perfettoPath);
    const reportPath = path.join(outDir, 'report.html');
    fs.writeFileSync(`${reportPath}.partial`, renderHtmlReport(summary, this.report.finish(summary)));
    fs.renameSync(`${reportPath}.partial`, reportPath);
    const files = [reportPath, this.perfettoPath];
    if (this.trace && this.exporter) {
      this.trace.finish(summary);
      await this.exporter.close();
    }
    return files;
  }

  /** Removes the partial files (a finished viewer's complete file stays). Safe more than once. */
  abort(): void {
    this.perfettoFile.close();
    fs.rmSync(`${this.perfettoPath}.partial`, { force: true });
    fs.rmSync(`${path.join(this.opts.outDir, 'report.html')}.partial`, { force: true });
  }
}
