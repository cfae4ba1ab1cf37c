// vCPU execution on one simulated host: a vCPU thread alternates between guest mode and host
// mode (VM exits). Guest time drives the workload's event counts, the guest scheduler's time
// slices, the guest tick and the VM-exit sources (I/O exits, the TSC-deadline timer's trapped
// WRMSR, HLT when the guest idles), each drawn from the vCPU's PRNG stream. Every exit is
// recorded with its cost, which the vCPU then spends in host mode; trapped PMU accesses queued by
// the vPMU backend during guest work become exits too. VM entry loads the passthrough PMU
// context (after perf_guest_enter) and hands over to PMI injection and the guest's pending work.
import { EmulatedVpmu, MediatedVpmu, PassthroughVpmu } from '@vpmu/kvm';
import { GUEST_TICK_NS } from '@vpmu/guest';
import { checkFirstEntry, COUNTER_DISCONTINUITY } from '../migration-world';
import type { WorldCore } from './world-core';
import { anyRunning, NS_PER_SEC, taskName, vcpuThreadId, type Thread, type VcpuRuntime } from './world-state';

// Module-level copies of hot imports: the barrel's re-exports are getters, read at every exit and entry.
const PassthroughVpmuClass = PassthroughVpmu;
const EmulatedVpmuClass = EmulatedVpmu;
const MediatedVpmuClass = MediatedVpmu;

/**
 * Exits whose instruction KVM emulates and skips (WRMSR/RDMSR, RDPMC, HLT, port I/O): under the
 * mediated vPMU each is credited to the guest's instructions-retired counters. A trapped PMU
 * access is credited by the backend at the access itself (MediatedVpmu.wrmsr), so its exit here
 * is not credited again.
 */
const EMULATED_INSTRUCTION_EXITS: ReadonlySet<string> = new Set(['io', 'msr-write', 'msr-read', 'rdpmc', 'hlt']);

export type VcpuExecItem = { p: 'exec'; t: 'timer'; thread: string; gen: number; vgen: number } | { p: 'exec'; t: 'wake'; thread: string };

export class VcpuExecPart {
  constructor(private readonly w: WorldCore) {}

  dispatch(item: VcpuExecItem): void {
    if (item.t === 'timer') this.onTimer(item.thread, item.gen, item.vgen);
    else this.onWake(item.thread);
  }

  /** The vCPU thread got its pCPU: finish an interrupted exit, else enter the guest. */
  resumeVcpu(t: Thread): void {
    const w = this.w;
    const v = t.vcpu!;
    if (v.exitLeftNs > 0) {
      v.state = 'exit';
      v.exitUntilNs = w.nowNs + v.exitLeftNs;
      v.exitLeftNs = 0;
      w.perf.runExit(t.cpu);
      this.pushTimer(t, v.exitUntilNs);
      return;
    }
    this.enterGuest(t);
  }

  /** VM entry: perf_guest_enter + guest PMU context load (passthrough), PMI injection, guest work. */
  private enterGuest(t: Thread): void {
    const w = this.w;
    const v = t.vcpu!;
    const vm = w.vms.get(v.vm)!;
    if (w.arm && w.arm.entryFails(t)) return;
    v.state = 'guest';
    v.guestStartNs = w.nowNs;
    v.stint++;
    // On a big.LITTLE host the guest runs at the rates of the pCPU's core type.
    const rates = vm.coreRates ? vm.coreRates[w.armWorld!.clusterOfCpu[t.cpu]] : vm.guestRates;
    w.perf.runGuest(t.cpu, w.fidelity.guestRates(v, rates, w.nowNs));
    const port = w.portOf(t);
    const vpmu = v.vpmu;
    if (vpmu instanceof PassthroughVpmuClass) {
      // perf_guest_enter schedules the host's core-PMU events out, then KVM loads the guest context.
      vpmu.load(w.perf.guestEnter(t.cpu), port);
    } else if (vpmu instanceof EmulatedVpmuClass && v.reattach) {
      // Arrived by migration: the backing events are recreated on this host.
      v.reattach = false;
      vpmu.attach(port);
    }
    // First entry after a migration, before any PMI injection: the continuity invariants (migration-world.ts).
    if (v.migrationCheck) for (const d of checkFirstEntry(v, port)) w.finding(w.placeOf(t), COUNTER_DISCONTINUITY, d);
    w.fidelity.onEntry(v, port, w.nowNs, w.perf.core, t.cpu);
    const injected = w.pmi.injectAtEntry(t);
    w.fidelity.afterEntry(v, port);
    if (v.pvPerf.length > 0) w.paravirt.syncBeforeEntry(t);
    // A guest LBR read whose window outlasted a preemption or an exit reads the stack now.
    w.lbr?.readEndAtEntry(t);
    if (v.pmuSwitchOnEntry) {
      const switchNs = vpmu instanceof MediatedVpmuClass ? w.costs.costNs(vpmu.lastLoadCost()) : (vpmu as PassthroughVpmu).switchCostNs();
      w.emit({ kind: 'vmEntry', atNs: w.nowNs, at: w.placeOf(t), pmuSwitchNs: switchNs, pmiInjected: injected });
    }
    w.guestPerf.runPending(t);
    if (this.applyTraps(t)) return;
    this.armTimer(t);
  }

