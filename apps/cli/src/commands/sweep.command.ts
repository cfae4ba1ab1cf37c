// `vpmu sweep FILE --vary PATH=V1,V2 [--vary ...] [--seeds N] [--out DIR] [--jobs N]`: the cross
// product of the varied scenario values, each point with N seeds and its no-perf baseline, run in
// worker processes and cached by (expanded scenario, seed, tool version); writes sweep.json,
// sweep.csv and sweep.html (plots of every figure against every axis).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, type CommandSpec } from '../args';
import { CliError } from '../cli-error';
import { roundTo } from '../json-figures';
import { prepareOutDir, relativeForDisplay } from '../out-dir';
import { TOOL_VERSION } from '../version';
import { renderSweepHtml } from '../sweep/sweep-html';
import { planSweep, SweepCache } from '../sweep/sweep-plan';
import { runPool, type PoolProgress } from '../sweep/sweep-pool';
import { sweepCsv, sweepRows, type SweepRow } from '../sweep/sweep-rows';
import { readSweepInput } from '../sweep/sweep-file';
import { runOnKafka } from '../sweep/sweep-cluster';
import { brokersFrom } from './cluster.command';
import { parseVaryFlag, resolveAxes, type VaryAxis } from '../sweep/vary-path';
import type { CommandIo } from './command-io';

export const SWEEP_SPEC: CommandSpec = {
  name: 'sweep',
  positionals: [{ name: 'FILE', required: true, help: 'a scenario (axes from --vary) or a sweep file (scenarios/sweeps/*.yaml)' }],
  flags: { vary: 'list', seeds: 'int', out: 'string', jobs: 'int', cache: 'string', kafka: 'string', json: 'bool', quiet: 'bool', debug: 'bool' },
  help: {
    vary: { value: 'PATH', text: 'PATH=V1,V2,...: an axis (e.g. vms.guest.vpmu.mode=emulated,passthrough; * = every vPMU mode); repeat for more' },
    seeds: { value: 'N', text: "run each point with N seeds: the scenario's seed and the N-1 after it (default 1)" },
    out: { value: 'DIR', text: 'where sweep.json, sweep.csv and sweep.html go (default out/sweeps/<scenario name>)' },
    jobs: { value: 'N', text: 'worker processes running points in parallel (default: the CPUs available)' },
    cache: { value: 'DIR', text: 'the run cache, keyed by (expanded scenario, seed, tool version) (default DIR/cache of --out)' },
    kafka: { value: 'BROKERS', text: "publish the uncached runs as work items on these brokers; the cluster's sweep workers run them (vpmu cluster up --sweep-workers N)" },
    json: { text: 'print the sweep (counts, timing, files) as JSON on stdout (no progress line)' },
  },
};

