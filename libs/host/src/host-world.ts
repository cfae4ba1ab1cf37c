// One simulated physical host: its pCPUs, the host scheduler, the threads it runs (vCPU threads
// of the VMs placed on it and host noise threads), and the guests executing inside the vCPU
// threads. Driven epoch by epoch by the host-node service; pure and deterministic: every choice
// comes from the host's or a VM's child PRNG stream and every tie is broken by a canonical order.
//
// This file is the composition root: it builds the parts (world/*.part.ts) around one shared
// core (world/world-core.ts), places the scenario's VMs, runs the event queue (each item goes to
// the part that queued it) and hands each epoch's records, guest work and VM transfers back.
import type { Scenario, TimelineEntry, VmSpec } from '@vpmu/world-spec';
import type { Prng } from '@vpmu/sim';
import { CostModel, EmulatedVpmu, guestPmuShape, MediatedVpmu, NoneVpmu, PassthroughVpmu, type VcpuVpmu } from '@vpmu/kvm';
import { eventRatesPerNs, GUEST_TICK_NS, GuestPerfVcpu, GuestPmuContext, GuestPvPerfVcpu, resolveWorkloadRates, WORKLOAD_EVENTS } from '@vpmu/guest';
import { EventRates, getCpuPreset, intelConfigFromPreset, type RateRecord } from '@vpmu/pmu';
import type { PerfCore } from '@vpmu/perf';
import { cpuNominalGhz } from './host-presets';
import { GuestFidelity } from './guest-fidelity';
import { ParavirtWorld } from './paravirt-world';
import { LbrWorld } from './lbr-world';
import { ArmPmuWorld } from './arm-pmu-world';
import { WorldCore, type WorldItem } from './world/world-core';
import { SchedulerPart } from './world/scheduler.part';
import { VcpuExecPart } from './world/vcpu-exec.part';
import { PmiDeliveryPart } from './world/pmi-delivery.part';
import { HostPerfPart } from './world/host-perf.part';
import { GuestPerfPart } from './world/guest-perf.part';
import { ObservationPart } from './world/observation.part';
import { MigrationPart } from './world/migration.part';
import { GuestProgramPart } from './world/guest-program.part';
import { ParavirtPart } from './world/paravirt.part';
import { LbrPart } from './world/lbr.part';
import { ArmPmuPart } from './world/arm-pmu.part';
import { NS_PER_SEC, trackedEventsOf, truthCount, vcpuThreadId, type GuestEpochOutput, type HostEpochResult, type HostInspection, type Thread, type VcpuRuntime, type VmRuntime, type VmTransferOut } from './world/world-state';

export { MIGRATION_DEVICE_STATE_BYTES, MIGRATION_SETUP_NS } from './world/migration.part';
export { trackedEventsOf, truthCount } from './world/world-state';
export type { GuestEpochOutput, HostEpochResult, HostInspection, VcpuInspection, VmTransferOut } from './world/world-state';

/** Guest timer tick: each vCPU reprograms its TSC-deadline timer at HZ=250 (a trapped WRMSR). */
const GUEST_TIMER_HZ = 250;

export class HostWorld {
  readonly id: string;
  private readonly w: WorldCore;
  private finalReported = false;

  constructor(scenario: Scenario, hostId: string, root: Prng) {
    const spec = scenario.hosts.find((h) => h.id === hostId);
    if (!spec) throw new Error(`HostWorld: no host ${hostId} in the scenario`);
    this.id = hostId;
    const prng = root.child(`host/${hostId}`);
    const fidelity = new GuestFidelity(hostId, root);
    const ghz = cpuNominalGhz(spec.cpu);
    const w = new WorldCore(hostId, spec, scenario, new CostModel(scenario.costs, ghz), prng, fidelity);
    this.w = w;
    w.sched = new SchedulerPart(w);
    w.exec = new VcpuExecPart(w);
    w.pmi = new PmiDeliveryPart(w);
    w.guestPerf = new GuestPerfPart(w);
    w.observe = new ObservationPart(w);
    w.migration = new MigrationPart(w);
    w.program = new GuestProgramPart(w);
    w.paravirt = new ParavirtPart(w);
    w.pv = new ParavirtWorld(w);
    w.perf = new HostPerfPart(w, ghz);
    w.sched.addNoise(spec.noise);
    w.armWorld = ArmPmuWorld.create(hostId, spec);
    w.arm = w.armWorld ? new ArmPmuPart(w, w.armWorld) : null;
    // Host threads record ~0.2 taken branches per instruction (hostRates' branch fraction).
    w.lbrWorld = LbrWorld.create(hostId, spec, scenario.vms.filter((v) => v.host === hostId), prng.child('lbr'), w.costs, ghz * 0.2);
    w.lbr = w.lbrWorld ? new LbrPart(w, w.lbrWorld) : null;
    for (const vm of scenario.vms) {
      if (vm.host === hostId) this.addVm(vm, root);
    }
    w.observe.start();
    w.perf.armDeadlines();
  }

