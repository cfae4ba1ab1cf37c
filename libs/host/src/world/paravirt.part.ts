// Paravirtual perf on one simulated host (paravirt-world.ts holds one PvPerfTable per VM): the
// tables' host events are per-task perf events on the vCPU threads, their overflows are handed
// to the guest's sessions before each entry (host time per event plus the guest's handler, both
// lost to the workload), and the guest reaches the tables through hypercalls, each a VMCALL exit.
import type { PerfEventAttr, PerfHooks } from '@vpmu/perf';
import { PMI_VECTORS, type TrapRecord } from '@vpmu/kvm';
import type { ProgramOp } from '@vpmu/scenario';
import type { SimEvent } from '@vpmu/sim';
import { PvGuestPort, pvAttrOfProgram, type PvWorldHost } from '../paravirt-world';
import type { WorldCore } from './world-core';
import { vcpuThreadId, type Thread, type VmRuntime } from './world-state';

export class ParavirtPart implements PvWorldHost {
  constructor(private readonly w: WorldCore) {}

  get id(): string {
    return this.w.id;
  }

  get simulatedUntilNs(): number {
    return this.w.nowNs;
  }

  emitFromModel(e: SimEvent): void {
    this.w.emit(e);
  }

  /** The hypercall port of a vCPU: each call queues its VMCALL exit in `traps` (default: the vPMU's). */
  guestPort(t: Thread, traps: TrapRecord[] = t.vcpu!.vpmu!.traps): PvGuestPort {
    const v = t.vcpu!;
    return new PvGuestPort(this.w.pv, v.vm, v.index, traps, this.w.costs);
  }

  /** kvm_sync_events_to_guest before entry: overflows to the guest sessions, costs as lost guest time. */
  syncBeforeEntry(t: Thread): void {
    const w = this.w;
    const v = t.vcpu!;
    const s = w.pv.syncBeforeEntry(v.vm, v.index, v.pvPerf, w.costs);
    if (s.deliveries === 0) return;
    // Host time before the entry (pvEventSyncNs per event) and the guest's handler per delivery:
    // neither is workload time.
    v.handlerDebtNs += s.costNs + s.deliveries * w.costs.costNs('guestPmiHandlerNs');
    w.pmi.emitGuestPmi(t, 'pv', 'guest', PMI_VECTORS.shared, w.nowNs, false);
  }

  /** A `hypercall` program step (`count` calls on consecutive ids). */
  programStep(vm: VmRuntime, op: Extract<ProgramOp, { op: 'hypercall' }>): { result: 'ok' | 'gp' | 'undefined'; value: number; errno?: string; vcpu: number } {
    if (!this.w.threads.has(vm.threads[op.vcpu])) return { result: 'undefined', value: 0, vcpu: op.vcpu };
    const attr = pvAttrOfProgram(op.attr);
    let value = 0;
    let errno: string | undefined;
    for (let n = 0; n < op.count; n++) {
      const r = this.w.pv.hypercall(vm.spec.id, op.vcpu, op.call, op.id + n, attr);
      if (r.ok) value = op.call === 'open' ? value + 1 : (r.value ?? 0);
      else errno ??= r.errno;
    }
    return { result: 'ok', value, vcpu: op.vcpu, ...(errno !== undefined && { errno }) };
  }

  // ---- PvWorldHost: the tables' host events -----------------------------------------------------

  pvPerfCreate(vm: string, vcpu: number, attr: PerfEventAttr, hooks: PerfHooks): { ok: true; id: string } | { ok: false; errno: string } {
    const t = this.w.threads.get(vcpuThreadId(vm, vcpu));
    if (!t) return { ok: false, errno: 'ESRCH' };
    return this.w.perf.createTaskEvent(t, attr, hooks, 'pv');
  }

  pvPerfEnable(hostId: string): void {
    this.w.perf.syncAll();
    this.w.perf.enable(hostId);
  }

  pvPerfDisable(hostId: string): void {
    this.w.perf.syncAll();
    this.w.perf.disable(hostId);
  }

  pvPerfClose(hostId: string): void {
    this.w.perf.syncAll();
    this.w.perf.close(hostId);
  }

  pvPerfRead(hostId: string): number {
    this.w.perf.syncAll();
    return this.w.perf.read(hostId).count;
  }
}
