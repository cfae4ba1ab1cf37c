import { encodeEventBatch, pb } from '@vpmu/proto';
import type { SimEvent } from '@vpmu/sim';
import { checkAgainstReport, payloadDigest } from './batch-check';
import { BatchMemo } from './batch-memo';

const at = { host: 'h1', pcpu: 0, vm: 'vm1', vcpu: 0 };
const events: SimEvent[] = [
  { kind: 'contextSwitch', atNs: 2000, at: { host: 'h1', pcpu: 0 }, prevThread: 'idle', nextThread: 'vcpu:vm1/0', preempted: false },
  { kind: 'guestContextSwitch', atNs: 2500, at, prevTask: 'a', nextTask: 'b' },
];
const genuine = encodeEventBatch(events, 0);
const env = (batch: Uint8Array) => pb.Envelope.create({ runId: 'r', epoch: 3, sourceNode: 'host/h1', seq: 7, destination: 'aggregator', events: batch });
const reported = { source: 'host/h1', seq: 7, eventCount: events.length, digest: payloadDigest({ events: genuine }) };

describe('checkAgainstReport (the aggregator records only what the sender reported)', () => {
  it('accepts the genuine batch and hands back its decoded events', () => {
    const r = checkAgainstReport(env(genuine), reported);
    expect(r.ok && r.events?.length).toBe(2);
  });

  it('refuses a batch under the same key whose bytes differ: garbage, or one that decodes as empty', () => {
    for (const forged of [Buffer.from('garbage'), encodeEventBatch([], 0)]) {
      const r = checkAgainstReport(env(forged), reported);
      expect(r).toEqual({ ok: false, reason: expect.stringMatching(/^event batch from host\/h1 \(epoch 3, seq 7\) differs from what its sender reported/) });
    }
  });

  it('refuses what its sender did not report, and a count that does not match the decoded batch', () => {
    expect(checkAgainstReport(env(genuine), undefined)).toEqual({ ok: false, reason: 'event batch from host/h1 (epoch 3, seq 7) was not reported by its sender' });
    expect(checkAgainstReport(env(genuine), { ...reported, eventCount: 3 })).toEqual({ ok: false, reason: 'event batch from host/h1 (epoch 3, seq 7) decodes to 2 events, its sender reported 3' });
  });

  it('refuses a reported batch that does not decode (a sender bug is still never recorded)', () => {
    const bad = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
    const r = checkAgainstReport(env(bad), { ...reported, digest: payloadDigest({ events: bad }) });
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/cannot be decoded/) });
  });
});

describe('checkAgainstReport with a batch memo (an embedded run: the sender is in this process)', () => {
  it('hands back the events the sender left under the digest, once, only for bytes that match it', () => {
    const memo = new BatchMemo();
    memo.remember(payloadDigest({ events: genuine }), events);
    // A forged batch under the same key is refused without touching the memo.
    expect(checkAgainstReport(env(encodeEventBatch([], 0)), reported, memo).ok).toBe(false);
    const first = checkAgainstReport(env(genuine), reported, memo);
    expect(first.ok && first.events).toBe(events);
    // Taken: a second delivery of the same bytes decodes them, to equal events.
    const again = checkAgainstReport(env(genuine), reported, memo);
    expect(again.ok && again.events).not.toBe(events);
    expect(again.ok && again.events).toEqual(events);
  });

  it('still refuses a count that does not match the remembered events', () => {
    const memo = new BatchMemo();
    memo.remember(payloadDigest({ events: genuine }), events);
    expect(checkAgainstReport(env(genuine), { ...reported, eventCount: 3 }, memo)).toEqual({ ok: false, reason: 'event batch from host/h1 (epoch 3, seq 7) decodes to 2 events, its sender reported 3' });
  });
});
