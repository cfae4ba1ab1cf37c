// Where OTLP traces go, checked before a run or a replay starts: a malformed endpoint is bad
// input (exit 2) and a collector nobody listens on is unavailable infrastructure (exit 4), both
// said up front instead of after minutes of simulation.
import * as net from 'node:net';
import { TelemetryError } from './telemetry.errors';

/** The OTLP/HTTP path of traces under a base URL (OTLP exporter specification, "Endpoint URLs for OTLP/HTTP"). */
export const OTLP_TRACES_PATH = '/v1/traces';

/**
 * The traces endpoint: the `--otlp URL` flag; else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given;
 * else OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces" (the OTLP spec's rule); else null.
 * A flag without a path (http://localhost:4318, Jaeger's base URL, the form
 * OTEL_EXPORTER_OTLP_ENDPOINT takes) is a base URL and gets "/v1/traces" as well; a flag with
 * a path is used as given. Anything that is not an http(s) URL is a TelemetryError (bad input).
 */
export function resolveOtlpTracesUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  if (flag !== undefined) {
    const url = parseEndpoint(flag, `--otlp ${flag}`, 'pass the collector URL, e.g. --otlp http://localhost:4318');
    return url.pathname === '/' && !flag.includes('?') ? withTracesPath(flag) : flag;
  }
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (traces) {
    parseEndpoint(traces, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${traces}`, 'set it to the traces URL, e.g. http://localhost:4318/v1/traces, or unset it');
    return traces;
  }
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (base) {
    parseEndpoint(base, `OTEL_EXPORTER_OTLP_ENDPOINT=${base}`, 'set it to the collector base URL, e.g. http://localhost:4318, or unset it');
    return withTracesPath(base);
  }
  return null;
}

function withTracesPath(base: string): string {
  return `${base.replace(/\/+$/, '')}${OTLP_TRACES_PATH}`;
}

function parseEndpoint(text: string, given: string, fix: string): URL {
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {
    url = null;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new TelemetryError('OTLP_ENDPOINT_INVALID', `${given} is not an http:// or https:// URL; ${fix}.`, false);
  }
  return url;
}

/** host:port of an endpoint URL, with the scheme's default port. */
/** Where Jaeger's UI shows a trace: the OTLP endpoint's host on the UI's default port 16686
 * (https://www.jaegertracing.io/docs/latest/deployment/). A guess that holds for the
 * all-in-one image docs/viewing.md starts; null when the URL has no host. */
export function jaegerTraceUrl(tracesUrl: string, traceId: string): string | null {
  try {
    const host = new URL(tracesUrl).hostname;
    if (!host) return null;
    return `http://${host.includes(':') ? `[${host.replace(/^\[|\]$/g, '')}]` : host}:16686/trace/${traceId}`;
  } catch {
    return null;
  }
}

export function otlpAddress(tracesUrl: string): { host: string; port: number } {
  const url = new URL(tracesUrl);
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * Opens (and closes) a TCP connection to the collector's host:port, so a collector that is not
 * running is noticed before the run instead of after it. A listener that then refuses the
 * export is still caught by the exporter.
 */
export async function assertOtlpReachable(tracesUrl: string, timeoutMs = 2_000): Promise<void> {
  const { host, port } = otlpAddress(tracesUrl);
  const failure = await new Promise<string | null>((resolve) => {
    const socket = net.connect({ host, port });
    const done = (why: string | null): void => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    socket.once('connect', () => done(null));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
  if (failure !== null) {
    throw new TelemetryError(
      'OTLP_COLLECTOR_UNREACHABLE',
      `cannot reach the OTLP collector at ${host}:${port} (${failure}); start it (for example Jaeger with OTLP on port 4318) or fix the --otlp URL, then try again.`,
      true,
    );
  }
}
