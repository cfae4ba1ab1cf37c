// `vpmu run` whose output cannot be written once the run has begun (the directory passed the
// up-front check, then a file path is taken): the built CLI ends in bounded time with exit 2
// and one sentence (no stack trace, no "internal error"), and leaves no half-written file. The
// taken path is a directory planted by the test, the one way to refuse a file even to root.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasStackTrace, vpmu } from '../support/cli';
import { tempDir, tinyScenarioText } from '../support/run-scenario';

const dir = tempDir('run-output-failure');
const scenario = path.join(dir, 'tiny.yaml');
fs.writeFileSync(
  scenario,
  tinyScenarioText('tiny-output-failure'),
);

/** Every .partial file left in `out` (the planted directory is not a file). */
function partialFiles(out: string): string[] {
  return fs.readdirSync(out).filter((f) => f.endsWith('.partial') && fs.statSync(path.join(out, f)).isFile());
}

describe('vpmu run when an output cannot be written', () => {
  it('a viewer file that cannot be created at run start: exit 2, one sentence, no recording left', () => {
    const out = path.join(dir, 'start');
    fs.mkdirSync(path.join(out, 'trace.perfetto.json.partial'), { recursive: true });
    const r = vpmu(['run', scenario, '--out', out, '--quiet'], { timeoutMs: 30_000 }); // generous bound: it used to hang
    expect(r.stderr).toBe(`error: cannot write the run's output in ${out} (EISDIR); choose another --out.\n`);
    expect(r.code).toBe(2);
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(partialFiles(out)).toEqual([]);
    expect(fs.readdirSync(out)).toEqual(['trace.perfetto.json.partial']);
  });

  it('the report that cannot be written at run end: exit 2, one sentence, the complete files kept', () => {
    const out = path.join(dir, 'end');
    fs.mkdirSync(path.join(out, 'report.html.partial'), { recursive: true });
    const r = vpmu(['run', scenario, '--out', out, '--quiet'], { timeoutMs: 30_000 });
    expect(r.stderr).toBe(`error: cannot write the run's output in ${out} (EISDIR); choose another --out.\n`);
    expect(r.code).toBe(2);
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(partialFiles(out)).toEqual([]);
    expect(fs.readdirSync(out).sort()).toEqual(['recording.vpmurec', 'report.html.partial', 'summary.json', 'trace.perfetto.json']);
  });
});
