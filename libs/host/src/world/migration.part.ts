// Live migration on one simulated host, both ends. Source: a timeline `migrate` action is checked
// (the VM is here and not already migrating, the destination exists and offers the PMU the guest
// uses), then setup, the pre-copy passes of the plan, and stop-and-copy: the VM's vCPUs leave the
// scheduler, the vPMU is quiesced (emulated backing events folded and released, paravirt events
// closed), and the VM's state and its VpmuState message travel to the destination in a transfer.
// Destination: the arriving state is cross-checked against the message, the VM resumes at the
// transfer's ready instant (the vPMU side of the checks is migration-world.ts).
import type { MigrationPhaseName } from '@vpmu/sim';
import { decodeSnapshot, encodeSnapshot, Prng, SnapshotRegistry } from '@vpmu/sim';
import { migrationIncompatibility, planPrecopy, type PrecopyPlan, type VpmuStateRecord } from '@vpmu/migration';
import { CostModel, EmulatedVpmu, KvmEventFilter, MediatedVpmu, NoneVpmu, PassthroughVpmu } from '@vpmu/kvm';
import { GuestPerfVcpu, GuestPmuContext } from '@vpmu/guest';
import { CounterBank, EventRates, IntelPmu } from '@vpmu/pmu';
import { guestPmuNeeds, pmuShapeOfHost } from '../host-presets';
import { checkArmAfterResume, checkPvAfterResume, COUNTER_DISCONTINUITY, crossCheckArrival, leaveWithVpmuState } from '../migration-world';
import { EXT_VM_SNAPSHOT_CLASSES } from '../world-extensions.classes';
import type { WorldCore } from './world-core';
import type { Thread, VmRuntime, VmTransferOut } from './world-state';

/** Setup phase of a migration (connection, capability negotiation): no public figure; 1 ms chosen. */
export const MIGRATION_SETUP_NS = 1_000_000;
/** Device and vPMU state sent in stop-and-copy besides dirty memory: 256 KiB chosen. */
export const MIGRATION_DEVICE_STATE_BYTES = 256 * 1024;

export type MigrationItem = { p: 'migration'; t: 'pass'; vm: string; pass: number } | { p: 'migration'; t: 'stop'; vm: string } | { p: 'migration'; t: 'resume'; vm: string };

/** Classes a migrating VM's state may contain. */
const VM_SNAPSHOT_REGISTRY = new SnapshotRegistry().registerAll([Prng, EventRates, IntelPmu, CounterBank, CostModel, NoneVpmu, PassthroughVpmu, MediatedVpmu, EmulatedVpmu, KvmEventFilter, GuestPerfVcpu, GuestPmuContext]).registerAll(EXT_VM_SNAPSHOT_CLASSES);

interface MigrationInFlight {
  to: string;
  plan: PrecopyPlan;
}

export class MigrationPart {
  private readonly migrations = new Map<string, MigrationInFlight>();
  /** VMs that left: until when they are still in flight (an action for them then is refused). */
  private readonly departed = new Map<string, number>();
  /** VMs that arrived and wait for their resume instant. */
  private readonly arriving = new Map<string, number>();
  private readonly pendingResume = new Map<string, { readyAtNs: number; fromHost: string; vpmu?: VpmuStateRecord }>();
  private transfers: VmTransferOut[] = [];

  constructor(private readonly w: WorldCore) {}

  dispatch(item: MigrationItem): void {
    switch (item.t) {
      case 'pass':
        return this.onPass(item.vm, item.pass);
      case 'stop':
        return this.onStop(item.vm);
      case 'resume':
        return this.onResume(item.vm);
    }
  }

  /** The VMs that left this host since the last call. */
  takeTransfers(): VmTransferOut[] {
    const out = this.transfers;
    this.transfers = [];
    return out;
  }

  /**
   * The earliest virtual time at which a migration already in flight here hands its VM off to
   * another host (its stop-and-copy), or Infinity. Each in-flight migration has exactly one
   * pending pass or stop item; from it on the plan fixes the rest: pass k at x stops at x plus
   * the durations of passes k.. of the plan. A new migration starts only from a timeline action,
   * which the conductor knows ahead (the engine's epoch schedule bounds those).
   */
  earliestHandOffNs(): number {
    let earliestNs = Infinity;
    for (const entry of this.w.queue.pending()) {
      const item = entry.item;
      if (item.p !== 'migration' || item.t === 'resume') continue;
      let stopNs = entry.dueNs;
      if (item.t === 'pass') {
        const passes = this.migrations.get(item.vm)!.plan.passes;
        for (let k = item.pass; k < passes.length; k++) stopNs += passes[k].durationNs;
      }
      earliestNs = Math.min(earliestNs, stopNs);
    }
    return earliestNs;
  }

