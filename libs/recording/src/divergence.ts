// Finds where a replay first differs from its recording (rr's "first mismatch"): epochs are
// compared in order; inside the first differing epoch, each node's batch bytes are compared
// and only differing batches are decoded, then events are compared one by one. Among the nodes
// that differ, the earliest event in virtual time wins (ties: canonical node order), so an
// injected nondeterminism is reported at its first effect, not at whichever node sorts first.
//
// An epoch absent from one side counts as an epoch without frames, as in the hash chain (an
// epoch end is not hashed), so this finds a divergence exactly when the digests differ.
import { decodeEventBatch } from '@vpmu/proto';
import type { SimEvent } from '@vpmu/sim';
import { bytesEqual, compareNodeBytes, NodeIdBytes } from './recording.format';

export interface FrameLike {
  node: string;
  batch: Uint8Array;
}

export interface EpochFramesLike {
  epoch: number;
  frames: readonly FrameLike[];
}

export type DivergenceKind =
  /** Both sides have the event; some fields differ. */
  | 'event'
  /** The replayed batch ends before the recorded one. */
  | 'missing-event'
  /** The replayed batch has more events than the recorded one. */
  | 'extra-event'
  /** The node produced a frame in the recording but not in the replay. */
  | 'missing-frame'
  | 'extra-frame'
  /** The whole epoch is absent from the replay (it ended early). */
  | 'missing-epoch'
  | 'extra-epoch'
  /** A batch that differs cannot be decoded. */
  | 'undecodable'
  /** Bytes differ but the decoded events are equal (e.g. another string interning order). */
  | 'encoding';

export interface Divergence {
  kind: DivergenceKind;
  epoch: number;
  node: string;
  /** Index of the event inside the node's batch for this epoch. */
  index: number;
  /** Virtual time of the differing event (recorded side first); null when no event is involved. */
  atNs: number | null;
  recorded: SimEvent | null;
  replayed: SimEvent | null;
  /** Differing field paths, e.g. ["actual", "at.pcpu", "fromIps[3]"]. */
  fields: string[];
  /** One sentence saying what differs. */
  detail: string;
}

/** Compares two runs epoch by epoch; null when they are identical. */
export function findFirstDivergence(recorded: Iterable<EpochFramesLike>, replayed: Iterable<EpochFramesLike>): Divergence | null {
  const a = recorded[Symbol.iterator]();
  const b = replayed[Symbol.iterator]();
  let ra = a.next();
  let rb = b.next();
  try {
    while (!ra.done || !rb.done) {
      const ea = ra.done ? Infinity : ra.value.epoch;
      const eb = rb.done ? Infinity : rb.value.epoch;
      const epoch = Math.min(ea, eb);
      const d = compareEpochFrames(epoch, ea === epoch ? ra.value!.frames : null, eb === epoch ? rb.value!.frames : null);
      if (d) return d;
      if (ea === epoch) ra = a.next();
      if (eb === epoch) rb = b.next();
    }
    return null;
  } finally {
    a.return?.();
    b.return?.();
  }
}

/** The same over async sources (a replay that is produced while it is compared). */
export async function findFirstDivergenceAsync(
  recorded: AsyncIterable<EpochFramesLike> | Iterable<EpochFramesLike>,
  replayed: AsyncIterable<EpochFramesLike> | Iterable<EpochFramesLike>,
): Promise<Divergence | null> {
  const a = toAsyncIterator(recorded);
  const b = toAsyncIterator(replayed);
  let ra = await a.next();
  let rb = await b.next();
  try {
    while (!ra.done || !rb.done) {
      const ea = ra.done ? Infinity : ra.value.epoch;
      const eb = rb.done ? Infinity : rb.value.epoch;
      const epoch = Math.min(ea, eb);
      const d = compareEpochFrames(epoch, ea === epoch ? ra.value!.frames : null, eb === epoch ? rb.value!.frames : null);
      if (d) return d;
      if (ea === epoch) ra = await a.next();
      if (eb === epoch) rb = await b.next();
    }
    return null;
  } finally {
    await a.return?.();
    await b.return?.();
  }
}

