// Record once, replay anywhere: every built-in scenario recorded by `vpmu run` and verified by
// `vpmu replay --verify` (the real CLI, exit codes included), plus the replay-side bad inputs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasStackTrace, vpmu } from '../support/cli';
import { SCENARIOS_DIR, tempDir } from '../support/run-scenario';
import { runEmbedded } from '../../apps/cli/src/embedded-runtime';
import { loadScenarioText } from '../support/run-scenario';
import { scenarioText } from './replay-support';

const scenarios = fs.readdirSync(SCENARIOS_DIR).filter((f) => f.endsWith('.yaml')).sort();

describe('vpmu replay --verify: record/verify round trip', () => {
  it.each(scenarios)('%s records and verifies identical (exit 0)', (file) => {
    const out = tempDir('roundtrip');
    const run = vpmu(['run', path.join(SCENARIOS_DIR, file), '--out', out, '--seed', '7', '--quiet']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const rec = path.join(out, 'recording.vpmurec');
    const v = vpmu(['replay', rec, '--verify', '--json']);
    expect(v.code).toBe(0);
    const result = JSON.parse(v.stdout);
    expect(result).toMatchObject({ identical: true, divergence: null, seed: 7, toolVersion: { matches: true } });
    expect(result.replayedDigest).toBe(result.recordedDigest);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(result.recordedDigest).toBe(summary.digest);
    expect(result.events).toBe(summary.events.total);
    // The human form names the digest; a directory is accepted for REC.
    const human = vpmu(['replay', out, '--verify', '--quiet']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`identical: ${result.epochs} epochs, ${result.events} events, digest ${summary.digest}`);
  });

  it('states a tool-version mismatch (stderr and --json) and still verifies with the recorded version', async () => {
    const text = scenarioText('quickstart.yaml', '20ms');
    const scenario = loadScenarioText(text, 5);
    const out = tempDir('oldversion');
    await runEmbedded({ runId: 'old-version-run', scenario, scenarioText: text, toolVersion: '0.0.1-old', outDir: out });
    const v = vpmu(['replay', path.join(out, 'recording.vpmurec'), '--verify', '--json']);
    expect(v.code).toBe(0);
    expect(v.stderr).toMatch(/recorded by vpmu-lab 0\.0\.1-old, replayed by \d+\.\d+\.\d+/);
    expect(JSON.parse(v.stdout).toolVersion).toMatchObject({ recording: '0.0.1-old', matches: false });
  });
});

describe('vpmu replay on unusable recordings → exit 2, one sentence, no stack trace', () => {
  const dir = tempDir('badrec');
  const write = (name: string, content: Buffer | string): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return p;
  };
  const cases: { name: string; file: () => string; message: RegExp }[] = [
    { name: 'a missing file', file: () => path.join(dir, 'nope.vpmurec'), message: /does not exist/ },
    { name: 'an empty file', file: () => write('empty.vpmurec', ''), message: /is empty/ },
    { name: 'not a recording', file: () => write('text.vpmurec', 'hello, world\n'), message: /not a vpmu-lab recording/ },
    { name: 'a newer format version', file: () => write('v9.vpmurec', Buffer.from([0x56, 0x50, 0x4d, 0x55, 0x52, 0x45, 0x43, 0x09, 0, 0])), message: /format v9 is newer than this tool's v2; upgrade/ },
  ];
  it.each(cases)('$name', ({ file, message }) => {
    for (const args of [['--verify'], ['--out', tempDir('x')], []]) {
      const r = vpmu(['replay', file(), ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(hasStackTrace(r.stderr)).toBe(false);
    }
    const e = vpmu(['export', file(), '--format', 'jsonl', '--out', path.join(dir, 'x.jsonl')]);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(message);
    expect(fs.existsSync(path.join(dir, 'x.jsonl'))).toBe(false);
    const i = vpmu(['inspect', file(), '--at', '1ms']);
    expect(i.code).toBe(2);
    expect(i.stderr).toMatch(message);
  });

  it('rejects flags that do not go together', () => {
    const r = vpmu(['replay', 'x.vpmurec', '--verify', '--speed', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--speed streams a recording/);
    const k = vpmu(['replay', '--kafka', 'localhost:9092']);
    expect(k.code).toBe(2);
    expect(k.stderr).toMatch(/--kafka BROKERS and --run ID go together/);
  });
});
