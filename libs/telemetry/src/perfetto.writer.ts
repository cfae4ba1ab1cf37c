// Perfetto view of a run: Chrome trace-event JSON (`trace.perfetto.json`), which ui.perfetto.dev
// opens directly. Layout (docs/viewing.md):
//   process per host   threads: one per pCPU (which host thread runs: slices from contextSwitch),
//                      one per vCPU that ran there (run slices "cpuN", guest task slices nested
//                      inside them, PMIs, VM exits, findings), one per host perf event (state slices)
//   process per VM     counter tracks (actual and guest-observed values), a "migration" thread
//                      (one slice per migration with its phases nested), VM-level instants
// Which thread runs on each pCPU, the vCPU run slices, PMIs, counter samples and migrations come
// from the viewers' shared fold (run-timeline.fold.ts); this file only draws them.
// Streaming: events are written to the sink as slices close; state is per thread, so memory is
// bounded by the topology, not by the run length. Slices on one thread never overlap: each
// thread keeps a stack of open slices and a monotonic "last end", and a start earlier than
// the last end is clamped to it (it can only happen when batches from two hosts disagree).
import type {
  FindingEvent,
  GuestContextSwitchEvent,
  PerfStateEvent,
  SimEvent,
  VmExitEvent,
  Place,
} from '@vpmu/sim';
import { SUMMARY_TRACE_NOTE, type RunSummary } from '@vpmu/summary';
import {
  layMigrationPhases,
  RunTimelineFold,
  type CounterPoint,
  type Migration,
  type OpenRunSlice,
  type PcpuSwitch,
  type PmiMark,
  type VcpuRunSlice,
} from './run-timeline.fold';
import { IDLE_THREAD } from './thread-names';
import { nsToUsDecimal } from './time-format';

export type ChunkSink = (chunk: string) => void;

export interface PerfettoWriterOptions {
  /** VM exits of one run slice up to this count are drawn one by one; above it, one
   * aggregated instant ("exits ×N", counts per reason in its args). Default 8. */
  maxExitInstantsPerSlice?: number;
  /** Buffered output size before the sink is called. Default 64 KiB. */
  chunkChars?: number;
}

type Args = Record<string, string | number | boolean>;

interface ProcessTrack {
  pid: number;
  kind: 'host' | 'vm';
  id: string;
  sortIndex: number;
}

interface ThreadTrack {
  pid: number;
  tid: number;
  name: string;
  sortIndex: number;
  lastEndNs: number;
  open: OpenSlice[];
}

interface OpenSlice {
  name: string;
  startNs: number;
  args: Args;
  cat: string;
  /** End of the latest closed child: the next child starts no earlier. */
  childEndNs: number;
}

interface VcpuState {
  vm: string;
  vcpu: number;
  /** Thread track holding the open run slice, null while descheduled. */
  runTrack: ThreadTrack | null;
  /** Seen in a host contextSwitch: guest task slices are then nested in run slices. */
  hosted: boolean;
  task: string | null;
  /** Free-standing guest task slice (vCPU never seen on a pCPU). */
  looseTrack: ThreadTrack | null;
  exitCount: number;
  exitByReason: Map<string, number>;
  exitBuffer: VmExitEvent[];
  firstExitNs: number;
  lastHost: string | null;
}

const DEFAULT_MAX_EXIT_INSTANTS = 8;
const DEFAULT_CHUNK_CHARS = 64 * 1024;
const TID_BASE = 10_000;

export class PerfettoWriter {
  private readonly maxExitInstants: number;
  private readonly chunkChars: number;
  private buffer: string[] = [];
  private bufferChars = 0;
  private first = true;
  private finished = false;
  private nextPid = 1;
  private nextTid = TID_BASE;
  private hostOrder = 0;
  private vmOrder = 0;
  private readonly processes = new Map<string, ProcessTrack>();
  private readonly threads = new Map<string, ThreadTrack>();
  private readonly pcpus = new Map<string, ThreadTrack>();
  private readonly vcpus = new Map<string, VcpuState>();
  private readonly perfTracks = new Map<string, ThreadTrack>();
  private eventsWritten = 0;
  private readonly timeline = new RunTimelineFold({
    pcpuSwitch: (s) => this.onPcpuSwitch(s),
    sliceStart: (s) => this.switchVcpuIn(s),
    sliceEnd: (s) => this.switchVcpuOut(s),
    pmi: (m) => this.onPmi(m),
    counterSample: (p) => this.onCounterSample(p),
    migration: (m) => this.onMigration(m),
  });

