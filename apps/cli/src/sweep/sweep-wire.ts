// The wire of a distributed sweep (proto/vpmu/v1/sweep.proto): the two topics, a finished run's
// cache entry cut into report pieces, and the assembler that puts an entry back together on the
// sweeping machine. Kafka's default message limit is 1 MB and a recording can be larger, so each
// file travels in pieces of at most SWEEP_PIECE_BYTES, in order, the last one with the file's
// SHA-256; an entry counts only once every file arrived whole.
import { createHash } from 'node:crypto';
import { pb, type vpmu } from '@vpmu/proto';

export const SWEEP_TOPICS = {
  /** Work items, keyed by the point's cache key; the sweep workers read it in one consumer group. */
  work: 'vpmu.sweep.work',
  /** Reports (busy, failure, file pieces), keyed by the point's cache key; every sweeping CLI reads it. */
  results: 'vpmu.sweep.results',
} as const;

export const SWEEP_PIECE_BYTES = 256 * 1024;

export interface EntryFile {
  name: string;
  bytes: Uint8Array;
}

export function encodeWorkItem(item: vpmu.v1.ISweepWorkItem): Buffer {
  return Buffer.from(pb.SweepWorkItem.encode(item).finish());
}

/** The item, or an error naming what is wrong with it (a worker answers that, never crashes on it). */
export function decodeWorkItem(value: Buffer | null): vpmu.v1.SweepWorkItem | Error {
  if (!value || value.length === 0) return new Error('the work item is empty');
  let item: vpmu.v1.SweepWorkItem;
  try {
    item = pb.SweepWorkItem.decode(value);
  } catch (err) {
    return new Error(`the work item is not a SweepWorkItem (${(err as Error).message})`);
  }
  if (!/^[0-9a-f]{64}$/.test(item.key)) return new Error(`the work item has no valid cache key (got "${item.key.slice(0, 80)}")`);
  if (item.scenarioText === '') return new Error('the work item has no scenario text');
  if (item.toolVersion === '') return new Error('the work item names no tool version');
  return item;
}

export function encodeReport(report: vpmu.v1.ISweepReport): Buffer {
  return Buffer.from(pb.SweepReport.encode(report).finish());
}

export function decodeReport(value: Buffer | null): vpmu.v1.SweepReport | null {
  if (!value) return null;
  try {
    return pb.SweepReport.decode(value);
  } catch {
    return null; // not ours: another tool's message, or garbage; the collector skips it
  }
}

/** A finished run's files as report pieces (every file at least one piece, the last with its SHA-256). */
export function entryPieces(head: Omit<vpmu.v1.ISweepReport, 'busy' | 'failure' | 'piece'>, files: readonly EntryFile[]): vpmu.v1.ISweepReport[] {
  const out: vpmu.v1.ISweepReport[] = [];
  for (const f of files) {
    const sha256 = createHash('sha256').update(f.bytes).digest('hex');
    for (let offset = 0; offset === 0 || offset < f.bytes.length; offset += SWEEP_PIECE_BYTES) {
      const end = Math.min(f.bytes.length, offset + SWEEP_PIECE_BYTES);
      const last = end === f.bytes.length;
      out.push({ ...head, piece: { file: f.name, offset, content: f.bytes.subarray(offset, end), last, files: files.length, ...(last && { sha256 }) } });
    }
  }
  return out;
}

/** Outcome of feeding one report to the assembler. */
export type Assembled = { kind: 'none' } | { kind: 'entry'; key: string; worker: string; files: EntryFile[] } | { kind: 'bad'; key: string; worker: string; error: string };

/**
 * Puts entries back together from report pieces. Pieces are grouped by attempt, so a point run
 * twice (a worker died after publishing part of it, and another redid it) never mixes the two.
 */
export class EntryAssembler {
  private readonly attempts = new Map<string, { key: string; files: Map<string, { chunks: Buffer[]; next: number; done: boolean; sha256: string }>; expected: number }>();

  add(r: vpmu.v1.SweepReport): Assembled {
    const p = r.piece;
    if (!p) return { kind: 'none' };
    const file = p.file ?? '';
    const content = Buffer.from(p.content ?? new Uint8Array(0));
    const bad = (error: string): Assembled => {
      this.attempts.delete(r.attempt);
      return { kind: 'bad', key: r.key, worker: r.worker, error };
    };
    let a = this.attempts.get(r.attempt);
    if (!a) this.attempts.set(r.attempt, (a = { key: r.key, files: new Map(), expected: p.files ?? 0 }));
    if (!/^[\w.-]+(\/[\w.-]+)*$/.test(file) || file.split('/').some((part) => part === '..' || part === '.')) return bad(`a piece names the file "${file}", which is not a path inside a run directory`);
    let f = a.files.get(file);
    if (!f) a.files.set(file, (f = { chunks: [], next: 0, done: false, sha256: '' }));
    const offset = Number(p.offset ?? 0);
    // A piece sent twice (a producer retry: delivery is at least once) is already here.
    if (offset < f.next || (f.done && offset + content.length <= f.next)) return { kind: 'none' };
    if (offset !== f.next || f.done) return bad(`a piece of ${file} starts at byte ${offset} where ${f.next} was next (a lost piece)`);
    f.chunks.push(content);
    f.next += content.length;
    if (p.last) {
      f.done = true;
      f.sha256 = p.sha256 ?? '';
    }
    if (a.files.size < a.expected || [...a.files.values()].some((x) => !x.done)) return { kind: 'none' };
    this.attempts.delete(r.attempt);
    const files: EntryFile[] = [];
    for (const [name, x] of a.files) {
      const bytes = Buffer.concat(x.chunks);
      if (createHash('sha256').update(bytes).digest('hex') !== x.sha256) return { kind: 'bad', key: a.key, worker: r.worker, error: `${name} arrived with another SHA-256 than its worker computed` };
      files.push({ name, bytes });
    }
    return { kind: 'entry', key: a.key, worker: r.worker, files };
  }
}
