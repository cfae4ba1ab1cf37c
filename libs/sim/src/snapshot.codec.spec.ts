import { EventQueue } from './event-queue';
import { Prng } from './prng';
import { decodeSnapshot, encodeSnapshot, SnapshotError, SnapshotRegistry } from './snapshot.codec';

class Counter {
  value = 0;
  history: number[] = [];
  constructor(readonly name: string) {}
  bump(): number {
    this.history.push(++this.value);
    return this.value;
  }
}

const registry = new SnapshotRegistry().registerAll([Counter, Prng, EventQueue]);

describe('snapshot codec', () => {
  it('restores a graph of registered classes that continues exactly like the original', () => {
    const world = { prng: Prng.fromSeed(9).child('x'), queue: new EventQueue<{ k: string }>(), counters: new Map<string, Counter>() };
    world.counters.set('a', new Counter('a'));
    for (let i = 0; i < 5; i++) {
      world.prng.nextU32();
      world.queue.push(i * 10, { k: `e${i}` });
      world.counters.get('a')!.bump();
    }
    const copy = decodeSnapshot<typeof world>(encodeSnapshot(world, registry), registry);
    expect(copy.prng.nextU32()).toBe(world.prng.nextU32());
    expect(copy.queue.pop()).toEqual(world.queue.pop());
    copy.queue.push(1, { k: 'new' });
    world.queue.push(1, { k: 'new' });
    expect(copy.queue.pop()).toEqual(world.queue.pop());
    expect(copy.counters.get('a')!.bump()).toBe(world.counters.get('a')!.bump());
    expect(copy.counters.get('a')).toBeInstanceOf(Counter);
  });

  it('keeps shared references and cycles, typed arrays, Sets, undefined and non-finite numbers', () => {
    const shared = { n: 1 };
    const root: Record<string, unknown> = { a: shared, b: shared, f: Float64Array.from([1.5, -2]), s: new Set([1, 'x']), u: undefined, inf: Infinity, nz: -0 };
    root.self = root;
    const copy = decodeSnapshot<Record<string, unknown>>(encodeSnapshot(root, registry), registry);
    expect(copy.a).toBe(copy.b);
    expect(copy.self).toBe(copy);
    expect(copy.f).toEqual(Float64Array.from([1.5, -2]));
    expect(copy.s).toEqual(new Set([1, 'x']));
    expect('u' in copy && copy.u === undefined).toBe(true);
    expect(copy.inf).toBe(Infinity);
    expect(Object.is(copy.nz, -0)).toBe(true);
  });

  it('refuses functions and unregistered classes, naming the path', () => {
    class Stranger {}
    expect(() => encodeSnapshot({ x: { cb: () => 1 } }, registry)).toThrow(/function at \$\.x\.cb/);
    expect(() => encodeSnapshot({ y: [new Stranger()] }, registry)).toThrow(/unregistered class Stranger at \$\.y\[0\]/);
  });

  it('reports corrupt checkpoints as SnapshotError', () => {
    expect(() => decodeSnapshot(new TextEncoder().encode('{nope'), registry)).toThrow(SnapshotError);
    expect(() => decodeSnapshot(new TextEncoder().encode('{"v":1,"root":{"$r":0},"nodes":[{"t":"o","c":"Gone","v":[]}]}'), registry)).toThrow(/class Gone/);
  });

  it('reports a truncated or tampered binary checkpoint as SnapshotError, never a wrong graph', () => {
    const bytes = encodeSnapshot({ a: [1, 2, 3], s: 'text', c: new Counter('x') }, registry);
    for (let n = 0; n < bytes.length; n++) expect(() => decodeSnapshot(bytes.subarray(0, n), registry)).toThrow(SnapshotError);
    expect(() => decodeSnapshot(Uint8Array.from([...bytes, 0]), registry)).toThrow(/after its root value/);
  });

  it('writes each string and object shape once (a checkpoint of many alike objects stays small)', () => {
    const many = Array.from({ length: 1000 }, (_, i) => ({ name: 'same-name', index: i, ready: true }));
    // 1000 objects of 3 fields: a shape reference, a string reference and two small values each.
    expect(encodeSnapshot(many, registry).length).toBeLessThan(1000 * 8);
    expect(decodeSnapshot(encodeSnapshot(many, registry), registry)).toEqual(many);
  });

  it('still reads encoding 1 (the JSON checkpoints of format-1 recordings)', () => {
    const json = '{"v":1,"root":{"$r":0},"nodes":[{"t":"o","c":"Counter","v":[["value",2],["history",{"$r":1}],["name","a"]]},{"t":"a","v":[1,2]}]}';
    const c = decodeSnapshot<Counter>(new TextEncoder().encode(json), registry);
    expect(c).toBeInstanceOf(Counter);
    expect(c.bump()).toBe(3);
    expect(c.history).toEqual([1, 2, 3]);
  });

  it('keeps property order, big and negative integers, bigints and class instances in Maps', () => {
    const root = { z: 1, a: -(2 ** 53 - 1), m: new Map<unknown, unknown>([[3, new Counter('m')], ['k', 2n ** 70n]]), f: 0.1, big: 2 ** 60 };
    const copy = decodeSnapshot<typeof root>(encodeSnapshot(root, registry), registry);
    expect(Object.keys(copy)).toEqual(['z', 'a', 'm', 'f', 'big']);
    expect(copy).toEqual(root);
    expect(copy.m.get(3)).toBeInstanceOf(Counter);
  });
});
