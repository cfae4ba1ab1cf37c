import fc from 'fast-check';
import type { SimEvent } from '@vpmu/sim';
import { decodeEventBatch, encodeEventBatch, EventBatchDecodeError, eventsFromBatch } from './event-batch.codec';
import { decodeEnvelope, encodeEnvelope, EnvelopeDecodeError } from './envelope.codec';
import { vpmu } from './generated/vpmu';

const v1 = vpmu.v1;
const at = { host: 'h1', pcpu: 0, vm: 'vm1', vcpu: 1 };

/** One event of every kind, in time order. */
export const EVERY_EVENT_KIND: SimEvent[] = [
  { kind: 'counterSample', atNs: 1000, at, event: 'instructions', actual: 123456789, observed: 123456000 },
  { kind: 'pmi', atNs: 1000, at, counter: 'gp0', owner: 'guest', deliveredTo: 'host', vector: 0xfe, overflowNs: 990, skidNs: 10, lost: false },
  { kind: 'contextSwitch', atNs: 2000, at: { host: 'h1', pcpu: 3 }, prevThread: 'vcpu:vm1/1', nextThread: 'idle', preempted: true },
  { kind: 'guestContextSwitch', atNs: 2500, at, prevTask: 'specint/1.0', nextTask: 'specint/1.1' },
  { kind: 'vmExit', atNs: 3000, at, reason: 'msr-write', costNs: 1375, msr: 0x186 },
  { kind: 'vmEntry', atNs: 4375, at, pmuSwitchNs: 2000, pmiInjected: true },
  { kind: 'perfState', atNs: 5000, at: { host: 'h1', pcpu: 2 }, eventId: 'hp1/cycles', from: 'active', to: 'error', cause: 'guest-enter', count: 777 },
  { kind: 'msrAccess', atNs: 5000, at, msr: 0xc1, write: true, value: 2 ** 48 - 1, result: 'gp', trapped: true },
  { kind: 'lbrSnapshot', atNs: 6000, at, fromIps: [0x401000, 0x402000], toIps: [0x401100, 0x402200], foreignEntries: 1 },
  { kind: 'migrationPhase', atNs: 7000, at: { vm: 'vm1' }, fromHost: 'h1', toHost: 'h2', phase: 'stop-and-copy', durationNs: 30_000_000, bytes: 1 << 30, iteration: 3 },
  { kind: 'finding', atNs: 8000, at, findingKind: 'guest-counter-starved', detail: 'gp1 instructions not running for 4ms' },
  { kind: 'programStep', atNs: 8000, at, step: 2, op: 'rdmsr 0xc1', result: 'ok', value: 42, ok: true },
  { kind: 'guestPerf', atNs: 9000, at: { vm: 'vm1' }, command: 'perf stat -e instructions', event: 'instructions', count: 5_000_000, timeEnabledNs: 100, timeRunningNs: 50, samples: 0 },
  { kind: 'guestThrottle', atNs: 9500, at, session: 'rec', eventIndex: 2, event: 'cycles', throttled: true },
  { kind: 'guestThrottle', atNs: 9600, at, session: 'rec', eventIndex: 0, event: 'instructions', throttled: false },
  { kind: 'traceSummary', atNs: 10000, at: { host: 'h1', vm: 'vm1', vcpu: 1 }, of: 'vmExit', reason: 'rdpmc', count: 12, costNs: 16500, flagged: 0 },
  { kind: 'traceSummary', atNs: 10000, at: { host: 'h1', vm: 'vm1', vcpu: 1 }, of: 'pmi', reason: 'gp0', count: 3, costNs: 0, flagged: 1, owner: 'guest' },
];

