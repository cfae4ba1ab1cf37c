import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writer } from 'protobufjs/minimal';
import { decodeEventBatch, pb } from '@vpmu/proto';
import { HashChain } from './hash-chain';
import { RECORDING_MAGIC } from './recording.format';
import {
  RecordingBadMagicError,
  RecordingCorruptError,
  RecordingEmptyError,
  RecordingIoError,
  RecordingNotFoundError,
  RecordingVersionError,
} from './recording.errors';
import { checkpointState, sampleEvents, sampleHeader, tempDir, writeSample } from './recording.fixture';
import { findCheckpointAtOrBefore, iterateRecording, readRecording } from './recording.reader';
import { RecordingWriter } from './recording.writer';
import { rewriteRecording } from './recording.rewrite';

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
const file = (name = 'recording.vpmurec'): string => path.join(dir, name);

describe('RecordingWriter → readRecording round trip', () => {
  it('reads back the header, every frame, the digests and the trailer', () => {
    const { result, epochs } = writeSample(file(), { checkpointEpochs: [0, 2] });
    const rec = readRecording(file());

    expect(rec.header).toEqual({ ...sampleHeader(), magic: 'vpmurec', formatVersion: 2 });
    expect(rec.complete).toBe(true);
    expect(rec.corruption).toBeNull();
    expect(rec.epochs.map((e) => e.epoch)).toEqual([0, 1, 2, 3]);
    for (const [i, e] of rec.epochs.entries()) {
      // Canonical order: node ids ascending, whatever order the caller passed.
      expect(e.frames.map((f) => f.node)).toEqual(['host-a', 'host-b']);
      for (const f of e.frames) {
        const sent = epochs[i].frames.find((x) => x.node === f.node)!;
        expect(Buffer.from(f.batch)).toEqual(Buffer.from(sent.batch));
        expect(f.eventCount).toBe(5);
        expect(decodeEventBatch(f.batch)).toEqual(sampleEvents(e.epoch, f.node, 5));
      }
    }
    expect(rec.checkpoints.map((c) => [c.epoch, c.node])).toEqual([
      [0, 'host-b'],
      [0, 'host-a'],
      [2, 'host-b'],
      [2, 'host-a'],
    ]);
    expect(Buffer.from(rec.checkpoints[3].state)).toEqual(Buffer.from(checkpointState(2, 'host-a')));
    expect(rec.totalEvents).toBe(40);
    expect(result.totalEvents).toBe(40);
    expect(result.bytes).toBe(fs.statSync(file()).size);
    expect(rec.bytes).toBe(result.bytes);
    expect(rec.finalDigestHex).toBe(result.finalDigestHex);
    expect(rec.trailer!.finalDigestHex).toBe(result.finalDigestHex);
    expect(rec.trailer!.finalEpoch).toBe(3);
    expect(rec.lastEpoch).toBe(3);
    expect(result).toMatchObject({ epochs: 4, frames: 8, checkpoints: 4 });
  });

  it('starts with the magic and a length-prefixed header record', () => {
    writeSample(file());
    const bytes = fs.readFileSync(file());
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from('VPMUREC\x02', 'latin1'));
    expect(Buffer.from(RECORDING_MAGIC)).toEqual(Buffer.from('VPMUREC\x02', 'latin1'));
    expect(bytes[9]).toBe(0x0a); // RecordEntry.header, length-delimited
  });

  it('gives the same digest as a HashChain computed in memory', () => {
    const { result, epochs } = writeSample(file(), { epochs: [0, 1, 5, 6], checkpointEpochs: [5] });
    const chain = HashChain.forHeader(sampleHeader());
    for (const e of epochs) chain.addEpoch(e.epoch, e.frames);
    expect(result.finalDigestHex).toBe(chain.currentHex);
    const rec = readRecording(file());
    expect(rec.epochs.map((e) => Buffer.from(e.digest).toString('hex'))).toEqual(chain.epochDigests.map((d) => Buffer.from(d.digest).toString('hex')));
  });

  it('writes byte-identical files for identical input, and another digest for another seed', () => {
    const a = writeSample(file('a.vpmurec')).result;
    const b = writeSample(file('b.vpmurec')).result;
    const c = writeSample(file('c.vpmurec'), {}, sampleHeader({ seed: 7 })).result;
    expect(fs.readFileSync(file('a.vpmurec'))).toEqual(fs.readFileSync(file('b.vpmurec')));
    expect(a.finalDigestHex).toBe(b.finalDigestHex);
    expect(c.finalDigestHex).not.toBe(a.finalDigestHex);
  });

  it('reads the same through tiny chunks (records spanning chunk boundaries)', () => {
    writeSample(file(), { checkpointEpochs: [1] });
    const whole = readRecording(file());
    for (const chunkBytes of [1, 3, 7, 64]) {
      const small = readRecording(file(), { chunkBytes });
      expect(small.finalDigestHex).toBe(whole.finalDigestHex);
      expect(small.epochs.map((e) => e.frames.map((f) => Buffer.from(f.batch).toString('hex')))).toEqual(
        whole.epochs.map((e) => e.frames.map((f) => Buffer.from(f.batch).toString('hex'))),
      );
    }
  });

  it('keeps epochs without frames and gaps between epochs', () => {
    const w = new RecordingWriter().open(file(), sampleHeader());
    w.writeEpoch(0, []);
    w.writeEpoch(3, [{ node: 'n', batch: new Uint8Array([1, 2]), eventCount: 0 }]);
    w.writeEpoch(4, []);
    const result = w.close();
    const rec = readRecording(file());
    expect(rec.epochs.map((e) => [e.epoch, e.frames.length])).toEqual([
      [0, 0],
      [3, 1],
      [4, 0],
    ]);
    expect(rec.finalDigestHex).toBe(result.finalDigestHex);
    expect(rec.complete).toBe(true);
  });

  it('reads a recording with no epochs at all', () => {
    const result = new RecordingWriter().open(file(), sampleHeader()).close();
    const rec = readRecording(file());
    expect(rec.complete).toBe(true);
    expect(rec.epochs).toEqual([]);
    expect(rec.lastEpoch).toBeNull();
    expect(rec.finalDigestHex).toBe(result.finalDigestHex);
  });

  it('streams items in file order and ends with an end item', () => {
    writeSample(file(), { epochs: [0, 1], checkpointEpochs: [1] });
    const kinds = [...iterateRecording(file())].map((i) => (i.kind === 'epoch' || i.kind === 'checkpoint' ? `${i.kind}:${i.epoch}` : i.kind));
    expect(kinds).toEqual(['header', 'epoch:0', 'checkpoint:1', 'checkpoint:1', 'epoch:1', 'trailer', 'end']);
  });
});