  constructor(
    private readonly sink: ChunkSink,
    options: PerfettoWriterOptions = {},
  ) {
    this.maxExitInstants = options.maxExitInstantsPerSlice ?? DEFAULT_MAX_EXIT_INSTANTS;
    this.chunkChars = options.chunkChars ?? DEFAULT_CHUNK_CHARS;
    this.sink('{"traceEvents":[\n');
  }

  /** Trace events written so far (metadata included once finished). */
  get traceEventCount(): number {
    return this.eventsWritten;
  }

  onEvents(events: readonly SimEvent[]): void {
    if (this.finished) throw new Error('PerfettoWriter: onEvents after finish');
    for (const e of events) {
      this.timeline.onEvent(e);
      switch (e.kind) {
        case 'guestContextSwitch':
          this.onGuestContextSwitch(e);
          break;
        case 'vmExit':
          this.onVmExit(e);
          break;
        case 'perfState':
          this.onPerfState(e);
          break;
        case 'finding':
          this.onFinding(e);
          break;
        case 'vmEntry':
          if (e.pmiInjected) this.instant(e.at, e.atNs, 'virtual PMI injected', { pmuSwitchNs: e.pmuSwitchNs }, 'pmi');
          break;
        case 'msrAccess':
          if (e.result !== 'ok') {
            this.instant(e.at, e.atNs, `${e.write ? 'wrmsr' : 'rdmsr'} ${hex(e.msr)} → ${e.result}`, { value: e.value, trapped: e.trapped }, 'msr');
          }
          break;
        case 'lbrSnapshot':
          if (e.foreignEntries > 0) this.instant(e.at, e.atNs, `LBR: ${e.foreignEntries} foreign entries`, { entries: e.fromIps.length }, 'lbr');
          break;
        case 'programStep':
          this.instant(e.at, e.atNs, `step ${e.step}: ${e.op}`, { result: e.result, value: e.value, ok: e.ok }, 'program');
          break;
        case 'guestPerf':
          this.instant(e.at, e.atNs, `guest ${e.command}: ${e.event}`, {
            count: e.count,
            timeEnabledNs: e.timeEnabledNs,
            timeRunningNs: e.timeRunningNs,
            samples: e.samples,
          }, 'guest-perf');
          break;
      }
    }
    this.maybeFlush();
  }

  /** Closes every open slice at the end of the run, writes the metadata and the file end. */
  finish(summary: RunSummary): void {
    if (this.finished) return;
    const endNs = this.timeline.runEndNs(summary.run.durationNs);
    for (const v of this.vcpus.values()) {
      this.timeline.endAtRunEnd(v.vm, v.vcpu, endNs);
      if (v.looseTrack) this.closeAll(v.looseTrack, endNs);
    }
    for (const t of this.pcpus.values()) this.closeAll(t, endNs);
    for (const t of this.perfTracks.values()) this.closeAll(t, endNs);
    this.timeline.endMigrations();
    for (const t of this.threads.values()) this.closeAll(t, endNs);
    this.writeMetadata(summary);
    this.finished = true;
    this.flush();
    const otherData = {
      runId: summary.run.id,
      scenario: summary.run.scenario,
      seed: summary.run.seed,
      digest: summary.digest,
      toolVersion: summary.run.toolVersion,
      traceLevel: summary.run.traceLevel ?? 'full',
      ...(summary.run.traceLevel === 'summary' && { traceNote: SUMMARY_TRACE_NOTE }),
    };
    this.sink(`\n],"displayTimeUnit":"ns","otherData":${JSON.stringify(otherData)}}\n`);
  }

  // ---- host scheduling -------------------------------------------------------------------

  /** The pCPU's own track: one slice per host thread that runs there. */
  private onPcpuSwitch(s: PcpuSwitch): void {
    const track = this.pcpu(s.host, s.pcpu);
    if (s.prevThread !== null) this.closeAll(track, s.atNs);
    if (s.nextThread === null) return;
    const name = s.nextVcpu ? `${s.nextVcpu.vm}/vcpu${s.nextVcpu.vcpu}` : s.nextThread;
    this.open(track, name, s.atNs, { thread: s.nextThread, preempted: s.preempted }, 'sched');
  }

  private switchVcpuIn(slice: OpenRunSlice): void {
    const { host, pcpu, startNs: atNs } = slice;
    const v = this.vcpu(slice.vm, slice.vcpu);
    if (v.looseTrack) {
      this.closeAll(v.looseTrack, atNs);
      v.looseTrack = null;
    }
    v.hosted = true;
    v.lastHost = host;
    const track = this.vcpuTrack(host, v.vm, v.vcpu);
    v.runTrack = track;
    this.open(track, `cpu${pcpu}`, atNs, { host, pcpu }, 'run');
    if (v.task !== null) this.open(track, v.task, atNs, {}, 'guest-task');
  }

