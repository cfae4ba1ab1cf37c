// The vPMU side of a live migration in the host world: what the source records when it
// pauses the guest, the VpmuState message it sends, and the checks the destination runs.
//
// - Source, stop-and-copy (the vPMU already quiesced: passthrough context saved, emulated backing
//   events folded and released, paravirt events closed with their counts folded): the continuity
//   reference — every guest-visible counter value, the PMIs raised but not injected, each guest
//   perf event's sampling period and frequency, each paravirt event's accumulated count — goes
//   into the vCPU's runtime (it travels in the snapshot); then the test-only fault
//   `test-migration-drop-state` may drop part of the state (a VMM that forgot to save it); then
//   the VpmuState (libs/migration vpmuStateOf) is taken from what is actually sent.
// - Destination, arrival: the VM's runtime is decoded from the snapshot and CROSS-CHECKED field by
//   field against the decoded VpmuState message: any difference is counter-discontinuity with
//   the field and the delta (the message and the restored vPMU must agree).
// - Destination, resume: paravirt events reopened under their ids; each must read the count it
//   had at the pause. The arm64 PMU device is rebuilt; its PMU id and N must be the message's.
// - Destination, the first VM entry (after the passthrough load / emulated re-attach, before any
//   PMI injection): every counter must read what it read at the pause (no jump, loss or double
//   count), the pending PMIs must be the same (none lost, none duplicated), every guest perf
//   event's sampling period and frequency kept. Each break is one counter-discontinuity finding
//   naming the counter and the delta.
// Pure functions over the runtime pieces the world passes in; nothing here is stored in state.
import { EmulatedVpmu, PassthroughVpmu, type VcpuVpmu, type VcpuWorldPort } from '@vpmu/kvm';
import type { GuestPerfVcpu, GuestPvPerfVcpu } from '@vpmu/guest';
import { DROPPABLE_VPMU_STATE, diffVpmuState, vpmuStateOf, withoutVpmuState, type DroppableVpmuState, type VpmuStateRecord } from '@vpmu/migration';
import { FIXED_COUNTER_ID_BASE, MSR } from '@vpmu/pmu';
import type { VmSpec } from '@vpmu/world-spec';
import type { ActiveFault } from './fault-injector';

/** The finding every broken migration invariant raises. */
export const COUNTER_DISCONTINUITY = 'counter-discontinuity';

/** What the guest could observe at the pause: the destination's first entry must continue from it. */
export interface VcpuMigrationCheck {
  /** Guest-visible counter values (GP then fixed), decimal (they are bigints). */
  counters: string[];
  /** Overflow instants of the PMIs raised and not injected yet. */
  pendingPmiNs: number[];
  /** Each guest perf event's sampling state. */
  sampling: { session: number; event: string; samplePeriod: number; freqHz: number }[];
  /** Each paravirt guest event's accumulated count. */
  pv: { session: number; event: string; count: number }[];
  /** What the test-only drop fault removed ('' = nothing): said in the findings it causes. */
  dropped: string;
}

/** The vCPU runtime fields this file reads and writes (HostWorld's VcpuRuntime has them). */
export interface MigratingVcpu {
  vm: string;
  index: number;
  vpmu: VcpuVpmu | null;
  pendingPmis: number[];
  guestPerf: GuestPerfVcpu[];
  pvPerf: GuestPvPerfVcpu[];
  guestNsTotal: number;
  migrationCheck: VcpuMigrationCheck | null;
}

function counterIds(b: VcpuVpmu): number[] {
  const ids: number[] = [];
  for (let i = 0; i < b.shape.gpCounters; i++) ids.push(i);
  for (let f = 0; f < b.shape.host.fixedCounters; f++) ids.push(FIXED_COUNTER_ID_BASE + f);
  return ids;
}

function counterName(id: number): string {
  return id >= FIXED_COUNTER_ID_BASE ? `fixed${id - FIXED_COUNTER_ID_BASE}` : `gp${id}`;
}

function pendingOf(v: MigratingVcpu): number[] {
  const out = [...v.pendingPmis];
  if (v.vpmu instanceof EmulatedVpmu) out.push(...v.vpmu.pendingOverflows());
  return out;
}

function samplingOf(v: MigratingVcpu): VcpuMigrationCheck['sampling'] {
  return v.guestPerf.flatMap((g, k) => (g.sampling ? g.events.map((e) => ({ session: k, event: e.name, samplePeriod: e.samplePeriod, freqHz: g.spec.sample?.freqHz ?? 0 })) : []));
}

function pvCountsOf(v: MigratingVcpu, peek: (id: number) => number | null): VcpuMigrationCheck['pv'] {
  return v.pvPerf.flatMap((g, k) => g.readings(peek, v.guestNsTotal).map((r) => ({ session: k, event: r.event, count: r.count })));
}