describe('EventBatch codec', () => {
  it('round-trips one event of every kind exactly', () => {
    const bytes = encodeEventBatch(EVERY_EVENT_KIND);
    expect(decodeEventBatch(bytes)).toEqual(EVERY_EVENT_KIND);
  });

  it('round-trips the count of a folded finding, and leaves a single finding without one', () => {
    const folded: Extract<SimEvent, { kind: 'finding' }>[] = [
      { kind: 'finding', atNs: 8000, at, findingKind: 'pv-limit-exceeded', detail: 'open refused', count: 98_976 },
      { kind: 'finding', atNs: 8000, at, findingKind: 'pv-limit-exceeded', detail: 'open refused' },
    ];
    expect(decodeEventBatch(encodeEventBatch(folded))).toEqual(folded);
    // A single finding encodes exactly as before the field existed (content digests unchanged).
    expect(encodeEventBatch([{ ...folded[0], count: 1 }])).toEqual(encodeEventBatch([folded[1]]));
  });

  it('interns each name once per batch and delta-encodes time', () => {
    const events: SimEvent[] = [];
    for (let i = 0; i < 100; i++) {
      events.push({ kind: 'vmExit', atNs: 10_000_000 + i * 1000, at, reason: 'io', costNs: 5350, msr: 0 });
    }
    const batch = v1.EventBatch.decode(encodeEventBatch(events));
    expect(batch.places).toHaveLength(1);
    expect(batch.strings).toEqual(['h1', 'vm1', 'io']);
    expect(batch.events.slice(1).every((e) => Number(e.dtNs) === 1000)).toBe(true);
    // ~ a dozen bytes per exit event once names and places are interned
    expect(encodeEventBatch(events).length / events.length).toBeLessThan(15);
  });

  it('keeps places with pCPU 0 and vCPU 0 distinct from absent ones', () => {
    const e: SimEvent[] = [{ kind: 'contextSwitch', atNs: 0, at: { host: 'h', pcpu: 0 }, prevThread: 'idle', nextThread: 'x', preempted: false }];
    expect(decodeEventBatch(encodeEventBatch(e))[0].at).toEqual({ host: 'h', pcpu: 0 });
  });

  it('round-trips arbitrary counter samples (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.nat(1e9), actual: fc.nat(Number.MAX_SAFE_INTEGER), observed: fc.nat(Number.MAX_SAFE_INTEGER), vcpu: fc.nat(63) }), { maxLength: 50 }),
        (rows) => {
          let t = 0;
          const events: SimEvent[] = rows.map((r) => ({ kind: 'counterSample', atNs: (t += r.dt), at: { vm: 'v', vcpu: r.vcpu }, event: 'cycles', actual: r.actual, observed: r.observed }));
          expect(decodeEventBatch(encodeEventBatch(events))).toEqual(events);
        },
      ),
    );
  });

  it('refuses events out of time order', () => {
    expect(() => encodeEventBatch([EVERY_EVENT_KIND[2], EVERY_EVENT_KIND[0]])).toThrow(/time order/);
  });

  it('reports garbage and dangling references as EventBatchDecodeError', () => {
    expect(() => decodeEventBatch(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow(EventBatchDecodeError);
    const bad = v1.EventBatch.encode({ strings: [], places: [{ host: 5 }], events: [{ dtNs: 0, vmExit: { at: 1, reason: 1 } }] }).finish();
    expect(() => decodeEventBatch(bad)).toThrow(/string reference 5/);
    const unknown = v1.EventBatch.encode({ strings: [], events: [{ dtNs: 0 }] }).finish();
    expect(() => decodeEventBatch(unknown)).toThrow(/no known kind/);
    expect(() => decodeEventBatch(encodeEventBatch(EVERY_EVENT_KIND).subarray(0, 40))).toThrow(/not valid protobuf/);
  });

  it('refuses an inner length of 2^31 or more instead of reading it as a negative or empty field', () => {
    // Field 3 (events), wire type 2, length 2^31 then 2^32 + 5 as varints: a 32-bit reader wraps
    // these to a negative or small length and silently decodes 0 events.
    for (const len of [2 ** 31, 2 ** 32 + 5]) {
      const varint: number[] = [];
      for (let v = len; v >= 0x80; v = Math.floor(v / 128)) varint.push((v % 128) | 0x80);
      varint.push(Math.floor(len / 128 ** varint.length));
      const bytes = Uint8Array.from([(3 << 3) | 2, ...varint, 0x08, 0x01]);
      expect(() => decodeEventBatch(bytes)).toThrow(EventBatchDecodeError);
      expect(() => decodeEventBatch(bytes)).toThrow(/index out of range/);
    }
  });

  // decodeEventBatch reads the wire format by hand; the generated decoder is the reference.
  const generated = (bytes: Uint8Array): SimEvent[] => eventsFromBatch(v1.EventBatch.decode(bytes));

  it('decodes as the generated decoder does, including messages the encoder never writes', () => {
    expect(decodeEventBatch(encodeEventBatch(EVERY_EVENT_KIND))).toEqual(generated(encodeEventBatch(EVERY_EVENT_KIND)));
    // Zero fields written explicitly, an unpacked repeated uint64, the tables before the events,
    // an unknown field, and a string reference only a used place resolves.
    const odd = v1.EventBatch.encode({
      baseNs: 2 ** 40,
      strings: ['h1', 'x'],
      places: [{ host: 1, pcpu: 1 }, { host: 9 }],
      events: [
        { dtNs: 0, vmEntry: { at: 1, pmuSwitchNs: 0, pmiInjected: false } },
        { dtNs: 5, lbrSnapshot: { at: 0, fromIp: [1, 2 ** 50], toIp: [] } },
        { dtNs: 1, finding: { at: 1, kind: 2 } },
      ],
    }).finish();
    const withUnknown = Uint8Array.from([...odd, 0x28, 0x07, 0x3a, 0x02, 0x01, 0x02]); // field 5 varint, field 7 bytes
    expect(decodeEventBatch(withUnknown)).toEqual(generated(withUnknown));
    expect(decodeEventBatch(withUnknown)[1]).toMatchObject({ atNs: 2 ** 40 + 5, fromIps: [1, 2 ** 50], toIps: [] });
  });

  it('decodes every kind with arbitrary values as the generated decoder does (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ kind: fc.nat(EVERY_EVENT_KIND.length - 1), dt: fc.nat(1e12), value: fc.nat(Number.MAX_SAFE_INTEGER) }), { maxLength: 40 }), (rows) => {
        let t = 0;
        const events = rows.map((r) => {
          const e = { ...EVERY_EVENT_KIND[r.kind], atNs: (t += r.dt) } as SimEvent & Record<string, unknown>;
          for (const k of ['actual', 'count', 'value', 'costNs', 'bytes', 'durationNs', 'overflowNs']) if (k in e) e[k] = r.value;
          return e as SimEvent;
        });
        const bytes = encodeEventBatch(events);
        expect(decodeEventBatch(bytes)).toEqual(events);
        expect(decodeEventBatch(bytes)).toEqual(generated(bytes));
      }),
    );
  });
});