/**
 * Compares one epoch's frames (either side null = the epoch is absent there). For streaming
 * use: call it for each epoch as the replay produces it and stop at the first non-null result.
 */
export function compareEpochFrames(epoch: number, recorded: readonly FrameLike[] | null, replayed: readonly FrameLike[] | null): Divergence | null {
  const nodes = new NodeIdBytes();
  const byNode = (x: FrameLike, y: FrameLike): number => compareNodeBytes(nodes.get(x.node), nodes.get(y.node));
  const rec = (recorded ?? []).slice().sort(byNode);
  const rep = (replayed ?? []).slice().sort(byNode);
  const found: Divergence[] = [];
  let i = 0;
  let j = 0;
  while (i < rec.length || j < rep.length) {
    const c = i >= rec.length ? 1 : j >= rep.length ? -1 : byNode(rec[i], rep[j]);
    if (c < 0) {
      found.push(frameOnOneSide(epoch, rec[i++], 'recorded', replayed === null ? 'missing-epoch' : 'missing-frame'));
    } else if (c > 0) {
      found.push(frameOnOneSide(epoch, rep[j++], 'replayed', recorded === null ? 'extra-epoch' : 'extra-frame'));
    } else {
      const d = compareBatches(epoch, rec[i].node, rec[i].batch, rep[j].batch);
      if (d) found.push(d);
      i++;
      j++;
    }
  }
  if (found.length === 0) return null;
  // Earliest virtual time first; structural differences without a time keep node order.
  let best = found[0];
  for (const d of found) if (d.atNs !== null && (best.atNs === null || d.atNs < best.atNs)) best = d;
  return best;
}

function compareBatches(epoch: number, node: string, recBatch: Uint8Array, repBatch: Uint8Array): Divergence | null {
  if (bytesEqual(recBatch, repBatch)) return null;
  const base = { epoch, node, fields: [] as string[] };
  let rec: SimEvent[];
  let rep: SimEvent[];
  try {
    rec = decodeEventBatch(recBatch);
  } catch (err) {
    return { ...base, kind: 'undecodable', index: 0, atNs: null, recorded: null, replayed: null, detail: `the recorded batch of node ${node} in epoch ${epoch} cannot be decoded (${(err as Error).message}).` };
  }
  try {
    rep = decodeEventBatch(repBatch);
  } catch (err) {
    return { ...base, kind: 'undecodable', index: 0, atNs: null, recorded: null, replayed: null, detail: `the replayed batch of node ${node} in epoch ${epoch} cannot be decoded (${(err as Error).message}).` };
  }
  const n = Math.max(rec.length, rep.length);
  for (let k = 0; k < n; k++) {
    const a = rec[k] ?? null;
    const b = rep[k] ?? null;
    if (a === null) {
      return { ...base, kind: 'extra-event', index: k, atNs: b!.atNs, recorded: null, replayed: b, detail: `the replay has an extra ${b!.kind} event #${k} of node ${node} in epoch ${epoch} at ${b!.atNs} ns.` };
    }
    if (b === null) {
      return { ...base, kind: 'missing-event', index: k, atNs: a.atNs, recorded: a, replayed: null, detail: `the replay lacks the recorded ${a.kind} event #${k} of node ${node} in epoch ${epoch} at ${a.atNs} ns.` };
    }
    const fields = diffFields(a, b);
    if (fields.length > 0) {
      return { ...base, kind: 'event', index: k, atNs: a.atNs, recorded: a, replayed: b, fields, detail: `event #${k} of node ${node} in epoch ${epoch} at ${a.atNs} ns differs in ${fields.join(', ')}.` };
    }
  }
  return { ...base, kind: 'encoding', index: 0, atNs: null, recorded: null, replayed: null, detail: `the batches of node ${node} in epoch ${epoch} differ in encoding only; their events are equal.` };
}

