// Runs a sweep's uncached runs in N worker processes (sweep-worker.ts), handing each idle worker
// the next run in plan order. Which worker ran what and in which order they finished never reaches
// the results: every run writes its own cache entry and the rows are read back in plan order.
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { CliError } from '../cli-error';
import type { SweepCache, SweepRun } from './sweep-plan';
import type { WorkerJob, WorkerReply } from './sweep-worker';

export interface PoolProgress {
  done: number;
  running: number;
  total: number;
}

const WORKER = path.join(__dirname, 'sweep-worker.js');

export function runPool(runs: readonly SweepRun[], cache: SweepCache, jobs: number, onProgress: (p: PoolProgress) => void): Promise<void> {
  if (runs.length === 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const queue = [...runs];
    const workers: ChildProcess[] = [];
    let done = 0;
    let running = 0;
    let failed = false;
    const stopAll = (): void => {
      for (const w of workers) if (w.connected) w.disconnect();
      for (const w of workers) if (w.exitCode === null) w.kill();
    };
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      stopAll();
      reject(err);
    };
    const onSignal = (): void => fail(new CliError('vpmu sweep: interrupted; the finished runs are in the cache and the same command resumes from them.'));
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const busy = new Set<ChildProcess>();
    const next = (w: ChildProcess): void => {
      const run = queue.shift();
      if (!run) {
        w.disconnect();
        return;
      }
      running++;
      busy.add(w);
      const job: WorkerJob = { key: run.key, scenarioText: run.scenarioText, seed: run.seed, entryDir: cache.entryDir(run.key) };
      w.send(job);
    };
    const count = Math.max(1, Math.min(jobs, runs.length));
    for (let i = 0; i < count; i++) {
      const w = fork(WORKER, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      workers.push(w);
      w.on('message', (reply: WorkerReply) => {
        running--;
        busy.delete(w);
        if (!reply.ok) {
          fail(new Error(`a sweep run (seed of key ${reply.key.slice(0, 12)}) failed: ${reply.error}`));
          return;
        }
        done++;
        if (done === runs.length) {
          onProgress({ done, running, total: runs.length });
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          stopAll();
          resolve();
          return;
        }
        next(w);
        onProgress({ done, running, total: runs.length });
      });
      w.on('exit', (code, signal) => {
        // A worker disconnected with nothing left to do exits 0; one that dies holding a run is a failure.
        if (!failed && done < runs.length && (busy.has(w) || code !== 0)) {
          fail(new Error(`a sweep worker process ended early (${signal ?? `exit ${code}`}).`));
        }
      });
      next(w);
    }
    onProgress({ done, running, total: runs.length });
  });
}
