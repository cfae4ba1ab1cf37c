// The ESLint rule that keeps ambient nondeterminism out of libs/ actually fires, and respects
// the `wall-clock ok` marker. ESLint runs as a child process (it loads its config with a dynamic
// import, which Jest's module sandbox does not allow).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT } from '../support/run-scenario';

const ESLINT = path.join(REPO_ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');

interface LintMessage {
  ruleId: string | null;
  severity: number;
  line: number;
  message: string;
}

function eslint(args: string[], input?: string): { filePath: string; messages: LintMessage[] }[] {
  const r = spawnSync(process.execPath, [ESLINT, '--format', 'json', ...args], { cwd: REPO_ROOT, input, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  if (!r.stdout.trim().startsWith('[')) throw new Error(`eslint failed (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function lintLib(code: string): string[] {
  const [result] = eslint(['--stdin', '--stdin-filename', path.join(REPO_ROOT, 'libs', 'sim', 'src', 'probe.ts')], code);
  return result.messages.filter((m) => m.ruleId === 'vpmu/no-ambient-nondeterminism').map((m) => m.message);
}

describe('vpmu/no-ambient-nondeterminism', () => {
  it.each([
    ['Date.now()', 'export const a = Date.now();'],
    ['new Date()', 'export const a = new Date();'],
    ['Math.random()', 'export const a = Math.random();'],
    ['performance.now()', 'export const a = performance.now();'],
    ['crypto.randomUUID()', "import * as crypto from 'node:crypto';\nexport const a = crypto.randomUUID();"],
    ['setTimeout', 'setTimeout(() => undefined, 1);'],
    ['setImmediate', 'setImmediate(() => undefined);'],
  ])('forbids %s in libs/', (_name, code) => {
    expect(lintLib(code)).toHaveLength(1);
  });

  it('allows uses marked wall-clock ok, and dates built from a value', () => {
    expect(lintLib('export const a = Date.now(); // wall-clock ok: log line\nexport const d = new Date(0);')).toEqual([]);
  });

  it('passes on the whole repository (npm run lint)', () => {
    const results = eslint(['libs/**/*.ts', 'apps/**/*.ts']);
    const problems = results.flatMap((r) => r.messages.filter((m) => m.severity === 2).map((m) => `${path.relative(REPO_ROOT, r.filePath)}:${m.line} ${m.message}`));
    expect(problems).toEqual([]);
  });
});
