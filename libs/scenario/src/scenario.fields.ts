// The fields of the scenario format, declared once: for every mapping of the document, its keys
// with their value type (enums, ranges, units) and whether they are required. The readers take
// their known keys from here (an unknown key is an error with a suggestion), and
// scenario.schema.ts turns the same table into the published JSON Schema, so the schema cannot
// name a key the reader refuses or miss one it reads. The readers check more than a schema can
// (references, cross-field rules, physical bounds of durations): docs/scenario.md has them all.

import { COST_PARAMETERS } from '@vpmu/kvm';
import { ARM_PMU_REGS, CPU_PRESET_NAMES, WORKLOAD_EVENT_NAMES } from '@vpmu/pmu';
import { KERNEL_GENERATIONS, PV_HYPERCALLS, TRACE_LEVELS, VPMU_MODES, WORKLOAD_PROFILES, type WorkloadRates } from '@vpmu/world-spec';

import { MAX_FILTER_EVENTS, MAX_PCPUS, U32_MAX } from './scenario.defaults';
import {
  MAX_COST_CYCLES,
  MAX_COST_NS,
  MAX_DIRTY_BYTES_PER_SEC,
  MAX_EXITS_PER_SEC,
  MAX_GHZ,
  MAX_IPC,
  MAX_LLC_REFS_PER_KILO_INSTR,
  MAX_PV_EVENT_LIMIT,
  MAX_TEMPLATE_COUNT,
  MIN_GHZ,
  MIN_TIMESLICE_NS,
  WHY,
} from './scenario.limits';

/** What a value may be. Quantity bounds are in their base unit (ns, bytes, bytes/s). */
export type ValueType =
  | { t: 'int'; min?: number; max?: number }
  | { t: 'number'; min?: number; max?: number }
  /** A YAML integer or a hex string such as "0x186" (register numbers and values). */
  | { t: 'intOrHex'; min?: number; max?: number }
  | { t: 'bool' }
  | { t: 'string' }
  | { t: 'id' }
  /** An id with placeholders such as {i} (fleet templates). */
  | { t: 'idPattern' }
  | { t: 'enum'; values: readonly (string | number)[] }
  | { t: 'quantity'; unit: 'duration' | 'size' | 'bandwidth'; min?: number; max?: number }
  | { t: 'section'; name: string }
  | { t: 'list'; of: ValueType; minItems?: number; maxItems?: number }
  | { t: 'either'; of: readonly ValueType[] }
  /** A mapping whose keys are names (free, or from `keys`), each value of one type. */
  | { t: 'mapOf'; of: ValueType; keys?: readonly string[] }
  | { t: 'any' };

export interface FieldDef {
  type: ValueType;
  required?: boolean;
  /** One line for editors (hover text); docs/scenario.md has the full story. */
  doc: string;
}

export type Section = Readonly<Record<string, FieldDef>>;

const int = (min?: number, max?: number): ValueType => ({ t: 'int', min, max });
const hex = (min?: number, max?: number): ValueType => ({ t: 'intOrHex', min, max });
const num = (min?: number, max?: number): ValueType => ({ t: 'number', min, max });
const duration = (min?: number, max?: number): ValueType => ({ t: 'quantity', unit: 'duration', min, max });
const oneOf = (values: readonly (string | number)[]): ValueType => ({ t: 'enum', values });
const section = (name: string): ValueType => ({ t: 'section', name });
const listOf = (of: ValueType, minItems?: number, maxItems?: number): ValueType => ({ t: 'list', of, minItems, maxItems });
const BOOL: ValueType = { t: 'bool' };
const ID: ValueType = { t: 'id' };
const STRING: ValueType = { t: 'string' };
const EVENTS = listOf(oneOf(WORKLOAD_EVENT_NAMES), 1);
/** An id, or in a fleet template an id pattern such as "h{i:2}". */
const ID_OR_PATTERN: ValueType = { t: 'either', of: [ID, { t: 'idPattern' }] };
const CPUS: ValueType = { t: 'either', of: [oneOf(['all']), listOf(int(0, MAX_PCPUS - 1), 1)] };

/**
 * YAML name and kind of each workload rate override. A mapped type over WorkloadRates, so a rate
 * added to the contract does not compile until it is given a YAML name here.
 */
