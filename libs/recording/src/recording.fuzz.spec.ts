// Damage tests: a recording cut at every offset, random byte flips, and random garbage must
// give a clean read (of exactly the original content) or a typed RecordingError naming the
// right last good epoch; never another exception, never a hang.
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { RecordingCorruptError, RecordingEmptyError, RecordingError, RecordingVersionError } from './recording.errors';
import { sampleHeader, tempDir, writeSample } from './recording.fixture';
import { RECORDING_MAGIC, encodeRecordingHeader } from './recording.format';
import { readRecording, Recording } from './recording.reader';

interface RecordSpan {
  start: number;
  end: number;
  field: number;
}

/** Independent parse of the record framing: magic, then varint length + RecordEntry. */
function recordSpans(bytes: Uint8Array): RecordSpan[] {
  const spans: RecordSpan[] = [];
  let pos = RECORDING_MAGIC.length;
  while (pos < bytes.length) {
    let len = 0;
    let shift = 0;
    let p = pos;
    for (;;) {
      const b = bytes[p++];
      len |= (b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    spans.push({ start: pos, end: p + len, field: bytes[p] >> 3 });
    pos = p + len;
  }
  return spans;
}

let dir: string;
let original: Buffer;
let good: Recording;
let spans: RecordSpan[];
let headerEnd: number;

beforeAll(() => {
  dir = tempDir('vpmu-recording-fuzz-');
  const f = path.join(dir, 'original.vpmurec');
  writeSample(f, { epochs: [0, 1, 2, 3, 4], nodes: ['host-a', 'host-b', 'host-c'], eventsPerFrame: 3, checkpointEpochs: [0, 3] });
  original = fs.readFileSync(f);
  good = readRecording(f);
  spans = recordSpans(original);
  headerEnd = spans[0].end;
  expect(spans[0].field).toBe(1);
  expect(spans[spans.length - 1].end).toBe(original.length);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The last epoch whose end marker lies entirely before `offset` (what damage at `offset` keeps). */
function lastEpochEndingBy(offset: number): number | null {
  let last: number | null = null;
  for (const e of good.epochs) if (e.endOffset <= offset) last = e.epoch;
  return last;
}

function tryRead(bytes: Uint8Array, name: string): { rec?: Recording; err?: unknown } {
  const f = path.join(dir, name);
  fs.writeFileSync(f, bytes);
  try {
    return { rec: readRecording(f) };
  } catch (err) {
    return { err };
  }
}

function sameContentAsOriginal(rec: Recording): boolean {
  if (rec.epochs.length !== good.epochs.length || rec.finalDigestHex !== good.finalDigestHex) return false;
  return rec.epochs.every((e, i) =>
    e.frames.every((f, j) => Buffer.from(f.batch).equals(Buffer.from(good.epochs[i].frames[j].batch)) && f.eventCount === good.epochs[i].frames[j].eventCount),
  );
}

describe('truncation at every offset', () => {
  it('is a clean read at record boundaries between epochs and a RecordingCorruptError with the last good epoch elsewhere', () => {
    const cleanCuts = new Set<number>([headerEnd]);
    for (const s of spans) if (s.field === 5 /* EpochEnd */ || s.field === 3 /* Checkpoint */) cleanCuts.add(s.end);
    let clean = 0;
    let corrupt = 0;
    for (let cut = 0; cut <= original.length; cut++) {
      const { rec, err } = tryRead(original.subarray(0, cut), 'cut.vpmurec');
      if (cut === 0) {
        expect(err).toBeInstanceOf(RecordingEmptyError);
      } else if (cut === original.length) {
        expect(rec!.complete).toBe(true);
      } else if (cleanCuts.has(cut)) {
        expect(err).toBeUndefined();
        expect(rec!.complete).toBe(false);
        expect(rec!.lastEpoch).toBe(lastEpochEndingBy(cut));
        clean++;
      } else {
        if (!(err instanceof RecordingCorruptError)) throw new Error(`cut at ${cut}: expected RecordingCorruptError, got ${String(err)}`);
        expect(err.lastGoodEpoch).toBe(lastEpochEndingBy(cut));
        expect(err.message).toMatch(/^recording .* is corrupt at byte \d+ \(.+\); /);
        corrupt++;
      }
    }
    expect(clean).toBe(1 + 5 + 6); // header, 5 epoch ends, 6 checkpoints
    expect(corrupt).toBeGreaterThan(original.length - 20);
  });

  it('keeps the intact prefix usable', () => {
    const cut = good.epochs[2].endOffset + 5;
    const f = path.join(dir, 'prefix.vpmurec');
    fs.writeFileSync(f, original.subarray(0, cut));
    const rec = readRecording(f, { salvage: true });
    expect(rec.corruption!.lastGoodEpoch).toBe(2);
    expect(rec.epochs.map((e) => e.epoch)).toEqual([0, 1, 2]);
    expect(rec.epochs.map((e) => Buffer.from(e.digest).toString('hex'))).toEqual(good.epochs.slice(0, 3).map((e) => Buffer.from(e.digest).toString('hex')));
  });
});

describe('random damage (fast-check)', () => {
  // A flip that changes no decoded value (protobufjs' static decoders ignore the wire-type bits
  // of a known field, for instance) reads cleanly: the content is the original's. So with
  // several flips the error may come from a later one than the first.
  it('byte flips give a typed error with the right last good epoch, or a clean read of the original content', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat({ max: 1_000_000 }), mask: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 3 }),
        (flips) => {
          const bytes = Buffer.from(original);
          let first = Infinity;
          let last = -Infinity;
          for (const { at, mask } of flips) {
            const o = at % bytes.length;
            bytes[o] ^= mask;
            first = Math.min(first, o);
            last = Math.max(last, o);
          }
          if (bytes.equals(original)) return; // flips cancelled out
          const { rec, err } = tryRead(bytes, 'flip.vpmurec');
          if (err === undefined) {
            if (!sameContentAsOriginal(rec!)) throw new Error(`flips ${JSON.stringify(flips)} changed the content without an error`);
            return;
          }
          if (err instanceof RecordingVersionError && first < headerEnd) return; // a version byte was hit
          if (!(err instanceof RecordingCorruptError)) throw new Error(`flips ${JSON.stringify(flips)}: unexpected ${String(err)}`);
          if (flips.length === 1) expect(err.lastGoodEpoch).toBe(lastEpochEndingBy(first));
          else {
            expect(err.lastGoodEpoch ?? -1).toBeGreaterThanOrEqual(lastEpochEndingBy(first) ?? -1);
            expect(err.lastGoodEpoch ?? -1).toBeLessThanOrEqual(lastEpochEndingBy(last) ?? -1);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('random garbage, with or without a valid start, is always a typed RecordingError', () => {
    const validStart = original.subarray(0, headerEnd);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 400 }), fc.constantFrom('none', 'magic', 'header'), (garbage, prefix) => {
        const head = prefix === 'none' ? new Uint8Array(0) : prefix === 'magic' ? RECORDING_MAGIC : validStart;
        const { rec, err } = tryRead(Buffer.concat([head, garbage]), 'garbage.vpmurec');
        if (err !== undefined && !(err instanceof RecordingError)) throw new Error(`unexpected ${String(err)}`);
        if (rec) expect(rec.epochs.length).toBeLessThanOrEqual(garbage.length);
      }),
      { numRuns: 2000 },
    );
  });

  it('random splices of real records (reordered, duplicated, dropped) never read as other content', () => {
    const body = spans.slice(1).map((s) => original.subarray(s.start, s.end));
    const checkpointKeys = new Set(good.checkpoints.map((c) => `${c.epoch}/${c.node}`));
    fc.assert(
      fc.property(fc.array(fc.nat({ max: body.length - 1 }), { maxLength: body.length + 3 }), (order) => {
        const isIdentity = order.length === body.length && order.every((k, i) => k === i);
        const bytes = Buffer.concat([original.subarray(0, headerEnd), ...order.map((k) => body[k])]);
        const { rec, err } = tryRead(bytes, 'splice.vpmurec');
        if (err !== undefined && !(err instanceof RecordingCorruptError)) throw new Error(`unexpected ${String(err)}`);
        if (isIdentity) expect(rec!.complete).toBe(true);
        if (!rec) return;
        // Whatever is accepted is the original's: a prefix of its epochs (checkpoints are
        // optional, so dropping one is fine) and only its checkpoints, each at most once.
        expect(rec.epochs.map((e) => Buffer.from(e.digest).toString('hex'))).toEqual(
          good.epochs.slice(0, rec.epochs.length).map((e) => Buffer.from(e.digest).toString('hex')),
        );
        const seen = rec.checkpoints.map((c) => `${c.epoch}/${c.node}`);
        expect(new Set(seen).size).toBe(seen.length);
        for (const k of seen) expect(checkpointKeys.has(k)).toBe(true);
        if (rec.complete) expect(rec.epochs.length).toBe(good.epochs.length);
      }),
      { numRuns: 1500 },
    );
  });
});

it('the header bytes hashed are exactly the ones in the file', () => {
  const header = encodeRecordingHeader(sampleHeader());
  expect(Buffer.from(original.subarray(headerEnd - header.length, headerEnd))).toEqual(Buffer.from(header));
});
