import { Writer } from 'protobufjs/minimal';
import { BatchWriter } from './batch.writer';

// The event-batch encoder's bytes are pinned by every content digest, so its writer must write
// exactly what protobufjs' Writer writes for the same operations.
describe('BatchWriter writes the bytes of protobufjs Writer', () => {
  const values = [0, 1, 127, 128, 300, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, 2 ** 53 - 1, 2 ** 60, 2 ** 63, -1, -300];

  it('varints of every size, 32- and 64-bit', () => {
    for (const v of values) {
      if (v >= 0 && v < 2 ** 32) expect(new BatchWriter().reset().uint32(v).finish()).toEqual(new Uint8Array(Writer.create().uint32(v).finish()));
      expect(new BatchWriter().reset().uint64(v).finish()).toEqual(new Uint8Array(Writer.create().uint64(v).finish()));
    }
  });

  it('nested length-delimited bodies whose lengths need 1, 2 and 3 varint bytes, and UTF-8 strings', () => {
    const ops = (w: { uint32(v: number): unknown; string(s: string): unknown; fork(): unknown; ldelim(): unknown }): void => {
      for (const n of [3, 200, 20_000]) {
        w.uint32(26);
        w.fork();
        w.uint32(10);
        w.fork();
        for (let i = 0; i < n; i++) w.uint32(i % 250);
        w.ldelim();
        w.uint32(18);
        w.string(`név-${n}-✓`);
        w.ldelim();
      }
    };
    const ours = new BatchWriter().reset();
    const theirs = Writer.create();
    ops(ours);
    ops(theirs);
    expect(ours.finish()).toEqual(new Uint8Array(theirs.finish()));
  });

  it('starts clean after reset, even after an unfinished message', () => {
    const w = new BatchWriter().reset();
    w.uint32(26).fork().uint32(5);
    expect(w.reset().uint32(8).uint32(1).finish()).toEqual(Uint8Array.from([8, 1]));
  });
});
