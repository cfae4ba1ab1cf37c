// Streams a recording to disk with memory bounded by one epoch: each writeEpoch() encodes that
// epoch's frames plus its EpochEnd marker into one buffer and hands it to the kernel with
// synchronous writes, so a reader sees whole epochs as soon as they are written and the writer
// never queues data behind the caller's back. The file is written as PATH.partial and renamed to
// PATH only by close(), so a crash or abort() never leaves a half-written file under the final
// name.
import * as fs from 'node:fs';
import { Writer } from 'protobufjs/minimal';
import { pb } from '@vpmu/proto';
import { HashChain, sortFramesCanonically } from './hash-chain';
import {
  checkpointCrc,
  encodeRecordingHeader,
  EntryField,
  frameCrc,
  NodeIdBytes,
  PARTIAL_SUFFIX,
  RECORDING_MAGIC,
  RecordingHeaderInit,
} from './recording.format';
import { RecordingIoError } from './recording.errors';
import { CHECKPOINT_DEFLATE_LEVEL, FRAME_DEFLATE_LEVEL, storeBytes } from './stored-bytes.codec';

export interface EpochFrameInput {
  node: string;
  /** Encoded EventBatch (encodeEventBatch of @vpmu/proto). */
  batch: Uint8Array;
  eventCount: number;
}

export interface RecordingWriteResult {
  path: string;
  finalDigestHex: string;
  /** The content digest: every frame, no header (tool version, run id); what golden files pin. */
  contentDigestHex: string;
  totalEvents: number;
  /** Size of the finished file. */
  bytes: number;
  epochs: number;
  frames: number;
  checkpoints: number;
}

type State = 'new' | 'open' | 'closed' | 'aborted';

export class RecordingWriter {
  private state: State = 'new';
  private fd = -1;
  private finalPath = '';
  private partialPath = '';
  private chain: HashChain | null = null;
  private readonly nodes = new NodeIdBytes();
  private lastEpoch = -1;
  private totalEvents = 0;
  private bytes = 0;
  private epochCount = 0;
  private frameCount = 0;
  private checkpointCount = 0;
  private checkpointEpoch = -1;
  private readonly checkpointNodes = new Set<string>();

  /** The final path, once open() has been called. */
  get path(): string {
    return this.finalPath;
  }

  /** Running hash so far (hex): what the digest would be if the run ended now. */
  get digestHex(): string {
    return this.requireChain().currentHex;
  }

  /** Creates PATH.partial and writes the magic and the header. */
  open(path: string, header: RecordingHeaderInit): this {
    if (this.state !== 'new') throw new Error(`RecordingWriter.open: writer already ${this.state}`);
    this.finalPath = path;
    this.partialPath = path + PARTIAL_SUFFIX;
    const headerBytes = encodeRecordingHeader(header);
    try {
      this.fd = fs.openSync(this.partialPath, 'w');
    } catch (err) {
      this.state = 'aborted';
      throw new RecordingIoError(path, 'create', err);
    }
    this.state = 'open';
    this.chain = new HashChain(headerBytes);
    const w = Writer.create();
    w.fork().uint32(tag(EntryField.Header)).bytes(headerBytes).ldelim();
    this.writeOut([RECORDING_MAGIC, w.finish()]);
    return this;
  }

  /**
   * Writes one epoch's frames in canonical order (sorted here by node id) and its end marker.
   * Epochs must be strictly ascending; gaps are allowed, and an epoch may have no frames.
   */
  writeEpoch(epoch: number, frames: readonly EpochFrameInput[]): Uint8Array {
    this.requireOpen('writeEpoch');
    if (!Number.isInteger(epoch) || epoch <= this.lastEpoch || epoch > 0xffffffff) {
      throw new Error(`RecordingWriter.writeEpoch: epoch ${epoch} must be an integer above the last written epoch ${this.lastEpoch}`);
    }
    const chain = this.requireChain();
    // Validate everything before touching the chain, so a rejected call leaves the writer usable.
    const sorted = sortFramesCanonically(frames, this.nodes);
    for (const f of sorted) {
      if (!Number.isInteger(f.eventCount) || f.eventCount < 0 || f.eventCount > 0xffffffff) {
        throw new Error(`RecordingWriter.writeEpoch: bad eventCount ${f.eventCount} for node ${f.node} in epoch ${epoch}`);
      }
      if (f.node.length === 0 || f.node.includes('\0')) {
        throw new Error(`RecordingWriter.writeEpoch: node id ${JSON.stringify(f.node)} must be non-empty without NUL`);
      }
    }
    const w = Writer.create();
    let events = 0;
    for (const f of sorted) {
      const runningHash = chain.addFrame(epoch, f.node, f.batch);
      const stored = storeBytes(f.batch, FRAME_DEFLATE_LEVEL);
      const crc = frameCrc(stored.bytes, epoch, f.eventCount, this.nodes.get(f.node));
      w.fork().uint32(tag(EntryField.Frame)).fork();
      pb.RecordingFrame.encode({ epoch, node: f.node, batch: stored.bytes, crc32c: crc, runningHash, eventCount: f.eventCount, encoding: stored.encoding }, w);
      w.ldelim().ldelim();
      events += f.eventCount;
    }
    chain.endEpoch(epoch);
    w.fork().uint32(tag(EntryField.EpochEnd)).fork();
    pb.EpochEnd.encode({ epoch, frameCount: frames.length }, w);
    w.ldelim().ldelim();
    this.writeOut([w.finish()]);
    this.lastEpoch = epoch;
    this.totalEvents += events;
    this.epochCount++;
    this.frameCount += frames.length;
    return chain.current;
  }

