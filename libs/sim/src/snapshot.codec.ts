// Checkpoints of the simulated world: a generic object-graph codec. The world is plain data
// plus instances of registered model classes (Prng, EventQueue, PMU and perf models, ...), so a
// checkpoint is its object graph — shared references and cycles included — written as JSON, and
// restoring rebuilds the same graph with the same prototypes. Nothing is re-derived, so a restored
// world continues exactly where the original would have. A function or an unregistered class in
// the graph is a model bug (state that cannot be checkpointed) and fails loudly with its path.

export class SnapshotError extends Error {}

// Any class, private constructors included (restoring never calls the constructor).
type Ctor = { readonly prototype: unknown; readonly name: string };

export class SnapshotRegistry {
  private readonly byName = new Map<string, Ctor>();
  private readonly byCtor = new Map<Ctor, string>();

  register(name: string, ctor: Ctor): this {
    const existing = this.byName.get(name);
    if (existing && existing !== ctor) throw new SnapshotError(`snapshot class name ${name} registered twice`);
    this.byName.set(name, ctor);
    this.byCtor.set(ctor, name);
    return this;
  }

  /** Registers several classes by their constructor names. */
  registerAll(ctors: Ctor[]): this {
    for (const c of ctors) this.register(c.name, c);
    return this;
  }

  nameOf(ctor: Ctor): string | undefined {
    return this.byCtor.get(ctor);
  }

  ctorOf(name: string): Ctor | undefined {
    return this.byName.get(name);
  }
}

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

export function encodeSnapshot(root: unknown, registry: SnapshotRegistry): Uint8Array {
  const ids = new Map<object, number>();
  const nodes: NodeRecord[] = [];
  const enc = (value: unknown, path: string): Encoded => {
    switch (typeof value) {
      case 'number':
        return Number.isFinite(value) ? (Object.is(value, -0) ? { $n: '-0' } : value) : { $n: String(value) };
      case 'string':
      case 'boolean':
        return value;
      case 'undefined':
        return { $u: 1 };
      case 'bigint':
        return { $b: value.toString() };
      case 'function':
      case 'symbol':
        throw new SnapshotError(`cannot checkpoint a ${typeof value} at ${path}: model state must be data`);
    }
    if (value === null) return null;
    const obj = value as object;
    const seen = ids.get(obj);
    if (seen !== undefined) return { $r: seen };
    const id = nodes.length;
    ids.set(obj, id);
    const rec: NodeRecord = { t: 'o', v: null };
    nodes.push(rec);
    if (Array.isArray(obj)) {
      rec.t = 'a';
      rec.v = obj.map((x, i) => enc(x, `${path}[${i}]`));
    } else if (obj instanceof Map) {
      rec.t = 'm';
      rec.v = [...obj.entries()].map(([k, x], i) => [enc(k, `${path}<key ${i}>`), enc(x, `${path}.get(${String(k)})`)]);
    } else if (obj instanceof Set) {
      rec.t = 's';
      rec.v = [...obj].map((x, i) => enc(x, `${path}<item ${i}>`));
    } else if (ArrayBuffer.isView(obj)) {
      const kind = obj.constructor.name;
      if (!TYPED[kind]) throw new SnapshotError(`cannot checkpoint a ${kind} at ${path}`);
      rec.t = 'ta';
      rec.c = kind;
      rec.v = Array.from(obj as unknown as ArrayLike<number>, (x) => (Number.isFinite(x) ? x : String(x)));
    } else {
      const proto = Object.getPrototypeOf(obj);
      if (proto !== Object.prototype && proto !== null) {
        const name = registry.nameOf(proto.constructor);
        if (!name) throw new SnapshotError(`cannot checkpoint an instance of unregistered class ${proto.constructor?.name ?? '?'} at ${path}`);
        rec.c = name;
      }
      const fields: [string, Encoded][] = [];
      for (const key of Object.keys(obj)) fields.push([key, enc((obj as Record<string, unknown>)[key], `${path}.${key}`)]);
      rec.v = fields;
    }
    return { $r: id };
  };
  const rootEnc = enc(root, '$');
  return new TextEncoder().encode(JSON.stringify({ v: 1, root: rootEnc, nodes }));
}

export function decodeSnapshot<T>(bytes: Uint8Array, registry: SnapshotRegistry): T {
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