describe('writing safely', () => {
  it('writes to PATH.partial and renames only on close', () => {
    const w = new RecordingWriter().open(file(), sampleHeader());
    w.writeEpoch(0, []);
    expect(fs.existsSync(file())).toBe(false);
    expect(fs.existsSync(file() + '.partial')).toBe(true);
    w.close();
    expect(fs.existsSync(file())).toBe(true);
    expect(fs.existsSync(file() + '.partial')).toBe(false);
  });

  it('abort() removes the partial file and leaves nothing under the final name', () => {
    const w = new RecordingWriter().open(file(), sampleHeader());
    w.writeEpoch(0, []);
    w.abort();
    w.abort();
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(() => w.writeEpoch(1, [])).toThrow(/aborted/);
  });

  it('is readable while being written: epochs so far, complete: false', () => {
    const w = new RecordingWriter().open(file(), sampleHeader());
    const batch = new Uint8Array([9, 9, 9]);
    w.writeEpoch(0, [{ node: 'host-a', batch, eventCount: 1 }]);
    w.writeCheckpoint(1, 'host-a', new Uint8Array([1]));
    w.writeEpoch(1, [{ node: 'host-a', batch, eventCount: 1 }]);
    const live = readRecording(file()); // falls back to recording.vpmurec.partial
    expect(live.complete).toBe(false);
    expect(live.epochs.map((e) => e.epoch)).toEqual([0, 1]);
    expect(live.finalDigestHex).toBe(w.digestHex);
    expect(findCheckpointAtOrBefore(file(), 5)!.epoch).toBe(1);

    // A torn tail (the writer mid-write) is where the writer is, not damage, for a growing file.
    fs.appendFileSync(file() + '.partial', Buffer.from([0x40, 0x12, 0x01]));
    expect(readRecording(file()).epochs.length).toBe(2);
    w.abort();
  });

  it('a finished file without a trailer reads as incomplete, or fails with requireComplete', () => {
    const { result } = writeSample(file());
    const bytes = fs.readFileSync(file());
    const rec = readRecording(file());
    const cut = rec.epochs[rec.epochs.length - 1].endOffset;
    expect(cut).toBeLessThan(result.bytes);
    fs.writeFileSync(file('cut.vpmurec'), bytes.subarray(0, cut));
    const partial = readRecording(file('cut.vpmurec'));
    expect(partial.complete).toBe(false);
    expect(partial.lastEpoch).toBe(3);
    expect(() => readRecording(file('cut.vpmurec'), { requireComplete: true })).toThrow(RecordingCorruptError);
    try {
      readRecording(file('cut.vpmurec'), { requireComplete: true });
    } catch (err) {
      expect((err as RecordingCorruptError).lastGoodEpoch).toBe(3);
      expect((err as Error).message).toMatch(/without a trailer.*epochs up to 3 are intact/);
    }
  });

  it('an unwritable location is a RecordingIoError naming the path', () => {
    const target = path.join(dir, 'no-such-dir', 'recording.vpmurec');
    expect(() => new RecordingWriter().open(target, sampleHeader())).toThrow(RecordingIoError);
    expect(() => new RecordingWriter().open(target, sampleHeader())).toThrow(/cannot create recording .*no-such-dir.* \(ENOENT\)/);
  });

  it('rejects caller bugs without corrupting the file', () => {
    const w = new RecordingWriter().open(file(), sampleHeader());
    w.writeEpoch(2, []);
    expect(() => w.writeEpoch(2, [])).toThrow(/above the last written epoch 2/);
    expect(() => w.writeEpoch(3, [{ node: 'a', batch: new Uint8Array(), eventCount: 0 }, { node: 'a', batch: new Uint8Array(), eventCount: 0 }])).toThrow(/two frames/);
    expect(() => w.writeEpoch(3, [{ node: 'a', batch: new Uint8Array(), eventCount: -1 }])).toThrow(/eventCount/);
    expect(() => w.writeEpoch(3, [{ node: 'a\0b', batch: new Uint8Array(), eventCount: 0 }])).toThrow(/NUL/);
    expect(() => w.writeCheckpoint(2, 'a', new Uint8Array())).toThrow(/above the last written epoch/);
    w.writeEpoch(3, [{ node: 'a', batch: new Uint8Array([1]), eventCount: 1 }]);
    w.close();
    expect(readRecording(file()).epochs.map((e) => e.epoch)).toEqual([2, 3]);
    expect(() => w.close()).toThrow(/closed/);
  });
});

