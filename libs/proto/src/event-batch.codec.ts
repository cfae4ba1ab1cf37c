// SimEvent[] <-> EventBatch bytes. Interns every name once per batch (reference = index + 1,
// 0 = none), delta-encodes virtual time against the previous event, and maps enums both ways.
import type { MigrationPhaseName, MsrResultName, PerfStateName, Place, PmiOwner, SimEvent } from '@vpmu/sim';
import { vpmu } from './generated/vpmu';

const v1 = vpmu.v1;

const PERF_STATES: PerfStateName[] = ['off', 'inactive', 'active', 'error'];
const MSR_RESULTS: MsrResultName[] = ['ok', 'gp', 'undefined'];
const PHASES: MigrationPhaseName[] = ['setup', 'precopy', 'stop-and-copy', 'resume', 'refused'];
const OWNERS: PmiOwner[] = ['host', 'guest'];

export class EventBatchDecodeError extends Error {}

class Interner {
  readonly strings: string[] = [];
  private readonly index = new Map<string, number>();
  ref(s: string | undefined): number {
    if (s === undefined) return 0;
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
    }
    return i + 1;
  }
}

/**
 * protobufjs' static encoder writes every own property that is not null/undefined, zeros
 * included; proto3 decodes an absent scalar as its zero, so leaving zeros out is lossless and
 * saves a tag and a value per field.
 */
function nz<T extends number | boolean>(v: T): T | undefined {
  return v ? v : undefined;
}

class PlaceInterner {
  readonly places: vpmu.v1.IPlace[] = [];
  private readonly index = new Map<string, number>();
  constructor(private readonly strings: Interner) {}
  ref(p: Place): number | undefined {
    if (p.host === undefined && p.pcpu === undefined && p.vm === undefined && p.vcpu === undefined) return undefined;
    const key = `${p.host ?? ''}\u0000${p.pcpu ?? ''}\u0000${p.vm ?? ''}\u0000${p.vcpu ?? ''}`;
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.places.length;
      const t = this.strings;
      this.places.push({
        host: nz(t.ref(p.host)),
        pcpu: p.pcpu === undefined ? undefined : p.pcpu + 1,
        vm: nz(t.ref(p.vm)),
        vcpu: p.vcpu === undefined ? undefined : p.vcpu + 1,
      });
      this.index.set(key, i);
    }
    return i + 1;
  }
}

/** Encodes events (sorted by atNs, non-decreasing) into one EventBatch message object. */
export function buildEventBatch(events: readonly SimEvent[], baseNs = events.length ? events[0].atNs : 0): vpmu.v1.IEventBatch {
  const t = new Interner();
  const places = new PlaceInterner(t);
  const out: vpmu.v1.IEvent[] = [];
  let prev = baseNs;
  for (const e of events) {
    if (e.atNs < prev) throw new Error(`buildEventBatch: events not in time order (${e.atNs} after ${prev})`);
    const ev: vpmu.v1.IEvent = { dtNs: nz(e.atNs - prev) };
    prev = e.atNs;
    const at = places.ref(e.at);
    switch (e.kind) {
      case 'counterSample':
        ev.counterSample = { at, event: t.ref(e.event), actual: nz(e.actual), observed: nz(e.observed) };
        break;
      case 'pmi':
        ev.pmi = {
          at,
          counter: t.ref(e.counter),
          owner: OWNERS.indexOf(e.owner) + 1,
          deliveredTo: OWNERS.indexOf(e.deliveredTo) + 1,
          vector: nz(e.vector),
          overflowNs: nz(e.overflowNs),
          skidNs: nz(e.skidNs),
          lost: nz(e.lost),
        };
        break;
      case 'contextSwitch':
        ev.contextSwitch = { at, prevThread: t.ref(e.prevThread), nextThread: t.ref(e.nextThread), preempted: nz(e.preempted) };
        break;
      case 'guestContextSwitch':
        ev.guestContextSwitch = { at, prevTask: t.ref(e.prevTask), nextTask: t.ref(e.nextTask) };
        break;
      case 'vmExit':
        ev.vmExit = { at, reason: t.ref(e.reason), costNs: nz(e.costNs), msr: nz(e.msr) };
        break;
      case 'vmEntry':
        ev.vmEntry = { at, pmuSwitchNs: nz(e.pmuSwitchNs), pmiInjected: nz(e.pmiInjected) };
        break;
      case 'perfState':
        ev.perfState = {
          at,
          eventId: t.ref(e.eventId),
          from: PERF_STATES.indexOf(e.from) + 1,
          to: PERF_STATES.indexOf(e.to) + 1,
          cause: t.ref(e.cause),
          count: nz(e.count),
        };
        break;
      case 'msrAccess':
        ev.msrAccess = { at, msr: nz(e.msr), write: nz(e.write), value: nz(e.value), result: MSR_RESULTS.indexOf(e.result) + 1, trapped: nz(e.trapped) };
        break;
      case 'lbrSnapshot':
        ev.lbrSnapshot = { at, fromIp: e.fromIps, toIp: e.toIps, foreignEntries: nz(e.foreignEntries) };
        break;
      case 'migrationPhase':
        ev.migrationPhase = {
          at,
          fromHost: t.ref(e.fromHost),
          toHost: t.ref(e.toHost),
          phase: PHASES.indexOf(e.phase) + 1,
          durationNs: nz(e.durationNs),
          bytes: nz(e.bytes),
          iteration: nz(e.iteration),
        };
        break;
      case 'finding':
        ev.finding = { at, kind: t.ref(e.findingKind), detail: e.detail };
        break;
      case 'programStep':
        ev.programStep = { at, step: nz(e.step), op: t.ref(e.op), result: MSR_RESULTS.indexOf(e.result) + 1, value: nz(e.value), ok: nz(e.ok) };
        break;
      case 'guestPerf':
        ev.guestPerf = {
          at,
          command: t.ref(e.command),
          event: t.ref(e.event),
          count: nz(e.count),
          timeEnabledNs: nz(e.timeEnabledNs),
          timeRunningNs: nz(e.timeRunningNs),
          samples: nz(e.samples),
        };
        break;
      default: {
        const never: never = e;
        throw new Error(`buildEventBatch: unknown event ${(never as SimEvent).kind}`);
      }
    }
    out.push(ev);
  }
  return { baseNs, strings: t.strings, places: places.places, events: out };
}

