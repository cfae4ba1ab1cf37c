// The OTLP path end to end: spans built from a synthetic run are exported over OTLP
// http/protobuf to an in-process receiver, which decodes each request with the official OTLP
// protobuf schema (the generated code of opentelemetry-proto shipped by
// @opentelemetry/otlp-proto-exporter-base), then checks counts, parent/child structure,
// attributes, times and that a rebuild (a replay) yields the same ids.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OtelTraceBuilder } from './otel-trace.builder';
import { SPAN_NAMES } from './otel-trace.builder';
import { type TelemetrySpan, deriveReplayTraceId, deriveSpanId, deriveTraceId } from './otel-span.model';
import { jaegerTraceUrl } from './otlp-endpoint';
import { TOOL_VERSION } from './tool-version';
import { OtlpSpanExporter, encodeOtlpJson, exportSpansOtlp } from './otlp.exporter';
import { resolveOtlpTracesUrl } from './otlp-endpoint';
import { TelemetryError } from './telemetry.errors';
import { makeSyntheticRun, type SyntheticRun } from './testing/synthetic-run.fixture';
import { otlpExporterFactoryForJest as exporterFactory } from './testing/jest-otlp-exporter.factory';
import { measureExportThroughput } from './export-throughput.bench';

const otlpRoot = require('@opentelemetry/otlp-proto-exporter-base/build/src/generated/root');
const ExportTraceServiceRequest = otlpRoot.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const ExportTraceServiceResponse = otlpRoot.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;

interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startUnixNs: bigint;
  endUnixNs: bigint;
  attributes: Record<string, unknown>;
  events: { name: string; timeUnixNs: bigint; attributes: Record<string, unknown> }[];
  status: { code: number; message: string };
  droppedEventsCount: number;
  links: { traceId: string; spanId: string; attributes: Record<string, unknown> }[];
}

interface Received {
  path: string;
  contentType: string;
  resource: Record<string, unknown>;
  scope: string;
  /** ScopeSpans in this ResourceSpans. */
  scopeSpansCount: number;
  spans: DecodedSpan[];
}

const RUN_START = 1_700_000_000_123_456_789n;
const MODES = { vm1: 'passthrough', vm2: 'emulated', vm3: 'paravirt' };

function hex(b: Uint8Array | null | undefined): string {
  return b ? Buffer.from(b).toString('hex') : '';
}

function u64(v: { toString(): string } | number): bigint {
  return BigInt(v.toString());
}

function attrs(list: { key: string; value: Record<string, unknown> }[] | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of list ?? []) {
    const v = a.value;
    if (v.stringValue !== undefined && v.stringValue !== null && v.stringValue !== '') out[a.key] = v.stringValue;
    else if (v.boolValue !== undefined && v.boolValue !== null && (v.boolValue as boolean) !== false) out[a.key] = v.boolValue;
    else if (v.intValue !== undefined && v.intValue !== null) out[a.key] = Number(String(v.intValue));
    else if (v.doubleValue !== undefined && v.doubleValue !== null) out[a.key] = v.doubleValue;
    else if (v.boolValue === false) out[a.key] = false;
    else out[a.key] = v.stringValue ?? '';
  }
  return out;
}

// Shapes of the generated OTLP message classes, as far as the test reads them.
type PbAttr = { key: string; value: Record<string, unknown> };
interface PbSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId?: Uint8Array;
  name: string;
  kind: number;
  startTimeUnixNano: { toString(): string };
  endTimeUnixNano: { toString(): string };
  attributes?: PbAttr[];
  events?: { name: string; timeUnixNano: { toString(): string }; attributes?: PbAttr[] }[];
  status?: { code?: number; message?: string };
  droppedEventsCount?: number;
  links?: { traceId: Uint8Array; spanId: Uint8Array; attributes?: PbAttr[] }[];
}
interface PbResourceSpans {
  resource?: { attributes?: PbAttr[] };
  scopeSpans: { scope?: { name?: string }; spans: PbSpan[] }[];
}

