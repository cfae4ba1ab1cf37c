// Command-line conventions a new user relies on: per-command help, --version, "did you mean",
// and --json on run, validate and export with figures rounded to what they mean. The built CLI
// as a real process.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { vpmu } from '../support/cli';
import { REPO_ROOT, tempDir, tinyScenarioText } from '../support/run-scenario';

const dir = tempDir('conventions');
const VALID = tinyScenarioText('tiny-json');
const write = (name: string, content: string): string => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
};

/** No number in the JSON has more than 3 decimals (no 8487.395872000001). */
function decimalsAtMost3(json: string): boolean {
  return !/[0-9]\.[0-9]{4,}/.test(json.replace(/"[^"]*"/g, '""'));
}

const COMMANDS = ['run', 'validate', 'replay', 'inspect', 'export', 'overhead', 'sweep', 'diff', 'swarm', 'cluster'];

describe('help', () => {
  it.each(COMMANDS)('vpmu %s --help, -h and "vpmu help" of it print the same page: forms, every flag with its meaning, the docs page', (cmd) => {
    const long = vpmu([cmd, '--help']);
    expect(long.code).toBe(0);
    expect(long.stderr).toBe('');
    expect(long.stdout).toMatch(new RegExp(`^usage:\\n  vpmu ${cmd} `));
    expect(long.stdout).toContain(`docs: docs/cli/${cmd}.md`);
    expect(fs.existsSync(path.join(REPO_ROOT, 'docs', 'cli', `${cmd}.md`))).toBe(true);
    // Every option line has a flag and a meaning after it.
    const options = long.stdout.split('\n').filter((l) => /^ {2}--/.test(l));
    expect(options.length).toBeGreaterThan(0);
    for (const line of options) expect(line).toMatch(/^ {2}--[a-z-]+( [A-Z]+)? +\S.{8,}/);
    expect(vpmu([cmd, '-h'])).toEqual(long);
    expect(vpmu(['help', cmd])).toEqual(long);
  });

  it('run --help names its flags with their meaning', () => {
    const r = vpmu(['run', 'scenarios/quickstart.yaml', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--seed N +replace the scenario's seed/);
    expect(r.stdout).toMatch(/--otlp URL +export the trace over OTLP\/HTTP; a URL without a path gets \/v1\/traces/);
    expect(r.stdout).toMatch(/--json +print the summary's key figures/);
  });

  it('vpmu help and vpmu --help print the global usage (exit 0); no arguments prints it with exit 2', () => {
    for (const args of [['help'], ['--help'], ['-h']]) {
      const r = vpmu(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^usage: vpmu <command> \[options\]/);
      expect(r.stdout).toContain('vpmu <command> --help');
    }
    const none = vpmu([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/^usage: vpmu <command>/);
  });

  it('vpmu help of an unknown command suggests the nearest one, exit 2', () => {
    const r = vpmu(['help', 'valdiate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('vpmu: unknown command "valdiate"; did you mean "validate"? Run "vpmu help" for the list.\n');
  });
});

describe('version', () => {
  it('vpmu --version and vpmu version print the version recorded in runs', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const info = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'dist', 'build-info.json'), 'utf8')) as { sourceHash: string };
    for (const args of [['--version'], ['version']]) {
      const r = vpmu(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`vpmu ${pkg.version}+${info.sourceHash}\n`);
    }
  });
});

describe('did you mean', () => {
  it.each([
    [['rnu'], 'vpmu: unknown command "rnu"; did you mean "run"? Run "vpmu help" for the list.'],
    [['exprot'], 'vpmu: unknown command "exprot"; did you mean "export"? Run "vpmu help" for the list.'],
    [['frobnicate'], 'vpmu: unknown command "frobnicate"; run "vpmu help" for the list.'],
  ])('%j → exit 2 with the nearest command', (args, message) => {
    const r = vpmu(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${message}\n`);
  });

  it.each([
    [['run', 'a.yaml', '--seeed', '3'], /^error: vpmu run: unknown option --seeed; did you mean --seed\? \(options: --out, --seed, /],
    [['replay', 'r.vpmurec', '--verfy'], /^error: vpmu replay: unknown option --verfy; did you mean --verify\?/],
    [['export', 'r.vpmurec', '--fromat', 'jsonl'], /^error: vpmu export: unknown option --fromat; did you mean --format\?/],
    [['validate', 'a.yaml', '--xyz'], /^error: vpmu validate: unknown option --xyz \(options: --json, --debug; vpmu validate --help explains them\)\./],
  ])('%j → exit 2 with the nearest flag', (args, message) => {
    const r = vpmu(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe('--json', () => {
  let runOut = '';
  let runJson: Record<string, unknown> & { files: string[]; vms: Record<string, { errorPct: Record<string, number> }> };

  beforeAll(() => {
    runOut = tempDir('json-run');
    const r = vpmu(['run', write('ok.yaml', VALID), '--out', runOut, '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(''); // no progress line
    expect(decimalsAtMost3(r.stdout)).toBe(true);
    runJson = JSON.parse(r.stdout);
  });

  it('run: the key figures of summary.json and the files written', () => {
    const summary = JSON.parse(fs.readFileSync(path.join(runOut, 'summary.json'), 'utf8'));
    expect(runJson).toMatchObject({
      runId: summary.run.id,
      scenario: 'tiny-json',
      seed: 1,
      epochs: summary.run.epochs,
      toolVersion: vpmu(['--version']).stdout.trim().replace(/^vpmu /, ''),
      digest: summary.digest,
      contentDigest: summary.contentDigest,
      events: summary.events,
      findings: { total: summary.findings.length },
      otlp: null,
    });
    expect(typeof runJson.wallMs).toBe('number');
    expect(Object.keys(runJson.vms)).toEqual(Object.keys(summary.vms));
    for (const [vm, figures] of Object.entries(runJson.vms)) {
      for (const [event, pct] of Object.entries(figures.errorPct)) expect(pct).toBeCloseTo(summary.vms[vm].counters[event].errorPct, 3);
    }
    for (const f of runJson.files) expect(fs.existsSync(path.resolve(REPO_ROOT, f))).toBe(true);
    expect(runJson.files.map((f) => path.basename(f))).toEqual(expect.arrayContaining(['recording.vpmurec', 'summary.json', 'report.html', 'trace.perfetto.json']));
  });

  it('validate: the normalized counts', () => {
    const file = write('ok-v.yaml', VALID);
    const r = vpmu(['validate', file, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ file, valid: true, scenario: 'tiny-json', seed: 1, durationNs: 5_000_000, hosts: 1, vms: 1, vcpus: 1, timelineActions: 0, warnings: [], testOnlyFaults: [] });
  });

  it('validate: every error with its path and line, exit 2', () => {
    const file = write('bad-v.yaml', VALID.replace('pcpus: 2', 'pcpus: many').replace('host: h1', 'host: h9'));
    const r = vpmu(['validate', file, '--json']);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as { valid: boolean; errors: { path: string; line: number | null; message: string }[] };
    expect(out.valid).toBe(false);
    expect(out.errors.map((e) => e.path)).toEqual(expect.arrayContaining(['hosts[0].pcpus']));
    expect(out.errors.find((e) => e.path === 'hosts[0].pcpus')?.line).toBe(7);
    expect(r.stderr).toMatch(/^error: .* is not a valid scenario \(\d+ errors?\); fix/);
  });

  it('validate: a missing file is an error in the JSON too', () => {
    const r = vpmu(['validate', path.join(dir, 'nope.yaml'), '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).errors[0].message).toMatch(/does not exist/);
  });

  it('export: the file written and the counts', () => {
    const target = path.join(tempDir('json-export'), 'run.jsonl');
    const r = vpmu(['export', path.join(runOut, 'recording.vpmurec'), '--format', 'jsonl', '--out', target, '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { format: string; events: number; epochs: number; files: string[] };
    expect(out.format).toBe('jsonl');
    expect(out.events).toBe((runJson.events as { total: number }).total);
    expect(out.files.map((f) => path.resolve(REPO_ROOT, f))).toEqual([target]);
    expect(fs.readFileSync(target, 'utf8').trim().split('\n')).toHaveLength(out.events);
  });

  it('replay --verify --json: times in ms with 3 decimals at most', () => {
    const r = vpmu(['replay', path.join(runOut, 'recording.vpmurec'), '--verify', '--json']);
    expect(r.code).toBe(0);
    expect(decimalsAtMost3(r.stdout)).toBe(true);
    const out = JSON.parse(r.stdout) as { replayMs: number; compareMs: number; identical: boolean };
    expect(out.identical).toBe(true);
    expect(Math.round(out.replayMs * 1000)).toBeCloseTo(out.replayMs * 1000, 6);
  });
});
