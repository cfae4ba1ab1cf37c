// The one port between the world and the models of one vCPU: the vPMU backend, the guest
// kernel's perf sessions, the fidelity monitors and the migration checks reach the host through
// it (host perf events on the vCPU thread, the loaded hardware PMU, findings), and the guest
// kernel reaches its vPMU through it (WRMSR / RDMSR / RDPMC, watched by the fidelity monitors).
// Created once per vCPU when the vCPU is placed on (or arrives at) this host; it holds no state
// of its own besides the thread it serves.
import type { VpmuHostOps } from '@vpmu/kvm';
import type { GuestPerfMsrPort } from '@vpmu/guest';
import type { IntelPmu } from '@vpmu/pmu';
import type { PerfEventAttr, PerfHooks } from '@vpmu/perf';
import type { WorldCore } from './world-core';
import type { Thread } from './world-state';

export class VcpuPort implements VpmuHostOps, GuestPerfMsrPort {
  constructor(
    private readonly w: WorldCore,
    private readonly thread: Thread,
  ) {}

  // ---- the host, as the vPMU backend and the monitors see it ----------------------------------

  loadedPmu(): IntelPmu {
    return this.w.perf.loadedPmu(this.thread);
  }

  perfCreate(attr: PerfEventAttr, hooks: PerfHooks): string | null {
    const r = this.w.perf.createTaskEvent(this.thread, attr, hooks, 'vcpu');
    return r.ok ? r.id : null;
  }

  perfRead(id: string): { count: number; enabledNs: number; runningNs: number } {
    this.w.perf.syncThread(this.thread);
    return this.w.perf.read(id);
  }

  perfClose(id: string): void {
    this.w.perf.syncThread(this.thread);
    this.w.perf.close(id);
  }

  perfSetPeriod(id: string, periodEvents: number): void {
    this.w.perf.setPeriod(id, periodEvents);
  }

  finding(kind: string, detail: string): void {
    this.w.finding(this.w.placeOf(this.thread), kind, detail);
  }

  // ---- the vPMU, as the guest kernel reaches it -----------------------------------------------

  wrmsr(msr: number, value: bigint): boolean {
    const v = this.thread.vcpu!;
    if (v.fidelity) this.w.fidelity.beforeGuestWrite(v, this, msr);
    const ok = v.vpmu!.wrmsr(this, msr, value).ok;
    if (ok && v.fidelity) this.w.fidelity.afterGuestWrite(v, this, msr, value);
    return ok;
  }

  rdmsr(msr: number): bigint {
    const v = this.thread.vcpu!;
    const r = v.vpmu!.rdmsr(this, msr);
    if (r.ok && v.fidelity) this.w.fidelity.onGuestRdmsr(v, this, msr, r.value);
    return r.ok ? r.value : 0n;
  }

  rdpmc(index: number): bigint {
    const v = this.thread.vcpu!;
    const r = v.vpmu!.rdpmc(this, index);
    if (r.ok && v.fidelity) this.w.fidelity.onGuestRdpmc(v, this, index, r.value);
    return r.ok ? r.value : 0n;
  }
}