export type OverrideKind = 'number' | 'fraction' | 'duration' | 'bandwidth';
export const WORKLOAD_OVERRIDES: { [K in keyof WorkloadRates]: { yaml: string; kind: OverrideKind; min?: number; max?: number; why?: string } } = {
  ipc: { yaml: 'ipc', kind: 'number', max: MAX_IPC, why: WHY.ipc },
  cpuGhz: { yaml: 'cpuGhz', kind: 'number', min: MIN_GHZ, max: MAX_GHZ, why: WHY.ghz },
  refGhz: { yaml: 'refGhz', kind: 'number', min: MIN_GHZ, max: MAX_GHZ, why: WHY.ghz },
  branchFraction: { yaml: 'branchFraction', kind: 'fraction' },
  branchMissRate: { yaml: 'branchMissRate', kind: 'fraction' },
  llcRefsPerKiloInstr: { yaml: 'llcRefsPerKiloInstr', kind: 'number', max: MAX_LLC_REFS_PER_KILO_INSTR, why: WHY.llcRefs },
  llcMissRate: { yaml: 'llcMissRate', kind: 'fraction' },
  kernelFraction: { yaml: 'kernelFraction', kind: 'fraction' },
  ioExitsPerSec: { yaml: 'ioExitsPerSec', kind: 'number', max: MAX_EXITS_PER_SEC, why: WHY.exits },
  hltExitsPerSec: { yaml: 'hltExitsPerSec', kind: 'number', max: MAX_EXITS_PER_SEC, why: WHY.exits },
  dirtyBytesPerSec: { yaml: 'dirtyRate', kind: 'bandwidth', max: MAX_DIRTY_BYTES_PER_SEC, why: WHY.dirtyRate },
  guestTimesliceNs: { yaml: 'guestTimeslice', kind: 'duration', min: MIN_TIMESLICE_NS, why: WHY.timeslice },
  busyFraction: { yaml: 'busyFraction', kind: 'fraction' },
};

function overrideFields(): Section {
  const out: Record<string, FieldDef> = {};
  for (const [rate, o] of Object.entries(WORKLOAD_OVERRIDES)) {
    const type: ValueType =
      o.kind === 'fraction' ? num(0, 1) : o.kind === 'number' ? num(o.min ?? 0, o.max) : { t: 'quantity', unit: o.kind, min: o.min ?? (o.kind === 'duration' ? 1 : 0), max: o.max };
    out[o.yaml] = { type, doc: `replaces the profile's ${rate}` };
  }
  return out;
}

export const PLACEMENT_ORDERS = ['fill', 'spread'] as const;
export const PINNINGS = ['none', 'disjoint'] as const;
export const PROGRAM_OPS = ['wrmsr', 'rdmsr', 'rdpmc', 'loop', 'expect', 'setPmu', 'setNrCounters', 'hypercall', 'armRead', 'armWrite'] as const;
export const TIMELINE_ACTIONS = ['migrate', 'setPmu', 'setFilter', 'hostPerf', 'guestPerf', 'fault'] as const;
/** PERF_COUNT_HW_* (include/uapi/linux/perf_event.h) of the events a paravirt `hypercall: open` may name. */
export const PV_HW_CONFIG: Readonly<Record<string, number>> = { cycles: 0, instructions: 1, 'cache-references': 2, 'cache-misses': 3, branches: 4, 'branch-misses': 5, 'ref-cycles': 9 };

const VCPU: FieldDef = { type: int(0), doc: 'the vCPU that runs the step (default 0)' };

