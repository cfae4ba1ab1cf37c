// Reads and validates a scenario file for the CLI: every failure is a CliError (exit 2) whose
// first line is one sentence and whose details list every schema error with its path and line.
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { formatScenarioErrors, parseScenario, type Scenario, type ScenarioError } from '@vpmu/scenario';
import { CliError } from './cli-error';

export interface LoadedScenario {
  file: string;
  text: string;
  scenario: Scenario;
  warnings: string[];
}

/** An invalid scenario: the CliError, with the schema errors kept for `validate --json`. */
export class ScenarioFileError extends CliError {
  constructor(
    message: string,
    readonly errors: readonly ScenarioError[],
    file: string,
  ) {
    super(message, 'bad-input', formatScenarioErrors(errors, file).split('\n'));
  }
}

export function loadScenarioFile(file: string, seedOverride?: number): LoadedScenario {
  const text = readScenarioText(file);
  const parsed = parseScenario(text);
  if (!parsed.ok) {
    const n = parsed.errors.length;
    throw new ScenarioFileError(`${file} is not a valid scenario (${n} error${n === 1 ? '' : 's'}); fix ${n === 1 ? 'it' : 'them'} and try again:`, parsed.errors, file);
  }
  const scenario = seedOverride === undefined ? parsed.scenario : { ...parsed.scenario, seed: seedOverride };
  // The seed travels in RunStart; the scenario text is recorded verbatim.
  return { file, text, scenario, warnings: parsed.warnings };
}

function readScenarioText(file: string): string {
  try {
    if (!fs.statSync(file).isDirectory()) return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`scenario file ${file} does not exist; check the path (built-in scenarios are in scenarios/).`);
    throw new CliError(`cannot read scenario file ${file}: ${(err as Error).message}.`);
  }
  throw new CliError(`${file} is a directory, not a scenario file; pass a .yaml file.`);
}

/** Run ids are derived from the scenario and the seed, so a re-run records the same bytes. */
export function deriveRunId(text: string, scenario: Scenario): string {
  const h = createHash('sha256').update(text).update('\u0000').update(String(scenario.seed)).digest('hex').slice(0, 12);
  const name = scenario.name.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 40) || 'run';
  return `${name}-s${scenario.seed}-${h}`;
}
