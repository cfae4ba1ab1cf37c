// Platform traces: in cluster mode the services' own Kafka traffic is traced with OpenTelemetry
// (docs/viewing.md), as traces of their own, apart from the run's simulated-world trace (whose
// ids derive from the seed and whose times are virtual). Each process is a service
// (service.name vpmu-conductor, vpmu-host-node, vpmu-guest-vm, vpmu-aggregator).
//
// - @opentelemetry/instrumentation-kafkajs patches kafkajs when it is loaded: a PRODUCER span per
//   message sent ("send vpmu.events"), the W3C `traceparent` of that span in the message's Kafka
//   headers, and on the receiving side a CONSUMER span per delivery ("process vpmu.events") whose
//   parent is the extracted producer span.
// - KafkaBus wraps each sendBatch in publishSpan(): one span per batch that starts a new trace and
//   is *linked* to the delivery that caused it. Without it every message would be a child of the
//   delivery being handled, and a whole run would become one trace thousands of levels deep
//   (grant -> report -> grant ...). So a trace is one node's batch of one epoch: who sent what,
//   and which processes consumed it, in how long; links lead from cause to effect.
//
// Headers never reach a handler's decision or the recording (the recorded bytes are the
// envelopes' `events` bytes), so tracing cannot change a run's digest; a cluster test checks it.
//
// Off unless OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set; nothing of
// the SDK is loaded then. Spans go through a BatchSpanProcessor (OTLP http/protobuf) with a short
// delay, and shutdown() flushes them.
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';

export interface PlatformTracing {
  serviceName: string;
  /** The traces endpoint spans are exported to. */
  url: string;
  /** Flushes the spans still queued and stops exporting. */
  shutdown(): Promise<void>;
}

export interface PlatformTracingOptions {
  env?: NodeJS.ProcessEnv;
  /** service.instance.id (the replica name). */
  instance?: string;
  log?: (line: string) => void;
}

let active: { tracing: PlatformTracing; tracer: Tracer } | null = null;

/** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces (the OTLP spec's rule). */
export function platformTracesUrl(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) return `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  return null;
}

/**
 * Starts tracing this process's Kafka traffic when an OTLP endpoint is configured; null otherwise
 * (or when OTEL_SDK_DISABLED=true). Must run before kafkajs is first loaded (createKafkaClient
 * loads it lazily), since the instrumentation patches the module as it is required.
 */
export function startPlatformTracing(serviceName: string, o: PlatformTracingOptions = {}): PlatformTracing | null {
  if (active) return active.tracing;
  const env = o.env ?? process.env;
  const url = platformTracesUrl(env);
  if (!url || env.OTEL_SDK_DISABLED === 'true') return null;
  if (isLoaded('kafkajs')) o.log?.('platform tracing: kafkajs was loaded before tracing started; its traffic will not be traced');
  // Loaded only here: processes without an endpoint never pay for the SDK.
  const sdk = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
  const { KafkaJsInstrumentation } = require('@opentelemetry/instrumentation-kafkajs') as typeof import('@opentelemetry/instrumentation-kafkajs');
  const attributes: Record<string, string> = { 'service.name': serviceName, 'service.namespace': 'vpmu-lab' };
  if (o.instance) attributes['service.instance.id'] = o.instance;
  const provider = new sdk.node.NodeTracerProvider({
    resource: sdk.resources.resourceFromAttributes(attributes),
    spanProcessors: [
      // A run sends thousands of messages a second: a deep queue, big batches, a short delay.
      new sdk.tracing.BatchSpanProcessor(new OTLPTraceExporter({ url, timeoutMillis: 10_000 }), { maxQueueSize: 1 << 16, maxExportBatchSize: 1024, scheduledDelayMillis: 250 }),
    ],
  });
  provider.register({ propagator: new sdk.core.W3CTraceContextPropagator() });
  const instrumentation = new KafkaJsInstrumentation({ enabled: false });
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  const tracing: PlatformTracing = {
    serviceName,
    url,
    shutdown: async () => {
      if (active?.tracing !== tracing) return;
      active = null;
      instrumentation.disable();
      await provider.forceFlush().catch(() => undefined);
      await provider.shutdown().catch(() => undefined);
    },
  };
  active = { tracing, tracer: provider.getTracer('vpmu-kafka-bus') };
  o.log?.(`platform tracing: Kafka traffic traced as ${serviceName} to ${url}`);
  return tracing;
}

export interface PublishInfo {
  topics: string[];
  messages: number;
}

/**
 * Runs one produce request as the root of its own trace (see the header): a `publish` span,
 * linked to the span active at the call (the delivery whose handler published), under which the
 * instrumentation's per-message `send` spans nest. A plain call when tracing is off.
 */
export function publishSpan<T>(info: PublishInfo, send: () => Promise<T>): Promise<T> {
  if (!active) return send();
  const cause = trace.getSpan(context.active())?.spanContext();
  const span = active.tracer.startSpan(
    `publish ${info.topics.join(' ')}`,
    {
      kind: SpanKind.INTERNAL,
      links: cause && trace.isSpanContextValid(cause) ? [{ context: cause }] : [],
      attributes: { 'messaging.system': 'kafka', 'messaging.batch.message_count': info.messages, 'vpmu.topics': info.topics },
    },
    ROOT_CONTEXT,
  );
  return context.with(trace.setSpan(ROOT_CONTEXT, span), send).then(
    (r) => {
      span.end();
      return r;
    },
    (err: unknown) => {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
      span.end();
      throw err;
    },
  );
}

function isLoaded(moduleName: string): boolean {
  try {
    return require.cache[require.resolve(moduleName)] !== undefined;
  } catch {
    return false;
  }
}