  /** The next guest-mode deadline of a vCPU: exit source, guest slice, halt or guest tick. */
  armTimer(t: Thread): void {
    const v = t.vcpu!;
    let dueIn = Math.min(v.toExitNs, v.toSliceNs, v.toHaltNs);
    if (anyRunning(v.guestPerf)) dueIn = Math.min(dueIn, Math.max(0, v.toTickNs));
    this.pushTimer(t, this.w.nowNs + dueIn);
  }

  private pushTimer(t: Thread, atNs: number): void {
    const v = t.vcpu!;
    v.timerGen++;
    this.w.queue.push(atNs, { p: 'exec', t: 'timer', thread: t.id, gen: t.gen, vgen: v.timerGen });
  }

  /** The vCPU leaves guest mode on its pCPU: account, and (passthrough) save + perf_guest_exit. */
  leaveGuest(t: Thread): void {
    const w = this.w;
    const v = t.vcpu!;
    this.accountGuest(v);
    w.perf.runExit(t.cpu);
    if (v.fidelity) w.fidelity.onLeave(v, w.portOf(t));
    const vpmu = v.vpmu;
    if (vpmu instanceof PassthroughVpmuClass && vpmu.loaded) {
      vpmu.save(w.perf.pmuOf(t.cpu)); // KVM saves the guest context before perf takes the PMU back
      w.perf.guestExit(t.cpu);
    }
    v.timerGen++; // the guest-mode timer is void
  }

  /** An exit the guest did not plan (PMI, trapped accesses): host-mode handling for `costNs`. */
  forceExit(t: Thread, costNs: number): void {
    const v = t.vcpu!;
    v.state = 'exit';
    v.exitUntilNs = this.w.nowNs + costNs;
    this.pushTimer(t, v.exitUntilNs);
  }

  /** Leaves guest mode for an exit of `reason` handled in `costNs`. */
  exitNow(t: Thread, reason: string, costNs: number): void {
    this.leaveGuest(t);
    this.emitExit(t, reason, costNs);
    this.forceExit(t, costNs);
  }

  /**
   * Leaves guest mode for an exit of `reason` whose handling costs `costNs` plus the PMU switch of
   * a direct-PMU design: the RFC's save/restore and perf_guest_exit/enter, or the mediated put/load
   * (priced after the put, which decides whether the next load elides its PMC writes).
   */
  exitWithPmuSwitch(t: Thread, reason: string, costNs: number): void {
    this.leaveGuest(t);
    const total = costNs + this.switchNsAfterLeave(t);
    this.emitExit(t, reason, total);
    this.forceExit(t, total);
  }

  /** The PMU switch cost of the exit just taken (after leaveGuest); 0 for the other designs. */
  private switchNsAfterLeave(t: Thread): number {
    const vpmu = t.vcpu!.vpmu;
    if (vpmu instanceof MediatedVpmuClass) return this.w.costs.costNs(vpmu.switchCostAfterPut(this.w.perf.pmuOf(t.cpu)));
    if (vpmu instanceof PassthroughVpmuClass) return vpmu.switchCostNs();
    return 0;
  }

  /** Exits for the accesses the backend trapped during guest work just done; true if it exited. */
  applyTraps(t: Thread): boolean {
    const v = t.vcpu!;
    const vpmu = v.vpmu;
    if (!vpmu || vpmu.traps.length === 0) return false;
    const traps = vpmu.traps;
    vpmu.traps = [];
    if (v.state !== 'guest') return false;
    this.leaveGuest(t);
    let total = 0;
    for (const tr of traps) {
      this.emitExit(t, tr.reason, tr.costNs, tr.msr, false);
      total += tr.costNs;
    }
    // Direct-PMU designs: the exits also switch the PMU context (docs/cost-model.md).
    total += this.switchNsAfterLeave(t);
    this.forceExit(t, total);
    return true;
  }

