// The items a recording is read back as (header, whole epochs, checkpoints, trailer, end) and
// the options of a read; shared by the streaming parser and the readers built on it.
import type { EpochDigest } from './hash-chain';
import type { RecordingHeaderInfo } from './recording.format';

export interface RecordedFrame {
  epoch: number;
  node: string;
  /** Encoded EventBatch; decode with decodeEventBatch of @vpmu/proto. */
  batch: Uint8Array;
  eventCount: number;
  /** Running hash after this frame. */
  runningHash: Uint8Array;
}

export interface RecordedEpoch {
  epoch: number;
  /** Canonical order: node ids ascending. */
  frames: RecordedFrame[];
  /** Running hash after the epoch's last frame. */
  digest: Uint8Array;
  eventCount: number;
  /** Byte offset just past this epoch's end marker. */
  endOffset: number;
}

export interface RecordedCheckpoint {
  /** The state is the node's state at the start of this epoch. */
  epoch: number;
  node: string;
  /** Opaque bytes in the world's own state encoding. */
  state: Uint8Array;
}

export interface RecordingTrailerInfo {
  epochDigests: EpochDigest[];
  finalDigestHex: string;
  contentDigestHex: string;
  totalEvents: number;
  finalEpoch: number;
}

export interface RecordingEnd {
  /** True when the trailer was read and matched everything before it. */
  complete: boolean;
  /** Bytes of intact records read (the file size for a complete recording). */
  bytes: number;
  /** Running hash after the last intact epoch. */
  finalDigestHex: string;
  /** Content digest (frames only) after the last intact epoch. */
  contentDigestHex: string;
  totalEvents: number;
  epochCount: number;
  lastEpoch: number | null;
}

export type RecordingItem =
  | { kind: 'header'; header: RecordingHeaderInfo }
  | ({ kind: 'epoch' } & RecordedEpoch)
  | ({ kind: 'checkpoint' } & RecordedCheckpoint)
  | { kind: 'trailer'; trailer: RecordingTrailerInfo }
  | ({ kind: 'end' } & RecordingEnd);

export interface ReadRecordingOptions {
  /**
   * The file may still be being written: a record or epoch cut short at the end of the file is
   * where the writer is, not damage, so reading stops there quietly with `complete: false`.
   * Set automatically when only PATH.partial exists.
   */
  growing?: boolean;
  /** A file that ends cleanly but without a trailer is an error (a finished run's recording). */
  requireComplete?: boolean;
  /** Read size, for tests. */
  chunkBytes?: number;
}