describe('Envelope and control messages', () => {
  const base = { runId: 'r1', epoch: 7, sourceNode: 'host/h1', seq: 3, destination: 'aggregator' };
  const payloads: Record<string, vpmu.v1.IEnvelope> = {
    events: { ...base, events: encodeEventBatch(EVERY_EVENT_KIND) },
    grant: { ...base, grant: { epoch: 7, startNs: 7e6, endNs: 8e6, expected: [{ node: 'host/h1', count: 2 }], actions: [{ atNs: 7.5e6, migrate: { vm: 'vm1', to: 'h2', bandwidthBytesPerSec: 1.25e9, maxDowntimeNs: 3e8 } }] } },
    report: { ...base, report: { epoch: 7, node: 'host/h1', sentTo: [{ node: 'aggregator', count: 1 }], eventCount: 13, digest: Uint8Array.from([1, 2, 3]) } },
    runStart: { ...base, runStart: { runId: 'r1', scenarioText: 'version: 1\n', seed: 2 ** 53 - 1, epochNs: 1e6, durationNs: 2e8, toolVersion: '0.1.0' } },
    runEnd: { ...base, runEnd: { runId: 'r1', finalEpoch: 201, reason: 'completed' } },
    guestOutput: { ...base, guestOutput: { vm: 'vm1', workloadUnits: 6.6e9, guestNs: 1e9, perf: [{ command: 1, event: 2, count: 3 }] } },
    vpmuState: {
      ...base,
      vpmuState: {
        vm: 'vm1',
        mode: 'passthrough',
        gpCounters: 8,
        fixedCounters: 4,
        counterWidth: 48,
        vcpus: [{ vcpu: 0, counters: [{ index: 0, value: 2 ** 47, eventsel: 0x4300c0, period: 100000, freqHz: 1000, backingCount: 5, pmiPending: true }], globalCtrl: 0xff, lbr: { fromIp: [1, 2], toIp: [3, 4], tos: 1, debugctlLbr: true, pvActive: true } }],
        pvEvents: [{ id: 3, type: 0, config: 1, enabled: true, count: 99, overflows: 2 }],
        filter: { action: 1, events: [0x00c0], fixedCounterBitmap: 0x3, masked: [5] },
        armPmu: 'armv8_cortex_a76',
        armNrCounters: 4,
        eventsInUse: ['instructions'],
      },
    },
  };

  it.each(Object.keys(payloads))('round-trips an envelope carrying %s', (name) => {
    const env = payloads[name];
    const decoded = decodeEnvelope(encodeEnvelope(env));
    expect(decoded.payload).toBe(name);
    expect(v1.Envelope.toObject(decoded, { longs: Number, bytes: Array, defaults: false })).toEqual(
      v1.Envelope.toObject(v1.Envelope.fromObject(env), { longs: Number, bytes: Array, defaults: false }),
    );
  });

  it('round-trips every recording entry', () => {
    const entries: vpmu.v1.IRecordEntry[] = [
      { header: { magic: 'vpmurec', formatVersion: 1, toolVersion: '0.1.0', runId: 'r', seed: 42, scenarioText: 'x', epochNs: 1e6, durationNs: 1e8, scenarioName: 'q' } },
      { frame: { epoch: 3, node: 'host/h1', batch: Uint8Array.from([1, 2]), crc32c: 0xe3069283, runningHash: Uint8Array.from([9]), eventCount: 2 } },
      { checkpoint: { epoch: 50, node: 'host/h1', state: Uint8Array.from([7]), crc32c: 1 } },
      { trailer: { epochs: [{ epoch: 0, digest: Uint8Array.from([1]) }], finalDigest: Uint8Array.from([2]), totalEvents: 9, finalEpoch: 99 } },
    ];
    for (const e of entries) {
      const back = v1.RecordEntry.decode(v1.RecordEntry.encode(e).finish());
      expect(v1.RecordEntry.toObject(back, { longs: Number, bytes: Array })).toEqual(v1.RecordEntry.toObject(v1.RecordEntry.fromObject(e), { longs: Number, bytes: Array }));
    }
  });

  it('rejects garbage, and envelopes without run, source or payload', () => {
    expect(() => decodeEnvelope(Buffer.from('definitely not protobuf \xff\xff'))).toThrow(EnvelopeDecodeError);
    expect(() => decodeEnvelope(encodeEnvelope({ sourceNode: 'x', runEnd: {} }))).toThrow(/run id/);
    expect(() => decodeEnvelope(encodeEnvelope({ runId: 'r', runEnd: {} }))).toThrow(/source node/);
    expect(() => decodeEnvelope(encodeEnvelope({ runId: 'r', sourceNode: 'x' }))).toThrow(/payload/);
  });
});
