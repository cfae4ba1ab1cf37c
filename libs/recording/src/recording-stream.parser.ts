// The streaming parser behind iterateRecording: walks a recording's records in file order,
// verifying as it goes: magic and format version, each frame's CRC32C, the hash chain, each
// epoch's end marker and the trailer. An epoch is yielded only once all of its frames passed,
// so when a RecordingCorruptError is thrown everything yielded before it is intact and its
// `lastGoodEpoch` is the last epoch yielded.
//
// The file is read through a chunked buffer (1 MiB reads). Records inside a chunk are handed
// out as views, never copied, and a chunk is never reused, so yielded batches stay valid for
// as long as the caller keeps them. Nothing is decoded per event here.
import * as fs from 'node:fs';
import { pb, vpmu } from '@vpmu/proto';
import { HashChain } from './hash-chain';
import type { RecordedFrame, RecordingItem, RecordingTrailerInfo } from './recording-item.types';
import {
  bytesEqual,
  checkpointCrc,
  compareNodeBytes,
  EntryField,
  frameCrc,
  headerInfoFromMessage,
  NodeIdBytes,
  RECORDING_FORMAT_VERSION,
  RECORDING_OLDEST_READABLE_VERSION,
  RECORDING_HEADER_MAGIC,
  RECORDING_MAGIC,
  RecordingHeaderInfo,
  toHex,
} from './recording.format';
import { loadBytes } from './stored-bytes.codec';
import { RecordingBadMagicError, RecordingCorruptError, RecordingIoError, RecordingVersionError } from './recording.errors';

const EMPTY = new Uint8Array(0);
/** No single record is this large; a longer length field is damage, not data. */
const MAX_RECORD_BYTES = 1 << 30;

/** Thrown inside the parser to stop quietly at the writer's position in a growing file. */
class StopAtWriter {}

interface RawRecord {
  field: number;
  payload: Uint8Array;
  offset: number;
}

interface OpenEpoch {
  epoch: number;
  frames: RecordedFrame[];
  lastNode: Uint8Array | null;
  eventCount: number;
}

export class RecordingParser {
  private readonly src: ChunkedFile;
  private readonly nodes = new NodeIdBytes();
  private chain: HashChain | null = null;
  private lastGoodEpoch: number | null = null;
  private goodBytes = 0;
  private epochCount = 0;
  private totalEvents = 0;
  private open: OpenEpoch | null = null;
  private checkpointEpoch = -1;
  private readonly checkpointNodes = new Set<string>();
  /** The file's format version (its magic's last byte): format 1 stores every batch and state as is. */
  private formatVersion = RECORDING_FORMAT_VERSION;

  constructor(
    private readonly path: string,
    fd: number,
    private readonly size: number,
    private readonly growing: boolean,
    private readonly requireComplete: boolean,
    chunkBytes: number,
  ) {
    this.src = new ChunkedFile(path, fd, size, chunkBytes);
  }

  *items(): Generator<RecordingItem, void, undefined> {
    let complete = false;
    try {
      yield { kind: 'header', header: this.readMagicAndHeader() };
      for (;;) {
        const rec = this.readRecord();
        if (rec === null) break;
        switch (rec.field) {
          case EntryField.Frame:
            this.onFrame(rec);
            break;
          case EntryField.EpochEnd:
            yield this.onEpochEnd(rec);
            break;
          case EntryField.Checkpoint:
            yield this.onCheckpoint(rec);
            break;
          case EntryField.Trailer:
            yield { kind: 'trailer', trailer: this.onTrailer(rec) };
            complete = true;
            break;
          case EntryField.Header:
            throw this.corrupt('a second header inside the file', rec.offset);
        }
        if (complete) break;
      }
      if (this.open !== null) this.truncated(`the file ends inside epoch ${this.open.epoch}`, this.src.offset);
      if (!complete && this.requireComplete) throw this.corrupt('the file ends without a trailer', this.src.offset);
    } catch (err) {
      if (!(err instanceof StopAtWriter)) throw err;
    }
    const chain = this.chain;
    yield {
      kind: 'end',
      complete,
      bytes: this.goodBytes,
      finalDigestHex: chain ? toHex(chain.current) : '',
      contentDigestHex: chain ? chain.contentHex : '',
      totalEvents: this.totalEvents,
      epochCount: this.epochCount,
      lastEpoch: this.lastGoodEpoch,
    };
  }

