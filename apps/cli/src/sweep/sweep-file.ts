// What `vpmu sweep FILE` reads: a scenario (the axes come from --vary) or a sweep file that names
// a scenario and its axes, so a built-in experiment is one file (scenarios/sweeps/):
//
//   sweep: 1
//   scenario: ../passthrough-rfc-experiment.yaml   # relative to this file
//   seeds: 2
//   vary:
//     vms.guest.vpmu.mode: "*"
//     vms.guest.guestPerf.sampling.sample.freq: [100, 1000, 10000]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { CliError } from '../cli-error';
import { loadScenarioFile, type LoadedScenario } from '../scenario-file';
import { scalarOf, type VaryAxis, type VaryValue } from './vary-path';

export interface SweepInput {
  loaded: LoadedScenario;
  axes: VaryAxis[];
  seeds: number | undefined;
  /** The sweep file, when FILE was one (null: FILE is the scenario). */
  sweepFile: string | null;
}

const KEYS = ['sweep', 'scenario', 'seeds', 'vary'];

export function readSweepInput(file: string): SweepInput {
  let text: string | null = null;
  try {
    if (fs.statSync(file).isFile()) text = fs.readFileSync(file, 'utf8');
  } catch {
    // the scenario loader says what is wrong with the path
  }
  const doc = text === null ? null : parseDocument(text);
  if (!doc || doc.errors.length > 0 || !isMap(doc.contents) || !doc.contents.has('sweep')) {
    return { loaded: loadScenarioFile(file), axes: [], seeds: undefined, sweepFile: null };
  }
  const bad = (what: string): CliError => new CliError(`${file}: ${what} (a sweep file has sweep: 1, scenario: PATH, optional seeds: N and vary: { PATH: [values] }; see docs/cli/sweep.md).`);
  const js = doc.toJS() as Record<string, unknown>;
  for (const k of Object.keys(js)) if (!KEYS.includes(k)) throw bad(`unknown key "${k}"`);
  if (js.sweep !== 1) throw bad('sweep must be 1');
  if (typeof js.scenario !== 'string') throw bad('scenario must be the path of a scenario file');
  if (js.seeds !== undefined && (!Number.isInteger(js.seeds) || (js.seeds as number) < 1)) throw bad('seeds must be a whole number of at least 1');
  const vary = js.vary ?? {};
  if (typeof vary !== 'object' || vary === null || Array.isArray(vary)) throw bad('vary must map paths to lists of values');
  const axes: VaryAxis[] = Object.entries(vary as Record<string, unknown>).map(([p, v]) => {
    const list = Array.isArray(v) ? v : [v];
    if (list.length === 0 || list.some((x) => typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean')) throw bad(`vary.${p} must be a list of plain values`);
    return { path: p, values: (list as VaryValue[]).map((x) => (typeof x === 'string' ? scalarOf(x) : x)) };
  });
  const loaded = loadScenarioFile(path.resolve(path.dirname(file), js.scenario));
  return { loaded, axes, seeds: js.seeds as number | undefined, sweepFile: file };
}
