// Builds the OpenTelemetry view of a run (docs/viewing.md): one trace per run.
//   run                                  root, [0, end of run]
//   ├─ host                              per host (vpmu.host.id); findings placed on the host
//   │  └─ host perf session              one span per host perf session (active..off), state
//   │                                    changes as span events
//   └─ vm                                per VM (vpmu.vm.id); events while no vCPU slice is open
//      ├─ vcpu run                       one span per run slice: the vCPU thread switched in and
//      │                                 out on a pCPU; PMIs, VM exits, guest task switches,
//      │                                 findings as span events
//      └─ migration                      per migration, its phases as `migration phase` children
// Span names are a fixed, small set and the ids (VM, vCPU, host, pCPU, event) are attributes:
// backends such as Jaeger index and group by span name, so names that embed ids would make one
// "operation" per vCPU slice placement (OpenTelemetry trace API, "Span" name guidance:
// https://opentelemetry.io/docs/specs/otel/trace/api/#span). SPAN_NAMES lists them all.
// VM exits are frequent: a slice keeps them as individual span events only while their count is
// at most `maxExitEventsPerSlice` and their rate at most `aggregateExitsAbovePerSec`; otherwise
// the slice carries counts per reason as attributes (`vpmu.exits.<reason>`). Long-lived spans
// keep at most `maxEventsPerSpan` events and count the rest in droppedEventsCount (the summary
// and the Perfetto file keep everything; the trace is for reading).
// Run slices, PMIs and migrations come from the viewers' shared fold (run-timeline.fold.ts).
// Streaming: a slice span is complete when its vCPU is switched out and goes to `onSpan` at
// once; only open slices and the long-lived spans are held in memory.
import type {
  PerfStateEvent,
  Place,
  SimEvent,
  VmExitEvent,
} from '@vpmu/sim';
import { SUMMARY_TRACE_NOTE, type RunSummary } from '@vpmu/summary';
import {
  type Attrs,
  type TelemetrySpan,
  type TelemetrySpanEvent,
  type TraceMeta,
  deriveReplayTraceId,
  deriveSpanId,
  deriveTraceId,
} from './otel-span.model';
import { TOOL_VERSION } from './tool-version';
import { layMigrationPhases, RunTimelineFold, type Migration, type OpenRunSlice, type PmiMark, type VcpuRunSlice } from './run-timeline.fold';

export interface OtelTraceOptions {
  seed: number;
  runId: string;
  /** Unix ns that virtual time 0 maps to: the wall-clock start for `run`, the recorded one for replay. */
  runStartUnixNs: bigint;
  /** vpmu mode per VM (from the scenario), so slice spans carry `vpmu.mode` while streaming. */
  vmModes?: Record<string, string>;
  /** Receives each finished span; without it spans are collected and returned by finish(). */
  onSpan?: (span: TelemetrySpan) => void;
  maxExitEventsPerSlice?: number;
  aggregateExitsAbovePerSec?: number;
  /** Cap on PMI / guest task switch events per slice (the rest are counted in attributes). */
  maxEventsPerSlice?: number;
  maxEventsPerSpan?: number;
  serviceName?: string;
  /** `service.version` on the resource; default the tool version (package version + build hash). */
  serviceVersion?: string;
  /** A rendering of a recording (replay, export) rather than the live run: the trace gets its own
   * id, derived from (seed, run id, runStartUnixNs), and its root span links to the run's trace,
   * so a replay never re-sends the run's span ids with other timestamps (docs/viewing.md). */
  replay?: boolean;
}

/** Every span name the builder emits: a closed set, whatever the scenario. */
export const SPAN_NAMES = ['run', 'host', 'host perf session', 'vm', 'vcpu run', 'migration', 'migration phase'] as const;

interface OpenSpan {
  span: TelemetrySpan;
  cap: number;
}

/** The span of a vCPU's open run slice and what it has gathered so far. */
interface VcpuSlice {
  open: OpenSpan;
  exits: VmExitEvent[];
  exitCount: number;
  exitByReason: Map<string, number>;
  pmis: number;
  taskSwitches: number;
}

interface PerfSession {
  open: OpenSpan;
  index: number;
}

