// SimEvent[] <-> EventBatch bytes. Interns every name and place once per batch (reference =
// index + 1, 0 = none), delta-encodes virtual time against the previous event, maps enums both ways.
import type { MigrationPhaseName, MsrResultName, PerfStateName, Place, PmiOwner, SimEvent, TraceSummaryOf } from '@vpmu/sim';
import { vpmu } from './generated/vpmu';
import { readEventBatch, WireFormatError } from './event-batch.decoder';
import { BatchWriter } from './batch.writer';

const PERF_STATES: PerfStateName[] = ['off', 'inactive', 'active', 'error'];
const MSR_RESULTS: MsrResultName[] = ['ok', 'gp', 'undefined'];
const PHASES: MigrationPhaseName[] = ['setup', 'precopy', 'stop-and-copy', 'resume', 'refused'];
const OWNERS: PmiOwner[] = ['host', 'guest'];
const TRACE_SUMMARY_OF: TraceSummaryOf[] = ['vmExit', 'vmEntry', 'pmi'];

export class EventBatchDecodeError extends Error {}

/** One writer for every batch: encoding is synchronous, and finish() copies the bytes out. */
const writer = new BatchWriter();

/**
 * Encodes events (sorted by atNs, non-decreasing) into EventBatch bytes. Hand-written against the
 * schema in proto/vpmu/v1/events.proto with a reused BatchWriter: no intermediate message objects,
 * zero scalars left out (proto3 reads an absent scalar as zero), names and places interned on
 * first use. The generated decoder reads it back (see the codec spec). This is the hot path of
 * every host node, hence no generated encoder.
 */
