// Scenario file (YAML, version 1) → normalized Scenario (scenario.types.ts).
//
// Pure: text in, result out; the CLI reads the file. Bad input is never an exception: every
// problem becomes a ScenarioError with its path (`vms[1].vpmu.mode`) and line, and all of them are
// collected in one pass so a user fixes a file in one round. docs/scenario.md is the user-facing
// description of every field, unit and default below; keep the two in step.

import { ARM_PMU_REGS, CPU_PRESET_NAMES, WORKLOAD_EVENT_NAMES, type WorkloadEventName } from '@vpmu/pmu';
import { isMap, isSeq, LineCounter, parseDocument, YAMLError } from 'yaml';

import { formatDurationNs } from '@vpmu/world-spec';
import { ScenarioError } from './scenario.errors';
import {
  EventFilterSpec,
  GuestPerfSpec,
  HostNoiseThread,
  HostPerfSession,
  HostSpec,
  PmuOverrides,
  ProgramOp,
  PV_HYPERCALLS,
  SampleSpec,
  Scenario,
  TimelineAction,
  TimelineEntry,
  VmSpec,
  VPMU_MODES,
  VpmuMode,
  VpmuSpec,
  WORKLOAD_PROFILES,
  WorkloadRates,
  WorkloadSpec,
} from '@vpmu/world-spec';
import { didYouMean } from './did-you-mean';
import { childPath, Diagnostics, Field, MapView, NodeReader } from './yaml-node.reader';

export type ScenarioParseResult =
  | { ok: true; scenario: Scenario; warnings: string[] }
  | { ok: false; errors: ScenarioError[] };

/** Event names accepted in host perf and guest perf `events` lists: the workload events the PMU models count. */
export const EVENT_NAMES = WORKLOAD_EVENT_NAMES;
export type EventName = WorkloadEventName;

// ---- defaults (documented in docs/scenario.md) -----------------------------------------------

export const SCENARIO_DEFAULTS = {
  name: 'unnamed',
  seed: 1,
  epochNs: 1_000_000,
  checkpointEveryEpochs: 50,
  sampleIntervalNs: 1_000_000,
  host: { nmiWatchdog: true, timesliceNs: 3_000_000 },
  vm: {
    vcpus: 1,
    memoryBytes: 1 << 30,
    vpmuMode: 'emulated' as VpmuMode,
    interceptEventSelect: true,
    lazyLbrReleaseNs: 10_000_000,
    pvEventLimit: 1024,
    workloadProfile: 'specint' as const,
    tasksPerVcpu: 2,
  },
  /** `perf record` without -F samples at 4000 Hz. */
  guestRecordFreqHz: 4000,
  migrate: { bandwidthBytesPerSec: 1_250_000_000 /* 10Gbps */, maxDowntimeNs: 300_000_000 },
} as const;

/** KVM_SET_PMU_EVENT_FILTER takes at most this many events (E2BIG beyond). */
export const MAX_FILTER_EVENTS = 300;
/** perf_event_max_sample_rate default: a higher sample_freq is EINVAL in the kernel. */
const MAX_SAMPLE_RATE_HZ = 100_000;
const MAX_PCPUS = 4096;

/**
 * YAML name and kind of each workload rate override. A mapped type over WorkloadRates, so a rate
 * added to the contract does not compile until it is given a YAML name here.
 */
const WORKLOAD_OVERRIDES: { [K in keyof WorkloadRates]: { yaml: string; kind: 'number' | 'fraction' | 'duration' | 'bandwidth' } } = {
  ipc: { yaml: 'ipc', kind: 'number' },
  cpuGhz: { yaml: 'cpuGhz', kind: 'number' },
  refGhz: { yaml: 'refGhz', kind: 'number' },
  branchFraction: { yaml: 'branchFraction', kind: 'fraction' },
  branchMissRate: { yaml: 'branchMissRate', kind: 'fraction' },
  llcRefsPerKiloInstr: { yaml: 'llcRefsPerKiloInstr', kind: 'number' },
  llcMissRate: { yaml: 'llcMissRate', kind: 'fraction' },
  kernelFraction: { yaml: 'kernelFraction', kind: 'fraction' },
  ioExitsPerSec: { yaml: 'ioExitsPerSec', kind: 'number' },
  hltExitsPerSec: { yaml: 'hltExitsPerSec', kind: 'number' },
  dirtyBytesPerSec: { yaml: 'dirtyRate', kind: 'bandwidth' },
  guestTimesliceNs: { yaml: 'guestTimeslice', kind: 'duration' },
  busyFraction: { yaml: 'busyFraction', kind: 'fraction' },
};

const KEYS = {
  top: ['version', 'name', 'seed', 'duration', 'epoch', 'checkpointEvery', 'sampleInterval', 'hosts', 'vms', 'timeline', 'costs'],
  host: ['id', 'cpu', 'pcpus', 'pmu', 'vpmuModes', 'nmiWatchdog', 'timeslice', 'perf', 'noise', 'armPmuProbeOrder'],
  pmu: ['gpCounters', 'fixedCounters', 'counterWidth', 'lbrDepth', 'pmiSkid'],
  hostPerf: ['id', 'events', 'group', 'excludeGuest', 'excludeHost', 'excludeUser', 'excludeKernel', 'pinned', 'cpus', 'sample', 'start', 'stop'],
  sample: ['freq', 'period'],
  noise: ['id', 'cpus', 'period', 'runtime', 'lbr', 'priority'],
  vm: ['id', 'host', 'vcpus', 'affinity', 'memory', 'vpmu', 'workload', 'guestPerf', 'program'],
  vpmu: ['mode', 'interceptEventSelect', 'filter', 'lbr', 'lazyLbrRelease', 'armPmu', 'nrCounters', 'pvEventLimit', 'pmiVector'],
  filter: ['action', 'events', 'fixedCounterBitmap', 'masked'],
  filterEvent: ['event', 'umask'],
  maskedEvent: ['event', 'mask', 'match', 'exclude'],
  workload: ['profile', 'tasksPerVcpu', 'overrides'],
  guestPerf: ['id', 'command', 'events', 'sample', 'allCpus', 'callGraph', 'start', 'stop'],
  timeline: ['at', 'migrate', 'setPmu', 'hostPerf', 'guestPerf', 'fault'],
  migrate: ['vm', 'to', 'bandwidth', 'maxDowntime'],
  tlSetPmu: ['vm', 'pmu'],
  tlHostPerf: ['host', 'session', 'action'],
  tlGuestPerf: ['vm', 'session', 'action'],
  fault: ['kind', 'target', 'duration', 'params'],
} as const;

const PROGRAM_OPS = ['wrmsr', 'rdmsr', 'rdpmc', 'loop', 'expect', 'setPmu', 'setNrCounters', 'hypercall', 'armRead', 'armWrite'] as const;
const PROGRAM_KEYS: Record<(typeof PROGRAM_OPS)[number], readonly string[]> = {
  wrmsr: ['msr', 'value', 'vcpu'],
  rdmsr: ['msr', 'vcpu'],
  rdpmc: ['index', 'vcpu'],
  loop: ['instructions', 'branches', 'vcpu'],
  expect: ['step', 'equals', 'fault', 'atLeast', 'atMost', 'errno'],
  setPmu: ['pmu'],
  setNrCounters: ['n'],
  hypercall: ['call', 'id', 'vcpu', 'count', 'event', 'type', 'config', 'period', 'freq', 'sampleType', 'flags', 'excludeUser', 'excludeKernel'],
  armRead: ['reg', 'n', 'vcpu'],
  armWrite: ['reg', 'n', 'value', 'vcpu'],
};
/** PERF_COUNT_HW_* (include/uapi/linux/perf_event.h) of the events a paravirt `hypercall: open` may name. */
const PV_HW_CONFIG: Record<string, number> = { cycles: 0, instructions: 1, 'cache-references': 2, 'cache-misses': 3, branches: 4, 'branch-misses': 5, 'ref-cycles': 9 };
const TIMELINE_ACTIONS = ['migrate', 'setPmu', 'hostPerf', 'guestPerf', 'fault'] as const;