const DEFAULTS = {
  maxExitEventsPerSlice: 8,
  aggregateExitsAbovePerSec: 20_000,
  maxEventsPerSlice: 64,
  maxEventsPerSpan: 1000,
};

export class OtelTraceBuilder {
  readonly meta: TraceMeta;
  private readonly seed: number;
  private readonly runId: string;
  private readonly options: OtelTraceOptions;
  private readonly maxExitEvents: number;
  private readonly exitRateLimitPerSec: number;
  private readonly maxSliceEvents: number;
  private readonly maxSpanEvents: number;
  private readonly collected: TelemetrySpan[] = [];
  private readonly runSpan: OpenSpan;
  private readonly hosts = new Map<string, OpenSpan>();
  private readonly vms = new Map<string, OpenSpan>();
  /** vm\0vcpu -> the vCPU's open run slice. */
  private readonly slices = new Map<string, VcpuSlice>();
  private readonly timeline = new RunTimelineFold({
    sliceStart: (s) => this.openSlice(s),
    sliceEnd: (s) => this.closeSlice(s),
    pmi: (m) => this.onPmi(m),
    migration: (m) => this.onMigration(m),
  });
  private readonly perfSessions = new Map<string, PerfSession>();
  private readonly perfSessionCounts = new Map<string, number>();
  private finished = false;
  private readonly spanSalt: string;
  private emitted = 0;

  constructor(options: OtelTraceOptions) {
    this.options = options;
    this.seed = options.seed;
    this.runId = options.runId;
    this.maxExitEvents = options.maxExitEventsPerSlice ?? DEFAULTS.maxExitEventsPerSlice;
    this.exitRateLimitPerSec = options.aggregateExitsAbovePerSec ?? DEFAULTS.aggregateExitsAbovePerSec;
    this.maxSliceEvents = options.maxEventsPerSlice ?? DEFAULTS.maxEventsPerSlice;
    this.maxSpanEvents = options.maxEventsPerSpan ?? DEFAULTS.maxEventsPerSpan;
    const runTraceId = deriveTraceId(options.seed, options.runId);
    this.spanSalt = options.replay ? `replay/${options.runStartUnixNs}/` : '';
    this.meta = {
      traceId: options.replay ? deriveReplayTraceId(options.seed, options.runId, options.runStartUnixNs) : runTraceId,
      runStartUnixNs: options.runStartUnixNs,
      resource: {
        'service.name': options.serviceName ?? 'vpmu-lab',
        'vpmu.run.id': options.runId,
        'vpmu.seed': options.seed,
        'service.version': options.serviceVersion ?? TOOL_VERSION,
      },
    };
    this.runSpan = this.newSpan('run', undefined, 'run', 0, { 'vpmu.run.id': options.runId, 'vpmu.seed': options.seed }, this.maxSpanEvents);
    if (options.replay) {
      this.runSpan.span.attributes['vpmu.replay.of_trace_id'] = runTraceId;
      this.runSpan.span.links = [{ traceId: runTraceId, spanId: deriveSpanId(options.seed, options.runId, 'run'), attributes: { 'vpmu.link.kind': 'replay_of' } }];
    }
  }

  /** Spans handed out so far (to onSpan or collected). */
  get spanCount(): number {
    return this.emitted;
  }

