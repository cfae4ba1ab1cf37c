// The vPMU state a VM carries across live migration (proto/vpmu/v1/vpmu_state.proto `VpmuState`),
// taken from the live backends at stop-and-copy, and the field-by-field comparison the destination
// runs against what it restored. What QEMU/KVM migrate for a vPMU: per vCPU every guest counter,
// its event select, FIXED_CTR_CTRL, GLOBAL_CTRL / GLOBAL_STATUS, the PMIs raised but not injected
// yet; the guest kernel's own perf state (sampling periods, frequency estimate, multiplexing
// times) lives in guest memory and travels with it; KVM-side: the event filter, the paravirtual
// event table with its accumulated counts, the guest LBR control bits, the arm64 PMU id and N.
//
// The state is taken from a QUIESCED vPMU: passthrough contexts saved (not loaded in a pCPU),
// emulated backing events folded into their guest counters and released, paravirt events closed
// with their counts folded. Reading one that is not quiesced is a bug (QUIESCED_OPS throws).
// Plain data only (numbers, strings, arrays): it is a wire message and a snapshot field.
import { EmulatedVpmu, PassthroughVpmu, type CostModel, type PerfCounts, type PerfCreateResult, type VcpuVpmu, type VcpuWorldPort } from '@vpmu/kvm';
import type { EventFilterSpec } from '@vpmu/world-spec';
import { FIXED_COUNTER_ID_BASE, MSR, type IntelPmu } from '@vpmu/pmu';
import type { GuestPerfVcpu, GuestPvPerfVcpu } from '@vpmu/guest';

export interface GuestCounterRecord {
  index: number;
  fixed: boolean;
  /** Guest-visible counter value. */
  value: number;
  /** EVENTSEL (GP) or the counter's FIXED_CTR_CTRL nibble, as the guest reads it. */
  eventsel: number;
  /** Sampling period of the guest perf event on this counter (0 = counting / none). */
  period: number;
  /** perf record -F of that event (0 = fixed period). */
  freqHz: number;
  /** Emulated: count of the backing event not yet folded (0 once detached). */
  backingCount: number;
  /** GLOBAL_STATUS has this counter's overflow bit. */
  pmiPending: boolean;
}

export interface GuestPerfEventRecord {
  event: string;
  counter: number;
  count: number;
  enabledNs: number;
  runningNs: number;
  samplePeriod: number;
  periodLeft: number;
  lastPeriod: number;
  samples: number;
  throttled: boolean;
}

export interface GuestPerfSessionRecord {
  session: number;
  running: boolean;
  multiplexed: boolean;
  freqHz: number;
  events: GuestPerfEventRecord[];
}

export interface LbrRecord {
  fromIp: number[];
  toIp: number[];
  tos: number;
  debugctlLbr: boolean;
  pvActive: boolean;
}

export interface VcpuPmuRecord {
  vcpu: number;
  counters: GuestCounterRecord[];
  fixedCtrCtrl: number;
  globalCtrl: number;
  globalStatus: number;
  debugctl: number;
  lbr: LbrRecord | null;
  mux: { rotation: number; nextRotateNs: number };
  /** Per guest perf session event, in session order: the scaled count the guest would print now. */
  guestObserved: number[];
  /** Overflow instants of the virtual PMIs waiting for injection at the next entry. */
  pendingPmiNs: number[];
  perf: GuestPerfSessionRecord[];
}

export interface PvEventRecord {
  vcpu: number;
  session: number;
  id: number;
  event: string;
  type: number;
  config: number;
  enabled: boolean;
  /** Accumulated count (folded from the source's host events). */
  count: number;
  overflows: number;
}

export interface EventFilterRecord {
  action: number;
  events: number[];
  fixedCounterBitmap: number;
  masked: number[];
}

export interface VpmuStateRecord {
  vm: string;
  mode: string;
  gpCounters: number;
  fixedCounters: number;
  counterWidth: number;
  vcpus: VcpuPmuRecord[];
  pvEvents: PvEventRecord[];
  filter: EventFilterRecord | null;
  armPmu: string;
  armNrCounters: number;
  eventsInUse: string[];
}

