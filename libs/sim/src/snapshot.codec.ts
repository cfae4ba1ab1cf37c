// Checkpoints of the simulated world: a generic object-graph codec. The world is plain data
// plus instances of registered model classes (Prng, EventQueue, PMU and perf models, ...), so a
// checkpoint is its object graph — shared references and cycles included — and restoring
// rebuilds the same graph with the same prototypes and the same property order. Nothing is
// re-derived, so a restored world continues exactly where the original would have. A function or
// an unregistered class in the graph is a model bug (state that cannot be checkpointed) and fails
// loudly with its path.
//
// Encoding 2 (binary, this file): "VSN" 0x02, then one value. A world has thousands of objects
// of a few dozen shapes and the same strings over and over, so every string and every object
// shape (class + key list) is written once and referred to by number afterwards; integers are
// varints. The encoder writes into one reused growable buffer and builds the path of a value only
// when it has to report an error: a checkpoint used to allocate several times its own size in
// JSON records and path strings, and that medium-lived garbage is what made a long run's RSS grow.
// Encoding 1 (JSON, the first recordings' checkpoints) is still read: snapshot-json.decoder.ts.
import { decodeJsonSnapshot } from './snapshot-json.decoder';
import { SnapshotError } from './snapshot.errors';

export { SnapshotError } from './snapshot.errors';

// Any class, private constructors included (restoring never calls the constructor).
export type SnapshotCtor = { readonly prototype: unknown; readonly name: string };

export class SnapshotRegistry {
  private readonly byName = new Map<string, SnapshotCtor>();
  private readonly byCtor = new Map<SnapshotCtor, string>();

  register(name: string, ctor: SnapshotCtor): this {
    const existing = this.byName.get(name);
    if (existing && existing !== ctor) throw new SnapshotError(`snapshot class name ${name} registered twice`);
    this.byName.set(name, ctor);
    this.byCtor.set(ctor, name);
    return this;
  }

  /** Registers several classes by their constructor names. */
  registerAll(ctors: SnapshotCtor[]): this {
    for (const c of ctors) this.register(c.name, c);
    return this;
  }

  nameOf(ctor: SnapshotCtor): string | undefined {
    return this.byCtor.get(ctor);
  }

  ctorOf(name: string): SnapshotCtor | undefined {
    return this.byName.get(name);
  }
}

/** First bytes of an encoding-2 snapshot ("VSN", version); a JSON snapshot starts with "{". */
const MAGIC = [0x56, 0x53, 0x4e, 0x02];

const enum Tag {
  Null = 0,
  Undefined = 1,
  False = 2,
  True = 3,
  UInt = 4,
  NegInt = 5,
  Float = 6,
  NewString = 7,
  StringRef = 8,
  Ref = 9,
  Object = 10,
  Array = 11,
  Map = 12,
  Set = 13,
  Typed = 14,
  BigInt = 15,
}

const TYPED_KINDS = ['Float64Array', 'Float32Array', 'Int32Array', 'Uint32Array', 'Uint16Array', 'Uint8Array', 'Int8Array', 'Int16Array'] as const;
const TYPED: Record<(typeof TYPED_KINDS)[number], new (a: ArrayLike<number>) => ArrayLike<number>> = {
  Float64Array,
  Float32Array,
  Int32Array,
  Uint32Array,
  Uint16Array,
  Uint8Array,
  Int8Array,
  Int16Array,
};

interface Shape {
  id: number;
  keys: string[];
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** The output buffer, reused by every encode (a checkpoint is copied out of it). */
let out = new Uint8Array(1 << 16);
let outView = new DataView(out.buffer);

class SnapshotEncoder {
  private pos = 0;
  private readonly ids = new Map<object, number>();
  private readonly strings = new Map<string, number>();
  /** Shapes seen per prototype (null prototype and Object.prototype included). */
  private readonly shapes = new Map<unknown, Shape[]>();
  private shapeCount = 0;
  /** Path segments of the value being written; joined only for an error message. */
  private readonly path: string[] = ['$'];

  constructor(private readonly registry: SnapshotRegistry) {}

  encode(root: unknown): Uint8Array {
    for (const b of MAGIC) this.byte(b);
    this.value(root);
    return out.slice(0, this.pos);
  }

  private fail(what: string): never {
    throw new SnapshotError(`cannot checkpoint ${what} at ${this.path.join('')}: model state must be data`);
  }

