// The output directory must be creatable and writable before a run starts, so a run never
// simulates for minutes and then fails to save its results.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CliError } from './cli-error';

export function prepareOutDir(dir: string): string {
  const abs = path.resolve(dir);
  try {
    fs.mkdirSync(abs, { recursive: true });
    const probe = path.join(abs, '.vpmu-write-probe');
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CliError(`cannot write to the output directory ${dir} (${code}); choose another --out.`);
  }
  return abs;
}

export function relativeForDisplay(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}
