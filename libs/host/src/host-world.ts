// One simulated physical host: its pCPUs, the host scheduler, the threads it runs (vCPU threads
// of the VMs placed on it and host noise threads), and the guests executing inside the vCPU
// threads. Driven epoch by epoch by the host-node service; pure and deterministic: every choice
// comes from the host's or a VM's child PRNG stream and every tie is broken by a canonical order.
//
// Scheduling follows the shape of the Linux host scheduler as far as vPMU questions need it:
// per-pCPU FIFO run queues with a time slice, wake-up placement on an idle allowed CPU, idle
// stealing (which migrates vCPU threads between pCPUs), and high-priority noise that preempts at
// once. A vCPU thread alternates between guest mode and host mode (VM exits); guest time drives
// the workload's event counts, the guest scheduler's time slices and the VM-exit sources.
import type { HostSpec, Scenario, TimelineEntry, VmSpec } from '@vpmu/scenario';
import { decodeSnapshot, encodeSnapshot, EventQueue, Prng, SnapshotRegistry, type MigrationPhaseName, type SimEvent } from '@vpmu/sim';
import { migrationIncompatibility, planPrecopy, type PrecopyPlan } from '@vpmu/migration';
import { CostModel } from '@vpmu/kvm';
import { eventRatesPerNs, resolveWorkloadRates, WORKLOAD_EVENTS } from '@vpmu/guest';
import { createPmuForCpu, EventRates, getCpuPreset, MODE_GUEST, MODE_HOST, MODE_HOST_KERNEL, RATE_SCALE, type ExecMode, type RateRecord } from '@vpmu/pmu';
import { PerfCore, WATCHDOG_THRESH_SEC, type PerfSink } from '@vpmu/perf';
import type { FindingEvent, PerfStateEvent, PmiEvent } from '@vpmu/sim';
import { cpuNominalGhz, guestPmuNeeds, pmuShapeOfHost } from './host-presets';

/** Setup phase of a migration (connection, capability negotiation): no public figure; 1 ms chosen. */
export const MIGRATION_SETUP_NS = 1_000_000;
/** Device and vPMU state sent in stop-and-copy besides dirty memory: 256 KiB chosen. */
export const MIGRATION_DEVICE_STATE_BYTES = 256 * 1024;

/** Guest timer tick: each vCPU reprograms its TSC-deadline timer at HZ=250 (a trapped WRMSR). */
const GUEST_TIMER_HZ = 250;
const NS_PER_SEC = 1_000_000_000;

type QueueItem =
  | { t: 'action'; entry: TimelineEntry }
  | { t: 'mig-pass'; vm: string; pass: number }
  | { t: 'mig-stop'; vm: string }
  | { t: 'mig-resume'; vm: string }
  | { t: 'slice'; cpu: number; gen: number }
  | { t: 'vcpu'; thread: string; gen: number }
  | { t: 'noise-wake'; thread: string }
  | { t: 'noise-done'; thread: string; gen: number }
  | { t: 'vcpu-wake'; thread: string }
  | { t: 'sample' }
  | { t: 'perf'; cpu: number; gen: number }
  | { t: 'host-perf'; session: string; action: 'start' | 'stop' };

interface Pcpu {
  index: number;
  current: string | null;
  runqueue: string[];
  gen: number;
  /** What runs on this pCPU since the last perf advance: its event rates and mode. */
  segRates: EventRates;
  segMode: ExecMode;
  /** The perf deadline armed in the queue for this pCPU (and its generation). */
  perfDueNs: number;
  perfGen: number;
}

/**
 * Forwards the host perf core's records (perfState, pmi, finding) into the world's event stream.
 * A class instance rather than a closure so checkpoints can carry it.
 */
export class HostPerfSink implements PerfSink {
  constructor(private readonly world: HostWorld) {}
  emit(e: PerfStateEvent | FindingEvent | PmiEvent): void {
    this.world.emitFromModel(e);
  }
}

/**
 * Host execution rates (events per ns) of what is not a guest: a noise thread (a kworker-like
 * host thread: IPC 1.0, 30% kernel) and KVM's exit handling in the host kernel (IPC 0.8, all
 * kernel). Model choices, not measurements: they only need to make host events count something
 * plausible while the host runs; cycles follow the host's nominal clock.
 */
function hostRates(ghz: number, ipc: number, kernelFraction: number): EventRates {
  const instr = ghz * ipc;
  const branches = instr * 0.2;
  const rec: RateRecord = {
    instructions: instr,
    cycles: ghz,
    'ref-cycles': ghz,
    branches,
    'branch-misses': branches * 0.03,
    'cache-references': (instr * 5) / 1000,
    'cache-misses': (instr * 5 * 0.3) / 1000,
    'topdown-slots': ghz * 4,
  };
  return EventRates.split(rec, kernelFraction);
}

