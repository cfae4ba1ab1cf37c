import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeEventBatch, encodeEventBatch } from '@vpmu/proto';
import type { SimEvent } from '@vpmu/sim';
import { compareEpochFrames, diffFields, Divergence, findFirstDivergence, findFirstDivergenceAsync, formatDivergence } from './divergence';
import { sampleEpochs, sampleEvents, tempDir, writeSample } from './recording.fixture';
import { readRecording } from './recording.reader';
import { rewriteRecording } from './recording.rewrite';

let dir: string;
beforeEach(() => {
  dir = tempDir('vpmu-divergence-');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('findFirstDivergence', () => {
  it('finds nothing in identical runs', () => {
    expect(findFirstDivergence(sampleEpochs(), sampleEpochs())).toBeNull();
  });

  it('reports an edited event at exactly its epoch, node, index and field (recording rewritten with valid CRCs)', () => {
    const original = path.join(dir, 'original.vpmurec');
    const edited = path.join(dir, 'edited.vpmurec');
    writeSample(original, { checkpointEpochs: [2] });
    rewriteRecording(original, edited, {
      editEpoch: (e) =>
        e.frames.map((f) => {
          if (e.epoch !== 2 || f.node !== 'host-b') return f;
          const events = decodeEventBatch(f.batch);
          const target = events[4];
          if (target.kind !== 'counterSample') throw new Error('fixture changed');
          target.observed += 1;
          return { node: f.node, batch: encodeEventBatch(events), eventCount: events.length };
        }),
    });
    const rec = readRecording(edited); // a valid recording: only the content differs
    expect(rec.complete).toBe(true);
    const replay = readRecording(original);
    expect(rec.finalDigestHex).not.toBe(replay.finalDigestHex);
    expect(rec.epochs[1].digest).toEqual(replay.epochs[1].digest);

    const d = findFirstDivergence(rec.epochs, replay.epochs)!;
    const expected = sampleEvents(2, 'host-b', 5)[4];
    expect(d).toMatchObject({ kind: 'event', epoch: 2, node: 'host-b', index: 4, atNs: expected.atNs, fields: ['observed'] });
    expect(d.replayed).toEqual(expected);
    expect(d.recorded).toEqual({ ...expected, observed: (expected as { observed: number }).observed + 1 });
    expect(rec.checkpoints.map((c) => c.epoch)).toEqual([2, 2]);
  });

  it('picks the earliest event in virtual time across nodes of the first differing epoch', () => {
    const a = sampleEpochs({ nodes: ['host-a', 'host-b'] });
    const b = sampleEpochs({ nodes: ['host-a', 'host-b'] });
    const edit = (node: string, index: number, change: (e: Record<string, unknown>) => void): void => {
      const f = b[1].frames.find((x) => x.node === node)!;
      const events = decodeEventBatch(f.batch);
      change(events[index] as unknown as Record<string, unknown>);
      f.batch = encodeEventBatch(events);
    };
    edit('host-a', 3, (e) => (e.foreignEntries = 1)); // the lbrSnapshot at +3 us
    edit('host-b', 2, (e) => (e.costNs = 1)); // the vmExit at +2 us: earlier, though host-b sorts later
    const d = findFirstDivergence(a, b)!;
    expect([d.node, d.index, d.fields]).toEqual(['host-b', 2, ['costNs']]);
  });

  it('reports a missing frame and an extra frame', () => {
    const rec = sampleEpochs();
    const rep = sampleEpochs();
    rep[1].frames = rep[1].frames.filter((f) => f.node !== 'host-a');
    const missing = findFirstDivergence(rec, rep)!;
    expect(missing).toMatchObject({ kind: 'missing-frame', epoch: 1, node: 'host-a', index: 0, replayed: null });
    expect(missing.recorded).toEqual(sampleEvents(1, 'host-a', 5)[0]);
    const extra = findFirstDivergence(rep, rec)!;
    expect(extra).toMatchObject({ kind: 'extra-frame', epoch: 1, node: 'host-a', recorded: null });
  });

  it('reports a replay that stops early and one that runs long', () => {
    const rec = sampleEpochs({ epochs: [0, 1, 2] });
    const short = sampleEpochs({ epochs: [0, 1] });
    expect(findFirstDivergence(rec, short)).toMatchObject({ kind: 'missing-epoch', epoch: 2, node: 'host-a' });
    expect(findFirstDivergence(short, rec)).toMatchObject({ kind: 'extra-epoch', epoch: 2, node: 'host-a' });
  });

  it('treats an absent epoch like an epoch without frames, as the hash chain does', () => {
    const rec = [{ epoch: 0, frames: [] }, ...sampleEpochs({ epochs: [1] })];
    expect(findFirstDivergence(rec, sampleEpochs({ epochs: [1] }))).toBeNull();
  });

  it('reports missing and extra events at the end of a batch', () => {
    const events = sampleEvents(0, 'n', 3);
    const full = [{ epoch: 0, frames: [{ node: 'n', batch: encodeEventBatch(events) }] }];
    const cut = [{ epoch: 0, frames: [{ node: 'n', batch: encodeEventBatch(events.slice(0, 2)) }] }];
    expect(findFirstDivergence(full, cut)).toMatchObject({ kind: 'missing-event', index: 2, recorded: events[2], replayed: null });
    expect(findFirstDivergence(cut, full)).toMatchObject({ kind: 'extra-event', index: 2, recorded: null, replayed: events[2] });
  });

  it('reports an undecodable batch and an encoding-only difference', () => {
    const events = sampleEvents(0, 'n', 2);
    const good = encodeEventBatch(events);
    expect(compareEpochFrames(0, [{ node: 'n', batch: good }], [{ node: 'n', batch: Uint8Array.of(0xff, 0xff) }])).toMatchObject({ kind: 'undecodable' });
    // Same events against another time base: the bytes differ, the events do not.
    const rebased = encodeEventBatch(events, 0);
    expect(Buffer.from(rebased).equals(Buffer.from(good))).toBe(false);
    expect(compareEpochFrames(0, [{ node: 'n', batch: good }], [{ node: 'n', batch: rebased }])).toMatchObject({ kind: 'encoding', node: 'n', fields: [] });
    expect(compareEpochFrames(0, [{ node: 'n', batch: good }], [{ node: 'n', batch: Buffer.from(good) }])).toBeNull();
  });

  it('works over async sources', async () => {
    async function* gen(epochs: ReturnType<typeof sampleEpochs>) {
      for (const e of epochs) yield e;
    }
    const rep = sampleEpochs();
    const f = rep[3].frames[0];
    const events = decodeEventBatch(f.batch);
    (events[1] as { preempted: boolean }).preempted = false;
    f.batch = encodeEventBatch(events);
    const d = await findFirstDivergenceAsync(sampleEpochs(), gen(rep));
    expect(d).toMatchObject({ epoch: 3, node: 'host-b', index: 1, fields: ['preempted'] });
    expect(await findFirstDivergenceAsync(gen(sampleEpochs()), sampleEpochs())).toBeNull();
  });
});

describe('diffFields', () => {
  it('names nested and array paths', () => {
    const a: SimEvent = { kind: 'lbrSnapshot', atNs: 5, at: { host: 'h', pcpu: 1 }, fromIps: [1, 2, 3], toIps: [4], foreignEntries: 0 };
    const b: SimEvent = { kind: 'lbrSnapshot', atNs: 5, at: { host: 'h', pcpu: 2 }, fromIps: [1, 9, 3], toIps: [4, 5], foreignEntries: 0 };
    expect(diffFields(a, b)).toEqual(['at.pcpu', 'fromIps[1]', 'toIps.length']);
    expect(diffFields({ at: {} }, { at: { vm: 'x' } })).toEqual(['at.vm']);
    expect(diffFields(a, a)).toEqual([]);
  });
});

describe('formatDivergence', () => {
  it('prints the recorded and replayed event side by side with the differing rows marked', () => {
    const recorded = sampleEvents(2, 'host-b', 5)[4];
    const replayed = { ...recorded, observed: 1 } as SimEvent;
    const d: Divergence = {
      kind: 'event',
      epoch: 2,
      node: 'host-b',
      index: 4,
      atNs: recorded.atNs,
      recorded,
      replayed,
      fields: ['observed'],
      detail: 'event #4 of node host-b in epoch 2 differs in observed.',
    };
    const out = formatDivergence(d);
    const lines = out.split('\n');
    expect(lines[0]).toBe(`replay diverged at epoch 2, node host-b, event #4, virtual time ${recorded.atNs} ns (event): event #4 of node host-b in epoch 2 differs in observed.`);
    expect(lines[1]).toMatch(/^\s+field\s+recorded\s+replayed$/);
    expect(lines.slice(1).find((l) => l.includes('observed'))).toMatch(/^\* observed\s+5002\s+1$/);
    expect(lines.find((l) => l.includes('kind'))).toMatch(/^ {2}kind\s+counterSample\s+counterSample$/);
    expect(lines.filter((l) => l.startsWith('*'))).toHaveLength(1);
  });

  it('shows (none) for the side without the event', () => {
    const recorded = sampleEvents(0, 'n', 1)[0];
    const out = formatDivergence({ kind: 'missing-event', epoch: 0, node: 'n', index: 0, atNs: 0, recorded, replayed: null, fields: [], detail: 'x.' });
    expect(out).toMatch(/\* kind\s+counterSample\s+\(none\)/);
  });
});