const U32_MAX = 0xffff_ffff;

// ---- entry point -------------------------------------------------------------------------------

export function parseScenario(text: string): ScenarioParseResult {
  if (typeof text !== 'string') {
    return fail([{ path: '', message: 'expected the scenario as text' }]);
  }
  if (text.trim() === '') {
    return fail([{ path: '', message: 'the scenario is empty; it needs at least version, duration and hosts (see docs/scenario.md)' }]);
  }
  const binary = findBinary(text);
  if (binary) return fail([binary]);

  const lineCounter = new LineCounter();
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // byte order mark
  const doc = parseDocument(source, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return fail(doc.errors.map((e) => yamlError(e, lineCounter)));
  }

  const diag = new Diagnostics();
  const reader = new NodeReader(doc, lineCounter, diag);
  for (const w of doc.warnings) diag.warn('', firstLine(w.message), lineCounter.linePos(w.pos[0]).line);

  if (NodeReader.isNull(doc.contents)) {
    return fail([{ path: '', message: 'the scenario has no content (only comments); it needs at least version, duration and hosts' }]);
  }
  const root = reader.field(doc.contents, '');
  const scenario = root && new ScenarioBuilder(reader).build(root);

  if (diag.errors.length > 0 || scenario === undefined) {
    return fail(diag.errors.length > 0 ? diag.errors : [{ path: '', message: 'invalid scenario' }]);
  }
  return {
    ok: true,
    scenario,
    warnings: diag.warnings.map((w) => `${w.path !== '' ? `${w.path}: ` : ''}${w.message}${w.line !== undefined ? ` (line ${w.line})` : ''}`),
  };
}

function fail(errors: ScenarioError[]): ScenarioParseResult {
  // File order reads best; errors about the whole file (no line) come first. Stable sort.
  const sorted = errors
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (a.e.line ?? 0) - (b.e.line ?? 0) || a.i - b.i)
    .map(({ e }) => e);
  return { ok: false, errors: sorted };
}

function findBinary(text: string): ScenarioError | undefined {
  // NUL or other C0 controls (but tab, LF, VT, FF, CR) mean a binary file; U+FFFD is what a
  // UTF-8 decoder leaves for invalid bytes.
  let index = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && (c < 0x09 || c > 0x0d)) || c === 0xfffd) {
      index = i;
      break;
    }
  }
  if (index < 0) return undefined;
  const c = text.charCodeAt(index);
  const line = text.slice(0, index).split('\n').length;
  const what = c === 0xfffd ? 'invalid UTF-8' : c === 0 ? 'NUL bytes' : 'control characters';
  return {
    path: '',
    message: `this is not a text scenario (it contains ${what}); give the YAML scenario file, not a recording or other binary`,
    line,
  };
}

function yamlError(e: YAMLError, lineCounter: LineCounter): ScenarioError {
  const line = lineCounter.linePos(e.pos[0]).line;
  const messages: Partial<Record<string, string>> = {
    MULTIPLE_DOCS: 'a scenario file holds one YAML document; remove the second `---` document',
    DUPLICATE_KEY: 'a key appears twice in the same mapping; remove one of them',
    TAB_AS_INDENT: 'tabs are not allowed for indentation in YAML; indent with spaces',
  };
  const message = messages[e.code] ?? `invalid YAML: ${firstLine(e.message).replace(/ at line \d+, column \d+:?$/, '')}`;
  return { path: '', message, line };
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}

// ---- the builder ---------------------------------------------------------------------------------

class ScenarioBuilder {
  private readonly diag: Diagnostics;
  private durationNs: number | undefined;
  /** Host and VM ids share one namespace (a fault target may be either). id → path of definer. */
  private readonly ids = new Map<string, string>();
  private readonly hosts = new Map<string, HostSpec>();
  private readonly vms = new Map<string, VmSpec>();

  constructor(private readonly r: NodeReader) {
    this.diag = r.diag;
  }

  build(root: Field): Scenario | undefined {
    const m = this.r.map(root, KEYS.top, { ignoreKeys: /^x-/ });
    if (!m) return undefined;

    const versionField = m.require('version', 'write `version: 1`');
    if (versionField) {
      const v = this.r.scalarValue(versionField);
      if (v !== 1) {
        this.r.error(versionField, `unsupported version ${typeof v === 'string' ? `"${v}"` : String(v)}; this tool reads version 1`);
      }
    }
    const name = this.opt(m, 'name', (f) => this.nonEmptyString(f)) ?? SCENARIO_DEFAULTS.name;
    const seed = this.opt(m, 'seed', (f) => this.r.int(f, { min: 0 })) ?? SCENARIO_DEFAULTS.seed;
    const durationField = m.require('duration', 'e.g. `duration: 200ms`');
    const durationNs = durationField && this.r.duration(durationField, { min: 1 });
    this.durationNs = durationNs;

    // Default: 1ms, or the whole run when the run is shorter than that.
    const epochField = m.get('epoch');
    let epochNs: number = Math.min(SCENARIO_DEFAULTS.epochNs, durationNs ?? SCENARIO_DEFAULTS.epochNs);
    if (epochField) {
      const e = this.r.duration(epochField, { min: 1 });
      if (e !== undefined && durationNs !== undefined && e > durationNs) {
        this.r.error(epochField, `epoch ${formatDurationNs(e)} is longer than the run (duration ${formatDurationNs(durationNs)})`);
      }
      epochNs = e ?? epochNs;
    }
    const checkpointEveryEpochs = this.opt(m, 'checkpointEvery', (f) => this.r.int(f, { min: 1 })) ?? SCENARIO_DEFAULTS.checkpointEveryEpochs;
    const sampleIntervalNs = this.opt(m, 'sampleInterval', (f) => this.r.duration(f, { min: 1 })) ?? SCENARIO_DEFAULTS.sampleIntervalNs;

    const hostsField = m.require('hosts', 'at least one host');
    const hosts: HostSpec[] = [];
    if (hostsField) {
      const items = this.r.list(hostsField);
      if (items && items.length === 0) this.r.error(hostsField, 'needs at least one host');
      items?.forEach((f) => {
        const h = this.host(f);
        if (h) hosts.push(h);
      });
    }

    const vms: VmSpec[] = [];
    const vmsField = m.get('vms');
    if (vmsField) {
      this.r.list(vmsField)?.forEach((f) => {
        const vm = this.vm(f);
        if (vm) vms.push(vm);
      });
    }

    const timeline: TimelineEntry[] = [];
    const timelineFields: Field[] = [];
    const timelineField = m.get('timeline');
    if (timelineField) {
      this.r.list(timelineField)?.forEach((f) => {
        const entry = this.timelineEntry(f);
        if (entry) {
          timeline.push(entry);
          timelineFields.push(f);
        }
      });
    }
    // Stable sort by time: entries at the same instant keep file order.
    const order = timeline.map((_, i) => i).sort((a, b) => timeline[a].atNs - timeline[b].atNs || a - b);
    const sortedTimeline = order.map((i) => timeline[i]);
    this.checkMigrations(sortedTimeline, order.map((i) => timelineFields[i]));

    const costs: Record<string, number> = {};
    const costsField = m.get('costs');
    if (costsField) {
      const cm = this.r.map(costsField, [], { anyKey: true });
      for (const key of cm?.keys() ?? []) {
        const f = cm!.get(key)!;
        if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(key)) {
          this.r.error(f, `"${key}" is not a cost parameter name (letters, digits and "_", units in the name, e.g. vmExitCycles)`);
          continue;
        }
        const v = this.r.number(f, { min: 0 });
        if (v !== undefined) costs[key] = v;
      }
    }

