// Recording file format v2 (docs/recording-format.md is the normative description):
//
//   file   = magic record*
//   magic  = "VPMUREC" 0x02                       (8 bytes; v1 files, 0x01, are still read)
//   record = varint(len) RecordEntry[len]          (RecordEntry from proto/vpmu/v1/recording.proto)
//
// RecordEntry is a oneof, so every record is one tag byte, a varint length and the payload
// message. The reader parses that outer layer by hand (it is fixed by the format) and lets
// protobufjs decode only the payload, which keeps the read path free of per-record wrappers.
import { pb, vpmu } from '@vpmu/proto';
import { crc32c } from './crc32c';

/** "VPMUREC" followed by the format version byte. */
export const RECORDING_MAGIC: Uint8Array = Uint8Array.from([0x56, 0x50, 0x4d, 0x55, 0x52, 0x45, 0x43, 0x02]);
export const RECORDING_MAGIC_BYTES = RECORDING_MAGIC.length;
/** The format version this tool writes and the newest one it reads. */
export const RECORDING_FORMAT_VERSION = 2;
/** Format 1 (batches and states stored as they are, JSON checkpoints) is still read. */
export const RECORDING_OLDEST_READABLE_VERSION = 1;
/** RecordingHeader.magic: a second, in-message identification of the header. */
export const RECORDING_HEADER_MAGIC = 'vpmurec';
/** Default file name inside a run's output directory. */
export const RECORDING_FILE_NAME = 'recording.vpmurec';
/** Suffix of the file a writer streams into until close() renames it. */
export const PARTIAL_SUFFIX = '.partial';

/** RecordEntry oneof field numbers; each record's first byte is (field << 3) | 2. */
export const EntryField = { Header: 1, Frame: 2, Checkpoint: 3, Trailer: 4, EpochEnd: 5 } as const;
export type EntryField = (typeof EntryField)[keyof typeof EntryField];

/** What the caller says about a run; magic and format version are filled in by this lib. */
export interface RecordingHeaderInit {
  toolVersion: string;
  /** Must be derived from the seed (not wall clock) so that digests are reproducible. */
  runId: string;
  seed: number;
  scenarioText: string;
  scenarioName?: string;
  epochNs: number;
  durationNs: number;
}

export interface RecordingHeaderInfo extends Required<RecordingHeaderInit> {
  magic: string;
  formatVersion: number;
}

/**
 * The exact RecordingHeader bytes a writer puts in the file and the hash chain starts from.
 * Every field is set explicitly so the encoding does not depend on which optional keys a caller
 * happened to pass.
 */
export function encodeRecordingHeader(init: RecordingHeaderInit): Uint8Array {
  return pb.RecordingHeader.encode({
    magic: RECORDING_HEADER_MAGIC,
    formatVersion: RECORDING_FORMAT_VERSION,
    toolVersion: init.toolVersion,
    runId: init.runId,
    seed: init.seed,
    scenarioText: init.scenarioText,
    epochNs: init.epochNs,
    durationNs: init.durationNs,
    scenarioName: init.scenarioName ?? '',
  }).finish();
}

export function headerInfoFromMessage(h: vpmu.v1.RecordingHeader): RecordingHeaderInfo {
  return {
    magic: h.magic,
    formatVersion: h.formatVersion,
    toolVersion: h.toolVersion,
    runId: h.runId,
    seed: Number(h.seed),
    scenarioText: h.scenarioText,
    scenarioName: h.scenarioName,
    epochNs: Number(h.epochNs),
    durationNs: Number(h.durationNs),
  };
}

const u32 = new Uint8Array(4);
const u32View = new DataView(u32.buffer);
function crcU32(value: number, previous: number): number {
  u32View.setUint32(0, value >>> 0, true);
  return crc32c(u32, previous);
}

/** RecordingFrame.crc32c = CRC32C(batch as stored ‖ u32le(epoch) ‖ u32le(event_count) ‖ utf8(node)). */
export function frameCrc(batch: Uint8Array, epoch: number, eventCount: number, nodeUtf8: Uint8Array): number {
  return crc32c(nodeUtf8, crcU32(eventCount, crcU32(epoch, crc32c(batch))));
}

/** Checkpoint.crc32c = CRC32C(state as stored ‖ u32le(epoch) ‖ utf8(node)). */
export function checkpointCrc(state: Uint8Array, epoch: number, nodeUtf8: Uint8Array): number {
  return crc32c(nodeUtf8, crcU32(epoch, crc32c(state)));
}

const utf8 = new TextEncoder();
/** UTF-8 bytes of node ids, cached: a run has few nodes and every frame names one. */
export class NodeIdBytes {
  private readonly cache = new Map<string, Uint8Array>();
  get(node: string): Uint8Array {
    let b = this.cache.get(node);
    if (b === undefined) {
      b = utf8.encode(node);
      this.cache.set(node, b);
    }
    return b;
  }
}

/** Canonical node order inside an epoch: ascending by the UTF-8 bytes of the id. */
export function compareNodeBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
