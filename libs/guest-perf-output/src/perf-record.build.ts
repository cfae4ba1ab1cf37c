// One guest `perf record` session of one VM as a perf.data session (@vpmu/perf-data): the
// events as the guest configured them, a SAMPLE per PMI the guest received while the session
// was enabled, a LOST_SAMPLES per PMI it lost, a THROTTLE / UNTHROTTLE per throttle change the
// guest kernel logged for one of the session's events, and the COMM/MMAP records perf needs to name the
// guest's tasks and resolve their IPs. What the recording does not hold is derived from the
// scenario, deterministically; docs/perf-data.md ("vpmu export --format perf-data") lists it.
import {
  PERF_COUNT_HW_BRANCH_INSTRUCTIONS,
  PERF_COUNT_HW_BRANCH_MISSES,
  PERF_COUNT_HW_CACHE_MISSES,
  PERF_COUNT_HW_CACHE_REFERENCES,
  PERF_COUNT_HW_CPU_CYCLES,
  PERF_COUNT_HW_INSTRUCTIONS,
  PERF_COUNT_HW_REF_CPU_CYCLES,
  PERF_SAMPLE_CPU,
  PERF_SAMPLE_IDENTIFIER,
  PERF_SAMPLE_IP,
  PERF_SAMPLE_PERIOD,
  PERF_SAMPLE_TID,
  PERF_SAMPLE_TIME,
  PERF_TYPE_HARDWARE,
  PERF_TYPE_RAW,
  type PerfDataRecord,
  type PerfDataSession,
  type PerfEventSpec,
  type PerfHostInfo,
} from '@vpmu/perf-data';
import type { GuestPerfEvent } from '@vpmu/sim';
import type { GuestPerfSpec, Scenario, VmSpec } from '@vpmu/world-spec';
import type { VmGuestEvents } from './guest-events.collector';
import { sessionWindows, windowsContain, type SessionWindow } from './session-windows';
import { guestTid, pickIp, workloadImage, type WorkloadImage } from './workload-symbols.table';

/** The guest's perf ABI for each event name it can ask for (include/uapi/linux/perf_event.h). */
const EVENT_ENCODING: Record<string, { type: number; config: bigint }> = {
  cycles: { type: PERF_TYPE_HARDWARE, config: BigInt(PERF_COUNT_HW_CPU_CYCLES) },
  instructions: { type: PERF_TYPE_HARDWARE, config: BigInt(PERF_COUNT_HW_INSTRUCTIONS) },
  'cache-references': { type: PERF_TYPE_HARDWARE, config: BigInt(PERF_COUNT_HW_CACHE_REFERENCES) },
  'cache-misses': { type: PERF_TYPE_HARDWARE, config: BigInt(PERF_COUNT_HW_CACHE_MISSES) },
  branches: { type: PERF_TYPE_HARDWARE, config: BigInt(PERF_COUNT_HW_BRANCH_INSTRUCTIONS) },
  'branch-misses': { type: PERF_TYPE_HARDWARE, config: BigInt(PERF_COUNT_HW_BRANCH_MISSES) },
  'ref-cycles': { type: PERF_TYPE_HARDWARE, config: BigInt(PERF_COUNT_HW_REF_CPU_CYCLES) },
  // perf's pseudo encoding of the fixed topdown slots counter (arch/x86/events/intel/core.c).
  'topdown-slots': { type: PERF_TYPE_RAW, config: 0x400n },
};

/** perf record -a on every vCPU, sampling: what perf 6.1 puts in sample_type for it. */
const SAMPLE_TYPE = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD;
/** A PMI whose overflow came at most this long after a session stopped still belongs to it (one guest tick). */
const LATE_PMI_NS = 4_000_000;

const CPU_IDS: Record<string, string> = {
  'intel-spr': 'GenuineIntel,6,143,8',
  'intel-icx': 'GenuineIntel,6,106,6',
  'intel-skx': 'GenuineIntel,6,85,4',
};

export interface RecordExport {
  session: GuestPerfSpec;
  perfData: PerfDataSession;
  image: WorkloadImage;
  /** Samples written per event of the session (spec order). */
  samplesPerEvent: number[];
  lostSamples: number;
  /** PERF_RECORD_THROTTLE / PERF_RECORD_UNTHROTTLE records written. */
  throttles: number;
  unthrottles: number;
}

export interface RecordExportSet {
  sessions: RecordExport[];
  /** Guest PMIs of the VM outside every record session (a counting session's overflow): not written. */
  unattributedPmis: number;
}

