// Reads encoding 1 of a checkpoint: the object graph as JSON ({v: 1, root, nodes}), what the
// first recordings (format 1) hold. Nothing writes it any more (snapshot.codec.ts writes
// encoding 2); it stays so those recordings still restore for `inspect --at` and replay.
import type { SnapshotRegistry } from './snapshot.codec';
import { SnapshotError } from './snapshot.errors';

type Encoded = null | boolean | number | string | { [k: string]: unknown } | Encoded[];

interface NodeRecord {
  t: 'o' | 'a' | 'm' | 's' | 'ta';
  c?: string; // class name (objects) or typed array kind
  v: unknown;
}

const TYPED: Record<string, new (a: ArrayLike<number>) => ArrayLike<number>> = {
  Float64Array,
  Float32Array,
  Int32Array,
  Uint32Array,
  Uint16Array,
  Uint8Array,
  Int8Array,
  Int16Array,
};

export function decodeJsonSnapshot<T>(bytes: Uint8Array, registry: SnapshotRegistry): T {
  let doc: { v: number; root: Encoded; nodes: NodeRecord[] };
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new SnapshotError(`checkpoint is not a valid snapshot: ${(err as Error).message}`);
  }
  if (doc?.v !== 1 || !Array.isArray(doc.nodes)) throw new SnapshotError('checkpoint has an unknown snapshot version');
  // Pass 1: create every container with the right prototype, so references resolve in pass 2.
  const made: unknown[] = doc.nodes.map((n) => {
    switch (n.t) {
      case 'a':
        return [];
      case 'm':
        return new Map();
      case 's':
        return new Set();
      case 'ta': {
        const T = TYPED[n.c ?? ''];
        if (!T) throw new SnapshotError(`checkpoint has an unknown typed array ${n.c}`);
        return new T((n.v as (number | string)[]).map(Number));
      }
      case 'o': {
        if (!n.c) return {};
        const ctor = registry.ctorOf(n.c);
        if (!ctor) throw new SnapshotError(`checkpoint names class ${n.c}, unknown to this tool version`);
        return Object.create(ctor.prototype as object);
      }
      default:
        throw new SnapshotError(`checkpoint has an unknown node kind ${(n as NodeRecord).t}`);
    }
  });
  const dec = (e: Encoded): unknown => {
    if (e === null || typeof e !== 'object') return e;
    if (Array.isArray(e)) throw new SnapshotError('checkpoint has an inline array');
    if ('$r' in e) {
      const x = made[e.$r as number];
      if (x === undefined) throw new SnapshotError(`checkpoint references missing node ${String(e.$r)}`);
      return x;
    }
    if ('$u' in e) return undefined;
    if ('$n' in e) return e.$n === '-0' ? -0 : Number(e.$n);
    if ('$b' in e) return BigInt(e.$b as string);
    throw new SnapshotError('checkpoint has an unknown value encoding');
  };
  doc.nodes.forEach((n, i) => {
    const target = made[i];
    switch (n.t) {
      case 'a':
        for (const x of n.v as Encoded[]) (target as unknown[]).push(dec(x));
        break;
      case 'm':
        for (const [k, x] of n.v as [Encoded, Encoded][]) (target as Map<unknown, unknown>).set(dec(k), dec(x));
        break;
      case 's':
        for (const x of n.v as Encoded[]) (target as Set<unknown>).add(dec(x));
        break;
      case 'o':
        for (const [k, x] of n.v as [string, Encoded][]) (target as Record<string, unknown>)[k] = dec(x);
        break;
      default:
        break;
    }
  });
  return dec(doc.root) as T;
}