type VcpuState = 'guest' | 'exit' | 'runnable' | 'halted';

interface VcpuRuntime {
  vm: string;
  index: number;
  state: VcpuState;
  /** Guest-mode segment start (valid in state 'guest'). */
  guestStartNs: number;
  /** Remaining host-mode exit handling (valid in 'exit' and while preempted mid-exit). */
  exitLeftNs: number;
  exitUntilNs: number;
  /** Guest run time left until the next exit / guest slice end / halt. */
  toExitNs: number;
  exitReason: string;
  toSliceNs: number;
  toHaltNs: number;
  taskIndex: number;
  guestNsTotal: number;
  workloadNsEpoch: number;
  pmuSwitchOnEntry: boolean;
}

interface NoiseRuntime {
  spec: HostSpec['noise'][number];
  remainingNs: number;
  runStartNs: number;
}

interface Thread {
  id: string;
  affinity: number[];
  cpu: number;
  gen: number;
  runnable: boolean;
  vcpu?: VcpuRuntime;
  noise?: NoiseRuntime;
  prng: Prng;
}

interface VmRuntime {
  spec: VmSpec;
  rates: Float64Array;
  /** The workload's rates as the PMU counts them (quantized, user/kernel split): ground truth. */
  guestRates: EventRates;
  ratesSpec: ReturnType<typeof resolveWorkloadRates>;
  exitRatePerNs: number;
  ioShare: number;
  threads: string[];
  trackedEvents: string[];
  trackedIdx: number[];
}

export interface GuestEpochOutput {
  vm: string;
  /** Guest instructions retired this epoch: the workload's unit of work. */
  workloadUnits: number;
  guestNs: number;
}

export interface VcpuInspection {
  vm: string;
  vcpu: number;
  vpmu: string;
  state: string;
  pcpu: number;
  guestTask: string;
  guestRunNs: number;
  counters: Record<string, { actual: number; observed: number }>;
}

export interface HostInspection {
  host: string;
  atNs: number;
  pcpus: { pcpu: number; running: string; runqueue: string[] }[];
  vcpus: VcpuInspection[];
  noise: { thread: string; runnable: boolean; pcpu: number }[];
}

export interface HostEpochResult {
  events: SimEvent[];
  guestOutputs: GuestEpochOutput[];
  /** VMs leaving this host (stop-and-copy done): to be delivered to their destination host. */
  transfers: VmTransferOut[];
}

/** A VM in flight between hosts: what the destination needs to resume it. */
export interface VmTransferOut {
  vm: string;
  fromHost: string;
  toHost: string;
  pausedAtNs: number;
  readyAtNs: number;
  bytesSent: number;
  /** The VM's simulated state (vCPUs, guest scheduler, streams) through the snapshot codec. */
  guestState: Uint8Array;
}

interface MigrationInFlight {
  to: string;
  plan: PrecopyPlan;
}

export class HostWorld {
  readonly id: string;
  private readonly spec: HostSpec;
  private readonly costs: CostModel;
  private readonly queue = new EventQueue<QueueItem>();
  private readonly cpus: Pcpu[] = [];
  private readonly threads = new Map<string, Thread>();
  private readonly vms = new Map<string, VmRuntime>();
  private readonly prng: Prng;
  private events: SimEvent[] = [];
  private nowNs = 0;
  private readonly sampleIntervalNs: number;
  private contextSwitches = 0;
  private readonly scenario: Scenario;
  private readonly migrations = new Map<string, MigrationInFlight>();
  /** VMs that left: until when they are still in flight (an action for them then is refused). */
  private readonly departed = new Map<string, number>();
  /** VMs that arrived and wait for their resume instant. */
  private readonly arriving = new Map<string, number>();
  private readonly pendingResume = new Map<string, { readyAtNs: number; fromHost: string }>();
  private transfers: VmTransferOut[] = [];
  /** The host perf core over the pCPUs' hardware PMUs. */
  readonly perf: PerfCore;
  private readonly noiseRates: EventRates;
  private readonly exitRates: EventRates;
  private readonly idleRates = EventRates.ZERO;
  private readonly dirtyCpus = new Set<number>();
  /** Host perf sessions: event ids opened per session (in creation order). */
  private readonly hostPerfEvents = new Map<string, string[]>();
  private finalPerfReported = false;