/** What one vCPU's vPMU state is read from (after the source quiesced it). */
export interface VcpuStateSource {
  index: number;
  backend: VcpuVpmu | null;
  pendingPmiNs: readonly number[];
  guestPerf: readonly GuestPerfVcpu[];
  pvPerf: readonly GuestPvPerfVcpu[];
  /** The vCPU's guest run time (the guest perf clock). */
  guestNs: number;
  lbr: { debugCtl: number; pvActive: boolean } | null;
}

export interface VpmuStateSource {
  vm: string;
  mode: string;
  eventsInUse: readonly string[];
  /** Guest-visible counters on arm64 hosts (the x86 backends give theirs). */
  arm: { pmuId: string; nrCounters: number } | null;
  /** The VM's KVM event filter (vms[].vpmu.filter). */
  filter: EventFilterSpec | undefined;
  vcpus: readonly VcpuStateSource[];
}

/** Host services for a quiesced vPMU: none may be needed, so each call is a bug. */
class QuiescedOps implements VcpuWorldPort {
  readonly vcpu = -1;
  get nowNs(): number {
    return this.fail();
  }
  get costs(): CostModel {
    return this.fail();
  }
  private fail(): never {
    throw new Error('vpmuStateOf: the vPMU must be quiesced (passthrough context saved, emulated backing events detached) before its state is taken');
  }
  loadedPmu(): IntelPmu {
    return this.fail();
  }
  perfCreate(): PerfCreateResult {
    return this.fail();
  }
  perfRead(): PerfCounts {
    return this.fail();
  }
  perfEnable(): void {
    this.fail();
  }
  perfDisable(): void {
    this.fail();
  }
  perfClose(): void {
    this.fail();
  }
  perfSetPeriod(): void {
    this.fail();
  }
  emitFinding(): void {
    this.fail();
  }
}
const QUIESCED_OPS = new QuiescedOps();

/** The guest-visible registers of a quiesced x86 backend (null: the guest has no PMU). */
function registersOf(b: VcpuVpmu): IntelPmu | null {
  if (b instanceof PassthroughVpmu) return b.gpmu;
  if (b instanceof EmulatedVpmu) return b.regs;
  return null;
}

function reg(pmu: IntelPmu, msr: number): number {
  const r = pmu.rdmsr(msr);
  return r.ok ? Number(r.value) : 0;
}

function perfRecords(sessions: readonly GuestPerfVcpu[]): GuestPerfSessionRecord[] {
  return sessions.map((g, k) => ({
    session: k,
    running: g.running,
    multiplexed: g.multiplexed,
    freqHz: g.sampling ? (g.spec.sample?.freqHz ?? 0) : 0,
    events: g.events.map((e) => ({
      event: e.name,
      counter: e.counter,
      count: e.count,
      enabledNs: e.enabledNs,
      runningNs: e.runningNs,
      samplePeriod: e.samplePeriod,
      periodLeft: e.periodLeft,
      lastPeriod: e.lastPeriod,
      samples: e.samples,
      throttled: e.throttled,
    })),
  }));
}