function frameOnOneSide(epoch: number, f: FrameLike, side: 'recorded' | 'replayed', kind: DivergenceKind): Divergence {
  let first: SimEvent | null = null;
  try {
    first = decodeEventBatch(f.batch)[0] ?? null;
  } catch {
    // the frame's presence is the divergence; its content is shown when it can be decoded
  }
  const where = kind.endsWith('epoch') ? `epoch ${epoch} as a whole` : `the frame of node ${f.node} in epoch ${epoch}`;
  const detail = side === 'recorded' ? `the replay lacks ${where}, which was recorded.` : `the replay has ${where}, which was not recorded.`;
  return {
    kind,
    epoch,
    node: f.node,
    index: 0,
    atNs: first ? first.atNs : null,
    recorded: side === 'recorded' ? first : null,
    replayed: side === 'replayed' ? first : null,
    fields: [],
    detail,
  };
}

/** Paths of the fields whose values differ, in the recorded event's key order. */
export function diffFields(a: unknown, b: unknown, prefix = ''): string[] {
  if (Object.is(a, b)) return [];
  if (Array.isArray(a) && Array.isArray(b)) {
    const out: string[] = [];
    if (a.length !== b.length) out.push(`${prefix}.length`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) out.push(...diffFields(a[i], b[i], `${prefix}[${i}]`));
    return out;
  }
  if (isRecord(a) && isRecord(b) && !Array.isArray(a) && !Array.isArray(b)) {
    const out: string[] = [];
    const keys = [...Object.keys(a), ...Object.keys(b).filter((k) => !(k in a))];
    for (const k of keys) out.push(...diffFields(a[k], b[k], prefix ? `${prefix}.${k}` : k));
    return out;
  }
  return [prefix || '(value)'];
}

/** A side-by-side view of a divergence for the terminal: one row per field, `*` marks a difference. */
export function formatDivergence(d: Divergence): string {
  const head =
    `replay diverged at epoch ${d.epoch}, node ${d.node}, event #${d.index}` +
    (d.atNs === null ? '' : `, virtual time ${d.atNs} ns`) +
    ` (${d.kind}): ${d.detail}`;
  const left = flatten(d.recorded);
  const right = flatten(d.replayed);
  const paths = [...left.keys(), ...[...right.keys()].filter((k) => !left.has(k))];
  if (paths.length === 0) return head;
  const differing = new Set(d.fields);
  const rows: [string, string, string, string][] = [[' ', 'field', 'recorded', 'replayed']];
  for (const p of paths) {
    const l = left.has(p) ? left.get(p)! : d.recorded ? '' : '(none)';
    const r = right.has(p) ? right.get(p)! : d.replayed ? '' : '(none)';
    const mark = differing.has(p) || [...differing].some((f) => f.startsWith(p + '[') || f === p + '.length') || l !== r ? '*' : ' ';
    rows.push([mark, p, l, r]);
  }
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const w2 = Math.max(...rows.map((r) => r[2].length));
  return [head, ...rows.map(([m, p, l, r]) => `${m} ${p.padEnd(w1)}  ${l.padEnd(w2)}  ${r}`.trimEnd())].join('\n');
}

function flatten(e: SimEvent | null): Map<string, string> {
  const out = new Map<string, string>();
  if (e === null) return out;
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) {
      const s = JSON.stringify(v);
      out.set(path, s.length > 60 ? s.slice(0, 57) + '...' : s);
    } else if (isRecord(v)) {
      for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
    } else {
      out.set(path, typeof v === 'string' ? v : String(v));
    }
  };
  walk(e, '');
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function toAsyncIterator<T>(src: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> {
  if (Symbol.asyncIterator in src) return (src as AsyncIterable<T>)[Symbol.asyncIterator]();
  const it = (src as Iterable<T>)[Symbol.iterator]();
  return {
    next: async () => it.next(),
    return: async () => it.return?.() ?? { done: true, value: undefined },
  };
}
