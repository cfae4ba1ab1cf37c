// The state shapes of one simulated host and the pure helpers over them. Each part of the world
// (world/*.part.ts) owns a slice: the scheduler the pCPUs and run queues, vCPU execution the
// guest/exit state machine, PMI delivery the pending PMIs, guest perf the guest's sessions. The
// shapes are plain data so checkpoints (snapshot codec) and VM transfers carry them unchanged.
import type { HostSpec, VmSpec } from '@vpmu/world-spec';
import type { Prng, SimEvent } from '@vpmu/sim';
import type { VcpuVpmu } from '@vpmu/kvm';
import { WORKLOAD_EVENTS, type GuestPerfVcpu, type GuestPvPerfVcpu, type resolveWorkloadRates } from '@vpmu/guest';
import { EventRates, RATE_SCALE, type RateRecord } from '@vpmu/pmu';
import type { VpmuStateRecord } from '@vpmu/migration';
import type { VcpuFidelity } from '../fidelity-monitor';
import type { VcpuMigrationCheck } from '../migration-world';

export const NS_PER_SEC = 1_000_000_000;

/** 'failed': KVM_RUN failed entry (arm64 SET_PMU on an uncovered pCPU); the VMM stopped the vCPU. */
export type VcpuState = 'guest' | 'exit' | 'runnable' | 'halted' | 'failed';

/** The guest/exit state machine of a vCPU (vcpu-exec.part.ts). */
export interface VcpuExecState {
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
  /** Guest time the guest kernel still owes its PMI handler (not workload time). */
  handlerDebtNs: number;
  /** Guest run time spent on the workload (guestNsTotal minus handler time). */
  workNsTotal: number;
  /** Generation of the one live vCPU timer. */
  timerGen: number;
  /** Passthrough: every entry switches the PMU context (recorded in the vmEntry event). */
  pmuSwitchOnEntry: boolean;
  /** Emulated backing events must be recreated on this host before the next entry. */
  reattach: boolean;
}

/** Virtual PMIs of a vCPU (pmi-delivery.part.ts). */
export interface VcpuPmiState {
  /** Virtual PMIs waiting for injection at the next entry, with their overflow instants. */
  pendingPmis: number[];
  /** Increments at each guest entry (a PMI belongs to one guest stint). */
  stint: number;
}

/** The guest kernel's perf sessions on a vCPU (guest-perf.part.ts). */
export interface VcpuGuestPerfState {
  /** Guest perf sessions of the VM, this vCPU's share (index = vms[].guestPerf index). */
  guestPerf: GuestPerfVcpu[];
  /** Guest perf start/stop waiting for the vCPU to run guest code. */
  guestPerfPending: ('start' | 'stop' | null)[];
  /** Guest run time left until the guest's next tick (perf rotation / frequency adjust). */
  toTickNs: number;
  /** Guest perf sessions of a paravirt VM (hypercalls instead of PMU MSRs), index = vms[].guestPerf index. */
  pvPerf: GuestPvPerfVcpu[];
}

export interface VcpuRuntime extends VcpuExecState, VcpuPmiState, VcpuGuestPerfState {
  vm: string;
  index: number;
  /** The vCPU's vPMU backend (null on arm64 hosts: their vPMU is not modelled by these backends). */
  vpmu: VcpuVpmu | null;
  /** What the guest could observe when the VM was paused for migration (continuity check, migration-world.ts). */
  migrationCheck: VcpuMigrationCheck | null;
  /** Fidelity / isolation monitor state and fault streams of this vCPU (guest-fidelity.ts); null without an x86 vPMU. */
  fidelity: VcpuFidelity | null;
  /** Guest-mode ns per core type (VmRuntime.coreRates' index) on an arm64 host; empty elsewhere. */
  coreNs: number[];
  /** The same for this epoch's workload time (the score). */
  coreNsEpoch: number[];
}

export interface NoiseRuntime {
  spec: HostSpec['noise'][number];
  remainingNs: number;
  runStartNs: number;
}

export interface Thread {
  id: string;
  affinity: number[];
  cpu: number;
  gen: number;
  runnable: boolean;
  vcpu?: VcpuRuntime;
  noise?: NoiseRuntime;
  prng: Prng;
}

export interface VmRuntime {
  spec: VmSpec;
  rates: Float64Array;
  /** The workload's rates as the PMU counts them (quantized, user/kernel split): ground truth. */
  guestRates: EventRates;
  /**
   * arm64 big.LITTLE host: guestRates on each core type (index = the preset's cluster), slower on
   * the little cores (arm-pmu-world.ts); null on other hosts, where guestRates applies everywhere.
   */
  coreRates: EventRates[] | null;
  ratesSpec: ReturnType<typeof resolveWorkloadRates>;
  exitRatePerNs: number;
  ioShare: number;
  threads: string[];
  trackedEvents: string[];
  trackedIdx: number[];
}

export type Place = { host: string; pcpu: number; vm: string; vcpu: number };

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

/**
 * Host execution rates (events per ns) of what is not a guest: a noise thread (a kworker-like
 * host thread: IPC 1.0, 30% kernel) and KVM's exit handling in the host kernel (IPC 0.8, all
 * kernel). Model choices, not measurements: they only need to make host events count something
 * plausible while the host runs; cycles follow the host's nominal clock.
 */
export function hostRates(ghz: number, ipc: number, kernelFraction: number): EventRates {
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

/** floor(q * ns / RATE_SCALE) exactly (q in 2^-16 events/ns): what a perfect counter reads. */
export function truthCount(q: number, ns: number): number {
  const hi = Math.floor(ns / RATE_SCALE);
  const lo = ns - hi * RATE_SCALE;
  return q * hi + Math.floor((q * lo) / RATE_SCALE);
}

export function taskName(vm: VmSpec, vcpu: number, task: number): string {
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

/** Some guest perf session of the vCPU is running (a loop: this runs at every guest deadline). */
export function anyRunning(sessions: readonly GuestPerfVcpu[]): boolean {
  for (let i = 0; i < sessions.length; i++) if (sessions[i].running) return true;
  return false;
}

/** The thread id of vCPU `index` of `vm`. */
export function vcpuThreadId(vm: string, index: number): string {
  return `vcpu:${vm}/${index}`;
}
