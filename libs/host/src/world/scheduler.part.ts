// The host scheduler of one simulated host, in the shape of the Linux scheduler as far as vPMU
// questions need it: per-pCPU FIFO run queues with a time slice, wake-up placement on an idle
// allowed CPU, idle stealing (which migrates vCPU threads between pCPUs), and high-priority
// noise threads that preempt at once. Every context switch is recorded; the threads it runs are
// vCPU threads (vcpu-exec.part.ts takes over when one gets a CPU) and host noise threads.
import type { HostSpec } from '@vpmu/world-spec';
import type { WorldCore } from './world-core';
import type { Thread } from './world-state';

export type SchedulerItem =
  | { p: 'sched'; t: 'slice'; cpu: number; gen: number }
  | { p: 'sched'; t: 'noise-wake'; thread: string }
  | { p: 'sched'; t: 'noise-done'; thread: string; gen: number };

/** A pCPU as the scheduler sees it. */
export interface Pcpu {
  index: number;
  current: string | null;
  runqueue: string[];
  gen: number;
}

export class SchedulerPart {
  readonly cpus: Pcpu[] = [];
  contextSwitches = 0;

  constructor(private readonly w: WorldCore) {
    for (let i = 0; i < w.spec.pcpus; i++) this.cpus.push({ index: i, current: null, runqueue: [], gen: 0 });
  }

  /** Creates the host's noise threads and queues their first wake-ups. */
  addNoise(noise: HostSpec['noise']): void {
    const w = this.w;
    for (const n of noise) {
      const id = `noise:${n.id}`;
      const affinity = n.cpus === 'all' ? this.cpus.map((c) => c.index) : [...n.cpus];
      const t: Thread = { id, affinity, cpu: affinity[0], gen: 0, runnable: false, prng: w.prng.child(`noise/${n.id}`), noise: { spec: n, remainingNs: 0, runStartNs: 0 } };
      w.threads.set(id, t);
      w.queue.push(t.prng.nextExponentialNs(n.periodNs), { p: 'sched', t: 'noise-wake', thread: id });
    }
  }

  dispatch(item: SchedulerItem): void {
    switch (item.t) {
      case 'slice':
        return this.onSlice(item.cpu, item.gen);
      case 'noise-wake':
        return this.onNoiseWake(item.thread);
      case 'noise-done':
        return this.onNoiseDone(item.thread, item.gen);
    }
  }

  wake(t: Thread): void {
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
    this.w.queue.push(this.w.nowNs + this.w.spec.timesliceNs, { p: 'sched', t: 'slice', cpu: cpu.index, gen: cpu.gen });
  }

  /** Takes the current thread off the CPU (it stays runnable unless the caller blocks it). */
  private switchOut(cpu: Pcpu, threadId: string): void {
    const w = this.w;
    const t = w.threads.get(threadId)!;
    w.perf.syncCpu(cpu.index);
    t.gen++;
    const v = t.vcpu;
    if (v) {
      if (v.state === 'guest') {
        w.exec.leaveGuest(t);
        // Being descheduled forces the vCPU out of guest mode (host timer interrupt exit).
        w.exec.emitExit(t, 'preemption', w.costs.costNs('vmExitRoundTripCycles'));
        v.exitLeftNs = 0;
      } else if (v.state === 'exit') {
        v.exitLeftNs = Math.max(0, v.exitUntilNs - w.nowNs);
      }
      v.state = 'runnable';
    } else if (t.noise) {
      t.noise.remainingNs = Math.max(0, t.noise.remainingNs - (w.nowNs - t.noise.runStartNs));
    }
    w.lbr?.switchOut(t, cpu.index);
    w.perf.schedOut(cpu.index);
    cpu.current = null;
  }