  constructor(scenario: Scenario, hostId: string, root: Prng) {
    const spec = scenario.hosts.find((h) => h.id === hostId);
    if (!spec) throw new Error(`HostWorld: no host ${hostId} in the scenario`);
    this.id = hostId;
    this.spec = spec;
    this.scenario = scenario;
    this.prng = root.child(`host/${hostId}`);
    this.costs = new CostModel(scenario.costs, cpuNominalGhz(spec.cpu));
    this.sampleIntervalNs = scenario.sampleIntervalNs;
    const ghz = cpuNominalGhz(spec.cpu);
    this.noiseRates = hostRates(ghz, 1.0, 0.3);
    this.exitRates = hostRates(ghz, 0.8, 1);
    for (let i = 0; i < spec.pcpus; i++) {
      this.cpus.push({ index: i, current: null, runqueue: [], gen: 0, segRates: this.idleRates, segMode: MODE_HOST, perfDueNs: Infinity, perfGen: 0 });
    }
    const pmus = this.cpus.map((c) =>
      createPmuForCpu(spec.cpu, c.index, spec.pcpus, {
        ...(spec.pmu?.gpCounters !== undefined && { gpCounters: spec.pmu.gpCounters }),
        ...(spec.pmu?.fixedCounters !== undefined && { fixedCounters: spec.pmu.fixedCounters }),
        ...(spec.pmu?.counterWidth !== undefined && { counterWidth: spec.pmu.counterWidth }),
        ...(spec.pmu?.pmiSkidNs !== undefined && { pmiSkidNs: spec.pmu.pmiSkidNs }),
      }),
    );
    this.perf = new PerfCore({ hostId: hostId, pmus, sink: new HostPerfSink(this) });
    if (spec.nmiWatchdog) {
      // hw_nmi_get_sample_period: watchdog_thresh seconds of cycles at the nominal clock.
      const period = Math.round(WATCHDOG_THRESH_SEC * ghz * NS_PER_SEC);
      for (const c of this.cpus) this.perf.createNmiWatchdog(c.index, 0, period);
    }
    for (const session of spec.perf) {
      this.queue.push(session.startNs, { t: 'host-perf', session: session.id, action: 'start' });
      if (session.stopNs !== undefined) this.queue.push(session.stopNs, { t: 'host-perf', session: session.id, action: 'stop' });
    }

    for (const noise of spec.noise) {
      const id = `noise:${noise.id}`;
      const affinity = noise.cpus === 'all' ? this.cpus.map((c) => c.index) : [...noise.cpus];
      const t: Thread = { id, affinity, cpu: affinity[0], gen: 0, runnable: false, prng: this.prng.child(`noise/${noise.id}`), noise: { spec: noise, remainingNs: 0, runStartNs: 0 } };
      this.threads.set(id, t);
      this.queue.push(t.prng.nextExponentialNs(noise.periodNs), { t: 'noise-wake', thread: id });
    }
    for (const vm of scenario.vms) {
      if (vm.host === hostId) this.addVm(vm, root);
    }
    if (this.sampleIntervalNs > 0) this.queue.push(this.sampleIntervalNs, { t: 'sample' });
  }

  get contextSwitchCount(): number {
    return this.contextSwitches;
  }

