// Paravirtual perf on one simulated host (paravirt-world.ts holds one PvPerfTable per VM): the
// tables' host events are perf events on the vCPU threads (reached through each vCPU's port),
// their overflows are handed to the guest's sessions before each entry (host time per event plus
// the guest's handler, both lost to the workload), and the guest reaches the tables through
// hypercalls, each a VMCALL exit (`hypercall` program steps here, guest perf sessions through
// guest-perf.part.ts).
import { PMI_VECTORS } from '@vpmu/kvm';
import type { ProgramOp } from '@vpmu/world-spec';
import { pvAttrOfProgram } from '../paravirt-world';
import type { WorldCore } from './world-core';
import type { Thread, VmRuntime } from './world-state';

export class ParavirtPart {
  constructor(private readonly w: WorldCore) {}

  /** kvm_sync_events_to_guest before entry: overflows to the guest sessions, costs as lost guest time. */
  syncBeforeEntry(t: Thread): void {
    const w = this.w;
    const v = t.vcpu!;
    const s = w.pv.syncBeforeEntry(w.portOf(t), v.vm, v.pvPerf);
    if (s.deliveries === 0) return;
    // Host time before the entry (pvEventSyncNs per event) and the guest's handler per delivery:
    // neither is workload time.
    v.handlerDebtNs += s.costNs + s.deliveries * w.costs.costNs('guestPmiHandlerNs');
    w.pmi.emitGuestPmi(t, 'pv', 'guest', PMI_VECTORS.shared, w.nowNs, false);
  }

  /** A guest paravirt event's count as its host event reads now (null when it is not open). */
  peek(t: Thread, id: number): number | null {
    return this.w.pv.peek(this.w.portOf(t), t.vcpu!.vm, id);
  }

  /** A `hypercall` program step (`count` calls on consecutive ids). */
  programStep(vm: VmRuntime, op: Extract<ProgramOp, { op: 'hypercall' }>): { result: 'ok' | 'gp' | 'undefined'; value: number; errno?: string; vcpu: number } {
    const w = this.w;
    const t = w.threads.get(vm.threads[op.vcpu]);
    if (!t) return { result: 'undefined', value: 0, vcpu: op.vcpu };
    const port = w.portOf(t);
    const attr = pvAttrOfProgram(op.attr);
    let value = 0;
    let errno: string | undefined;
    for (let n = 0; n < op.count; n++) {
      const r = w.pv.hypercall(port, vm.spec.id, op.call, op.id + n, attr);
      if (r.ok) value = op.call === 'open' ? value + 1 : (r.value ?? 0);
      else errno ??= r.errno;
    }
    return { result: 'ok', value, vcpu: op.vcpu, ...(errno !== undefined && { errno }) };
  }
}