    return {
      version: 1,
      name,
      seed,
      durationNs: durationNs ?? 0,
      epochNs,
      checkpointEveryEpochs,
      sampleIntervalNs,
      hosts,
      vms,
      timeline: sortedTimeline,
      costs,
    };
  }

  // ---- hosts --------------------------------------------------------------------------------------

  private host(f: Field): HostSpec | undefined {
    const m = this.r.map(f, KEYS.host);
    if (!m) return undefined;
    const id = this.defineId(m, 'host');
    const cpuField = m.require('cpu', `one of ${CPU_PRESET_NAMES.join('|')}`);
    const cpu = cpuField && this.r.oneOf(cpuField, CPU_PRESET_NAMES);
    const pcpusField = m.require('pcpus', 'the number of physical CPUs');
    const pcpus = pcpusField && this.r.int(pcpusField, { min: 1, max: MAX_PCPUS });
    const hostLabel = id ?? f.path;

    let pmu: PmuOverrides | undefined;
    const pmuField = m.get('pmu');
    if (pmuField) {
      const pm = this.r.map(pmuField, KEYS.pmu);
      if (pm) {
        pmu = {};
        const gp = this.opt(pm, 'gpCounters', (x) => this.r.int(x, { min: 0, max: 31 }));
        const fixed = this.opt(pm, 'fixedCounters', (x) => this.r.int(x, { min: 0, max: 16 }));
        const width = this.opt(pm, 'counterWidth', (x) => this.r.int(x, { min: 8, max: 64 }));
        const lbr = this.opt(pm, 'lbrDepth', (x) => this.r.int(x, { min: 0, max: 64 }));
        const skid = this.opt(pm, 'pmiSkid', (x) => this.r.duration(x, { min: 0 }));
        if (gp !== undefined) pmu.gpCounters = gp;
        if (fixed !== undefined) pmu.fixedCounters = fixed;
        if (width !== undefined) pmu.counterWidth = width;
        if (lbr !== undefined) pmu.lbrDepth = lbr;
        if (skid !== undefined) pmu.pmiSkidNs = skid;
      }
    }

    let vpmuModes: VpmuMode[] = [...VPMU_MODES];
    const modesField = m.get('vpmuModes');
    if (modesField) {
      const items = this.r.list(modesField);
      if (items) {
        if (items.length === 0) this.r.error(modesField, `empty list; name at least one of ${VPMU_MODES.join('|')} (or leave it out for all)`);
        const modes: VpmuMode[] = [];
        for (const it of items) {
          const mode = this.r.oneOf(it, VPMU_MODES);
          if (mode === undefined) continue;
          if (modes.includes(mode)) this.r.warn(it, `${mode} is listed twice`);
          else modes.push(mode);
        }
        vpmuModes = modes;
      }
    }

    const nmiWatchdog = this.opt(m, 'nmiWatchdog', (x) => this.r.bool(x)) ?? SCENARIO_DEFAULTS.host.nmiWatchdog;
    const timesliceNs = this.opt(m, 'timeslice', (x) => this.r.duration(x, { min: 1 })) ?? SCENARIO_DEFAULTS.host.timesliceNs;

    const perf: HostPerfSession[] = [];
    const perfField = m.get('perf');
    if (perfField) {
      const sessionIds = new Map<string, string>();
      this.r.list(perfField)?.forEach((pf) => {
        const s = this.hostPerfSession(pf, hostLabel, pcpus, sessionIds);
        if (s) perf.push(s);
      });
    }

    const noise: HostNoiseThread[] = [];
    const noiseField = m.get('noise');
    if (noiseField) {
      const noiseIds = new Map<string, string>();
      this.r.list(noiseField)?.forEach((nf, i) => {
        const n = this.noiseThread(nf, i, hostLabel, pcpus, noiseIds);
        if (n) noise.push(n);
      });
    }

    let armPmuProbeOrder: string[] | undefined;
    const probeField = m.get('armPmuProbeOrder');
    if (probeField) {
      if (cpu !== undefined && !cpu.startsWith('arm')) {
        this.r.error(probeField, `only arm64 hosts have a PMU probe order; host ${hostLabel} is ${cpu}`);
      }
      const items = this.r.list(probeField);
      if (items) {
        if (items.length === 0) this.r.error(probeField, 'empty list; name the PMUs in probe order or leave it out');
        armPmuProbeOrder = [];
        for (const it of items) {
          const s = this.nonEmptyString(it);
          if (s !== undefined) armPmuProbeOrder.push(s);
        }
      }
    }

    const spec: HostSpec = {
      id: id ?? '',
      cpu: cpu ?? '',
      pcpus: pcpus ?? 0,
      vpmuModes,
      nmiWatchdog,
      timesliceNs,
      perf,
      noise,
    };
    if (pmu) spec.pmu = pmu;
    if (armPmuProbeOrder) spec.armPmuProbeOrder = armPmuProbeOrder;
    if (id !== undefined && !this.hosts.has(id) && !this.vms.has(id)) this.hosts.set(id, spec);
    return spec;
  }

  private hostPerfSession(f: Field, hostLabel: string, pcpus: number | undefined, ids: Map<string, string>): HostPerfSession | undefined {
    const m = this.r.map(f, KEYS.hostPerf);
    if (!m) return undefined;
    const id = this.localId(m, ids, `perf session on host ${hostLabel}`);
    const events = this.events(m);
    const flag = (key: string): boolean => this.opt(m, key, (x) => this.r.bool(x)) ?? false;
    const group = flag('group');
    const excludeGuest = flag('excludeGuest');
    const excludeHost = flag('excludeHost');
    const excludeUser = flag('excludeUser');
    const excludeKernel = flag('excludeKernel');
    const pinned = flag('pinned');
    if (excludeGuest && excludeHost) this.diag.warn(m.path, 'excludeGuest and excludeHost together count nothing', m.line);
    if (excludeUser && excludeKernel) this.diag.warn(m.path, 'excludeUser and excludeKernel together count nothing', m.line);
    const cpusField = m.get('cpus');
    const cpus = cpusField ? this.cpuList(cpusField, hostLabel, pcpus) : 'all';
    const sampleField = m.get('sample');
    const sample = sampleField && this.sample(sampleField);
    const { startNs, stopNs } = this.startStop(m);
    const s: HostPerfSession = {
      id: id ?? '',
      events,
      group,
      excludeGuest,
      excludeHost,
      excludeUser,
      excludeKernel,
      pinned,
      cpus: cpus ?? 'all',
      startNs,
    };
    if (sample) s.sample = sample;
    if (stopNs !== undefined) s.stopNs = stopNs;
    return s;
  }

  private noiseThread(
    f: Field,
    index: number,
    hostLabel: string,
    pcpus: number | undefined,
    ids: Map<string, string>,
  ): HostNoiseThread | undefined {
    const m = this.r.map(f, KEYS.noise);
    if (!m) return undefined;
    let id: string | undefined;
    if (m.has('id')) {
      id = this.localId(m, ids, `noise thread on host ${hostLabel}`);
    } else {
      id = `noise${index}`;
      if (ids.has(id)) this.diag.error(childPath(m.path, 'id'), `required here: the default id ${id} is already taken by ${ids.get(id)}`, m.line);
      else ids.set(id, m.path);
    }
    const cpusField = m.get('cpus');
    const cpus = cpusField ? this.cpuList(cpusField, hostLabel, pcpus) : 'all';
    const periodField = m.require('period', 'how often the thread wakes up, e.g. 10ms');
    const periodNs = periodField && this.r.duration(periodField, { min: 1 });
    const runtimeField = m.require('runtime', 'how long it runs each time, e.g. 1ms');
    const runtimeNs = runtimeField && this.r.duration(runtimeField, { min: 1 });
    if (runtimeField && periodNs !== undefined && runtimeNs !== undefined && runtimeNs > periodNs) {
      this.r.error(runtimeField, `runtime ${formatDurationNs(runtimeNs)} exceeds period ${formatDurationNs(periodNs)}`);
    }
    const lbr = this.opt(m, 'lbr', (x) => this.r.bool(x)) ?? false;
    const priority = this.opt(m, 'priority', (x) => this.r.oneOf(x, ['normal', 'high'] as const)) ?? 'normal';
    return { id: id ?? '', cpus: cpus ?? 'all', periodNs: periodNs ?? 0, runtimeNs: runtimeNs ?? 0, lbr, priority };
  }

  /** `all` or a non-empty list of pCPU indices that exist on the host. */
  private cpuList(f: Field, hostLabel: string, pcpus: number | undefined): number[] | 'all' | undefined {
    if (this.r.scalarValue(f) === 'all') return 'all';
    if (typeof this.r.scalarValue(f) === 'string') {
      this.r.error(f, `expected all or a list of pCPU numbers, got ${JSON.stringify(this.r.scalarValue(f))}`);
      return undefined;
    }
    const items = this.r.list(f, 'all or a list of pCPU numbers');
    if (!items) return undefined;
    if (items.length === 0) {
      this.r.error(f, 'empty CPU list; name at least one pCPU or write all');
      return undefined;
    }
    const out: number[] = [];
    for (const it of items) {
      const c = this.pcpu(it, hostLabel, pcpus);
      if (c === undefined) continue;
      if (out.includes(c)) this.r.warn(it, `pCPU ${c} is listed twice`);
      else out.push(c);
    }
    return out.sort((a, b) => a - b);
  }

  private pcpu(f: Field, hostLabel: string, pcpus: number | undefined): number | undefined {
    const c = this.r.int(f, { min: 0 });
    if (c === undefined) return undefined;
    if (pcpus !== undefined && c >= pcpus) {
      this.r.error(f, `pCPU ${c} does not exist on host ${hostLabel} (it has ${pcpus})`);
      return undefined;
    }
    return c;
  }

  private events(m: MapView): string[] {
    const f = m.require('events', `a list of ${EVENT_NAMES.join(', ')}`);
    if (!f) return [];
    const items = this.r.list(f);
    if (!items) return [];
    if (items.length === 0) this.r.error(f, 'empty event list; name at least one event');
    const out: string[] = [];
    for (const it of items) {
      const e = this.r.oneOf(it, EVENT_NAMES);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  private sample(f: Field): SampleSpec | undefined {
    const m = this.r.map(f, KEYS.sample);
    if (!m) return undefined;
    const freqField = m.get('freq');
    const periodField = m.get('period');
    if ((freqField === undefined) === (periodField === undefined)) {
      this.r.error(f, 'give exactly one of freq (samples per second) or period (events per sample)');
      return undefined;
    }
    if (freqField) {
      const freqHz = this.r.int(freqField, { min: 1 });
      if (freqHz === undefined) return undefined;
      if (freqHz > MAX_SAMPLE_RATE_HZ) {
        this.r.warn(freqField, `${freqHz} Hz is above perf_event_max_sample_rate (${MAX_SAMPLE_RATE_HZ}); the kernel refuses it with EINVAL`);
      }
      return { freqHz };
    }
    const periodEvents = this.r.int(periodField!, { min: 1 });
    return periodEvents === undefined ? undefined : { periodEvents };
  }

  private startStop(m: MapView): { startNs: number; stopNs?: number } {
    const startField = m.get('start');
    const startNs = (startField && this.atTime(startField)) ?? 0;
    const stopField = m.get('stop');
    const stopNs = stopField && this.atTime(stopField);
    if (stopField && stopNs !== undefined && stopNs <= startNs) {
      this.r.error(stopField, `stop ${formatDurationNs(stopNs)} must be after start ${formatDurationNs(startNs)}`);
    }
    return stopNs === undefined ? { startNs } : { startNs, stopNs };
  }

  /** A virtual instant within the run. */
  private atTime(f: Field): number | undefined {
    const t = this.r.duration(f, { min: 0 });
    if (t === undefined) return undefined;
    if (this.durationNs !== undefined) {
      if (t > this.durationNs) {
        this.r.error(f, `${formatDurationNs(t)} is beyond the end of the run (duration ${formatDurationNs(this.durationNs)})`);
        return undefined;
      }
      if (t === this.durationNs) this.r.warn(f, `${formatDurationNs(t)} is the end of the run; this has no effect`);
    }
    return t;
  }

  // ---- VMs ---------------------------------------------------------------------------------------

  private vm(f: Field): VmSpec | undefined {
    const m = this.r.map(f, KEYS.vm);
    if (!m) return undefined;
    const id = this.defineId(m, 'vm');
    const vmLabel = id ?? f.path;
    const hostField = m.require('host', 'the id of the host it runs on');
    const hostRef = hostField && this.hostRef(hostField);
    // A host whose own pcpus is invalid has already been reported; do not measure VMs against it.
    const host = hostRef && hostRef.pcpus > 0 ? hostRef : undefined;

    const vcpusField = m.get('vcpus');
    let vcpus = vcpusField ? this.r.int(vcpusField, { min: 1, max: MAX_PCPUS }) : SCENARIO_DEFAULTS.vm.vcpus;
    if (vcpus !== undefined && host && vcpus > host.pcpus) {
      this.diag.error(
        childPath(m.path, 'vcpus'),
        `${vcpus} vCPUs exceed host ${host.id}'s ${host.pcpus} pCPUs (a vCPU needs a pCPU of its own in this model)`,
        vcpusField?.line ?? m.line,
      );
      vcpus = undefined;
    }

    const affinityField = m.get('affinity');
    let affinity: number[][] = [];
    if (affinityField) {
      // Checked even when vcpus or host is bad, so its own errors show in the same round.
      affinity = this.affinity(affinityField, vcpus, host) ?? [];
    } else if (host && vcpus !== undefined) {
      affinity = Array.from({ length: vcpus }, () => Array.from({ length: host.pcpus }, (_, i) => i));
    }

    const memoryBytes = this.opt(m, 'memory', (x) => this.r.size(x, { min: 1 })) ?? SCENARIO_DEFAULTS.vm.memoryBytes;
    const vpmuField = m.get('vpmu');
    const vpmu = vpmuField ? this.vpmu(vpmuField, host) : undefined;
    const workloadField = m.get('workload');
    const workload = workloadField ? this.workload(workloadField) : undefined;

    const guestPerf: GuestPerfSpec[] = [];
    const gpField = m.get('guestPerf');
    if (gpField) {
      const sessionIds = new Map<string, string>();
      this.r.list(gpField)?.forEach((gf) => {
        const s = this.guestPerfSession(gf, vmLabel, sessionIds);
        if (s) guestPerf.push(s);
      });
    }

    const programField = m.get('program');
    const program = programField ? this.program(programField, vmLabel, vcpus) : [];

    const spec: VmSpec = {
      id: id ?? '',
      host: hostRef?.id ?? '',
      vcpus: vcpus ?? 0,
      affinity,
      memoryBytes,
      vpmu: vpmu ?? this.defaultVpmu(),
      workload: workload ?? { profile: SCENARIO_DEFAULTS.vm.workloadProfile, tasksPerVcpu: SCENARIO_DEFAULTS.vm.tasksPerVcpu, overrides: {} },
      guestPerf,
      program,
    };
    if (!vpmuField && host) this.checkModeOnHost(SCENARIO_DEFAULTS.vm.vpmuMode, host, m.path, m.line, 'the default vpmu.mode');
    if (id !== undefined && !this.vms.has(id) && !this.hosts.has(id)) this.vms.set(id, spec);
    return spec;
  }

  private hostRef(f: Field): HostSpec | undefined {
    const id = this.r.id(f);
    if (id === undefined) return undefined;
    const h = this.hosts.get(id);
    if (!h) {
      this.r.error(f, `unknown host "${id}"${this.knownList([...this.hosts.keys()], id)}`);
      return undefined;
    }
    return h;
  }

  private vmRef(f: Field): VmSpec | undefined {
    const id = this.r.id(f);
    if (id === undefined) return undefined;
    const v = this.vms.get(id);
    if (!v) {
      this.r.error(f, `unknown VM "${id}"${this.knownList([...this.vms.keys()], id)}`);
      return undefined;
    }
    return v;
  }

  private knownList(known: string[], id: string): string {
    const hint = didYouMean(id, known);
    if (hint) return hint;
    return known.length === 0 ? ' (none are defined)' : ` (defined: ${known.join(', ')})`;
  }

  /**
   * Either a flat list of pCPUs applied to every vCPU, or one list per vCPU. Normalized to one
   * sorted, de-duplicated list per vCPU.
   */
  private affinity(f: Field, vcpus: number | undefined, host: HostSpec | undefined): number[][] | undefined {
    const items = this.r.list(f, 'a list of pCPUs or a list of pCPU lists (one per vCPU)');
    if (!items) return undefined;
    if (items.length === 0) {
      this.r.error(f, 'empty affinity: a vCPU needs at least one pCPU to run on (leave affinity out to allow all)');
      return undefined;
    }
    const nested = items.map((it) => isSeq(it.node));
    if (nested.every((n) => n)) {
      if (vcpus !== undefined && items.length !== vcpus) {
        this.r.error(f, `has ${items.length} per-vCPU lists for ${vcpus} vCPU${vcpus === 1 ? '' : 's'}; give one list per vCPU or a flat list for all`);
        return undefined;
      }
      const out: number[][] = [];
      let ok = true;
      items.forEach((it, i) => {
        const set = this.pcpuSet(it, host, `vCPU ${i}`);
        if (set === undefined) ok = false;
        else out.push(set);
      });
      return ok ? out : undefined;
    }
    if (nested.some((n) => n)) {
      this.r.error(f, 'mixes pCPU numbers and lists; give either a flat list of pCPUs for all vCPUs or one list per vCPU');
      return undefined;
    }
    const set = this.pcpuSet(f, host, 'every vCPU');
    return set === undefined || vcpus === undefined ? undefined : Array.from({ length: vcpus }, () => [...set]);
  }

  private pcpuSet(f: Field, host: HostSpec | undefined, who: string): number[] | undefined {
    const items = this.r.list(f);
    if (!items) return undefined;
    if (items.length === 0) {
      this.r.error(f, `empty affinity: ${who} needs at least one pCPU to run on`);
      return undefined;
    }
    const out: number[] = [];
    let ok = true;
    for (const it of items) {
      const c = this.pcpu(it, host?.id ?? '?', host?.pcpus);
      if (c === undefined) {
        ok = false;
        continue;
      }
      if (out.includes(c)) this.r.warn(it, `pCPU ${c} is listed twice`);
      else out.push(c);
    }
    return ok ? out.sort((a, b) => a - b) : undefined;
  }

  private defaultVpmu(): VpmuSpec {
    const d = SCENARIO_DEFAULTS.vm;
    return {
      mode: d.vpmuMode,
      interceptEventSelect: d.interceptEventSelect,
      lbr: 'none',
      lazyLbrReleaseNs: d.lazyLbrReleaseNs,
      pvEventLimit: d.pvEventLimit,
      pmiVector: 'dedicated',
    };
  }

  private vpmu(f: Field, host: HostSpec | undefined): VpmuSpec | undefined {
    const m = this.r.map(f, KEYS.vpmu);
    if (!m) return undefined;
    const spec = this.defaultVpmu();
    const modeField = m.get('mode');
    if (modeField) {
      const mode = this.r.oneOf(modeField, VPMU_MODES);
      if (mode !== undefined) {
        spec.mode = mode;
        if (host) this.checkModeOnHost(mode, host, modeField.path, modeField.line, 'mode');
      }
    } else if (host) {
      this.checkModeOnHost(spec.mode, host, m.path, m.line, 'the default mode');
    }
    spec.interceptEventSelect = this.opt(m, 'interceptEventSelect', (x) => this.r.bool(x)) ?? spec.interceptEventSelect;
    const filterField = m.get('filter');
    if (filterField) {
      const filter = this.filter(filterField);
      if (filter) spec.filter = filter;
      if (spec.mode === 'none') this.r.warn(filterField, 'an event filter has no effect when the VM has no PMU (mode none)');
    }
    spec.lbr = this.opt(m, 'lbr', (x) => this.r.oneOf(x, ['none', 'pv', 'lazy'] as const)) ?? spec.lbr;
    spec.lazyLbrReleaseNs = this.opt(m, 'lazyLbrRelease', (x) => this.r.duration(x, { min: 0 })) ?? spec.lazyLbrReleaseNs;
    const armPmu = this.opt(m, 'armPmu', (x) => this.nonEmptyString(x));
    if (armPmu !== undefined) spec.armPmu = armPmu;
    const nr = this.opt(m, 'nrCounters', (x) => this.r.int(x, { min: 0, max: 31 }));
    if (nr !== undefined) spec.nrCounters = nr;
    spec.pvEventLimit = this.opt(m, 'pvEventLimit', (x) => this.r.int(x, { min: 0 })) ?? spec.pvEventLimit;
    spec.pmiVector = this.opt(m, 'pmiVector', (x) => this.r.oneOf(x, ['dedicated', 'shared'] as const)) ?? spec.pmiVector;
    return spec;
  }

  private checkModeOnHost(mode: VpmuMode, host: HostSpec, path: string, line: number | undefined, what: string): void {
    // Every host can run a VM without a PMU.
    if (mode === 'none' || host.vpmuModes.includes(mode)) return;
    this.diag.error(path, `${what} ${mode} is not offered by host ${host.id} (its vpmuModes: ${host.vpmuModes.join(', ') || 'none'})`, line);
  }

  private filter(f: Field): EventFilterSpec | undefined {
    const m = this.r.map(f, KEYS.filter);
    if (!m) return undefined;
    const actionField = m.require('action', 'allow or deny');
    const action = actionField && this.r.oneOf(actionField, ['allow', 'deny'] as const);
    const events: EventFilterSpec['events'] = [];
    const eventsField = m.get('events');
    if (eventsField) {
      const items = this.r.list(eventsField);
      if (items && items.length > MAX_FILTER_EVENTS) {
        this.r.error(eventsField, `has ${items.length} events; at most ${MAX_FILTER_EVENTS} events (KVM returns E2BIG)`);
      }
      for (const it of items ?? []) {
        const em = this.r.map(it, KEYS.filterEvent);
        if (!em) continue;
        const ev = this.optReq(em, 'event', (x) => this.r.intOrHex(x, { min: 0, max: 0xfff }));
        const umask = this.opt(em, 'umask', (x) => this.r.intOrHex(x, { min: 0, max: 0xff })) ?? 0;
        if (ev !== undefined) events.push({ eventSelect: ev, umask });
      }
    }
    const fixedCounterBitmap = this.opt(m, 'fixedCounterBitmap', (x) => this.r.intOrHex(x, { min: 0, max: U32_MAX })) ?? 0;
    const masked: EventFilterSpec['masked'] = [];
    const maskedField = m.get('masked');
    if (maskedField) {
      const items = this.r.list(maskedField);
      if (items && items.length > MAX_FILTER_EVENTS) {
        this.r.error(maskedField, `has ${items.length} masked events; at most ${MAX_FILTER_EVENTS} events (KVM returns E2BIG)`);
      }
      for (const it of items ?? []) {
        const mm = this.r.map(it, KEYS.maskedEvent);
        if (!mm) continue;
        const ev = this.optReq(mm, 'event', (x) => this.r.intOrHex(x, { min: 0, max: 0xfff }));
        const mask = this.optReq(mm, 'mask', (x) => this.r.intOrHex(x, { min: 0, max: 0xff }));
        const match = this.optReq(mm, 'match', (x) => this.r.intOrHex(x, { min: 0, max: 0xff }));
        const exclude = this.opt(mm, 'exclude', (x) => this.r.bool(x)) ?? false;
        if (ev !== undefined && mask !== undefined && match !== undefined) {
          if ((match & ~mask) !== 0) {
            this.diag.warn(mm.path, `match 0x${match.toString(16)} has bits outside mask 0x${mask.toString(16)}; it can never match`, mm.line);
          }
          masked.push({ eventSelect: ev, mask, match, exclude });
        }
      }
    }
    return { action: action ?? 'allow', events, fixedCounterBitmap, masked };
  }

  private workload(f: Field): WorkloadSpec | undefined {
    // `workload: fio` is short for `workload: { profile: fio }`.
    if (typeof this.r.scalarValue(f) === 'string') {
      const profile = this.r.oneOf(f, WORKLOAD_PROFILES);
      return profile && { profile, tasksPerVcpu: SCENARIO_DEFAULTS.vm.tasksPerVcpu, overrides: {} };
    }
    const m = this.r.map(f, KEYS.workload);
    if (!m) return undefined;
    const profile = this.opt(m, 'profile', (x) => this.r.oneOf(x, WORKLOAD_PROFILES)) ?? SCENARIO_DEFAULTS.vm.workloadProfile;
    const tasksPerVcpu = this.opt(m, 'tasksPerVcpu', (x) => this.r.int(x, { min: 0, max: 1024 })) ?? SCENARIO_DEFAULTS.vm.tasksPerVcpu;
    const overrides: Partial<WorkloadRates> = {};
    const ovField = m.get('overrides');
    if (ovField) {
      const entries = Object.entries(WORKLOAD_OVERRIDES) as [keyof WorkloadRates, { yaml: string; kind: string }][];
      const om = this.r.map(ovField, entries.map(([, v]) => v.yaml));
      if (om) {
        for (const [key, { yaml, kind }] of entries) {
          const x = om.get(yaml);
          if (!x) continue;
          let v: number | undefined;
          if (kind === 'duration') v = this.r.duration(x, { min: 1 });
          else if (kind === 'bandwidth') v = this.r.bandwidth(x, { min: 0 });
          else if (kind === 'fraction') v = this.r.number(x, { min: 0, max: 1 });
          else v = this.r.number(x, { min: 0 });
          if (v !== undefined) overrides[key] = v;
        }
      }
    }
    return { profile, tasksPerVcpu, overrides };
  }

  private guestPerfSession(f: Field, vmLabel: string, ids: Map<string, string>): GuestPerfSpec | undefined {
    const m = this.r.map(f, KEYS.guestPerf);
    if (!m) return undefined;
    const id = this.localId(m, ids, `guest perf session in VM ${vmLabel}`);
    const command = this.opt(m, 'command', (x) => this.r.oneOf(x, ['stat', 'record'] as const)) ?? 'stat';
    const events = this.events(m);
    const sampleField = m.get('sample');
    let sample: SampleSpec | undefined;
    if (sampleField) {
      sample = this.sample(sampleField);
      if (command !== 'record') this.r.error(sampleField, 'sample only applies to command record (perf stat counts)');
    } else if (command === 'record') {
      sample = { freqHz: SCENARIO_DEFAULTS.guestRecordFreqHz };
    }
    const allCpus = this.opt(m, 'allCpus', (x) => this.r.bool(x)) ?? false;
    const callGraphField = m.get('callGraph');
    const callGraph = (callGraphField && this.r.oneOf(callGraphField, ['none', 'lbr'] as const)) ?? 'none';
    if (callGraphField && callGraph !== 'none' && command !== 'record') {
      this.r.error(callGraphField, 'callGraph only applies to command record');
    }
    const { startNs, stopNs } = this.startStop(m);
    const s: GuestPerfSpec = { id: id ?? '', command, events, allCpus, callGraph, startNs };
    if (sample) s.sample = sample;
    if (stopNs !== undefined) s.stopNs = stopNs;
    return s;
  }

  // ---- guest programs ----------------------------------------------------------------------------

  private program(f: Field, vmLabel: string, vcpus: number | undefined): ProgramOp[] {
    const items = this.r.list(f);
    if (!items) return [];
    const ops: (ProgramOp | undefined)[] = [];
    items.forEach((it, index) => ops.push(this.programStep(it, index, ops, vmLabel, vcpus)));
    return ops.filter((op): op is ProgramOp => op !== undefined);
  }

  private programStep(
    f: Field,
    index: number,
    earlier: readonly (ProgramOp | undefined)[],
    vmLabel: string,
    vcpus: number | undefined,
  ): ProgramOp | undefined {
    const example = 'a one-key mapping such as `- rdmsr: { msr: 0x186 }`';
    const outer = this.r.map(f, PROGRAM_OPS, {});
    if (!outer) return undefined;
    const keys = outer.keys();
    if (keys.length !== 1) {
      if (keys.length === 0 && isMap(f.node) && f.node.items.length === 0) this.r.error(f, `empty step; expected ${example}`);
      else if (keys.length > 1) this.r.error(f, `a step has exactly one operation, got ${keys.join(' and ')}; expected ${example}`);
      return undefined;
    }
    const op = keys[0] as (typeof PROGRAM_OPS)[number];
    const body = outer.get(op)!;
    const m = this.r.map(body, PROGRAM_KEYS[op]);
    if (!m) return undefined;
    const vcpu = (): number => {
      const x = m.get('vcpu');
      if (!x) return 0;
      const v = this.r.int(x, { min: 0 });
      if (v !== undefined && vcpus !== undefined && v >= vcpus) {
        this.r.error(x, `vCPU ${v} does not exist (VM ${vmLabel} has ${vcpus})`);
      }
      return v ?? 0;
    };
    const msr = (): number | undefined => this.optReq(m, 'msr', (x) => this.r.intOrHex(x, { min: 0, max: U32_MAX }));
    const value = (key: string, required: boolean): number | undefined =>
      required ? this.optReq(m, key, (x) => this.r.intOrHex(x, { min: 0 })) : this.opt(m, key, (x) => this.r.intOrHex(x, { min: 0 }));

    switch (op) {
      case 'wrmsr': {
        const a = msr();
        const v = value('value', true);
        const c = vcpu();
        return a === undefined || v === undefined ? undefined : { op, msr: a, value: v, vcpu: c };
      }
      case 'rdmsr': {
        const a = msr();
        const c = vcpu();
        return a === undefined ? undefined : { op, msr: a, vcpu: c };
      }
      case 'rdpmc': {
        const i = this.optReq(m, 'index', (x) => this.r.intOrHex(x, { min: 0, max: U32_MAX }));
        const c = vcpu();
        return i === undefined ? undefined : { op, index: i, vcpu: c };
      }
      case 'loop': {
        const n = this.optReq(m, 'instructions', (x) => this.r.intOrHex(x, { min: 1 }));
        const b = this.opt(m, 'branches', (x) => this.r.intOrHex(x, { min: 0 })) ?? 0;
        if (n !== undefined && b > n) this.r.error(m.get('branches')!, `${b} branches exceed the loop's ${n} instructions`);
        const c = vcpu();
        return n === undefined ? undefined : { op, instructions: n, branches: b, vcpu: c };
      }
      case 'expect':
        return this.expectStep(m, index, earlier);
      case 'setPmu': {
        const pmu = this.optReq(m, 'pmu', (x) => this.nonEmptyString(x));
        return pmu === undefined ? undefined : { op, pmu };
      }
      case 'setNrCounters': {
        const n = this.optReq(m, 'n', (x) => this.r.int(x, { min: 0, max: 31 }));
        return n === undefined ? undefined : { op, n };
      }
      case 'hypercall': {
        const call = this.optReq(m, 'call', (x) => this.r.oneOf(x, PV_HYPERCALLS));
        const id = this.optReq(m, 'id', (x) => this.r.intOrHex(x, { min: 0 }));
        const count = this.opt(m, 'count', (x) => this.r.int(x, { min: 1, max: 100_000 })) ?? 1;
        if (count > 1 && call !== undefined && call !== 'open') this.r.error(m.get('count')!, 'count repeats open only');
        const event = this.opt(m, 'event', (x) => this.r.oneOf(x, Object.keys(PV_HW_CONFIG)));
        const config = this.opt(m, 'config', (x) => this.r.intOrHex(x, { min: 0 }));
        const flag = (key: string): boolean => this.opt(m, key, (x) => this.r.bool(x)) ?? false;
        const attr = {
          type: this.opt(m, 'type', (x) => this.r.int(x, { min: 0, max: U32_MAX })) ?? 0,
          config: config ?? (event !== undefined ? PV_HW_CONFIG[event] : 1),
          period: this.opt(m, 'period', (x) => this.r.intOrHex(x, { min: 0 })) ?? 0,
          freq: flag('freq'),
          sampleType: this.opt(m, 'sampleType', (x) => this.r.intOrHex(x, { min: 0, max: U32_MAX })) ?? 0,
          flags: this.opt(m, 'flags', (x) => this.r.intOrHex(x, { min: 0, max: U32_MAX })) ?? 0,
          excludeUser: flag('excludeUser'),
          excludeKernel: flag('excludeKernel'),
        };
        const c = vcpu();
        return call === undefined || id === undefined ? undefined : { op, call, id, vcpu: c, count, attr };
      }
      case 'armRead':
      case 'armWrite': {
        const reg = this.optReq(m, 'reg', (x) => this.r.oneOf(x, ARM_PMU_REGS));
        const n = this.opt(m, 'n', (x) => this.r.int(x, { min: 0, max: 31 }));
        const c = vcpu();
        if (reg === undefined) return undefined;
        if (op === 'armRead') return { op, reg, vcpu: c, ...(n !== undefined && { n }) };
        const v = value('value', true);
        return v === undefined ? undefined : { op, reg, value: v, vcpu: c, ...(n !== undefined && { n }) };
      }
    }
  }

  private expectStep(m: MapView, index: number, earlier: readonly (ProgramOp | undefined)[]): ProgramOp | undefined {
    const stepField = m.require('step', 'the index of an earlier step, counting from 0');
    let step = stepField && this.r.int(stepField, { min: 0 });
    if (stepField && step !== undefined) {
      if (step >= index) {
        this.r.error(stepField, `step ${step} is not an earlier step (this is step ${index}; steps count from 0)`);
        step = undefined;
      } else if (earlier[step]?.op === 'expect') {
        this.r.error(stepField, `step ${step} is itself an expect; point at the step that does something`);
        step = undefined;
      }
    }
    const equals = this.opt(m, 'equals', (x) => this.r.intOrHex(x, { min: 0 }));
    const atLeast = this.opt(m, 'atLeast', (x) => this.r.intOrHex(x, { min: 0 }));
    const atMost = this.opt(m, 'atMost', (x) => this.r.intOrHex(x, { min: 0 }));
    const fault = this.opt(m, 'fault', (x) => this.r.oneOf(x, ['none', 'gp', 'undefined'] as const));
    const errno = this.opt(m, 'errno', (x) => this.nonEmptyString(x));
    if (errno !== undefined && !/^E[A-Z0-9]+$/.test(errno)) this.r.error(m.get('errno')!, `${errno} is not an errno name (EBUSY, EINVAL, ...)`);
    if (!m.has('equals') && !m.has('atLeast') && !m.has('atMost') && !m.has('fault') && !m.has('errno')) {
      this.diag.error(m.path, 'give at least one of equals, atLeast, atMost or fault (or errno)', m.line);
      return undefined;
    }
    if (atLeast !== undefined && atMost !== undefined && atLeast > atMost) {
      this.diag.error(childPath(m.path, 'atLeast'), `atLeast ${atLeast} is above atMost ${atMost}`, m.get('atLeast')!.line);
    }
    const target = step === undefined ? undefined : earlier[step];
    const checksValue = m.has('equals') || m.has('atLeast') || m.has('atMost');
    if (target && checksValue && target.op !== 'rdmsr' && target.op !== 'rdpmc' && target.op !== 'hypercall' && target.op !== 'armRead') {
      this.r.error(stepField!, `step ${step} (${target.op}) returns no value; only rdmsr, rdpmc, hypercall and armRead do (use fault or errno to check it)`);
    }
    if (step === undefined) return undefined;
    const out: ProgramOp = { op: 'expect', step };
    if (equals !== undefined) out.equals = equals;
    if (atLeast !== undefined) out.atLeast = atLeast;
    if (atMost !== undefined) out.atMost = atMost;
    if (fault !== undefined) out.fault = fault;
    if (errno !== undefined) out.errno = errno;
    return out;
  }

  // ---- timeline ----------------------------------------------------------------------------------

  private timelineEntry(f: Field): TimelineEntry | undefined {
    const m = this.r.map(f, KEYS.timeline);
    if (!m) return undefined;
    const atField = m.require('at', 'when, e.g. `at: 50ms`');
    const atNs = atField && this.atTime(atField);
    const present = TIMELINE_ACTIONS.filter((a) => m.has(a));
    if (present.length !== 1) {
      this.r.error(
        f,
        present.length === 0
          ? `give one action: ${TIMELINE_ACTIONS.join(', ')}`
          : `has ${present.join(' and ')}; give one action per timeline entry`,
      );
      return undefined;
    }
    const kind = present[0];
    const body = m.get(kind)!;
    const action = this.timelineAction(kind, body);
    if (atNs === undefined || action === undefined) return undefined;
    return { atNs, action };
  }

  private timelineAction(kind: (typeof TIMELINE_ACTIONS)[number], f: Field): TimelineAction | undefined {
    const startStop = ['start', 'stop'] as const;
    switch (kind) {
      case 'migrate': {
        const m = this.r.map(f, KEYS.migrate);
        if (!m) return undefined;
        const vm = this.optReq(m, 'vm', (x) => this.vmRef(x));
        const to = this.optReq(m, 'to', (x) => this.hostRef(x));
        const bandwidthBytesPerSec =
          this.opt(m, 'bandwidth', (x) => this.r.bandwidth(x, { min: 1 })) ?? SCENARIO_DEFAULTS.migrate.bandwidthBytesPerSec;
        const maxDowntimeNs = this.opt(m, 'maxDowntime', (x) => this.r.duration(x, { min: 0 })) ?? SCENARIO_DEFAULTS.migrate.maxDowntimeNs;
        if (!vm || !to) return undefined;
        return { kind, vm: vm.id, to: to.id, bandwidthBytesPerSec, maxDowntimeNs };
      }
      case 'setPmu': {
        const m = this.r.map(f, KEYS.tlSetPmu);
        if (!m) return undefined;
        const vm = this.optReq(m, 'vm', (x) => this.vmRef(x));
        const pmu = this.optReq(m, 'pmu', (x) => this.nonEmptyString(x));
        if (!vm || pmu === undefined) return undefined;
        return { kind, vm: vm.id, pmu };
      }
      case 'hostPerf': {
        const m = this.r.map(f, KEYS.tlHostPerf);
        if (!m) return undefined;
        const host = this.optReq(m, 'host', (x) => this.hostRef(x));
        const sessionField = m.require('session', 'the id of one of the host\'s perf sessions');
        const action = this.optReq(m, 'action', (x) => this.r.oneOf(x, startStop));
        const session = sessionField && this.sessionRef(sessionField, host?.perf.map((s) => s.id), host && `host ${host.id}`);
        if (!host || session === undefined || action === undefined) return undefined;
        return { kind, host: host.id, session, action };
      }
      case 'guestPerf': {
        const m = this.r.map(f, KEYS.tlGuestPerf);
        if (!m) return undefined;
        const vm = this.optReq(m, 'vm', (x) => this.vmRef(x));
        const sessionField = m.require('session', 'the id of one of the VM\'s guestPerf sessions');
        const action = this.optReq(m, 'action', (x) => this.r.oneOf(x, startStop));
        const session = sessionField && this.sessionRef(sessionField, vm?.guestPerf.map((s) => s.id), vm && `VM ${vm.id}`);
        if (!vm || session === undefined || action === undefined) return undefined;
        return { kind, vm: vm.id, session, action };
      }
      case 'fault': {
        const m = this.r.map(f, KEYS.fault);
        if (!m) return undefined;
        const fault = this.optReq(m, 'kind', (x) => this.r.id(x));
        const targetField = m.require('target', 'the id of a host or VM');
        let target: string | undefined;
        if (targetField) {
          const id = this.r.id(targetField);
          if (id !== undefined && !this.hosts.has(id) && !this.vms.has(id)) {
            const known = [...this.hosts.keys(), ...this.vms.keys()];
            this.r.error(targetField, `unknown host or VM "${id}"${this.knownList(known, id)}`);
          } else {
            target = id;
          }
        }
        const durationNs = this.opt(m, 'duration', (x) => this.r.duration(x, { min: 0 })) ?? 0;
        const params: Record<string, string> = {};
        const pf = m.get('params');
        if (pf) {
          const pm = this.r.map(pf, [], { anyKey: true });
          for (const key of pm?.keys() ?? []) {
            const x = pm!.get(key)!;
            const v = this.r.scalarValue(x);
            if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') params[key] = String(v);
            else this.r.typeError(x, 'a string, number or boolean');
          }
        }
        if (fault === undefined || target === undefined) return undefined;
        return { kind, fault, target, durationNs, params };
      }
    }
  }

  private sessionRef(f: Field, known: string[] | undefined, owner: string | undefined): string | undefined {
    const id = this.r.id(f);
    if (id === undefined || known === undefined) return undefined;
    if (!known.includes(id)) {
      this.r.error(f, `${owner} has no session "${id}"${this.knownList(known, id)}`);
      return undefined;
    }
    return id;
  }

  /** Follows each VM through its migrations (in time order) to check where it is going. */
  private checkMigrations(entries: TimelineEntry[], fields: Field[]): void {
    const location = new Map<string, string>();
    for (const [id, vm] of this.vms) location.set(id, vm.host);
    entries.forEach((e, i) => {
      if (e.action.kind !== 'migrate') return;
      const { vm: vmId, to } = e.action;
      const vm = this.vms.get(vmId);
      const dest = this.hosts.get(to);
      if (!vm || !dest) return;
      const path = childPath(fields[i].path, 'migrate.to');
      const line = fields[i].line;
      const from = location.get(vmId);
      if (from === to) {
        this.diag.error(path, `VM ${vmId} is already on host ${to} at ${formatDurationNs(e.atNs)}`, line);
        return;
      }
      if (vm.vcpus > dest.pcpus) {
        this.diag.error(path, `VM ${vmId}'s ${vm.vcpus} vCPUs exceed host ${to}'s ${dest.pcpus} pCPUs`, line);
      }
      if (vm.vpmu.mode !== 'none' && !dest.vpmuModes.includes(vm.vpmu.mode)) {
        // Not an error: refusing an incompatible migration is behaviour the model reports
        // (finding migration-refused-incompatible).
        this.diag.warn(path, `host ${to} does not offer vPMU mode ${vm.vpmu.mode}; the migration will be refused`, line);
      }
      location.set(vmId, to);
    });
  }

  // ---- small helpers -----------------------------------------------------------------------------

  private opt<T>(m: MapView, key: string, read: (f: Field) => T | undefined): T | undefined {
    const f = m.get(key);
    return f ? read(f) : undefined;
  }

  private optReq<T>(m: MapView, key: string, read: (f: Field) => T | undefined): T | undefined {
    const f = m.require(key);
    return f ? read(f) : undefined;
  }

  private nonEmptyString(f: Field): string | undefined {
    const s = this.r.string(f);
    if (s !== undefined && s.trim() === '') {
      this.r.error(f, 'must not be empty');
      return undefined;
    }
    return s;
  }

  /** Reads `id` of a host or VM and claims it in the shared namespace. */
  private defineId(m: MapView, kind: 'host' | 'vm'): string | undefined {
    const f = m.require('id', kind === 'host' ? 'e.g. `id: h1`' : 'e.g. `id: vm1`');
    if (!f) return undefined;
    const id = this.r.id(f);
    if (id === undefined) return undefined;
    const first = this.ids.get(id);
    if (first !== undefined) {
      this.r.error(f, `duplicate id "${id}" (already used by ${first}; hosts and VMs share one namespace)`);
      return undefined;
    }
    this.ids.set(id, m.path);
    return id;
  }

  /** Reads a required `id` unique within one owner (perf sessions of a host, ...). */
  private localId(m: MapView, ids: Map<string, string>, what: string): string | undefined {
    const f = m.require('id');
    if (!f) return undefined;
    const id = this.r.id(f);
    if (id === undefined) return undefined;
    const first = ids.get(id);
    if (first !== undefined) {
      this.r.error(f, `duplicate ${what} "${id}" (already used by ${first})`);
      return undefined;
    }
    ids.set(id, m.path);
    return id;
  }
}