  get contextSwitchCount(): number {
    return this.w.sched.contextSwitches;
  }

  /** The host perf core over the pCPUs' hardware PMUs. */
  get perf(): PerfCore {
    return this.w.perf.core;
  }

  /** Virtual time this world has simulated up to. */
  get simulatedUntilNs(): number {
    return this.w.nowNs;
  }

  /**
   * Applies VMs arriving from other hosts at `atNs` (the start of the epoch they are delivered
   * in), before that epoch runs: a checkpoint taken after this holds them.
   */
  receiveArrivals(atNs: number, arrivals: readonly VmTransferOut[]): void {
    if (atNs < this.w.nowNs) throw new Error(`HostWorld ${this.id}: arrivals at ${atNs} before now ${this.w.nowNs}`);
    this.w.nowNs = atNs;
    for (const t of arrivals) this.w.migration.acceptArrival(t);
  }

  /** Simulates [startNs, endNs). `actions` are the timeline entries due in that window. */
  runEpoch(startNs: number, endNs: number, actions: readonly TimelineEntry[] = [], arrivals: readonly VmTransferOut[] = []): HostEpochResult {
    const w = this.w;
    if (startNs < w.nowNs) throw new Error(`HostWorld ${this.id}: epoch starts at ${startNs} before now ${w.nowNs}`);
    // Events emitted since the last epoch (e.g. the first context switches at construction) stay.
    w.nowNs = startNs;
    for (const t of arrivals) w.migration.acceptArrival(t);
    for (const vm of w.vms.values()) {
      for (const id of vm.threads) {
        const v = w.threads.get(id)!.vcpu!;
        v.workloadNsEpoch = 0;
        v.coreNsEpoch.fill(0);
      }
    }
    for (const a of actions) w.queue.push(a.atNs, { p: 'action', entry: a });
    w.perf.armDeadlines();
    const queue = w.queue;
    for (let entry = queue.popBefore(endNs); entry !== undefined; entry = queue.popBefore(endNs)) {
      w.nowNs = entry.dueNs;
      this.dispatch(entry.item);
      w.perf.armDeadlines();
    }
    w.nowNs = endNs;
    if (endNs >= w.scenario.durationNs && !this.finalReported) {
      this.finalReported = true;
      this.reportFinal();
      w.perf.armDeadlines();
    }
    // Close the epoch: guest segments are accounted up to endNs so each epoch's work is exact.
    const guestOutputs: GuestEpochOutput[] = [];
    for (const vm of w.vms.values()) {
      let guestNs = 0;
      const coreNs: number[] = vm.coreRates ? vm.coreRates.map(() => 0) : [];
      for (const id of vm.threads) {
        const v = w.threads.get(id)!.vcpu!;
        w.exec.accountGuest(v);
        guestNs += v.workloadNsEpoch;
        for (let c = 0; c < coreNs.length; c++) coreNs[c] += v.coreNsEpoch[c] ?? 0;
      }
      // Instructions retired on the workload (PMI-handler time excluded), as the PMU counts them;
      // on a big.LITTLE host at each core type's rate.
      const workloadUnits = vm.coreRates ? vm.coreRates.reduce((n, r, c) => n + truthCount(r.totalQ[0], coreNs[c]), 0) : truthCount(vm.guestRates.totalQ[0], guestNs);
      guestOutputs.push({ vm: vm.spec.id, workloadUnits, guestNs });
    }
    const events = w.events;
    w.events = [];
    return { events, guestOutputs, transfers: w.migration.takeTransfers() };
  }

