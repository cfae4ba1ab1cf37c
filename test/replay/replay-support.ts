// Helpers of the replay tests: record a scenario (embedded, in this process) into a temp dir,
// optionally with a shorter or longer duration, and a small seeded PRNG for fuzz offsets.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RECORDING_FILE_NAME } from '@vpmu/recording';
import { runScenarioText, SCENARIOS_DIR, tempDir, type ScenarioRun } from '../support/run-scenario';

export function scenarioText(file: string, duration?: string): string {
  const text = fs.readFileSync(path.join(SCENARIOS_DIR, file), 'utf8');
  return duration === undefined ? text : text.replace(/^duration: .*$/m, `duration: ${duration}`);
}

export async function record(file: string, opts: { seed?: number; duration?: string } = {}): Promise<ScenarioRun & { rec: string }> {
  const run = await runScenarioText(scenarioText(file, opts.duration), { seed: opts.seed, outDir: tempDir(`rec-${path.basename(file, '.yaml')}`) });
  return { ...run, rec: path.join(run.outDir, RECORDING_FILE_NAME) };
}

/** xorshift32: reproducible fuzz offsets (tests may not use Math.random). */
export function seededInts(seed: number): (maxExclusive: number) => number {
  let s = seed >>> 0 || 1;
  return (max) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % max;
  };
}
