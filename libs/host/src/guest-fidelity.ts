// What HostWorld calls for vPMU fidelity and guest isolation (one small hook per place in the
// world): the fault injector (fault-injector.ts) bends the simulated hardware / KVM paths, the
// monitors (fidelity-monitor.ts, isolation-monitor.ts) check what the guest observes against the
// ground truth. The injector never tells the monitors anything: they see only guest-visible values,
// the workload's true rates, overflow instants and the vCPU's guest run time.
//
// Hook points (HostWorld): a `fault` action; the rates a guest runs at (enterGuest); VM entry
// after the PMU context load and before PMI injection (onEntry), after it (afterEntry); VM exit
// before the context save (onLeave) and the exit itself (onExit); a PMI reaching the CPU
// (onPmiArrival); every guest PMU access (guest perf through the vCPU port, guest programs); the
// periodic samples; the end of the run (vmRecords).
import { EmulatedVpmu, ONE_INSTRUCTION, PassthroughVpmu, programLoopCounts, type VcpuVpmu, type VcpuWorldPort } from '@vpmu/kvm';
import { EVTSEL, FIXED_COUNTER_ID_BASE, INTEL_FIXED_COUNTER_EVENTS, MSR, RDPMC_FIXED, eventIndex, intelEventIndex, type EventRates } from '@vpmu/pmu';
import type { PerfCore } from '@vpmu/perf';
import type { TimelineEntry, VmSpec } from '@vpmu/world-spec';
import type { GuestPerfEvent, Prng } from '@vpmu/sim';
import { FaultInjector } from './fault-injector';
import { FidelityMonitor, emptyStats, skidToleranceNs, type FidelityVcpu, type VcpuFidelity } from './fidelity-monitor';
import { addGuestCounts, applyConfigWrite, configTargets, counterIndex, counterOfMsr, integrate, movedSince, newGuestCounterShadow, rebase } from './guest-counter-shadow';

// A module-level copy: the barrel's re-export is a getter, read here at every VM entry.
const EmulatedVpmuClass = EmulatedVpmu;

/** guestPerf records with this command carry a VM's fidelity figures to the summary. */
export const FIDELITY_RECORD_COMMAND = 'fidelity';
const EV_BRANCHES = eventIndex('branches');

export class GuestFidelity {
  readonly injector: FaultInjector;

  constructor(
    private readonly hostId: string,
    root: Prng,
  ) {
    this.injector = new FaultInjector(root.child('faults'));
  }

  /** Fidelity state of a new vCPU (null without an x86 vPMU the monitors understand). */
  newVcpu(spec: VmSpec, index: number, vpmu: VcpuVpmu | null, truth: EventRates): VcpuFidelity | null {
    if (!(vpmu instanceof PassthroughVpmu) && !(vpmu instanceof EmulatedVpmu)) return null;
    const h = vpmu.shape.host;
    return {
      vm: spec.id,
      vcpu: index,
      label: `${spec.id}/vcpu${index}`,
      rates: truth,
      filter: spec.vpmu.filter,
      monitorsFilter: vpmu instanceof EmulatedVpmu || vpmu.interceptEventSelect,
      shadow: newGuestCounterShadow(vpmu.shape.gpCounters, h.fixedCounters, h.gpWidthBits, h.fixedWidthBits),
      exits: 0,
      pmis: 0,
      pmisThisEntry: 0,
      raised: [],
      skidToleranceNs: skidToleranceNs(truth),
      skids: [],
      skidStride: 1,
      skidSeen: 0,
      stats: emptyStats(),
      detected: {},
      faults: this.injector.newVcpu(spec.id, index),
    };
  }

  /** A timeline `fault`: null when accepted, else why it was refused. */
  onFault(entry: TimelineEntry): string | null {
    return this.injector.add(entry);
  }

  guestRates(v: FidelityVcpu, truth: EventRates, nowNs: number): EventRates {
    return this.injector.faults.length === 0 ? truth : this.injector.guestRates(truth, v.vm, this.hostId, nowNs);
  }

