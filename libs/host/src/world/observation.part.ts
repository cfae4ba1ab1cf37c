// What the world reports about its guests' counters on one simulated host: the periodic
// counterSample records (ground truth against what the guest observes), the checks that run with
// them (emulated backing events starved of hardware counters, a passthrough event filter
// bypassed, the fidelity and isolation monitors), the vCPU view of `vpmu inspect`, and each VM's
// fidelity figures at the end of the run.
import { EmulatedVpmu, PassthroughVpmu } from '@vpmu/kvm';
import type { WorldCore } from './world-core';
import { taskName, truthCount, type Thread, type VcpuInspection, type VmRuntime } from './world-state';

export type ObservationItem = { p: 'observe'; t: 'sample' };

export class ObservationPart {
  constructor(private readonly w: WorldCore) {}

  /** Queues the first sample (scenario.sampleIntervalNs; 0 = no samples). */
  start(): void {
    if (this.w.scenario.sampleIntervalNs > 0) this.w.queue.push(this.w.scenario.sampleIntervalNs, { p: 'observe', t: 'sample' });
  }

  dispatch(_item: ObservationItem): void {
    this.onSample();
  }

  private onSample(): void {
    const w = this.w;
    w.queue.push(w.nowNs + w.scenario.sampleIntervalNs, { p: 'observe', t: 'sample' });
    for (const vm of w.vms.values()) {
      for (const id of vm.threads) {
        const t = w.threads.get(id)!;
        const v = t.vcpu!;
        w.exec.accountGuest(v);
        const view = this.counterView(vm, t);
        for (let k = 0; k < vm.trackedEvents.length; k++) {
          w.emit({ kind: 'counterSample', atNs: w.nowNs, at: { host: w.id, vm: vm.spec.id, vcpu: v.index }, event: vm.trackedEvents[k], ...view[k] });
        }
        const port = w.portOf(t);
        if (v.vpmu instanceof EmulatedVpmu) v.vpmu.checkStarved(port);
        if (v.vpmu instanceof PassthroughVpmu) v.vpmu.checkFilter(port);
        if (v.fidelity) w.fidelity.onSample(v, port);
      }
    }
  }

  /** Each vCPU's state, guest task and counter view (what `vpmu inspect` prints). */
  inspectVcpus(): VcpuInspection[] {
    const w = this.w;
    const vcpus: VcpuInspection[] = [];
    for (const vm of w.vms.values()) {
      for (const id of vm.threads) {
        const t = w.threads.get(id)!;
        const v = t.vcpu!;
        w.exec.accountGuest(v);
        const counters: Record<string, { actual: number; observed: number }> = {};
        const view = this.counterView(vm, t);
        vm.trackedEvents.forEach((e, k) => (counters[e] = view[k]));
        vcpus.push({ vm: vm.spec.id, vcpu: v.index, vpmu: vm.spec.vpmu.mode, state: v.state, pcpu: t.cpu, guestTask: taskName(vm.spec, v.index, v.taskIndex), guestRunNs: v.guestNsTotal, counters });
      }
    }
    return vcpus;
  }

  /**
   * Per tracked event of one vCPU: the ground truth and what the guest observes. With a guest perf
   * session counting the event: its scaled count (as perf prints it) against the true count over
   * the guest time the session was enabled. Without one: the truth since the VM started and 0
   * observed (nothing in the guest reads it). arm64 VMs (vPMU not modelled here) report the truth.
   */
  private counterView(vm: VmRuntime, t: Thread): { actual: number; observed: number }[] {
    const w = this.w;
    const v = t.vcpu!;
    if (v.pvPerf.length > 0) return this.pvCounterView(vm, t);
    const port = w.portOf(t);
    const readings = v.vpmu ? v.guestPerf.map((g) => (g.running || g.windowNs > 0 ? g.readings((c) => v.vpmu!.peek(port, c), v.guestNsTotal) : null)) : [];
    return vm.trackedEvents.map((event, k) => {
      const q = vm.guestRates.totalQ[vm.trackedIdx[k]];
      if (!v.vpmu) {
        // arm64 big.LITTLE: the truth is the sum over core types of their rate x the time there.
        const cores = vm.coreRates;
        const idx = vm.trackedIdx[k];
        const actual = cores ? cores.reduce((n, r, c) => n + truthCount(r.totalQ[idx], v.coreNs[c] ?? 0), 0) : truthCount(q, v.guestNsTotal);
        // arm64: the guest's counters count only on pCPUs its VM's PMU covers (one core type),
        // and only events that PMU implements (its PMCEID, arm-pmu-world.ts).
        const countedNs = w.armWorld?.countedNs(v.vm, v.index) ?? null;
        if (vm.spec.vpmu.mode === 'none') return { actual, observed: 0 };
        if (countedNs === null) return { actual, observed: actual };
        if (!w.armWorld!.guestCountsEvent(v.vm, event)) return { actual, observed: 0 };
        const core = w.armWorld!.countingCoreType(v.vm);
        return { actual, observed: truthCount(cores && core !== null ? cores[core].totalQ[idx] : q, countedNs) };
      }
      for (let j = 0; j < v.guestPerf.length; j++) {
        const r = readings[j]?.find((x) => x.event === event);
        if (r) return { actual: truthCount(q, v.guestPerf[j].windowUntil(v.guestNsTotal)), observed: r.scaledCount };
      }
      return { actual: truthCount(q, v.guestNsTotal), observed: 0 };
    });
  }

  /** counterView of a paravirt vCPU: the guest's counts are its host PV events' counts. */
  private pvCounterView(vm: VmRuntime, t: Thread): { actual: number; observed: number }[] {
    const v = t.vcpu!;
    const readings = v.pvPerf.map((g) => (g.running || g.windowNs > 0 ? g.readings((id) => this.w.paravirt.peek(t, id), v.guestNsTotal) : null));
    return vm.trackedEvents.map((event, k) => {
      const q = vm.guestRates.totalQ[vm.trackedIdx[k]];
      for (let j = 0; j < v.pvPerf.length; j++) {
        const r = readings[j]?.find((x) => x.event === event);
        if (r) return { actual: truthCount(q, v.pvPerf[j].windowUntil(v.guestNsTotal)), observed: r.scaledCount };
      }
      return { actual: truthCount(q, v.guestNsTotal), observed: 0 };
    });
  }

  /** End of the run: each VM's fidelity figures (guest-fidelity.ts) for the summary. */
  emitFidelityRecords(): void {
    const w = this.w;
    for (const vm of w.vms.values()) {
      const ts = vm.threads.map((id) => w.threads.get(id)!);
      for (const t of ts) w.exec.accountGuest(t.vcpu!);
      for (const e of w.fidelity.vmRecords(vm.spec.id, ts.map((t) => t.vcpu!), ts.map((t) => w.portOf(t)), w.nowNs)) w.emit(e);
    }
  }
}