  onEvents(events: readonly SimEvent[]): void {
    if (this.finished) throw new Error('OtelTraceBuilder: onEvents after finish');
    for (const e of events) {
      if (e.at.host !== undefined) this.host(e.at.host, e.atNs);
      if (e.at.vm !== undefined) this.vm(e.at.vm, e.atNs);
      this.timeline.onEvent(e);
      switch (e.kind) {
        case 'vmExit':
          this.onVmExit(e);
          break;
        case 'guestContextSwitch':
          this.onSliceEvent(e.at, e.atNs, 'guest task switch', { 'vpmu.guest.prev_task': e.prevTask, 'vpmu.guest.next_task': e.nextTask }, 'task');
          break;
        case 'vmEntry':
          if (e.pmiInjected) this.onSliceEvent(e.at, e.atNs, 'virtual pmi injected', { 'vpmu.pmu_switch_ns': e.pmuSwitchNs }, 'pmi');
          break;
        case 'perfState':
          this.onPerfState(e);
          break;
        case 'finding':
          this.onSliceEvent(e.at, e.atNs, 'finding', { 'vpmu.finding.kind': e.findingKind, 'vpmu.finding.detail': e.detail, ...placeAttrs(e.at) }, 'always');
          break;
        case 'msrAccess':
          if (e.result !== 'ok') {
            this.onSliceEvent(e.at, e.atNs, 'msr fault', { 'vpmu.msr.write': e.write, 'vpmu.msr.address': `0x${e.msr.toString(16)}`, 'vpmu.msr.result': e.result, 'vpmu.msr.trapped': e.trapped }, 'always');
          }
          break;
        case 'lbrSnapshot':
          if (e.foreignEntries > 0) this.onSliceEvent(e.at, e.atNs, 'lbr foreign entries', { 'vpmu.lbr.foreign_entries': e.foreignEntries }, 'always');
          break;
        case 'programStep':
          this.onSliceEvent(e.at, e.atNs, 'program step', { 'vpmu.program.step': e.step, 'vpmu.program.op': e.op, 'vpmu.program.result': e.result, 'vpmu.program.value': e.value, 'vpmu.program.ok': e.ok }, 'always');
          break;
        case 'guestPerf':
          this.addEvent(this.placeSpan(e.at), { name: 'guest perf', atNs: e.atNs, attributes: {
            'vpmu.guest_perf.command': e.command,
            'vpmu.event': e.event,
            'vpmu.guest_perf.count': e.count,
            'vpmu.guest_perf.time_enabled_ns': e.timeEnabledNs,
            'vpmu.guest_perf.time_running_ns': e.timeRunningNs,
            'vpmu.guest_perf.samples': e.samples,
          } });
          break;
        // contextSwitch, pmi and migrationPhase: through the timeline fold. counterSample: counters are plotted
        // in Perfetto and the report; a trace is the wrong view.
      }
    }
  }

  /** Ends every open span at the end of the run and emits the long-lived spans. Returns the
   * collected spans when no onSpan sink was given (else an empty array). */
  finish(summary: RunSummary): TelemetrySpan[] {
    if (this.finished) return [];
    this.finished = true;
    const endNs = this.timeline.runEndNs(summary.run.durationNs);
    this.timeline.endRunSlices(endNs);
    for (const p of this.perfSessions.values()) this.end(p.open, endNs);
    this.perfSessions.clear();
    this.timeline.endMigrations();

    for (const id of [...this.vms.keys()].sort()) {
      const s = this.vms.get(id)!;
      const v = summary.vms[id];
      if (v) {
        Object.assign(s.span.attributes, {
          'vpmu.mode': v.vpmu,
          'vpmu.host.id': v.host,
          'vpmu.workload_score': v.workloadScore,
          'vpmu.guest_run_ns': v.guestRunNs,
          'vpmu.pmis.delivered': v.pmis.delivered,
          'vpmu.pmis.lost': v.pmis.lost,
        });
        for (const [event, c] of Object.entries(v.counters)) {
          s.span.attributes[`vpmu.counter.${attrKeyPart(event)}.actual`] = c.actual;
          s.span.attributes[`vpmu.counter.${attrKeyPart(event)}.guest_observed`] = c.guestObserved;
          s.span.attributes[`vpmu.counter.${attrKeyPart(event)}.error_pct`] = c.errorPct;
        }
      }
      this.end(s, endNs);
    }
    for (const id of [...this.hosts.keys()].sort()) {
      const s = this.hosts.get(id)!;
      const h = summary.hosts[id];
      if (h) Object.assign(s.span.attributes, { 'vpmu.host.cpu': h.cpu, 'vpmu.host.pcpus': h.pcpus, 'vpmu.host.context_switches': h.contextSwitches });
      this.end(s, endNs);
    }
    Object.assign(this.runSpan.span.attributes, {
      'vpmu.scenario': summary.run.scenario,
      'vpmu.digest': summary.digest,
      'vpmu.tool_version': summary.run.toolVersion,
      'vpmu.transport': summary.run.transport,
      'vpmu.epochs': summary.run.epochs,
      'vpmu.events.total': summary.events.total,
      'vpmu.findings.count': summary.findings.reduce((n, f) => n + (f.count ?? 1), 0), // repeats are folded with a count
      'vpmu.trace.level': summary.run.traceLevel ?? 'full',
      ...(summary.run.traceLevel === 'summary' && { 'vpmu.trace.note': SUMMARY_TRACE_NOTE }),
    });
    this.end(this.runSpan, endNs);
    return this.options.onSpan ? [] : this.collected;
  }

