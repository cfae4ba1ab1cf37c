// Every way a service can fail during an embedded run settles runEmbedded: it rejects with the
// original error (an operating error keeps its kind, so its exit code; anything else is a
// simulation bug) and leaves no half-written viewer file. Failures are injected through the
// ports that exist: the OTLP exporter factory, extra event sinks, an output path taken by a
// directory (the tests may run as root, where a read-only directory is still writable).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OperatingError } from '@vpmu/errors';
import { OutputWriteError, type EventSink } from '@vpmu/aggregator';
import { parseScenario } from '@vpmu/scenario';
import { runEmbedded, SimulationFailedError, type EmbeddedRunRequest } from './embedded-runtime';

const SCENARIO_TEXT = `version: 1
name: tiny-failures
duration: 5ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
vms:
  - id: vm1
    host: h1
`;

function request(outDir: string, extra: Partial<EmbeddedRunRequest> = {}): EmbeddedRunRequest {
  const parsed = parseScenario(SCENARIO_TEXT);
  if (!parsed.ok) throw new Error('test scenario invalid');
  return { runId: 'failure-run', scenario: parsed.scenario, scenarioText: SCENARIO_TEXT, toolVersion: '0.0.0-test', outDir, ...extra };
}

function freshDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'vpmu-embedded-fail-'));
}

/** The run's outcome, or a test failure if it has not settled within a generous bound. */
async function settle(run: Promise<unknown>, boundMs = 30_000): Promise<{ ok: true } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`runEmbedded still pending after ${boundMs} ms`)), boundMs);
  });
  try {
    return await Promise.race([run.then(() => ({ ok: true as const }), (error: unknown) => ({ ok: false as const, error })), pending]);
  } finally {
    clearTimeout(timer);
  }
}

async function failure(run: Promise<unknown>): Promise<unknown> {
  const outcome = await settle(run);
  if (outcome.ok) throw new Error('runEmbedded resolved; expected it to reject');
  return outcome.error;
}

function partialFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.partial') && fs.statSync(path.join(dir, f)).isFile());
}

class CollectorRefused extends OperatingError {
  constructor() {
    super('unavailable', 'the OTLP collector refused the connection; start it and try again.');
  }
}

describe('runEmbedded when a service fails', () => {
  it('rejects with the operating error of a viewer that cannot start (OTLP exporter), nothing partial left', async () => {
    const out = freshDir();
    const refused = new CollectorRefused();
    const err = await failure(
      runEmbedded(request(out, { otlpUrl: 'http://127.0.0.1:1/v1/traces', otlpExporterFactory: () => { throw refused; } })),
    );
    expect(err).toBe(refused); // the same instance: kind and exit code kept
    expect(partialFiles(out)).toEqual([]);
    expect(fs.existsSync(path.join(out, 'recording.vpmurec'))).toBe(false);
  });

  it('reports a bug at run start as a simulation failure with its message', async () => {
    const out = freshDir();
    const err = await failure(
      runEmbedded(request(out, { otlpUrl: 'http://127.0.0.1:1/v1/traces', otlpExporterFactory: () => { throw new TypeError('exporter exploded'); } })),
    );
    expect(err).toBeInstanceOf(SimulationFailedError);
    expect((err as Error).message).toContain('exporter exploded');
    expect(partialFiles(out)).toEqual([]);
  });

  it('rejects with an output error when a viewer file cannot be created, and removes the recording begun', async () => {
    const out = freshDir();
    fs.mkdirSync(path.join(out, 'trace.perfetto.json.partial')); // the path is taken: open() fails with EISDIR
    const err = await failure(runEmbedded(request(out)));
    expect(err).toBeInstanceOf(OutputWriteError);
    expect((err as OutputWriteError).kind).toBe('bad-input');
    expect((err as Error).message).toBe(`cannot write the run's output in ${out} (EISDIR); choose another --out.`);
    expect(fs.existsSync(path.join(out, 'recording.vpmurec.partial'))).toBe(false);
    expect(partialFiles(out)).toEqual([]);
  });

  it('rejects with the error of a sink failing mid-run; the recording stays as .partial up to the last whole epoch', async () => {
    const out = freshDir();
    const diskFull = new OperatingError('unavailable', 'no space left on the device; free some and try again.');
    let seen = 0;
    const sink: EventSink = {
      onEpoch: () => {
        if (++seen === 2) throw diskFull;
      },
      finish: async () => [],
    };
    const err = await failure(runEmbedded(request(out, { sinks: [sink] })));
    expect(err).toBe(diskFull);
    expect(fs.existsSync(path.join(out, 'trace.perfetto.json.partial'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'report.html.partial'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'recording.vpmurec'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'recording.vpmurec.partial'))).toBe(true);
  });

  it('rejects with the error of a sink failing at the end; the complete files stay, no partial one', async () => {
    const out = freshDir();
    const refused = new CollectorRefused();
    let aborted = false;
    const sink: EventSink = {
      onEpoch: () => undefined,
      finish: () => Promise.reject(refused),
      abort: () => {
        aborted = true;
      },
    };
    const err = await failure(runEmbedded(request(out, { sinks: [sink] })));
    expect(err).toBe(refused);
    expect(aborted).toBe(true);
    expect(partialFiles(out)).toEqual([]);
    expect(fs.existsSync(path.join(out, 'recording.vpmurec'))).toBe(true); // closed before the viewers finish: whole
  });

  it('still completes a run whose services do not fail', async () => {
    const out = freshDir();
    const outcome = await settle(runEmbedded(request(out)));
    expect(outcome).toEqual({ ok: true });
    expect(partialFiles(out)).toEqual([]);
    expect(fs.readdirSync(out).sort()).toEqual(['recording.vpmurec', 'report.html', 'summary.json', 'trace.perfetto.json']);
  });
});