function decode(body: Buffer, path: string, contentType: string): Received[] {
  const req = ExportTraceServiceRequest.decode(body) as { resourceSpans: PbResourceSpans[] };
  return req.resourceSpans.map((rs) => ({
    path,
    contentType,
    resource: attrs(rs.resource?.attributes),
    scope: rs.scopeSpans[0]?.scope?.name ?? '',
    scopeSpansCount: rs.scopeSpans.length,
    spans: rs.scopeSpans.flatMap((ss) =>
      ss.spans.map((s): DecodedSpan => ({
        traceId: hex(s.traceId),
        spanId: hex(s.spanId),
        parentSpanId: hex(s.parentSpanId),
        name: s.name,
        kind: s.kind,
        startUnixNs: u64(s.startTimeUnixNano),
        endUnixNs: u64(s.endTimeUnixNano),
        attributes: attrs(s.attributes),
        events: (s.events ?? []).map((e) => ({ name: e.name, timeUnixNs: u64(e.timeUnixNano), attributes: attrs(e.attributes) })),
        status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
        droppedEventsCount: s.droppedEventsCount ?? 0,
        links: (s.links ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId), attributes: attrs(l.attributes) })),
      })),
    ),
  }));
}

/** An OTLP/HTTP receiver on 127.0.0.1:0 that decodes what it gets with the official schema. */
class OtlpReceiver {
  readonly requests: Received[] = [];
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        this.requests.push(...decode(Buffer.concat(chunks), req.url, String(req.headers['content-type'])));
        const body = ExportTraceServiceResponse.encode(ExportTraceServiceResponse.create({})).finish();
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(body));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/traces`;
  }

  get spans(): DecodedSpan[] {
    return this.requests.flatMap((r) => r.spans);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function build(run: SyntheticRun, opts: { seed?: number; onSpan?: (s: TelemetrySpan) => void; replay?: boolean; runStartUnixNs?: bigint } = {}): { builder: OtelTraceBuilder; spans: TelemetrySpan[] } {
  const builder = new OtelTraceBuilder({ seed: opts.seed ?? run.summary.run.seed, runId: run.summary.run.id, runStartUnixNs: opts.runStartUnixNs ?? RUN_START, vmModes: MODES, onSpan: opts.onSpan, replay: opts.replay });
  for (const b of run.batches) builder.onEvents(b);
  return { builder, spans: builder.finish(run.summary) };
}

describe('OtelTraceBuilder + OTLP http/protobuf export', () => {
  const run = makeSyntheticRun();
  const receiver = new OtlpReceiver();
  let built: TelemetrySpan[];
  let got: DecodedSpan[];
  let stats: { spans: number; requests: number };

  beforeAll(async () => {
    await receiver.start();
    const { builder, spans } = build(run);
    built = spans;
    stats = await exportSpansOtlp(spans, builder.meta, { url: receiver.url, chunkSize: 16, exporterFactory });
    got = receiver.spans;
  });

  afterAll(() => receiver.stop());

  it('delivers every span, in chunks, as application/x-protobuf with the resource', () => {
    expect(built.length).toBeGreaterThan(40);
    expect(got.length).toBe(built.length);
    expect(stats).toEqual({ spans: built.length, requests: Math.ceil(built.length / 16) });
    expect(receiver.requests.length).toBe(stats.requests); // one ResourceSpans per request
    for (const r of receiver.requests) {
      expect(r.contentType).toContain('application/x-protobuf');
      expect(r.resource).toMatchObject({ 'service.name': 'vpmu-lab', 'service.version': TOOL_VERSION, 'vpmu.run.id': run.summary.run.id, 'vpmu.seed': run.summary.run.seed });
      expect(r.scope).toBe('@vpmu/telemetry');
      // One resource and one scope per request, all of the request's spans under them.
      expect(r.scopeSpansCount).toBe(1);
      expect(r.spans.length).toBeGreaterThan(1);
    }
    expect(new Set(got.map((s) => s.spanId)).size).toBe(got.length);
  });

  it('is one trace whose spans form a tree under the run span', () => {
    const traceId = deriveTraceId(run.summary.run.seed, run.summary.run.id);
    expect(new Set(got.map((s) => s.traceId))).toEqual(new Set([traceId]));
    const byId = new Map(got.map((s) => [s.spanId, s]));
    const roots = got.filter((s) => s.parentSpanId === '');
    expect(roots.length).toBe(1);
    const root = roots[0];
    expect(root.name).toBe('run');
    expect(root.attributes).toMatchObject({ 'vpmu.run.id': run.summary.run.id, 'vpmu.scenario': run.summary.run.scenario });
    expect(root.links).toEqual([]);
    for (const s of got) {
      if (s === root) continue;
      const parent = byId.get(s.parentSpanId);
      expect(parent).toBeDefined();
      expect(s.startUnixNs).toBeGreaterThanOrEqual(parent!.startUnixNs);
      expect(s.endUnixNs).toBeLessThanOrEqual(parent!.endUnixNs);
      expect(s.endUnixNs).toBeGreaterThanOrEqual(s.startUnixNs);
      expect(s.kind).toBe(1); // SPAN_KIND_INTERNAL
    }
    const parentName = (s: DecodedSpan) => byId.get(s.parentSpanId)!.name;
    const hosts = got.filter((s) => s.name === 'host');
    const vms = got.filter((s) => s.name === 'vm');
    expect(hosts.map((s) => s.attributes['vpmu.host.id']).sort()).toEqual(['h1', 'h2']);
    expect(vms.map((s) => s.attributes['vpmu.vm.id']).sort()).toEqual(['vm1', 'vm2', 'vm3']);
    for (const s of [...hosts, ...vms]) expect(s.parentSpanId).toBe(root.spanId);

    const slices = got.filter((s) => s.name === 'vcpu run');
    const switchIns = run.batches.flat().filter((e) => e.kind === 'contextSwitch' && e.nextThread.startsWith('vcpu:'));
    expect(slices.length).toBe(switchIns.length);
    for (const s of slices) expect(byId.get(s.parentSpanId)!.attributes['vpmu.vm.id']).toBe(s.attributes['vpmu.vm.id']);

    const perf = got.filter((s) => s.name === 'host perf session');
    expect(perf.map((s) => [s.attributes['vpmu.event'], s.attributes['vpmu.pcpu.index']])).toEqual([['host-cycles', 1]]);
    expect(parentName(perf[0])).toBe('host');
    expect(byId.get(perf[0].parentSpanId)!.attributes['vpmu.host.id']).toBe('h1');
    // ERROR: the event went to ERROR state, and the status says why.
    expect(perf[0].status).toEqual({ code: 2, message: expect.stringMatching(/^perf event host-cycles entered ERROR \(.+\)$/) });
    expect(perf[0].events.map((e) => e.name)).toEqual(['perf state change', 'perf state change', 'perf state change']);
    expect(perf[0].events.map((e) => `${e.attributes['vpmu.perf.from']}→${e.attributes['vpmu.perf.to']}`)).toEqual(['off→active', 'active→error', 'error→off']);

    const mig = got.find((s) => s.name === 'migration')!;
    expect(parentName(mig)).toBe('vm');
    expect(byId.get(mig.parentSpanId)!.attributes['vpmu.vm.id']).toBe('vm1');
    const phases = got.filter((s) => s.parentSpanId === mig.spanId);
    expect(new Set(phases.map((p) => p.name))).toEqual(new Set(['migration phase']));
    expect(phases.map((p) => `${p.attributes['vpmu.migration.phase']}${p.attributes['vpmu.migration.phase'] === 'precopy' ? ` #${p.attributes['vpmu.migration.iteration']}` : ''}`).sort()).toEqual(['precopy #1', 'precopy #2', 'resume', 'setup', 'stop-and-copy']);
    expect(mig.attributes).toMatchObject({ 'vpmu.migration.from': 'h1', 'vpmu.migration.to': 'h2', 'vpmu.migration.result': 'completed', 'vpmu.migration.downtime_ns': 150_000 });
  });

  it('uses a small fixed set of span names and puts the ids in vpmu.* attributes', () => {
    const names = new Set(got.map((s) => s.name));
    expect([...names].sort()).toEqual(['host', 'host perf session', 'migration', 'migration phase', 'run', 'vcpu run', 'vm']);
    for (const n of names) expect(SPAN_NAMES).toContain(n);
    const slice = got.find((s) => s.name === 'vcpu run' && s.attributes['vpmu.vm.id'] === 'vm2')!;
    expect(slice.attributes).toMatchObject({ 'vpmu.vm.id': 'vm2', 'vpmu.host.id': 'h1', 'vpmu.mode': 'emulated' });
    expect(slice.attributes['vpmu.vcpu.index']).toEqual(expect.any(Number));
    expect(slice.attributes['vpmu.pcpu.index']).toEqual(expect.any(Number));
    const vm = got.find((s) => s.name === 'vm' && s.attributes['vpmu.vm.id'] === 'vm1')!;
    expect(vm.attributes).toMatchObject({ 'vpmu.vm.id': 'vm1', 'vpmu.mode': 'passthrough', 'vpmu.host.id': 'h2', 'vpmu.counter.instructions.error_pct': 0 });
  });

  it('names every attribute the OTel way: lower-case, dot-separated, no hyphens', () => {
    const keys = new Set<string>(Object.keys(receiver.requests[0].resource));
    for (const s of got) {
      for (const k of Object.keys(s.attributes)) keys.add(k);
      for (const e of s.events) for (const k of Object.keys(e.attributes)) keys.add(k);
    }
    expect(keys.size).toBeGreaterThan(30);
    for (const k of keys) expect(k).toMatch(/^[a-z0-9_]+(\.[a-z0-9_]+)*$/);
    // No key is both a value and a namespace of other keys (e.g. vpmu.pmis and vpmu.pmis.lost).
    for (const k of keys) expect([...keys].filter((o) => o.startsWith(`${k}.`))).toEqual([]);
    // Exit reasons such as "msr-write" become one key segment.
    expect(keys.has('vpmu.exits.msr_write')).toBe(true);
  });

  it('maps virtual time onto the run start instant', () => {
    const root = got.find((s) => s.parentSpanId === '')!;
    expect(root.startUnixNs).toBe(RUN_START);
    expect(root.endUnixNs).toBe(RUN_START + BigInt(run.summary.run.durationNs));
    const first = run.batches.flat().find((e) => e.kind === 'contextSwitch' && e.nextThread === 'vcpu:vm1/0')!;
    const slice = got.find((s) => s.name === 'vcpu run' && s.attributes['vpmu.vm.id'] === 'vm1' && s.attributes['vpmu.vcpu.index'] === 0 && s.startUnixNs === RUN_START + BigInt(first.atNs));
    expect(slice).toBeDefined();
  });

  it('puts PMIs, VM exits (aggregated when dense), guest switches and findings on spans as events', () => {
    const all = run.batches.flat();
    const pmiEvents = got.flatMap((s) => s.events.filter((e) => e.name === 'pmi' || e.name === 'pmi lost'));
    expect(pmiEvents.length).toBe(all.filter((e) => e.kind === 'pmi').length);
    expect(pmiEvents[0].attributes).toMatchObject({ 'vpmu.event': expect.any(String), 'vpmu.pmi.owner': 'guest' });
    expect(got.flatMap((s) => s.events).filter((e) => e.name === 'pmi lost').length).toBe(1);

    const slices = got.filter((s) => s.name === 'vcpu run');
    const exitsInSlices = slices.reduce((n, s) => n + Number(s.attributes['vpmu.exits.total'] ?? 0), 0);
    expect(exitsInSlices).toBe(all.filter((e) => e.kind === 'vmExit').length);
    const aggregated = slices.filter((s) => s.attributes['vpmu.exits.aggregated'] === true);
    expect(aggregated.length).toBeGreaterThan(0);
    for (const s of aggregated) {
      expect(s.events.some((e) => e.name === 'vm exit')).toBe(false);
      const perReason = Object.entries(s.attributes).filter(([k]) => /^vpmu\.exits\.(msr_write|rdpmc|io|hlt)$/.test(k)).reduce((n, [, v]) => n + Number(v), 0);
      expect(perReason).toBe(s.attributes['vpmu.exits.total']);
    }
    // The emulated VM traps every ~20 µs: above the rate, so its slices always aggregate.
    for (const s of slices.filter((x) => x.attributes['vpmu.vm.id'] === 'vm2' && Number(x.attributes['vpmu.exits.total']) > 1)) {
      expect(s.attributes['vpmu.exits.aggregated']).toBe(true);
    }
    const individual = slices.filter((s) => Number(s.attributes['vpmu.exits.total']) > 0 && s.attributes['vpmu.exits.aggregated'] === undefined);
    expect(individual.length).toBeGreaterThan(0);
    for (const s of individual) {
      const list = s.events.filter((e) => e.name === 'vm exit');
      expect(list.length).toBe(s.attributes['vpmu.exits.total']);
      expect(list[0].attributes).toMatchObject({ 'vpmu.exit.reason': expect.stringMatching(/^(io|hlt|msr-write|rdpmc)$/), 'vpmu.exit.cost_ns': expect.any(Number) });
    }

    expect(got.flatMap((s) => s.events).some((e) => e.name === 'guest task switch')).toBe(true);
    const findings = got.flatMap((s) => s.events.filter((e) => e.name === 'finding'));
    expect(findings.map((f) => f.attributes['vpmu.finding.kind']).sort()).toEqual(run.summary.findings.map((f) => f.kind).sort());
    for (const f of findings) {
      const src = run.summary.findings.find((x) => x.kind === f.attributes['vpmu.finding.kind'])!;
      expect(f.timeUnixNs).toBe(RUN_START + BigInt(src.atNs));
    }
  });

  it('derives the same trace and span ids when the run is rebuilt (replay), other ids for another seed', async () => {
    const again = new OtlpReceiver();
    await again.start();
    try {
      const { builder, spans } = build(makeSyntheticRun());
      await exportSpansOtlp(spans, builder.meta, { url: again.url, chunkSize: 200, exporterFactory });
      const ids = (list: DecodedSpan[]) => list.map((s) => `${s.traceId}/${s.spanId}/${s.parentSpanId}/${s.name}/${s.startUnixNs}/${s.endUnixNs}`).sort();
      expect(ids(again.spans)).toEqual(ids(got));
    } finally {
      await again.stop();
    }
    const other = build(run, { seed: 7 }).spans;
    expect(other[0].traceId).not.toBe(built[0].traceId);
    expect(new Set(other.map((s) => s.spanId)).has(built[0].spanId)).toBe(false);
  });

  it('renders a replay as its own trace: id derived from (run, anchor), root linked to the run, the run\'s ids never re-sent', async () => {
    const anchor = RUN_START + 43_000_000_000n; // a replay 43 s after the run
    const { seed, id } = run.summary.run;
    const again = new OtlpReceiver();
    await again.start();
    let replayed: DecodedSpan[];
    try {
      const { builder, spans } = build(makeSyntheticRun(), { replay: true, runStartUnixNs: anchor });
      await exportSpansOtlp(spans, builder.meta, { url: again.url, chunkSize: 200, exporterFactory });
      replayed = again.spans;
    } finally {
      await again.stop();
    }
    expect(new Set(replayed.map((s) => s.traceId))).toEqual(new Set([deriveReplayTraceId(seed, id, anchor)]));
    expect(replayed[0].traceId).not.toBe(got[0].traceId);
    const runIds = new Set(got.map((s) => s.spanId));
    expect(replayed.filter((s) => runIds.has(s.spanId))).toEqual([]);
    expect(new Set(replayed.map((s) => s.spanId)).size).toBe(replayed.length);
    // Same tree, names and attributes as the run, shifted to the anchor.
    expect(replayed.map((s) => s.name).sort()).toEqual(got.map((s) => s.name).sort());
    const root = replayed.find((s) => s.parentSpanId === '')!;
    const runRoot = got.find((s) => s.parentSpanId === '')!;
    expect(root.startUnixNs).toBe(anchor);
    expect(root.links).toEqual([{ traceId: runRoot.traceId, spanId: runRoot.spanId, attributes: { 'vpmu.link.kind': 'replay_of' } }]);
    expect(runRoot.spanId).toBe(deriveSpanId(seed, id, 'run'));
    expect(root.attributes['vpmu.replay.of_trace_id']).toBe(runRoot.traceId);
    // Idempotent per anchor: the same recording rendered at the same anchor is the same trace; another anchor is another trace.
    const ids = (spans: TelemetrySpan[]) => spans.map((s) => `${s.traceId}/${s.spanId}/${s.parentSpanId ?? ''}`);
    expect(ids(build(makeSyntheticRun(), { replay: true, runStartUnixNs: anchor }).spans)).toEqual(ids(build(run, { replay: true, runStartUnixNs: anchor }).spans));
    expect(build(run, { replay: true, runStartUnixNs: anchor + 1_000_000n }).spans[0].traceId).not.toBe(replayed[0].traceId);
  });

  it('streams spans as they complete, and the stream equals the collected set', async () => {
    const streamed: TelemetrySpan[] = [];
    let beforeFinish = 0;
    const { builder } = (() => {
      const b = new OtelTraceBuilder({ seed: run.summary.run.seed, runId: run.summary.run.id, runStartUnixNs: RUN_START, vmModes: MODES, onSpan: (s) => streamed.push(s) });
      for (const batch of run.batches) b.onEvents(batch);
      beforeFinish = streamed.length;
      expect(b.finish(run.summary)).toEqual([]);
      return { builder: b };
    })();
    expect(beforeFinish).toBeGreaterThan(streamed.length / 2);
    expect(streamed.map((s) => s.spanId)).toEqual(built.map((s) => s.spanId));
    expect(builder.spanCount).toBe(built.length);

    const r = new OtlpReceiver();
    await r.start();
    try {
      const exporter = new OtlpSpanExporter(builder.meta, { url: r.url, chunkSize: 16, exporterFactory });
      for (const s of streamed) exporter.write(s);
      await exporter.drain();
      const stats = await exporter.close();
      expect(stats.spans).toBe(streamed.length);
      expect(r.spans.length).toBe(streamed.length);
    } finally {
      await r.stop();
    }
  });

  it('reports an unreachable collector as a retriable TelemetryError that says what to do', async () => {
    const dead = new OtlpReceiver();
    await dead.start();
    const url = dead.url;
    await dead.stop();
    const { builder, spans } = build(run);
    const err = await exportSpansOtlp(spans.slice(0, 3), builder.meta, { url, timeoutMs: 2000, exporterFactory }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TelemetryError);
    expect((err as TelemetryError).code).toBe('OTLP_EXPORT_FAILED');
    expect((err as TelemetryError).retriable).toBe(true);
    expect((err as TelemetryError).message).toContain(url);
  }, 30_000);
});

describe('OTLP endpoint resolution', () => {
  it('points at the trace in the Jaeger UI on the collector host', () => {
    expect(jaegerTraceUrl('http://jaeger.lab:4318/v1/traces', 'ab12')).toBe('http://jaeger.lab:16686/trace/ab12');
    expect(jaegerTraceUrl('https://[::1]:4318/v1/traces', 'ab12')).toBe('http://[::1]:16686/trace/ab12');
  });

  it('prefers the flag, then the traces endpoint, then the base endpoint + /v1/traces', () => {
    expect(resolveOtlpTracesUrl('http://a:4318/v1/traces', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://b:4318' })).toBe('http://a:4318/v1/traces');
    expect(resolveOtlpTracesUrl(undefined, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c/x', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://b:4318' })).toBe('http://c/x');
    expect(resolveOtlpTracesUrl(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://b:4318/' })).toBe('http://b:4318/v1/traces');
    expect(resolveOtlpTracesUrl(undefined, {})).toBeNull();
  });

  it('treats a flag without a path as the base URL and uses a flag with a path as given', () => {
    expect(resolveOtlpTracesUrl('http://localhost:4318', {})).toBe('http://localhost:4318/v1/traces');
    expect(resolveOtlpTracesUrl('http://localhost:4318/', {})).toBe('http://localhost:4318/v1/traces');
    expect(resolveOtlpTracesUrl('https://otel.example:443/custom/path', {})).toBe('https://otel.example:443/custom/path');
  });

  it.each([
    ['not-a-url', undefined],
    ['ftp://host:21/v1/traces', undefined],
    ['localhost:4318', undefined],
    ['', undefined],
    [undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'nope' }],
    [undefined, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://x:4317' }],
  ])('refuses %j (env %j) as bad input naming where it came from', (flag, env) => {
    const err = (() => {
      try {
        resolveOtlpTracesUrl(flag, env ?? {});
        return null;
      } catch (e) {
        return e as TelemetryError;
      }
    })();
    expect(err).toBeInstanceOf(TelemetryError);
    expect(err!.code).toBe('OTLP_ENDPOINT_INVALID');
    expect(err!.kind).toBe('bad-input');
    expect(err!.message).toMatch(flag !== undefined ? /^--otlp .* is not an http:\/\/ or https:\/\/ URL; / : /^OTEL_EXPORTER_OTLP_(TRACES_)?ENDPOINT=/);
  });
});

describe('OTLP JSON encoding', () => {
  it('encodes the same spans with hex ids, string nanos and typed attribute values', () => {
    const run = makeSyntheticRun();
    const { builder, spans } = build(run);
    const doc = JSON.parse(encodeOtlpJson(spans, builder.meta));
    const rs = doc.resourceSpans[0];
    expect(rs.resource.attributes).toEqual(expect.arrayContaining([{ key: 'service.name', value: { stringValue: 'vpmu-lab' } }, { key: 'vpmu.seed', value: { intValue: '42' } }]));
    const out = rs.scopeSpans[0].spans;
    expect(rs.scopeSpans[0].scope.name).toBe('@vpmu/telemetry');
    expect(out.length).toBe(spans.length);
    expect(out.map((s: { spanId: string }) => s.spanId)).toEqual(spans.map((s) => s.spanId));
    const root = out.find((s: { parentSpanId?: string }) => s.parentSpanId === undefined);
    expect(root.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(root.startTimeUnixNano).toBe(RUN_START.toString());
    const slice = out.find((s: { name: string }) => s.name === 'vcpu run');
    expect(slice.kind).toBe(1);
    expect(slice.attributes).toEqual(expect.arrayContaining([{ key: 'vpmu.mode', value: { stringValue: expect.any(String) } }, { key: 'vpmu.vcpu.index', value: { intValue: expect.stringMatching(/^\d+$/) } }]));
    // Deterministic text: a replay writes the same file.
    expect(encodeOtlpJson(build(makeSyntheticRun()).spans, builder.meta)).toBe(encodeOtlpJson(spans, builder.meta));
  });
});

describe('export throughput (bench helper)', () => {
  it('measures spans/s through the real exporter and Perfetto events/s', async () => {
    const r = await measureExportThroughput({ durationMs: 50, chunkSize: 256, exporterFactory });
    expect(r.spans).toBeGreaterThan(100);
    expect(r.otlpRequests).toBe(Math.ceil(r.spans / 256));
    expect(r.otlpBytes).toBeGreaterThan(r.spans * 50);
    expect(r.spansPerSec).toBeGreaterThan(0);
    expect(r.perfettoEvents).toBeGreaterThan(r.spans);
  });
});

describe('trace level on the run span', () => {
  it('names the level, and at the summary level says what the trace cannot show', () => {
    const run = makeSyntheticRun();
    const runSpan = (spans: TelemetrySpan[]): TelemetrySpan => spans.find((s) => s.parentSpanId === undefined || s.parentSpanId === '')!;
    const full = runSpan(build(run).spans);
    expect(full.attributes['vpmu.trace.level']).toBe('full');
    expect(full.attributes['vpmu.trace.note']).toBeUndefined();
    const summaryRun = { ...run, summary: { ...run.summary, run: { ...run.summary.run, traceLevel: 'summary' as const } } };
    const summary = runSpan(build(summaryRun).spans);
    expect(summary.attributes['vpmu.trace.level']).toBe('summary');
    expect(String(summary.attributes['vpmu.trace.note'])).toContain('cannot be shown');
  });
});