  /**
   * The earliest virtual time at which this host may next hand a VM off to another host, from
   * the migrations in flight (Infinity: none). Timeline actions not yet due are not counted.
   */
  earliestHandOffNs(): number {
    return this.w.migration.earliestHandOffNs();
  }

  /**
   * The scheduler and guest state at the current instant (what `vpmu inspect` prints): per pCPU
   * the running thread and the run queue, per vCPU its state, guest task and counts.
   */
  inspect(): HostInspection {
    const w = this.w;
    const pcpus = w.sched.cpus.map((c) => ({ pcpu: c.index, running: c.current ?? 'idle', runqueue: [...c.runqueue] }));
    const vcpus = w.observe.inspectVcpus();
    const noise = [...w.threads.values()].filter((t) => t.noise).map((t) => ({ thread: t.id, runnable: t.runnable, pcpu: t.cpu }));
    w.perf.syncAll();
    return { host: this.id, atNs: w.nowNs, pcpus, vcpus, noise, perfEvents: w.perf.inspect() };
  }

  private dispatch(item: WorldItem): void {
    const w = this.w;
    switch (item.p) {
      case 'action':
        return this.onAction(item.entry);
      case 'sched':
        return w.sched.dispatch(item);
      case 'exec':
        return w.exec.dispatch(item);
      case 'pmi':
        return w.pmi.dispatch(item);
      case 'perf':
        return w.perf.dispatch(item);
      case 'guest-perf':
        return w.guestPerf.dispatch(item);
      case 'observe':
        return w.observe.dispatch(item);
      case 'migration':
        return w.migration.dispatch(item);
      case 'lbr':
        return w.lbr?.dispatch(item);
    }
  }

  /** Every host sees every action; each acts on what concerns the VMs and sessions it holds. */
  private onAction(entry: TimelineEntry): void {
    const w = this.w;
    const a = entry.action;
    if (a.kind === 'migrate') w.migration.onMigrate(a.vm, a.to, a.bandwidthBytesPerSec, a.maxDowntimeNs);
    else if (a.kind === 'fault') this.onFault(entry);
    else if (a.kind === 'hostPerf' && a.host === this.id) w.perf.onSession(a.session, a.action);
    else if (a.kind === 'setPmu') {
      // KVM_ARM_VCPU_PMU_V3_SET_PMU from the VMM of a VM on this host (arm-pmu-world.ts).
      if (!w.vms.has(a.vm)) return;
      if (w.arm) w.arm.setPmu(a.vm, a.pmu);
      else w.finding({ host: this.id, vm: a.vm }, 'timeline-action', `setPmu ${a.pmu}: ENXIO: host ${this.id} is not arm64 (no KVM_ARM_VCPU_PMU_V3_CTRL)`);
    } else if (a.kind === 'setFilter') {
      // KVM_SET_PMU_EVENT_FILTER: every vCPU reprograms its counters (KVM_REQ_PMU). A vCPU in
      // guest mode counts up to now under the old filter first; the perf events an emulated vPMU
      // creates or releases are charged as its exits.
      const vm = w.vms.get(a.vm);
      if (!vm) return;
      for (const id of vm.threads) {
        const t = w.threads.get(id)!;
        const v = t.vcpu!;
        if (!v.vpmu) continue;
        const running = v.state === 'guest' && w.sched.isCurrent(t);
        if (running) w.exec.accountGuest(v);
        v.vpmu.setFilter(a.filter, w.portOf(t));
        if (running && !w.exec.applyTraps(t)) w.exec.armTimer(t);
      }
    } else if (a.kind === 'guestPerf') {
      const vm = w.vms.get(a.vm);
      const k = vm ? vm.spec.guestPerf.findIndex((g) => g.id === a.session) : -1;
      if (vm && k >= 0) w.guestPerf.onAction(a.vm, k, a.action);
    }
  }

  /** A timeline `fault` (fault-injector.ts); a refused one is reported by the host that holds its target. */
  private onFault(entry: TimelineEntry): void {
    const w = this.w;
    const refused = w.fidelity.onFault(entry);
    const a = entry.action;
    if (refused === null || a.kind !== 'fault' || (a.target !== this.id && !w.vms.has(a.target))) return;
    w.finding({ host: this.id, ...(w.vms.has(a.target) && { vm: a.target }) }, 'timeline-action', `fault ${a.fault}: EINVAL: ${refused}`);
  }