  private onTimer(id: string, gen: number, vgen: number): void {
    const w = this.w;
    const t = w.threads.get(id);
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
      if (w.guestPerf.tick(t) && this.applyTraps(t)) return;
    }
    if (v.toHaltNs === 0) {
      this.leaveGuest(t);
      this.emitExit(t, 'hlt', w.costs.costNs('vmExitRoundTripCycles'));
      v.state = 'halted';
      const vm = w.vms.get(v.vm)!;
      const cycleNs = NS_PER_SEC / vm.ratesSpec.hltExitsPerSec;
      w.queue.push(w.nowNs + t.prng.nextExponentialNs(cycleNs * (1 - vm.ratesSpec.busyFraction)), { p: 'exec', t: 'wake', thread: id });
      this.drawBusyPeriod(t);
      w.sched.blockCurrent(t.cpu);
      return;
    }
    if (v.toSliceNs === 0) {
      const vm = w.vms.get(v.vm)!;
      const tasks = vm.spec.workload.tasksPerVcpu;
      const prevTask = taskName(vm.spec, v.index, v.taskIndex);
      v.taskIndex = (v.taskIndex + 1) % tasks;
      v.toSliceNs = vm.ratesSpec.guestTimesliceNs;
      if (tasks > 1) {
        w.emit({ kind: 'guestContextSwitch', atNs: w.nowNs, at: w.placeOf(t), prevTask, nextTask: taskName(vm.spec, v.index, v.taskIndex) });
        if (w.lbr) {
          // perf_pmu_sched_task: LBR call-stack mode reads the stack at each guest task switch;
          // then the outgoing task's events are deleted and the incoming task's added (PV-LBR ACTIVE).
          const read = w.lbr.readBegin(t, 'sched-task');
          const churn = w.lbr.guestTaskSwitch(t);
          if ((read || churn) && this.applyTraps(t)) return;
        }
      }
    }
    if (v.toExitNs === 0) {
      const reason = v.exitReason;
      this.drawNextExit(t);
      let cost = reason === 'io' ? w.costs.costNs('vmExitRoundTripCycles') + w.costs.costNs('ioExitHandlingNs') : w.costs.costNs('msrTrapCycles');
      this.leaveGuest(t);
      // Direct-PMU designs: every exit/entry pair also switches the PMU context (docs/cost-model.md).
      cost += this.switchNsAfterLeave(t);
      this.emitExit(t, reason, cost, reason === 'msr-write' ? 0x6e0 : 0);
      this.forceExit(t, cost);
      return;
    }
    // Guest slice ended without an exit: keep running in guest mode.
    v.guestStartNs = w.nowNs;
    this.armTimer(t);
  }

  private onWake(id: string): void {
    const t = this.w.threads.get(id);
    if (!t || t.vcpu!.state !== 'halted') return;
    t.vcpu!.state = 'runnable';
    this.w.sched.wake(t);
  }

  /** Charges the guest-mode time since the segment start to the vCPU and its timers. */
  accountGuest(v: VcpuRuntime): void {
    const w = this.w;
    if (v.state !== 'guest') return;
    const dt = w.nowNs - v.guestStartNs;
    if (dt <= 0) return;
    v.guestStartNs = w.nowNs;
    v.guestNsTotal += dt;
    // Guest time the guest kernel spends in its PMI handler is not workload time.
    const owed = Math.min(v.handlerDebtNs, dt);
    if (w.arm || w.lbr) {
      const t = w.threads.get(vcpuThreadId(v.vm, v.index));
      if (t) {
        w.arm?.guestRan(t, w.nowNs - dt);
        w.lbr?.guestRan(t, dt);
        // big.LITTLE: the time on each core type (its rates give the counts and the score).
        if (w.armWorld && v.coreNs.length > 0) {
          const c = w.armWorld.clusterOfCpu[t.cpu];
          v.coreNs[c] += dt;
          v.coreNsEpoch[c] += dt - owed;
        }
      }
    }
    v.handlerDebtNs -= owed;
    v.workloadNsEpoch += dt - owed;
    v.workNsTotal += dt - owed;
    v.toExitNs -= dt;
    v.toSliceNs -= dt;
    v.toTickNs -= dt;
    if (v.toHaltNs !== Number.MAX_SAFE_INTEGER) v.toHaltNs -= dt;
  }

  drawNextExit(t: Thread): void {
    const v = t.vcpu!;
    const vm = this.w.vms.get(v.vm)!;
    v.toExitNs = t.prng.nextExponentialNs(1 / vm.exitRatePerNs);
    v.exitReason = t.prng.chance(vm.ioShare) ? 'io' : 'msr-write';
  }

  drawBusyPeriod(t: Thread): void {
    const v = t.vcpu!;
    const r = this.w.vms.get(v.vm)!.ratesSpec;
    if (r.busyFraction >= 1 || r.hltExitsPerSec <= 0) {
      v.toHaltNs = Number.MAX_SAFE_INTEGER;
      return;
    }
    v.toHaltNs = t.prng.nextExponentialNs((NS_PER_SEC / r.hltExitsPerSec) * r.busyFraction);
  }

  emitExit(t: Thread, reason: string, costNs: number, msr = 0, creditEmulated = true): void {
    const w = this.w;
    const vpmu = t.vcpu!.vpmu;
    // A credit that wraps a counter with its interrupt enabled makes KVM_REQ_PMI: the PMI is
    // injected at the next VM-Enter with the others pending (pmi-delivery.part.ts). The exits of
    // the guest's own PMU accesses were credited at the access (MediatedVpmu.wrmsr).
    if (vpmu instanceof MediatedVpmuClass) {
      const pmi = creditEmulated && EMULATED_INSTRUCTION_EXITS.has(reason) && vpmu.creditEmulatedInstruction(w.portOf(t));
      if (vpmu.takeCreditPmi() || pmi) t.vcpu!.pendingPmis.push(w.nowNs);
    }
    w.emit({ kind: 'vmExit', atNs: w.nowNs, at: w.placeOf(t), reason, costNs, msr });
    if (t.vcpu!.fidelity) w.fidelity.onExit(t.vcpu!, reason, w.portOf(t), w.nowNs);
  }
}