  // ---- vCPU run slices -----------------------------------------------------------------------

  private openSlice(slice: OpenRunSlice): void {
    const { host, pcpu, vm, vcpu } = slice;
    const vmSpan = this.vm(vm, slice.startNs);
    const attrs: Attrs = { 'vpmu.vm.id': vm, 'vpmu.vcpu.index': vcpu, 'vpmu.host.id': host, 'vpmu.pcpu.index': pcpu };
    const mode = this.options.vmModes?.[vm];
    if (mode !== undefined) attrs['vpmu.mode'] = mode;
    const open = this.newSpan(`vm/${vm}/vcpu/${vcpu}/run/${slice.index}`, vmSpan.span.spanId, 'vcpu run', slice.startNs, attrs, Number.MAX_SAFE_INTEGER);
    this.slices.set(vcpuKey(vm, vcpu), { open, exits: [], exitCount: 0, exitByReason: new Map(), pmis: 0, taskSwitches: 0 });
  }

  private closeSlice(slice: VcpuRunSlice): void {
    const key = vcpuKey(slice.vm, slice.vcpu);
    const s = this.slices.get(key)!;
    this.slices.delete(key);
    const { endNs, preempted } = slice;
    const open = s.open;
    const span = open.span;
    const durNs = Math.max(0, endNs - span.startNs);
    span.attributes['vpmu.exits.total'] = s.exitCount;
    span.attributes['vpmu.pmis.count'] = s.pmis;
    if (s.taskSwitches > 0) span.attributes['vpmu.guest.task_switches'] = s.taskSwitches;
    if (preempted !== undefined) span.attributes['vpmu.preempted'] = preempted;
    const ratePerSec = durNs > 0 ? (s.exitCount * 1e9) / durNs : Number.POSITIVE_INFINITY;
    const individually = s.exitCount <= this.maxExitEvents && (s.exitCount <= 1 || ratePerSec <= this.exitRateLimitPerSec);
    if (individually) {
      for (const x of s.exits) {
        span.events.push({ name: 'vm exit', atNs: x.atNs, attributes: { 'vpmu.exit.reason': x.reason, 'vpmu.exit.cost_ns': x.costNs, 'vpmu.exit.msr': `0x${x.msr.toString(16)}` } });
      }
    } else if (s.exitCount > 0) {
      span.attributes['vpmu.exits.aggregated'] = true;
      for (const [reason, n] of [...s.exitByReason].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) span.attributes[`vpmu.exits.${attrKeyPart(reason)}`] = n;
    }
    span.events.sort((a, b) => a.atNs - b.atNs);
    this.end(open, endNs);
  }

  private onPmi(m: PmiMark): void {
    const e = m.event;
    this.onSliceEvent(e.at, e.atNs, e.lost ? 'pmi lost' : 'pmi', {
      'vpmu.event': e.counter,
      'vpmu.pmi.owner': e.owner,
      'vpmu.pmi.delivered_to': e.deliveredTo,
      'vpmu.pmi.vector': e.vector,
      'vpmu.pmi.overflow_ns': e.overflowNs,
      'vpmu.pmi.skid_ns': e.skidNs,
      'vpmu.pmi.lost': e.lost,
    }, 'pmi');
  }

  private onVmExit(e: VmExitEvent): void {
    const s = this.openSliceAt(e.at);
    if (!s) {
      this.addEvent(this.placeSpan(e.at), { name: 'vm exit', atNs: e.atNs, attributes: { 'vpmu.exit.reason': e.reason, 'vpmu.exit.cost_ns': e.costNs, ...placeAttrs(e.at) } });
      return;
    }
    s.exitCount++;
    s.exitByReason.set(e.reason, (s.exitByReason.get(e.reason) ?? 0) + 1);
    if (s.exits.length <= this.maxExitEvents) s.exits.push(e);
  }

