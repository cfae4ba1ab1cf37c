// Runs ESLint as a child process and returns its JSON report (ESLint loads its config with a
// dynamic import, which Jest's module sandbox does not allow). For the tests of the project's
// own ESLint rules (tools/eslint).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
const ESLINT = path.join(REPO_ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');

export interface LintMessage {
  ruleId: string | null;
  severity: number;
  line: number;
  message: string;
}

export function eslint(args: string[], input?: string): { filePath: string; messages: LintMessage[] }[] {
  const r = spawnSync(process.execPath, [ESLINT, '--format', 'json', ...args], { cwd: REPO_ROOT, input, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  if (!r.stdout.trim().startsWith('[')) throw new Error(`eslint failed (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The messages of one rule for `code` linted as if it were the file at `relPath` (repository-relative). */
export function lintAs(relPath: string, code: string, ruleId: string): LintMessage[] {
  const [result] = eslint(['--stdin', '--stdin-filename', path.join(REPO_ROOT, relPath)], code);
  return result.messages.filter((m) => m.ruleId === ruleId);
}

/**
 * Lints many snippets in one ESLint process (each as if it were the file at its repository-relative
 * path; nothing is written to disk) and returns, per snippet, the messages of `ruleId`.
 */
export function lintSnippets(snippets: { relPath: string; code: string }[], ruleId: string): LintMessage[][] {
  const script = `
    const { ESLint } = require(${JSON.stringify(path.join(REPO_ROOT, 'node_modules', 'eslint'))});
    const path = require('node:path');
    let input = '';
    process.stdin.on('data', (d) => (input += d));
    process.stdin.on('end', async () => {
      const eslint = new ESLint({ cwd: ${JSON.stringify(REPO_ROOT)} });
      const out = [];
      for (const s of JSON.parse(input)) {
        const [r] = await eslint.lintText(s.code, { filePath: path.join(${JSON.stringify(REPO_ROOT)}, s.relPath) });
        out.push(r.messages);
      }
      process.stdout.write(JSON.stringify(out));
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: REPO_ROOT, input: JSON.stringify(snippets), encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`eslint failed (exit ${r.status}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as LintMessage[][]).map((messages) => messages.filter((m) => m.ruleId === ruleId));
}
