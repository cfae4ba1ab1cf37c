// @vpmu/recording: the .vpmurec file (docs/recording-format.md). Writer and reader with CRC32C
// and a SHA-256 hash chain, the pure HashChain the aggregator and cluster share, checkpoint
// lookup, and the divergence finder behind `vpmu replay --verify`. An adapter at the edge: it
// uses node fs and crypto, never the wall clock.
export { crc32c } from './crc32c';
export {
  RECORDING_FILE_NAME,
  RECORDING_FORMAT_VERSION,
  RECORDING_MAGIC,
  PARTIAL_SUFFIX,
  encodeRecordingHeader,
  frameCrc,
  checkpointCrc,
} from './recording.format';
export type { RecordingHeaderInit, RecordingHeaderInfo } from './recording.format';
export { HashChain, sortFramesCanonically } from './hash-chain';
export type { EpochDigest, HashChainFrame } from './hash-chain';
export { RecordingWriter } from './recording.writer';
export type { EpochFrameInput, RecordingWriteResult } from './recording.writer';
export { readRecording, iterateRecording, findCheckpointAtOrBefore } from './recording.reader';
export type {
  Recording,
  RecordingItem,
  RecordedEpoch,
  RecordedFrame,
  RecordedCheckpoint,
  RecordingTrailerInfo,
  RecordingEnd,
  ReadRecordingOptions,
  CheckpointSet,
} from './recording.reader';
export { rewriteRecording } from './recording.rewrite';
export type { RewriteOptions } from './recording.rewrite';
export {
  findFirstDivergence,
  findFirstDivergenceAsync,
  compareEpochFrames,
  diffFields,
  formatDivergence,
} from './divergence';
export type { Divergence, DivergenceKind, EpochFramesLike, FrameLike } from './divergence';
export {
  RecordingError,
  RecordingNotFoundError,
  RecordingEmptyError,
  RecordingCorruptError,
  RecordingBadMagicError,
  RecordingVersionError,
  RecordingIoError,
} from './recording.errors';
export type { RecordingErrorCode } from './recording.errors';