  /** End of the run: fidelity figures, host perf readings, guest perf reports, extension statistics. */
  private reportFinal(): void {
    const w = this.w;
    w.perf.syncAll();
    w.observe.emitFidelityRecords();
    w.perf.reportFinal();
    w.guestPerf.reportFinal();
    w.lbr?.reportFinal();
    w.arm?.reportFinal();
  }

  // ---- VM placement ---------------------------------------------------------------------------

  private addVm(spec: VmSpec, root: Prng): void {
    const w = this.w;
    const ratesSpec = resolveWorkloadRates(spec.workload);
    const exitPerSec = ratesSpec.ioExitsPerSec + GUEST_TIMER_HZ;
    const tracked = trackedEventsOf(spec);
    const perNs = eventRatesPerNs(ratesSpec);
    const rec: RateRecord = {};
    WORKLOAD_EVENTS.forEach((e, k) => (rec[e] = perNs[k]));
    const guestRates = EventRates.split(rec, ratesSpec.kernelFraction);
    const vm: VmRuntime = {
      spec,
      rates: perNs,
      guestRates,
      coreRates: w.armWorld ? w.armWorld.coreRates(guestRates) : null,
      ratesSpec,
      exitRatePerNs: exitPerSec / NS_PER_SEC,
      ioShare: ratesSpec.ioExitsPerSec / exitPerSec,
      threads: [],
      trackedEvents: tracked,
      trackedIdx: tracked.map((e) => (WORKLOAD_EVENTS as readonly string[]).indexOf(e)),
    };
    w.vms.set(spec.id, vm);
    if (spec.vpmu.mode === 'mediated' && !this.createMediatedPmu(spec)) return;
    w.pv.addVm(spec);
    const vmPrng = root.child(`vm/${spec.id}`);
    for (let i = 0; i < spec.vcpus; i++) {
      const id = vcpuThreadId(spec.id, i);
      const prng = vmPrng.child(`vcpu/${i}`);
      const vpmu = this.createVpmu(spec, i, id);
      const v: VcpuRuntime = {
        vm: spec.id,
        index: i,
        state: 'runnable',
        guestStartNs: 0,
        exitLeftNs: 0,
        exitUntilNs: 0,
        toExitNs: 0,
        exitReason: 'io',
        toSliceNs: ratesSpec.guestTimesliceNs,
        toHaltNs: Number.MAX_SAFE_INTEGER,
        taskIndex: 0,
        guestNsTotal: 0,
        workloadNsEpoch: 0,
        pmuSwitchOnEntry: spec.vpmu.mode === 'passthrough' || spec.vpmu.mode === 'mediated',
        vpmu,
        guestPerf: [],
        guestPerfPending: spec.guestPerf.map(() => null),
        toTickNs: GUEST_TICK_NS,
        handlerDebtNs: 0,
        workNsTotal: 0,
        pendingPmis: [],
        stint: 0,
        timerGen: 0,
        migrationCheck: null,
        reattach: false,
        fidelity: null,
        pvPerf: spec.vpmu.mode === 'paravirt' ? spec.guestPerf.map((g, k) => new GuestPvPerfVcpu(g, k, i)) : [],
        coreNs: Array(w.armWorld?.coreTypes ?? 0).fill(0),
        coreNsEpoch: Array(w.armWorld?.coreTypes ?? 0).fill(0),
      };
      if (vpmu && spec.vpmu.mode !== 'paravirt') {
        const host = vpmu.shape.host;
        // One perf context per vCPU: the sessions share the guest PMU as the guest kernel's perf does.
        const ctx = new GuestPmuContext(vpmu.shape.gpCounters, host.fixedCounters);
        v.guestPerf = spec.guestPerf.map((g) => new GuestPerfVcpu(g, vpmu.shape.gpCounters, host.fixedCounters, host.gpWidthBits, { fullWidthWrites: host.fullWidthWrites }, ctx));
      }
      v.fidelity = w.fidelity.newVcpu(spec, i, vpmu, vm.guestRates);
      const t: Thread = { id, affinity: [...spec.affinity[i]], cpu: spec.affinity[i][0], gen: 0, runnable: false, vcpu: v, prng };
      w.exec.drawNextExit(t);
      w.exec.drawBusyPeriod(t);
      w.threads.set(id, t);
      w.attachPort(t);
      vm.threads.push(id);
    }
    w.lbrWorld?.addVm(spec, vm.threads, perNs[(WORKLOAD_EVENTS as readonly string[]).indexOf('branches')]);
    w.armWorld?.addVm(spec, w, w.nowNs);
    w.program.run(vm);
    for (const id of vm.threads) w.sched.wake(w.threads.get(id)!);
    w.guestPerf.schedule(spec.id);
  }

