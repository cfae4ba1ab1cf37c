// The one port between the world and the models of one vCPU (VcpuWorldPort, libs/kvm): the vPMU
// backend, the paravirtual perf table, the fidelity monitors and the migration checks reach the
// host through it (perf events on the vCPU thread, the loaded hardware PMU, findings, costs,
// time), and the guest kernel reaches its vCPU's PMU through it (WRMSR / RDMSR / RDPMC watched by
// the fidelity monitors, or the paravirtual perf hypercalls). Created once per vCPU when the vCPU
// is placed on (or arrives at) this host; it holds nothing but the thread it serves.
import type { CostModel, PerfCounts, PerfCreateResult, PvPerfAttr, VcpuWorldPort } from '@vpmu/kvm';
import type { GuestPerfMsrPort, GuestPvCallResult, GuestPvHypercallPort } from '@vpmu/guest';
import type { IntelPmu } from '@vpmu/pmu';
import type { PerfEventAttr, PerfHooks } from '@vpmu/perf';
import type { PvHypercallName } from '@vpmu/world-spec';
import { hypercallExitCostNs } from '../paravirt-world';
import type { WorldCore } from './world-core';
import type { Thread } from './world-state';

export class VcpuPort implements VcpuWorldPort, GuestPerfMsrPort, GuestPvHypercallPort {
  /**
   * A paravirt VM's host events belong to the VM (named after it; any vCPU's hypercall may reach
   * them): each perf operation syncs every pCPU first. A vPMU's backing events are the vCPU's own.
   */
  private readonly vmScopedPerf: boolean;
  /** Hypercalls are VMCALL exits, except while KVM reopens events during migration downtime. */
  private hypercallsExit = true;

  constructor(
    private readonly w: WorldCore,
    private readonly thread: Thread,
  ) {
    this.vmScopedPerf = w.vms.get(thread.vcpu!.vm)!.spec.vpmu.mode === 'paravirt';
  }

  // ---- the host, as the vCPU's models see it --------------------------------------------------

  get vcpu(): number {
    return this.thread.vcpu!.index;
  }

  get nowNs(): number {
    return this.w.nowNs;
  }

  get costs(): CostModel {
    return this.w.costs;
  }

  emitFinding(kind: string, detail: string): void {
    this.w.finding(this.w.placeOf(this.thread), kind, detail);
  }

  loadedPmu(): IntelPmu {
    return this.w.perf.loadedPmu(this.thread);
  }

  perfCreate(attr: PerfEventAttr, hooks: PerfHooks): PerfCreateResult {
    return this.w.perf.createTaskEvent(this.thread, attr, hooks, this.vmScopedPerf ? 'vm' : 'vcpu');
  }

  perfRead(id: string): PerfCounts {
    this.sync();
    return this.w.perf.read(id);
  }

  perfEnable(id: string): void {
    this.sync();
    this.w.perf.enable(id);
  }

  perfDisable(id: string): void {
    this.sync();
    this.w.perf.disable(id);
  }

  perfClose(id: string): void {
    this.sync();
    this.w.perf.close(id);
  }

  perfSetPeriod(id: string, periodEvents: number): void {
    this.w.perf.setPeriod(id, periodEvents);
  }

  private sync(): void {
    if (this.vmScopedPerf) this.w.perf.syncAll();
    else this.w.perf.syncThread(this.thread);
  }

  // ---- the vCPU's PMU, as the guest kernel reaches it -----------------------------------------

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

  apicWriteLvtpc(_value: number): void {
    this.thread.vcpu!.vpmu!.lvtpcWrite(this);
  }

  rdpmc(index: number): bigint {
    const v = this.thread.vcpu!;
    const r = v.vpmu!.rdpmc(this, index);
    if (r.ok && v.fidelity) this.w.fidelity.onGuestRdpmc(v, this, index, r.value);
    return r.ok ? r.value : 0n;
  }

  open(id: number, attr: PvPerfAttr): GuestPvCallResult {
    return this.hypercall('open', id, attr);
  }

  enable(id: number): GuestPvCallResult {
    return this.hypercall('enable', id);
  }

  disable(id: number): GuestPvCallResult {
    return this.hypercall('disable', id);
  }

  read(id: number): GuestPvCallResult {
    return this.hypercall('read', id);
  }

  close(id: number): GuestPvCallResult {
    return this.hypercall('close', id);
  }

  /** Runs `reopen` as KVM's own work during migration downtime: its hypercalls take no exits. */
  withoutExits(reopen: () => void): void {
    this.hypercallsExit = false;
    try {
      reopen();
    } finally {
      this.hypercallsExit = true;
    }
  }

  private hypercall(call: PvHypercallName, id: number, attr?: PvPerfAttr): GuestPvCallResult {
    if (this.hypercallsExit) {
      // A VMCALL exit, queued as a trap: the world charges it.
      this.thread.vcpu!.vpmu!.traps.push({ reason: 'hypercall', msr: 0, costNs: hypercallExitCostNs(this.w.costs, call) });
    }
    const r = this.w.pv.hypercall(this, this.thread.vcpu!.vm, call, id, attr);
    return r.ok ? { ok: true, value: r.value ?? 0 } : { ok: false, errno: r.errno };
  }
}
