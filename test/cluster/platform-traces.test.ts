// Platform traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, the cluster's own Kafka traffic
// reaches an OTLP/HTTP receiver as traces of the services (vpmu-conductor, vpmu-host-node, ...):
// a PRODUCER span per message sent, a CONSUMER span per delivery whose parent is that producer
// span (the W3C context travelled in the Kafka headers), each batch a trace of its own linked to
// the delivery that caused it; apart from the run's simulated-world trace, and without changing
// the run's digest.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SCENARIOS_DIR, tempDir } from '../support/run-scenario';
import { clusterDown, clusterUp, digestOf, startKcatMock, vpmuAsync, type MockBroker } from '../support/cluster';
import { OTLP_KIND, OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';

jest.setTimeout(120_000);

let broker: MockBroker;
let cwd: string;
const receiver = new OtlpReceiver();

beforeAll(async () => {
  await receiver.start();
  broker = await startKcatMock();
  cwd = tempDir('platform-traces');
});

afterAll(async () => {
  if (cwd) await clusterDown(cwd);
  await broker?.stop();
  await receiver.stop();
});

/** The consumer spans of `consumerService` on `topic` whose parent is a producer span of `producerService`. */
function deliveries(spans: readonly ReceivedSpan[], topic: string, producerService: string, consumerService: string): { producer: ReceivedSpan; consumer: ReceivedSpan }[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const out: { producer: ReceivedSpan; consumer: ReceivedSpan }[] = [];
  for (const c of spans) {
    if (c.service !== consumerService || c.kind !== OTLP_KIND.consumer || c.name !== `process ${topic}`) continue;
    const p = byId.get(c.parentSpanId);
    if (p && p.service === producerService && p.kind === OTLP_KIND.producer && p.name === `send ${topic}` && p.traceId === c.traceId) out.push({ producer: p, consumer: c });
  }
  return out;
}

describe('platform traces of the Kafka traffic', () => {
  it('links producer and consumer spans across services through the Kafka headers, apart from the run trace, same digest', async () => {
    // A short run: 40 epochs are thousands of messages already.
    const file = path.join(cwd, 'short.yaml');
    fs.writeFileSync(file, fs.readFileSync(path.join(SCENARIOS_DIR, 'quickstart.yaml'), 'utf8').replace(/^duration: .*$/m, 'duration: 40ms'));
    const embedded = await vpmuAsync(['run', file, '--out', path.join(cwd, 'embedded'), '--quiet'], { cwd });
    expect(embedded.code).toBe(0);

    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint };
    await clusterUp(cwd, broker.address, { hostNodes: 1, guestVms: 1, env });
    const traced = await vpmuAsync(['run', file, '--kafka', broker.address, '--quiet'], { cwd, env });
    expect({ code: traced.code, stderr: traced.stderr }).toEqual({ code: 0, stderr: '' });
    // traceparent headers are not part of the recorded bytes.
    expect(digestOf(traced.stdout)).toBe(digestOf(embedded.stdout));

    const linked = (s: readonly ReceivedSpan[]): boolean =>
      deliveries(s, 'vpmu.events', 'vpmu-host-node', 'vpmu-aggregator').length > 0 &&
      deliveries(s, 'vpmu.control', 'vpmu-conductor', 'vpmu-host-node').length > 0 &&
      deliveries(s, 'vpmu.reports', 'vpmu-host-node', 'vpmu-conductor').length > 0;
    expect(await receiver.waitFor(linked, 15_000)).toBe(true);
    const spans = receiver.spans;

    // Producer and consumer spans from every service.
    const platform = spans.filter((s) => s.service.startsWith('vpmu-') && s.service !== 'vpmu-lab');
    const kindsOf = (service: string): Set<number> => new Set(platform.filter((s) => s.service === service).map((s) => s.kind));
    for (const service of ['vpmu-conductor', 'vpmu-host-node', 'vpmu-guest-vm', 'vpmu-aggregator']) {
      expect({ service, producer: kindsOf(service).has(OTLP_KIND.producer), consumer: kindsOf(service).has(OTLP_KIND.consumer) }).toEqual({ service, producer: true, consumer: true });
    }

    // An epoch's events: host-node sends, the aggregator processes, in one trace whose root is
    // the host-node's publish span, linked to the grant delivery that made the node publish.
    const { producer, consumer } = deliveries(spans, 'vpmu.events', 'vpmu-host-node', 'vpmu-aggregator')[0];
    expect(consumer.attributes['messaging.destination.name']).toBe('vpmu.events');
    expect(producer.attributes['messaging.kafka.message.key']).toMatch(/^host\//);
    const publish = spans.find((s) => s.spanId === producer.parentSpanId)!;
    expect(publish).toMatchObject({ service: 'vpmu-host-node', kind: OTLP_KIND.internal, parentSpanId: '', traceId: producer.traceId });
    expect(publish.name).toContain('vpmu.events');
    expect(publish.links).toHaveLength(1);
    const cause = spans.find((s) => s.spanId === publish.links[0].spanId);
    expect(cause).toMatchObject({ service: 'vpmu-host-node', kind: OTLP_KIND.consumer });
    expect(cause!.traceId).not.toBe(publish.traceId);

    // Separate from the run's simulated-world trace (seed-derived ids, sent by the aggregator).
    const runSpans = spans.filter((s) => s.service === 'vpmu-lab');
    expect(runSpans.length).toBeGreaterThan(0);
    const runTraces = new Set(runSpans.map((s) => s.traceId));
    expect(runTraces.size).toBe(1);
    expect(platform.some((s) => runTraces.has(s.traceId))).toBe(false);
  });
});