  private switchVcpuOut(slice: VcpuRunSlice): void {
    const atNs = slice.endNs;
    const v = this.vcpu(slice.vm, slice.vcpu);
    const track = v.runTrack;
    if (!track) return;
    while (track.open.length > 1) this.close(track, atNs);
    if (track.open.length === 1 && v.exitCount > 0) {
      const run = track.open[0];
      run.args.exits = v.exitCount;
      for (const [reason, n] of v.exitByReason) run.args[`exits.${reason}`] = n;
    }
    this.close(track, atNs);
    this.flushExits(v, track);
    v.runTrack = null;
  }

  private onGuestContextSwitch(e: GuestContextSwitchEvent): void {
    const { vm, vcpu } = e.at;
    if (vm === undefined || vcpu === undefined) return;
    const v = this.vcpu(vm, vcpu);
    v.task = e.nextTask === IDLE_THREAD ? null : e.nextTask;
    if (v.runTrack) {
      while (v.runTrack.open.length > 1) this.close(v.runTrack, e.atNs);
      if (v.task !== null) this.open(v.runTrack, v.task, e.atNs, {}, 'guest-task');
      return;
    }
    if (v.hosted) return; // descheduled: the task shows when the vCPU runs again
    const track = v.looseTrack ?? this.vcpuTrackFor(e.at, v);
    this.closeAll(track, e.atNs);
    v.looseTrack = track;
    if (v.task !== null) this.open(track, v.task, e.atNs, {}, 'guest-task');
  }

  // ---- per-event marks --------------------------------------------------------------------

  private onVmExit(e: VmExitEvent): void {
    const { vm, vcpu } = e.at;
    if (vm !== undefined && vcpu !== undefined) {
      const v = this.vcpu(vm, vcpu);
      if (v.runTrack) {
        if (v.exitCount === 0) v.firstExitNs = e.atNs;
        v.exitCount++;
        v.exitByReason.set(e.reason, (v.exitByReason.get(e.reason) ?? 0) + 1);
        if (v.exitBuffer.length < this.maxExitInstants + 1) v.exitBuffer.push(e);
        return;
      }
    }
    this.instant(e.at, e.atNs, `exit ${e.reason}`, { costNs: e.costNs, msr: hex(e.msr) }, 'vmexit');
  }

  private flushExits(v: VcpuState, track: ThreadTrack): void {
    if (v.exitCount === 0) return;
    if (v.exitCount <= this.maxExitInstants) {
      for (const x of v.exitBuffer) {
        this.emitInstant(track, x.atNs, `exit ${x.reason}`, { costNs: x.costNs, msr: hex(x.msr) }, 'vmexit');
      }
    } else {
      const args: Args = { exits: v.exitCount };
      for (const [reason, n] of v.exitByReason) args[reason] = n;
      this.emitInstant(track, v.firstExitNs, `exits ×${v.exitCount}`, args, 'vmexit');
    }
    v.exitCount = 0;
    v.exitByReason.clear();
    v.exitBuffer = [];
  }

  private onPmi(m: PmiMark): void {
    const e = m.event;
    const name = `${e.lost ? 'PMI lost' : 'PMI'} ${e.counter}${e.owner !== e.deliveredTo ? ` (${e.owner}→${e.deliveredTo})` : ''}`;
    this.instant(e.at, e.atNs, name, {
      counter: e.counter,
      owner: e.owner,
      deliveredTo: e.deliveredTo,
      vector: e.vector,
      overflowNs: e.overflowNs,
      skidNs: e.skidNs,
      lost: e.lost,
    }, 'pmi');
  }

  private onFinding(e: FindingEvent): void {
    this.instant(e.at, e.atNs, `finding: ${e.findingKind}`, { kind: e.findingKind, detail: e.detail }, 'finding');
  }

  private onCounterSample(p: CounterPoint): void {
    const pid = this.process(p.owner, p.ownerId).pid;
    const name = p.cpu < 0 ? p.event : `${p.owner === 'vm' ? 'vcpu' : 'cpu'}${p.cpu} ${p.event}`;
    this.write({ ph: 'C', name, cat: 'counter', ts: p.atNs, pid, args: { actual: p.actual, observed: p.observed } });
  }

