import { pb } from '@vpmu/proto';
import { decodeReport, decodeWorkItem, encodeReport, encodeWorkItem, EntryAssembler, entryPieces, SWEEP_PIECE_BYTES } from './sweep-wire';

const KEY = 'ab'.repeat(32);
const head = (attempt: string) => ({ key: KEY, worker: 'w1', attempt, toolVersion: 't1' });
const roundTrip = (r: ReturnType<typeof entryPieces>[number]) => decodeReport(encodeReport(r))!;

describe('sweep wire', () => {
  it('cuts a file over the piece size into pieces and puts the entry back together, byte for byte', () => {
    const big = Buffer.alloc(SWEEP_PIECE_BYTES * 2 + 17, 7);
    const files = [
      { name: 'summary.json', bytes: Buffer.from('{"a":1}') },
      { name: 'recording.vpmurec', bytes: big },
      { name: 'guest/vm1/rec.perf.data', bytes: Buffer.alloc(0) },
    ];
    const pieces = entryPieces(head('a1'), files);
    expect(pieces).toHaveLength(1 + 3 + 1);
    // Every message stays far below Kafka's 1 MB default limit.
    for (const p of pieces) expect(encodeReport(p).length).toBeLessThan(SWEEP_PIECE_BYTES + 1024);
    const a = new EntryAssembler();
    const outcomes = pieces.map((p) => a.add(roundTrip(p)));
    expect(outcomes.slice(0, -1).every((o) => o.kind === 'none')).toBe(true);
    const last = outcomes[outcomes.length - 1];
    expect(last.kind).toBe('entry');
    if (last.kind !== 'entry') return;
    expect(last.files.map((f) => [f.name, Buffer.compare(Buffer.from(f.bytes), Buffer.from(files.find((x) => x.name === f.name)!.bytes))])).toEqual([
      ['summary.json', 0],
      ['recording.vpmurec', 0],
      ['guest/vm1/rec.perf.data', 0],
    ]);
  });

  it('keeps two attempts at the same point apart (a redone item interleaving with a dead worker’s pieces)', () => {
    const bytes = Buffer.alloc(SWEEP_PIECE_BYTES + 1, 1);
    const first = entryPieces(head('dead'), [{ name: 'summary.json', bytes }]);
    const second = entryPieces(head('redo'), [{ name: 'summary.json', bytes }]);
    const a = new EntryAssembler();
    expect(a.add(roundTrip(first[0])).kind).toBe('none'); // the dead worker's first piece, never its last
    expect(a.add(roundTrip(second[0])).kind).toBe('none');
    expect(a.add(roundTrip(second[1])).kind).toBe('entry');
  });

  it('ignores a piece delivered twice (a producer retry)', () => {
    const pieces = entryPieces(head('dup'), [{ name: 'summary.json', bytes: Buffer.alloc(SWEEP_PIECE_BYTES + 5, 3) }]);
    const a = new EntryAssembler();
    expect(a.add(roundTrip(pieces[0])).kind).toBe('none');
    expect(a.add(roundTrip(pieces[0])).kind).toBe('none');
    expect(a.add(roundTrip(pieces[1])).kind).toBe('entry');
  });

  it('refuses a lost piece, a wrong SHA-256 and a path leaving the entry', () => {
    const pieces = entryPieces(head('x'), [{ name: 'summary.json', bytes: Buffer.alloc(SWEEP_PIECE_BYTES + 5, 2) }]);
    expect(new EntryAssembler().add(roundTrip(pieces[1]))).toMatchObject({ kind: 'bad', error: expect.stringContaining('starts at byte 262144 where 0 was next (a lost piece)') });
    const tampered = roundTrip(entryPieces(head('y'), [{ name: 'summary.json', bytes: Buffer.from('{}') }])[0]);
    tampered.piece!.content = Buffer.from('[]');
    expect(new EntryAssembler().add(tampered)).toMatchObject({ kind: 'bad', error: 'summary.json arrived with another SHA-256 than its worker computed' });
    const escape = roundTrip(entryPieces(head('z'), [{ name: '../../etc/x', bytes: Buffer.from('x') }])[0]);
    expect(new EntryAssembler().add(escape)).toMatchObject({ kind: 'bad', error: expect.stringContaining('not a path inside a run directory') });
  });

  it('decodes a work item, and names what is wrong with one that is not', () => {
    const item = decodeWorkItem(encodeWorkItem({ key: KEY, scenarioText: 'version: 1', seed: 3, toolVersion: 't1', sweep: 's' }));
    expect(item).toMatchObject({ key: KEY, scenarioText: 'version: 1', toolVersion: 't1' });
    expect(Number((item as { seed: unknown }).seed)).toBe(3);
    expect((decodeWorkItem(null) as Error).message).toBe('the work item is empty');
    expect((decodeWorkItem(Buffer.from([0xff, 0xff, 0xff])) as Error).message).toMatch(/^the work item is not a SweepWorkItem/);
    expect((decodeWorkItem(Buffer.from(pb.SweepWorkItem.encode({ key: 'short', scenarioText: 'x', toolVersion: 't' }).finish())) as Error).message).toBe('the work item has no valid cache key (got "short")');
    expect((decodeWorkItem(encodeWorkItem({ key: KEY, scenarioText: 'x' })) as Error).message).toBe('the work item names no tool version');
  });
});