  /**
   * KVM creates a VM's mediated PMU at its first KVM_CREATE_VCPU (perf_create_mediated_pmu);
   * EBUSY fails the vCPU creation, so the VMM never runs the VM: it is kept with no vCPUs and the
   * refusal is a finding naming the include-guest events (the NMI watchdog's among them).
   */
  private createMediatedPmu(spec: VmSpec): boolean {
    const w = this.w;
    const r = w.perf.core.createMediatedPmu();
    if (r.ok) return true;
    const watchdog = r.includeGuestEvents.some((id) => id.startsWith('nmi-watchdog/'));
    w.finding(
      { host: this.id, vm: spec.id },
      'mediated-pmu-busy',
      `${spec.id}: KVM_CREATE_VCPU failed: perf_create_mediated_pmu returned EBUSY because ${r.includeGuestEvents.length} host perf event(s) count in guest mode (no exclude_guest): ${r.includeGuestEvents.join(', ')}; KVM says "Fail to enable mediated vPMU, disable system wide perf events and nmi_watchdog."${watchdog ? ' (set hosts[].nmiWatchdog: false)' : ''}`,
    );
    return false;
  }

  /** The vPMU backend a vCPU gets: x86 hosts only; arm64 vPMUs are not modelled here. */
  private createVpmu(spec: VmSpec, index: number, threadId: string): VcpuVpmu | null {
    const hostSpec = this.w.spec;
    const costs = this.w.costs;
    const preset = getCpuPreset(hostSpec.cpu);
    if (preset.arch !== 'intel') return null;
    const o = hostSpec.pmu;
    const host = intelConfigFromPreset(preset, {
      ...(o?.gpCounters !== undefined && { gpCounters: o.gpCounters }),
      ...(o?.fixedCounters !== undefined && { fixedCounters: o.fixedCounters }),
      ...(o?.counterWidth !== undefined && { gpWidthBits: o.counterWidth, fixedWidthBits: o.counterWidth }),
      ...(o?.pmiSkidNs !== undefined && { pmiSkidNs: o.pmiSkidNs }),
    });
    const exposed = Math.min(spec.vpmu.guestPmu?.gpCounters ?? spec.vpmu.nrCounters ?? host.gpCounters, host.gpCounters);
    const guest = spec.vpmu.guestPmu ? guestPmuShape(host, spec.vpmu.guestPmu, exposed) : undefined;
    const shape = { host, gpCounters: guest ? guest.gpCounters : exposed, ...(guest && { guest }) };
    const label = `${spec.id}/vcpu${index}`;
    // A guest PMU of version 0 (or disabled) is no PMU at all, whatever the design (KVM_PMU_CAP_DISABLE).
    if (guest && guest.version === 0) return new NoneVpmu('none', shape, costs, spec.vpmu.filter, label);
    switch (spec.vpmu.mode) {
      case 'none':
        return new NoneVpmu('none', shape, costs, spec.vpmu.filter, label);
      case 'passthrough':
        return new PassthroughVpmu(shape, costs, spec.vpmu.filter, label, spec.vpmu.interceptEventSelect, spec.vpmu.pmiVector);
      case 'mediated':
        return new MediatedVpmu(shape, costs, spec.vpmu.filter, label);
      case 'paravirt':
        // The paravirtual perf guest has no architectural PMU (CPUID.0AH empty, MSRs #GP): its perf
        // driver uses hypercalls (paravirt.part.ts); the backend only carries the hypercall exits.
        return new NoneVpmu('paravirt', shape, costs, spec.vpmu.filter, label);
      default:
        return new EmulatedVpmu(shape, costs, spec.vpmu.filter, label, threadId);
    }
  }
}