/** The drop fault's `drop` parameter (default: counters). */
export function droppedParts(f: ActiveFault | undefined): DroppableVpmuState[] {
  if (!f) return [];
  const want = f.drop.length > 0 ? f.drop : ['counters'];
  return DROPPABLE_VPMU_STATE.filter((d) => want.includes(d));
}

/** Test-only: removes `what` from a quiesced vCPU's runtime (what the destination then gets). */
function dropFromRuntime(v: MigratingVcpu, what: DroppableVpmuState): void {
  const b = v.vpmu;
  if (what === 'counters') {
    if (b instanceof EmulatedVpmu) for (const k of b.backing) k.base = 0n;
    if (b instanceof PassthroughVpmu) {
      for (let i = 0; i < b.shape.gpCounters; i++) if (!b.gpmu.wrmsr(MSR.IA32_A_PMC0 + i, 0n).ok) b.gpmu.wrmsr(MSR.IA32_PMC0 + i, 0n);
      for (let f = 0; f < b.shape.host.fixedCounters; f++) b.gpmu.wrmsr(MSR.FIXED_CTR0 + f, 0n);
    }
    for (const g of v.pvPerf) for (const e of g.events) e.baseCount = 0;
  } else if (what === 'pmis') {
    v.pendingPmis = [];
    if (b instanceof EmulatedVpmu && b.pendingPmi) b.takePendingOverflows();
  } else {
    for (const g of v.guestPerf) if (g.sampling) for (const e of g.events) e.samplePeriod = e.lastPeriod = e.periodLeft = 1;
  }
}

export interface LeavingVm {
  spec: VmSpec;
  eventsInUse: readonly string[];
  vcpus: readonly MigratingVcpu[];
  /** Per vCPU: the source's services (quiesced: only the continuity reference reads through them). */
  opsOf: (vcpu: number) => VcpuWorldPort;
  lbrOf: (vcpu: number) => { debugCtl: number; pvActive: boolean } | null;
  arm: { pmuId: string; nrCounters: number } | null;
  /** The active `test-migration-drop-state` fault for this VM, if any. */
  drop: ActiveFault | undefined;
}

/**
 * Source, stop-and-copy, after the vCPUs are paused and their vPMU quiesced: records each vCPU's
 * continuity reference, applies the test-only drop fault, and returns the VpmuState to send.
 */
export function leaveWithVpmuState(vm: LeavingVm): VpmuStateRecord {
  const parts = droppedParts(vm.drop);
  const fromMessageOnly = vm.drop?.dropFrom === 'message';
  vm.vcpus.forEach((v, i) => {
    const ops = vm.opsOf(i);
    v.migrationCheck = {
      counters: v.vpmu ? counterIds(v.vpmu).map((id) => v.vpmu!.peek(ops, id).toString()) : [],
      pendingPmiNs: pendingOf(v),
      sampling: samplingOf(v),
      pv: pvCountsOf(v, () => null),
      dropped: parts.length > 0 ? `${parts.join('+')} dropped from the ${fromMessageOnly ? 'VpmuState message' : 'migrated state'} by the test-only fault test-migration-drop-state` : '',
    };
    if (!fromMessageOnly) for (const p of parts) dropFromRuntime(v, p);
  });
  let state = vpmuStateOf({
    vm: vm.spec.id,
    mode: vm.spec.vpmu.mode,
    eventsInUse: vm.eventsInUse,
    arm: vm.arm,
    filter: vm.spec.vpmu.filter,
    vcpus: vm.vcpus.map((v, i) => ({ index: v.index, backend: v.vpmu, pendingPmiNs: v.pendingPmis, guestPerf: v.guestPerf, pvPerf: v.pvPerf, guestNs: v.guestNsTotal, lbr: vm.lbrOf(i) })),
  });
  if (fromMessageOnly) for (const p of parts) state = withoutVpmuState(state, p);
  return state;
}

/**
 * Destination, arrival: the vPMU restored from the snapshot against the decoded VpmuState. The
 * guest LBR and the arm64 PMU device are not in the snapshot (the destination rebuilds them): the
 * LBR fields are not compared, the arm64 ones at resume (checkArmAfterResume).
 */
