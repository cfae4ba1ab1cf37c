// `vpmu sweep --kafka BROKERS`: the uncached runs of a sweep on a cluster (vpmu cluster up, or the
// docker-compose services), one run after another through the same conductor path as
// `vpmu run --kafka`: the services' replicas share each run's hosts and VMs. The aggregator's
// recording and summary.json become the cache entry, so a cluster sweep and a local one fill the
// same cache with the same runs (a cluster run records the same events as an embedded one).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RECORDING_FILE_NAME } from '@vpmu/recording';
import { CliError } from '../cli-error';
import { runOnCluster } from '../cluster/cluster-runtime';
import { deriveRunId } from '../scenario-file';
import { TOOL_VERSION } from '../version';
import type { PoolProgress } from './sweep-pool';
import { loadScenarioText, type SweepCache, type SweepRun } from './sweep-plan';

export async function runOnClusterSequentially(runs: readonly SweepRun[], cache: SweepCache, brokers: string[], onProgress: (p: PoolProgress) => void): Promise<void> {
  let done = 0;
  for (const run of runs) {
    onProgress({ done, running: 1, total: runs.length });
    const scenario = { ...loadScenarioText(run.scenarioText), seed: run.seed };
    const result = await runOnCluster({ brokers, runId: deriveRunId(run.scenarioText, scenario), scenario, scenarioText: run.scenarioText, toolVersion: TOOL_VERSION });
    const wanted = [RECORDING_FILE_NAME, 'summary.json'].map((name) => result.files.find((f) => path.basename(f) === name));
    if (wanted.some((f) => f === undefined || !fs.existsSync(f))) {
      throw new CliError('the aggregator wrote its files on another machine; a cluster sweep needs them here: give the aggregator a directory this machine sees (vpmu cluster up --out DIR, or a volume in docker-compose).');
    }
    const entry = cache.entryDir(run.key);
    const tmp = `${entry}.tmp-${process.pid}`;
    fs.mkdirSync(tmp, { recursive: true });
    for (const f of wanted as string[]) fs.copyFileSync(f, path.join(tmp, path.basename(f)));
    if (fs.existsSync(entry)) fs.rmSync(tmp, { recursive: true, force: true });
    else fs.renameSync(tmp, entry);
    done++;
  }
  onProgress({ done, running: 0, total: runs.length });
}