  /** An event on the vCPU's open slice if there is one, else on the most specific span. */
  private onSliceEvent(at: Place, atNs: number, name: string, attributes: Attrs, cls: 'pmi' | 'task' | 'always'): void {
    const s = this.openSliceAt(at);
    if (s) {
      if (cls === 'pmi') s.pmis++;
      if (cls === 'task') s.taskSwitches++;
      const count = cls === 'pmi' ? s.pmis : cls === 'task' ? s.taskSwitches : 0;
      if (cls === 'always' || count <= this.maxSliceEvents) s.open.span.events.push({ name, atNs, attributes });
      else s.open.span.droppedEventsCount++;
      return;
    }
    if (cls === 'task') return; // a guest switch on a descheduled vCPU says nothing in a trace
    this.addEvent(this.placeSpan(at), { name, atNs, attributes: { ...attributes, ...placeAttrs(at) } });
  }

  private openSliceAt(at: Place): VcpuSlice | null {
    if (at.vm === undefined || at.vcpu === undefined) return null;
    return this.slices.get(vcpuKey(at.vm, at.vcpu)) ?? null;
  }

  // ---- perf sessions ----------------------------------------------------------------------

  private onPerfState(e: PerfStateEvent): void {
    const host = e.at.host;
    const event = { name: 'perf state change', atNs: e.atNs, attributes: { 'vpmu.perf.event_id': e.eventId, 'vpmu.perf.from': e.from, 'vpmu.perf.to': e.to, 'vpmu.perf.cause': e.cause, 'vpmu.perf.count': e.count } as Attrs };
    if (host === undefined) {
      this.addEvent(this.placeSpan(e.at), event);
      return;
    }
    const cpu = e.at.pcpu === undefined ? '' : `/cpu${e.at.pcpu}`;
    const key = `${host}/perf/${e.eventId}${cpu}`;
    let session = this.perfSessions.get(key);
    if (!session && e.to !== 'off') {
      const index = this.perfSessionCounts.get(key) ?? 0;
      this.perfSessionCounts.set(key, index + 1);
      const attrs: Attrs = { 'vpmu.host.id': host, 'vpmu.event': e.eventId };
      if (e.at.pcpu !== undefined) attrs['vpmu.pcpu.index'] = e.at.pcpu;
      session = { open: this.newSpan(`host/${key}/${index}`, this.host(host, e.atNs).span.spanId, 'host perf session', e.atNs, attrs, this.maxSpanEvents), index };
      this.perfSessions.set(key, session);
    }
    if (!session) {
      this.addEvent(this.host(host, e.atNs), event);
      return;
    }
    this.addEvent(session.open, event);
    const attrs = session.open.span.attributes;
    attrs['vpmu.perf.state'] = e.to;
    attrs['vpmu.perf.count'] = e.count;
    if (e.to === 'error') {
      session.open.span.status = 'error';
      session.open.span.statusMessage = `perf event ${e.eventId} entered ERROR (${e.cause})`;
    }
    if (e.to === 'off') {
      this.end(session.open, e.atNs);
      this.perfSessions.delete(key);
    }
  }

  // ---- migrations -------------------------------------------------------------------------