  private onPerfState(e: PerfStateEvent): void {
    const host = e.at.host;
    if (host === undefined) {
      this.instant(e.at, e.atNs, `perf ${e.eventId}: ${e.from}→${e.to}`, { cause: e.cause, count: e.count }, 'perf');
      return;
    }
    const key = `${host}\u0000${e.eventId}\u0000${e.at.pcpu ?? ''}`;
    let track = this.perfTracks.get(key);
    if (!track) {
      const name = `perf ${e.eventId}${e.at.pcpu !== undefined ? ` cpu${e.at.pcpu}` : ''}`;
      track = this.thread(this.process('host', host), `perf\u0000${e.eventId}\u0000${e.at.pcpu ?? ''}`, name, 2000);
      this.perfTracks.set(key, track);
    }
    this.closeAll(track, e.atNs);
    if (e.to !== 'off') this.open(track, e.to, e.atNs, { cause: e.cause, countAtStart: e.count }, 'perf');
    if (e.to === 'error') {
      this.emitInstant(track, e.atNs, `${e.eventId} → ERROR`, { cause: e.cause, from: e.from }, 'perf');
    }
  }

  /** One migration: a parent slice over all phases, phases nested and laid end to end. */
  private onMigration(m: Migration): void {
    const track = this.thread(this.process('vm', m.vm), 'migration', 'migration', 0);
    const laid = layMigrationPhases(m.phases, track.lastEndNs);
    const refused = m.result === 'refused';
    const bytes = m.phases.reduce((s, p) => s + p.bytes, 0);
    this.open(track, `migrate ${m.fromHost}→${m.toHost}${refused ? ' (refused)' : ''}`, laid[0].startNs, {
      from: m.fromHost,
      to: m.toHost,
      bytes,
      result: refused ? 'refused' : 'completed',
    }, 'migration');
    for (const p of laid) {
      const label = p.event.phase === 'precopy' ? `precopy #${p.event.iteration}` : p.event.phase;
      this.open(track, label, p.startNs, { bytes: p.event.bytes, iteration: p.event.iteration, durationNs: p.event.durationNs }, 'migration');
      this.close(track, p.endNs);
    }
    this.close(track, laid[laid.length - 1].endNs);
  }

  // ---- tracks -----------------------------------------------------------------------------

  private process(kind: 'host' | 'vm', id: string): ProcessTrack {
    const key = `${kind}\u0000${id}`;
    let p = this.processes.get(key);
    if (!p) {
      const sortIndex = kind === 'host' ? 100 + this.hostOrder++ : 1000 + this.vmOrder++;
      p = { pid: this.nextPid++, kind, id, sortIndex };
      this.processes.set(key, p);
    }
    return p;
  }

  private thread(p: ProcessTrack, localKey: string, name: string, sortIndex: number): ThreadTrack {
    const key = `${p.pid}\u0000${localKey}`;
    let t = this.threads.get(key);
    if (!t) {
      t = { pid: p.pid, tid: this.nextTid++, name, sortIndex, lastEndNs: 0, open: [] };
      this.threads.set(key, t);
    }
    return t;
  }

  private pcpu(host: string, pcpu: number): ThreadTrack {
    const key = `${host}\u0000${pcpu}`;
    let t = this.pcpus.get(key);
    if (!t) {
      t = this.thread(this.process('host', host), `cpu\u0000${pcpu}`, `cpu${pcpu}`, pcpu);
      this.pcpus.set(key, t);
    }
    return t;
  }

  private vcpu(vm: string, vcpu: number): VcpuState {
    const key = `${vm}\u0000${vcpu}`;
    let s = this.vcpus.get(key);
    if (!s) {
      s = {
        vm,
        vcpu,
        runTrack: null,
        hosted: false,
        task: null,
        looseTrack: null,
        exitCount: 0,
        exitByReason: new Map(),
        exitBuffer: [],
        firstExitNs: 0,
        lastHost: null,
      };
      this.vcpus.set(key, s);
    }
    return s;
  }

  private vcpuTrack(host: string, vm: string, vcpu: number): ThreadTrack {
    return this.thread(this.process('host', host), `vcpu\u0000${vm}\u0000${vcpu}`, `${vm}/vcpu${vcpu}`, 1000 + vcpu);
  }

  /** The vCPU's thread on the host it is on (or last ran on), else a track in the VM process. */
  private vcpuTrackFor(at: Place, v: VcpuState): ThreadTrack {
    const host = at.host ?? v.lastHost;
    if (host !== undefined && host !== null) return this.vcpuTrack(host, v.vm, v.vcpu);
    return this.thread(this.process('vm', v.vm), `vcpu\u0000${v.vcpu}`, `vcpu${v.vcpu}`, 100 + v.vcpu);
  }

