// An OTLP/HTTP traces receiver on 127.0.0.1:0 for cluster tests: decodes every request with the
// official OTLP protobuf schema (the generated opentelemetry-proto code shipped by
// @opentelemetry/otlp-proto-exporter-base) and keeps the spans with their resource's service.name.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const otlpRoot = require('@opentelemetry/otlp-proto-exporter-base/build/src/generated/root');
const ExportTraceServiceRequest = otlpRoot.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const ExportTraceServiceResponse = otlpRoot.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;

/** OTLP SpanKind values (opentelemetry-proto trace.proto). */
export const OTLP_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  links: { traceId: string; spanId: string }[];
}

type PbAnyValue = { stringValue?: string; intValue?: { toString(): string } | number; boolValue?: boolean; doubleValue?: number };
type PbAttr = { key: string; value?: PbAnyValue };
interface PbSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId?: Uint8Array;
  name: string;
  kind: number;
  attributes?: PbAttr[];
  links?: { traceId: Uint8Array; spanId: Uint8Array }[];
}
interface PbRequest {
  resourceSpans: { resource?: { attributes?: PbAttr[] }; scopeSpans: { spans: PbSpan[] }[] }[];
}

const hex = (b: Uint8Array | null | undefined): string => (b ? Buffer.from(b).toString('hex') : '');

function attrs(list: PbAttr[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const a of list ?? []) {
    const v = a.value ?? {};
    if (v.stringValue) out[a.key] = v.stringValue;
    else if (v.intValue !== undefined && v.intValue !== null) out[a.key] = Number(String(v.intValue));
    else if (v.doubleValue !== undefined && v.doubleValue !== null) out[a.key] = v.doubleValue;
    else if (v.boolValue !== undefined && v.boolValue !== null) out[a.key] = v.boolValue;
  }
  return out;
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  requests = 0;
  url = '';
  /** The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes it. */
  endpoint = '';
  private server!: Server;

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        this.requests++;
        const decoded = ExportTraceServiceRequest.decode(Buffer.concat(chunks)) as PbRequest;
        for (const rs of decoded.resourceSpans) {
          const service = String(attrs(rs.resource?.attributes)['service.name'] ?? '');
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              this.spans.push({
                service,
                traceId: hex(s.traceId),
                spanId: hex(s.spanId),
                parentSpanId: hex(s.parentSpanId),
                name: s.name,
                kind: s.kind,
                attributes: attrs(s.attributes),
                links: (s.links ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId) })),
              });
            }
          }
        }
        const body = ExportTraceServiceResponse.encode(ExportTraceServiceResponse.create({})).finish();
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(body));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.url = `${this.endpoint}/v1/traces`;
  }

  /** Waits until `done(spans)` holds or the timeout passes; returns whether it held. */
  async waitFor(done: (spans: readonly ReceivedSpan[]) => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.spans)) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
    return true;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