export function encodeEventBatch(events: readonly SimEvent[], baseNs = events.length ? events[0].atNs : 0): Uint8Array {
  const w = writer.reset();
  const strings: string[] = [];
  const stringIndex = new Map<string, number>();
  const places: Place[] = [];
  const placeIndex = new Map<number | string, number>();
  const str = (s: string | undefined): number => {
    if (s === undefined) return 0;
    let i = stringIndex.get(s);
    if (i === undefined) {
      i = strings.length + 1;
      strings.push(s);
      stringIndex.set(s, i);
    }
    return i;
  };
  const place = (p: Place): number => {
    const h = str(p.host);
    const v = str(p.vm);
    const pc = p.pcpu === undefined ? 0 : p.pcpu + 1;
    const vc = p.vcpu === undefined ? 0 : p.vcpu + 1;
    if (h === 0 && v === 0 && pc === 0 && vc === 0) return 0;
    const key = h < 65536 && v < 65536 && pc < 1024 && vc < 1024 ? ((h * 1024 + pc) * 65536 + v) * 1024 + vc : `${h}/${pc}/${v}/${vc}`;
    let i = placeIndex.get(key);
    if (i === undefined) {
      i = places.length + 1;
      places.push(p);
      placeIndex.set(key, i);
    }
    return i;
  };
  varint(w, 1, baseNs);
  let prev = baseNs;
  for (const e of events) {
    if (e.atNs < prev) throw new Error(`encodeEventBatch: events not in time order (${e.atNs} after ${prev})`);
    w.uint32(26).fork(); // Event (field 3)
    varint(w, 1, e.atNs - prev);
    prev = e.atNs;
    const at = place(e.at);
    switch (e.kind) {
      case 'counterSample':
        w.uint32(82).fork(); // 10
        varint(w, 1, at);
        varint(w, 2, str(e.event));
        varint(w, 3, e.actual);
        varint(w, 4, e.observed);
        break;
      case 'pmi':
        w.uint32(90).fork(); // 11
        varint(w, 1, at);
        varint(w, 2, str(e.counter));
        varint(w, 3, OWNERS.indexOf(e.owner) + 1);
        varint(w, 4, OWNERS.indexOf(e.deliveredTo) + 1);
        varint(w, 5, e.vector);
        varint(w, 6, e.overflowNs);
        varint(w, 7, e.skidNs);
        bool(w, 8, e.lost);
        break;
      case 'contextSwitch':
        w.uint32(98).fork(); // 12
        varint(w, 1, at);
        varint(w, 2, str(e.prevThread));
        varint(w, 3, str(e.nextThread));
        bool(w, 4, e.preempted);
        break;
      case 'guestContextSwitch':
        w.uint32(106).fork(); // 13
        varint(w, 1, at);
        varint(w, 2, str(e.prevTask));
        varint(w, 3, str(e.nextTask));
        break;
      case 'vmExit':
        w.uint32(114).fork(); // 14
        varint(w, 1, at);
        varint(w, 2, str(e.reason));
        varint(w, 3, e.costNs);
        varint(w, 4, e.msr);
        break;
      case 'vmEntry':
        w.uint32(122).fork(); // 15
        varint(w, 1, at);
        varint(w, 2, e.pmuSwitchNs);
        bool(w, 3, e.pmiInjected);
        break;
      case 'perfState':
        w.uint32(130).fork(); // 16
        varint(w, 1, at);
        varint(w, 2, str(e.eventId));
        varint(w, 3, PERF_STATES.indexOf(e.from) + 1);
        varint(w, 4, PERF_STATES.indexOf(e.to) + 1);
        varint(w, 5, str(e.cause));
        varint(w, 6, e.count);
        break;
      case 'msrAccess':
        w.uint32(138).fork(); // 17
        varint(w, 1, at);
        varint(w, 2, e.msr);
        bool(w, 3, e.write);
        varint(w, 4, e.value);
        varint(w, 5, MSR_RESULTS.indexOf(e.result) + 1);
        bool(w, 6, e.trapped);
        break;
      case 'lbrSnapshot':
        w.uint32(146).fork(); // 18
        varint(w, 1, at);
        packed(w, 2, e.fromIps);
        packed(w, 3, e.toIps);
        varint(w, 4, e.foreignEntries);
        break;
      case 'migrationPhase':
        w.uint32(154).fork(); // 19
        varint(w, 1, at);
        varint(w, 2, str(e.fromHost));
        varint(w, 3, str(e.toHost));
        varint(w, 4, PHASES.indexOf(e.phase) + 1);
        varint(w, 5, e.durationNs);
        varint(w, 6, e.bytes);
        varint(w, 7, e.iteration);
        if (e.detail) w.uint32(66).string(e.detail);
        break;
      case 'finding':
        w.uint32(162).fork(); // 20
        varint(w, 1, at);
        varint(w, 2, str(e.findingKind));
        if (e.detail) w.uint32(26).string(e.detail);
        if (e.count !== undefined && e.count > 1) varint(w, 4, e.count);
        break;
      case 'programStep':
        w.uint32(170).fork(); // 21
        varint(w, 1, at);
        varint(w, 2, e.step);
        varint(w, 3, str(e.op));
        varint(w, 4, MSR_RESULTS.indexOf(e.result) + 1);
        varint(w, 5, e.value);
        bool(w, 6, e.ok);
        if (e.errno) w.uint32(58).string(e.errno);
        break;
      case 'guestPerf':
        w.uint32(178).fork(); // 22
        varint(w, 1, at);
        varint(w, 2, str(e.command));
        varint(w, 3, str(e.event));
        varint(w, 4, e.count);
        varint(w, 5, e.timeEnabledNs);
        varint(w, 6, e.timeRunningNs);
        varint(w, 7, e.samples);
        break;
      case 'traceSummary':
        w.uint32(186).fork(); // 23
        varint(w, 1, at);
        varint(w, 2, TRACE_SUMMARY_OF.indexOf(e.of) + 1);
        varint(w, 3, e.reason ? str(e.reason) : 0);
        varint(w, 4, e.count);
        varint(w, 5, e.costNs);
        varint(w, 6, e.flagged);
        varint(w, 7, e.owner ? OWNERS.indexOf(e.owner) + 1 : 0);
        break;
      case 'guestThrottle':
        w.uint32(194).fork(); // 24
        varint(w, 1, at);
        varint(w, 2, str(e.session));
        varint(w, 3, str(e.event));
        varint(w, 4, e.eventIndex);
        bool(w, 5, e.throttled);
        break;
      default: {
        const never: never = e;
        throw new Error(`encodeEventBatch: unknown event ${(never as SimEvent).kind}`);
      }
    }
    w.ldelim().ldelim();
  }
  for (const s of strings) w.uint32(18).string(s); // strings (field 2)
  for (const p of places) {
    w.uint32(34).fork(); // places (field 4)
    varint(w, 1, str(p.host));
    varint(w, 2, p.pcpu === undefined ? 0 : p.pcpu + 1);
    varint(w, 3, str(p.vm));
    varint(w, 4, p.vcpu === undefined ? 0 : p.vcpu + 1);
    w.ldelim();
  }
  return w.finish();
}

