// Runs the built `vpmu` CLI as a real process (npm test builds dist/ first).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT } from './run-scenario';

export const CLI = path.join(REPO_ROOT, 'dist', 'apps', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function vpmu(args: string[], opts: { cwd?: string; input?: Buffer | string; timeoutMs?: number; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    input: opts.input,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    env: { ...process.env, CI: 'true', ...opts.env },
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** True when the text contains a JS stack frame. */
export function hasStackTrace(text: string): boolean {
  return /\n\s+at .+\(.+:\d+:\d+\)/.test(text) || /\n\s+at .+:\d+:\d+/.test(text);
}
