// The OTLP endpoint is checked before anything runs: a malformed URL is exit 2, a collector
// nobody listens on is exit 4, a base URL gets /v1/traces, and a collector that refuses the
// export is never reported as exported (the summary is still printed, then exit 4). Against the
// real OTLP/HTTP receiver of test/support and the built CLI.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { hasStackTrace, vpmu, vpmuAsync } from '../support/cli';
import { OtlpReceiver } from '../support/otlp-receiver';
import { tempDir, tinyScenarioText } from '../support/run-scenario';

const dir = tempDir('otlp-cli');
const scenario = path.join(dir, 'tiny.yaml');
fs.writeFileSync(
  scenario,
  tinyScenarioText('tiny-otlp'),
);

/** A local port nothing listens on: bound by the kernel, then released. */
async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const receiver = new OtlpReceiver();
let recording = '';

beforeAll(async () => {
  await receiver.start();
  const out = path.join(dir, 'rec');
  const r = vpmu(['run', scenario, '--out', out, '--quiet']);
  expect(r.code).toBe(0);
  recording = path.join(out, 'recording.vpmurec');
});

afterAll(() => receiver.stop());

// No OTEL_* variable of the environment the tests run in may change what they check.
const env = { OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' };

describe('vpmu run --otlp', () => {
  it.each(['not-a-url', 'ftp://127.0.0.1:4318/v1/traces', 'localhost:4318'])('%s → exit 2 before the run, nothing written', async (url) => {
    const out = path.join(tempDir('otlp-bad'), 'out');
    const r = await vpmuAsync(['run', scenario, '--out', out, '--otlp', url], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: --otlp ${url} is not an http:// or https:// URL; pass the collector URL, e.g. --otlp http://localhost:4318.\n`);
    expect(r.stdout).toBe('');
    expect(fs.existsSync(out)).toBe(false); // no recording.vpmurec.partial, no directory
  });

  it('sends a base URL (no path) to /v1/traces and says where the trace went', async () => {
    const before = receiver.requests;
    const spansBefore = receiver.spans.length;
    const r = await vpmuAsync(['run', scenario, '--out', tempDir('otlp-base'), '--otlp', receiver.endpoint, '--quiet'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`trace exported to ${receiver.endpoint}/v1/traces`);
    expect(receiver.requests).toBeGreaterThan(before);
    expect(receiver.spans.length).toBeGreaterThan(spansBefore); // decoded by the receiver at /v1/traces only
    // The trace id it prints is the one the spans carry, with the trace's address in Jaeger's UI.
    const [, traceId, ui] = /: trace ([0-9a-f]{32}) \(Jaeger: (\S+)\)/.exec(r.stdout) ?? [];
    expect(new Set(receiver.spans.slice(spansBefore).map((s) => s.traceId))).toEqual(new Set([traceId]));
    expect(ui).toBe(`http://127.0.0.1:16686/trace/${traceId}`);
  });

  it('takes the base URL from OTEL_EXPORTER_OTLP_ENDPOINT the same way', async () => {
    const before = receiver.requests;
    const r = await vpmuAsync(['run', scenario, '--out', tempDir('otlp-env'), '--quiet'], { env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`trace exported to ${receiver.endpoint}/v1/traces`);
    expect(receiver.requests).toBeGreaterThan(before);
  });

  it('an unreachable collector → exit 4 before the run, with the address', async () => {
    const port = await unusedPort();
    const out = path.join(tempDir('otlp-down'), 'out');
    const started = Date.now();
    const r = await vpmuAsync(['run', scenario, '--out', out, '--otlp', `http://127.0.0.1:${port}`], { env });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`^error: cannot reach the OTLP collector at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\); start it .* then try again\\.\\n$`));
    expect(r.stdout).toBe('');
    expect(fs.existsSync(out)).toBe(false);
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a collector that refuses the export (HTTP 404) is not reported as exported; the summary is printed, then exit 4', async () => {
    const out = tempDir('otlp-404');
    const url = `${receiver.endpoint}/not/traces`;
    const r = await vpmuAsync(['run', scenario, '--out', out, '--otlp', url, '--quiet'], { env });
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/^run tiny-otlp-s1-/);
    expect(r.stdout).toMatch(/digest: [0-9a-f]{64}/);
    expect(r.stdout).toContain('recording.vpmurec');
    expect(r.stdout).not.toMatch(/trace exported/);
    expect(r.stderr).toMatch(new RegExp(`^error: Could not export spans to ${url.replace(/[.]/g, '\\.')} \\(HTTP 404 .*\\(the run itself completed; its files are written\\)\\.`));
    expect(fs.existsSync(path.join(out, 'recording.vpmurec'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'summary.json'))).toBe(true);
  });

  it('--json says the export failed instead of claiming it', async () => {
    const url = `${receiver.endpoint}/not/traces`;
    const r = await vpmuAsync(['run', scenario, '--out', tempDir('otlp-404j'), '--otlp', url, '--json'], { env });
    expect(r.code).toBe(4);
    expect(JSON.parse(r.stdout).otlp).toEqual({ url, exported: false, traceId: expect.stringMatching(/^[0-9a-f]{32}$/), jaegerUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:16686\/trace\/[0-9a-f]{32}$/) });
  });
});

describe('vpmu replay --otlp', () => {
  it('a malformed URL → exit 2 before anything is read or sent (no internal error)', async () => {
    const r = await vpmuAsync(['replay', recording, '--otlp', 'not-a-url'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: --otlp not-a-url is not an http:// or https:// URL; pass the collector URL, e.g. --otlp http://localhost:4318.\n');
    expect(r.stdout).toBe('');
  });

  it('sends a base URL to /v1/traces', async () => {
    const before = receiver.spans.length;
    const r = await vpmuAsync(['replay', recording, '--otlp', receiver.endpoint, '--quiet'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const sent = Number(/sent (\d+) spans to (\S+)/.exec(r.stdout)?.[1]);
    expect(r.stdout).toContain(`spans to ${receiver.endpoint}/v1/traces`);
    expect(sent).toBeGreaterThan(0);
    expect(receiver.spans.length - before).toBe(sent);
    // A replay is its own trace (docs/viewing.md): the id it prints, linked from its root to the run's trace.
    const replayed = receiver.spans.slice(before);
    const traceId = /: trace ([0-9a-f]{32})/.exec(r.stdout)?.[1];
    expect(new Set(replayed.map((s) => s.traceId))).toEqual(new Set([traceId]));
    const root = replayed.find((s) => s.parentSpanId === '')!;
    expect(root.links).toHaveLength(1);
    expect(root.links[0].traceId).not.toBe(traceId);
    expect(root.attributes['vpmu.replay.of_trace_id']).toBe(root.links[0].traceId);
  });

  it('an unreachable collector → exit 4 before streaming', async () => {
    const port = await unusedPort();
    const out = path.join(tempDir('otlp-replay-down'), 'out');
    const r = await vpmuAsync(['replay', recording, '--otlp', `http://127.0.0.1:${port}/v1/traces`, '--out', out], { env });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`error: cannot reach the OTLP collector at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
    expect(r.stdout).toBe('');
    expect(fs.existsSync(out)).toBe(false);
  });
});