  private readMagicAndHeader(): RecordingHeaderInfo {
    const n = RECORDING_MAGIC.length;
    const avail = Math.min(n, this.size);
    // Without a whole header nothing is usable, growing file or not.
    if (avail === 0) throw this.corrupt('the file is empty', 0); // only a fresh .partial gets here
    this.ensure(avail, 0);
    const head = this.src.take(avail);
    for (let i = 0; i < Math.min(avail, n - 1); i++) {
      if (head[i] !== RECORDING_MAGIC[i]) throw new RecordingBadMagicError(this.path);
    }
    if (avail === n) {
      const version = head[n - 1];
      if (version > RECORDING_FORMAT_VERSION) throw new RecordingVersionError(this.path, version, RECORDING_FORMAT_VERSION);
      if (version < RECORDING_OLDEST_READABLE_VERSION) throw new RecordingBadMagicError(this.path);
      this.formatVersion = version;
    }
    if (avail < n) throw this.corrupt('the file ends inside the magic bytes', 0);
    let rec: RawRecord | null;
    try {
      rec = this.readRecord();
    } catch (err) {
      if (err instanceof StopAtWriter) throw this.corrupt('the file ends inside the header', n);
      throw err;
    }
    if (rec === null) throw this.corrupt('the file ends before the header', n);
    if (rec.field !== EntryField.Header) throw this.corrupt('the first record is not the header', rec.offset);
    let h: vpmu.v1.RecordingHeader;
    try {
      h = pb.RecordingHeader.decode(rec.payload);
    } catch {
      throw this.corrupt('the header is not decodable', rec.offset);
    }
    if (h.formatVersion > RECORDING_FORMAT_VERSION) throw new RecordingVersionError(this.path, h.formatVersion, RECORDING_FORMAT_VERSION);
    if (h.magic !== RECORDING_HEADER_MAGIC || h.formatVersion !== this.formatVersion) {
      throw this.corrupt(`the header does not identify a v${this.formatVersion} recording`, rec.offset);
    }
    this.chain = new HashChain(rec.payload);
    this.goodBytes = this.src.offset;
    return headerInfoFromMessage(h);
  }

  private onFrame(rec: RawRecord): void {
    let f: vpmu.v1.RecordingFrame;
    try {
      f = pb.RecordingFrame.decode(rec.payload);
    } catch {
      throw this.corrupt('a frame is not decodable', rec.offset);
    }
    const epoch = f.epoch;
    let open = this.open;
    if (open === null) {
      if (this.lastGoodEpoch !== null && epoch <= this.lastGoodEpoch) {
        throw this.corrupt(`a frame of epoch ${epoch} follows the end of epoch ${this.lastGoodEpoch}`, rec.offset);
      }
      open = this.open = { epoch, frames: [], lastNode: null, eventCount: 0 };
    } else if (epoch !== open.epoch) {
      throw this.corrupt(`a frame of epoch ${epoch} inside epoch ${open.epoch}`, rec.offset);
    }
    const node = f.node;
    if (node.length === 0 || node.includes('\0')) throw this.corrupt(`a frame of epoch ${epoch} has a bad node id`, rec.offset);
    const nodeBytes = this.nodes.get(node);
    if (open.lastNode !== null && compareNodeBytes(open.lastNode, nodeBytes) >= 0) {
      throw this.corrupt(`frames of epoch ${epoch} are out of node order`, rec.offset);
    }
    if (frameCrc(f.batch, epoch, f.eventCount, nodeBytes) !== f.crc32c) {
      throw this.corrupt(`CRC32C mismatch in the frame of node ${node}, epoch ${epoch}`, rec.offset);
    }
    const batch = this.formatVersion >= 2 ? loadBytes(f.batch, f.encoding) : f.batch;
    if (batch === null) throw this.corrupt(`the batch of node ${node}, epoch ${epoch} does not inflate (encoding ${f.encoding})`, rec.offset);
    // The count is CRC-protected but not decoded here: every encoded event takes at least one
    // byte of its (inflated) batch, so a larger count (0xffffffff in a small frame) is damage or forgery.
    if (f.eventCount > batch.length) {
      throw this.corrupt(`the frame of node ${node}, epoch ${epoch} claims ${f.eventCount} events in a batch of ${batch.length} bytes`, rec.offset);
    }
    const runningHash = this.chain!.addFrame(epoch, node, batch);
    if (!bytesEqual(runningHash, f.runningHash)) {
      throw this.corrupt(`hash chain broken at the frame of node ${node}, epoch ${epoch}`, rec.offset);
    }
    open.lastNode = nodeBytes;
    open.eventCount += f.eventCount;
    open.frames.push({ epoch, node, batch, eventCount: f.eventCount, runningHash });
  }

