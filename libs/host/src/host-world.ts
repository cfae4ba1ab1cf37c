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
import type { HostSpec, ProgramOp, Scenario, TimelineEntry, VmSpec } from '@vpmu/world-spec';
import { decodeSnapshot, encodeSnapshot, EventQueue, Prng, SnapshotRegistry, type MigrationPhaseName, type SimEvent } from '@vpmu/sim';
import { migrationIncompatibility, planPrecopy, type PrecopyPlan } from '@vpmu/migration';
import { CostModel, EmulatedVpmu, KvmEventFilter, NoneVpmu, PassthroughVpmu, PMI_VECTORS, type VcpuVpmu, type VpmuHostOps } from '@vpmu/kvm';
import { eventRatesPerNs, GUEST_TICK_NS, GuestPerfVcpu, resolveWorkloadRates, WORKLOAD_EVENTS, type GuestPerfMsrPort } from '@vpmu/guest';
import { CounterBank, createPmuForCpu, EventRates, getCpuPreset, IntelPmu, intelConfigFromPreset, MODE_GUEST, MODE_HOST, MODE_HOST_KERNEL, RATE_SCALE, type ExecMode, type RateRecord } from '@vpmu/pmu';
import { PerfCore, WATCHDOG_THRESH_SEC, type PerfEventAttr, type PerfHooks, type PerfSink } from '@vpmu/perf';
import type { FindingEvent, PerfStateEvent, PmiEvent } from '@vpmu/sim';
import { cpuNominalGhz, guestPmuNeeds, pmuShapeOfHost } from './host-presets';
import { GuestFidelity } from './guest-fidelity';
import type { VcpuFidelity } from './fidelity-monitor';
import { GuestPvPerfVcpu } from '@vpmu/guest';
import { ParavirtWorld, PvGuestPort, pvAttrOfProgram } from './paravirt-world';
import { EXT_VM_SNAPSHOT_CLASSES } from './world-extensions.classes';
import { LbrWorld } from './lbr-world';
import { ArmPmuWorld } from './arm-pmu-world';
import type { GuestLbrOutcome } from '@vpmu/kvm';
import type { VpmuStateRecord } from '@vpmu/migration';
import { checkArmAfterResume, checkFirstEntry, checkPvAfterResume, COUNTER_DISCONTINUITY, crossCheckArrival, leaveWithVpmuState, type VcpuMigrationCheck } from './migration-world';

// Module-level copies of hot imports: a CommonJS barrel re-exports through getters, which the
// dispatch path would otherwise call at every VM exit and entry.
const EmulatedVpmuClass = EmulatedVpmu;
const PassthroughVpmuClass = PassthroughVpmu;
const MODE_GUEST_ = MODE_GUEST;
const MODE_HOST_ = MODE_HOST;
const MODE_HOST_KERNEL_ = MODE_HOST_KERNEL;

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
  | { t: 'vcpu'; thread: string; gen: number; vgen: number }
  | { t: 'noise-wake'; thread: string }
  | { t: 'noise-done'; thread: string; gen: number }
  /** Guest LBR (lbr-world.ts): the end of a read window, or the lazy release timer. */
  | { t: 'lbr'; thread: string; what: 'read-end' | 'timer'; gen: number }
  | { t: 'vcpu-wake'; thread: string }
  | { t: 'sample' }
  | { t: 'perf'; cpu: number; gen: number }
  | { t: 'host-perf'; session: string; action: 'start' | 'stop' }
  | { t: 'guest-perf'; vm: string; session: number; action: 'start' | 'stop' }
  /** A passthrough guest counter's PMI reaching the CPU (overflow + skid). */
  | { t: 'gpmi'; thread: string; stint: number; overflowNs: number; counter: number }
  /** An emulated backing event overflowed while the vCPU ran: the host PMI forces an exit. */
  | { t: 'vpmi'; thread: string; stint: number };

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