  /** VM entry, the guest context loaded, PMIs not injected yet. */
  onEntry(v: FidelityVcpu, ops: VcpuWorldPort, nowNs: number, perf: PerfCore, pcpu: number): void {
    const fx = v.fidelity;
    const vpmu = v.vpmu;
    if (!fx || !vpmu) return;
    fx.pmisThisEntry = 0;
    if (this.injector.faults.length > 0 && vpmu instanceof PassthroughVpmu && vpmu.loaded) this.testFaultsAtEntry(v, vpmu, ops, nowNs, perf, pcpu);
    // What the exit did to the counters. Full checks (isolation of every exposed counter
    // included) run at guest reads and at the samples, not at every entry: the context switch
    // runs tens of thousands of times per simulated second.
    FidelityMonitor.settleExit(fx, vpmu, ops);
    if (this.injector.faults.length > 0 || fx.faults.held.length > 0) this.gatePmis(v, vpmu, nowNs);
    const emulatedPmi = vpmu instanceof EmulatedVpmuClass && vpmu.pendingPmi;
    if (v.pendingPmis.length === 0 && !emulatedPmi) return; // the common case: nothing to inject
    const injecting = [...v.pendingPmis];
    if (emulatedPmi) injecting.push(vpmu.pendingPmiOverflowNs);
    // The point before the injection: what changes until afterEntry is the PMI path's doing.
    FidelityMonitor.checkAll(fx, vpmu, ops, v.guestNsTotal, false);
    for (const o of injecting) FidelityMonitor.pmiDelivered(fx, v, ops, o);
    const extra = injecting.length > 0 ? this.injector.pmiOvercountEvents(v.vm, this.hostId, nowNs) : 0;
    if (extra !== 0) this.onBehalf(fx, bumpGuestCounters(vpmu, ops, extra * injecting.length, -1), extra * injecting.length);
  }

  /** After the PMI injection and the guest's handler at an entry. */
  afterEntry(v: FidelityVcpu, ops: VcpuWorldPort): void {
    const fx = v.fidelity;
    if (!fx || !v.vpmu || fx.pmisThisEntry === 0) return;
    FidelityMonitor.checkAll(fx, v.vpmu, ops, v.guestNsTotal, false);
  }

  /** VM exit, guest time accounted, the guest context still loaded. */
  onLeave(v: FidelityVcpu, ops: VcpuWorldPort): void {
    const fx = v.fidelity;
    if (!fx || !v.vpmu) return;
    FidelityMonitor.probeExit(fx, v.vpmu, ops);
  }

  /** A VM exit of `reason` (after onLeave). */
  onExit(v: FidelityVcpu, reason: string, ops: VcpuWorldPort, nowNs: number): void {
    const fx = v.fidelity;
    if (!fx || !v.vpmu) return;
    fx.exits++;
    fx.stats.exits++;
    if (this.injector.faults.length === 0) return;
    const delta = this.injector.exitBranchDelta(v.vm, this.hostId, nowNs, reason);
    if (delta !== 0) this.onBehalf(fx, bumpGuestCounters(v.vpmu, ops, delta, EV_BRANCHES), delta);
  }

  /**
   * Ground truth of a fault's physical effect: the hypervisor ran `events` in the guest's counting
   * context on its behalf. They are the guest's own for isolation (not a foreign value), never for
   * fidelity (the guest did not retire them): only `ownBound` moves.
   */
  private onBehalf(fx: VcpuFidelity, counterIds: number[], events: number): void {
    if (events <= 0) return;
    for (const id of counterIds) {
      const k = counterIndex(fx.shadow, id);
      if (k >= 0) fx.shadow.counters[k].ownBound += events;
    }
  }

  /**
   * A guest counter's PMI reaches the CPU (passthrough) or its backing event fired (emulated).
   * Returns how long pmi-skid holds it back (0 = deliver now).
   */
  onPmiArrival(v: FidelityVcpu, overflowNs: number, counter: number, nowNs: number, guestRunning: boolean): number {
    const fx = v.fidelity;
    if (!fx) return 0;
    FidelityMonitor.pmiRaised(fx, v, overflowNs, counter);
    if (!guestRunning || this.injector.faults.length === 0) return 0;
    return this.injector.pmiArrivalDelayNs(fx.faults, v.vm, this.hostId, nowNs, overflowNs * 64 + counter + 1);
  }

  // ---- guest PMU accesses ---------------------------------------------------------------------

  /** Before a guest WRMSR: check the counter it overwrites, integrate what its config change ends. */
  beforeGuestWrite(v: FidelityVcpu, ops: VcpuWorldPort, msr: number): void {
    const fx = v.fidelity;
    if (!fx || !v.vpmu) return;
    const k = counterOfMsr(fx.shadow, msr);
    if (k >= 0) FidelityMonitor.check(fx, v.vpmu, ops, k, v.guestNsTotal);
    for (const c of configTargets(fx.shadow, msr)) integrate(fx.shadow, c, v.guestNsTotal, fx.rates);
  }

  /** After a guest WRMSR that succeeded. */
  afterGuestWrite(v: FidelityVcpu, ops: VcpuWorldPort, msr: number, value: bigint): void {
    const fx = v.fidelity;
    if (!fx || !v.vpmu) return;
    const k = counterOfMsr(fx.shadow, msr);
    if (k >= 0) {
      const c = fx.shadow.counters[k];
      rebase(c, v.vpmu.peek(ops, c.id));
      return;
    }
    const targets = configTargets(fx.shadow, msr);
    const wasDenied = targets.map((c) => c.denied);
    applyConfigWrite(fx.shadow, msr, value, fx.filter);
    targets.forEach((c, j) => {
      if (c.denied && !wasDenied[j]) c.movedAtDeny = movedSince(c, v.vpmu!.peek(ops, c.id));
    });
  }