  /** A timeline `migrate` action (every host sees it; the one holding the VM acts). */
  onMigrate(vmId: string, to: string, bandwidthBytesPerSec: number, maxDowntimeNs: number): void {
    const w = this.w;
    const vm = w.vms.get(vmId);
    const inFlightUntil = this.departed.get(vmId) ?? this.arriving.get(vmId);
    if (inFlightUntil !== undefined && w.nowNs < inFlightUntil && (vm === undefined || this.arriving.has(vmId))) {
      // Only the host the VM left (or is arriving at) answers, so the refusal is reported once.
      if (this.departed.has(vmId) || this.arriving.has(vmId)) {
        this.refuse(vmId, to, `the VM is still migrating until ${inFlightUntil} ns`);
      }
      return;
    }
    if (!vm) return;
    if (this.migrations.has(vmId)) {
      this.refuse(vmId, to, 'a migration of this VM is already in progress');
      return;
    }
    const dest = w.scenario.hosts.find((h) => h.id === to);
    if (!dest) {
      this.refuse(vmId, to, `host ${to} does not exist`);
      return;
    }
    const reason = migrationIncompatibility(guestPmuNeeds(vm.spec, w.spec, vm.trackedEvents), pmuShapeOfHost(dest), to);
    if (reason !== null) {
      this.refuse(vmId, to, reason);
      return;
    }
    const plan = planPrecopy({
      memoryBytes: vm.spec.memoryBytes,
      dirtyBytesPerSec: vm.ratesSpec.dirtyBytesPerSec,
      bandwidthBytesPerSec,
      maxDowntimeNs,
      stateBytes: MIGRATION_DEVICE_STATE_BYTES,
    });
    this.migrations.set(vmId, { to, plan });
    this.emitPhase(vmId, to, 'setup', MIGRATION_SETUP_NS, 0, 0);
    w.queue.push(w.nowNs + MIGRATION_SETUP_NS, plan.passes.length > 0 ? { p: 'migration', t: 'pass', vm: vmId, pass: 0 } : { p: 'migration', t: 'stop', vm: vmId });
  }

  private refuse(vmId: string, to: string, reason: string): void {
    this.emitPhase(vmId, to, 'refused', 0, 0, 0, reason);
    this.w.finding({ host: this.w.id, vm: vmId }, 'migration-refused-incompatible', `migration of ${vmId} to ${to} refused: ${reason}`);
  }

  private onPass(vmId: string, pass: number): void {
    const w = this.w;
    const m = this.migrations.get(vmId)!;
    const p = m.plan.passes[pass];
    this.emitPhase(vmId, m.to, 'precopy', p.durationNs, p.bytes, p.iteration);
    const next: MigrationItem = pass + 1 < m.plan.passes.length ? { p: 'migration', t: 'pass', vm: vmId, pass: pass + 1 } : { p: 'migration', t: 'stop', vm: vmId };
    w.queue.push(w.nowNs + p.durationNs, next);
  }

  /** Stop-and-copy: pause the guest, send what is left and the VM's state to the destination. */
  private onStop(vmId: string): void {
    const w = this.w;
    const m = this.migrations.get(vmId)!;
    this.migrations.delete(vmId);
    const vm = w.vms.get(vmId)!;
    const note = m.plan.converged ? undefined : 'pre-copy did not converge: downtime exceeds maxDowntime';
    this.emitPhase(vmId, m.to, 'stop-and-copy', m.plan.stopAndCopyNs, m.plan.stopAndCopyBytes, 0, note);
    const threads: Thread[] = [];
    for (const id of vm.threads) {
      const t = w.threads.get(id)!;
      w.sched.remove(t);
      const v = t.vcpu!;
      // The vPMU state travels with the VM: the guest counters must continue exactly.
      if (v.vpmu instanceof EmulatedVpmu) {
        v.vpmu.detach(w.portOf(t));
        v.reattach = true;
      }
      for (const g of v.pvPerf) g.detach((pvId) => w.paravirt.peek(t, pvId), v.guestNsTotal);
      threads.push(t);
      w.threads.delete(id);
    }
    // The quiesced vPMU: continuity references, the test-only drop fault, the VpmuState message.
    const vpmuState = leaveWithVpmuState({
      spec: vm.spec,
      eventsInUse: vm.trackedEvents,
      vcpus: threads.map((t) => t.vcpu!),
      opsOf: (i) => w.portOf(threads[i]),
      lbrOf: (i) => w.lbrWorld?.guestLbr(threads[i].id) ?? null,
      arm: w.armWorld?.pmuOf(vmId) ?? null,
      drop: w.fidelity.injector.active('test-migration-drop-state', vmId, w.id, w.nowNs),
    });
    w.vms.delete(vmId);
    w.lbrWorld?.removeVm(vmId);
    w.armWorld?.removeVm(vmId);
    w.pv.removeVm(vmId, w.portOf(threads[0])); // the paravirt table travels as guest state; its host events are closed here
    for (const t of threads) w.ports.delete(t.id);
    const readyAtNs = w.nowNs + m.plan.stopAndCopyNs;
    this.departed.set(vmId, readyAtNs);
    this.transfers.push({
      vm: vmId,
      fromHost: w.id,
      toHost: m.to,
      pausedAtNs: w.nowNs,
      readyAtNs,
      bytesSent: m.plan.totalBytes,
      guestState: encodeSnapshot({ vm, threads }, VM_SNAPSHOT_REGISTRY),
      vpmu: vpmuState,
    });
  }

