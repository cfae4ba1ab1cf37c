import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writer } from 'protobufjs/minimal';
import { encodeEventBatch, pb } from '@vpmu/proto';
import { HashChain } from './hash-chain';
import { checkpointCrc, frameCrc } from './recording.format';
import { RecordingCorruptError } from './recording.errors';
import { sampleEvents, sampleHeader, tempDir } from './recording.fixture';
import { readRecording } from './recording.reader';
import { RecordingWriter } from './recording.writer';
import { loadBytes, storeBytes, StoredEncoding } from './stored-bytes.codec';

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
const file = (name = 'recording.vpmurec'): string => path.join(dir, name);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A format-1 file as the first tool versions wrote it: magic byte 1, batches and states stored as they are. */
function writeFormat1(target: string, node: string, batch: Uint8Array, eventCount: number, state: Uint8Array): HashChain {
  const h = sampleHeader();
  const headerBytes = pb.RecordingHeader.encode({ magic: 'vpmurec', formatVersion: 1, ...h, scenarioName: h.scenarioName ?? '' }).finish();
  const chain = new HashChain(headerBytes);
  const w = Writer.create();
  w.fork().uint32((1 << 3) | 2).bytes(headerBytes).ldelim();
  const entry = (field: number, write: (x: Writer) => void): void => {
    w.fork().uint32((field << 3) | 2).fork();
    write(w);
    w.ldelim().ldelim();
  };
  entry(3, (x) => pb.Checkpoint.encode({ epoch: 0, node, state, crc32c: checkpointCrc(state, 0, utf8(node)) }, x));
  const runningHash = chain.addFrame(0, node, batch);
  entry(2, (x) => pb.RecordingFrame.encode({ epoch: 0, node, batch, crc32c: frameCrc(batch, 0, eventCount, utf8(node)), runningHash, eventCount }, x));
  chain.endEpoch(0);
  entry(5, (x) => pb.EpochEnd.encode({ epoch: 0, frameCount: 1 }, x));
  entry(4, (x) =>
    pb.RecordingTrailer.encode({ epochs: [...chain.epochDigests], finalDigest: chain.current, totalEvents: eventCount, finalEpoch: 0, contentDigest: chain.content }, x),
  );
  fs.writeFileSync(target, Buffer.concat([Buffer.from('VPMUREC\x01', 'latin1'), w.finish()]));
  return chain;
}

describe('recording format 2: how batches and checkpoints are stored', () => {
  it('stores a large batch and checkpoint deflated and reads back the original bytes; the digest is over the originals', () => {
    const events = sampleEvents(0, 'host-a', 400);
    const batch = encodeEventBatch(events);
    const state = utf8('checkpointed world state '.repeat(200));
    const w = new RecordingWriter().open(file(), sampleHeader());
    w.writeCheckpoint(0, 'host-a', state);
    w.writeEpoch(0, [{ node: 'host-a', batch, eventCount: events.length }]);
    const result = w.close();
    const rec = readRecording(file());
    expect(Buffer.from(rec.epochs[0].frames[0].batch)).toEqual(Buffer.from(batch));
    expect(Buffer.from(rec.checkpoints[0].state)).toEqual(Buffer.from(state));
    expect(result.bytes).toBeLessThan(batch.length / 2 + state.length / 2);
    const chain = HashChain.forHeader(sampleHeader());
    chain.addEpoch(0, [{ node: 'host-a', batch }]);
    expect(rec.finalDigestHex).toBe(chain.currentHex);
    expect(result.contentDigestHex).toBe(chain.contentHex);
  });

  it('finds damage in a deflated batch by its CRC, before inflating it', () => {
    const events = sampleEvents(0, 'host-a', 400);
    const w = new RecordingWriter().open(file(), sampleHeader());
    w.writeEpoch(0, [{ node: 'host-a', batch: encodeEventBatch(events), eventCount: events.length }]);
    w.close();
    const bytes = fs.readFileSync(file());
    bytes[Math.floor(bytes.length / 2)] ^= 0x40;
    fs.writeFileSync(file(), bytes);
    expect(() => readRecording(file())).toThrow(RecordingCorruptError);
  });

  it('still reads a format-1 recording (batches and checkpoints stored as they are)', () => {
    const events = sampleEvents(0, 'host-a', 400);
    const batch = encodeEventBatch(events);
    const state = utf8('{"v":1,"root":null,"nodes":[]}');
    const chain = writeFormat1(file(), 'host-a', batch, events.length, state);
    const rec = readRecording(file(), { requireComplete: true });
    expect(rec.header.formatVersion).toBe(1);
    expect(Buffer.from(rec.epochs[0].frames[0].batch)).toEqual(Buffer.from(batch));
    expect(Buffer.from(rec.checkpoints[0].state)).toEqual(Buffer.from(state));
    expect(rec.finalDigestHex).toBe(chain.currentHex);
  });

  it('keeps bytes that do not shrink as they are, and refuses an unknown encoding', () => {
    expect(storeBytes(utf8('short'), 1).encoding).toBe(StoredEncoding.Plain);
    const packed = storeBytes(utf8('x'.repeat(1000)), 1);
    expect(packed.encoding).toBe(StoredEncoding.Deflate);
    expect(Buffer.from(loadBytes(packed.bytes, packed.encoding)!).toString()).toBe('x'.repeat(1000));
    expect(loadBytes(packed.bytes, 7)).toBeNull();
    expect(loadBytes(utf8('not deflate at all'), StoredEncoding.Deflate)).toBeNull();
  });
});
