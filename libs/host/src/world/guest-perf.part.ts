// The guest kernel's perf sessions on one simulated host (`vms[].guestPerf`): `perf stat` /
// `perf record` inside the guest, started and stopped at their instants or by timeline actions.
// The guest kernel acts only while its vCPU runs guest code, so an action for a vCPU out of guest
// mode waits for its next entry. Through an x86 vPMU the sessions program the guest PMU's MSRs
// (each access trapped or not by the backend, exits charged by vcpu-exec.part.ts); in a paravirt
// VM they issue hypercalls instead. The guest tick drives multiplexing and frequency adjustment.
// Each throttle / unthrottle the guest kernel logs (perf_log_throttle) becomes a guest-visible
// `guestThrottle` event, stamped with the guest's perf_clock() (kvmclock: host time).
import type { WorldCore } from './world-core';
import { anyRunning, type Thread } from './world-state';

export type GuestPerfItem = { p: 'guest-perf'; vm: string; session: number; action: 'start' | 'stop' };

export class GuestPerfPart {
  constructor(private readonly w: WorldCore) {}

  /** Queues the start and stop of each guest perf session of a VM placed here. */
  schedule(vmId: string): void {
    const w = this.w;
    w.vms.get(vmId)!.spec.guestPerf.forEach((g, k) => {
      w.queue.push(g.startNs, { p: 'guest-perf', vm: vmId, session: k, action: 'start' });
      if (g.stopNs !== undefined) w.queue.push(g.stopNs, { p: 'guest-perf', vm: vmId, session: k, action: 'stop' });
    });
  }

  dispatch(item: GuestPerfItem): void {
    this.onAction(item.vm, item.session, item.action);
  }

  /** Session `k` of VM `vmId` starts or stops: now on vCPUs in guest mode, at entry on the others. */
  onAction(vmId: string, k: number, action: 'start' | 'stop'): void {
    const w = this.w;
    const vm = w.vms.get(vmId);
    if (!vm) return;
    for (const id of vm.threads) {
      const t = w.threads.get(id)!;
      const v = t.vcpu!;
      if (!v.vpmu || (!v.guestPerf[k] && !v.pvPerf[k])) continue;
      if (v.state === 'guest' && w.sched.isCurrent(t)) {
        w.exec.accountGuest(v);
        this.act(t, k, action);
        if (!w.exec.applyTraps(t)) w.exec.armTimer(t);
      } else {
        // The guest kernel acts when the vCPU next runs guest code.
        v.guestPerfPending[k] = action;
      }
    }
  }

  /** At VM entry: the session actions that waited for the vCPU to run guest code. */
  runPending(t: Thread): void {
    const pending = t.vcpu!.guestPerfPending;
    for (let k = 0, n = pending.length; k < n; k++) {
      const action = pending[k];
      if (action === null || action === undefined) continue;
      pending[k] = null;
      this.act(t, k, action);
    }
  }

  private act(t: Thread, k: number, action: 'start' | 'stop'): void {
    const w = this.w;
    const v = t.vcpu!;
    if (v.pvPerf[k]) {
      // Paravirt: the guest perf driver's hypercalls (each a VMCALL exit, queued as a trap).
      const port = w.portOf(t);
      if (action === 'start') v.pvPerf[k].start(port, v.guestNsTotal);
      else v.pvPerf[k].stop(port, v.guestNsTotal);
      return;
    }
    const port = w.portOf(t);
    if (action === 'start') v.guestPerf[k].start(port, v.guestNsTotal, w.nowNs);
    else v.guestPerf[k].stop(port, v.guestNsTotal);
    this.emitThrottles(t); // a session joining reschedules the others: a throttled event comes back in
    w.lbr?.guestPerf(t, k, action);
  }

  /** The throttle changes the vCPU's guest perf context logged since the last call, as events. */
  emitThrottles(t: Thread): void {
    const v = t.vcpu!;
    const ctx = v.guestPerf[0]?.ctx;
    if (!ctx || ctx.throttleLog.length === 0) return;
    const w = this.w;
    for (const c of ctx.takeThrottleLog()) {
      w.emit({ kind: 'guestThrottle', atNs: w.nowNs, at: w.placeOf(t), session: c.session, eventIndex: c.eventIndex, event: c.event, throttled: c.throttled });
    }
  }

  /** The guest tick (accounted guest time reached it): rotation and frequency adjustment. True if a session ran. */
  tick(t: Thread): boolean {
    const v = t.vcpu!;
    if (!v.vpmu || !anyRunning(v.guestPerf)) return false;
    const port = this.w.portOf(t);
    v.guestPerf[0].ctx.tick(port, v.guestNsTotal); // the sessions share one perf context
    this.emitThrottles(t);
    return true;
  }

  /** End of the run: each guest perf session's readings summed over the VM's vCPUs. */
  reportFinal(): void {
    const w = this.w;
    for (const vm of w.vms.values()) {
      vm.spec.guestPerf.forEach((g, k) => {
        const totals = new Map<string, { count: number; enabled: number; running: number; samples: number }>();
        for (const id of vm.threads) {
          const t = w.threads.get(id)!;
          const v = t.vcpu!;
          if (!v.vpmu || (!v.guestPerf[k] && !v.pvPerf[k])) continue;
          w.exec.accountGuest(v);
          const port = w.portOf(t);
          const rows = v.pvPerf[k] ? v.pvPerf[k].readings((pvId) => w.paravirt.peek(t, pvId), v.guestNsTotal) : v.guestPerf[k].readings((c) => v.vpmu!.peek(port, c), v.guestNsTotal);
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
          w.emit({ kind: 'guestPerf', atNs: w.nowNs, at: { host: w.id, vm: vm.spec.id }, command: `${g.command}:${g.id}`, event, count: a.count, timeEnabledNs: a.enabled, timeRunningNs: a.running, samples: a.samples });
        }
      });
    }
  }
}