export function crossCheckArrival(message: VpmuStateRecord, spec: VmSpec, eventsInUse: readonly string[], vcpus: readonly MigratingVcpu[]): string[] {
  const restored = vpmuStateOf({
    vm: spec.id,
    mode: spec.vpmu.mode,
    eventsInUse,
    arm: message.armPmu !== '' ? { pmuId: message.armPmu, nrCounters: message.armNrCounters } : null,
    filter: spec.vpmu.filter,
    vcpus: vcpus.map((v, i) => ({ index: v.index, backend: v.vpmu, pendingPmiNs: v.pendingPmis, guestPerf: v.guestPerf, pvPerf: v.pvPerf, guestNs: v.guestNsTotal, lbr: message.vcpus[i]?.lbr ? { debugCtl: message.vcpus[i].debugctl, pvActive: message.vcpus[i].lbr!.pvActive } : null })),
  });
  if (message.armPmu === '' && message.gpCounters !== restored.gpCounters && restored.gpCounters === 0) restored.gpCounters = message.gpCounters;
  return diffVpmuState(message, restored).map((d) => `${spec.id}: the vPMU restored on the destination differs from the VpmuState message at ${d.field}: message ${d.expected}, restored ${d.actual} (delta ${signed(d.delta)})`);
}

/** Destination, resume (paravirt events reopened): each paravirt event continues from its count. */
export function checkPvAfterResume(v: MigratingVcpu, peek: (id: number) => number | null): string[] {
  const before = v.migrationCheck?.pv ?? [];
  if (before.length === 0) return [];
  const now = pvCountsOf(v, peek);
  const out: string[] = [];
  before.forEach((b, k) => {
    const a = now[k];
    if (a && a.count !== b.count) out.push(`${v.vm}/vcpu${v.index}: paravirt event ${b.event} (session ${b.session}) reads ${a.count} after migration, ${b.count} before: delta ${signed(a.count - b.count)}${dropNote(v)}`);
  });
  return out;
}

/** Destination, resume: the rebuilt arm64 PMU device must be the one the message names. */
export function checkArmAfterResume(message: VpmuStateRecord | undefined, now: { pmuId: string; nrCounters: number } | null): string[] {
  if (!message || message.armPmu === '' || now === null) return [];
  const out: string[] = [];
  if (now.pmuId !== message.armPmu) out.push(`${message.vm}: arm64 PMU is ${now.pmuId} after migration, ${message.armPmu} before`);
  if (now.nrCounters !== message.armNrCounters) out.push(`${message.vm}: arm64 PMU has N=${now.nrCounters} event counters after migration, ${message.armNrCounters} before: delta ${signed(now.nrCounters - message.armNrCounters)}`);
  return out;
}

/**
 * Destination, the first VM entry after arrival (vPMU loaded / re-attached, PMIs not injected):
 * the continuity invariants. Clears the reference (checked once).
 */
export function checkFirstEntry(v: MigratingVcpu, ops: VcpuWorldPort): string[] {
  const ref = v.migrationCheck;
  if (!ref) return [];
  v.migrationCheck = null;
  const out: string[] = [];
  const who = `${v.vm}/vcpu${v.index}`;
  if (v.vpmu) {
    counterIds(v.vpmu).forEach((id, k) => {
      const before = ref.counters[k];
      if (before === undefined) return;
      const after = v.vpmu!.peek(ops, id);
      if (after.toString() !== before) out.push(`${who}: guest counter ${counterName(id)} reads ${after} after migration, ${before} before: delta ${signed(Number(after - BigInt(before)))}${dropNote(v, ref)}`);
    });
  }
  const now = pendingOf(v);
  const lost = ref.pendingPmiNs.filter((o) => !now.includes(o));
  const dup = now.length - (ref.pendingPmiNs.length - lost.length);
  if (lost.length > 0) out.push(`${who}: ${lost.length} pending PMI(s) (overflow at ${lost.join(', ')} ns) lost across the migration: delta -${lost.length}${dropNote(v, ref)}`);
  if (dup > 0) out.push(`${who}: ${dup} PMI(s) pending after migration that were not pending before (duplicated or invented): delta +${dup}`);
  const sampling = samplingOf(v);
  ref.sampling.forEach((b, k) => {
    const a = sampling[k];
    if (!a) return;
    if (a.samplePeriod !== b.samplePeriod) out.push(`${who}: guest perf event ${b.event} (session ${b.session}) sampling period ${a.samplePeriod} after migration, ${b.samplePeriod} before: delta ${signed(a.samplePeriod - b.samplePeriod)}${dropNote(v, ref)}`);
    if (a.freqHz !== b.freqHz) out.push(`${who}: guest perf event ${b.event} (session ${b.session}) sampling frequency ${a.freqHz} Hz after migration, ${b.freqHz} Hz before: delta ${signed(a.freqHz - b.freqHz)}`);
  });
  return out;
}

function dropNote(v: MigratingVcpu, ref: VcpuMigrationCheck | null = v.migrationCheck): string {
  return ref && ref.dropped !== '' ? ` (${ref.dropped})` : '';
}

function signed(n: number): string {
  return n >= 0 ? `+${n}` : String(n);
}
