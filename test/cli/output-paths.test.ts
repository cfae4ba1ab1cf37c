// Outputs never land where they must not: an output never overwrites an input (`export REC --out
// REC`), an empty --out is refused, and a scenario name is one harmless path component under out/.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasStackTrace, vpmu } from '../support/cli';
import { tempDir, tinyScenarioText } from '../support/run-scenario';

jest.setTimeout(120_000);

let dir: string;
let recording: string;
beforeAll(() => {
  dir = tempDir('output-paths');
  fs.writeFileSync(path.join(dir, 'tiny.yaml'), tinyScenarioText('tiny-paths'));
  const r = vpmu(['run', 'tiny.yaml', '--out', 'run', '--quiet'], { cwd: dir });
  expect(r.code).toBe(0);
  recording = path.join(dir, 'run', 'recording.vpmurec');
});

it('export --out <the recording> is refused (exit 2) and the recording is left as it was', () => {
  const before = fs.readFileSync(recording);
  for (const [format, out] of [['jsonl', 'run/recording.vpmurec'], ['jsonl', './run/../run/recording.vpmurec'], ['perf-data', 'run/recording.vpmurec']]) {
    const r = vpmu(['export', 'run', '--format', format, '--out', out], { cwd: dir });
    expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({ code: 2, stderr: `error: --out ${out} is the input run/recording.vpmurec; an output never overwrites an input: choose another --out.` });
  }
  // A hard link is the same file under another name.
  fs.linkSync(recording, path.join(dir, 'alias.vpmurec'));
  const r = vpmu(['export', 'alias.vpmurec', '--format', 'jsonl', '--out', 'run/recording.vpmurec'], { cwd: dir });
  expect(r.code).toBe(2);
  expect(fs.readFileSync(recording).equals(before)).toBe(true);
});

it("run --out '' is refused (exit 2) instead of writing into the current directory", () => {
  const r = vpmu(['run', 'tiny.yaml', '--out', '', '--quiet'], { cwd: dir });
  expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({ code: 2, stderr: 'error: --out is empty; give a directory, e.g. --out out/run.' });
  expect(fs.existsSync(path.join(dir, 'summary.json'))).toBe(false);
});

it.each([['../../../tmp/escape', '..-..-..-tmp-escape'], ['..', 'run'], ['a/b', 'a-b']])('a scenario named %j runs into out/%s without --out, never outside out/', (name, dirName) => {
  const cwd = tempDir('output-name');
  fs.writeFileSync(path.join(cwd, 's.yaml'), tinyScenarioText(JSON.stringify(name)));
  const r = vpmu(['run', 's.yaml', '--quiet'], { cwd });
  expect({ code: r.code, trace: hasStackTrace(r.stderr) }).toEqual({ code: 0, trace: false });
  expect(fs.existsSync(path.join(cwd, 'out', dirName, 'recording.vpmurec'))).toBe(true);
  expect(fs.readdirSync(cwd).sort()).toEqual(['out', 's.yaml']);
});