export const SECTIONS = {
  top: {
    version: { type: oneOf([1]), required: true, doc: 'format version; only 1 exists' },
    name: { type: STRING, doc: 'shown in reports and the summary' },
    seed: { type: int(0), doc: 'root of every random stream' },
    duration: { type: duration(1), required: true, doc: 'virtual length of the run, e.g. 200ms' },
    epoch: { type: duration(1_000), doc: 'barrier interval of the distributed run (default 1ms)' },
    checkpointEvery: { type: int(1), doc: 'a checkpoint every this many epochs (default 50)' },
    sampleInterval: { type: duration(10_000), doc: 'period of the per-vCPU counter samples (default 1ms)' },
    trace: { type: oneOf(TRACE_LEVELS), doc: 'full (default): every event; summary: VM exits, entries and PMIs as per-epoch counts per vCPU and reason' },
    hosts: { type: listOf(section('host'), 1), required: true, doc: 'the physical hosts, or fleet templates of hosts (with count)' },
    vms: { type: listOf(section('vm')), doc: 'the VMs, or fleet templates of VMs (with count or placement)' },
    timeline: { type: listOf(section('timeline')), doc: 'actions at virtual times' },
    costs: { type: section('costs'), doc: 'cost model overrides' },
  },
  host: {
    id: { type: ID_OR_PATTERN, required: true, doc: 'host id (in a template: an id pattern such as "h{i}")' },
    cpu: { type: oneOf(CPU_PRESET_NAMES), required: true, doc: 'CPU preset' },
    pcpus: { type: int(1, MAX_PCPUS), required: true, doc: 'physical CPUs' },
    pmu: { type: section('pmu'), doc: "overrides of the preset's PMU shape" },
    vpmuModes: { type: listOf(oneOf(VPMU_MODES), 1), doc: 'vPMU designs this host offers (default all)' },
    nmiWatchdog: { type: BOOL, doc: 'the host runs the NMI watchdog (default true)' },
    timeslice: { type: duration(MIN_TIMESLICE_NS), doc: 'host scheduler time slice (default 3ms)' },
    perf: { type: listOf(section('hostPerf')), doc: 'host perf sessions' },
    noise: { type: listOf(section('noise')), doc: 'host noise threads' },
    armPmuProbeOrder: { type: listOf(STRING, 1), doc: 'arm64: order in which KVM probes PMUs' },
    kernel: { type: oneOf(KERNEL_GENERATIONS), doc: "kernel generation's guest-PMU rules (default rfc-fixed; docs/mediated-vpmu.md)" },
    kvm: { type: section('kvm'), doc: 'kvm module parameters' },
  },
  kvm: {
    enablePmu: { type: BOOL, doc: 'enable_pmu: false gives no VM a PMU (default true)' },
    enableMediatedPmu: { type: BOOL, doc: 'enable_mediated_pmu, mainline only: VMs get the mediated vPMU (default false)' },
    enablePassthroughPmu: { type: BOOL, doc: "the RFC's enable_passthrough_pmu, RFC kernels only: true = every VM with a PMU is passthrough, false = emulated" },
  },
  hostTemplate: {
    count: { type: int(1, MAX_TEMPLATE_COUNT), doc: 'fleet template: the number of copies' },
    firstIndex: { type: int(0), doc: 'fleet template: the number of the first copy in {i} (default 1)' },
    cycle: { type: { t: 'mapOf', of: listOf({ t: 'any' }, 1) }, doc: 'fleet template: field path → values, copy k takes item k mod length' },
  },
  pmu: {
    gpCounters: { type: int(0, 31), doc: 'general-purpose counters' },
    fixedCounters: { type: int(0, 16), doc: 'fixed counters' },
    counterWidth: { type: int(8, 64), doc: 'counter width in bits' },
    lbrDepth: { type: int(0, 64), doc: 'LBR entries' },
    pmiSkid: { type: duration(0), doc: 'delay from overflow to PMI' },
  },
  noise: {
    id: { type: ID, doc: 'unique on the host (default noise<i>)' },
    cpus: { type: CPUS, doc: 'pCPUs the thread may run on (default all)' },
    period: { type: duration(50_000), required: true, doc: 'wakes up on average every period' },
    runtime: { type: duration(1), required: true, doc: 'runs this long each time' },
    lbr: { type: BOOL, doc: 'uses the LBR' },
    priority: { type: oneOf(['normal', 'high']), doc: 'high preempts vCPU threads at once' },
  },
  hostPerf: {
    id: { type: ID, required: true, doc: 'unique on the host' },
    events: { type: EVENTS, required: true, doc: 'events to count' },
    group: { type: BOOL, doc: 'the events form one group' },
    excludeGuest: { type: BOOL, doc: 'exclude_guest' },
    excludeHost: { type: BOOL, doc: 'exclude_host' },
    excludeUser: { type: BOOL, doc: 'exclude_user' },
    excludeKernel: { type: BOOL, doc: 'exclude_kernel' },
    pinned: { type: BOOL, doc: 'pinned group' },
    cpus: { type: CPUS, doc: 'per-CPU contexts the session opens (default all)' },
    sample: { type: section('sample'), doc: 'sampling mode: { freq } or { period }' },
    start: { type: duration(0), doc: 'when the session is opened (default 0)' },
    stop: { type: duration(0), doc: 'when it is closed (default: open until the end)' },
  },
  sample: {
    freq: { type: int(1), doc: 'samples per second' },
    period: { type: int(1), doc: 'events per sample' },
  },
  vm: {
    id: { type: ID_OR_PATTERN, required: true, doc: 'VM id (in a template: an id pattern such as "{host}-vm{j}")' },
    host: { type: ID, required: true, doc: 'the host the VM starts on' },
    vcpus: { type: int(1, MAX_PCPUS), doc: 'vCPUs (default 1)' },
    affinity: { type: { t: 'either', of: [listOf(int(0), 1), listOf(listOf(int(0), 1), 1)] }, doc: 'pCPUs for every vCPU, or one list per vCPU' },
    memory: { type: { t: 'quantity', unit: 'size', min: 1 }, doc: 'guest memory (default 1GiB)' },
    vpmu: { type: section('vpmu'), doc: 'the vPMU design' },
    workload: { type: { t: 'either', of: [oneOf(WORKLOAD_PROFILES), section('workload')] }, doc: 'profile name or { profile, tasksPerVcpu, overrides }' },
    guestPerf: { type: listOf(section('guestPerf')), doc: 'guest perf sessions' },
    program: { type: listOf(section('programStep')), doc: 'a guest program, one step per item' },
  },
  vmTemplate: {
    count: { type: int(1, MAX_TEMPLATE_COUNT), doc: 'fleet template: the number of copies (default perHost x hosts)' },
    firstIndex: { type: int(0), doc: 'fleet template: the number of the first copy in {i} and {j} (default 1)' },
    cycle: { type: { t: 'mapOf', of: listOf({ t: 'any' }, 1) }, doc: 'fleet template: field path → values, copy k takes item k mod length' },
    placement: { type: section('placement'), doc: 'fleet template: how the copies spread over hosts' },
  },
  placement: {
    hosts: { type: { t: 'either', of: [STRING, listOf(STRING, 1)] }, doc: 'all, a host id or pattern with *, or a list of them (default all)' },
    perHost: { type: int(1, MAX_TEMPLATE_COUNT), doc: 'at most this many copies on each host' },
    order: { type: oneOf(PLACEMENT_ORDERS), doc: 'fill hosts one after the other, or spread round robin' },
    pinning: { type: oneOf(PINNINGS), doc: "disjoint: each copy's vCPUs get pCPUs of their own" },
  },
  vpmu: {
    mode: { type: oneOf(VPMU_MODES), doc: 'vPMU design (default emulated)' },
    interceptEventSelect: { type: BOOL, doc: 'passthrough: trap event-select writes (default true)' },
    filter: { type: section('filter'), doc: 'KVM_SET_PMU_EVENT_FILTER' },
    lbr: { type: oneOf(['none', 'pv', 'lazy']), doc: 'guest LBR design' },
    lazyLbrRelease: { type: duration(0), doc: 'lazy LBR: release the host LBR event after this long unused' },
    armPmu: { type: STRING, doc: 'arm64: SET_PMU at VM creation' },
    nrCounters: { type: int(0, 31), doc: 'exposed GP counters' },
    pvEventLimit: { type: int(0, MAX_PV_EVENT_LIMIT), doc: 'paravirt: most host perf events the VM may open' },
    pmiVector: { type: oneOf(['dedicated', 'shared']), doc: 'passthrough: PMI vector' },
    guestPmu: { type: section('guestPmu'), doc: 'x86: the PMU shape CPUID and PERF_CAPABILITIES show the guest (default the host\'s)' },
  },
  guestPmu: {
    version: { type: int(0, 5), doc: 'architectural perfmon version (AMD: 1, or 2 = PerfMonV2); 0 = no PMU' },
    gpCounters: { type: int(0, 8), doc: 'GP counters (at most the host\'s)' },
    fixedCounters: { type: int(0, 4), doc: 'contiguous fixed counters, CPUID.0AH:EDX[4:0] (version 2+)' },
    fixedCounterMask: { type: hex(0, 0xf), doc: 'fixed counters enumerated one by one, CPUID.0AH:ECX (version 5+)' },
    eventMask: { type: hex(0, 0xff), doc: 'CPUID.0AH:EBX: architectural events marked unavailable' },
    fullWidthWrites: { type: BOOL, doc: 'PERF_CAPABILITIES.FW_WRITES: the IA32_A_PMCx aliases exist' },
    enabled: { type: BOOL, doc: 'false: KVM_PMU_CAP_DISABLE, the VM has no PMU (default true)' },
  },
  filter: {
    action: { type: oneOf(['allow', 'deny']), required: true, doc: 'allow or deny the listed events' },
    events: { type: listOf(section('filterEvent'), 0, MAX_FILTER_EVENTS), doc: 'GP events' },
    fixedCounterBitmap: { type: hex(0, U32_MAX), doc: 'fixed counters allowed (allow) or denied (deny)' },
    masked: { type: listOf(section('maskedEvent'), 0, MAX_FILTER_EVENTS), doc: 'masked events' },
  },
  filterEvent: {
    event: { type: hex(0, 0xfff), required: true, doc: 'event select' },
    umask: { type: hex(0, 0xff), doc: 'unit mask (default 0)' },
  },
  maskedEvent: {
    event: { type: hex(0, 0xfff), required: true, doc: 'event select' },
    mask: { type: hex(0, 0xff), required: true, doc: 'umask bits compared' },
    match: { type: hex(0, 0xff), required: true, doc: 'value of the compared bits' },
    exclude: { type: BOOL, doc: 'an exclude entry' },
  },
  workload: {
    profile: { type: oneOf(WORKLOAD_PROFILES), doc: 'base rates (default specint)' },
    tasksPerVcpu: { type: int(0, 1024), doc: 'runnable guest tasks per vCPU (default 2)' },
    overrides: { type: section('overrides'), doc: "replace some of the profile's rates" },
  },
  overrides: overrideFields(),
  guestPerf: {
    id: { type: ID, required: true, doc: 'unique in the VM' },
    command: { type: oneOf(['stat', 'record']), doc: 'perf stat or perf record (default stat)' },
    events: { type: EVENTS, required: true, doc: 'events to count or sample' },
    sample: { type: section('sample'), doc: 'record only: { freq } or { period }' },
    allCpus: { type: BOOL, doc: '-a: all guest CPUs' },
    callGraph: { type: oneOf(['none', 'lbr']), doc: 'record only: --call-graph' },
    start: { type: duration(0), doc: 'when it starts (default 0)' },
    stop: { type: duration(0), doc: 'when it stops (default the end)' },
  },
  programStep: Object.fromEntries(PROGRAM_OPS.map((op) => [op, { type: section(op), doc: `guest program step ${op}` }])),
  wrmsr: { msr: { type: hex(0, U32_MAX), required: true, doc: 'MSR number' }, value: { type: hex(0), required: true, doc: 'value written' }, vcpu: VCPU },
  rdmsr: { msr: { type: hex(0, U32_MAX), required: true, doc: 'MSR number' }, vcpu: VCPU },
  rdpmc: { index: { type: hex(0, U32_MAX), required: true, doc: 'RDPMC index (0x40000000 for fixed counter 0)' }, vcpu: VCPU },
  loop: {
    instructions: { type: hex(1), required: true, doc: 'instructions to retire' },
    branches: { type: hex(0), doc: 'branches among them (default 0)' },
    vcpu: VCPU,
  },
  expect: {
    step: { type: int(0), required: true, doc: 'an earlier step, counted from 0' },
    equals: { type: hex(0), doc: 'the result equals' },
    fault: { type: oneOf(['none', 'gp', 'undefined']), doc: 'the fault the step took' },
    atLeast: { type: hex(0), doc: 'the result is at least' },
    atMost: { type: hex(0), doc: 'the result is at most' },
    errno: { type: STRING, doc: 'the step failed with this errno, e.g. EBUSY' },
  },
  setPmu: { pmu: { type: STRING, required: true, doc: 'arm64 PMU name' } },
  setNrCounters: { n: { type: int(0, 31), required: true, doc: 'number of counters' } },
  hypercall: {
    call: { type: oneOf(PV_HYPERCALLS), required: true, doc: 'paravirt perf hypercall' },
    id: { type: hex(0), required: true, doc: 'guest event id' },
    vcpu: VCPU,
    count: { type: int(1, 100_000), doc: 'open: repeat on ids id..id+count-1 (default 1)' },
    event: { type: oneOf(Object.keys(PV_HW_CONFIG)), doc: 'open: a PERF_COUNT_HW name (default instructions)' },
    type: { type: int(0, U32_MAX), doc: 'open: perf type (default 0, hardware)' },
    config: { type: hex(0), doc: 'open: raw config' },
    period: { type: hex(0), doc: 'open: sample period' },
    freq: { type: BOOL, doc: 'open: period is a frequency' },
    sampleType: { type: hex(0, U32_MAX), doc: 'open: sample type bits' },
    flags: { type: hex(0, U32_MAX), doc: 'open: flags' },
    excludeUser: { type: BOOL, doc: 'open: exclude_user' },
    excludeKernel: { type: BOOL, doc: 'open: exclude_kernel' },
  },
  armRead: { reg: { type: oneOf(ARM_PMU_REGS), required: true, doc: 'arm64 PMU register' }, n: { type: int(0, 31), doc: 'counter index' }, vcpu: VCPU },
  armWrite: {
    reg: { type: oneOf(ARM_PMU_REGS), required: true, doc: 'arm64 PMU register' },
    n: { type: int(0, 31), doc: 'counter index' },
    value: { type: hex(0), required: true, doc: 'value written' },
    vcpu: VCPU,
  },
  timeline: {
    at: { type: duration(0), required: true, doc: 'when, within the run' },
    migrate: { type: section('migrate'), doc: 'live-migrate a VM' },
    setPmu: { type: section('tlSetPmu'), doc: 'arm64 SET_PMU on a running VM' },
    setFilter: { type: section('tlSetFilter'), doc: 'KVM_SET_PMU_EVENT_FILTER on a running VM (emulated, passthrough with interceptEventSelect, mediated)' },
    hostPerf: { type: section('tlHostPerf'), doc: 'start or stop a host perf session' },
    guestPerf: { type: section('tlGuestPerf'), doc: 'start or stop a guest perf session' },
    fault: { type: section('fault'), doc: 'inject a fault' },
  },
  migrate: {
    vm: { type: ID, required: true, doc: 'the VM' },
    to: { type: ID, required: true, doc: 'destination host' },
    bandwidth: { type: { t: 'quantity', unit: 'bandwidth', min: 1 }, doc: 'migration bandwidth (default 10Gbps)' },
    maxDowntime: { type: duration(0), doc: 'longest stop-and-copy (default 300ms)' },
  },
  tlSetPmu: { vm: { type: ID, required: true, doc: 'the VM' }, pmu: { type: STRING, required: true, doc: 'arm64 PMU name' } },
  tlSetFilter: {
    vm: { type: ID, required: true, doc: 'the VM (vpmu.mode mediated)' },
    filter: { type: section('filter'), doc: 'the new filter (or remove: true)' },
    remove: { type: BOOL, doc: 'remove the filter' },
  },
  tlHostPerf: {
    host: { type: ID, required: true, doc: 'the host' },
    session: { type: ID, required: true, doc: 'a perf session id on that host' },
    action: { type: oneOf(['start', 'stop']), required: true, doc: 'start or stop' },
  },
  tlGuestPerf: {
    vm: { type: ID, required: true, doc: 'the VM' },
    session: { type: ID, required: true, doc: 'a guestPerf session id of that VM' },
    action: { type: oneOf(['start', 'stop']), required: true, doc: 'start or stop' },
  },
  fault: {
    kind: { type: ID, required: true, doc: 'fault kind (docs/findings.md)' },
    target: { type: ID, required: true, doc: 'host or VM id' },
    duration: { type: duration(0), doc: '0 = to the end of the run' },
    params: { type: { t: 'mapOf', of: { t: 'either', of: [STRING, num(), BOOL] } }, doc: 'parameters of the fault kind' },
  },
  costs: Object.fromEntries(
    COST_PARAMETERS.map((p) => [p.name, { type: num(0, p.unit === 'cycles' ? MAX_COST_CYCLES : MAX_COST_NS), doc: `cost model parameter, in ${p.unit}` }]),
  ),
} satisfies Record<string, Section>;

export type SectionName = keyof typeof SECTIONS;

/** The keys of a section, in declaration order: what the reader accepts in that mapping. */
export function keysOf(name: SectionName): readonly string[] {
  return Object.keys(SECTIONS[name]);
}