/** A varint field, left out when zero. Values are non-negative safe integers. */
function varint(w: BatchWriter, field: number, v: number): void {
  if (!v) return;
  if (v < 0 || !Number.isSafeInteger(v)) throw new Error(`encodeEventBatch: field ${field} value ${v} is not a non-negative safe integer`);
  w.uint32(field << 3);
  if (v < 0x1_0000_0000) w.uint32(v);
  else w.uint64(v);
}

function bool(w: BatchWriter, field: number, v: boolean): void {
  if (v) w.uint32(field << 3).uint32(1);
}

function packed(w: BatchWriter, field: number, values: readonly number[]): void {
  if (values.length === 0) return;
  w.uint32((field << 3) | 2).fork();
  for (const v of values) w.uint64(v);
  w.ldelim();
}

/** Decodes EventBatch bytes back into resolved SimEvents. Throws EventBatchDecodeError on bad input. */
export function decodeEventBatch(bytes: Uint8Array): SimEvent[] {
  try {
    return readEventBatch(bytes, (message) => new EventBatchDecodeError(message));
  } catch (err) {
    if (err instanceof WireFormatError) throw new EventBatchDecodeError(`event batch is not valid protobuf: ${err.message}`);
    throw err;
  }
}

/** The same events from the generated message objects (for a batch already decoded by protobufjs). */