  /** A guest RDMSR that returned `value`. */
  onGuestRdmsr(v: FidelityVcpu, ops: VcpuWorldPort, msr: number, value: bigint): void {
    const fx = v.fidelity;
    if (!fx || !v.vpmu) return;
    const k = counterOfMsr(fx.shadow, msr);
    // Legacy IA32_PMCx reads may be truncated to 32 bits: check those through the full-width view.
    const legacy = msr >= MSR.IA32_PMC0 && msr < MSR.IA32_PMC0 + 8;
    if (k >= 0) FidelityMonitor.check(fx, v.vpmu, ops, k, v.guestNsTotal, legacy ? undefined : value);
  }

  /** A guest RDPMC that returned `value`. */
  onGuestRdpmc(v: FidelityVcpu, ops: VcpuWorldPort, index: number, value: bigint): void {
    const fx = v.fidelity;
    if (!fx || !v.vpmu) return;
    const id = index & RDPMC_FIXED ? FIXED_COUNTER_ID_BASE + (index & (RDPMC_FIXED - 1)) : index;
    const k = counterIndex(fx.shadow, id);
    if (k >= 0) FidelityMonitor.check(fx, v.vpmu, ops, k, v.guestNsTotal, value);
  }

  /** A guest program's loop of known instructions and branches. */
  onGuestLoop(v: FidelityVcpu, instructions: number, branches: number): void {
    const fx = v.fidelity;
    if (!fx) return;
    for (const c of fx.shadow.counters) integrate(fx.shadow, c, v.guestNsTotal, fx.rates);
    addGuestCounts(fx.shadow, programLoopCounts(instructions, branches));
  }

  /** A guest program's WRMSR / RDMSR / RDPMC that completed: one instruction retired in guest kernel mode. */
  onGuestInstructionRetired(v: FidelityVcpu): void {
    const fx = v.fidelity;
    if (!fx) return;
    for (const c of fx.shadow.counters) integrate(fx.shadow, c, v.guestNsTotal, fx.rates);
    addGuestCounts(fx.shadow, ONE_INSTRUCTION);
  }

  /** The periodic sample: every exposed counter, and PMIs that never came. */
  onSample(v: FidelityVcpu, ops: VcpuWorldPort): void {
    const fx = v.fidelity;
    if (!fx || !v.vpmu) return;
    FidelityMonitor.checkAll(fx, v.vpmu, ops, v.guestNsTotal, true);
    FidelityMonitor.scanLost(fx, v, ops);
  }

  /** End of the run: the VM's fidelity figures as guestPerf records (command "fidelity"). */
  vmRecords(vmId: string, vcpus: readonly FidelityVcpu[], opsOf: readonly VcpuWorldPort[], nowNs: number): GuestPerfEvent[] {
    const all: VcpuFidelity[] = [];
    vcpus.forEach((v, i) => {
      if (!v.fidelity || !v.vpmu) return;
      FidelityMonitor.checkAll(v.fidelity, v.vpmu, opsOf[i], v.guestNsTotal, true);
      FidelityMonitor.scanLost(v.fidelity, v, opsOf[i]);
      all.push(v.fidelity);
    });
    if (all.length === 0) return [];
    const figures = FidelityMonitor.vmFigures(all);
    return Object.entries(figures).map(([event, count]) => ({
      kind: 'guestPerf',
      atNs: nowNs,
      at: { host: this.hostId, vm: vmId },
      command: FIDELITY_RECORD_COMMAND,
      event,
      count,
      timeEnabledNs: 0,
      timeRunningNs: 0,
      samples: 0,
    }));
  }

  // ---- fault effects that need the vPMU --------------------------------------------------------

  /** drop-pmi / late-pmi: what KVM injects at this entry. */
  private gatePmis(v: FidelityVcpu, vpmu: VcpuVpmu, nowNs: number): void {
    const fx = v.fidelity!;
    const pending = [...v.pendingPmis];
    if (vpmu instanceof EmulatedVpmu && vpmu.pendingPmi) {
      // The backing events' overflows behind the one pending virtual PMI (KVM_REQ_PMI).
      const em = vpmu as EmulatedVpmu & { takePendingOverflows?: () => number[] };
      if (typeof em.takePendingOverflows === 'function') pending.push(...em.takePendingOverflows());
      else pending.push(vpmu.pendingPmiOverflowNs);
      vpmu.pendingPmi = false;
    }
    const inject = this.injector.gatePmis(fx.faults, v.vm, this.hostId, nowNs, pending);
    v.pendingPmis.length = 0;
    v.pendingPmis.push(...inject);
  }