  private addVm(spec: VmSpec, root: Prng): void {
    const ratesSpec = resolveWorkloadRates(spec.workload);
    const exitPerSec = ratesSpec.ioExitsPerSec + GUEST_TIMER_HZ;
    const tracked = trackedEventsOf(spec);
    const vm: VmRuntime = {
      spec,
      rates: eventRatesPerNs(ratesSpec),
      ratesSpec,
      exitRatePerNs: exitPerSec / NS_PER_SEC,
      ioShare: ratesSpec.ioExitsPerSec / exitPerSec,
      threads: [],
      trackedEvents: tracked,
      trackedIdx: tracked.map((e) => (WORKLOAD_EVENTS as readonly string[]).indexOf(e)),
    };
    this.vms.set(spec.id, vm);
    const vmPrng = root.child(`vm/${spec.id}`);
    for (let i = 0; i < spec.vcpus; i++) {
      const id = `vcpu:${spec.id}/${i}`;
      const prng = vmPrng.child(`vcpu/${i}`);
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
        pmuSwitchOnEntry: spec.vpmu.mode === 'passthrough',
      };
      const t: Thread = { id, affinity: [...spec.affinity[i]], cpu: spec.affinity[i][0], gen: 0, runnable: false, vcpu: v, prng };
      this.drawNextExit(t);
      this.drawBusyPeriod(t);
      this.threads.set(id, t);
      vm.threads.push(id);
      this.wake(t);
    }
  }

  /** Simulates [startNs, endNs). `actions` are the timeline entries due in that window. */
  /**
   * Applies VMs arriving from other hosts at `atNs` (the start of the epoch they are delivered
   * in), before that epoch runs: a checkpoint taken after this holds them.
   */
  receiveArrivals(atNs: number, arrivals: readonly VmTransferOut[]): void {
    if (atNs < this.nowNs) throw new Error(`HostWorld ${this.id}: arrivals at ${atNs} before now ${this.nowNs}`);
    this.nowNs = atNs;
    for (const t of arrivals) this.acceptArrival(t);
  }

  runEpoch(startNs: number, endNs: number, actions: readonly TimelineEntry[] = [], arrivals: readonly VmTransferOut[] = []): HostEpochResult {
    if (startNs < this.nowNs) throw new Error(`HostWorld ${this.id}: epoch starts at ${startNs} before now ${this.nowNs}`);
    // Events emitted since the last epoch (e.g. the first context switches at construction) stay.
    this.nowNs = startNs;
    for (const t of arrivals) this.acceptArrival(t);
    for (const vm of this.vms.values()) for (const id of vm.threads) this.threads.get(id)!.vcpu!.workloadNsEpoch = 0;
    for (const a of actions) this.queueAction(a);
    for (const entry of this.queue.drainBefore(endNs)) {
      this.nowNs = entry.dueNs;
      this.dispatch(entry.item);
    }
    this.nowNs = endNs;
    // Close the epoch: guest segments are accounted up to endNs so each epoch's work is exact.
    const guestOutputs: GuestEpochOutput[] = [];
    for (const vm of this.vms.values()) {
      let units = 0;
      let guestNs = 0;
      for (const id of vm.threads) {
        const v = this.threads.get(id)!.vcpu!;
        this.accountGuest(v);
        guestNs += v.workloadNsEpoch;
      }
      units = Math.floor(vm.rates[0] * guestNs);
      guestOutputs.push({ vm: vm.spec.id, workloadUnits: units, guestNs });
    }
    const events = this.events;
    this.events = [];
    const transfers = this.transfers;
    this.transfers = [];
    return { events, guestOutputs, transfers };
  }

  /** Virtual time this world has simulated up to. */
  get simulatedUntilNs(): number {
    return this.nowNs;
  }

  /**
   * The scheduler and guest state at the current instant (what `vpmu inspect` prints): per pCPU
   * the running thread and the run queue, per vCPU its state, guest task and counts.
   */
  inspect(): HostInspection {
    const pcpus = this.cpus.map((c) => ({ pcpu: c.index, running: c.current ?? 'idle', runqueue: [...c.runqueue] }));
    const vcpus: VcpuInspection[] = [];
    for (const vm of this.vms.values()) {
      for (const id of vm.threads) {
        const t = this.threads.get(id)!;
        const v = t.vcpu!;
        this.accountGuest(v);
        const counters: Record<string, { actual: number; observed: number }> = {};
        for (let k = 0; k < vm.trackedEvents.length; k++) {
          const actual = Math.floor(vm.rates[vm.trackedIdx[k]] * v.guestNsTotal);
          counters[vm.trackedEvents[k]] = { actual, observed: vm.spec.vpmu.mode === 'none' ? 0 : actual };
        }
        vcpus.push({
          vm: vm.spec.id,
          vcpu: v.index,
          vpmu: vm.spec.vpmu.mode,
          state: v.state,
          pcpu: t.cpu,
          guestTask: taskName(vm.spec, v.index, v.taskIndex),
          guestRunNs: v.guestNsTotal,
          counters,
        });
      }
    }
    const noise = [...this.threads.values()].filter((t) => t.noise).map((t) => ({ thread: t.id, runnable: t.runnable, pcpu: t.cpu }));
    return { host: this.id, atNs: this.nowNs, pcpus, vcpus, noise };
  }

  private queueAction(entry: TimelineEntry): void {
    this.queue.push(entry.atNs, { t: 'action', entry });
  }

  /** Every host sees every action; each acts on what concerns the VMs and sessions it holds. */
  private onAction(entry: TimelineEntry): void {
    const a = entry.action;
    if (a.kind === 'migrate') this.onMigrate(a.vm, a.to, a.bandwidthBytesPerSec, a.maxDowntimeNs);
  }

  // ---- live migration -------------------------------------------------------------------------

  private onMigrate(vmId: string, to: string, bandwidthBytesPerSec: number, maxDowntimeNs: number): void {
    const vm = this.vms.get(vmId);
    const inFlightUntil = this.departed.get(vmId) ?? this.arriving.get(vmId);
    if (inFlightUntil !== undefined && this.nowNs < inFlightUntil && (vm === undefined || this.arriving.has(vmId))) {
      // Only the host the VM left (or is arriving at) answers, so the refusal is reported once.
      if (this.departed.has(vmId) || this.arriving.has(vmId)) {
        this.refuseMigration(vmId, to, `the VM is still migrating until ${inFlightUntil} ns`);
      }
      return;
    }
    if (!vm) return;
    if (this.migrations.has(vmId)) {
      this.refuseMigration(vmId, to, 'a migration of this VM is already in progress');
      return;
    }
    const dest = this.scenario.hosts.find((h) => h.id === to);
    if (!dest) {
      this.refuseMigration(vmId, to, `host ${to} does not exist`);
      return;
    }
    const reason = migrationIncompatibility(guestPmuNeeds(vm.spec, this.spec, vm.trackedEvents), pmuShapeOfHost(dest), to);
    if (reason !== null) {
      this.refuseMigration(vmId, to, reason);
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
    this.queue.push(this.nowNs + MIGRATION_SETUP_NS, plan.passes.length > 0 ? { t: 'mig-pass', vm: vmId, pass: 0 } : { t: 'mig-stop', vm: vmId });
  }

  private refuseMigration(vmId: string, to: string, reason: string): void {
    this.emitPhase(vmId, to, 'refused', 0, 0, 0, reason);
    this.emit({ kind: 'finding', atNs: this.nowNs, at: { host: this.id, vm: vmId }, findingKind: 'migration-refused-incompatible', detail: `migration of ${vmId} to ${to} refused: ${reason}` });
  }

  private onMigrationPass(vmId: string, pass: number): void {
    const m = this.migrations.get(vmId)!;
    const p = m.plan.passes[pass];
    this.emitPhase(vmId, m.to, 'precopy', p.durationNs, p.bytes, p.iteration);
    const next = pass + 1 < m.plan.passes.length ? { t: 'mig-pass' as const, vm: vmId, pass: pass + 1 } : { t: 'mig-stop' as const, vm: vmId };
    this.queue.push(this.nowNs + p.durationNs, next);
  }

  /** Stop-and-copy: pause the guest, send what is left and the VM's state to the destination. */
  private onMigrationStop(vmId: string): void {
    const m = this.migrations.get(vmId)!;
    this.migrations.delete(vmId);
    const vm = this.vms.get(vmId)!;
    const note = m.plan.converged ? undefined : 'pre-copy did not converge: downtime exceeds maxDowntime';
    this.emitPhase(vmId, m.to, 'stop-and-copy', m.plan.stopAndCopyNs, m.plan.stopAndCopyBytes, 0, note);
    const threads: Thread[] = [];
    for (const id of vm.threads) {
      const t = this.threads.get(id)!;
      this.pauseThread(t);
      threads.push(t);
      this.threads.delete(id);
    }
    this.vms.delete(vmId);
    const readyAtNs = this.nowNs + m.plan.stopAndCopyNs;
    this.departed.set(vmId, readyAtNs);
    this.transfers.push({
      vm: vmId,
      fromHost: this.id,
      toHost: m.to,
      pausedAtNs: this.nowNs,
      readyAtNs,
      bytesSent: m.plan.totalBytes,
      guestState: encodeSnapshot({ vm, threads }, VM_SNAPSHOT_REGISTRY),
    });
  }

  /** Takes a thread off its CPU or run queue for good (its VM leaves this host). */
  private pauseThread(t: Thread): void {
    const v = t.vcpu!;
    this.accountGuest(v);
    const cpu = this.cpus[t.cpu];
    if (cpu.current === t.id) {
      if (v.state === 'guest') this.emitExit(t, 'migration-pause', this.costs.costNs('vmExitRoundTripCycles'));
      else if (v.state === 'exit') v.exitLeftNs = Math.max(0, v.exitUntilNs - this.nowNs);
      v.state = 'runnable';
      this.blockCurrent(cpu);
    } else {
      for (const c of this.cpus) {
        const k = c.runqueue.indexOf(t.id);
        if (k >= 0) c.runqueue.splice(k, 1);
      }
      if (v.state === 'halted') v.state = 'runnable';
    }
    t.runnable = false;
    t.gen++;
  }

  private acceptArrival(tr: VmTransferOut): void {
    const { vm, threads } = decodeSnapshot<{ vm: VmRuntime; threads: Thread[] }>(tr.guestState, VM_SNAPSHOT_REGISTRY);
    const all = this.cpus.map((c) => c.index);
    // The VM's affinity names the source's pCPUs; on the destination its vCPUs may run anywhere.
    vm.spec = { ...vm.spec, host: this.id, affinity: vm.spec.affinity.map(() => [...all]) };
    this.vms.set(vm.spec.id, vm);
    for (const t of threads) {
      t.affinity = [...all];
      t.cpu = all[0];
      t.gen = 0;
      t.runnable = false;
      this.threads.set(t.id, t);
    }
    const resumeAtNs = Math.max(tr.readyAtNs, this.nowNs);
    this.arriving.set(vm.spec.id, resumeAtNs);
    this.pendingResume.set(vm.spec.id, { readyAtNs: tr.readyAtNs, fromHost: tr.fromHost });
    this.queue.push(resumeAtNs, { t: 'mig-resume', vm: vm.spec.id });
  }

  private onMigrationResume(vmId: string): void {
    const vm = this.vms.get(vmId)!;
    const r = this.pendingResume.get(vmId)!;
    this.pendingResume.delete(vmId);
    this.arriving.delete(vmId);
    this.emit({
      kind: 'migrationPhase',
      atNs: this.nowNs,
      at: { host: this.id, vm: vmId },
      fromHost: r.fromHost,
      toHost: this.id,
      phase: 'resume',
      durationNs: this.nowNs - r.readyAtNs,
      bytes: 0,
      iteration: 0,
    });
    for (const id of vm.threads) this.wake(this.threads.get(id)!);
  }

  private emitPhase(vmId: string, to: string, phase: MigrationPhaseName, durationNs: number, bytes: number, iteration: number, detail?: string): void {
    this.emit({
      kind: 'migrationPhase',
      atNs: this.nowNs,
      at: { host: this.id, vm: vmId },
      fromHost: this.id,
      toHost: to,
      phase,
      durationNs,
      bytes,
      iteration,
      ...(detail !== undefined && { detail }),
    });
  }

  private dispatch(item: QueueItem): void {
    switch (item.t) {
      case 'action':
        return this.onAction(item.entry);
      case 'mig-pass':
        return this.onMigrationPass(item.vm, item.pass);
      case 'mig-stop':
        return this.onMigrationStop(item.vm);
      case 'mig-resume':
        return this.onMigrationResume(item.vm);
      case 'slice':
        return this.onSlice(item.cpu, item.gen);
      case 'vcpu':
        return this.onVcpuTimer(item.thread, item.gen);
      case 'noise-wake':
        return this.onNoiseWake(item.thread);
      case 'noise-done':
        return this.onNoiseDone(item.thread, item.gen);
      case 'vcpu-wake':
        return this.onVcpuWake(item.thread);
      case 'sample':
        return this.onSample();
    }
  }

  // ---- host scheduler -------------------------------------------------------------------------

  private wake(t: Thread): void {
    t.runnable = true;
    const cpu = this.placeOnWake(t);
    t.cpu = cpu.index;
    const highPriority = t.noise?.spec.priority === 'high';
    if (cpu.current === null) {
      this.switchTo(cpu, t.id, false);
    } else if (highPriority) {
      const prev = cpu.current;
      this.switchOut(cpu, prev);
      cpu.runqueue.unshift(prev);
      this.switchTo(cpu, t.id, true, prev);
    } else {
      cpu.runqueue.push(t.id);
    }
  }

  /** Idle allowed CPU with the lowest index, else the allowed CPU with the shortest run queue. */
  private placeOnWake(t: Thread): Pcpu {
    let best: Pcpu | null = null;
    for (const i of t.affinity) {
      const c = this.cpus[i];
      if (c.current === null && c.runqueue.length === 0) return c;
      if (best === null || c.runqueue.length < best.runqueue.length) best = c;
    }
    return best!;
  }

  private onSlice(cpuIndex: number, gen: number): void {
    const cpu = this.cpus[cpuIndex];
    if (cpu.gen !== gen || cpu.current === null) return;
    if (cpu.runqueue.length === 0) {
      this.armSlice(cpu);
      return;
    }
    const prev = cpu.current;
    this.switchOut(cpu, prev);
    cpu.runqueue.push(prev);
    const next = cpu.runqueue.shift()!;
    this.switchTo(cpu, next, true, prev);
  }

  private armSlice(cpu: Pcpu): void {
    cpu.gen++;
    this.queue.push(this.nowNs + this.spec.timesliceNs, { t: 'slice', cpu: cpu.index, gen: cpu.gen });
  }

  /** Takes the current thread off the CPU (it stays runnable unless the caller blocks it). */
  private switchOut(cpu: Pcpu, threadId: string): void {
    const t = this.threads.get(threadId)!;
    t.gen++;
    const v = t.vcpu;
    if (v) {
      if (v.state === 'guest') {
        this.accountGuest(v);
        // Being descheduled forces the vCPU out of guest mode (host timer interrupt exit).
        this.emitExit(t, 'preemption', this.costs.costNs('vmExitRoundTripCycles'));
        v.exitLeftNs = 0;
      } else if (v.state === 'exit') {
        v.exitLeftNs = Math.max(0, v.exitUntilNs - this.nowNs);
      }
      v.state = 'runnable';
    } else if (t.noise) {
      t.noise.remainingNs = Math.max(0, t.noise.remainingNs - (this.nowNs - t.noise.runStartNs));
    }
    cpu.current = null;
  }

  /** Puts `next` on `cpu` and emits the host context switch. */
  private switchTo(cpu: Pcpu, next: string, preempted: boolean, prev: string | null = null): void {
    cpu.current = next;
    const t = this.threads.get(next)!;
    t.cpu = cpu.index;
    t.gen++;
    this.contextSwitches++;
    this.emit({ kind: 'contextSwitch', atNs: this.nowNs, at: { host: this.id, pcpu: cpu.index }, prevThread: prev ?? 'idle', nextThread: next, preempted });
    this.armSlice(cpu);
    if (t.vcpu) this.resumeVcpu(t);
    else if (t.noise) {
      t.noise.runStartNs = this.nowNs;
      this.queue.push(this.nowNs + t.noise.remainingNs, { t: 'noise-done', thread: t.id, gen: t.gen });
    }
  }

  /** The current thread of `cpu` blocks: run the next queued thread, steal one, or go idle. */
  private blockCurrent(cpu: Pcpu): void {
    const prev = cpu.current!;
    const t = this.threads.get(prev)!;
    t.runnable = false;
    t.gen++;
    cpu.current = null;
    let next = cpu.runqueue.shift() ?? null;
    if (next === null) next = this.steal(cpu);
    if (next !== null) {
      this.switchTo(cpu, next, false, prev);
    } else {
      cpu.gen++;
      this.contextSwitches++;
      this.emit({ kind: 'contextSwitch', atNs: this.nowNs, at: { host: this.id, pcpu: cpu.index }, prevThread: prev, nextThread: 'idle', preempted: false });
    }
  }

  /** Idle stealing: take the last queued thread of the busiest CPU that may run here. */
  private steal(cpu: Pcpu): string | null {
    let victim: Pcpu | null = null;
    let victimIdx = -1;
    for (const c of this.cpus) {
      if (c === cpu || c.runqueue.length === 0) continue;
      for (let k = c.runqueue.length - 1; k >= 0; k--) {
        const th = this.threads.get(c.runqueue[k])!;
        if (!th.affinity.includes(cpu.index)) continue;
        if (victim === null || c.runqueue.length > victim.runqueue.length) {
          victim = c;
          victimIdx = k;
        }
        break;
      }
    }
    if (victim === null) return null;
    return victim.runqueue.splice(victimIdx, 1)[0];
  }

  // ---- noise threads --------------------------------------------------------------------------

  private onNoiseWake(id: string): void {
    const t = this.threads.get(id)!;
    const n = t.noise!;
    this.queue.push(this.nowNs + t.prng.nextExponentialNs(n.spec.periodNs), { t: 'noise-wake', thread: id });
    // A wake-up while the previous burst is still queued or running coalesces with it.
    if (t.runnable) return;
    n.remainingNs = n.spec.runtimeNs;
    this.wake(t);
  }

  private onNoiseDone(id: string, gen: number): void {
    const t = this.threads.get(id)!;
    if (t.gen !== gen) return;
    t.noise!.remainingNs = 0;
    this.blockCurrent(this.cpus[t.cpu]);
  }

  // ---- vCPUs ----------------------------------------------------------------------------------

  private resumeVcpu(t: Thread): void {
    const v = t.vcpu!;
    if (v.exitLeftNs > 0) {
      v.state = 'exit';
      v.exitUntilNs = this.nowNs + v.exitLeftNs;
      v.exitLeftNs = 0;
      this.queue.push(v.exitUntilNs, { t: 'vcpu', thread: t.id, gen: t.gen });
      return;
    }
    this.enterGuest(t);
  }

  private enterGuest(t: Thread): void {
    const v = t.vcpu!;
    v.state = 'guest';
    v.guestStartNs = this.nowNs;
    if (v.pmuSwitchOnEntry) {
      this.emit({ kind: 'vmEntry', atNs: this.nowNs, at: this.placeOf(t), pmuSwitchNs: this.costs.costNs('pmuContextSwitchCycles'), pmiInjected: false });
    }
    const dueIn = Math.min(v.toExitNs, v.toSliceNs, v.toHaltNs);
    this.queue.push(this.nowNs + dueIn, { t: 'vcpu', thread: t.id, gen: t.gen });
  }

  private onVcpuTimer(id: string, gen: number): void {
    const t = this.threads.get(id);
    if (!t || t.gen !== gen) return; // stale: switched since, or the VM migrated away
    const v = t.vcpu!;
    if (v.state === 'exit') {
      // Exit handled: back into the guest.
      this.enterGuest(t);
      return;
    }
    this.accountGuest(v);
    if (v.toHaltNs === 0) {
      this.emitExit(t, 'hlt', this.costs.costNs('vmExitRoundTripCycles'));
      v.state = 'halted';
      const vm = this.vms.get(v.vm)!;
      const cycleNs = NS_PER_SEC / vm.ratesSpec.hltExitsPerSec;
      this.queue.push(this.nowNs + t.prng.nextExponentialNs(cycleNs * (1 - vm.ratesSpec.busyFraction)), { t: 'vcpu-wake', thread: id });
      this.drawBusyPeriod(t);
      this.blockCurrent(this.cpus[t.cpu]);
      return;
    }
    if (v.toSliceNs === 0) {
      const vm = this.vms.get(v.vm)!;
      const tasks = vm.spec.workload.tasksPerVcpu;
      const prevTask = taskName(vm.spec, v.index, v.taskIndex);
      v.taskIndex = (v.taskIndex + 1) % tasks;
      v.toSliceNs = vm.ratesSpec.guestTimesliceNs;
      if (tasks > 1) {
        this.emit({ kind: 'guestContextSwitch', atNs: this.nowNs, at: this.placeOf(t), prevTask, nextTask: taskName(vm.spec, v.index, v.taskIndex) });
      }
    }
    if (v.toExitNs === 0) {
      const reason = v.exitReason;
      this.drawNextExit(t);
      const cost =
        reason === 'io'
          ? this.costs.costNs('vmExitRoundTripCycles') + this.costs.costNs('ioExitHandlingNs')
          : this.costs.costNs('msrTrapCycles');
      this.emitExit(t, reason, cost, reason === 'msr-write' ? 0x6e0 : 0);
      v.state = 'exit';
      v.exitUntilNs = this.nowNs + cost;
      this.queue.push(v.exitUntilNs, { t: 'vcpu', thread: id, gen: t.gen });
      return;
    }
    // Guest slice ended without an exit: keep running in guest mode.
    v.guestStartNs = this.nowNs;
    this.queue.push(this.nowNs + Math.min(v.toExitNs, v.toSliceNs, v.toHaltNs), { t: 'vcpu', thread: id, gen: t.gen });
  }

  private onVcpuWake(id: string): void {
    const t = this.threads.get(id);
    if (!t || t.vcpu!.state !== 'halted') return;
    t.vcpu!.state = 'runnable';
    this.wake(t);
  }

  /** Charges the guest-mode time since the segment start to the vCPU and its timers. */
  private accountGuest(v: VcpuRuntime): void {
    if (v.state !== 'guest') return;
    const dt = this.nowNs - v.guestStartNs;
    if (dt <= 0) return;
    v.guestStartNs = this.nowNs;
    v.guestNsTotal += dt;
    v.workloadNsEpoch += dt;
    v.toExitNs -= dt;
    v.toSliceNs -= dt;
    if (v.toHaltNs !== Number.MAX_SAFE_INTEGER) v.toHaltNs -= dt;
  }

  private drawNextExit(t: Thread): void {
    const v = t.vcpu!;
    const vm = this.vms.get(v.vm)!;
    v.toExitNs = t.prng.nextExponentialNs(1 / vm.exitRatePerNs);
    v.exitReason = t.prng.chance(vm.ioShare) ? 'io' : 'msr-write';
  }

  private drawBusyPeriod(t: Thread): void {
    const v = t.vcpu!;
    const r = this.vms.get(v.vm)!.ratesSpec;
    if (r.busyFraction >= 1 || r.hltExitsPerSec <= 0) {
      v.toHaltNs = Number.MAX_SAFE_INTEGER;
      return;
    }
    v.toHaltNs = t.prng.nextExponentialNs((NS_PER_SEC / r.hltExitsPerSec) * r.busyFraction);
  }

  private emitExit(t: Thread, reason: string, costNs: number, msr = 0): void {
    this.emit({ kind: 'vmExit', atNs: this.nowNs, at: this.placeOf(t), reason, costNs, msr });
  }

  // ---- sampling -------------------------------------------------------------------------------

  private onSample(): void {
    this.queue.push(this.nowNs + this.sampleIntervalNs, { t: 'sample' });
    for (const vm of this.vms.values()) {
      for (const id of vm.threads) {
        const t = this.threads.get(id)!;
        const v = t.vcpu!;
        this.accountGuest(v);
        for (let k = 0; k < vm.trackedEvents.length; k++) {
          const actual = Math.floor(vm.rates[vm.trackedIdx[k]] * v.guestNsTotal);
          const observed = vm.spec.vpmu.mode === 'none' ? 0 : actual;
          this.emit({ kind: 'counterSample', atNs: this.nowNs, at: { host: this.id, vm: vm.spec.id, vcpu: v.index }, event: vm.trackedEvents[k], actual, observed });
        }
      }
    }
  }

  private placeOf(t: Thread): { host: string; pcpu: number; vm: string; vcpu: number } {
    const v = t.vcpu!;
    return { host: this.id, pcpu: t.cpu, vm: v.vm, vcpu: v.index };
  }

  private emit(e: SimEvent): void {
    this.events.push(e);
  }
}

/** Classes a migrating VM's state may contain. */
const VM_SNAPSHOT_REGISTRY = new SnapshotRegistry().registerAll([Prng]);

function taskName(vm: VmSpec, vcpu: number, task: number): string {
  return `${vm.workload.profile}/${vcpu}.${task}`;
}

/** Events whose counts are sampled for a VM: those its guest perf sessions use, else a default. */
export function trackedEventsOf(vm: VmSpec): string[] {
  const set = new Set<string>();
  for (const p of vm.guestPerf) for (const e of p.events) set.add(e);
  if (set.size === 0) {
    set.add('instructions');
    set.add('cycles');
  }
  return WORKLOAD_EVENTS.filter((e) => set.has(e));
}
