// `vpmu sweep` through the built CLI: the cache (a repeated sweep simulates nothing and writes the
// same rows), resume after the sweep is killed mid-way, serial and parallel sweeps writing the
// same sweep.json, the HTML's plots, and bad --vary paths and values (exit 2 naming the path and
// the valid choices). A tiny scenario (one 1-vCPU VM, 10 ms) keeps each run short.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, vpmu } from '../support/cli';
import { REPO_ROOT, tempDir } from '../support/run-scenario';
import { tinySweepScenario } from '../support/sweep-scenario';

const dir = tempDir('sweep');
const scenarioFile = path.join(dir, 'sweep-tiny.yaml');
fs.writeFileSync(scenarioFile, tinySweepScenario({ name: 'sweep-tiny', seed: 3, duration: '10ms', sampleFreqHz: 1000 }));

const AXES = ['--vary', 'vms.vm1.vpmu.mode=emulated,passthrough', '--vary', 'vms.vm1.guestPerf.rec.sample.freq=1000,4000'];

interface SweepStats {
  rows: number;
  runs: number;
  simulated: number;
  cached: number;
}

function sweep(out: string, jobs: number, extra: string[] = []): { stats: SweepStats; json: string } {
  const r = vpmu(['sweep', scenarioFile, ...AXES, '--out', out, '--jobs', String(jobs), '--json', ...extra], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`sweep failed (${r.code}): ${r.stderr}`);
  return { stats: JSON.parse(r.stdout) as SweepStats, json: fs.readFileSync(path.join(out, 'sweep.json'), 'utf8') };
}

/** Every finished cache entry (a directory holding summary.json) under a cache directory. */
function cacheEntries(cache: string): string[] {
  if (!fs.existsSync(cache)) return [];
  return fs
    .readdirSync(cache)
    .flatMap((shard) => (fs.statSync(path.join(cache, shard)).isDirectory() ? fs.readdirSync(path.join(cache, shard)).map((e) => path.join(cache, shard, e)) : []))
    .filter((e) => !/\.tmp-\d+$/.test(e) && fs.existsSync(path.join(e, 'summary.json')));
}

let parallel: { stats: SweepStats; json: string };
const outParallel = path.join(dir, 'parallel');
beforeAll(() => {
  parallel = sweep(outParallel, 2);
}, 300_000);

