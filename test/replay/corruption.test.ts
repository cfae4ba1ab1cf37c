// Damaged recordings through the real CLI: truncation at random offsets and random byte flips
// of a real recording give exit 2 and one sentence naming the last good epoch (the last epoch
// whose bytes all lie before the damage), never a crash, a stack trace or a hang.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRecording } from '@vpmu/recording';
import { hasStackTrace, vpmu } from '../support/cli';
import { record, seededInts } from './replay-support';

let rec: string;
let bytes: Buffer;
let endOffsets: { epoch: number; endOffset: number }[];
let dir: string;

beforeAll(async () => {
  const r = await record('quickstart.yaml', { seed: 21, duration: '60ms' });
  rec = r.rec;
  dir = r.outDir;
  bytes = fs.readFileSync(rec);
  endOffsets = readRecording(rec).epochs.map((e) => ({ epoch: e.epoch, endOffset: e.endOffset }));
});

/** The last epoch that lies wholly before byte `offset`, or null. */
function expectedLastGood(offset: number): number | null {
  let last: number | null = null;
  for (const e of endOffsets) if (e.endOffset <= offset) last = e.epoch;
  return last;
}

function expectExit2NamingLastGood(file: string, damageAt: number, args: string[] = ['--verify']): void {
  const started = Date.now();
  const r = vpmu(['replay', file, ...args], { timeoutMs: 30_000 });
  expect(Date.now() - started).toBeLessThan(30_000);
  expect(r.code).toBe(2);
  expect(hasStackTrace(r.stderr)).toBe(false);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  if (damageAt < 8) {
    expect(r.stderr).toMatch(/not a vpmu-lab recording|newer than this tool|corrupt at byte/);
    return;
  }
  const want = expectedLastGood(damageAt);
  if (want === null) {
    expect(r.stderr).toMatch(/no epoch is intact/);
  } else {
    const m = /epochs up to (\d+) are intact and usable/.exec(r.stderr);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(want);
  }
}

const CASES = 10;

describe('truncated recordings', () => {
  const next = seededInts(0x5eed);
  const offsets = Array.from({ length: CASES }, () => next(1 << 30));
  it.each(offsets.map((o, i) => [i, o]))('case %i → exit 2 with the last good epoch', (_i, o) => {
    const at = 1 + (o % (bytes.length - 1)); // 1 .. size-1
    const file = path.join(dir, `trunc-${at}.vpmurec`);
    fs.writeFileSync(file, bytes.subarray(0, at));
    expectExit2NamingLastGood(file, at);
  });
});

describe('recordings with a flipped byte', () => {
  const next = seededInts(0xf11b);
  const picks = Array.from({ length: CASES }, () => [next(1 << 30), 1 + next(255)]);
  it.each(picks.map(([o, x], i) => [i, o, x]))('case %i → exit 2 with the last good epoch', (_i, o, x) => {
    const at = o % bytes.length;
    const damaged = Buffer.from(bytes);
    damaged[at] ^= x;
    const file = path.join(dir, `flip-${at}.vpmurec`);
    fs.writeFileSync(file, damaged);
    expectExit2NamingLastGood(file, at);
  });

  it('the same sentence when streaming and exporting, and no output file is left', () => {
    const at = endOffsets[20].endOffset + 5;
    const damaged = Buffer.from(bytes);
    damaged[at] ^= 0x40;
    const file = path.join(dir, 'flip-stream.vpmurec');
    fs.writeFileSync(file, damaged);
    expectExit2NamingLastGood(file, at, ['--out', path.join(dir, 'viewers')]);
    expect(fs.existsSync(path.join(dir, 'viewers', 'trace.perfetto.json'))).toBe(false);
    const out = path.join(dir, 'flip.jsonl');
    const e = vpmu(['export', file, '--format', 'jsonl', '--out', out]);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(new RegExp(`epochs up to ${endOffsets[20].epoch} are intact`));
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(out + '.partial')).toBe(false);
  });
});