/** 'failed': KVM_RUN failed entry (arm64 SET_PMU on an uncovered pCPU); the VMM stopped the vCPU. */
type VcpuState = 'guest' | 'exit' | 'runnable' | 'halted' | 'failed';

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
  /** The vCPU's vPMU backend (null on arm64 hosts: their vPMU is not modelled by these backends). */
  vpmu: VcpuVpmu | null;
  /** Guest perf sessions of the VM, this vCPU's share (index = vms[].guestPerf index). */
  guestPerf: GuestPerfVcpu[];
  /** Guest perf start/stop waiting for the vCPU to run guest code. */
  guestPerfPending: ('start' | 'stop' | null)[];
  /** Guest run time left until the guest's next tick (perf rotation / frequency adjust). */
  toTickNs: number;
  /** Guest time the guest kernel still owes its PMI handler (not workload time). */
  handlerDebtNs: number;
  /** Guest run time spent on the workload (guestNsTotal minus handler time). */
  workNsTotal: number;
  /** Virtual PMIs waiting for injection at the next entry, with their overflow instants. */
  pendingPmis: number[];
  /** Increments at each guest entry (a PMI belongs to one guest stint). */
  stint: number;
  /** Generation of the one live vCPU timer. */
  timerGen: number;
  /** What the guest could observe when the VM was paused for migration (continuity check, migration-world.ts). */
  migrationCheck: VcpuMigrationCheck | null;
  /** Emulated backing events must be recreated on this host before the next entry. */
  reattach: boolean;
  /** Fidelity / isolation monitor state and fault streams of this vCPU (guest-fidelity.ts); null without an x86 vPMU. */
  fidelity: VcpuFidelity | null;
  /** Guest perf sessions of a paravirt VM (hypercalls instead of PMU MSRs), index = vms[].guestPerf index. */
  pvPerf: GuestPvPerfVcpu[];
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
  /** Host perf events (sessions, NMI watchdog, backing events of emulated vPMUs) with their state. */
  perfEvents: { id: string; state: string; count: number; timeEnabledNs: number; timeRunningNs: number }[];
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
  /** The vPMU state (proto VpmuState), cross-checked on arrival (migration-world.ts). */
  vpmu?: VpmuStateRecord;
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
  private readonly pendingResume = new Map<string, { readyAtNs: number; fromHost: string; vpmu?: VpmuStateRecord }>();
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
  private readonly hostPerfRounds = new Map<string, number>();
  private kvmEventSeq = 0;
  /** vPMU fidelity faults and the fidelity / isolation monitors (guest-fidelity.ts). */
  private readonly fidelity: GuestFidelity;
  /** Paravirtual perf tables of the paravirt VMs on this host (paravirt-world.ts). */
  private readonly pv = new ParavirtWorld(this);
  /** LBR stacks per pCPU and guest LBR per vCPU (lbr-world.ts); null when nothing on this host uses the LBR. */
  private readonly lbr: LbrWorld | null;
  /** arm64 PMU device per VM on big.LITTLE hosts (arm-pmu-world.ts); null on x86 hosts. */
  private readonly arm: ArmPmuWorld | null;

  constructor(scenario: Scenario, hostId: string, root: Prng) {
    const spec = scenario.hosts.find((h) => h.id === hostId);
    if (!spec) throw new Error(`HostWorld: no host ${hostId} in the scenario`);
    this.id = hostId;
    this.spec = spec;
    this.scenario = scenario;
    this.prng = root.child(`host/${hostId}`);
    this.fidelity = new GuestFidelity(hostId, root);
    this.costs = new CostModel(scenario.costs, cpuNominalGhz(spec.cpu));
    this.sampleIntervalNs = scenario.sampleIntervalNs;
    const ghz = cpuNominalGhz(spec.cpu);
    this.noiseRates = hostRates(ghz, 1.0, 0.3);
    this.exitRates = hostRates(ghz, 0.8, 1);
    for (let i = 0; i < spec.pcpus; i++) {
      this.cpus.push({ index: i, current: null, runqueue: [], gen: 0, segRates: this.idleRates, segMode: MODE_HOST_, perfDueNs: Infinity, perfGen: 0 });
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
    // Host threads record ~0.2 taken branches per instruction (hostRates' branch fraction).
    this.arm = ArmPmuWorld.create(hostId, spec);
    this.lbr = LbrWorld.create(hostId, spec, scenario.vms.filter((v) => v.host === hostId), this.prng.child('lbr'), this.costs, ghz * 0.2);
    for (const vm of scenario.vms) {
      if (vm.host === hostId) this.addVm(vm, root);
    }
    if (this.sampleIntervalNs > 0) this.queue.push(this.sampleIntervalNs, { t: 'sample' });
    this.armPerfDeadlines();
  }

  get contextSwitchCount(): number {
    return this.contextSwitches;
  }

  private addVm(spec: VmSpec, root: Prng): void {
    const ratesSpec = resolveWorkloadRates(spec.workload);
    const exitPerSec = ratesSpec.ioExitsPerSec + GUEST_TIMER_HZ;
    const tracked = trackedEventsOf(spec);
    const perNs = eventRatesPerNs(ratesSpec);
    const rec: RateRecord = {};
    WORKLOAD_EVENTS.forEach((e, k) => (rec[e] = perNs[k]));
    const vm: VmRuntime = {
      spec,
      rates: perNs,
      guestRates: EventRates.split(rec, ratesSpec.kernelFraction),
      ratesSpec,
      exitRatePerNs: exitPerSec / NS_PER_SEC,
      ioShare: ratesSpec.ioExitsPerSec / exitPerSec,
      threads: [],
      trackedEvents: tracked,
      trackedIdx: tracked.map((e) => (WORKLOAD_EVENTS as readonly string[]).indexOf(e)),
    };
    this.vms.set(spec.id, vm);
    this.pv.addVm(spec);
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
        vpmu: this.createVpmu(spec, i, id),
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
      };
      if (v.vpmu && v.pvPerf.length === 0 && spec.vpmu.mode !== 'paravirt') {
        const host = (v.vpmu as VcpuVpmu).shape.host;
        v.guestPerf = spec.guestPerf.map((g) => new GuestPerfVcpu(g, v.vpmu!.shape.gpCounters, host.fixedCounters, host.gpWidthBits, { fullWidthWrites: host.fullWidthWrites }));
      }
      v.fidelity = this.fidelity.newVcpu(spec, i, v.vpmu, vm.guestRates);
      const t: Thread = { id, affinity: [...spec.affinity[i]], cpu: spec.affinity[i][0], gen: 0, runnable: false, vcpu: v, prng };
      this.drawNextExit(t);
      this.drawBusyPeriod(t);
      this.threads.set(id, t);
      vm.threads.push(id);
    }
    this.lbr?.addVm(spec, vm.threads, perNs[(WORKLOAD_EVENTS as readonly string[]).indexOf('branches')]);
    this.arm?.addVm(spec, this, this.nowNs);
    this.runVmProgram(vm);
    for (const id of vm.threads) this.wake(this.threads.get(id)!);
    spec.guestPerf.forEach((g, k) => {
      this.queue.push(g.startNs, { t: 'guest-perf', vm: spec.id, session: k, action: 'start' });
      if (g.stopNs !== undefined) this.queue.push(g.stopNs, { t: 'guest-perf', vm: spec.id, session: k, action: 'stop' });
    });
  }

  /** The vPMU backend a vCPU gets (issue 4): x86 hosts only; arm64 vPMUs are not modelled here. */
  private createVpmu(spec: VmSpec, index: number, threadId: string): VcpuVpmu | null {
    const preset = getCpuPreset(this.spec.cpu);
    if (preset.arch !== 'intel') return null;
    const o = this.spec.pmu;
    const host = intelConfigFromPreset(preset, {
      ...(o?.gpCounters !== undefined && { gpCounters: o.gpCounters }),
      ...(o?.fixedCounters !== undefined && { fixedCounters: o.fixedCounters }),
      ...(o?.counterWidth !== undefined && { gpWidthBits: o.counterWidth, fixedWidthBits: o.counterWidth }),
      ...(o?.pmiSkidNs !== undefined && { pmiSkidNs: o.pmiSkidNs }),
    });
    const shape = { host, gpCounters: Math.min(spec.vpmu.nrCounters ?? host.gpCounters, host.gpCounters) };
    const label = `${spec.id}/vcpu${index}`;
    switch (spec.vpmu.mode) {
      case 'none':
        return new NoneVpmu('none', shape, this.costs, spec.vpmu.filter, label);
      case 'passthrough':
        return new PassthroughVpmu(shape, this.costs, spec.vpmu.filter, label, spec.vpmu.interceptEventSelect, spec.vpmu.pmiVector);
      case 'paravirt':
        // The paravirtual perf guest has no architectural PMU (CPUID.0AH empty, MSRs #GP): its perf
        // driver uses hypercalls (paravirt-world.ts); the backend only carries the hypercall exits.
        return new NoneVpmu('paravirt', shape, this.costs, spec.vpmu.filter, label);
      default:
        return new EmulatedVpmu(shape, this.costs, spec.vpmu.filter, label, threadId);
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
    this.armPerfDeadlines();
    const queue = this.queue;
    for (let entry = queue.popBefore(endNs); entry !== undefined; entry = queue.popBefore(endNs)) {
      this.nowNs = entry.dueNs;
      this.dispatch(entry.item);
      this.armPerfDeadlines();
    }
    this.nowNs = endNs;
    if (endNs >= this.scenario.durationNs && !this.finalPerfReported) {
      this.finalPerfReported = true;
      this.reportFinal();
      this.reportExtFinal();
      this.armPerfDeadlines();
    }
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
      // Instructions retired on the workload (PMI-handler time excluded), as the PMU counts them.
      units = truthCount(vm.guestRates.totalQ[0], guestNs);
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
        const view = this.counterView(vm, t);
        vm.trackedEvents.forEach((e, k) => (counters[e] = view[k]));
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
    this.syncAllCpus();
    const perfEvents = this.perf
      .readAll(this.nowNs)
      .map((r) => ({ id: r.id, state: r.state, count: r.count, timeEnabledNs: r.timeEnabledNs, timeRunningNs: r.timeRunningNs }));
    return { host: this.id, atNs: this.nowNs, pcpus, vcpus, noise, perfEvents };
  }

  private queueAction(entry: TimelineEntry): void {
    this.queue.push(entry.atNs, { t: 'action', entry });
  }

  /** Every host sees every action; each acts on what concerns the VMs and sessions it holds. */
  private onAction(entry: TimelineEntry): void {
    const a = entry.action;
    if (a.kind === 'migrate') this.onMigrate(a.vm, a.to, a.bandwidthBytesPerSec, a.maxDowntimeNs);
    else if (a.kind === 'fault') this.onFault(entry);
    else if (a.kind === 'hostPerf' && a.host === this.id) this.onHostPerf(a.session, a.action);
    else if (a.kind === 'setPmu') {
      // KVM_ARM_VCPU_PMU_V3_SET_PMU from the VMM of a VM on this host (arm-pmu-world.ts).
      if (this.vms.has(a.vm)) this.emit(this.arm ? this.arm.timelineSetPmu(a.vm, a.pmu, this.nowNs) : { kind: 'finding', atNs: this.nowNs, at: { host: this.id, vm: a.vm }, findingKind: 'timeline-action', detail: `setPmu ${a.pmu}: ENXIO: host ${this.id} is not arm64 (no KVM_ARM_VCPU_PMU_V3_CTRL)` });
    } else if (a.kind === 'guestPerf') {
      const vm = this.vms.get(a.vm);
      const k = vm ? vm.spec.guestPerf.findIndex((g) => g.id === a.session) : -1;
      if (vm && k >= 0) this.onGuestPerf(a.vm, k, a.action);
    }
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
      const v = t.vcpu!;
      if (v.vpmu) {
        // The vPMU state travels with the VM: the guest counters must continue exactly.
        const ops = new WorldVpmuOps(this, t);
        if (v.vpmu instanceof EmulatedVpmuClass) {
          v.vpmu.detach(ops);
          v.reattach = true;
        }
      }
      for (const g of v.pvPerf) g.detach((id) => this.pv.peek(vmId, id), v.guestNsTotal);
      threads.push(t);
      this.threads.delete(id);
    }
    // The quiesced vPMU: continuity references, the test-only drop fault, the VpmuState message.
    const vpmuState = leaveWithVpmuState({
      spec: vm.spec,
      eventsInUse: vm.trackedEvents,
      vcpus: threads.map((t) => t.vcpu!),
      opsOf: (i) => new WorldVpmuOps(this, threads[i]),
      lbrOf: (i) => this.lbr?.guestLbr(threads[i].id) ?? null,
      arm: this.arm?.pmuOf(vmId) ?? null,
      drop: this.fidelity.injector.active('test-migration-drop-state', vmId, this.id, this.nowNs),
    });
    this.vms.delete(vmId);
    this.lbr?.removeVm(vmId);
    this.arm?.removeVm(vmId);
    this.pv.removeVm(vmId); // the paravirt table travels as guest state; its host events are closed here
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
      vpmu: vpmuState,
    });
  }

  /** Takes a thread off its CPU or run queue for good (its VM leaves this host). */
  private pauseThread(t: Thread): void {
    const v = t.vcpu!;
    this.accountGuest(v);
    const cpu = this.cpus[t.cpu];
    if (cpu.current === t.id) {
      if (v.state === 'guest') {
        this.leaveGuest(t);
        this.emitExit(t, 'migration-pause', this.costs.costNs('vmExitRoundTripCycles'));
      }
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
    if (tr.vpmu) {
      for (const d of crossCheckArrival(tr.vpmu, vm.spec, vm.trackedEvents, threads.map((t) => t.vcpu!))) {
        this.emit({ kind: 'finding', atNs: this.nowNs, at: { host: this.id, vm: vm.spec.id }, findingKind: COUNTER_DISCONTINUITY, detail: d });
      }
    }
    const resumeAtNs = Math.max(tr.readyAtNs, this.nowNs);
    this.arriving.set(vm.spec.id, resumeAtNs);
    this.pendingResume.set(vm.spec.id, { readyAtNs: tr.readyAtNs, fromHost: tr.fromHost, ...(tr.vpmu && { vpmu: tr.vpmu }) });
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
    this.pv.addVm(vm.spec);
    this.arm?.addVm(vm.spec, this, this.nowNs);
    for (const id of vm.threads) {
      const v = this.threads.get(id)!.vcpu!;
      // KVM on the destination reopens the guest's paravirt events under their ids (downtime, no guest exits).
      for (const g of v.pvPerf) g.attach(new PvGuestPort(this.pv, vmId, v.index, [], this.costs), v.guestNsTotal);
      for (const d of checkPvAfterResume(v, (pvId) => this.pv.peek(vmId, pvId))) this.emit({ kind: 'finding', atNs: this.nowNs, at: { host: this.id, vm: vmId, vcpu: v.index }, findingKind: COUNTER_DISCONTINUITY, detail: d });
    }
    for (const d of checkArmAfterResume(r.vpmu, this.arm?.pmuOf(vmId) ?? null)) this.emit({ kind: 'finding', atNs: this.nowNs, at: { host: this.id, vm: vmId }, findingKind: COUNTER_DISCONTINUITY, detail: d });
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
        return this.onVcpuTimer(item.thread, item.gen, item.vgen);
      case 'perf':
        return this.onPerfDeadline(item.cpu, item.gen);
      case 'host-perf':
        return this.onHostPerf(item.session, item.action);
      case 'guest-perf':
        return this.onGuestPerf(item.vm, item.session, item.action);
      case 'gpmi':
        return this.onPassthroughPmi(item.thread, item.stint, item.overflowNs, item.counter);
      case 'vpmi':
        return this.onEmulatedPmi(item.thread, item.stint);
      case 'noise-wake':
        return this.onNoiseWake(item.thread);
      case 'noise-done':
        return this.onNoiseDone(item.thread, item.gen);
      case 'vcpu-wake':
        return this.onVcpuWake(item.thread);
      case 'sample':
        return this.onSample();
      case 'lbr':
        return this.onLbrItem(item.thread, item.what, item.gen);
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
    this.syncCpu(cpu);
    t.gen++;
    const v = t.vcpu;
    if (v) {
      if (v.state === 'guest') {
        this.leaveGuest(t);
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
    if (this.lbr) this.lbrSwitchOut(t, cpu);
    this.perf.cpus[cpu.index].schedOut(this.nowNs);
    this.setSegment(cpu, this.idleRates, MODE_HOST_);
    cpu.current = null;
  }

  /** Puts `next` on `cpu` and emits the host context switch. */
  private switchTo(cpu: Pcpu, next: string, preempted: boolean, prev: string | null = null): void {
    this.syncCpu(cpu);
    cpu.current = next;
    const t = this.threads.get(next)!;
    t.cpu = cpu.index;
    t.gen++;
    this.contextSwitches++;
    this.emit({ kind: 'contextSwitch', atNs: this.nowNs, at: { host: this.id, pcpu: cpu.index }, prevThread: prev ?? 'idle', nextThread: next, preempted });
    // perf_event_task_sched_in: the thread's per-task perf context follows it onto this CPU.
    this.perf.cpus[cpu.index].schedIn(next, this.nowNs);
    this.armSlice(cpu);
    if (this.lbr) this.lbrApply(t, this.lbr.switchIn(t.id, cpu.index, this.nowNs));
    if (t.vcpu) this.resumeVcpu(t);
    else if (t.noise) {
      this.setSegment(cpu, this.noiseRates, MODE_HOST_);
      t.noise.runStartNs = this.nowNs;
      this.queue.push(this.nowNs + t.noise.remainingNs, { t: 'noise-done', thread: t.id, gen: t.gen });
    }
  }

  /** The current thread of `cpu` blocks: run the next queued thread, steal one, or go idle. */
  private blockCurrent(cpu: Pcpu): void {
    const prev = cpu.current!;
    const t = this.threads.get(prev)!;
    this.syncCpu(cpu);
    t.runnable = false;
    t.gen++;
    if (this.lbr) this.lbrSwitchOut(t, cpu);
    cpu.current = null;
    this.perf.cpus[cpu.index].schedOut(this.nowNs);
    this.setSegment(cpu, this.idleRates, MODE_HOST_);
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
      this.setSegment(this.cpus[t.cpu], this.exitRates, MODE_HOST_KERNEL_);
      this.pushVcpuTimer(t, v.exitUntilNs);
      return;
    }
    this.enterGuest(t);
  }

  /** VM entry: perf_guest_enter + guest PMU context load (passthrough), PMI injection, guest work. */
  private enterGuest(t: Thread): void {
    const v = t.vcpu!;
    const vm = this.vms.get(v.vm)!;
    const cpu = this.cpus[t.cpu];
    if (this.arm && this.armEntryFails(t)) return;
    v.state = 'guest';
    v.guestStartNs = this.nowNs;
    v.stint++;
    this.setSegment(cpu, this.fidelity.guestRates(v, vm.guestRates, this.nowNs), MODE_GUEST_);
    const ops = new WorldVpmuOps(this, t);
    const vpmu = v.vpmu;
    if (vpmu instanceof PassthroughVpmuClass) {
      const pc = this.perf.cpus[cpu.index];
      // perf_guest_enter schedules the host's core-PMU events out, then KVM loads the guest context.
      pc.guestEnter(this.nowNs);
      vpmu.load(pc.pmu as IntelPmu, ops);
    } else if (vpmu instanceof EmulatedVpmuClass && v.reattach) {
      v.reattach = false;
      vpmu.attach(ops);
    }
    // First entry after a migration, before any PMI injection: the continuity invariants (migration-world.ts).
    if (v.migrationCheck) for (const d of checkFirstEntry(v, ops)) this.emit({ kind: 'finding', atNs: this.nowNs, at: this.placeOf(t), findingKind: COUNTER_DISCONTINUITY, detail: d });
    this.fidelity.onEntry(v, ops, this.nowNs, this.perf, t.cpu);
    let injected = false;
    if (vpmu && (v.pendingPmis.length > 0 || (vpmu instanceof EmulatedVpmuClass && vpmu.pendingPmi))) {
      injected = true;
      this.injectGuestPmis(t, ops);
    }
    this.fidelity.afterEntry(v, ops);
    if (v.pvPerf.length > 0) this.pvSyncBeforeEntry(t);
    // A guest LBR read whose window outlasted a preemption or an exit reads the stack now.
    if (this.lbr?.readEndDue(t.id)) this.lbrApply(t, this.lbr.readEnd(t.id, t.cpu, this.nowNs));
    if (v.pmuSwitchOnEntry) {
      this.emit({ kind: 'vmEntry', atNs: this.nowNs, at: this.placeOf(t), pmuSwitchNs: this.costs.costNs('pmuContextSwitchCycles'), pmiInjected: injected });
    }
    const pending = v.guestPerfPending;
    for (let k = 0, n = pending.length; k < n; k++) {
      const action = pending[k];
      if (action === null || action === undefined) continue;
      pending[k] = null;
      this.guestPerfAction(t, k, action, ops);
    }
    if (this.applyTraps(t)) return;
    this.armVcpuTimer(t);
  }

  /** The next guest-mode deadline of a vCPU: exit source, guest slice, halt or guest tick. */
  private armVcpuTimer(t: Thread): void {
    const v = t.vcpu!;
    let dueIn = Math.min(v.toExitNs, v.toSliceNs, v.toHaltNs);
    if (anyRunning(v.guestPerf)) dueIn = Math.min(dueIn, Math.max(0, v.toTickNs));
    this.pushVcpuTimer(t, this.nowNs + dueIn);
  }

  private pushVcpuTimer(t: Thread, atNs: number): void {
    const v = t.vcpu!;
    v.timerGen++;
    this.queue.push(atNs, { t: 'vcpu', thread: t.id, gen: t.gen, vgen: v.timerGen });
  }

  /** The vCPU leaves guest mode on its pCPU: account, and (passthrough) save + perf_guest_exit. */
  private leaveGuest(t: Thread): void {
    const v = t.vcpu!;
    const cpu = this.cpus[t.cpu];
    this.accountGuest(v);
    this.setSegment(cpu, this.exitRates, MODE_HOST_KERNEL_);
    if (v.fidelity) this.fidelity.onLeave(v, new WorldVpmuOps(this, t));
    const vpmu = v.vpmu;
    if (vpmu instanceof PassthroughVpmuClass && vpmu.loaded) {
      const pc = this.perf.cpus[cpu.index];
      vpmu.save(pc.pmu as IntelPmu); // KVM saves the guest context before perf takes the PMU back
      pc.guestExit(this.nowNs);
    }
    v.timerGen++; // the guest-mode timer is void
  }

  /** An exit the guest did not plan (PMI, trapped accesses): host-mode handling for `costNs`. */
  private forceExit(t: Thread, costNs: number): void {
    const v = t.vcpu!;
    v.state = 'exit';
    v.exitUntilNs = this.nowNs + costNs;
    this.pushVcpuTimer(t, v.exitUntilNs);
  }

  /** Exits for the accesses the backend trapped during guest work just done; true if it exited. */
  private applyTraps(t: Thread): boolean {
    const v = t.vcpu!;
    const vpmu = v.vpmu;
    if (!vpmu || vpmu.traps.length === 0) return false;
    const traps = vpmu.traps;
    vpmu.traps = [];
    if (v.state !== 'guest') return false;
    this.leaveGuest(t);
    let total = 0;
    for (const tr of traps) {
      this.emitExit(t, tr.reason, tr.costNs, tr.msr);
      total += tr.costNs;
    }
    // Passthrough: the exits also switch the PMU context (mediated vPMU v6 patch 34/44, DOMAIN.md).
    if (vpmu instanceof PassthroughVpmuClass) total += this.costs.costNs('pmuContextSwitchCycles');
    this.forceExit(t, total);
    return true;
  }

  private onVcpuTimer(id: string, gen: number, vgen: number): void {
    const t = this.threads.get(id);
    if (!t || t.gen !== gen) return; // stale: switched since, or the VM migrated away
    const v = t.vcpu!;
    if (v.timerGen !== vgen) return; // superseded by a forced exit or a re-entry
    if (v.state === 'exit') {
      // Exit handled: back into the guest.
      this.enterGuest(t);
      return;
    }
    this.accountGuest(v);
    if (v.toTickNs <= 0) {
      while (v.toTickNs <= 0) v.toTickNs += GUEST_TICK_NS;
      if (v.vpmu && anyRunning(v.guestPerf)) {
        const port = new GuestPort(v.vpmu, new WorldVpmuOps(this, t));
        for (const g of v.guestPerf) g.tick(port, v.guestNsTotal);
        if (this.applyTraps(t)) return;
      }
    }
    if (v.toHaltNs === 0) {
      this.leaveGuest(t);
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
        // perf_pmu_sched_task: LBR call-stack mode reads the stack at each guest task switch.
        if (this.lbr && this.lbrReadBegin(t, 'sched-task') && this.applyTraps(t)) return;
      }
    }
    if (v.toExitNs === 0) {
      const reason = v.exitReason;
      this.drawNextExit(t);
      let cost =
        reason === 'io'
          ? this.costs.costNs('vmExitRoundTripCycles') + this.costs.costNs('ioExitHandlingNs')
          : this.costs.costNs('msrTrapCycles');
      // Passthrough: every exit/entry pair also switches the PMU context (DOMAIN.md cost table).
      if (v.vpmu instanceof PassthroughVpmuClass) cost += this.costs.costNs('pmuContextSwitchCycles');
      this.leaveGuest(t);
      this.emitExit(t, reason, cost, reason === 'msr-write' ? 0x6e0 : 0);
      this.forceExit(t, cost);
      return;
    }
    // Guest slice ended without an exit: keep running in guest mode.
    v.guestStartNs = this.nowNs;
    this.armVcpuTimer(t);
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
    if (this.arm) {
      const t = this.threads.get(`vcpu:${v.vm}/${v.index}`);
      if (t) for (const f of this.arm.guestRan(v.vm, v.index, t.cpu, this.nowNs - dt, this.nowNs)) this.emit(f);
    }
    if (this.lbr) {
      const id = `vcpu:${v.vm}/${v.index}`;
      if (this.lbr.has(id)) this.lbr.guestRan(id, this.threads.get(id)!.cpu, dt);
    }
    // Guest time the guest kernel spends in its PMI handler is not workload time.
    const owed = Math.min(v.handlerDebtNs, dt);
    v.handlerDebtNs -= owed;
    v.workloadNsEpoch += dt - owed;
    v.workNsTotal += dt - owed;
    v.toExitNs -= dt;
    v.toSliceNs -= dt;
    v.toTickNs -= dt;
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
    if (t.vcpu!.fidelity) this.fidelity.onExit(t.vcpu!, reason, new WorldVpmuOps(this, t), this.nowNs);
  }

  // ---- sampling -------------------------------------------------------------------------------

  private onSample(): void {
    this.queue.push(this.nowNs + this.sampleIntervalNs, { t: 'sample' });
    for (const vm of this.vms.values()) {
      for (const id of vm.threads) {
        const t = this.threads.get(id)!;
        const v = t.vcpu!;
        this.accountGuest(v);
        const view = this.counterView(vm, t);
        for (let k = 0; k < vm.trackedEvents.length; k++) {
          this.emit({ kind: 'counterSample', atNs: this.nowNs, at: { host: this.id, vm: vm.spec.id, vcpu: v.index }, event: vm.trackedEvents[k], ...view[k] });
        }
        const ops = new WorldVpmuOps(this, t);
        if (v.vpmu instanceof EmulatedVpmuClass) v.vpmu.checkStarved(ops);
        if (v.vpmu instanceof PassthroughVpmuClass) v.vpmu.checkFilter(ops);
        if (v.fidelity) this.fidelity.onSample(v, ops);
      }
    }
  }

  /**
   * Per tracked event of one vCPU: the ground truth and what the guest observes. With a guest perf
   * session counting the event: its scaled count (as perf prints it) against the true count over
   * the guest time the session was enabled. Without one: the truth since the VM started and 0
   * observed (nothing in the guest reads it). arm64 VMs (vPMU not modelled here) report the truth.
   */
  private counterView(vm: VmRuntime, t: Thread): { actual: number; observed: number }[] {
    const v = t.vcpu!;
    if (v.pvPerf.length > 0) return this.pvCounterView(vm, v);
    const ops = new WorldVpmuOps(this, t);
    const readings = v.vpmu ? v.guestPerf.map((g) => (g.running || g.windowNs > 0 ? g.readings((c) => v.vpmu!.peek(ops, c), v.guestNsTotal) : null)) : [];
    return vm.trackedEvents.map((event, k) => {
      const q = vm.guestRates.totalQ[vm.trackedIdx[k]];
      if (!v.vpmu) {
        const actual = truthCount(q, v.guestNsTotal);
        // arm64: the guest's counters count only on pCPUs its VM's PMU covers (arm-pmu-world.ts).
        const countedNs = this.arm?.countedNs(v.vm, v.index) ?? null;
        return { actual, observed: vm.spec.vpmu.mode === 'none' ? 0 : countedNs !== null ? truthCount(q, countedNs) : actual };
      }
      for (let j = 0; j < v.guestPerf.length; j++) {
        const r = readings[j]?.find((x) => x.event === event);
        if (r) return { actual: truthCount(q, v.guestPerf[j].windowUntil(v.guestNsTotal)), observed: r.scaledCount };
      }
      return { actual: truthCount(q, v.guestNsTotal), observed: 0 };
    });
  }

  // ---- host perf integration (issue 3) ---------------------------------------------------------

  /** Advances pCPU `cpu`'s PMU and perf state to now under what ran on it since the last call. */
  private syncCpu(cpu: Pcpu): void {
    const pc = this.perf.cpus[cpu.index];
    if (pc.nowNs < this.nowNs) pc.advanceTo(this.nowNs, cpu.segRates, cpu.segMode);
    this.dirtyCpus.add(cpu.index);
    if (pc.inGuest) {
      const ovfs = pc.takeGuestOverflows();
      if (ovfs.length > 0 && cpu.current !== null) {
        const t = this.threads.get(cpu.current)!;
        for (const o of ovfs) {
          if (!o.pmi) continue;
          this.queue.push(Math.max(o.pmiNs, this.nowNs), { t: 'gpmi', thread: t.id, stint: t.vcpu!.stint, overflowNs: o.overflowNs, counter: o.counterId });
        }
      }
    }
    if (cpu.current !== null) {
      const v = this.threads.get(cpu.current)!.vcpu;
      if (v && v.state === 'guest' && v.vpmu instanceof EmulatedVpmuClass && v.vpmu.pendingPmi && !v.vpmu.pmiExitQueued) {
        v.vpmu.pmiExitQueued = true;
        this.queue.push(this.nowNs, { t: 'vpmi', thread: cpu.current, stint: v.stint });
      }
    }
  }

  private syncAllCpus(): void {
    for (const c of this.cpus) this.syncCpu(c);
  }

  /** From now on `cpu` runs at `rates` in `mode` (the past is accounted under the old segment). */
  private setSegment(cpu: Pcpu, rates: EventRates, mode: ExecMode): void {
    this.syncCpu(cpu);
    cpu.segRates = rates;
    cpu.segMode = mode;
  }

  /** Puts each touched pCPU's next perf deadline (overflow, PMI, rotation, tick) in the queue. */
  private armPerfDeadlines(): void {
    if (this.dirtyCpus.size === 0) return;
    const dirty = this.dirtyCpus;
    for (const i of dirty) {
      // Deleting the visited entry (instead of clear() afterwards, which reallocates the table).
      dirty.delete(i);
      const c = this.cpus[i];
      const due = this.perf.cpus[i].nextDeadlineNs(c.segRates, c.segMode);
      // A wake-up at or before `due` is already queued: it syncs this pCPU and re-arms, and an
      // early sync changes nothing (PMU and perf advance exactly in any chunking). Keeping it
      // saves a queue push per VM exit and entry, where the deadline toggles between a host
      // event's overflow and none.
      if (due >= c.perfDueNs) continue;
      c.perfDueNs = due;
      c.perfGen++;
      if (Number.isFinite(due)) this.queue.push(Math.max(due, this.nowNs), { t: 'perf', cpu: i, gen: c.perfGen });
    }
  }

  private onPerfDeadline(cpuIndex: number, gen: number): void {
    const c = this.cpus[cpuIndex];
    if (c.perfGen !== gen) return;
    c.perfDueNs = Infinity;
    this.syncCpu(c);
  }

  /** Host perf session start (perf_event_open per CPU and event) or stop (close). */
  private onHostPerf(sessionId: string, action: 'start' | 'stop'): void {
    const session = this.spec.perf.find((p) => p.id === sessionId);
    if (!session) return;
    this.syncAllCpus();
    const opened = this.hostPerfEvents.get(sessionId);
    if (action === 'stop') {
      for (const id of opened ?? []) this.perf.close(id, this.nowNs);
      return;
    }
    if (opened && opened.length > 0) {
      // A restart re-opens the session under fresh ids.
      this.hostPerfEvents.set(sessionId, []);
    }
    const ids: string[] = this.hostPerfEvents.get(sessionId) ?? [];
    const round = this.hostPerfRounds.get(sessionId) ?? 0;
    this.hostPerfRounds.set(sessionId, round + 1);
    const cpus = session.cpus === 'all' ? this.cpus.map((c) => c.index) : session.cpus;
    for (const cpu of cpus) {
      let leader: string | undefined;
      for (const event of session.events) {
        const attr: PerfEventAttr = {
          event,
          ...(session.excludeGuest && { excludeGuest: true }),
          ...(session.excludeHost && { excludeHost: true }),
          ...(session.excludeUser && { excludeUser: true }),
          ...(session.excludeKernel && { excludeKernel: true }),
          ...(session.pinned && (!session.group || leader === undefined) && { pinned: true }),
          ...(session.sample?.freqHz !== undefined && { sampleFreqHz: session.sample.freqHz }),
          ...(session.sample?.periodEvents !== undefined && { samplePeriod: session.sample.periodEvents }),
        };
        const id = `${sessionId}${round > 0 ? `#${round}` : ''}/${event}@cpu${cpu}`;
        const r = this.perf.createEvent(attr, { cpu, id, ...(session.group && leader !== undefined && { groupLeader: leader }) }, this.nowNs);
        if (r.ok) {
          ids.push(r.id);
          if (session.group && leader === undefined) leader = r.id;
        }
      }
    }
    this.hostPerfEvents.set(sessionId, ids);
  }

  /** End of the run: final host perf readings and guest perf reports. */
  private reportFinal(): void {
    this.syncAllCpus();
    this.emitFidelityRecords();
    for (const r of this.perf.readAll(this.nowNs)) {
      // Final readings travel as a guestPerf-shaped record without a VM (command "host-perf:<state>"):
      // the summary turns them into hosts.<id>.perfEvents with their times.
      this.emit({ kind: 'guestPerf', atNs: this.nowNs, at: { host: this.id }, command: `host-perf:${r.state}`, event: r.id, count: r.count, timeEnabledNs: r.timeEnabledNs, timeRunningNs: r.timeRunningNs, samples: r.samples });
    }
    for (const vm of this.vms.values()) {
      vm.spec.guestPerf.forEach((g, k) => {
        const totals = new Map<string, { count: number; enabled: number; running: number; samples: number }>();
        for (const id of vm.threads) {
          const t = this.threads.get(id)!;
          const v = t.vcpu!;
          if (!v.vpmu || (!v.guestPerf[k] && !v.pvPerf[k])) continue;
          this.accountGuest(v);
          const ops = new WorldVpmuOps(this, t);
          const rows = v.pvPerf[k] ? v.pvPerf[k].readings((id) => this.pv.peek(v.vm, id), v.guestNsTotal) : v.guestPerf[k].readings((c) => v.vpmu!.peek(ops, c), v.guestNsTotal);
          for (const r of rows) {
            const a = totals.get(r.event) ?? { count: 0, enabled: 0, running: 0, samples: 0 };
            a.count += r.scaledCount;
            a.enabled += r.timeEnabledNs;
            a.running += r.timeRunningNs;
            a.samples += r.samples;
            totals.set(r.event, a);
          }
        }
        for (const [event, a] of totals) {
          this.emit({ kind: 'guestPerf', atNs: this.nowNs, at: { host: this.id, vm: vm.spec.id }, command: `${g.command}:${g.id}`, event, count: a.count, timeEnabledNs: a.enabled, timeRunningNs: a.running, samples: a.samples });
        }
      });
    }
  }

  /** Records from the host perf core (perfState, pmi, finding), through HostPerfSink. */
  emitFromModel(e: SimEvent): void {
    this.events.push(e);
  }

  // ---- vPMU backends and guest perf (issue 4) ------------------------------------------------

  private onGuestPerf(vmId: string, k: number, action: 'start' | 'stop'): void {
    const vm = this.vms.get(vmId);
    if (!vm) return;
    for (const id of vm.threads) {
      const t = this.threads.get(id)!;
      const v = t.vcpu!;
      if (!v.vpmu || (!v.guestPerf[k] && !v.pvPerf[k])) continue;
      const cpu = this.cpus[t.cpu];
      if (v.state === 'guest' && cpu.current === t.id) {
        this.accountGuest(v);
        this.guestPerfAction(t, k, action, new WorldVpmuOps(this, t));
        if (!this.applyTraps(t)) this.armVcpuTimer(t);
      } else {
        // The guest kernel acts when the vCPU next runs guest code.
        v.guestPerfPending[k] = action;
      }
    }
  }

  private guestPerfAction(t: Thread, k: number, action: 'start' | 'stop', ops: WorldVpmuOps): void {
    const v = t.vcpu!;
    if (v.pvPerf[k]) {
      // Paravirt: the guest perf driver's hypercalls (each a VMCALL exit, queued as a trap).
      const pvPort = new PvGuestPort(this.pv, v.vm, v.index, v.vpmu!.traps, this.costs);
      if (action === 'start') v.pvPerf[k].start(pvPort, v.guestNsTotal);
      else v.pvPerf[k].stop(pvPort, v.guestNsTotal);
      return;
    }
    const port = new GuestPort(v.vpmu!, ops);
    if (action === 'start') v.guestPerf[k].start(port, v.guestNsTotal, this.nowNs);
    else v.guestPerf[k].stop(port, v.guestNsTotal);
    if (this.lbr) this.lbrApply(t, this.lbr.guestPerf(t.id, t.cpu, k, action, this.nowNs));
  }

  /** A passthrough guest counter's PMI reaches the pCPU. */
  private onPassthroughPmi(id: string, stint: number, overflowNs: number, counter: number): void {
    const t = this.threads.get(id);
    if (!t) return;
    const v = t.vcpu!;
    const vpmu = v.vpmu;
    if (!(vpmu instanceof PassthroughVpmuClass)) return;
    const running = v.state === 'guest' && v.stint === stint && this.cpus[t.cpu].current === t.id;
    const skidNs = this.fidelity.onPmiArrival(v, overflowNs, counter, this.nowNs, running);
    if (skidNs > 0) {
      // pmi-skid fault: the PMI reaches the CPU later while the guest keeps running.
      this.queue.push(this.nowNs + skidNs, { t: 'gpmi', thread: id, stint, overflowNs, counter });
      return;
    }
    if (v.state === 'guest' && v.stint === stint && this.cpus[t.cpu].current === t.id) {
      // Delivered while the guest runs: the PMI exits (KVM's guest PMI vector), is injected at re-entry.
      v.pendingPmis.push(overflowNs);
      this.leaveGuest(t);
      const cost = this.costs.costNs('vmExitRoundTripCycles') + this.costs.costNs('pmuContextSwitchCycles');
      this.emitExit(t, 'pmi', cost);
      this.forceExit(t, cost);
      return;
    }
    // Several counters overflowing together raise one PMI: an overflow behind a guest PMI still
    // waiting for injection (same stint) rides on it, whatever the vector — the guest's handler
    // reads every GLOBAL_STATUS bit.
    if (v.pendingPmis.length > 0 && v.stint === stint) {
      v.pendingPmis.push(overflowNs);
      return;
    }
    // The overflow happened just before an exit and the PMI arrived in host mode (skid).
    if (vpmu.pmiVector === 'dedicated') {
      // The dedicated vector names the guest as the owner: KVM injects it at the next entry.
      v.pendingPmis.push(overflowNs);
      return;
    }
    this.emit({ kind: 'pmi', atNs: this.nowNs, at: this.placeOf(t), counter: `${v.vm}/vcpu${v.index}/c${counter}`, owner: 'guest', deliveredTo: 'host', vector: PMI_VECTORS.shared, overflowNs, skidNs: this.nowNs - overflowNs, lost: true });
    this.emit({
      kind: 'finding',
      atNs: this.nowNs,
      at: this.placeOf(t),
      findingKind: 'pmi-misattributed',
      detail: `${v.vm}/vcpu${v.index}: guest counter ${counter} overflowed at ${overflowNs} ns just before a VM exit; its PMI arrived at ${this.nowNs} ns on the shared NMI vector and was taken by the host perf handler: the guest never sees it`,
    });
  }

  /** An emulated backing event's host PMI while the vCPU runs: NMI exit, injection at re-entry. */
  private onEmulatedPmi(id: string, stint: number): void {
    const t = this.threads.get(id);
    if (!t) return;
    const v = t.vcpu!;
    const vpmu = v.vpmu;
    if (!(vpmu instanceof EmulatedVpmuClass)) return;
    if (vpmu.pendingPmi) {
      const running = v.state === 'guest' && v.stint === stint && this.cpus[t.cpu].current === t.id;
      const skidNs = this.fidelity.onPmiArrival(v, vpmu.pendingPmiOverflowNs, -1, this.nowNs, running);
      if (skidNs > 0) {
        this.queue.push(this.nowNs + skidNs, { t: 'vpmi', thread: id, stint }); // pmi-skid fault
        return;
      }
    }
    vpmu.pmiExitQueued = false;
    if (!vpmu.pendingPmi || v.state !== 'guest' || v.stint !== stint || this.cpus[t.cpu].current !== t.id) return;
    // L. Xu (kvm list, 2019; DOMAIN.md): guest PMI handling in the emulated vPMU ~99 us, ~56 us
    // when perf events are reused. The figure covers the NMI exit, kvm_perf_overflow, injection and
    // the guest handler's trapped MSRs; those traps are charged one by one, the rest here.
    const total = this.costs.costNs(vpmu.recreatedSinceLastPmi ? 'guestPmiEmulatedNs' : 'guestPmiEmulatedReusedNs');
    vpmu.recreatedSinceLastPmi = false;
    const handlerTraps = 6 * this.costs.costNs('msrTrapCycles');
    const cost = Math.max(this.costs.costNs('vmExitRoundTripCycles'), total - handlerTraps);
    this.leaveGuest(t);
    this.emitExit(t, 'pmi', cost);
    this.forceExit(t, cost);
  }

  /** Injects the pending virtual PMIs and runs the guest's PMI handler (guest perf). */
  private injectGuestPmis(t: Thread, ops: WorldVpmuOps): void {
    const v = t.vcpu!;
    const vpmu = v.vpmu!;
    const overflows = [...v.pendingPmis];
    v.pendingPmis = [];
    if (vpmu instanceof EmulatedVpmuClass && vpmu.pendingPmi) {
      // Every backing event that overflowed since the last injection (one PMI handles them all).
      for (const ns of vpmu.takePendingOverflows()) overflows.push(ns);
    }
    const vector = vpmu instanceof PassthroughVpmuClass ? PMI_VECTORS[vpmu.pmiVector] : PMI_VECTORS.shared;
    for (const overflowNs of overflows) {
      this.emit({ kind: 'pmi', atNs: this.nowNs, at: this.placeOf(t), counter: `${v.vm}/vcpu${v.index}`, owner: 'guest', deliveredTo: 'guest', vector, overflowNs, skidNs: this.nowNs - overflowNs, lost: false });
    }
    const port = new GuestPort(vpmu, ops);
    // The guest's perf_clock() is kvmclock (host time): the exit and injection time counts too.
    for (const g of v.guestPerf) g.pmi(port, v.guestNsTotal, this.nowNs);
    // LBR call-stack mode: the PMI handler reads the stack (DEBUGCTL.LBR cleared first).
    if (this.lbr) this.lbrReadBegin(t, 'pmi');
    // The guest's NMI handler itself runs in the guest: no public figure, chosen (cost-model.ts).
    v.handlerDebtNs += overflows.length * this.costs.costNs('guestPmiHandlerNs');
  }

  /** Runs the VM's guest program (`vms[].program`) at VM start, each op on its vCPU. */
  private runVmProgram(vm: VmRuntime): void {
    const results: { result: 'ok' | 'gp' | 'undefined'; value: number; errno?: string }[] = [];
    vm.spec.program.forEach((op, step) => {
      let result: 'ok' | 'gp' | 'undefined' = 'ok';
      let value = 0;
      let ok = true;
      let vcpuIndex = 0;
      let errno: string | undefined;
      if (op.op === 'expect') {
        const ref = results[op.step];
        if (!ref) ok = false;
        else {
          if (op.fault !== undefined) ok &&= (op.fault === 'none' ? 'ok' : op.fault) === ref.result;
          if (op.equals !== undefined) ok &&= ref.result === 'ok' && ref.value === op.equals;
          if (op.atLeast !== undefined) ok &&= ref.result === 'ok' && ref.value >= op.atLeast;
          if (op.atMost !== undefined) ok &&= ref.result === 'ok' && ref.value <= op.atMost;
          if (op.errno !== undefined) ok &&= ref.errno === op.errno;
          else if (ref.errno !== undefined && (op.equals !== undefined || op.fault === 'none')) ok = false;
          value = ref.value;
        }
      } else if (op.op === 'hypercall' || op.op === 'armRead' || op.op === 'armWrite' || op.op === 'setPmu' || op.op === 'setNrCounters' || (op.op === 'loop' && this.arm?.has(vm.spec.id))) {
        // Paravirt hypercalls and arm64 PMU device / register steps (paravirt-world.ts, arm-pmu-world.ts).
        const r = this.extProgramStep(vm, op);
        ({ result, value, errno } = r);
        vcpuIndex = r.vcpu;
      } else if (op.op === 'wrmsr' || op.op === 'rdmsr' || op.op === 'rdpmc' || op.op === 'loop') {
        vcpuIndex = op.vcpu;
        const t = this.threads.get(vm.threads[op.vcpu]);
        const vpmu = t?.vcpu?.vpmu;
        if (!t || !vpmu) {
          result = 'undefined';
        } else {
          const ops = new WorldVpmuOps(this, t);
          if (op.op === 'wrmsr') {
            if (t.vcpu!.fidelity) this.fidelity.beforeGuestWrite(t.vcpu!, ops, op.msr);
            const r = vpmu.wrmsr(ops, op.msr, BigInt(op.value));
            if (r.ok && t.vcpu!.fidelity) this.fidelity.afterGuestWrite(t.vcpu!, ops, op.msr, BigInt(op.value));
            result = r.ok ? 'ok' : r.fault;
            value = op.value;
          } else if (op.op === 'rdmsr' || op.op === 'rdpmc') {
            const r = op.op === 'rdmsr' ? vpmu.rdmsr(ops, op.msr) : vpmu.rdpmc(ops, op.index);
            if (r.ok && t.vcpu!.fidelity) {
              if (op.op === 'rdmsr') this.fidelity.onGuestRdmsr(t.vcpu!, ops, op.msr, r.value);
              else this.fidelity.onGuestRdpmc(t.vcpu!, ops, op.index, r.value);
            }
            result = r.ok ? 'ok' : r.fault;
            value = r.ok ? Number(r.value) : 0;
          } else {
            vpmu.programLoop(ops, op.instructions, op.branches);
            if (t.vcpu!.fidelity) this.fidelity.onGuestLoop(t.vcpu!, op.instructions, op.branches);
            value = op.instructions;
          }
          vpmu.traps = []; // the program runs before the workload: its exits are not workload time
        }
      }
      results[step] = { result, value, ...(errno !== undefined && { errno }) };
      this.emit({ kind: 'programStep', atNs: this.nowNs, at: { host: this.id, vm: vm.spec.id, vcpu: vcpuIndex }, step, op: op.op, result, value, ok, ...(errno !== undefined && { errno }) });
    });
  }

  // ---- paravirt perf (paravirt-world.ts), arm64 PMU device (arm-pmu-world.ts) -----------------

  // ---- guest LBR (lbr-world.ts) ----------------------------------------------------------------

  private lbrSwitchOut(t: Thread, cpu: Pcpu): void {
    const ranNs = t.noise ? this.nowNs - t.noise.runStartNs : 0;
    this.lbrApply(t, this.lbr!.switchOut(t.id, cpu.index, this.nowNs, ranNs));
  }

  /** Opens a guest LBR read window (PMI handler or sched-task); true if it queued exits. */
  private lbrReadBegin(t: Thread, cause: 'pmi' | 'sched-task'): boolean {
    const r = this.lbr!.readBegin(t.id, t.cpu, this.nowNs, cause);
    if (!r) return false;
    this.lbrApply(t, r.out);
    this.queue.push(this.nowNs + this.lbr!.windowNs, { t: 'lbr', thread: t.id, what: 'read-end', gen: r.gen });
    return r.out.exits.length > 0 || r.out.costNs > 0;
  }

  private onLbrItem(id: string, what: 'read-end' | 'timer', gen: number): void {
    const t = this.threads.get(id);
    if (!t || !this.lbr) return;
    const v = t.vcpu!;
    const inGuest = v.state === 'guest' && this.cpus[t.cpu].current === t.id;
    if (what === 'read-end') {
      if (!this.lbr.readCurrent(id, gen)) return;
      if (!inGuest) {
        this.lbr.deferReadEnd(id); // read at the next entry, on whatever pCPU the vCPU is then
        return;
      }
      this.accountGuest(v);
      this.lbrApply(t, this.lbr.readEnd(id, t.cpu, this.nowNs));
    } else {
      this.lbrApply(t, this.lbr.timer(id, this.nowNs));
    }
    if (inGuest) this.applyTraps(t);
  }

  /**
   * Charges a guest LBR transition: in guest mode its trapped MSR accesses are exits (the stack
   * save/restore rides on the first); outside guest mode its cost delays the vCPU's next entry.
   */
  private lbrApply(t: Thread, out: GuestLbrOutcome | null): void {
    if (!out) return;
    for (const e of out.events) this.emit(e);
    const v = t.vcpu;
    if (v && (out.costNs > 0 || out.exits.length > 0)) {
      if (v.state === 'guest' && v.vpmu) {
        const trapNs = this.costs.costNs('msrTrapCycles');
        let rest = Math.max(0, out.costNs - out.exits.length * trapNs);
        for (const x of out.exits) {
          v.vpmu.traps.push({ reason: 'lbr-msr', msr: x.msr, costNs: trapNs + rest });
          rest = 0;
        }
        if (out.exits.length === 0) v.vpmu.traps.push({ reason: out.actions.includes('timer') ? 'lbr-timer' : 'lbr', msr: 0, costNs: out.costNs });
      } else if (v.state === 'runnable' || v.state === 'halted') {
        v.exitLeftNs += out.costNs;
      }
    }
    const due = this.lbr!.timerToQueue(t.id);
    if (due !== null) this.queue.push(Math.max(due, this.nowNs), { t: 'lbr', thread: t.id, what: 'timer', gen: 0 });
  }

  /** End of the run: the helpers' final records (LBR statistics per VM). */
  private reportExtFinal(): void {
    if (this.lbr) for (const e of this.lbr.finalRecords(this.nowNs)) this.emit(e);
    if (this.arm) for (const e of this.arm.flush(this.nowNs)) this.emit(e);
  }

  /** Program steps served by the paravirt and arm64 helpers. */
  private extProgramStep(vm: VmRuntime, op: ProgramOp): { result: 'ok' | 'gp' | 'undefined'; value: number; errno?: string; vcpu: number } {
    if (op.op === 'hypercall') {
      if (!this.threads.has(vm.threads[op.vcpu])) return { result: 'undefined', value: 0, vcpu: op.vcpu };
      const attr = pvAttrOfProgram(op.attr);
      let value = 0;
      let errno: string | undefined;
      for (let n = 0; n < op.count; n++) {
        const r = this.pv.hypercall(vm.spec.id, op.vcpu, op.call, op.id + n, attr);
        if (r.ok) value = op.call === 'open' ? value + 1 : (r.value ?? 0);
        else errno ??= r.errno;
      }
      return { result: 'ok', value, vcpu: op.vcpu, ...(errno !== undefined && { errno }) };
    }
    if (this.arm) return this.arm.programStep(vm.spec.id, op, (vcpu) => this.threads.get(vm.threads[vcpu])?.cpu ?? 0);
    return { result: 'undefined', value: 0, vcpu: 'vcpu' in op ? op.vcpu : 0, ...((op.op === 'setPmu' || op.op === 'setNrCounters') && { errno: 'ENXIO' }) };
  }

  /** arm64 KVM_RUN: on a pCPU outside a SET_PMU PMU entry fails; the VMM stops the vCPU. */
  private armEntryFails(t: Thread): boolean {
    const v = t.vcpu!;
    const msg = this.arm!.enter(v.vm, v.index, t.cpu);
    if (msg === null) return false;
    this.emit({ kind: 'finding', atNs: this.nowNs, at: this.placeOf(t), findingKind: 'arm-entry-failed', detail: msg });
    v.state = 'failed';
    v.timerGen++;
    this.blockCurrent(this.cpus[t.cpu]);
    return true;
  }

  /** kvm_sync_events_to_guest before entry: overflows to the guest sessions, costs as lost guest time. */
  private pvSyncBeforeEntry(t: Thread): void {
    const v = t.vcpu!;
    const s = this.pv.syncBeforeEntry(v.vm, v.index, v.pvPerf, this.costs);
    if (s.deliveries === 0) return;
    // Host time before the entry (pvEventSyncNs per event) and the guest's handler per delivery:
    // neither is workload time.
    v.handlerDebtNs += s.costNs + s.deliveries * this.costs.costNs('guestPmiHandlerNs');
    this.emit({ kind: 'pmi', atNs: this.nowNs, at: this.placeOf(t), counter: `${v.vm}/vcpu${v.index}/pv`, owner: 'guest', deliveredTo: 'guest', vector: PMI_VECTORS.shared, overflowNs: this.nowNs, skidNs: 0, lost: false });
  }

  /** counterView of a paravirt vCPU: the guest's counts are its host PV events' counts. */
  private pvCounterView(vm: VmRuntime, v: VcpuRuntime): { actual: number; observed: number }[] {
    const readings = v.pvPerf.map((g) => (g.running || g.windowNs > 0 ? g.readings((id) => this.pv.peek(v.vm, id), v.guestNsTotal) : null));
    return vm.trackedEvents.map((event, k) => {
      const q = vm.guestRates.totalQ[vm.trackedIdx[k]];
      for (let j = 0; j < v.pvPerf.length; j++) {
        const r = readings[j]?.find((x) => x.event === event);
        if (r) return { actual: truthCount(q, v.pvPerf[j].windowUntil(v.guestNsTotal)), observed: r.scaledCount };
      }
      return { actual: truthCount(q, v.guestNsTotal), observed: 0 };
    });
  }

  /** @internal PvWorldHost: a per-task host event on the thread of vCPU `vcpu` of `vm`. */
  pvPerfCreate(vm: string, vcpu: number, attr: PerfEventAttr, hooks: PerfHooks): { ok: true; id: string } | { ok: false; errno: string } {
    const t = this.threads.get(`vcpu:${vm}/${vcpu}`);
    if (!t) return { ok: false, errno: 'ESRCH' };
    this.syncAllCpus();
    const r = this.perf.createEvent(attr, { task: t.id, id: `kvm/pv/${vm}/${++this.kvmEventSeq}` }, this.nowNs, hooks);
    const cpu = this.cpus[t.cpu];
    const pc = this.perf.cpus[cpu.index];
    if (r.ok && cpu.current === t.id && pc.activeTaskContext === null) pc.schedIn(t.id, this.nowNs);
    return r.ok ? { ok: true, id: r.id } : { ok: false, errno: r.errno };
  }

  /** @internal */
  pvPerfEnable(hostId: string): void {
    this.syncAllCpus();
    this.perf.enable(hostId, this.nowNs);
  }

  /** @internal */
  pvPerfDisable(hostId: string): void {
    this.syncAllCpus();
    this.perf.disable(hostId, this.nowNs);
  }

  /** @internal */
  pvPerfClose(hostId: string): void {
    this.syncAllCpus();
    this.perf.close(hostId, this.nowNs);
  }

  /** @internal */
  pvPerfRead(hostId: string): number {
    this.syncAllCpus();
    return this.perf.read(hostId, this.nowNs)?.count ?? 0;
  }

  /** @internal vPMU host services (WorldVpmuOps). */
  vpmuLoadedPmu(t: Thread): IntelPmu {
    const cpu = this.cpus[t.cpu];
    this.syncCpu(cpu);
    return this.perf.cpus[cpu.index].pmu as IntelPmu;
  }

  /** @internal */
  vpmuSyncThread(t: Thread): void {
    const cpu = this.cpus[t.cpu];
    if (cpu.current === t.id) this.syncCpu(cpu);
  }

  /** @internal */
  vpmuPerfCreate(t: Thread, attr: PerfEventAttr, hooks: PerfHooks): string | null {
    this.vpmuSyncThread(t);
    const v = t.vcpu!;
    const id = `kvm/${v.vm}/vcpu${v.index}/${++this.kvmEventSeq}`;
    const r = this.perf.createEvent(attr, { task: t.id, id }, this.nowNs, hooks);
    const cpu = this.cpus[t.cpu];
    const pc = this.perf.cpus[cpu.index];
    // The thread's first per-task event: attach its new task context to the CPU it runs on.
    if (r.ok && cpu.current === t.id && pc.activeTaskContext === null) pc.schedIn(t.id, this.nowNs);
    return r.ok ? r.id : null;
  }

  /** @internal */
  vpmuPerfRead(t: Thread, id: string): { count: number; enabledNs: number; runningNs: number } {
    this.vpmuSyncThread(t);
    const r = this.perf.read(id, this.nowNs);
    return r ? { count: r.count, enabledNs: r.timeEnabledNs, runningNs: r.timeRunningNs } : { count: 0, enabledNs: 0, runningNs: 0 };
  }

  /** @internal */
  vpmuPerfClose(t: Thread, id: string): void {
    this.vpmuSyncThread(t);
    this.perf.close(id, this.nowNs);
  }

  /** @internal */
  vpmuPerfSetPeriod(id: string, period: number): void {
    this.perf.setSamplePeriod(id, period);
  }

  /** @internal */
  vpmuFinding(t: Thread, kind: string, detail: string): void {
    const place = t.vcpu ? this.placeOf(t) : { host: this.id };
    this.emit({ kind: 'finding', atNs: this.nowNs, at: place, findingKind: kind, detail });
  }

  /** @internal A guest PMU access through guest perf (fidelity and isolation monitors). */
  vpmuGuestAccess(t: Thread, ops: WorldVpmuOps, op: 'before-write' | 'write' | 'read' | 'rdpmc', msr: number, value: bigint): void {
    const v = t.vcpu!;
    if (op === 'before-write') this.fidelity.beforeGuestWrite(v, ops, msr);
    else if (op === 'write') this.fidelity.afterGuestWrite(v, ops, msr, value);
    else if (op === 'rdpmc') this.fidelity.onGuestRdpmc(v, ops, msr, value);
    else this.fidelity.onGuestRdmsr(v, ops, msr, value);
  }

  /** End of the run: each VM's fidelity figures (guest-fidelity.ts) for the summary. */
  private emitFidelityRecords(): void {
    for (const vm of this.vms.values()) {
      const ts = vm.threads.map((id) => this.threads.get(id)!);
      for (const t of ts) this.accountGuest(t.vcpu!);
      for (const e of this.fidelity.vmRecords(vm.spec.id, ts.map((t) => t.vcpu!), ts.map((t) => new WorldVpmuOps(this, t)), this.nowNs)) this.emit(e);
    }
  }

  /** A timeline `fault` (fault-injector.ts); a refused one is reported by the host that holds its target. */
  private onFault(entry: TimelineEntry): void {
    const refused = this.fidelity.onFault(entry);
    const a = entry.action;
    if (refused === null || a.kind !== 'fault' || (a.target !== this.id && !this.vms.has(a.target))) return;
    this.emit({ kind: 'finding', atNs: this.nowNs, at: { host: this.id, ...(this.vms.has(a.target) && { vm: a.target }) }, findingKind: 'timeline-action', detail: `fault ${a.fault}: EINVAL: ${refused}` });
  }

  private placeOf(t: Thread): { host: string; pcpu: number; vm: string; vcpu: number } {
    const v = t.vcpu!;
    return { host: this.id, pcpu: t.cpu, vm: v.vm, vcpu: v.index };
  }

  private emit(e: SimEvent): void {
    this.events.push(e);
  }
}

