// EventBatch bytes -> SimEvent[] without the generated message objects: a hand-written reader of
// the wire format of proto/vpmu/v1/events.proto, the mirror of encodeEventBatch. Every recorded
// event passes here in the aggregator (summary, sinks) and in replay, so the generated decoder
// (a message object per event and per payload, and uint64 fields as Long objects converted back
// to numbers) was the largest cost of a fleet run. Same results as the generated decoder on every
// batch the encoder writes: absent scalars read as zero, unknown fields skipped, a repeated
// singular field keeps its last value, packed and unpacked repeated uint64 both accepted, and an
// event with more than one kind is read as its lowest-numbered kind (the order eventsFromBatch
// tests them in).
import type { MigrationPhaseName, MsrResultName, PerfStateName, Place, PmiOwner, SimEvent, TraceSummaryOf } from '@vpmu/sim';
import { util } from 'protobufjs/minimal';

const PERF_STATES: PerfStateName[] = ['off', 'inactive', 'active', 'error'];
const MSR_RESULTS: MsrResultName[] = ['ok', 'gp', 'undefined'];
const PHASES: MigrationPhaseName[] = ['setup', 'precopy', 'stop-and-copy', 'resume', 'refused'];
const OWNERS: PmiOwner[] = ['host', 'guest'];
const TRACE_SUMMARY_OF: TraceSummaryOf[] = ['vmExit', 'vmEntry', 'pmi'];

/** Bytes that are not a well-formed message (truncated, bad varint, bad wire type). */
export class WireFormatError extends Error {}

