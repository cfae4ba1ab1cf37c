import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { GuestPerfFile } from '@vpmu/guest-perf-output';
import { GUEST_FILE_PIECE_BYTES, guestFilePieces } from '@vpmu/proto';
import { GuestFilesAssembler } from './guest-files.assembler';

function file(sizeBytes: number): GuestPerfFile {
  const bytes = new Uint8Array(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return { name: 'rec.perf.data', kind: 'perf.data', session: 'rec', bytes, samplesPerEvent: [3], lostSamples: 1, throttles: 2, unthrottles: 1, topFunctions: [{ name: 'f', overheadPpm: 1_000_000, samples: 3 }] };
}

describe('guest perf files in pieces: guest-vm -> aggregator', () => {
  it.each([0, 1, GUEST_FILE_PIECE_BYTES, 2 * GUEST_FILE_PIECE_BYTES + 5])('a %i-byte file arrives whole, with its description', (size) => {
    const f = file(size);
    const pieces = guestFilePieces('vm1', f);
    expect(pieces.length).toBe(Math.max(1, Math.ceil(size / GUEST_FILE_PIECE_BYTES)));
    for (const p of pieces) expect(p.content!.length).toBeLessThanOrEqual(GUEST_FILE_PIECE_BYTES);
    const a = new GuestFilesAssembler();
    for (const p of pieces) a.add(p);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpmu-guestfiles-'));
    const [entry] = a.writeAll(dir);
    expect(entry).toEqual({ vm: 'vm1', session: 'rec', kind: 'perf.data', path: 'guest/vm1/rec.perf.data', bytes: size, samplesPerEvent: [3], lostSamples: 1, throttles: 2, unthrottles: 1, topFunctions: [{ name: 'f', overheadPct: 100, samples: 3 }] });
    expect(fs.readFileSync(path.join(dir, entry!.path)).equals(Buffer.from(f.bytes))).toBe(true);
  });

  it('refuses a piece out of order, a file sent twice, a file never completed and a name that is a path', () => {
    const pieces = guestFilePieces('vm1', file(GUEST_FILE_PIECE_BYTES + 1));
    expect(() => new GuestFilesAssembler().add(pieces[1]!)).toThrow(/out of order/);
    const twice = new GuestFilesAssembler();
    twice.add(pieces[0]!);
    expect(() => twice.add(pieces[0]!)).toThrow(/sent twice/);
    expect(() => twice.writeAll(os.tmpdir())).toThrow(/last piece never arrived/);
    expect(() => new GuestFilesAssembler().add({ ...pieces[0]!, name: '../x' })).toThrow(/not a plain file name/);
    expect(() => new GuestFilesAssembler().add({ ...pieces[0]!, vm: '..' })).toThrow(/not a plain file name/);
  });
});