  /** Puts `next` on `cpu` and emits the host context switch. */
  private switchTo(cpu: Pcpu, next: string, preempted: boolean, prev: string | null = null): void {
    const w = this.w;
    w.perf.syncCpu(cpu.index);
    cpu.current = next;
    const t = w.threads.get(next)!;
    t.cpu = cpu.index;
    t.gen++;
    this.contextSwitches++;
    w.emit({ kind: 'contextSwitch', atNs: w.nowNs, at: { host: w.id, pcpu: cpu.index }, prevThread: prev ?? 'idle', nextThread: next, preempted });
    w.perf.schedIn(cpu.index, next);
    this.armSlice(cpu);
    w.lbr?.switchIn(t, cpu.index);
    if (t.vcpu) w.exec.resumeVcpu(t);
    else if (t.noise) {
      w.perf.runNoise(cpu.index);
      t.noise.runStartNs = w.nowNs;
      w.queue.push(w.nowNs + t.noise.remainingNs, { p: 'sched', t: 'noise-done', thread: t.id, gen: t.gen });
    }
  }

  /** The current thread of `cpu` blocks: run the next queued thread, steal one, or go idle. */
  blockCurrent(cpuIndex: number): void {
    const w = this.w;
    const cpu = this.cpus[cpuIndex];
    const prev = cpu.current!;
    const t = w.threads.get(prev)!;
    w.perf.syncCpu(cpu.index);
    t.runnable = false;
    t.gen++;
    w.lbr?.switchOut(t, cpu.index);
    cpu.current = null;
    w.perf.schedOut(cpu.index);
    let next = cpu.runqueue.shift() ?? null;
    if (next === null) next = this.steal(cpu);
    if (next !== null) {
      this.switchTo(cpu, next, false, prev);
    } else {
      cpu.gen++;
      this.contextSwitches++;
      w.emit({ kind: 'contextSwitch', atNs: w.nowNs, at: { host: w.id, pcpu: cpu.index }, prevThread: prev, nextThread: 'idle', preempted: false });
    }
  }

  /** Idle stealing: take the last queued thread of the busiest CPU that may run here. */
  private steal(cpu: Pcpu): string | null {
    let victim: Pcpu | null = null;
    let victimIdx = -1;
    for (const c of this.cpus) {
      if (c === cpu || c.runqueue.length === 0) continue;
      for (let k = c.runqueue.length - 1; k >= 0; k--) {
        const th = this.w.threads.get(c.runqueue[k])!;
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

  /** Whether `t` is the thread running on its pCPU now. */
  isCurrent(t: Thread): boolean {
    return this.cpus[t.cpu].current === t.id;
  }

  /** Takes a vCPU thread off its CPU or run queue for good (its VM leaves this host). */
  remove(t: Thread): void {
    const w = this.w;
    const v = t.vcpu!;
    w.exec.accountGuest(v);
    const cpu = this.cpus[t.cpu];
    if (cpu.current === t.id) {
      if (v.state === 'guest') {
        w.exec.leaveGuest(t);
        w.exec.emitExit(t, 'migration-pause', w.costs.costNs('vmExitRoundTripCycles'));
      } else if (v.state === 'exit') v.exitLeftNs = Math.max(0, v.exitUntilNs - w.nowNs);
      v.state = 'runnable';
      this.blockCurrent(cpu.index);
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

  // ---- noise threads --------------------------------------------------------------------------

  private onNoiseWake(id: string): void {
    const w = this.w;
    const t = w.threads.get(id)!;
    const n = t.noise!;
    w.queue.push(w.nowNs + t.prng.nextExponentialNs(n.spec.periodNs), { p: 'sched', t: 'noise-wake', thread: id });
    // A wake-up while the previous burst is still queued or running coalesces with it.
    if (t.runnable) return;
    n.remainingNs = n.spec.runtimeNs;
    this.wake(t);
  }

  private onNoiseDone(id: string, gen: number): void {
    const t = this.w.threads.get(id)!;
    if (t.gen !== gen) return;
    t.noise!.remainingNs = 0;
    this.blockCurrent(t.cpu);
  }
}