export function eventsFromBatch(batch: vpmu.v1.IEventBatch): SimEvent[] {
  const strings = batch.strings ?? [];
  const str = (ref: number | null | undefined): string | undefined => {
    if (!ref) return undefined;
    const s = strings[ref - 1];
    if (s === undefined) throw new EventBatchDecodeError(`string reference ${ref} outside the table of ${strings.length}`);
    return s;
  };
  const req = (ref: number | null | undefined): string => str(ref) ?? '';
  const placeTable = batch.places ?? [];
  const place = (ref: number | null | undefined): Place => {
    const out: Place = {};
    if (!ref) return out;
    const p = placeTable[ref - 1];
    if (p === undefined) throw new EventBatchDecodeError(`place reference ${ref} outside the table of ${placeTable.length}`);
    const host = str(p.host);
    if (host !== undefined) out.host = host;
    if (p.pcpu) out.pcpu = p.pcpu - 1;
    const vm = str(p.vm);
    if (vm !== undefined) out.vm = vm;
    if (p.vcpu) out.vcpu = p.vcpu - 1;
    return out;
  };
  const pick = <T>(table: T[], v: number | null | undefined, what: string): T => {
    const x = v ? table[v - 1] : undefined;
    if (x === undefined) throw new EventBatchDecodeError(`bad ${what} value ${v}`);
    return x;
  };
  const out: SimEvent[] = [];
  let now = u64(batch.baseNs);
  for (const ev of batch.events ?? []) {
    now += u64(ev.dtNs);
    const atNs = now;
    if (ev.counterSample) {
      const e = ev.counterSample;
      out.push({ kind: 'counterSample', atNs, at: place(e.at), event: req(e.event), actual: u64(e.actual), observed: u64(e.observed) });
    } else if (ev.pmi) {
      const e = ev.pmi;
      out.push({
        kind: 'pmi',
        atNs,
        at: place(e.at),
        counter: req(e.counter),
        owner: pick(OWNERS, e.owner, 'PMI owner'),
        deliveredTo: pick(OWNERS, e.deliveredTo, 'PMI receiver'),
        vector: e.vector ?? 0,
        overflowNs: u64(e.overflowNs),
        skidNs: u64(e.skidNs),
        lost: !!e.lost,
      });
    } else if (ev.contextSwitch) {
      const e = ev.contextSwitch;
      out.push({ kind: 'contextSwitch', atNs, at: place(e.at), prevThread: req(e.prevThread), nextThread: req(e.nextThread), preempted: !!e.preempted });
    } else if (ev.guestContextSwitch) {
      const e = ev.guestContextSwitch;
      out.push({ kind: 'guestContextSwitch', atNs, at: place(e.at), prevTask: req(e.prevTask), nextTask: req(e.nextTask) });
    } else if (ev.vmExit) {
      const e = ev.vmExit;
      out.push({ kind: 'vmExit', atNs, at: place(e.at), reason: req(e.reason), costNs: u64(e.costNs), msr: e.msr ?? 0 });
    } else if (ev.vmEntry) {
      const e = ev.vmEntry;
      out.push({ kind: 'vmEntry', atNs, at: place(e.at), pmuSwitchNs: u64(e.pmuSwitchNs), pmiInjected: !!e.pmiInjected });
    } else if (ev.perfState) {
      const e = ev.perfState;
      out.push({
        kind: 'perfState',
        atNs,
        at: place(e.at),
        eventId: req(e.eventId),
        from: pick(PERF_STATES, e.from, 'perf state'),
        to: pick(PERF_STATES, e.to, 'perf state'),
        cause: req(e.cause),
        count: u64(e.count),
      });
    } else if (ev.msrAccess) {
      const e = ev.msrAccess;
      out.push({
        kind: 'msrAccess',
        atNs,
        at: place(e.at),
        msr: e.msr ?? 0,
        write: !!e.write,
        value: u64(e.value),
        result: pick(MSR_RESULTS, e.result, 'MSR result'),
        trapped: !!e.trapped,
      });
    } else if (ev.lbrSnapshot) {
      const e = ev.lbrSnapshot;
      out.push({
        kind: 'lbrSnapshot',
        atNs,
        at: place(e.at),
        fromIps: (e.fromIp ?? []).map(u64),
        toIps: (e.toIp ?? []).map(u64),
        foreignEntries: e.foreignEntries ?? 0,
      });
    } else if (ev.migrationPhase) {
      const e = ev.migrationPhase;
      out.push({
        kind: 'migrationPhase',
        atNs,
        at: place(e.at),
        fromHost: req(e.fromHost),
        toHost: req(e.toHost),
        phase: pick(PHASES, e.phase, 'migration phase'),
        durationNs: u64(e.durationNs),
        bytes: u64(e.bytes),
        iteration: e.iteration ?? 0,
        ...(e.detail ? { detail: e.detail } : {}),
      });
    } else if (ev.finding) {
      const e = ev.finding;
      out.push({ kind: 'finding', atNs, at: place(e.at), findingKind: req(e.kind), detail: e.detail ?? '', ...(e.count ? { count: e.count } : {}) });
    } else if (ev.programStep) {
      const e = ev.programStep;
      out.push({
        kind: 'programStep',
        atNs,
        at: place(e.at),
        step: e.step ?? 0,
        op: req(e.op),
        result: pick(MSR_RESULTS, e.result, 'MSR result'),
        value: u64(e.value),
        ok: !!e.ok,
        ...(e.errno ? { errno: e.errno } : {}),
      });
    } else if (ev.guestPerf) {
      const e = ev.guestPerf;
      out.push({
        kind: 'guestPerf',
        atNs,
        at: place(e.at),
        command: req(e.command),
        event: req(e.event),
        count: u64(e.count),
        timeEnabledNs: u64(e.timeEnabledNs),
        timeRunningNs: u64(e.timeRunningNs),
        samples: u64(e.samples),
      });
    } else if (ev.traceSummary) {
      const e = ev.traceSummary;
      const t: SimEvent = {
        kind: 'traceSummary',
        atNs,
        at: place(e.at),
        of: pick(TRACE_SUMMARY_OF, e.of, 'trace summary kind'),
        reason: str(e.reason) ?? '',
        count: u64(e.count),
        costNs: u64(e.costNs),
        flagged: u64(e.flagged),
      };
      if (e.owner) t.owner = pick(OWNERS, e.owner, 'PMI owner');
      out.push(t);
    } else if (ev.guestThrottle) {
      const e = ev.guestThrottle;
      out.push({ kind: 'guestThrottle', atNs, at: place(e.at), session: req(e.session), event: req(e.event), eventIndex: e.eventIndex ?? 0, throttled: !!e.throttled });
    } else {
      throw new EventBatchDecodeError('event with no known kind (written by a newer tool?)');
    }
  }
  return out;
}

/**
 * A decoded uint64 as a number. protobufjs hands uint64 fields over as Long objects when the
 * `long` package is installed; Number(long) goes through Long.prototype.toString (a base-10
 * conversion by repeated division), which was the largest self time of a fleet run. toNumber()
 * gives the same value for every safe integer, the only values the encoder writes.
 */
function u64(v: number | LongLike | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

interface LongLike {
  toNumber(): number;
}