export function guestHostInfo(scenario: Scenario, vm: VmSpec, cmdline: string[]): PerfHostInfo {
  const cpu = scenario.hosts.find((h) => h.id === vm.host)?.cpu ?? 'unknown';
  const arm = cpu.startsWith('arm');
  return {
    hostname: vm.id,
    osRelease: '6.1.0-vpmu-guest',
    perfVersion: '6.1.0',
    arch: arm ? 'aarch64' : 'x86_64',
    nrCpusOnline: vm.vcpus,
    nrCpusAvailable: vm.vcpus,
    cpuDesc: `vpmu-lab ${cpu} vCPU (${vm.vpmu.mode} vPMU)`,
    cpuId: CPU_IDS[cpu] ?? (arm ? '0x00000000410fd0b0' : 'GenuineIntel,6,143,8'),
    totalMemKb: Math.floor(vm.memoryBytes / 1024),
    cmdline,
  };
}

/** The guest's command line for the session, as perf writes it into the header. */
export function recordCmdline(spec: GuestPerfSpec): string[] {
  const argv = ['/usr/bin/perf', 'record', '-e', spec.events.join(',')];
  if (spec.sample?.freqHz !== undefined) argv.push('-F', String(spec.sample.freqHz));
  else if (spec.sample?.periodEvents !== undefined) argv.push('-c', String(spec.sample.periodEvents));
  if (spec.callGraph === 'lbr') argv.push('--call-graph', 'lbr');
  if (spec.allCpus) argv.push('-a');
  return argv;
}

/** Which record session a PMI belongs to: the one enabled at its overflow, else one that stopped just before. */
function sessionOf(windows: SessionWindow[][], overflowNs: number): number {
  for (let k = 0; k < windows.length; k++) if (windowsContain(windows[k]!, overflowNs)) return k;
  let best = -1;
  let bestEnd = -Infinity;
  windows.forEach((ws, k) => {
    for (const w of ws) {
      if (w.endNs <= overflowNs && overflowNs - w.endNs <= LATE_PMI_NS && w.endNs > bestEnd) {
        best = k;
        bestEnd = w.endNs;
      }
    }
  });
  return best;
}

/**
 * The guest's own share of samples per event: its readings give samples per event name (events
 * of one name are summed by the model), split evenly between the events that share the name.
 */
function eventWeights(spec: GuestPerfSpec, readings: readonly GuestPerfEvent[]): number[] {
  const weights = spec.events.map((name) => {
    const r = readings.find((x) => x.event === name);
    const same = spec.events.filter((n) => n === name).length;
    return r ? r.samples / same : 0;
  });
  return weights.some((w) => w > 0) ? weights : spec.events.map(() => 1);
}

/** Mean period per event: the fixed -c period, or count / samples from the guest's readings (-F). */
function eventPeriods(spec: GuestPerfSpec, readings: readonly GuestPerfEvent[]): number[] {
  return spec.events.map((name) => {
    if (spec.sample?.periodEvents !== undefined) return spec.sample.periodEvents;
    const r = readings.find((x) => x.event === name);
    return r && r.samples > 0 ? Math.max(1, Math.round(r.count / r.samples)) : 1;
  });
}

/**
 * Smooth weighted round robin (as nginx balances upstreams): over any stretch every event gets
 * its share, and when the PMIs number the guest's samples each event gets exactly its count.
 */
class WeightedPicker {
  private readonly current: number[];
  private readonly total: number;
  constructor(private readonly weights: number[]) {
    this.current = weights.map(() => 0);
    this.total = weights.reduce((s, w) => s + w, 0);
  }
  next(): number {
    let best = 0;
    for (let i = 0; i < this.weights.length; i++) {
      this.current[i]! += this.weights[i]!;
      if (this.current[i]! > this.current[best]!) best = i;
    }
    this.current[best]! -= this.total;
    return best;
  }
}

function eventSpecs(spec: GuestPerfSpec, vcpus: number, sessionIndex: number): PerfEventSpec[] {
  return spec.events.map((name, i) => {
    const enc = EVENT_ENCODING[name] ?? { type: PERF_TYPE_RAW, config: 0n };
    const tracking = i === 0; // perf record asks for the side records on the first event only
    return {
      name,
      type: enc.type,
      config: enc.config,
      ...(spec.sample?.periodEvents !== undefined ? { samplePeriodEvents: spec.sample.periodEvents } : { sampleFreqHz: spec.sample?.freqHz ?? 4000 }),
      sampleType: SAMPLE_TYPE,
      sampleIdAll: true,
      disabled: true,
      inherit: true,
      mmap: tracking,
      comm: tracking,
      commExec: tracking,
      task: tracking,
      // One id per vCPU fd; unique in the file, and distinct between a VM's sessions.
      ids: Array.from({ length: vcpus }, (_, v) => BigInt((sessionIndex + 1) * 1_000_000 + i * 1_000 + v + 1)),
    };
  });
}

