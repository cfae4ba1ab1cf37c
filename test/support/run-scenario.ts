// Scenario-test helpers: run a whole scenario embedded (the real NestJS services over the
// in-process transport) into a fresh temporary directory and hand back its summary and files.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runEmbedded, type EmbeddedRunResult } from '../../apps/cli/src/embedded-runtime';
import { deriveRunId } from '../../apps/cli/src/scenario-file';
import { TOOL_VERSION } from '../../apps/cli/src/version';
import { parseScenario, type Scenario } from '@vpmu/scenario';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const SCENARIOS_DIR = path.join(REPO_ROOT, 'scenarios');

/**
 * The smallest valid scenario (one host of 2 pCPUs, one 1-vCPU VM, 5 ms), named `name` so each
 * test's run id says which test ran it. Tests that only need *a* run use this one.
 */
export function tinyScenarioText(name: string): string {
  return `version: 1
name: ${name}
duration: 5ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
vms:
  - id: vm1
    host: h1
`;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vpmu-${prefix}-`));
}

export function loadScenarioText(text: string, seed?: number): Scenario {
  const parsed = parseScenario(text);
  if (!parsed.ok) throw new Error(`test scenario invalid: ${parsed.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return seed === undefined ? parsed.scenario : { ...parsed.scenario, seed };
}

export interface ScenarioRun extends EmbeddedRunResult {
  outDir: string;
  scenario: Scenario;
}

/** maxWindowEpochs: the most epochs one grant covers (1: no lookahead windows); default the conductor's. */
export interface RunScenarioOptions {
  seed?: number;
  outDir?: string;
  maxWindowEpochs?: number;
}

export async function runScenarioText(text: string, opts: RunScenarioOptions = {}): Promise<ScenarioRun> {
  const scenario = loadScenarioText(text, opts.seed);
  const outDir = opts.outDir ?? tempDir(scenario.name);
  const result = await runEmbedded({
    runId: deriveRunId(text, scenario),
    scenario,
    scenarioText: text,
    toolVersion: TOOL_VERSION,
    outDir,
    ...(opts.maxWindowEpochs !== undefined && { maxWindowEpochs: opts.maxWindowEpochs }),
  });
  return { ...result, outDir, scenario };
}

export function runScenarioFile(name: string, opts: RunScenarioOptions = {}): Promise<ScenarioRun> {
  return runScenarioText(fs.readFileSync(path.join(SCENARIOS_DIR, name), 'utf8'), opts);
}