  /** Test-only faults at entry (passthrough, context loaded): break isolation on purpose. */
  private testFaultsAtEntry(v: FidelityVcpu, vpmu: PassthroughVpmu, ops: VcpuWorldPort, nowNs: number, perf: PerfCore, pcpu: number): void {
    const hw = ops.loadedPmu();
    if (this.injector.active('test-leak-host-counter', v.vm, this.hostId, nowNs)) {
      const hostValue = hostProducedValue(perf, pcpu, nowNs);
      for (let i = 0; i < vpmu.shape.gpCounters; i++) {
        const sel = hw.rdmsr(MSR.IA32_PERFEVTSEL0 + i);
        const val = hw.rdmsr(MSR.IA32_A_PMC0 + i);
        if (sel.ok && (Number(sel.value) & EVTSEL.EN) === 0 && val.ok && val.value === 0n) hw.wrmsr(MSR.IA32_A_PMC0 + i, BigInt(hostValue));
      }
    }
    if (vpmu.interceptEventSelect && this.injector.active('test-filter-bypass', v.vm, this.hostId, nowNs)) {
      for (let i = 0; i < vpmu.shape.gpCounters; i++) {
        const want = vpmu.shadowSel[i];
        const sel = hw.rdmsr(MSR.IA32_PERFEVTSEL0 + i);
        if ((want & EVTSEL.EN) !== 0 && sel.ok && Number(sel.value) !== want) hw.wrmsr(MSR.IA32_PERFEVTSEL0 + i, BigInt(want));
      }
    }
  }
}

/** A value the host produced on this pCPU: its largest host perf count there, else host cycles so far. */
function hostProducedValue(perf: PerfCore, pcpu: number, nowNs: number): number {
  let best = 0;
  // Only this pCPU's events: the other pCPUs' perf contexts may still be behind now.
  const here = `@cpu${pcpu}`;
  for (const r of perf.readAll(nowNs, (id) => id.endsWith(here))) if (r.count > best) best = r.count;
  return best > 0 ? best : Math.max(1, nowNs * 3);
}

/**
 * Moves every counter the guest has enabled (of workload event `event`, -1 = all) by `delta`
 * through the vPMU's own registers: what a faulty PMI or exit path does to the guest's counts.
 * Not a guest access: the exits it would take are not charged.
 */
export function bumpGuestCounters(vpmu: VcpuVpmu, ops: VcpuWorldPort, delta: number, event: number): number[] {
  const bumped: number[] = [];
  const traps = vpmu.traps.length;
  const rd = (msr: number): number => {
    const r = vpmu.rdmsr(ops, msr);
    return r.ok ? Number(r.value & 0xffff_ffffn) : 0;
  };
  const global = vpmu.rdmsr(ops, MSR.PERF_GLOBAL_CTRL);
  const g = global.ok ? global.value : 0n;
  const fixedCtrl = rd(MSR.FIXED_CTR_CTRL);
  const bump = (id: number, msr: number, width: number): void => {
    const v = vpmu.peek(ops, id);
    vpmu.wrmsr(ops, msr, BigInt.asUintN(width, v + BigInt(delta)));
    bumped.push(id);
  };
  const h = vpmu.shape.host;
  for (let i = 0; i < vpmu.shape.gpCounters; i++) {
    if (((g >> BigInt(i)) & 1n) === 0n) continue;
    const sel = rd(MSR.IA32_PERFEVTSEL0 + i);
    if ((sel & EVTSEL.EN) === 0) continue;
    if (event >= 0 && intelEventIndex(sel & 0xff, (sel >> 8) & 0xff) !== event) continue;
    bump(i, MSR.IA32_A_PMC0 + i, h.gpWidthBits);
  }
  for (let f = 0; f < h.fixedCounters; f++) {
    if (((g >> BigInt(32 + f)) & 1n) === 0n || ((fixedCtrl >> (4 * f)) & 3) === 0) continue;
    if (event >= 0 && eventIndex(INTEL_FIXED_COUNTER_EVENTS[f]) !== event) continue;
    bump(FIXED_COUNTER_ID_BASE + f, MSR.FIXED_CTR0 + f, h.fixedWidthBits);
  }
  vpmu.traps.length = traps;
  return bumped;
}

/** Classes the fidelity machinery puts in a HostWorld (host-world.snapshot.ts registers them). */
export const FIDELITY_HOST_SNAPSHOT_CLASSES = [GuestFidelity, FaultInjector];
