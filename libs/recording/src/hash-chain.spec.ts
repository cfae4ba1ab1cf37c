import { createHash } from 'node:crypto';
import { HashChain, sortFramesCanonically } from './hash-chain';
import { encodeRecordingHeader } from './recording.format';
import { sampleHeader } from './recording.fixture';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('HashChain', () => {
  it('follows the documented formula', () => {
    const header = sampleHeader();
    const chain = HashChain.forHeader(header);
    const h0 = createHash('sha256').update(encodeRecordingHeader(header)).digest();
    expect(Buffer.from(chain.current)).toEqual(h0);

    const batch = bytes('batch-bytes');
    chain.addFrame(7, 'host-a', batch);
    const le = Buffer.alloc(4);
    le.writeUInt32LE(7);
    const h1 = createHash('sha256').update(h0).update(le).update(bytes('host-a')).update(Uint8Array.of(0)).update(batch).digest();
    expect(Buffer.from(chain.current)).toEqual(h1);
    expect(Buffer.from(chain.endEpoch(7))).toEqual(h1);
    expect(chain.epochDigests).toEqual([{ epoch: 7, digest: h1 }]);
    expect(chain.currentHex).toBe(h1.toString('hex'));
  });

  it('chains the content digest over the frames alone: the header (tool version, run id) does not enter it', () => {
    const a = HashChain.forHeader(sampleHeader());
    const b = HashChain.forHeader({ ...sampleHeader(), toolVersion: 'another-build', runId: 'another-run' });
    const c0 = createHash('sha256').update('vpmu content digest v1').digest();
    expect(Buffer.from(a.content)).toEqual(c0);
    const batch = bytes('batch-bytes');
    for (const chain of [a, b]) chain.addEpoch(3, [{ node: 'host-a', batch }]);
    const le = Buffer.alloc(4);
    le.writeUInt32LE(3);
    const c1 = createHash('sha256').update(c0).update(le).update(bytes('host-a')).update(Uint8Array.of(0)).update(batch).digest();
    expect(a.contentHex).toBe(c1.toString('hex'));
    expect(b.contentHex).toBe(a.contentHex);
    expect(b.currentHex).not.toBe(a.currentHex);
  });

  it('keeps the hash for an epoch without frames', () => {
    const chain = HashChain.forHeader(sampleHeader());
    const before = chain.currentHex;
    chain.endEpoch(0);
    expect(chain.currentHex).toBe(before);
    expect(chain.lastEpoch).toBe(0);
  });

  it('addEpoch sorts frames canonically, so the input order does not matter', () => {
    const frames = [
      { node: 'host-b', batch: bytes('b') },
      { node: 'host-a', batch: bytes('a') },
      { node: 'host-aa', batch: bytes('aa') },
    ];
    const x = HashChain.forHeader(sampleHeader());
    const y = HashChain.forHeader(sampleHeader());
    x.addEpoch(0, frames);
    y.addEpoch(0, [frames[2], frames[0], frames[1]]);
    expect(x.currentHex).toBe(y.currentHex);
    expect(sortFramesCanonically(frames).map((f) => f.node)).toEqual(['host-a', 'host-aa', 'host-b']);
  });

  it('depends on the header, the epoch number, the node and the batch', () => {
    const digest = (h = sampleHeader(), epoch = 1, node = 'n', batch = 'x'): string => {
      const c = HashChain.forHeader(h);
      c.addEpoch(epoch, [{ node, batch: bytes(batch) }]);
      return c.currentHex;
    };
    const base = digest();
    expect(digest(sampleHeader({ seed: 43 }))).not.toBe(base);
    expect(digest(undefined, 2)).not.toBe(base);
    expect(digest(undefined, 1, 'm')).not.toBe(base);
    expect(digest(undefined, 1, 'n', 'y')).not.toBe(base);
    // The NUL separator keeps node/batch boundaries unambiguous.
    expect(digest(undefined, 1, 'ab', 'c')).not.toBe(digest(undefined, 1, 'a', 'bc'));
  });

  it('rejects frames out of canonical order (a caller bug)', () => {
    const c = HashChain.forHeader(sampleHeader());
    c.addFrame(1, 'b', bytes(''));
    expect(() => c.addFrame(1, 'a', bytes(''))).toThrow(/canonical order/);
    expect(() => c.addFrame(1, 'b', bytes(''))).toThrow(/canonical order/);
    expect(() => c.addFrame(2, 'c', bytes(''))).toThrow(/while epoch 1 is open/);
    c.endEpoch(1);
    expect(() => c.addFrame(1, 'z', bytes(''))).toThrow(/after epoch 1 ended/);
    expect(() => sortFramesCanonically([{ node: 'a' }, { node: 'a' }])).toThrow(/two frames/);
  });
});
