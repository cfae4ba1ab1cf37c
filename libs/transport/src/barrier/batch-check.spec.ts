import { encodeEventBatch, pb } from '@vpmu/proto';
import type { SimEvent } from '@vpmu/sim';
import { checkAgainstReport, payloadDigest } from './batch-check';

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
