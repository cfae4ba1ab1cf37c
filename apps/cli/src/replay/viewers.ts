// The viewers a recording can be streamed into (libs/telemetry): the Perfetto trace, the HTML
// report, OTLP over http/protobuf to a collector, and the OTLP JSON file. Each writes its file
// as FILE.partial and renames it only once complete, so an interrupted replay or export never
// leaves half a file under the final name.
import * as fs from 'node:fs';
import {
  FileChunkSink,
  OtelTraceBuilder,
  OtlpJsonWriter,
  OtlpSpanExporter,
  PerfettoWriter,
  ReportCollector,
  renderHtmlReport,
} from '@vpmu/telemetry';
import type { Scenario } from '@vpmu/scenario';
import type { SimEvent } from '@vpmu/sim';
import type { RunSummary } from '@vpmu/summary';
import type { RecordingConsumer } from './stream';

export interface Viewer extends RecordingConsumer {
  /** Completes the view; returns the files written. */
  finish(summary: RunSummary): Promise<string[]>;
  /** Drops what was written so far (on failure). */
  abort(): void;
}

export interface TraceIdentity {
  runId: string;
  seed: number;
  scenario: Scenario;
  /** Unix ns that virtual time 0 maps to in OTLP output. */
  runStartUnixNs: bigint;
  /** A rendering of the recording rather than the live run: its own trace id, linked to the run's. */
  replay?: boolean;
}

/** A file written as FILE.partial and renamed into place by commit(). */
export class PartialFile {
  readonly partial: string;
  constructor(readonly path: string) {
    this.partial = `${path}.partial`;
  }
  commit(): void {
    fs.renameSync(this.partial, this.path);
  }
  discard(): void {
    fs.rmSync(this.partial, { force: true });
  }
}

export function perfettoViewer(file: string): Viewer {
  const out = new PartialFile(file);
  const sink = new FileChunkSink(out.partial);
  const writer = new PerfettoWriter(sink.write);
  return {
    onEvents: (_e, _n, events) => writer.onEvents(events),
    finish: async (summary) => {
      writer.finish(summary);
      sink.close();
      out.commit();
      return [file];
    },
    abort: () => {
      sink.close();
      out.discard();
    },
  };
}

export function htmlReportViewer(file: string): Viewer {
  const collector = new ReportCollector();
  return {
    onEvents: (_e, _n, events) => collector.onEvents(events),
    finish: async (summary) => {
      const out = new PartialFile(file);
      fs.writeFileSync(out.partial, renderHtmlReport(summary, collector.finish(summary)));
      out.commit();
      return [file];
    },
    abort: () => undefined,
  };
}

function traceBuilder(id: TraceIdentity, onSpan: ConstructorParameters<typeof OtelTraceBuilder>[0]['onSpan']): OtelTraceBuilder {
  const vmModes = Object.fromEntries(id.scenario.vms.map((v) => [v.id, v.vpmu.mode]));
  return new OtelTraceBuilder({ seed: id.seed, runId: id.runId, runStartUnixNs: id.runStartUnixNs, vmModes, onSpan, replay: id.replay ?? false });
}

export function otlpJsonViewer(file: string, id: TraceIdentity): Viewer {
  const out = new PartialFile(file);
  const sink = new FileChunkSink(out.partial);
  let json: OtlpJsonWriter | null = null;
  const trace = traceBuilder(id, (s) => json!.write(s));
  json = new OtlpJsonWriter(trace.meta, sink.write);
  return {
    onEvents: (_e, _n, events) => trace.onEvents(events),
    finish: async (summary) => {
      trace.finish(summary);
      json!.close();
      sink.close();
      out.commit();
      return [file];
    },
    abort: () => {
      sink.close();
      out.discard();
    },
  };
}

/** Spans streamed to an OTLP http/protobuf endpoint; a collector failure is exit 4. */
export function otlpViewer(url: string, id: TraceIdentity): Viewer & { spans(): number; traceId: string } {
  let exporter: OtlpSpanExporter | null = null;
  const trace = traceBuilder(id, (s) => exporter!.write(s));
  exporter = new OtlpSpanExporter(trace.meta, { url });
  let sent = 0;
  return {
    onEvents: (_e, _n, events) => trace.onEvents(events),
    pace: async () => {
      if (exporter!.chunksInFlight > 8) await exporter!.drain();
    },
    finish: async (summary) => {
      trace.finish(summary);
      const stats = await exporter!.close();
      sent = stats.spans;
      return [];
    },
    abort: () => undefined,
    spans: () => sent,
    traceId: trace.meta.traceId,
  };
}

/** One JSON object per event, with the epoch and the node that produced it. */
export function jsonlViewer(file: string): Viewer & { lines(): number } {
  const out = new PartialFile(file);
  const sink = new FileChunkSink(out.partial);
  let buffered: string[] = [];
  let chars = 0;
  let lines = 0;
  const flush = (): void => {
    if (buffered.length === 0) return;
    sink.write(buffered.join(''));
    buffered = [];
    chars = 0;
  };
  return {
    onEvents: (epoch: number, node: string, events: readonly SimEvent[]) => {
      for (const e of events) {
        const line = JSON.stringify({ epoch, node, ...e }) + '\n';
        buffered.push(line);
        chars += line.length;
        lines++;
      }
      if (chars > 1 << 16) flush();
    },
    finish: async () => {
      flush();
      sink.close();
      out.commit();
      return [file];
    },
    abort: () => {
      sink.close();
      out.discard();
    },
    lines: () => lines,
  };
}