export async function sweepCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(SWEEP_SPEC, argv);
  const json = args.flags.json === true;
  const input = readSweepInput(args.positionals[0]);
  for (const w of input.loaded.warnings) io.err(`warning: ${w}`);
  const cliAxes = ((args.flags.vary as string[] | undefined) ?? []).map(parseVaryFlag);
  // An axis on the command line replaces the sweep file's axis of the same path.
  const axes: VaryAxis[] = [...input.axes.filter((a) => !cliAxes.some((c) => c.path === a.path)), ...cliAxes];
  if (axes.length === 0) throw new CliError('vpmu sweep: nothing to vary; give at least one --vary PATH=V1,V2 (e.g. --vary vms[0].vpmu.mode=emulated,passthrough).');
  const seedCount = (args.flags.seeds as number | undefined) ?? input.seeds ?? 1;
  if (seedCount < 1) throw new CliError('vpmu sweep: --seeds must be at least 1.');
  const jobs = (args.flags.jobs as number | undefined) ?? os.availableParallelism();
  if (jobs < 1) throw new CliError('vpmu sweep: --jobs must be at least 1.');
  const kafka = args.flags.kafka === undefined ? null : brokersFrom(args.flags.kafka as string, 'sweep');
  const resolved = resolveAxes(input.loaded.text, axes);
  const plan = planSweep(input.loaded.text, resolved, seedCount, TOOL_VERSION);
  const outDir = prepareOutDir((args.flags.out as string | undefined) ?? path.join('out', 'sweeps', plan.scenarioName));
  const cache = new SweepCache(path.resolve((args.flags.cache as string | undefined) ?? path.join(outDir, 'cache')));
  cache.removeStale();
  const todo = plan.runs.filter((r) => !cache.has(r.key));
  const cached = plan.runs.length - todo.length;

  const progress = new SweepProgress(io.stderr, plan.runs.length, cached, !args.flags.quiet && !json);
  const startedMs = Date.now(); // wall-clock ok: progress and throughput only
  let workers: Record<string, number> | null = null;
  if (kafka) workers = (await runOnKafka(todo, cache, { brokers: kafka }, (p) => progress.update(p))).workers;
  else await runPool(todo, cache, jobs, (p) => progress.update(p));
  const wallMs = Date.now() - startedMs; // wall-clock ok: throughput only
  progress.finish();

  const rows = sweepRows(plan, (key) => cache.summary(key));
  const sweep = {
    schema: 1,
    scenario: plan.scenarioName,
    file: input.sweepFile ?? input.loaded.file,
    toolVersion: TOOL_VERSION,
    axes: plan.axes,
    seeds: plan.seeds,
    rows,
  };
  const files = [path.join(outDir, 'sweep.json'), path.join(outDir, 'sweep.csv'), path.join(outDir, 'sweep.html')];
  fs.writeFileSync(files[0], JSON.stringify(sweep, null, 2) + '\n');
  fs.writeFileSync(files[1], sweepCsv(plan, rows));
  fs.writeFileSync(files[2], renderSweepHtml(sweep));
  const simulated = todo.length;
  const perMinute = (n: number): number => (wallMs > 0 && n > 0 ? roundTo((n / wallMs) * 60_000, 1) : 0);
  const stats = {
    scenario: plan.scenarioName,
    points: plan.points.length / plan.seeds.length,
    seeds: plan.seeds.length,
    rows: rows.length,
    runs: plan.runs.length,
    simulated,
    cached,
    jobs: kafka ? null : jobs,
    kafka,
    /** --kafka: the runs each sweep worker delivered. */
    workers,
    wallMs: roundTo(wallMs),
    simulatedRunsPerMinute: perMinute(simulated),
    cache: cache.dir,
    files: files.map(relativeForDisplay),
  };
  if (json) {
    io.out(JSON.stringify(stats, null, 2));
    return 0;
  }
  for (const line of renderRows(plan.axes.map((a) => a.path), rows)) io.out(line);
  io.out(
    `sweep ${plan.scenarioName}: ${stats.points} points x ${stats.seeds} seed(s) = ${rows.length} rows; ${plan.runs.length} runs (points and no-perf baselines): ${simulated} simulated, ${cached} from the cache`,
  );
  const where = kafka ? `on Kafka ${kafka.join(',')}${workers && simulated > 0 ? ` (${Object.entries(workers).map(([w, n]) => `${w}: ${n}`).join(', ')})` : ''}` : `with ${jobs} job(s)`;
  io.out(`took ${(wallMs / 1000).toFixed(2)}s wall ${where}${simulated > 0 ? ` (${stats.simulatedRunsPerMinute} runs/min)` : ''}; cache ${relativeForDisplay(cache.dir)}`);
  io.out('wrote:');
  for (const f of files) io.out(`  ${relativeForDisplay(f)}`);
  return 0;
}

function renderRows(paths: string[], rows: readonly SweepRow[]): string[] {
  const head = [...paths.map((p) => p.split('.').slice(-2).join('.')), 'seed', 'score', 'overhead%', 'exits', 'pmis', 'lost', 'err%', 'findings'];
  const body = rows.map((r) => [
    ...paths.map((p) => String(r.values[p])),
    String(r.seed),
    r.score.toFixed(1),
    r.overheadPct === null ? '-' : r.overheadPct.toFixed(2),
    String(r.exitsTotal),
    String(r.pmisDelivered),
    String(r.pmisLost),
    r.counterErrorPctMax.toFixed(2),
    String(Object.values(r.findings).reduce((a, b) => a + b, 0)),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [head, ...body].map((cells) => cells.map((c, i) => (i < paths.length ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
}

/** The sweep's progress on stderr: runs done (and how many came from the cache), running, ETA. */
class SweepProgress {
  private readonly startMs = Date.now(); // wall-clock ok: progress display only
  private readonly tty: boolean;
  private last = '';

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly total: number,
    private readonly cached: number,
    private readonly enabled: boolean,
  ) {
    this.tty = enabled && !!out.isTTY && !process.env.CI;
  }

  update(p: PoolProgress): void {
    if (!this.enabled) return;
    const done = this.cached + p.done;
    const elapsedS = (Date.now() - this.startMs) / 1000; // wall-clock ok: progress display only
    const eta = p.done > 0 && p.done < p.total ? ` eta ${Math.ceil((elapsedS * (p.total - p.done)) / p.done)}s` : '';
    const line = `sweep: ${done}/${this.total} runs done (${this.cached} cached), ${p.running} running${eta}`;
    if (line === this.last) return;
    this.last = line;
    this.out.write(this.tty ? `\r${line}\x1b[K` : `${line}\n`);
  }

  finish(): void {
    if (!this.enabled) return;
    if (this.cached === this.total) this.out.write(`sweep: ${this.total}/${this.total} runs done (${this.cached} cached), nothing to simulate\n`);
    else if (this.tty) this.out.write('\n');
  }
}
