// The output directory must be creatable and writable before a run starts, so a run never
// simulates for minutes and then fails to save its results.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CliError } from './cli-error';

export function prepareOutDir(dir: string): string {
  // An empty --out would resolve to the current directory and scatter a run's files there.
  if (dir.trim() === '') throw new CliError(`--out is empty; give a directory, e.g. --out out/run.`);
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

/**
 * The default output directory of a scenario: out/<name>, its name reduced to one harmless path
 * component (a name like "../../../tmp/x" or ".." must not write outside out/).
 */
export function defaultOutDir(scenarioName: string): string {
  return path.join('out', safePathComponent(scenarioName));
}

/** Letters, digits, `_`, `.` and `-` only, never `.` or `..`; 'run' when nothing is left. */
export function safePathComponent(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]+/g, '-');
  return safe === '' || /^\.+$/.test(safe) ? 'run' : safe;
}

/**
 * Refuses an output path that is one of the command's inputs (`export REC --out REC` would
 * replace the recording with its own export): the same file by path or, when both exist, by
 * device and inode (a hard link or another spelling of the path).
 */
export function assertNotAnInput(flag: string, given: string, inputs: readonly string[]): void {
  const target = path.resolve(given);
  const st = statOrNull(target);
  for (const input of inputs) {
    const inputAbs = path.resolve(input);
    const ist = statOrNull(inputAbs);
    const same = inputAbs === target || (st !== null && ist !== null && st.dev === ist.dev && st.ino === ist.ino);
    if (same) throw new CliError(`${flag} ${given} is the input ${input}; an output never overwrites an input: choose another ${flag}.`);
  }
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

export function relativeForDisplay(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}