function countersOf(b: VcpuVpmu, regs: IntelPmu, sessions: readonly GuestPerfVcpu[]): GuestCounterRecord[] {
  const h = b.shape.host;
  const status = regs.rdmsr(MSR.PERF_GLOBAL_STATUS);
  const statusBits = status.ok ? status.value : 0n;
  const fixedCtrl = b instanceof PassthroughVpmu && b.interceptEventSelect ? b.shadowFixedCtrl : reg(regs, MSR.FIXED_CTR_CTRL);
  const out: GuestCounterRecord[] = [];
  const ids = [...Array.from({ length: b.shape.gpCounters }, (_, i) => i), ...Array.from({ length: h.fixedCounters }, (_, f) => FIXED_COUNTER_ID_BASE + f)];
  for (const id of ids) {
    const fixed = id >= FIXED_COUNTER_ID_BASE;
    const index = fixed ? id - FIXED_COUNTER_ID_BASE : id;
    const eventsel = fixed ? (fixedCtrl >> (4 * index)) & 0xf : b instanceof PassthroughVpmu && b.interceptEventSelect ? b.shadowSel[index] : reg(regs, MSR.IA32_PERFEVTSEL0 + index);
    // The guest perf event scheduled on this counter, if any, gives its sampling period / frequency.
    const owner = sessions.flatMap((g) => g.events.filter((e) => e.counter === id).map((e) => ({ g, e })))[0];
    const sampling = owner !== undefined && owner.g.running && owner.g.sampling;
    const backing = b instanceof EmulatedVpmu ? b.backing[fixed ? h.gpCounters + index : index] : null;
    out.push({
      index,
      fixed,
      value: Number(b.peek(QUIESCED_OPS, id)),
      eventsel,
      period: sampling ? owner.e.samplePeriod : 0,
      freqHz: sampling ? (owner.g.spec.sample?.freqHz ?? 0) : 0,
      backingCount: backing ? backing.seen : 0,
      pmiPending: ((statusBits >> BigInt(fixed ? 32 + index : index)) & 1n) === 1n,
    });
  }
  return out;
}

/**
 * The event filter as KVM_SET_PMU_EVENT_FILTER received it (the VMM replays the ioctl on the
 * destination): plain events as event select | umask << 8, masked entries as
 * event select | mask << 16 | match << 24 | exclude << 32 (all within 53 bits).
 */
function filterOf(f: EventFilterSpec | undefined): EventFilterRecord | null {
  if (f === undefined) return null;
  return {
    action: f.action === 'allow' ? 0 : 1,
    events: f.events.map((e) => e.eventSelect | (e.umask << 8)),
    fixedCounterBitmap: f.fixedCounterBitmap,
    masked: f.masked.map((m) => m.eventSelect + m.mask * 2 ** 16 + m.match * 2 ** 24 + (m.exclude ? 2 ** 32 : 0)),
  };
}

/** The vPMU state of a quiesced VM, in the shape of the VpmuState message. Pure. */
export function vpmuStateOf(src: VpmuStateSource): VpmuStateRecord {
  const first = src.vcpus.find((v) => v.backend !== null)?.backend ?? null;
  const h = first?.shape.host;
  const guestHasPmu = first !== null && registersOf(first) !== null;
  const vcpus: VcpuPmuRecord[] = src.vcpus.map((v) => {
    const perf = perfRecords(v.guestPerf);
    const regs = v.backend ? registersOf(v.backend) : null;
    const observed: number[] = [];
    if (v.backend) for (const g of v.guestPerf) for (const r of g.readings((c) => v.backend!.peek(QUIESCED_OPS, c), v.guestNs)) observed.push(r.scaledCount);
    for (const g of v.pvPerf) for (const r of g.readings(() => null, v.guestNs)) observed.push(r.scaledCount);
    const pending = [...v.pendingPmiNs];
    if (v.backend instanceof EmulatedVpmu) pending.push(...v.backend.pendingOverflows());
    return {
      vcpu: v.index,
      counters: v.backend && regs ? countersOf(v.backend, regs, v.guestPerf) : [],
      fixedCtrCtrl: regs ? (v.backend instanceof PassthroughVpmu && v.backend.interceptEventSelect ? v.backend.shadowFixedCtrl : reg(regs, MSR.FIXED_CTR_CTRL)) : 0,
      globalCtrl: regs ? reg(regs, MSR.PERF_GLOBAL_CTRL) : 0,
      globalStatus: regs ? reg(regs, MSR.PERF_GLOBAL_STATUS) : 0,
      debugctl: v.lbr?.debugCtl ?? 0,
      lbr: v.lbr ? { fromIp: [], toIp: [], tos: 0, debugctlLbr: (v.lbr.debugCtl & 1) === 1, pvActive: v.lbr.pvActive } : null,
      mux: { rotation: 0, nextRotateNs: 0 },
      guestObserved: observed,
      pendingPmiNs: pending,
      perf,
    };
  });
  const pvEvents: PvEventRecord[] = [];
  for (const v of src.vcpus) {
    v.pvPerf.forEach((g, k) => {
      for (const e of g.events) {
        const attr = g.attrOf(e.name);
        pvEvents.push({ vcpu: v.index, session: k, id: e.id, event: e.name, type: attr.type, config: attr.config, enabled: g.running && e.lastErrno === '', count: e.baseCount, overflows: e.samples });
      }
    });
  }
  return {
    vm: src.vm,
    mode: src.mode,
    gpCounters: src.arm ? src.arm.nrCounters : guestHasPmu ? first!.shape.gpCounters : 0,
    fixedCounters: guestHasPmu && h ? h.fixedCounters : 0,
    counterWidth: guestHasPmu && h ? h.gpWidthBits : 0,
    vcpus,
    pvEvents,
    filter: filterOf(src.filter),
    armPmu: src.arm?.pmuId ?? '',
    armNrCounters: src.arm?.nrCounters ?? 0,
    eventsInUse: [...src.eventsInUse],
  };
}

