// A replay that differs is reported at exactly the first differing event: (1) a recording edited
// so that only one event's value differs (CRCs, hash chain and trailer re-sealed), through the
// real CLI; (2) a nondeterminism planted in the replay from epoch N on, caught at epoch N.
import * as path from 'node:path';
import { HostWorld } from '@vpmu/host';
import { decodeEventBatch, encodeEventBatch } from '@vpmu/proto';
import { readRecording, rewriteRecording } from '@vpmu/recording';
import type { SimEvent } from '@vpmu/sim';
import { verifyRecording } from '../../apps/cli/src/replay/verify';
import { vpmu } from '../support/cli';
import { record } from './replay-support';

let rec: string;
let outDir: string;
beforeAll(async () => {
  const r = await record('quickstart.yaml', { seed: 11, duration: '80ms' });
  rec = r.rec;
  outDir = r.outDir;
});

/** The first event at or after `from` with a numeric value field, and that field. */
function pickEvent(events: SimEvent[], from: number): { index: number; field: string } {
  for (let i = from; i < events.length; i++) {
    const e = events[i] as unknown as Record<string, unknown>;
    const field = Object.keys(e).find((k) => k !== 'atNs' && typeof e[k] === 'number');
    if (field) return { index: i, field };
  }
  throw new Error('no event with a numeric field');
}

describe('an edited recording (one event value changed, re-sealed)', () => {
  const EPOCH = 37;
  let edited: string;
  let index: number;
  let field: string;
  let original: number;

  beforeAll(() => {
    edited = path.join(outDir, 'edited.vpmurec');
    rewriteRecording(rec, edited, {
      editEpoch: (e) => {
        if (e.epoch !== EPOCH) return e.frames;
        return e.frames.map((f) => {
          const events = decodeEventBatch(f.batch);
          ({ index, field } = pickEvent(events, 5));
          const ev = events[index] as unknown as Record<string, number>;
          original = ev[field];
          ev[field] = original + 1;
          return { node: f.node, batch: encodeEventBatch(events, e.epoch * 1_000_000), eventCount: events.length };
        });
      },
    });
    // Only the content differs: the edited file is a valid, complete recording.
    const check = readRecording(edited, { requireComplete: true });
    expect(check.complete).toBe(true);
  });

  it('is reported at exactly that event with exit 3 (--json)', () => {
    const r = vpmu(['replay', edited, '--verify', '--json']);
    expect(r.code).toBe(3);
    const result = JSON.parse(r.stdout);
    expect(result.identical).toBe(false);
    expect(result.divergence).toMatchObject({ kind: 'event', epoch: EPOCH, node: 'host/h1', index, fields: [field] });
    expect(result.divergence.recorded[field]).toBe(original + 1);
    expect(result.divergence.replayed[field]).toBe(original);
    expect(result.divergence.atNs).toBeGreaterThanOrEqual(EPOCH * 1_000_000);
  });

  it('prints the event recorded and replayed side by side', () => {
    const r = vpmu(['replay', edited, '--verify', '--quiet']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(new RegExp(`^replay diverged at epoch ${EPOCH}, node host/h1, event #${index}, virtual time \\d+ ns \\(event\\)`));
    const row = r.stdout.split('\n').find((l) => l.startsWith(`* ${field} `));
    expect(row).toBeDefined();
    expect(row!.split(/\s+/).slice(2)).toEqual([String(original + 1), String(original)]);
    const digests = /recorded digest [0-9a-f]{64} {2}content ([0-9a-f]{64})\nreplayed digest [0-9a-f]{64} {2}content ([0-9a-f]{64})/.exec(r.stdout);
    expect(digests).not.toBeNull();
    // The edited event is content: the content digests differ too, not only the file's.
    expect(digests![1]).not.toBe(digests![2]);
  });
});

describe('a nondeterminism injected into the replay', () => {
  it('a changed event from epoch N on is caught at epoch N (test hook on the bus)', async () => {
    const N = 23;
    const result = await verifyRecording(rec, {
      perturb: {
        fromEpoch: N,
        mutate: (events) => {
          const { index, field } = pickEvent(events, 0);
          (events[index] as unknown as Record<string, number>)[field] += 1;
        },
      },
    });
    expect(result.identical).toBe(false);
    expect(result.divergence).toMatchObject({ kind: 'event', epoch: N, node: 'host/h1' });
  });

  it('a perturbed random stream inside the host model from epoch N on is caught at its first effect', async () => {
    // A "test build" whose host world draws one extra number from every vCPU's random stream at
    // the start of epoch N: nothing changes before N, and the first event that depends on it
    // (at or after N: a stream may not be drawn from again until a later epoch) is the one
    // reported.
    const N = 41;
    const epochNs = 1_000_000;
    const original = HostWorld.prototype.runEpoch;
    const spy = jest.spyOn(HostWorld.prototype, 'runEpoch').mockImplementation(function (this: HostWorld, start, end, actions) {
      if (start === N * epochNs) {
        const threads = (this as unknown as { w: { threads: Map<string, { prng: { nextFloat(): number } }> } }).w.threads;
        for (const t of threads.values()) t.prng.nextFloat();
      }
      return original.call(this, start, end, actions);
    });
    try {
      const result = await verifyRecording(rec);
      expect(result.identical).toBe(false);
      expect(result.divergence!.epoch).toBeGreaterThanOrEqual(N);
      expect(result.divergence!.epoch).toBeLessThan(N + 5);
      expect(result.divergence!.atNs).toBeGreaterThanOrEqual(N * epochNs);
    } finally {
      spy.mockRestore();
    }
  });

  it('the same recording verifies identical without the hook', async () => {
    const result = await verifyRecording(rec);
    expect(result).toMatchObject({ identical: true, divergence: null });
  });
});