  /** Destination: a VM delivered by its source host; it resumes at its ready instant. */
  acceptArrival(tr: VmTransferOut): void {
    const w = this.w;
    const { vm, threads } = decodeSnapshot<{ vm: VmRuntime; threads: Thread[] }>(tr.guestState, VM_SNAPSHOT_REGISTRY);
    const all = w.sched.cpus.map((c) => c.index);
    // The VM's affinity names the source's pCPUs; on the destination its vCPUs may run anywhere.
    vm.spec = { ...vm.spec, host: w.id, affinity: vm.spec.affinity.map(() => [...all]) };
    // The workload's speed on this host's core types (none but the one rate on a non-arm host).
    vm.coreRates = w.armWorld ? w.armWorld.coreRates(vm.guestRates) : null;
    w.vms.set(vm.spec.id, vm);
    for (const t of threads) {
      // Time per core type is kept by the preset's cluster index; a host with other core types
      // resizes it (a simplification: counts across arm presets are not converted).
      const cores = w.armWorld?.coreTypes ?? 0;
      const v = t.vcpu!;
      v.coreNs = Array.from({ length: cores }, (_, c) => v.coreNs[c] ?? 0);
      v.coreNsEpoch = Array(cores).fill(0);
      t.affinity = [...all];
      t.cpu = all[0];
      t.gen = 0;
      t.runnable = false;
      w.threads.set(t.id, t);
      w.attachPort(t);
    }
    if (tr.vpmu) {
      for (const d of crossCheckArrival(tr.vpmu, vm.spec, vm.trackedEvents, threads.map((t) => t.vcpu!))) w.finding({ host: w.id, vm: vm.spec.id }, COUNTER_DISCONTINUITY, d);
    }
    const resumeAtNs = Math.max(tr.readyAtNs, w.nowNs);
    this.arriving.set(vm.spec.id, resumeAtNs);
    this.pendingResume.set(vm.spec.id, { readyAtNs: tr.readyAtNs, fromHost: tr.fromHost, ...(tr.vpmu && { vpmu: tr.vpmu }) });
    w.queue.push(resumeAtNs, { p: 'migration', t: 'resume', vm: vm.spec.id });
  }

  private onResume(vmId: string): void {
    const w = this.w;
    const vm = w.vms.get(vmId)!;
    const r = this.pendingResume.get(vmId)!;
    this.pendingResume.delete(vmId);
    this.arriving.delete(vmId);
    w.emit({ kind: 'migrationPhase', atNs: w.nowNs, at: { host: w.id, vm: vmId }, fromHost: r.fromHost, toHost: w.id, phase: 'resume', durationNs: w.nowNs - r.readyAtNs, bytes: 0, iteration: 0 });
    w.pv.addVm(vm.spec);
    w.armWorld?.addVm(vm.spec, w, w.nowNs);
    for (const id of vm.threads) {
      const t = w.threads.get(id)!;
      const v = t.vcpu!;
      // KVM on the destination reopens the guest's paravirt events under their ids (downtime, no guest exits).
      const port = w.portOf(t);
      port.withoutExits(() => {
        for (const g of v.pvPerf) g.attach(port, v.guestNsTotal);
      });
      for (const d of checkPvAfterResume(v, (pvId) => w.paravirt.peek(t, pvId))) w.finding({ host: w.id, vm: vmId, vcpu: v.index }, COUNTER_DISCONTINUITY, d);
    }
    for (const d of checkArmAfterResume(r.vpmu, w.armWorld?.pmuOf(vmId) ?? null)) w.finding({ host: w.id, vm: vmId }, COUNTER_DISCONTINUITY, d);
    for (const id of vm.threads) w.sched.wake(w.threads.get(id)!);
  }

  private emitPhase(vmId: string, to: string, phase: MigrationPhaseName, durationNs: number, bytes: number, iteration: number, detail?: string): void {
    const w = this.w;
    w.emit({ kind: 'migrationPhase', atNs: w.nowNs, at: { host: w.id, vm: vmId }, fromHost: w.id, toHost: to, phase, durationNs, bytes, iteration, ...(detail !== undefined && { detail }) });
  }
}
