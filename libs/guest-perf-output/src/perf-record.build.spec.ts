// The guest kernel's throttle changes in a record session's perf.data, byte for byte: what
// perf_log_throttle (kernel/events/core.c) writes into the ring buffer, laid out as
// include/uapi/linux/perf_event.h documents PERF_RECORD_THROTTLE / PERF_RECORD_UNTHROTTLE:
//   struct perf_event_header header; u64 time; u64 id; u64 stream_id; struct sample_id sample_id;
// with id = primary_event_id(event) and stream_id = event->id (equal for a per-CPU event that has
// no parent), and the sample_id trailer in __perf_event_header__init_id's order.
import { PERF_RECORD_THROTTLE, PERF_RECORD_UNTHROTTLE } from '@vpmu/perf-data';
import type { SimEvent } from '@vpmu/sim';
import type { GuestPerfSpec, Scenario, VmSpec } from '@vpmu/world-spec';
import type { GuestTimelineEvent } from './guest-events.collector';
import { buildGuestPerfFiles } from './guest-perf.files';
import { buildRecordExports } from './perf-record.build';

const session: GuestPerfSpec = { id: 'rec', command: 'record', events: ['instructions', 'cycles'], sample: { periodEvents: 10_000 }, allCpus: true, callGraph: 'none', startNs: 0 };
const vm = {
  id: 'vm1',
  host: 'h1',
  vcpus: 2,
  memoryBytes: 1 << 30,
  vpmu: { mode: 'passthrough' },
  workload: { profile: 'specint', tasksPerVcpu: 2 },
  guestPerf: [session],
} as unknown as VmSpec;
const scenario = { seed: 7, durationNs: 20_000_000, timeline: [], hosts: [{ id: 'h1', cpu: 'intel-spr' }], vms: [vm] } as unknown as Scenario;

const at = (vcpu: number) => ({ host: 'h1', pcpu: vcpu, vm: 'vm1', vcpu });
const pmi = (atNs: number, vcpu: number): SimEvent => ({ kind: 'pmi', atNs, at: at(vcpu), counter: 'gp0', owner: 'guest', deliveredTo: 'guest', vector: 0xfe, overflowNs: atNs - 100, skidNs: 100, lost: false });
const throttle = (atNs: number, vcpu: number, eventIndex: number, throttled: boolean): SimEvent => ({ kind: 'guestThrottle', atNs, at: at(vcpu), session: 'rec', eventIndex, event: session.events[eventIndex]!, throttled });

const timeline = [
  { kind: 'guestContextSwitch', atNs: 500, at: at(1), prevTask: 'specint/1.0', nextTask: 'specint/1.1' },
  pmi(1_000, 1),
  throttle(1_000, 1, 1, true),
  throttle(4_000_000, 1, 1, false),
] as GuestTimelineEvent[];
const events = { timeline, readings: new Map(), hosts: ['h1'] };

/** The data section's records of the file: type, misc, and the bytes after the header. */
function dataRecords(bytes: Uint8Array): { type: number; misc: number; body: Buffer }[] {
  const b = Buffer.from(bytes);
  const offset = Number(b.readBigUInt64LE(40));
  const size = Number(b.readBigUInt64LE(48));
  const out: { type: number; misc: number; body: Buffer }[] = [];
  for (let p = offset; p < offset + size; ) {
    const len = b.readUInt16LE(p + 6);
    out.push({ type: b.readUInt32LE(p), misc: b.readUInt16LE(p + 4), body: b.subarray(p + 8, p + len) });
    p += len;
  }
  return out;
}

describe('guest throttling in perf.data (perf_log_throttle, kernel/events/core.c)', () => {
  const set = buildRecordExports(scenario, vm, events);
  const rec = set.sessions[0]!;
  const file = buildGuestPerfFiles(scenario, vm, events).files.find((f) => f.kind === 'perf.data')!;
  // perf record -a: one id per vCPU fd; cycles (event 1) on vCPU 1.
  const cyclesVcpu1 = rec.perfData.events[1]!.ids[1]!;
  // The task running on vCPU 1 (task 1 since the switch at 500 ns): tid = pid + vcpu * tasksPerVcpu + task.
  const tid = 4_200_000 + 1 * 2 + 1;

  it('writes a THROTTLE and an UNTHROTTLE for the event and vCPU the guest kernel throttled, counted per session', () => {
    expect(rec.throttles).toBe(1);
    expect(rec.unthrottles).toBe(1);
    expect(file.throttles).toBe(1);
    expect(file.unthrottles).toBe(1);
    const logged = rec.perfData.records.filter((r) => r.kind === 'throttle' || r.kind === 'unthrottle');
    expect(logged).toEqual([
      { kind: 'throttle', pid: 4_200_000, tid, timeNs: 1_000, cpu: 1, id: cyclesVcpu1, streamId: cyclesVcpu1 },
      { kind: 'unthrottle', pid: 4_200_000, tid, timeNs: 4_000_000, cpu: 1, id: cyclesVcpu1, streamId: cyclesVcpu1 },
    ]);
  });

  it('lays each record out as include/uapi/linux/perf_event.h: header, time, id, stream_id, then the sample_id trailer', () => {
    const records = dataRecords(file.bytes).filter((r) => r.type === PERF_RECORD_THROTTLE || r.type === PERF_RECORD_UNTHROTTLE);
    expect(records.map((r) => r.type)).toEqual([PERF_RECORD_THROTTLE, PERF_RECORD_UNTHROTTLE]);
    for (const [i, r] of records.entries()) {
      const timeNs = i === 0 ? 1_000n : 4_000_000n;
      expect(r.misc).toBe(0);
      // 8 header + 3 u64 + trailer of sample_type IDENTIFIER|IP|TID|TIME|CPU|PERIOD: TID, TIME, CPU, IDENTIFIER.
      expect(r.body.length + 8).toBe(64);
      const u64 = (k: number): bigint => r.body.readBigUInt64LE(8 * k);
      expect([u64(0), u64(1), u64(2)]).toEqual([timeNs, cyclesVcpu1, cyclesVcpu1]);
      expect([r.body.readUInt32LE(24), r.body.readUInt32LE(28)]).toEqual([4_200_000, tid]); // pid, tid
      expect(u64(4)).toBe(timeNs);
      expect([r.body.readUInt32LE(40), r.body.readUInt32LE(44)]).toEqual([1, 0]); // cpu, res
      expect(u64(6)).toBe(cyclesVcpu1); // IDENTIFIER last: perf finds the id at the record's end
    }
  });

  it('ignores a throttle change of a session the VM does not record (never written, never counted)', () => {
    const other = { ...events, timeline: [...timeline, { ...throttle(5_000, 0, 0, true), session: 'elsewhere' } as GuestTimelineEvent] };
    expect(buildRecordExports(scenario, vm, other).sessions[0]!.throttles).toBe(1);
  });
});