/** One field that differs between two states: its path, both values, and the numeric delta. */
export interface VpmuStateMismatch {
  field: string;
  expected: string;
  actual: string;
  /** actual − expected for numbers (0 for other kinds). */
  delta: number;
}

/**
 * Field-by-field comparison (every leaf of the record, arrays by index). `ignore` drops fields by
 * path prefix (e.g. `armPmu`: compared later, where the destination restores it). Pure.
 */
export function diffVpmuState(expected: VpmuStateRecord, actual: VpmuStateRecord, ignore: readonly string[] = []): VpmuStateMismatch[] {
  const out: VpmuStateMismatch[] = [];
  const walk = (path: string, a: unknown, b: unknown): void => {
    if (ignore.some((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`))) return;
    if (Array.isArray(a) || Array.isArray(b)) {
      const x = Array.isArray(a) ? a : [];
      const y = Array.isArray(b) ? b : [];
      if (x.length !== y.length) out.push({ field: `${path}.length`, expected: String(x.length), actual: String(y.length), delta: y.length - x.length });
      for (let i = 0; i < Math.min(x.length, y.length); i++) walk(`${path}[${i}]`, x[i], y[i]);
      return;
    }
    if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
      for (const k of keys) walk(path === '' ? k : `${path}.${k}`, (a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]);
      return;
    }
    if (a === b) return;
    out.push({ field: path, expected: String(a), actual: String(b), delta: typeof a === 'number' && typeof b === 'number' ? b - a : 0 });
  };
  walk('', expected, actual);
  return out;
}

/** Parts of the vPMU state the test-only fault `test-migration-drop-state` can drop. */
export const DROPPABLE_VPMU_STATE = ['counters', 'pmis', 'period'] as const;
export type DroppableVpmuState = (typeof DROPPABLE_VPMU_STATE)[number];

/** A copy of `s` without `what` (what a VMM that forgot to save it would send). Pure. */
export function withoutVpmuState(s: VpmuStateRecord, what: DroppableVpmuState): VpmuStateRecord {
  return {
    ...s,
    vcpus: s.vcpus.map((v) => ({
      ...v,
      counters: what === 'counters' ? v.counters.map((c) => ({ ...c, value: 0 })) : v.counters,
      pendingPmiNs: what === 'pmis' ? [] : v.pendingPmiNs,
      perf: what === 'period' ? v.perf.map((p) => ({ ...p, events: p.events.map((e) => ({ ...e, samplePeriod: 1, lastPeriod: 1, periodLeft: 1 })) })) : v.perf,
    })),
    pvEvents: what === 'counters' ? s.pvEvents.map((e) => ({ ...e, count: 0 })) : s.pvEvents,
  };
}
