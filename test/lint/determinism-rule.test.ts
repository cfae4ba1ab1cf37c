// The ESLint rule that keeps ambient nondeterminism out of libs/ actually fires, and respects
// the `wall-clock ok` marker.
import * as path from 'node:path';
import { eslint, lintAs, REPO_ROOT } from '../support/eslint-runner';

function lintLib(code: string): string[] {
  return lintAs(path.join('libs', 'sim', 'src', 'probe.ts'), code, 'vpmu/no-ambient-nondeterminism').map((m) => m.message);
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
