// The recording's running hash (TigerBeetle's hash log): one SHA-256 chained over every frame
// in canonical order, so two runs agree on the digest exactly when they agree on every event
// batch, and the first differing epoch is the first epoch whose digest differs.
//
//   h0      = sha256(RecordingHeader bytes)
//   h(i+1)  = sha256(h(i) ‖ u32le(epoch) ‖ utf8(node) ‖ 0x00 ‖ batch)
//   digest(epoch) = h after the epoch's last frame (unchanged for an epoch without frames)
//
// Beside it runs the content digest: the same chain over the same frames but started from a
// fixed constant instead of the header, so it pins what a run simulated (every event batch of
// every epoch, in canonical order) independently of the tool version, run id and scenario text
// that the header holds. It is what the golden digests of the built-in scenarios pin:
//
//   c0      = sha256("vpmu content digest v1")
//   c(i+1)  = sha256(c(i) ‖ u32le(epoch) ‖ utf8(node) ‖ 0x00 ‖ batch)
//
// Pure (no files): the writer, the reader, the aggregator and the cluster all use this class,
// so they compute digests identically. Checkpoints are not part of the chain: where and how
// often the world is checkpointed must not change a run's digest.
import { createHash } from 'node:crypto';
import { compareNodeBytes, encodeRecordingHeader, NodeIdBytes, RecordingHeaderInit, toHex } from './recording.format';

export interface EpochDigest {
  epoch: number;
  digest: Uint8Array;
}

export interface HashChainFrame {
  node: string;
  batch: Uint8Array;
}

const NUL = new Uint8Array(1);
const CONTENT_SEED = createHash('sha256').update('vpmu content digest v1').digest();

export class HashChain {
  private hash: Uint8Array;
  private contentHash: Uint8Array = CONTENT_SEED;
  private readonly nodes = new NodeIdBytes();
  private openEpoch = -1;
  private lastEndedEpoch = -1;
  private lastNode: Uint8Array | null = null;
  private readonly digests: EpochDigest[] = [];
  private readonly le = Buffer.alloc(4);

  /** Starts a chain from the header's encoded bytes (as stored in the file). */
  constructor(headerBytes: Uint8Array) {
    this.hash = createHash('sha256').update(headerBytes).digest();
  }

  static forHeader(header: RecordingHeaderInit): HashChain {
    return new HashChain(encodeRecordingHeader(header));
  }

  /** The running hash so far (after the last frame added). */
  get current(): Uint8Array {
    return this.hash;
  }

  get currentHex(): string {
    return toHex(this.hash);
  }

  /** The content digest so far: the frames alone, without the header (see the file comment). */
  get content(): Uint8Array {
    return this.contentHash;
  }

  get contentHex(): string {
    return toHex(this.contentHash);
  }

  /** Digests of the epochs ended so far, in order. */
  get epochDigests(): readonly EpochDigest[] {
    return this.digests;
  }

  get lastEpoch(): number {
    return this.lastEndedEpoch;
  }

  /**
   * Chains one frame and returns the running hash after it. Frames must come in canonical
   * order: epochs ascending, node ids strictly ascending (UTF-8 bytes) within an epoch.
   */
  addFrame(epoch: number, node: string, batch: Uint8Array): Uint8Array {
    const nodeBytes = this.nodes.get(node);
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) throw new Error(`HashChain: bad epoch ${epoch}`);
    if (node.length === 0 || node.includes('\0')) throw new Error(`HashChain: node id ${JSON.stringify(node)} must be non-empty without NUL`);
    if (epoch <= this.lastEndedEpoch) throw new Error(`HashChain: frame of epoch ${epoch} after epoch ${this.lastEndedEpoch} ended`);
    if (epoch !== this.openEpoch) {
      if (this.openEpoch >= 0) throw new Error(`HashChain: frame of epoch ${epoch} while epoch ${this.openEpoch} is open`);
      this.openEpoch = epoch;
      this.lastNode = null;
    } else if (this.lastNode !== null && compareNodeBytes(this.lastNode, nodeBytes) >= 0) {
      throw new Error(`HashChain: node ${node} out of canonical order in epoch ${epoch}`);
    }
    this.lastNode = nodeBytes;
    this.le.writeUInt32LE(epoch, 0);
    this.hash = createHash('sha256').update(this.hash).update(this.le).update(nodeBytes).update(NUL).update(batch).digest();
    this.contentHash = createHash('sha256').update(this.contentHash).update(this.le).update(nodeBytes).update(NUL).update(batch).digest();
    return this.hash;
  }

  /** Closes `epoch` (which may have had no frames) and returns its digest. */
  endEpoch(epoch: number): Uint8Array {
    if (this.openEpoch >= 0 ? epoch !== this.openEpoch : epoch <= this.lastEndedEpoch) {
      throw new Error(`HashChain: cannot end epoch ${epoch} (open ${this.openEpoch}, last ended ${this.lastEndedEpoch})`);
    }
    this.openEpoch = -1;
    this.lastEndedEpoch = epoch;
    this.digests.push({ epoch, digest: this.hash });
    return this.hash;
  }

  /** Adds a whole epoch: sorts the frames canonically, chains them, ends the epoch. */
  addEpoch(epoch: number, frames: readonly HashChainFrame[]): Uint8Array {
    for (const f of sortFramesCanonically(frames, this.nodes)) this.addFrame(epoch, f.node, f.batch);
    return this.endEpoch(epoch);
  }
}

/** A sorted copy of the frames, node ids ascending by UTF-8 bytes; duplicate nodes are a bug. */
export function sortFramesCanonically<T extends { node: string }>(frames: readonly T[], nodes = new NodeIdBytes()): T[] {
  const sorted = frames.slice().sort((a, b) => compareNodeBytes(nodes.get(a.node), nodes.get(b.node)));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].node === sorted[i - 1].node) throw new Error(`two frames for node ${sorted[i].node} in one epoch`);
  }
  return sorted;
}
