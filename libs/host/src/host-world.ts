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
import { EventQueue, Prng, type SimEvent } from '@vpmu/sim';
import { CostModel } from '@vpmu/kvm';
import { eventRatesPerNs, resolveWorkloadRates, WORKLOAD_EVENTS } from '@vpmu/guest';
import { cpuNominalGhz } from './host-presets';

/** Guest timer tick: each vCPU reprograms its TSC-deadline timer at HZ=250 (a trapped WRMSR). */
const GUEST_TIMER_HZ = 250;
const NS_PER_SEC = 1_000_000_000;

type QueueItem =
  | { t: 'slice'; cpu: number; gen: number }
  | { t: 'vcpu'; thread: string; gen: number }
  | { t: 'noise-wake'; thread: string }
  | { t: 'noise-done'; thread: string; gen: number }
  | { t: 'vcpu-wake'; thread: string }
  | { t: 'sample' };

interface Pcpu {
  index: number;
  current: string | null;
  runqueue: string[];
  gen: number;
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

  constructor(scenario: Scenario, hostId: string, root: Prng) {
    const spec = scenario.hosts.find((h) => h.id === hostId);
    if (!spec) throw new Error(`HostWorld: no host ${hostId} in the scenario`);
    this.id = hostId;
    this.spec = spec;
    this.prng = root.child(`host/${hostId}`);
    this.costs = new CostModel(scenario.costs, cpuNominalGhz(spec.cpu));
    this.sampleIntervalNs = scenario.sampleIntervalNs;
    for (let i = 0; i < spec.pcpus; i++) this.cpus.push({ index: i, current: null, runqueue: [], gen: 0 });

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
  runEpoch(startNs: number, endNs: number, actions: readonly TimelineEntry[] = []): HostEpochResult {
    if (startNs < this.nowNs) throw new Error(`HostWorld ${this.id}: epoch starts at ${startNs} before now ${this.nowNs}`);
    this.events = [];
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
    return { events, guestOutputs };
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

  private queueAction(_entry: TimelineEntry): void {
    // Timeline actions are handled by the models that own them (perf, migration, faults); the
    // foundation world has none of its own yet.
  }

  private dispatch(item: QueueItem): void {
    switch (item.t) {
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
    const t = this.threads.get(id)!;
    if (t.gen !== gen) return;
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
    const t = this.threads.get(id)!;
    if (t.vcpu!.state !== 'halted') return;
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
