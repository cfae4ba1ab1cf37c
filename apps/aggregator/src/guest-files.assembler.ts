// Reassembles the guest perf files the guest-vm services send in pieces (GuestFile messages,
// in order per file) and writes them as DIR/guest/<vm>/<name>, each via a temporary file and a
// rename. A file whose pieces do not arrive whole (a gap, a duplicate offset, no last piece) is
// a transport bug, not a user error: it fails the run's end loudly instead of writing a file
// perf would misread.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { vpmu } from '@vpmu/proto';
import type { GuestPerfFileSummary } from '@vpmu/summary';

interface PendingFile {
  vm: string;
  name: string;
  head: vpmu.v1.IGuestFile;
  pieces: Uint8Array[];
  nextOffset: number;
  complete: boolean;
}

/** Directory, under the run's output directory, the guest perf files go to. */
export const GUEST_DIR = 'guest';

export class GuestFilesAssembler {
  private readonly files = new Map<string, PendingFile>();

  add(piece: vpmu.v1.IGuestFile): void {
    const vm = piece.vm ?? '';
    const name = piece.name ?? '';
    if (!isSafeName(vm) || !isSafeName(name)) throw new Error(`guest file ${JSON.stringify(vm)}/${JSON.stringify(name)}: not a plain file name`);
    const key = `${vm}/${name}`;
    const offset = Number(piece.offset ?? 0);
    let f = this.files.get(key);
    if (offset === 0) {
      if (f) throw new Error(`guest file ${key}: sent twice`);
      f = { vm, name, head: piece, pieces: [], nextOffset: 0, complete: false };
      this.files.set(key, f);
    }
    if (!f || f.complete || offset !== f.nextOffset) throw new Error(`guest file ${key}: piece at offset ${offset} out of order`);
    const content = piece.content ?? new Uint8Array();
    f.pieces.push(content);
    f.nextOffset += content.length;
    f.complete = piece.last === true;
  }

  /** Writes every file; returns their summary entries (paths relative to outDir), by VM then name. */
  writeAll(outDir: string): GuestPerfFileSummary[] {
    const entries: GuestPerfFileSummary[] = [];
    const ordered = [...this.files.values()].sort((a, b) => (a.vm !== b.vm ? (a.vm < b.vm ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const f of ordered) {
      if (!f.complete) throw new Error(`guest file ${f.vm}/${f.name}: its last piece never arrived`);
      const rel = path.posix.join(GUEST_DIR, f.vm, f.name);
      const file = path.join(outDir, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(`${file}.partial`, Buffer.concat(f.pieces));
      fs.renameSync(`${file}.partial`, file);
      entries.push(summaryEntry(f, rel));
    }
    return entries;
  }

  get size(): number {
    return this.files.size;
  }
}

function summaryEntry(f: PendingFile, rel: string): GuestPerfFileSummary {
  const h = f.head;
  const entry: GuestPerfFileSummary = { vm: f.vm, session: h.session ?? '', kind: (h.kind ?? 'perf.data') as GuestPerfFileSummary['kind'], path: rel, bytes: f.nextOffset };
  if (entry.kind === 'perf.data') {
    entry.samplesPerEvent = (h.samplesPerEvent ?? []).map(Number);
    entry.lostSamples = Number(h.lostSamples ?? 0);
    entry.throttles = Number(h.throttles ?? 0);
    entry.unthrottles = Number(h.unthrottles ?? 0);
    entry.topFunctions = (h.topFunctions ?? []).map((t) => ({ name: t.name ?? '', overheadPct: Number(t.overheadPpm ?? 0) / 10_000, samples: Number(t.samples ?? 0) }));
  }
  if (h.perfMapTarget) entry.perfMapTarget = h.perfMapTarget;
  return entry;
}

/** VM ids and file names become path components: no separators, no dot-dot. */
function isSafeName(s: string): boolean {
  return s.length > 0 && s !== '.' && s !== '..' && !/[\\/\0]/.test(s);
}