export function encodeEventBatch(events: readonly SimEvent[], baseNs?: number): Uint8Array {
  return v1.EventBatch.encode(buildEventBatch(events, baseNs)).finish();
}

/** Decodes EventBatch bytes back into resolved SimEvents. Throws EventBatchDecodeError on bad input. */
export function decodeEventBatch(bytes: Uint8Array): SimEvent[] {
  let batch: vpmu.v1.EventBatch;
  try {
    batch = v1.EventBatch.decode(bytes);
  } catch (err) {
    throw new EventBatchDecodeError(`event batch is not valid protobuf: ${(err as Error).message}`);
  }
  return eventsFromBatch(batch);
}

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
  let now = Number(batch.baseNs ?? 0);
  for (const ev of batch.events ?? []) {
    now += Number(ev.dtNs ?? 0);
    const atNs = now;
    if (ev.counterSample) {
      const e = ev.counterSample;
      out.push({ kind: 'counterSample', atNs, at: place(e.at), event: req(e.event), actual: Number(e.actual ?? 0), observed: Number(e.observed ?? 0) });
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
        overflowNs: Number(e.overflowNs ?? 0),
        skidNs: Number(e.skidNs ?? 0),
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
      out.push({ kind: 'vmExit', atNs, at: place(e.at), reason: req(e.reason), costNs: Number(e.costNs ?? 0), msr: e.msr ?? 0 });
    } else if (ev.vmEntry) {
      const e = ev.vmEntry;
      out.push({ kind: 'vmEntry', atNs, at: place(e.at), pmuSwitchNs: Number(e.pmuSwitchNs ?? 0), pmiInjected: !!e.pmiInjected });
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
        count: Number(e.count ?? 0),
      });
    } else if (ev.msrAccess) {
      const e = ev.msrAccess;
      out.push({
        kind: 'msrAccess',
        atNs,
        at: place(e.at),
        msr: e.msr ?? 0,
        write: !!e.write,
        value: Number(e.value ?? 0),
        result: pick(MSR_RESULTS, e.result, 'MSR result'),
        trapped: !!e.trapped,
      });
    } else if (ev.lbrSnapshot) {
      const e = ev.lbrSnapshot;
      out.push({
        kind: 'lbrSnapshot',
        atNs,
        at: place(e.at),
        fromIps: (e.fromIp ?? []).map(Number),
        toIps: (e.toIp ?? []).map(Number),
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
        durationNs: Number(e.durationNs ?? 0),
        bytes: Number(e.bytes ?? 0),
        iteration: e.iteration ?? 0,
      });
    } else if (ev.finding) {
      const e = ev.finding;
      out.push({ kind: 'finding', atNs, at: place(e.at), findingKind: req(e.kind), detail: e.detail ?? '' });
    } else if (ev.programStep) {
      const e = ev.programStep;
      out.push({
        kind: 'programStep',
        atNs,
        at: place(e.at),
        step: e.step ?? 0,
        op: req(e.op),
        result: pick(MSR_RESULTS, e.result, 'MSR result'),
        value: Number(e.value ?? 0),
        ok: !!e.ok,
      });
    } else if (ev.guestPerf) {
      const e = ev.guestPerf;
      out.push({
        kind: 'guestPerf',
        atNs,
        at: place(e.at),
        command: req(e.command),
        event: req(e.event),
        count: Number(e.count ?? 0),
        timeEnabledNs: Number(e.timeEnabledNs ?? 0),
        timeRunningNs: Number(e.timeRunningNs ?? 0),
        samples: Number(e.samples ?? 0),
      });
    } else {
      throw new EventBatchDecodeError('event with no known kind (written by a newer tool?)');
    }
  }
  return out;
}
