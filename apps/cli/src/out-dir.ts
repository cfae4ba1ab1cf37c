// The output directory must be creatable and writable before a run starts, so a run never
// simulates for minutes and then fails to save its results.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CliError } from './cli-error';

export function prepareOutDir(dir: string): string {
  const abs = path.resolve(dir);
  try {
    makeDirs(abs);
    const probe = path.join(abs, '.vpmu-write-probe');
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CliError(`cannot write to the output directory ${dir} (${code}); choose another --out.`);
  }
  return abs;
}

/**
 * `mkdir -p`, one level at a time. Node's recursive mkdir loops forever where mkdir answers
 * ENOENT for a parent that exists (procfs: `--out /proc/x` spun at 100% CPU), so each level is
 * created on its own and the first refusal is final.
 */
function makeDirs(abs: string): void {
  const missing: string[] = [];
  let dir = abs;
  while (!fs.existsSync(dir)) {
    missing.push(dir);
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const d of missing.reverse()) fs.mkdirSync(d);
}

export function relativeForDisplay(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}