/** The world's services to a vPMU backend for one access (transient: never stored in state). */
class WorldVpmuOps implements VpmuHostOps {
  constructor(
    private readonly world: HostWorld,
    private readonly thread: Thread,
  ) {}
  loadedPmu(): IntelPmu {
    return this.world.vpmuLoadedPmu(this.thread);
  }
  perfCreate(attr: PerfEventAttr, hooks: PerfHooks): string | null {
    return this.world.vpmuPerfCreate(this.thread, attr, hooks);
  }
  perfRead(id: string): { count: number; enabledNs: number; runningNs: number } {
    return this.world.vpmuPerfRead(this.thread, id);
  }
  perfClose(id: string): void {
    this.world.vpmuPerfClose(this.thread, id);
  }
  perfSetPeriod(id: string, periodEvents: number): void {
    this.world.vpmuPerfSetPeriod(id, periodEvents);
  }
  finding(kind: string, detail: string): void {
    this.world.vpmuFinding(this.thread, kind, detail);
  }
  /** The guest's own PMU accesses, for the fidelity and isolation monitors. */
  guestAccess(op: 'before-write' | 'write' | 'read' | 'rdpmc', msr: number, value: bigint): void {
    if (this.thread.vcpu?.fidelity) this.world.vpmuGuestAccess(this.thread, this, op, msr, value);
  }
}

