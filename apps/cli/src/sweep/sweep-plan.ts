// A sweep's plan: the cross product of the varied values (first axis slowest), each point with
// its seeds, every run it needs (the point and its no-perf baseline) named by its cache key, and
// the content-addressed cache those keys address.
//
// A run is a pure function of (scenario text, seed, tool version), so the SHA-256 of the three is
// the whole identity of its result: a key found in the cache is never run again, whoever ran it,
// and a sweep started again after an interruption finds every finished run there.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import { parseScenario, type Scenario } from '@vpmu/scenario';
import type { RunSummary } from '@vpmu/summary';
import { CliError } from '../cli-error';
import { expandScenario, scenarioProblem, type VaryAxis, type VaryValue } from './vary-path';

export interface SweepRun {
  key: string;
  scenarioText: string;
  seed: number;
}

export interface SweepPoint {
  /** Index in the cross product. */
  index: number;
  values: VaryValue[];
  seed: number;
  run: SweepRun;
  /** The same point with no guest perf (null when the point has none: nothing to compare). */
  baseline: SweepRun | null;
}

export interface SweepPlan {
  scenarioName: string;
  axes: VaryAxis[];
  seeds: number[];
  points: SweepPoint[];
  /** Every distinct run, in plan order (points share baselines). */
  runs: SweepRun[];
}

export function loadScenarioText(text: string): Scenario {
  const parsed = parseScenario(text);
  if (!parsed.ok) throw new Error(`sweep: an expanded scenario is invalid: ${parsed.errors[0].path}: ${parsed.errors[0].message}`); // checked by planSweep: a bug
  return parsed.scenario;
}

export function cacheKey(scenarioText: string, seed: number, toolVersion: string): string {
  return createHash('sha256').update(scenarioText).update('\0').update(String(seed)).update('\0').update(toolVersion).digest('hex');
}

/** The scenario text with every VM's guest perf sessions removed: the no-perf baseline. */
export function withoutGuestPerf(text: string): string | null {
  const doc = parseDocument(text);
  const vms = doc.get('vms', true);
  let removed = false;
  if (isSeq(vms)) {
    for (const vm of vms.items) {
      if (isMap(vm) && vm.has('guestPerf')) {
        vm.delete('guestPerf');
        removed = true;
      }
    }
  }
  return removed ? doc.toString({ lineWidth: 0 }) : null;
}

export function planSweep(baseText: string, axes: readonly VaryAxis[], seedCount: number, toolVersion: string): SweepPlan {
  const base = loadScenarioText(baseText);
  const seeds = Array.from({ length: seedCount }, (_, i) => base.seed + i);
  const combos: VaryValue[][] = axes.reduce<VaryValue[][]>((acc, axis) => acc.flatMap((c) => axis.values.map((v) => [...c, v])), [[]]);
  const runs = new Map<string, SweepRun>();
  const want = (scenarioText: string, seed: number): SweepRun => {
    const key = cacheKey(scenarioText, seed, toolVersion);
    let r = runs.get(key);
    if (!r) runs.set(key, (r = { key, scenarioText, seed }));
    return r;
  };
  const points: SweepPoint[] = [];
  combos.forEach((values, index) => {
    const text = expandScenario(
      baseText,
      axes.map((a, i) => [a.path, values[i]]),
    );
    const problem = scenarioProblem(text);
    if (problem !== null) {
      const at = axes.map((a, i) => `${a.path}=${values[i]}`).join(', ');
      throw new CliError(`vpmu sweep: the point ${at} is not a valid scenario: ${problem.replace(/\.$/, '')}; leave that combination out.`);
    }
    const baselineText = withoutGuestPerf(text);
    for (const seed of seeds) {
      const run = want(text, seed);
      const baseline = baselineText === null ? null : want(baselineText, seed);
      points.push({ index, values, seed, run, baseline });
    }
  });
  return { scenarioName: base.name, axes: [...axes], seeds, points, runs: [...runs.values()] };
}

/** The content-addressed cache: one directory per key (summary.json, recording.vpmurec). */
export class SweepCache {
  constructor(readonly dir: string) {}

  entryDir(key: string): string {
    return path.join(this.dir, key.slice(0, 2), key);
  }

  has(key: string): boolean {
    return fs.existsSync(path.join(this.entryDir(key), 'summary.json'));
  }

  summary(key: string): RunSummary {
    return JSON.parse(fs.readFileSync(path.join(this.entryDir(key), 'summary.json'), 'utf8')) as RunSummary;
  }

  /** Removes the temporary directories (`<key>.tmp-<worker pid>`) of runs whose worker is gone (an interrupted sweep). */
  removeStale(): void {
    if (!fs.existsSync(this.dir)) return;
    for (const shard of fs.readdirSync(this.dir)) {
      const shardDir = path.join(this.dir, shard);
      if (!fs.statSync(shardDir).isDirectory()) continue;
      for (const name of fs.readdirSync(shardDir)) {
        const m = /\.tmp-(\d+)$/.exec(name);
        if (m && !processAlive(Number(m[1]))) fs.rmSync(path.join(shardDir, name), { recursive: true, force: true });
      }
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
