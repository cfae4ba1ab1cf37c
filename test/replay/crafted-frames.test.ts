// Recordings whose every CRC and hash is valid but whose content is not what it claims (written
// by a buggy or hostile writer): the reading commands say so with exit 2 and one sentence, never
// an internal error (exit 1) and never a silently wrong count.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRecording, RecordingWriter } from '@vpmu/recording';
import { hasStackTrace, vpmu } from '../support/cli';
import { tempDir, tinyScenarioText } from '../support/run-scenario';

jest.setTimeout(120_000);

let source: string;
beforeAll(() => {
  const dir = tempDir('crafted-src');
  fs.writeFileSync(path.join(dir, 'tiny.yaml'), tinyScenarioText('tiny-crafted'));
  expect(vpmu(['run', 'tiny.yaml', '--out', 'run', '--quiet'], { cwd: dir }).code).toBe(0);
  source = path.join(dir, 'run', 'recording.vpmurec');
});

/** A copy of the source recording, written by RecordingWriter (valid CRCs and chain), with epoch 2's first frame changed by `change`. */
function crafted(name: string, change: (f: { node: string; batch: Uint8Array; eventCount: number }) => { node: string; batch: Uint8Array; eventCount: number }): string {
  const rec = readRecording(source, { requireComplete: true });
  const dir = tempDir(`crafted-${name}`);
  const file = path.join(dir, 'recording.vpmurec');
  const w = new RecordingWriter().open(file, rec.header);
  for (const e of rec.epochs) {
    const frames = e.frames.map((f, i) => ({ node: f.node, batch: f.batch, eventCount: f.eventCount }));
    if (e.epoch === 2) frames[0] = change(frames[0]);
    w.writeEpoch(e.epoch, frames);
  }
  w.close();
  return dir;
}

it('a frame whose event_count is 0xffffffff (CRC valid) is corrupt: replay --verify and inspect exit 2, never "identical: 4294969879 events"', () => {
  const dir = crafted('count', (f) => ({ ...f, eventCount: 0xffffffff }));
  for (const args of [['replay', dir, '--verify'], ['inspect', dir, '--at', '1ms']]) {
    const r = vpmu(args);
    expect({ args, code: r.code }).toEqual({ args, code: 2 });
    expect(r.stderr).toMatch(/claims 4294967295 events in a batch of \d+ bytes/);
    expect(r.stdout).not.toMatch(/identical/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  }
});

it('a frame whose count is off by one from its batch: export and replay streaming exit 2 naming the frame', () => {
  const dir = crafted('off-by-one', (f) => ({ ...f, eventCount: f.eventCount > 0 ? f.eventCount - 1 : 1 }));
  const out = path.join(dir, 'x.jsonl');
  const r = vpmu(['export', dir, '--format', 'jsonl', '--out', out]);
  expect(r.code).toBe(2);
  expect(r.stderr.trim()).toMatch(/^error: the recorded frame of \S+ in epoch 2 says \d+ events but its batch holds \d+; the recording is damaged from epoch 2 on\.$/);
  expect(fs.existsSync(out)).toBe(false);
});

it('a CRC-valid batch that does not decode: export and replay streaming exit 2 (not 1), one sentence', () => {
  const dir = crafted('garbage', (f) => ({ ...f, batch: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), eventCount: 1 }));
  for (const args of [['export', dir, '--format', 'jsonl', '--out', path.join(dir, 'x.jsonl')], ['replay', dir, '--quiet', '--out', path.join(dir, 'viewers')]]) {
    const r = vpmu(args);
    expect({ args, code: r.code }).toEqual({ args, code: 2 });
    expect(r.stderr.trim()).toMatch(/^error: the recorded batch of \S+ in epoch 2 passes its CRC but cannot be decoded \(.*\); the recording is damaged from epoch 2 on\.$/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  }
});

it('a CRC-valid garbage checkpoint: inspect sets it aside and restores from an earlier one (exit 0, says so), never an internal error', () => {
  const dir = tempDir('crafted-ckpt-src');
  fs.writeFileSync(path.join(dir, 'tiny.yaml'), tinyScenarioText('tiny-ckpt').replace('duration: 5ms', 'duration: 5ms\ncheckpointEvery: 2'));
  expect(vpmu(['run', 'tiny.yaml', '--out', 'run', '--quiet'], { cwd: dir }).code).toBe(0);
  const rec = readRecording(path.join(dir, 'run', 'recording.vpmurec'), { requireComplete: true });
  const latest = Math.max(...rec.checkpoints.map((c) => c.epoch).filter((e) => e <= 4));
  expect(latest).toBeGreaterThan(0);
  const out = tempDir('crafted-ckpt');
  const w = new RecordingWriter().open(path.join(out, 'recording.vpmurec'), rec.header);
  for (const e of rec.epochs) {
    for (const c of rec.checkpoints.filter((x) => x.epoch === e.epoch)) w.writeCheckpoint(c.epoch, c.node, c.epoch === latest ? Buffer.from('not a host state at all') : c.state);
    w.writeEpoch(e.epoch, e.frames.map((f) => ({ node: f.node, batch: f.batch, eventCount: f.eventCount })));
  }
  w.close();
  const r = vpmu(['inspect', out, '--at', '4ms']);
  expect({ code: r.code, trace: hasStackTrace(r.stderr) }).toEqual({ code: 0, trace: false });
  expect(r.stdout).toContain(`(the checkpoint at epoch ${latest} was set aside: its state cannot be restored (`);
  const j = JSON.parse(vpmu(['inspect', out, '--at', '4ms', '--json']).stdout);
  expect(j.restoredFromEpoch === null || j.restoredFromEpoch < latest).toBe(true);
  expect(j.matchesRecording).toBe(true);
});

it.each([
  ['epoch length', { epochNs: 500_000 }],
  ['duration', { durationNs: 9_000_000 }],
])('a header whose %s disagrees with its embedded scenario: replay, export and inspect exit 2 naming both values', (field, change) => {
  const rec = readRecording(source, { requireComplete: true });
  const dir = tempDir('crafted-header');
  const w = new RecordingWriter().open(path.join(dir, 'recording.vpmurec'), { ...rec.header, ...change });
  for (const e of rec.epochs) w.writeEpoch(e.epoch, e.frames.map((f) => ({ node: f.node, batch: f.batch, eventCount: f.eventCount })));
  w.close();
  for (const args of [['replay', dir, '--verify'], ['export', dir, '--format', 'jsonl', '--out', path.join(dir, 'x.jsonl')], ['inspect', dir, '--at', '1ms']]) {
    const r = vpmu(args);
    expect({ args, code: r.code }).toEqual({ args, code: 2 });
    expect(r.stderr).toMatch(new RegExp(`the header of \\S+ says ${field} \\S+ but the scenario recorded in it says \\S+; the recording is inconsistent`));
  }
});