  private onEpochEnd(rec: RawRecord): RecordingItem {
    let m: vpmu.v1.EpochEnd;
    try {
      m = pb.EpochEnd.decode(rec.payload);
    } catch {
      throw this.corrupt('an epoch end marker is not decodable', rec.offset);
    }
    const open = this.open;
    const frames = open ? open.frames : [];
    if (open !== null ? m.epoch !== open.epoch : this.lastGoodEpoch !== null && m.epoch <= this.lastGoodEpoch) {
      throw this.corrupt(`end marker of epoch ${m.epoch} out of place`, rec.offset);
    }
    if (m.frameCount !== frames.length) {
      throw this.corrupt(`epoch ${m.epoch} should have ${m.frameCount} frames but ${frames.length} are present`, rec.offset);
    }
    const digest = this.chain!.endEpoch(m.epoch);
    const eventCount = open ? open.eventCount : 0;
    this.open = null;
    this.lastGoodEpoch = m.epoch;
    this.epochCount++;
    this.totalEvents += eventCount;
    this.goodBytes = this.src.offset;
    return { kind: 'epoch', epoch: m.epoch, frames, digest, eventCount, endOffset: this.goodBytes };
  }

  private onCheckpoint(rec: RawRecord): RecordingItem {
    if (this.open !== null) throw this.corrupt(`a checkpoint inside epoch ${this.open.epoch}`, rec.offset);
    let c: vpmu.v1.Checkpoint;
    try {
      c = pb.Checkpoint.decode(rec.payload);
    } catch {
      throw this.corrupt('a checkpoint is not decodable', rec.offset);
    }
    if (this.lastGoodEpoch !== null && c.epoch <= this.lastGoodEpoch) {
      throw this.corrupt(`a checkpoint of epoch ${c.epoch} follows the end of epoch ${this.lastGoodEpoch}`, rec.offset);
    }
    if (c.node.length === 0 || checkpointCrc(c.state, c.epoch, this.nodes.get(c.node)) !== c.crc32c) {
      throw this.corrupt(`CRC32C mismatch in the checkpoint of epoch ${c.epoch}`, rec.offset);
    }
    const state = this.formatVersion >= 2 ? loadBytes(c.state, c.encoding) : c.state;
    if (state === null) throw this.corrupt(`the checkpoint of node ${c.node}, epoch ${c.epoch} does not inflate (encoding ${c.encoding})`, rec.offset);
    if (c.epoch !== this.checkpointEpoch) {
      if (c.epoch < this.checkpointEpoch) throw this.corrupt(`a checkpoint of epoch ${c.epoch} after one of epoch ${this.checkpointEpoch}`, rec.offset);
      this.checkpointEpoch = c.epoch;
      this.checkpointNodes.clear();
    }
    if (this.checkpointNodes.has(c.node)) throw this.corrupt(`a second checkpoint of node ${c.node} for epoch ${c.epoch}`, rec.offset);
    this.checkpointNodes.add(c.node);
    this.goodBytes = this.src.offset;
    return { kind: 'checkpoint', epoch: c.epoch, node: c.node, state };
  }

  private onTrailer(rec: RawRecord): RecordingTrailerInfo {
    if (this.open !== null) throw this.corrupt(`the trailer inside epoch ${this.open.epoch}`, rec.offset);
    let t: vpmu.v1.RecordingTrailer;
    try {
      t = pb.RecordingTrailer.decode(rec.payload);
    } catch {
      throw this.corrupt('the trailer is not decodable', rec.offset);
    }
    const chain = this.chain!;
    const ours = chain.epochDigests;
    if (t.epochs.length !== ours.length) throw this.corrupt(`the trailer lists ${t.epochs.length} epochs, the file has ${ours.length}`, rec.offset);
    for (let i = 0; i < ours.length; i++) {
      const d = t.epochs[i];
      if (d.epoch !== ours[i].epoch || !bytesEqual(d.digest ?? EMPTY, ours[i].digest)) {
        throw this.corrupt(`the trailer's digest of epoch ${ours[i].epoch} does not match`, rec.offset);
      }
    }
    if (!bytesEqual(t.finalDigest, chain.current)) throw this.corrupt("the trailer's final digest does not match", rec.offset);
    if (t.contentDigest.length > 0 && !bytesEqual(t.contentDigest, chain.content)) throw this.corrupt("the trailer's content digest does not match", rec.offset);
    if (Number(t.totalEvents) !== this.totalEvents) throw this.corrupt("the trailer's event total does not match", rec.offset);
    if (t.finalEpoch !== (this.lastGoodEpoch ?? 0)) throw this.corrupt("the trailer's final epoch does not match", rec.offset);
    if (this.src.offset !== this.size) throw this.corrupt('unexpected bytes after the trailer', this.src.offset);
    this.goodBytes = this.src.offset;
    return {
      epochDigests: ours.slice(),
      finalDigestHex: chain.currentHex,
      contentDigestHex: chain.contentHex,
      totalEvents: this.totalEvents,
      finalEpoch: t.finalEpoch,
    };
  }

