// A sweep's worker process (forked by sweep-pool.ts): runs the points it is sent, one at a time,
// each as a full embedded run (the real services, the real epoch protocol) into a temporary
// directory that becomes the cache entry by one rename, so an interrupted run never leaves an
// entry that looks finished. It exits when its parent goes away.
import 'reflect-metadata';
import * as fs from 'node:fs';
import { runEmbedded } from '../embedded-runtime';
import { loadScenarioText } from './sweep-plan';
import { deriveRunId } from '../scenario-file';
import { TOOL_VERSION } from '../version';

export interface WorkerJob {
  key: string;
  scenarioText: string;
  seed: number;
  entryDir: string;
}

export type WorkerReply = { key: string; ok: true } | { key: string; ok: false; error: string };

/** The sweep that forked this worker; a different parent means it was killed (we were re-parented). */
const parentPid = process.ppid;

function abandonIfOrphaned(tmpDir: string): void {
  if (process.ppid === parentPid) return;
  fs.rmSync(tmpDir, { recursive: true, force: true });
  process.exit(0);
}

async function runJob(job: WorkerJob): Promise<void> {
  const tmpDir = `${job.entryDir}.tmp-${process.pid}`;
  const scenario = { ...loadScenarioText(job.scenarioText), seed: job.seed };
  fs.rmSync(tmpDir, { recursive: true, force: true });
  fs.mkdirSync(tmpDir, { recursive: true });
  await runEmbedded({
    runId: deriveRunId(job.scenarioText, scenario),
    scenario,
    scenarioText: job.scenarioText,
    toolVersion: TOOL_VERSION,
    outDir: tmpDir,
    viewers: false,
    // Checked every epoch: a worker whose sweep was killed stops at once instead of finishing a run nobody reads.
    onProgress: () => abandonIfOrphaned(tmpDir),
  });
  // A run finished after its sweep was killed is not published: the resumed sweep runs it again,
  // so what an interrupted sweep leaves behind is exactly what it had finished.
  abandonIfOrphaned(tmpDir);
  try {
    fs.renameSync(tmpDir, job.entryDir);
  } catch (err) {
    // Another sweep sharing the cache finished the same point first: its entry is the same run.
    if (!fs.existsSync(job.entryDir)) throw err;
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}

export function startWorker(): void {
  process.on('disconnect', () => process.exit(0));
  process.on('message', (job: WorkerJob) => {
    runJob(job).then(
      () => process.send?.({ key: job.key, ok: true } satisfies WorkerReply),
      (err: Error) => process.send?.({ key: job.key, ok: false, error: err.message } satisfies WorkerReply),
    );
  });
}

if (require.main === module) startWorker();
