// A guest perf output file as the GuestFile messages that carry it from the guest-vm service to
// the aggregator: pieces of at most GUEST_FILE_PIECE_BYTES, in order, the file's description on
// the first. Kafka's default message size limit is 1 MB, and a long record session's perf.data
// is larger than that.
import type { vpmu } from './generated/vpmu';

export const GUEST_FILE_PIECE_BYTES = 256 * 1024;

/** What a piece describes: structurally the guest perf output lib's file (proto stays below it). */
export interface GuestFileContent {
  name: string;
  kind: string;
  session: string;
  bytes: Uint8Array;
  samplesPerEvent?: number[];
  lostSamples?: number;
  throttles?: number;
  unthrottles?: number;
  perfMapTarget?: string;
  topFunctions?: { name: string; overheadPpm: number; samples: number }[];
}

export function guestFilePieces(vm: string, f: GuestFileContent): vpmu.v1.IGuestFile[] {
  const pieces: vpmu.v1.IGuestFile[] = [];
  for (let offset = 0; offset === 0 || offset < f.bytes.length; offset += GUEST_FILE_PIECE_BYTES) {
    const end = Math.min(f.bytes.length, offset + GUEST_FILE_PIECE_BYTES);
    const piece: vpmu.v1.IGuestFile = { vm, name: f.name, offset, content: f.bytes.subarray(offset, end), last: end === f.bytes.length };
    if (offset === 0) {
      piece.kind = f.kind;
      piece.session = f.session;
      if (f.samplesPerEvent) piece.samplesPerEvent = f.samplesPerEvent;
      if (f.lostSamples !== undefined) piece.lostSamples = f.lostSamples;
      if (f.throttles) piece.throttles = f.throttles;
      if (f.unthrottles) piece.unthrottles = f.unthrottles;
      if (f.perfMapTarget) piece.perfMapTarget = f.perfMapTarget;
      if (f.topFunctions) piece.topFunctions = f.topFunctions.map((t) => ({ name: t.name, overheadPpm: t.overheadPpm, samples: t.samples }));
    }
    pieces.push(piece);
  }
  return pieces;
}