export function buildRecordExports(scenario: Scenario, vm: VmSpec, events: VmGuestEvents): RecordExportSet {
  const specs = vm.guestPerf.filter((g) => g.command === 'record');
  const image = workloadImage(vm.workload.profile);
  const tasks = vm.workload.tasksPerVcpu;
  const windows = specs.map((s) => sessionWindows(scenario, vm.id, s));
  const perSession = specs.map((spec, k) => {
    const readings = events.readings.get(spec.id) ?? [];
    return {
      spec,
      attrs: eventSpecs(spec, vm.vcpus, k),
      picker: new WeightedPicker(eventWeights(spec, readings)),
      periods: eventPeriods(spec, readings),
      records: [] as PerfDataRecord[],
      samplesPerEvent: spec.events.map(() => 0),
      lost: 0,
      throttles: 0,
      unthrottles: 0,
    };
  });
  const sessionIndex = new Map(specs.map((spec, k) => [spec.id, k]));

  const taskOf = Array.from({ length: vm.vcpus }, () => 0);
  let unattributed = 0;
  for (const e of events.timeline) {
    const vcpu = e.at.vcpu ?? 0;
    if (e.kind === 'guestContextSwitch') {
      const m = /\.(\d+)$/.exec(e.nextTask);
      if (m) taskOf[vcpu] = Number(m[1]);
      continue;
    }
    if (e.kind === 'guestThrottle') {
      // perf_log_throttle: time, id = primary_event_id, stream_id = event->id (the same for a
      // per-CPU event without a parent), then the sample_id trailer of the current task.
      const s = perSession[sessionIndex.get(e.session) ?? -1];
      const attr = s?.attrs[e.eventIndex];
      if (!s || !attr) continue;
      if (e.throttled) s.throttles++;
      else s.unthrottles++;
      const id = attr.ids[vcpu]!;
      s.records.push({ kind: e.throttled ? 'throttle' : 'unthrottle', pid: image.pid, tid: guestTid(image, tasks, vcpu, taskOf[vcpu]!), timeNs: e.atNs, cpu: vcpu, id, streamId: id });
      continue;
    }
    const k = sessionOf(windows, e.overflowNs);
    const s = perSession[k];
    if (!s || s.spec.sample === undefined) {
      unattributed++;
      continue;
    }
    const tid = guestTid(image, tasks, vcpu, taskOf[vcpu]!);
    if (e.lost) {
      s.lost++;
      s.records.push({ kind: 'lost_samples', pid: image.pid, tid, lostSamples: 1, timeNs: e.atNs, cpu: vcpu, id: s.attrs[0]!.ids[vcpu] });
      continue;
    }
    const i = s.picker.next();
    s.samplesPerEvent[i]!++;
    s.records.push({
      kind: 'sample',
      id: s.attrs[i]!.ids[vcpu]!,
      ip: pickIp(image, `${scenario.seed}/${vm.id}/${vcpu}/${e.atNs}/${e.overflowNs}/${s.records.length}`),
      pid: image.pid,
      tid,
      timeNs: e.atNs,
      cpu: vcpu,
      periodEvents: s.periods[i]!,
    });
  }

  const sessions = perSession.map((s, k): RecordExport => {
    const startNs = windows[k]![0]?.startNs ?? 0;
    const side: PerfDataRecord[] = [];
    for (let v = 0; v < vm.vcpus; v++) {
      for (let t = 0; t < tasks; t++) {
        const tid = guestTid(image, tasks, v, t);
        side.push({ kind: 'comm', pid: image.pid, tid, comm: `${image.comm}/${v}.${t}`.slice(0, 15), exec: tid === image.pid, timeNs: startNs, cpu: v });
      }
    }
    side.push({ kind: 'mmap', pid: image.pid, tid: image.pid, startAddr: image.startAddr, lengthBytes: image.lengthBytes, pgoffBytes: 0, filename: '//anon', timeNs: startNs, cpu: 0 });
    return {
      session: s.spec,
      image,
      samplesPerEvent: s.samplesPerEvent,
      lostSamples: s.lost,
      throttles: s.throttles,
      unthrottles: s.unthrottles,
      perfData: { host: guestHostInfo(scenario, vm, recordCmdline(s.spec)), events: s.attrs, records: [...side, ...s.records] },
    };
  });
  return { sessions, unattributedPmis: unattributed };
}