  /** The most precise track for a place: vCPU thread, pCPU thread, VM or host "events" thread. */
  private trackFor(at: Place): ThreadTrack | null {
    if (at.vm !== undefined && at.vcpu !== undefined) {
      const v = this.vcpu(at.vm, at.vcpu);
      if (v.runTrack) return v.runTrack;
      return this.vcpuTrackFor(at, v);
    }
    if (at.host !== undefined && at.pcpu !== undefined) return this.pcpu(at.host, at.pcpu);
    if (at.vm !== undefined) return this.thread(this.process('vm', at.vm), 'events', 'events', 1);
    if (at.host !== undefined) return this.thread(this.process('host', at.host), 'events', 'events', 3000);
    return null;
  }

  // ---- slices and output ------------------------------------------------------------------

  private open(t: ThreadTrack, name: string, startNs: number, args: Args, cat: string): void {
    const parent = t.open[t.open.length - 1];
    const floor = parent ? Math.max(parent.startNs, parent.childEndNs) : t.lastEndNs;
    const start = Math.max(startNs, floor);
    t.open.push({ name, startNs: start, args, cat, childEndNs: start });
  }

  private close(t: ThreadTrack, endNs: number): void {
    const s = t.open.pop();
    if (!s) return;
    const end = Math.max(endNs, s.childEndNs);
    this.write({ ph: 'X', name: s.name, cat: s.cat, ts: s.startNs, dur: end - s.startNs, pid: t.pid, tid: t.tid, args: s.args });
    const parent = t.open[t.open.length - 1];
    if (parent) parent.childEndNs = end;
    else t.lastEndNs = end;
  }

  private closeAll(t: ThreadTrack, endNs: number): void {
    while (t.open.length > 0) this.close(t, endNs);
  }

  private instant(at: Place, atNs: number, name: string, args: Args, cat: string): void {
    const t = this.trackFor(at);
    if (t) {
      this.emitInstant(t, atNs, name, args, cat);
    } else {
      this.write({ ph: 'i', s: 'g', name, cat, ts: atNs, pid: 0, tid: 0, args });
    }
  }

  private emitInstant(t: ThreadTrack, atNs: number, name: string, args: Args, cat: string): void {
    this.write({ ph: 'i', s: 't', name, cat, ts: atNs, pid: t.pid, tid: t.tid, args });
  }

  private writeMetadata(summary: RunSummary): void {
    for (const p of this.processes.values()) {
      let name: string;
      if (p.kind === 'host') {
        const h = summary.hosts[p.id];
        name = h ? `host ${p.id} (${h.cpu}, ${h.pcpus} pCPUs)` : `host ${p.id}`;
      } else {
        const v = summary.vms[p.id];
        name = v ? `vm ${p.id} (${v.vpmu})` : `vm ${p.id}`;
      }
      this.writeMeta('process_name', p.pid, undefined, { name });
      this.writeMeta('process_sort_index', p.pid, undefined, { sort_index: p.sortIndex });
    }
    for (const t of this.threads.values()) {
      this.writeMeta('thread_name', t.pid, t.tid, { name: t.name });
      this.writeMeta('thread_sort_index', t.pid, t.tid, { sort_index: t.sortIndex });
    }
  }

  private writeMeta(name: string, pid: number, tid: number | undefined, args: Args): void {
    this.writeRaw(JSON.stringify(tid === undefined ? { ph: 'M', name, pid, tid: 0, ts: 0, args } : { ph: 'M', name, pid, tid, ts: 0, args }));
  }

  private write(ev: { ph: string; name: string; cat: string; ts: number; dur?: number; pid: number; tid?: number; s?: string; args: Args }): void {
    // ts/dur are emitted as exact decimal microseconds, so they are spliced in by hand.
    const { ts, dur, ...rest } = ev;
    const body = JSON.stringify(rest);
    const timing = dur === undefined ? `"ts":${nsToUsDecimal(ts)}` : `"ts":${nsToUsDecimal(ts)},"dur":${nsToUsDecimal(dur)}`;
    this.writeRaw(`{${timing},${body.slice(1)}`);
  }

  private writeRaw(json: string): void {
    const piece = this.first ? json : `,\n${json}`;
    this.first = false;
    this.buffer.push(piece);
    this.bufferChars += piece.length;
    this.eventsWritten++;
  }

  private maybeFlush(): void {
    if (this.bufferChars >= this.chunkChars) this.flush();
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    this.sink(this.buffer.join(''));
    this.buffer = [];
    this.bufferChars = 0;
  }
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