  /**
   * Stores a checkpoint: opaque state bytes of `node` at the start of `epoch`, which must come
   * after every epoch already written (the world is checkpointed before it simulates `epoch`).
   */
  writeCheckpoint(epoch: number, node: string, state: Uint8Array): void {
    this.requireOpen('writeCheckpoint');
    if (!Number.isInteger(epoch) || epoch <= this.lastEpoch || epoch > 0xffffffff) {
      throw new Error(`RecordingWriter.writeCheckpoint: epoch ${epoch} must be above the last written epoch ${this.lastEpoch}`);
    }
    if (node.length === 0) throw new Error('RecordingWriter.writeCheckpoint: empty node id');
    if (epoch !== this.checkpointEpoch) {
      this.checkpointEpoch = epoch;
      this.checkpointNodes.clear();
    }
    if (this.checkpointNodes.has(node)) throw new Error(`RecordingWriter.writeCheckpoint: node ${node} already checkpointed for epoch ${epoch}`);
    this.checkpointNodes.add(node);
    const stored = storeBytes(state, CHECKPOINT_DEFLATE_LEVEL);
    const w = Writer.create();
    w.fork().uint32(tag(EntryField.Checkpoint)).fork();
    pb.Checkpoint.encode({ epoch, node, state: stored.bytes, crc32c: checkpointCrc(stored.bytes, epoch, this.nodes.get(node)), encoding: stored.encoding }, w);
    w.ldelim().ldelim();
    this.writeOut([w.finish()]);
    this.checkpointCount++;
  }

  /** Writes the trailer, syncs, and renames PATH.partial to PATH. */
  close(): RecordingWriteResult {
    this.requireOpen('close');
    const chain = this.requireChain();
    const w = Writer.create();
    w.fork().uint32(tag(EntryField.Trailer)).fork();
    pb.RecordingTrailer.encode(
      {
        epochs: chain.epochDigests.map((d) => ({ epoch: d.epoch, digest: d.digest })),
        finalDigest: chain.current,
        totalEvents: this.totalEvents,
        finalEpoch: Math.max(this.lastEpoch, 0),
        contentDigest: chain.content,
      },
      w,
    );
    w.ldelim().ldelim();
    this.writeOut([w.finish()]);
    try {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = -1;
      fs.renameSync(this.partialPath, this.finalPath);
    } catch (err) {
      this.abort();
      throw new RecordingIoError(this.finalPath, 'finish', err);
    }
    this.state = 'closed';
    return {
      path: this.finalPath,
      finalDigestHex: chain.currentHex,
      contentDigestHex: chain.contentHex,
      totalEvents: this.totalEvents,
      bytes: this.bytes,
      epochs: this.epochCount,
      frames: this.frameCount,
      checkpoints: this.checkpointCount,
    };
  }

  /** Stops writing and removes PATH.partial. Safe to call at any time, more than once. */
  abort(): void {
    if (this.state === 'closed') return;
    if (this.fd >= 0) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already unusable; the unlink below is what matters
      }
      this.fd = -1;
    }
    if (this.partialPath) fs.rmSync(this.partialPath, { force: true });
    this.state = 'aborted';
  }

  private writeOut(chunks: Uint8Array[]): void {
    try {
      for (const chunk of chunks) {
        let off = 0;
        while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off, chunk.length - off);
        this.bytes += chunk.length;
      }
    } catch (err) {
      this.abort();
      throw new RecordingIoError(this.finalPath, 'write', err);
    }
  }

  private requireOpen(op: string): void {
    if (this.state !== 'open') throw new Error(`RecordingWriter.${op}: writer is ${this.state}, not open`);
  }

  private requireChain(): HashChain {
    if (!this.chain) throw new Error('RecordingWriter: not opened');
    return this.chain;
  }
}

/** First byte of a record: RecordEntry oneof field number, wire type 2 (length-delimited). */
function tag(field: EntryField): number {
  return (field << 3) | 2;
}