describe('files that cannot be read', () => {
  it('missing file', () => {
    expect(() => readRecording(file('nope.vpmurec'))).toThrow(RecordingNotFoundError);
    expect(() => readRecording(file('nope.vpmurec'))).toThrow(/nope.vpmurec does not exist/);
  });

  it('empty file', () => {
    fs.writeFileSync(file(), '');
    expect(() => readRecording(file())).toThrow(RecordingEmptyError);
    expect(() => readRecording(file())).toThrow(/is empty/);
  });

  it('a directory', () => {
    expect(() => readRecording(dir)).toThrow(RecordingIoError);
  });

  it('wrong magic', () => {
    fs.writeFileSync(file(), 'version: 1\nname: not a recording\n');
    expect(() => readRecording(file())).toThrow(RecordingBadMagicError);
    expect(() => readRecording(file())).toThrow(/is not a vpmu-lab recording/);
    let err: unknown;
    try {
      readRecording(file());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RecordingCorruptError);
    expect((err as RecordingCorruptError).lastGoodEpoch).toBeNull();
    expect((err as RecordingCorruptError).code).toBe('recording-corrupt');
    expect((err as RecordingCorruptError).retriable).toBe(false);
  });

  it('a newer format version in the magic byte', () => {
    writeSample(file());
    const bytes = fs.readFileSync(file());
    bytes[7] = 3;
    fs.writeFileSync(file(), bytes);
    expect(() => readRecording(file())).toThrow(RecordingVersionError);
    expect(() => readRecording(file())).toThrow("recording format v3 is newer than this tool's v2; upgrade vpmu-lab");
  });

  it('a newer format version in the header', () => {
    const header = pb.RecordingHeader.encode({ ...sampleHeader(), magic: 'vpmurec', formatVersion: 3 }).finish();
    const w = Writer.create();
    w.fork().uint32(0x0a).bytes(header).ldelim();
    fs.writeFileSync(file(), Buffer.concat([Buffer.from(RECORDING_MAGIC), w.finish()]));
    expect(() => readRecording(file())).toThrow(/recording format v3 is newer than this tool's v2; upgrade vpmu-lab/);
    expect(() => readRecording(file())).toThrow(RecordingVersionError);
  });

  it('salvage returns the intact prefix with the corruption', () => {
    writeSample(file());
    const bytes = fs.readFileSync(file());
    const rec = readRecording(file());
    bytes[rec.epochs[2].endOffset - 30] ^= 0x55; // inside epoch 2's last frame or its end marker
    fs.writeFileSync(file('bad.vpmurec'), bytes);
    expect(() => readRecording(file('bad.vpmurec'))).toThrow(RecordingCorruptError);
    const salvaged = readRecording(file('bad.vpmurec'), { salvage: true });
    expect(salvaged.corruption!.lastGoodEpoch).toBe(1);
    expect(salvaged.epochs.map((e) => e.epoch)).toEqual([0, 1]);
    expect(salvaged.complete).toBe(false);
    // ...and the prefix can be sealed into a valid recording of its own.
    const sealed = rewriteRecording(file('bad.vpmurec'), file('prefix.vpmurec'), { salvage: true });
    expect(sealed.epochs).toBe(2);
    expect(readRecording(file('prefix.vpmurec')).complete).toBe(true);
  });
});

describe('findCheckpointAtOrBefore', () => {
  it('finds the latest checkpoint set at or before an epoch, from a path or a recording', () => {
    writeSample(file(), { epochs: [0, 1, 2, 3, 4, 5], checkpointEpochs: [0, 2, 4] });
    const rec = readRecording(file());
    for (const src of [file(), rec]) {
      expect(findCheckpointAtOrBefore(src, 0)!.epoch).toBe(0);
      expect(findCheckpointAtOrBefore(src, 1)!.epoch).toBe(0);
      const at3 = findCheckpointAtOrBefore(src, 3)!;
      expect(at3.epoch).toBe(2);
      expect(at3.checkpoints.map((c) => c.node)).toEqual(['host-b', 'host-a']);
      expect(Buffer.from(at3.checkpoints[1].state).toString()).toBe('state of host-a at epoch 2');
      expect(findCheckpointAtOrBefore(src, 99)!.epoch).toBe(4);
    }
  });

  it('returns null when there is none early enough', () => {
    writeSample(file(), { epochs: [0, 1, 2], checkpointEpochs: [2] });
    expect(findCheckpointAtOrBefore(file(), 1)).toBeNull();
  });

  it('stops reading once later checkpoints cannot qualify (damage further on is not reached)', () => {
    writeSample(file(), { epochs: [0, 1, 2, 3], checkpointEpochs: [1] });
    const rec = readRecording(file());
    const bytes = fs.readFileSync(file());
    bytes[rec.epochs[3].endOffset - 10] ^= 0xff;
    fs.writeFileSync(file(), bytes);
    expect(findCheckpointAtOrBefore(file(), 1)!.epoch).toBe(1);
    expect(() => findCheckpointAtOrBefore(file(), 3)).toThrow(RecordingCorruptError);
  });
});
