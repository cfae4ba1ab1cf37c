// Paravirtual perf on one simulated host (paravirt-world.ts holds one PvPerfTable per VM): the
// tables' host events are perf events on the vCPU threads (reached through each vCPU's port),
// their overflows are handed to the guest's sessions before each entry (host time per event plus
// the guest's handler, both lost to the workload), and the guest reaches the tables through
// hypercalls, each a VMCALL exit (`hypercall` program steps here, guest perf sessions through
// guest-perf.part.ts).
import { PMI_VECTORS } from '@vpmu/kvm';
import type { ProgramOp } from '@vpmu/world-spec';
import { hypercallExitCostNs, pvAttrOfProgram, type PvRaisedFinding } from '../paravirt-world';
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

  /**
   * A `hypercall` program step (`count` calls on consecutive ids, up to 100,000). Each call is a
   * VMCALL exit (reason `hypercall`, as a guest perf session's calls), recorded like every exit of
   * a program and, as those, not charged as guest time (the program runs before the workload).
   * The refusals of one step are folded by finding kind and errno into one finding each, with the
   * number of calls it stands for: a small program must not make the host emit and hold a finding
   * per call (docs/findings.md "Repeated findings"). A single call reports as before.
   */
  programStep(vm: VmRuntime, op: Extract<ProgramOp, { op: 'hypercall' }>): { result: 'ok' | 'gp' | 'undefined'; value: number; errno?: string; vcpu: number } {
    const w = this.w;
    const t = w.threads.get(vm.threads[op.vcpu]);
    if (!t) return { result: 'undefined', value: 0, vcpu: op.vcpu };
    const port = w.portOf(t);
    const attr = pvAttrOfProgram(op.attr);
    let value = 0;
    let errno: string | undefined;
    // Classes in order of first appearance; at most one per finding kind and errno.
    const folded = new Map<string, { finding: PvRaisedFinding; count: number; lastId: number }>();
    for (let n = 0; n < op.count; n++) {
      const id = op.id + n;
      let raised: PvRaisedFinding | undefined;
      w.emit({ kind: 'vmExit', atNs: w.nowNs, at: w.placeOf(t), reason: 'hypercall', costNs: hypercallExitCostNs(w.costs, op.call), msr: 0 });
      const r = w.pv.hypercall(port, vm.spec.id, op.call, id, attr, op.count > 1 ? (f) => (raised = f) : undefined);
      if (r.ok) value = op.call === 'open' ? value + 1 : (r.value ?? 0);
      else errno ??= r.errno;
      if (raised === undefined) continue;
      const key = `${raised.findingKind}/${r.ok ? '' : r.errno}`;
      const c = folded.get(key);
      if (c) {
        c.count++;
        c.lastId = id;
      } else folded.set(key, { finding: raised, count: 1, lastId: id });
    }
    for (const c of folded.values()) {
      const detail = c.count === 1 ? c.finding.detail : `${c.finding.detail} (and the same for ${c.count - 1} more calls of this step, ids up to ${c.lastId}: ${c.count} in all)`;
      w.pv.emitFinding(vm.spec.id, port.vcpu, { findingKind: c.finding.findingKind, detail }, c.count);
    }
    return { result: 'ok', value, vcpu: op.vcpu, ...(errno !== undefined && { errno }) };
  }
}
