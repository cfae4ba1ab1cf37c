// `vpmu export` (jsonl round trip; perfetto, otlp-json and html through libs/telemetry) and
// `vpmu replay REC` streaming to the viewers without re-simulating.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { decodeEventBatch } from '@vpmu/proto';
import { readRecording } from '@vpmu/recording';
import { streamRecording } from '../../apps/cli/src/replay/stream';
import { vpmu } from '../support/cli';
import { tempDir } from '../support/run-scenario';
import { record } from './replay-support';

let rec: string;
let outDir: string;
let total: number;
beforeAll(async () => {
  const r = await record('quickstart.yaml', { seed: 9, duration: '40ms' });
  rec = r.rec;
  outDir = r.outDir;
  total = r.summary.events.total;
});

describe('vpmu export', () => {
  it('jsonl: one object per event with epoch and node, in recording order; line count = events.total', () => {
    const out = path.join(tempDir('export'), 'run.jsonl');
    const r = vpmu(['export', rec, '--format', 'jsonl', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`exported ${total} events`);
    const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(total);
    expect(fs.existsSync(out + '.partial')).toBe(false);
    const expected = readRecording(rec).epochs.flatMap((e) => e.frames.flatMap((f) => decodeEventBatch(f.batch).map((ev) => ({ epoch: e.epoch, node: f.node, ...ev }))));
    expect(lines.map((l) => JSON.parse(l))).toEqual(expected);
  });

  it.each([
    ['perfetto', (text: string) => expect(JSON.parse(text).traceEvents.length).toBeGreaterThan(0)],
    ['otlp-json', (text: string) => expect(JSON.parse(text).resourceSpans[0].scopeSpans[0].spans.length).toBeGreaterThan(0)],
    ['html', (text: string) => expect(text).toMatch(/^<!doctype html>/i)],
  ])('%s via libs/telemetry, the same bytes every time', (format, check) => {
    const dir = tempDir('export');
    const a = path.join(dir, `a.${format}`);
    const b = path.join(dir, `b.${format}`);
    expect(vpmu(['export', rec, '--format', format, '--out', a]).code).toBe(0);
    expect(vpmu(['export', rec, '--format', format, '--out', b]).code).toBe(0);
    const text = fs.readFileSync(a, 'utf8');
    check(text);
    expect(fs.readFileSync(b, 'utf8')).toBe(text);
  });

  it.each([
    { args: ['--format', 'csv', '--out', 'x.csv'], message: /unknown --format "csv" \(formats: jsonl, perfetto, otlp-json, html, perf-data\)/ },
    { args: ['--format', 'jsonl'], message: /--format and --out are required/ },
    { args: ['--format', 'jsonl', '--out', '/nonexistent-dir/x.jsonl'], message: /does not exist; create it/ },
  ])('bad arguments $args → exit 2', ({ args, message }) => {
    const r = vpmu(['export', rec, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe('vpmu replay REC (streaming, no re-simulation)', () => {
  it('writes the viewers with --out, using the run\'s summary.json', () => {
    const dir = tempDir('stream');
    const r = vpmu(['replay', rec, '--out', dir, '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ events: total, epochs: 40, summary: 'summary.json' });
    expect(fs.existsSync(path.join(dir, 'trace.perfetto.json'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'report.html'))).toBe(true);
  });

  it('--speed X paces epochs by wall clock at X times virtual speed', async () => {
    // A clock that moves only when the stream sleeps: the pacing, not the machine's load, decides.
    const sleeps: number[] = [];
    let clockMs = 0;
    const r = await streamRecording(rec, [], { speed: 0.5, nowMs: () => clockMs, sleep: async (ms) => void (sleeps.push(ms), (clockMs += ms)) });
    expect(r.events).toBe(total);
    // 40 epochs of 1 ms at half speed: epoch e is due 2e ms after the start, the last at 78 ms.
    expect(sleeps).toEqual(Array.from({ length: 39 }, () => 2));
    expect(clockMs).toBe(78);
    const started = Date.now();
    const cli = vpmu(['replay', rec, '--speed', '1', '--quiet']);
    expect(cli.code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(39);
  });

  it('rebuilds the summary from the events when no matching summary.json sits beside the recording', async () => {
    const lone = path.join(tempDir('lone'), 'recording.vpmurec');
    fs.copyFileSync(rec, lone);
    const r = await streamRecording(lone, []);
    expect(r.summarySource).toBe('rebuilt');
    const recorded = JSON.parse(fs.readFileSync(path.join(outDir, 'summary.json'), 'utf8'));
    expect(r.summary.digest).toBe(recorded.digest);
    expect(r.summary.events).toEqual(recorded.events);
    expect(r.summary.findings).toEqual(recorded.findings);
  });

  it('--otlp URL sends the spans to a collector; an unreachable one is exit 4', async () => {
    let requests = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        res.writeHead(200, { 'content-type': 'application/x-protobuf' });
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        // async spawn: the collector runs in this process
        const { spawn } = require('node:child_process') as typeof import('node:child_process');
        const { CLI } = require('../support/cli') as typeof import('../support/cli');
        const p = spawn(process.execPath, [CLI, 'replay', rec, '--otlp', `http://127.0.0.1:${port}/v1/traces`, '--quiet']);
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d) => (stdout += d));
        p.stderr.on('data', (d) => (stderr += d));
        p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/sent \d+ spans to http:\/\/127\.0\.0\.1/);
      expect(requests).toBeGreaterThan(0);
    } finally {
      server.close();
    }
    const down = vpmu(['replay', rec, '--otlp', 'http://127.0.0.1:1/v1/traces', '--quiet']);
    expect(down.code).toBe(4);
    // Checked before streaming: the address and what to do, no export attempted.
    expect(down.stderr).toMatch(/^error: cannot reach the OTLP collector at 127\.0\.0\.1:1 \(ECONNREFUSED\); start it/);
    expect(down.stdout).toBe('');
  });
});