/** A read position in one buffer; `end` bounds the message being read. */
class Cursor {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    public end: number,
  ) {
    this.pos = start;
  }

  /** A varint as a number: exact up to 2^53, which every value the encoder writes is. */
  varint(): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos >= this.end) throw new WireFormatError(`index out of range: ${pos} + 1 > ${this.end}`);
    let b = buf[pos++];
    if (b < 0x80) {
      this.pos = pos;
      return b;
    }
    let v = b & 0x7f;
    let scale = 128;
    for (let i = 1; i < 10; i++) {
      if (pos >= this.end) throw new WireFormatError(`index out of range: ${pos} + 1 > ${this.end}`);
      b = buf[pos++];
      v += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.pos = pos;
        return v;
      }
      scale *= 128;
    }
    throw new WireFormatError('invalid varint encoding');
  }

  uint32(): number {
    return this.varint() >>> 0;
  }

  /** The bounds of a length-delimited field's payload; moves past it. */
  delimited(): number {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new WireFormatError(`index out of range: ${start} + ${len} > ${this.end}`);
    this.pos = start + len;
    return start;
  }

  string(): string {
    const start = this.delimited();
    return util.utf8.read(this.buf, start, this.pos);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.delimited();
        return;
      case 3:
        for (;;) {
          const tag = this.uint32();
          if ((tag & 7) === 4) return;
          this.skip(tag & 7);
        }
      case 5:
        this.advance(4);
        return;
      default:
        throw new WireFormatError(`invalid wire type ${wireType} at offset ${this.pos}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new WireFormatError(`index out of range: ${this.pos} + ${n} > ${this.end}`);
    this.pos += n;
  }
}

/** Decoding problems of content (dangling references, unknown enum values, no kind). */
export type ContentError = (message: string) => Error;

interface PlaceRow {
  host: string | undefined;
  pcpu: number;
  vm: string | undefined;
  vcpu: number;
}

/**
 * Decodes one EventBatch. Throws WireFormatError on malformed bytes and `contentError(...)` on a
 * well-formed batch whose content does not resolve.
 */
export function readEventBatch(bytes: Uint8Array, contentError: ContentError): SimEvent[] {
  // Pass 1: the tables (written after the events) and where each event is.
  const top = new Cursor(bytes, 0, bytes.length);
  let baseNs = 0;
  const strings: string[] = [];
  const placeRanges: number[] = [];
  const eventRanges: number[] = [];
  while (top.pos < top.end) {
    const tag = top.uint32();
    switch (tag) {
      case 8:
        baseNs = top.varint();
        break;
      case 18:
        strings.push(top.string());
        break;
      case 26: {
        const start = top.delimited();
        eventRanges.push(start, top.pos);
        break;
      }
      case 34: {
        const start = top.delimited();
        placeRanges.push(start, top.pos);
        break;
      }
      default:
        top.skip(tag & 7);
    }
  }
  const str = (ref: number): string | undefined => {
    if (!ref) return undefined;
    const s = strings[ref - 1];
    if (s === undefined) throw contentError(`string reference ${ref} outside the table of ${strings.length}`);
    return s;
  };
  const req = (ref: number): string => str(ref) ?? '';
  // Place references resolve lazily: a dangling string reference inside a place is an error only
  // when an event uses that place, as with the generated decoder.
  const placeCount = placeRanges.length / 2;
  const placeRows: (PlaceRow | undefined)[] = new Array(placeCount);
  const placeRow = (ref: number): PlaceRow => {
    const row = placeRows[ref - 1];
    if (row !== undefined) return row;
    const c = new Cursor(bytes, placeRanges[2 * (ref - 1)], placeRanges[2 * (ref - 1) + 1]);
    let host = 0;
    let pcpu = 0;
    let vm = 0;
    let vcpu = 0;
    while (c.pos < c.end) {
      const tag = c.uint32();
      if (tag === 8) host = c.uint32();
      else if (tag === 16) pcpu = c.uint32();
      else if (tag === 24) vm = c.uint32();
      else if (tag === 32) vcpu = c.uint32();
      else c.skip(tag & 7);
    }
    const made: PlaceRow = { host: str(host), pcpu, vm: str(vm), vcpu };
    placeRows[ref - 1] = made;
    return made;
  };
  const place = (ref: number): Place => {
    const out: Place = {};
    if (!ref) return out;
    if (ref > placeCount) throw contentError(`place reference ${ref} outside the table of ${placeCount}`);
    const p = placeRow(ref);
    if (p.host !== undefined) out.host = p.host;
    if (p.pcpu) out.pcpu = p.pcpu - 1;
    if (p.vm !== undefined) out.vm = p.vm;
    if (p.vcpu) out.vcpu = p.vcpu - 1;
    return out;
  };
  const pick = <T>(table: T[], v: number, what: string): T => {
    const x = v ? table[v - 1] : undefined;
    if (x === undefined) throw contentError(`bad ${what} value ${v}`);
    return x;
  };

  // Pass 2: the events, in order.
  const out: SimEvent[] = new Array(eventRanges.length / 2);
  const ev = new Cursor(bytes, 0, 0);
  const f = new Cursor(bytes, 0, 0);
  const fields: number[] = [0, 0, 0, 0, 0, 0, 0, 0, 0]; // scalar fields 1..8 of the payload
  let now = baseNs;
  for (let i = 0; i < eventRanges.length; i += 2) {
    ev.pos = eventRanges[i];
    ev.end = eventRanges[i + 1];
    let dtNs = 0;
    let kind = 0;
    let kindStart = 0;
    let kindEnd = 0;
    while (ev.pos < ev.end) {
      const tag = ev.uint32();
      const field = tag >>> 3;
      if (tag === 8) dtNs = ev.varint();
      else if (field >= 10 && field <= 24 && (tag & 7) === 2) {
        const start = ev.delimited();
        if (kind === 0 || field <= kind) {
          kind = field;
          kindStart = start;
          kindEnd = ev.pos;
        }
      } else ev.skip(tag & 7);
    }
    now += dtNs;
    const atNs = now;
    // The payload: every scalar field into `fields` (absent = 0), the few strings and packed
    // lists kept aside.
    fields.fill(0);
    let text: string | undefined;
    let fromIps: number[] | null = null;
    let toIps: number[] | null = null;
    f.pos = kindStart;
    f.end = kindEnd;
    const textField = kind === 19 ? 8 : kind === 20 ? 3 : kind === 21 ? 7 : 0;
    while (f.pos < f.end) {
      const tag = f.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (kind === 18 && (field === 2 || field === 3)) {
        const list = field === 2 ? (fromIps ??= []) : (toIps ??= []);
        if (wire === 2) {
          const end = f.end;
          const start = f.delimited();
          const runEnd = f.pos;
          f.pos = start;
          f.end = runEnd;
          while (f.pos < runEnd) list.push(f.varint());
          f.end = end;
        } else if (wire === 0) list.push(f.varint());
        else f.skip(wire);
      } else if (field === textField && wire === 2) text = f.string();
      else if (field >= 1 && field <= 8 && wire === 0) fields[field] = f.varint();
      else f.skip(wire);
    }
    out[i / 2] = makeEvent(kind, atNs, fields, text, fromIps, toIps, place, req, pick, contentError);
  }
  return out;
}

/** One SimEvent from its payload's fields, shaped exactly as eventsFromBatch shapes it. */
function makeEvent(
  kind: number,
  atNs: number,
  x: number[],
  text: string | undefined,
  fromIps: number[] | null,
  toIps: number[] | null,
  place: (ref: number) => Place,
  req: (ref: number) => string,
  pick: <T>(table: T[], v: number, what: string) => T,
  contentError: ContentError,
): SimEvent {
  const u32 = (v: number): number => v >>> 0;
  switch (kind) {
    case 10:
      return { kind: 'counterSample', atNs, at: place(u32(x[1])), event: req(u32(x[2])), actual: x[3], observed: x[4] };
    case 11:
      return {
        kind: 'pmi',
        atNs,
        at: place(u32(x[1])),
        counter: req(u32(x[2])),
        owner: pick(OWNERS, x[3], 'PMI owner'),
        deliveredTo: pick(OWNERS, x[4], 'PMI receiver'),
        vector: u32(x[5]),
        overflowNs: x[6],
        skidNs: x[7],
        lost: u32(x[8]) !== 0,
      };
    case 12:
      return { kind: 'contextSwitch', atNs, at: place(u32(x[1])), prevThread: req(u32(x[2])), nextThread: req(u32(x[3])), preempted: u32(x[4]) !== 0 };
    case 13:
      return { kind: 'guestContextSwitch', atNs, at: place(u32(x[1])), prevTask: req(u32(x[2])), nextTask: req(u32(x[3])) };
    case 14:
      return { kind: 'vmExit', atNs, at: place(u32(x[1])), reason: req(u32(x[2])), costNs: x[3], msr: u32(x[4]) };
    case 15:
      return { kind: 'vmEntry', atNs, at: place(u32(x[1])), pmuSwitchNs: x[2], pmiInjected: u32(x[3]) !== 0 };
    case 16:
      return {
        kind: 'perfState',
        atNs,
        at: place(u32(x[1])),
        eventId: req(u32(x[2])),
        from: pick(PERF_STATES, x[3], 'perf state'),
        to: pick(PERF_STATES, x[4], 'perf state'),
        cause: req(u32(x[5])),
        count: x[6],
      };
    case 17:
      return {
        kind: 'msrAccess',
        atNs,
        at: place(u32(x[1])),
        msr: u32(x[2]),
        write: u32(x[3]) !== 0,
        value: x[4],
        result: pick(MSR_RESULTS, x[5], 'MSR result'),
        trapped: u32(x[6]) !== 0,
      };
    case 18:
      return { kind: 'lbrSnapshot', atNs, at: place(u32(x[1])), fromIps: fromIps ?? [], toIps: toIps ?? [], foreignEntries: u32(x[4]) };
    case 19:
      return {
        kind: 'migrationPhase',
        atNs,
        at: place(u32(x[1])),
        fromHost: req(u32(x[2])),
        toHost: req(u32(x[3])),
        phase: pick(PHASES, x[4], 'migration phase'),
        durationNs: x[5],
        bytes: x[6],
        iteration: u32(x[7]),
        ...(text ? { detail: text } : {}),
      };
    case 20:
      // Field 4 counts repeats folded into this finding; absent (0) for a single one.
      return { kind: 'finding', atNs, at: place(u32(x[1])), findingKind: req(u32(x[2])), detail: text ?? '', ...(u32(x[4]) ? { count: u32(x[4]) } : {}) };
    case 21:
      return {
        kind: 'programStep',
        atNs,
        at: place(u32(x[1])),
        step: u32(x[2]),
        op: req(u32(x[3])),
        result: pick(MSR_RESULTS, x[4], 'MSR result'),
        value: x[5],
        ok: u32(x[6]) !== 0,
        ...(text ? { errno: text } : {}),
      };
    case 22:
      return {
        kind: 'guestPerf',
        atNs,
        at: place(u32(x[1])),
        command: req(u32(x[2])),
        event: req(u32(x[3])),
        count: x[4],
        timeEnabledNs: x[5],
        timeRunningNs: x[6],
        samples: x[7],
      };
    case 23: {
      const of = pick(TRACE_SUMMARY_OF, x[2], 'trace summary kind');
      const e: SimEvent = { kind: 'traceSummary', atNs, at: place(u32(x[1])), of, reason: u32(x[3]) ? req(u32(x[3])) : '', count: x[4], costNs: x[5], flagged: x[6] };
      if (x[7]) e.owner = pick(OWNERS, x[7], 'PMI owner');
      return e;
    }
    case 24:
      return { kind: 'guestThrottle', atNs, at: place(u32(x[1])), session: req(u32(x[2])), event: req(u32(x[3])), eventIndex: u32(x[4]), throttled: u32(x[5]) !== 0 };
    default:
      throw contentError('event with no known kind (written by a newer tool?)');
  }
}