describe('vpmu sweep', () => {
  it('runs the cross product: 2 modes x 2 frequencies = 4 rows, each point and each no-perf baseline once', () => {
    // 4 points; the baseline drops guest perf, so the frequency axis collapses: 2 baselines.
    expect(parallel.stats).toMatchObject({ rows: 4, runs: 6, simulated: 6, cached: 0 });
    const doc = JSON.parse(parallel.json) as { rows: { values: Record<string, unknown>; overheadPct: number; pmisDelivered: number }[] };
    expect(doc.rows.map((r) => [r.values['vms.vm1.vpmu.mode'], r.values['vms.vm1.guestPerf.rec.sample.freq']])).toEqual([
      ['emulated', 1000],
      ['emulated', 4000],
      ['passthrough', 1000],
      ['passthrough', 4000],
    ]);
    // Sampling 4x as often costs the guest more and delivers more PMIs, in either design.
    expect(doc.rows[1].overheadPct).toBeGreaterThan(doc.rows[0].overheadPct);
    expect(doc.rows[3].pmisDelivered).toBeGreaterThan(doc.rows[2].pmisDelivered);
    const csv = fs.readFileSync(path.join(outParallel, 'sweep.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(5);
    expect(csv[0]).toMatch(/^point,vms\.vm1\.vpmu\.mode,vms\.vm1\.guestPerf\.rec\.sample\.freq,seed,contentDigest,score,baselineScore,overheadPct,exitsTotal,/);
  });

  it('a repeated sweep is served from the cache: no simulation runs, the same sweep.json', () => {
    const entries = cacheEntries(path.join(outParallel, 'cache'));
    expect(entries).toHaveLength(6);
    const mtimes = entries.map((e) => fs.statSync(path.join(e, 'summary.json')).mtimeMs);
    const again = sweep(outParallel, 2);
    expect(again.stats).toMatchObject({ simulated: 0, cached: 6 });
    expect(again.json).toBe(parallel.json);
    expect(entries.map((e) => fs.statSync(path.join(e, 'summary.json')).mtimeMs)).toEqual(mtimes);
  });

  it('--jobs 1 and --jobs 2 write the identical sweep.json', () => {
    const serial = sweep(path.join(dir, 'serial'), 1);
    expect(serial.stats.simulated).toBe(6);
    expect(serial.json).toBe(parallel.json);
  });

  it('resumes after being killed mid-way: finished runs come from the cache, the result is the same', async () => {
    const out = path.join(dir, 'resume');
    const cache = path.join(out, 'cache');
    const child = spawn(process.execPath, [CLI, 'sweep', scenarioFile, ...AXES, '--out', out, '--jobs', '1', '--quiet'], { cwd: REPO_ROOT, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    // Poll (not a time budget: only the moment to strike) until the first run is in the cache.
    while (cacheEntries(cache).length === 0 && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await exited;
    const finished = cacheEntries(cache).length;
    expect(finished).toBeGreaterThanOrEqual(1);
    expect(finished).toBeLessThan(6);
    const resumed = sweep(out, 2);
    expect(resumed.stats.cached).toBe(finished);
    expect(resumed.stats.simulated).toBe(6 - finished);
    expect(resumed.json).toBe(parallel.json);
    // The killed run's half-written directory is gone; only finished entries remain.
    const leftovers = fs.readdirSync(cache).flatMap((s) => fs.readdirSync(path.join(cache, s))).filter((e) => /\.tmp-/.test(e));
    expect(leftovers).toEqual([]);
  }, 300_000);

  it('writes a self-contained sweep.html with one plot per figure and axis, one line per other value', () => {
    const html = fs.readFileSync(path.join(outParallel, 'sweep.html'), 'utf8');
    expect(html).not.toMatch(/<script|https?:\/\//);
    const plots = html.match(/<figure class="plot" data-figure="overheadPct"/g) ?? [];
    expect(plots).toHaveLength(2);
    expect(html).toContain('data-axis="vms.vm1.guestPerf.rec.sample.freq"');
    expect(html).toContain('data-label="vpmu.mode=emulated"');
  });
});

describe('vpmu sweep bad input (exit 2, one sentence naming the path and the choices)', () => {
  const bad = (args: string[]): string => {
    const r = vpmu(['sweep', scenarioFile, ...args, '--out', path.join(dir, 'bad')]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    return r.stderr;
  };

  it('a list item that does not exist: the ids there, with the nearest', () => {
    expect(bad(['--vary', 'vms.vm2.vpmu.mode=emulated'])).toMatch(/--vary vms\.vm2\.vpmu\.mode: vms has no item vm2; did you mean "vm1"\? choose one of "vm1", \[0\]\.\.\[0\]/);
  });

  it('a key the scenario does not have: the reader names it and the nearest key', () => {
    expect(bad(['--vary', 'vms.vm1.vpmu.mod=emulated'])).toMatch(/--vary vms\.vm1\.vpmu\.mod=emulated makes the scenario invalid: vms\[0\]\.vpmu\.mod: .*mode/);
  });

  it('a value outside the choices: the reader lists them (the vPMU modes)', () => {
    expect(bad(['--vary', 'vms[0].vpmu.mode=fast'])).toMatch(/--vary vms\[0\]\.vpmu\.mode=fast makes the scenario invalid: vms\[0\]\.vpmu\.mode: expected one of none\|emulated\|passthrough/);
  });

  it('a malformed --vary and no --vary at all', () => {
    expect(bad(['--vary', 'vms.vm1.vpmu.mode'])).toMatch(/must be PATH=V1,V2/);
    expect(bad([])).toMatch(/nothing to vary/);
  });
});