  private ensure(n: number): void {
    if (this.pos + n <= out.length) return;
    let size = out.length * 2;
    while (size < this.pos + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(out.subarray(0, this.pos));
    out = bigger;
    outView = new DataView(out.buffer);
  }

  private byte(b: number): void {
    this.ensure(1);
    out[this.pos++] = b;
  }

  /** Unsigned integer up to 2^53 as a little-endian base-128 varint. */
  private varint(n: number): void {
    this.ensure(8);
    while (n >= 0x80) {
      out[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    out[this.pos++] = n;
  }

  private string(s: string): void {
    const id = this.strings.get(s);
    if (id !== undefined) {
      this.byte(Tag.StringRef);
      this.varint(id);
      return;
    }
    this.strings.set(s, this.strings.size);
    this.byte(Tag.NewString);
    this.ensure(s.length * 3 + 8);
    // Length first: encode into place after a worst-case varint gap, then move if shorter.
    const lenAt = this.pos;
    const written = utf8Encoder.encodeInto(s, out.subarray(lenAt + 5)).written;
    let lenBytes = 1;
    for (let n = written; n >= 0x80; n = Math.floor(n / 0x80)) lenBytes++;
    if (lenBytes !== 5) out.copyWithin(lenAt + lenBytes, lenAt + 5, lenAt + 5 + written);
    this.varint(written);
    this.pos = lenAt + lenBytes + written;
  }

  private number(v: number): void {
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
      if (v >= 0) {
        this.byte(Tag.UInt);
        this.varint(v);
      } else {
        this.byte(Tag.NegInt);
        this.varint(-v);
      }
      return;
    }
    this.byte(Tag.Float);
    this.ensure(8);
    outView.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  private value(v: unknown): void {
    switch (typeof v) {
      case 'number':
        return this.number(v);
      case 'string':
        return this.string(v);
      case 'boolean':
        return this.byte(v ? Tag.True : Tag.False);
      case 'undefined':
        return this.byte(Tag.Undefined);
      case 'bigint':
        this.byte(Tag.BigInt);
        return this.string(v.toString());
      case 'function':
      case 'symbol':
        return this.fail(`a ${typeof v}`);
    }
    if (v === null) return this.byte(Tag.Null);
    const obj = v as object;
    const seen = this.ids.get(obj);
    if (seen !== undefined) {
      this.byte(Tag.Ref);
      this.varint(seen);
      return;
    }
    this.ids.set(obj, this.ids.size);
    const path = this.path;
    if (Array.isArray(obj)) {
      this.byte(Tag.Array);
      this.varint(obj.length);
      for (let i = 0; i < obj.length; i++) {
        path.push(`[${i}]`);
        this.value(obj[i]);
        path.pop();
      }
    } else if (obj instanceof Map) {
      this.byte(Tag.Map);
      this.varint(obj.size);
      let i = 0;
      for (const [k, x] of obj) {
        path.push(`<key ${i++}>`);
        this.value(k);
        path[path.length - 1] = `.get(${String(k)})`;
        this.value(x);
        path.pop();
      }
    } else if (obj instanceof Set) {
      this.byte(Tag.Set);
      this.varint(obj.size);
      let i = 0;
      for (const x of obj) {
        path.push(`<item ${i++}>`);
        this.value(x);
        path.pop();
      }
    } else if (ArrayBuffer.isView(obj)) {
      const kind = TYPED_KINDS.indexOf(obj.constructor.name as (typeof TYPED_KINDS)[number]);
      if (kind < 0) this.fail(`a ${obj.constructor.name}`);
      const items = obj as unknown as ArrayLike<number>;
      this.byte(Tag.Typed);
      this.varint(kind);
      this.varint(items.length);
      for (let i = 0; i < items.length; i++) this.number(items[i]);
    } else {
      this.object(obj);
    }
  }

  private object(obj: object): void {
    const proto: unknown = Object.getPrototypeOf(obj);
    let className: string | null = null;
    if (proto !== Object.prototype && proto !== null) {
      const ctor = (proto as { constructor?: SnapshotCtor }).constructor;
      const name = ctor ? this.registry.nameOf(ctor) : undefined;
      if (!name) this.fail(`an instance of unregistered class ${ctor?.name ?? '?'}`);
      className = name;
    }
    const keys = Object.keys(obj);
    let known = this.shapes.get(proto);
    if (!known) this.shapes.set(proto, (known = []));
    const shape = known.find((s) => sameKeys(s.keys, keys));
    this.byte(Tag.Object);
    if (shape) {
      this.varint(shape.id + 1);
    } else {
      // 0 = a new shape follows: class name (null for a plain object), key count, keys.
      known.push({ id: this.shapeCount++, keys });
      this.varint(0);
      if (className === null) this.byte(Tag.Null);
      else this.string(className);
      this.varint(keys.length);
      for (const k of keys) this.string(k);
    }
    const record = obj as Record<string, unknown>;
    for (const k of keys) {
      this.path.push(`.${k}`);
      this.value(record[k]);
      this.path.pop();
    }
  }
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface DecodedShape {
  proto: object | null;
  keys: string[];
}

class SnapshotDecoder {
  private pos = MAGIC.length;
  private readonly view: DataView;
  private readonly made: unknown[] = [];
  private readonly strings: string[] = [];
  private readonly shapes: DecodedShape[] = [];

  constructor(
    private readonly bytes: Uint8Array,
    private readonly registry: SnapshotRegistry,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  decode(): unknown {
    const root = this.value();
    if (this.pos !== this.bytes.length) throw new SnapshotError(`checkpoint has ${this.bytes.length - this.pos} bytes after its root value`);
    return root;
  }

  private byte(): number {
    if (this.pos >= this.bytes.length) throw new SnapshotError('checkpoint is truncated');
    return this.bytes[this.pos++];
  }

  private varint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new SnapshotError('checkpoint has an over-long integer');
    }
  }

  private count(): number {
    const n = this.varint();
    // Every element takes at least one byte: a larger count is a corrupt length, not a big world.
    if (n > this.bytes.length - this.pos) throw new SnapshotError('checkpoint is truncated');
    return n;
  }

  private string(): string {
    const tag = this.byte();
    if (tag === Tag.StringRef) {
      const s = this.strings[this.varint()];
      if (s === undefined) throw new SnapshotError('checkpoint references a missing string');
      return s;
    }
    if (tag !== Tag.NewString) throw new SnapshotError(`checkpoint has value tag ${tag} where a string belongs`);
    const len = this.count();
    let s: string;
    try {
      s = utf8Decoder.decode(this.bytes.subarray(this.pos, this.pos + len));
    } catch {
      throw new SnapshotError('checkpoint has a string that is not UTF-8');
    }
    this.pos += len;
    this.strings.push(s);
    return s;
  }

  private value(): unknown {
    const tag = this.byte();
    switch (tag) {
      case Tag.Null:
        return null;
      case Tag.Undefined:
        return undefined;
      case Tag.False:
        return false;
      case Tag.True:
        return true;
      case Tag.UInt:
        return this.varint();
      case Tag.NegInt:
        return -this.varint();
      case Tag.Float: {
        if (this.pos + 8 > this.bytes.length) throw new SnapshotError('checkpoint is truncated');
        const v = this.view.getFloat64(this.pos, true);
        this.pos += 8;
        return v;
      }
      case Tag.NewString:
      case Tag.StringRef:
        this.pos--;
        return this.string();
      case Tag.BigInt:
        return BigInt(this.string());
      case Tag.Ref: {
        const id = this.varint();
        if (id >= this.made.length) throw new SnapshotError(`checkpoint references missing node ${id}`);
        return this.made[id];
      }
      case Tag.Array: {
        const n = this.count();
        const a: unknown[] = [];
        this.made.push(a);
        for (let i = 0; i < n; i++) a.push(this.value());
        return a;
      }
      case Tag.Map: {
        const n = this.count();
        const m = new Map<unknown, unknown>();
        this.made.push(m);
        for (let i = 0; i < n; i++) {
          const k = this.value();
          m.set(k, this.value());
        }
        return m;
      }
      case Tag.Set: {
        const n = this.count();
        const s = new Set<unknown>();
        this.made.push(s);
        for (let i = 0; i < n; i++) s.add(this.value());
        return s;
      }
      case Tag.Typed: {
        const T = TYPED[TYPED_KINDS[this.varint()]];
        if (!T) throw new SnapshotError('checkpoint has an unknown typed array kind');
        const n = this.count();
        const id = this.made.length;
        this.made.push(null);
        const items: number[] = [];
        for (let i = 0; i < n; i++) {
          const x = this.value();
          if (typeof x !== 'number') throw new SnapshotError('checkpoint has a typed array element that is not a number');
          items.push(x);
        }
        return (this.made[id] = new T(items));
      }
      case Tag.Object:
        return this.object();
      default:
        throw new SnapshotError(`checkpoint has an unknown value tag ${tag}`);
    }
  }

  private object(): unknown {
    const ref = this.varint();
    let shape: DecodedShape | undefined;
    if (ref === 0) {
      let proto: object | null = Object.prototype;
      if (this.bytes[this.pos] === Tag.Null) {
        this.pos++;
      } else {
        const name = this.string();
        const ctor = this.registry.ctorOf(name);
        if (!ctor) throw new SnapshotError(`checkpoint names class ${name}, unknown to this tool version`);
        proto = ctor.prototype as object;
      }
      const n = this.count();
      const keys: string[] = [];
      for (let i = 0; i < n; i++) keys.push(this.string());
      this.shapes.push((shape = { proto, keys }));
    } else {
      shape = this.shapes[ref - 1];
      if (!shape) throw new SnapshotError(`checkpoint references missing shape ${ref - 1}`);
    }
    const obj = Object.create(shape.proto) as Record<string, unknown>;
    this.made.push(obj);
    for (const k of shape.keys) obj[k] = this.value();
    return obj;
  }
}

export function encodeSnapshot(root: unknown, registry: SnapshotRegistry): Uint8Array {
  return new SnapshotEncoder(registry).encode(root);
}

export function decodeSnapshot<T>(bytes: Uint8Array, registry: SnapshotRegistry): T {
  if (bytes.length > 0 && bytes[0] === 0x7b) return decodeJsonSnapshot<T>(bytes, registry); // "{": encoding 1
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw new SnapshotError('checkpoint is not a valid snapshot: unknown encoding');
  }
  return new SnapshotDecoder(bytes, registry).decode() as T;
}