  /** One span per migration, its phases as child spans laid end to end. */
  private onMigration(m: Migration): void {
    const { vm } = m;
    const first = m.phases[0];
    const refused = m.result === 'refused';
    const path = `vm/${vm}/migration/${m.index}`;
    const parent = this.newSpan(path, this.vm(vm, first.atNs).span.spanId, 'migration', first.atNs, {
      'vpmu.vm.id': vm,
      'vpmu.migration.from': first.fromHost,
      'vpmu.migration.to': first.toHost,
    }, this.maxSpanEvents);
    const laid = layMigrationPhases(m.phases);
    let bytes = 0;
    let downtimeNs = 0;
    laid.forEach(({ event: p, startNs, endNs }, j) => {
      const phase = this.newSpan(`${path}/phase/${j}`, parent.span.spanId, 'migration phase', startNs, {
        'vpmu.vm.id': vm,
        'vpmu.migration.phase': p.phase,
        'vpmu.migration.iteration': p.iteration,
        'vpmu.migration.bytes': p.bytes,
      }, 0);
      if (p.phase === 'refused') {
        phase.span.status = 'error';
        phase.span.statusMessage = `migration of ${vm} from ${first.fromHost} to ${first.toHost} refused`;
      }
      this.end(phase, endNs);
      bytes += p.bytes;
      if (p.phase === 'stop-and-copy') downtimeNs += p.durationNs;
    });
    Object.assign(parent.span.attributes, {
      'vpmu.migration.bytes': bytes,
      'vpmu.migration.downtime_ns': downtimeNs,
      'vpmu.migration.result': m.result,
    });
    if (refused) {
      parent.span.status = 'error';
      parent.span.statusMessage = `migration of ${vm} from ${first.fromHost} to ${first.toHost} refused`;
    }
    this.end(parent, laid[laid.length - 1].endNs);
  }

  // ---- spans ------------------------------------------------------------------------------

  private host(id: string, atNs: number): OpenSpan {
    let s = this.hosts.get(id);
    if (!s) {
      s = this.newSpan(`host/${id}`, this.runSpan.span.spanId, 'host', atNs, { 'vpmu.host.id': id }, this.maxSpanEvents);
      this.hosts.set(id, s);
    }
    return s;
  }

  private vm(id: string, atNs: number): OpenSpan {
    let s = this.vms.get(id);
    if (!s) {
      const attrs: Attrs = { 'vpmu.vm.id': id };
      const mode = this.options.vmModes?.[id];
      if (mode !== undefined) attrs['vpmu.mode'] = mode;
      s = this.newSpan(`vm/${id}`, this.runSpan.span.spanId, 'vm', atNs, attrs, this.maxSpanEvents);
      this.vms.set(id, s);
    }
    return s;
  }

  /** The long-lived span an event without an open slice belongs to. */
  private placeSpan(at: Place): OpenSpan {
    if (at.vm !== undefined) return this.vm(at.vm, 0);
    if (at.host !== undefined) return this.host(at.host, 0);
    return this.runSpan;
  }

  private addEvent(s: OpenSpan, ev: TelemetrySpanEvent): void {
    if (s.span.events.length < s.cap) s.span.events.push(ev);
    else s.span.droppedEventsCount++;
  }

  private newSpan(path: string, parentSpanId: string | undefined, name: string, startNs: number, attributes: Attrs, cap: number): OpenSpan {
    const span: TelemetrySpan = {
      path,
      traceId: this.meta.traceId,
      spanId: deriveSpanId(this.seed, this.runId, this.spanSalt + path),
      name,
      startNs,
      endNs: startNs,
      attributes,
      events: [],
      droppedEventsCount: 0,
      status: 'unset',
    };
    if (parentSpanId !== undefined) span.parentSpanId = parentSpanId;
    return { span, cap };
  }

  private end(s: OpenSpan, endNs: number): void {
    s.span.endNs = Math.max(endNs, s.span.startNs);
    this.emitted++;
    if (this.options.onSpan) this.options.onSpan(s.span);
    else this.collected.push(s.span);
  }
}

/** A value used inside an attribute key (an exit reason, a PMU event name) as one lower-case
 * key segment: OTel attribute names are dot-separated lower-case namespaces; "msr-write" and
 * "INST_RETIRED.ANY" would otherwise leak hyphens, capitals or extra dots into keys. */
export function attrKeyPart(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_]+/g, '_');
}

function vcpuKey(vm: string, vcpu: number): string {
  return `${vm}\u0000${vcpu}`;
}

function placeAttrs(at: Place): Attrs {
  const a: Attrs = {};
  if (at.host !== undefined) a['vpmu.host.id'] = at.host;
  if (at.pcpu !== undefined) a['vpmu.pcpu.index'] = at.pcpu;
  if (at.vm !== undefined) a['vpmu.vm.id'] = at.vm;
  if (at.vcpu !== undefined) a['vpmu.vcpu.index'] = at.vcpu;
  return a;
}
