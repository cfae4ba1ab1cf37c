// How a frame's batch and a checkpoint's state sit in the file (format 2). Event batches and
// world snapshots repeat field tags, ids and nearby timestamps, so raw DEFLATE (RFC 1951, node's
// zlib) stores them in less than half their size; the fast level for frames (written every epoch
// on the run's hot path), a thorough one for checkpoints (written every few dozen epochs).
// Checksums cover the stored bytes, so damage is found before anything is inflated; the hash
// chain covers the EventBatch bytes themselves, so how a recording stores them never changes a
// digest. Bytes that do not shrink are stored as they are.
import { deflateRawSync, inflateRawSync } from 'node:zlib';

export const StoredEncoding = { Plain: 0, Deflate: 1 } as const;
export type StoredEncoding = (typeof StoredEncoding)[keyof typeof StoredEncoding];

export const FRAME_DEFLATE_LEVEL = 1;
export const CHECKPOINT_DEFLATE_LEVEL = 6;

export interface StoredBytes {
  bytes: Uint8Array;
  encoding: StoredEncoding;
}

export function storeBytes(raw: Uint8Array, level: number): StoredBytes {
  if (raw.length < 64) return { bytes: raw, encoding: StoredEncoding.Plain };
  const packed = deflateRawSync(raw, { level });
  return packed.length < raw.length ? { bytes: packed, encoding: StoredEncoding.Deflate } : { bytes: raw, encoding: StoredEncoding.Plain };
}

/** The original bytes, or null when the encoding is unknown or the stored bytes do not inflate. */
export function loadBytes(stored: Uint8Array, encoding: number): Uint8Array | null {
  if (encoding === StoredEncoding.Plain) return stored;
  if (encoding !== StoredEncoding.Deflate) return null;
  try {
    return inflateRawSync(stored);
  } catch {
    return null;
  }
}