  /** Next record, or null at a clean end of file. */
  private readRecord(): RawRecord | null {
    const src = this.src;
    const offset = src.offset;
    const remaining = this.size - offset;
    if (remaining === 0) return null;
    this.ensure(Math.min(5, remaining), offset);
    let len = 0;
    let i = 0;
    let b: number;
    do {
      if (i >= remaining) this.truncated('the file ends inside a record length', offset);
      b = src.peek(i);
      len += (b & 0x7f) * 2 ** (7 * i);
      i++;
    } while (b & 0x80 && i < 5);
    if (b & 0x80 || len > MAX_RECORD_BYTES) throw this.corrupt('a record length is not valid', offset);
    if (len < 2) throw this.corrupt(`a record of ${len} bytes`, offset);
    if (len > remaining - i) this.truncated('the file ends inside a record', offset);
    src.skip(i);
    this.ensure(len, offset);
    const entry = src.take(len);
    const tag = entry[0];
    const field = tag >>> 3;
    if ((tag & 7) !== 2 || field < EntryField.Header || field > EntryField.EpochEnd) {
      throw this.corrupt(`an unknown record type (tag 0x${tag.toString(16)})`, offset);
    }
    let inner = 0;
    let j = 1;
    do {
      if (j >= len) throw this.corrupt('a malformed record', offset);
      b = entry[j];
      inner += (b & 0x7f) * 2 ** (7 * (j - 1));
      j++;
    } while (b & 0x80 && j < 6);
    if (b & 0x80 || inner !== len - j) throw this.corrupt('a malformed record', offset);
    return { field, payload: entry.subarray(j), offset };
  }

  private ensure(n: number, offset: number): void {
    if (!this.src.ensure(n)) this.truncated('the file shrank while being read', offset);
  }

  /** The file ends early: damage, or the writer's current position in a growing file. */
  private truncated(reason: string, offset: number): never {
    if (this.growing) throw new StopAtWriter();
    throw this.corrupt(reason, offset);
  }

  private corrupt(reason: string, offset: number): RecordingCorruptError {
    return new RecordingCorruptError(this.path, reason, offset, this.lastGoodEpoch);
  }
}

/** Sequential reads through fresh chunks; views handed out stay valid (chunks are not reused). */
class ChunkedFile {
  private buf: Buffer = Buffer.alloc(0);
  private base = 0;
  private pos = 0;

  constructor(
    private readonly path: string,
    private readonly fd: number,
    private readonly size: number,
    private readonly chunkBytes: number,
  ) {}

  get offset(): number {
    return this.base + this.pos;
  }

  /** Makes `n` bytes available at the current position; false if the file has fewer. */
  ensure(n: number): boolean {
    if (this.buf.length - this.pos >= n) return true;
    const want = Math.min(Math.max(n, this.chunkBytes), this.size - this.offset);
    const next = Buffer.allocUnsafe(want);
    let have = this.buf.copy(next, 0, this.pos);
    try {
      while (have < want) {
        const got = fs.readSync(this.fd, next, have, want - have, this.offset + have);
        if (got === 0) break;
        have += got;
      }
    } catch (err) {
      throw new RecordingIoError(this.path, 'read', err);
    }
    this.base = this.offset;
    this.pos = 0;
    this.buf = have === want ? next : next.subarray(0, have);
    return have >= n;
  }

  peek(i: number): number {
    return this.buf[this.pos + i];
  }

  skip(n: number): void {
    this.pos += n;
  }

  take(n: number): Uint8Array {
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}