/** The guest kernel's view of its PMU through a backend (transient). */
class GuestPort implements GuestPerfMsrPort {
  constructor(
    private readonly vpmu: VcpuVpmu,
    private readonly ops: VpmuHostOps,
  ) {}
  wrmsr(msr: number, value: bigint): boolean {
    if (this.ops instanceof WorldVpmuOps) this.ops.guestAccess('before-write', msr, value);
    const ok = this.vpmu.wrmsr(this.ops, msr, value).ok;
    if (ok && this.ops instanceof WorldVpmuOps) this.ops.guestAccess('write', msr, value);
    return ok;
  }
  rdmsr(msr: number): bigint {
    const r = this.vpmu.rdmsr(this.ops, msr);
    if (r.ok && this.ops instanceof WorldVpmuOps) this.ops.guestAccess('read', msr, r.value);
    return r.ok ? r.value : 0n;
  }
  rdpmc(index: number): bigint {
    const r = this.vpmu.rdpmc(this.ops, index);
    if (r.ok && this.ops instanceof WorldVpmuOps) this.ops.guestAccess('rdpmc', index, r.value);
    return r.ok ? r.value : 0n;
  }
}

/** Some guest perf session of the vCPU is running (a loop: this runs at every guest deadline). */
function anyRunning(sessions: readonly GuestPerfVcpu[]): boolean {
  for (let i = 0; i < sessions.length; i++) if (sessions[i].running) return true;
  return false;
}

/** floor(q * ns / RATE_SCALE) exactly (q in 2^-16 events/ns): what a perfect counter reads. */
export function truthCount(q: number, ns: number): number {
  const hi = Math.floor(ns / RATE_SCALE);
  const lo = ns - hi * RATE_SCALE;
  return q * hi + Math.floor((q * lo) / RATE_SCALE);
}

/** Classes a migrating VM's state may contain. */
const VM_SNAPSHOT_REGISTRY = new SnapshotRegistry().registerAll([Prng, EventRates, IntelPmu, CounterBank, CostModel, NoneVpmu, PassthroughVpmu, EmulatedVpmu, KvmEventFilter, GuestPerfVcpu]).registerAll(EXT_VM_SNAPSHOT_CLASSES);

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
