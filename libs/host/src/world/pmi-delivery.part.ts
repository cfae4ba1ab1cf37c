// PMI delivery to guests on one simulated host. A guest PMI starts in one of three places: a
// passthrough guest counter overflowing in the hardware while its context is loaded (the PMI
// reaches the CPU after the skid), an emulated vPMU's backing host event overflowing (the host
// PMI forces an NMI exit), or a paravirt event's overflows handed over before entry. Either way
// KVM injects one virtual PMI at the next VM entry and the guest's handler runs. A passthrough PMI
// arriving after the guest already left goes to the host's perf handler on the shared NMI vector
// and is lost to the guest, unless the dedicated guest vector names the guest as its owner.
// Every PMI record is built here, with one counter naming.
import { EmulatedVpmu, PassthroughVpmu, PMI_VECTORS } from '@vpmu/kvm';
import type { PmiEvent, PmiOwner } from '@vpmu/sim';
import type { WorldCore } from './world-core';
import type { Thread } from './world-state';

// Module-level copies of hot imports: the barrel's re-exports are getters.
const EmulatedVpmuClass = EmulatedVpmu;
const PassthroughVpmuClass = PassthroughVpmu;

export type PmiDeliveryItem =
  /** A passthrough guest counter's PMI reaching the CPU (overflow + skid). */
  | { p: 'pmi'; t: 'passthrough'; thread: string; stint: number; overflowNs: number; counter: number }
  /** An emulated backing event overflowed while the vCPU ran: the host PMI forces an exit. */
  | { p: 'pmi'; t: 'emulated'; thread: string; stint: number }
  | { p: 'pmi'; t: 'paravirt'; thread: string; stint: number };

/**
 * What a guest PMI record names: one guest counter (a passthrough PMI the guest lost), the vCPU's
 * vPMU as a whole (an injected PMI: one virtual PMI covers every counter that overflowed), or the
 * paravirt overflow hand-over.
 */
export type GuestPmiSource = { counter: number } | 'vpmu' | 'pv';

/** The `counter` field of a guest PMI record. */
export function guestPmiCounterName(vm: string, vcpu: number, source: GuestPmiSource): string {
  const vcpuName = `${vm}/vcpu${vcpu}`;
  if (source === 'vpmu') return vcpuName;
  if (source === 'pv') return `${vcpuName}/pv`;
  return `${vcpuName}/c${source.counter}`;
}

export class PmiDeliveryPart {
  /** vCPU threads whose paravirt NMI exit is queued (one per burst of overflows). */
  private readonly pvExitQueued = new Set<string>();

  constructor(private readonly w: WorldCore) {}

  dispatch(item: PmiDeliveryItem): void {
    if (item.t === 'passthrough') this.onPassthroughPmi(item.thread, item.stint, item.overflowNs, item.counter);
    else if (item.t === 'paravirt') this.onParavirtPmi(item.thread, item.stint);
    else this.onEmulatedPmi(item.thread, item.stint);
  }

  /** The one guest PMI record: delivered (or lost) now, for an overflow at `overflowNs`. */
  emitGuestPmi(t: Thread, source: GuestPmiSource, deliveredTo: PmiOwner, vector: number, overflowNs: number, lost: boolean): void {
    const w = this.w;
    const v = t.vcpu!;
    const e: PmiEvent = { kind: 'pmi', atNs: w.nowNs, at: w.placeOf(t), counter: guestPmiCounterName(v.vm, v.index, source), owner: 'guest', deliveredTo, vector, overflowNs, skidNs: w.nowNs - overflowNs, lost };
    w.emit(e);
  }

  /** A loaded passthrough guest counter overflowed: its PMI reaches the CPU at `pmiNs`. */
  raisePassthrough(t: Thread, pmiNs: number, overflowNs: number, counter: number): void {
    const w = this.w;
    w.queue.push(Math.max(pmiNs, w.nowNs), { p: 'pmi', t: 'passthrough', thread: t.id, stint: t.vcpu!.stint, overflowNs, counter });
  }

  /** An emulated vPMU's backing event overflowed while its vCPU runs guest stint `stint`. */
  raiseEmulated(thread: string, stint: number): void {
    this.w.queue.push(this.w.nowNs, { p: 'pmi', t: 'emulated', thread, stint });
  }

  private runningStint(t: Thread, stint: number): boolean {
    const v = t.vcpu!;
    return v.state === 'guest' && v.stint === stint && this.w.sched.isCurrent(t);
  }

  /** A passthrough guest counter's PMI reaches the pCPU. */
  private onPassthroughPmi(id: string, stint: number, overflowNs: number, counter: number): void {
    const w = this.w;
    const t = w.threads.get(id);
    if (!t) return;
    const v = t.vcpu!;
    const vpmu = v.vpmu;
    if (!(vpmu instanceof PassthroughVpmuClass)) return;
    const skidNs = w.fidelity.onPmiArrival(v, overflowNs, counter, w.nowNs, this.runningStint(t, stint));
    if (skidNs > 0) {
      // pmi-skid fault: the PMI reaches the CPU later while the guest keeps running.
      w.queue.push(w.nowNs + skidNs, { p: 'pmi', t: 'passthrough', thread: id, stint, overflowNs, counter });
      return;
    }
    if (this.runningStint(t, stint)) {
      // Delivered while the guest runs: the PMI exits (KVM's guest PMI vector), is injected at re-entry.
      v.pendingPmis.push(overflowNs);
      w.exec.exitWithPmuSwitch(t, 'pmi', w.costs.costNs('vmExitRoundTripCycles'));
      return;
    }
    // Several counters overflowing together raise one PMI: an overflow behind a guest PMI still
    // waiting for injection (same stint) rides on it, whatever the vector — the guest's handler
    // reads every GLOBAL_STATUS bit.
    if (v.pendingPmis.length > 0 && v.stint === stint) {
      v.pendingPmis.push(overflowNs);
      return;
    }
    // The overflow happened just before an exit and the PMI arrived in host mode (skid).
    if (vpmu.pmiVector === 'dedicated') {
      // The dedicated vector names the guest as the owner: KVM injects it at the next entry.
      v.pendingPmis.push(overflowNs);
      return;
    }
    this.emitGuestPmi(t, { counter }, 'host', PMI_VECTORS.shared, overflowNs, true);
    w.finding(
      w.placeOf(t),
      'pmi-misattributed',
      `${v.vm}/vcpu${v.index}: guest counter ${counter} overflowed at ${overflowNs} ns just before a VM exit; its PMI arrived at ${w.nowNs} ns on the shared NMI vector and was taken by the host perf handler: the guest never sees it`,
    );
  }

  /**
   * A paravirt guest's host event overflowed while its vCPU runs guest code. The host PMI is an
   * NMI, and an NMI in VMX non-root mode always exits (the 2010 patch's overflow handler then
   * records it for the sync at the next entry): the exit is now, not at the vCPU's next exit.
   */
  raiseParavirt(t: Thread): void {
    const key = t.id;
    if (this.pvExitQueued.has(key)) return;
    this.pvExitQueued.add(key);
    this.w.queue.push(this.w.nowNs, { p: 'pmi', t: 'paravirt', thread: t.id, stint: t.vcpu!.stint });
  }

  private onParavirtPmi(id: string, stint: number): void {
    const w = this.w;
    this.pvExitQueued.delete(id);
    const t = w.threads.get(id);
    if (!t || !this.runningStint(t, stint)) return;
    // The NMI exit itself; the sync at re-entry charges pvEventSyncNs and the guest's handler.
    w.exec.exitNow(t, 'pmi', w.costs.costNs('vmExitRoundTripCycles'));
  }

  /** An emulated backing event's host PMI while the vCPU runs: NMI exit, injection at re-entry. */
  private onEmulatedPmi(id: string, stint: number): void {
    const w = this.w;
    const t = w.threads.get(id);
    if (!t) return;
    const v = t.vcpu!;
    const vpmu = v.vpmu;
    if (!(vpmu instanceof EmulatedVpmuClass)) return;
    if (vpmu.pendingPmi) {
      const skidNs = w.fidelity.onPmiArrival(v, vpmu.pendingPmiOverflowNs, -1, w.nowNs, this.runningStint(t, stint));
      if (skidNs > 0) {
        w.queue.push(w.nowNs + skidNs, { p: 'pmi', t: 'emulated', thread: id, stint }); // pmi-skid fault
        return;
      }
    }
    vpmu.pmiExitQueued = false;
    if (!vpmu.pendingPmi || !this.runningStint(t, stint)) return;
    // L. Xu (kvm list, 2019; docs/cost-model.md): guest PMI handling in the emulated vPMU ~99 us, ~56 us
    // when perf events are reused. The figure covers the NMI exit, kvm_perf_overflow, injection and
    // the guest handler's trapped MSRs and its LVTPC unmask (an APIC-write exit); those exits are
    // charged one by one (six PMU MSR traps and the LVTPC write), the rest here.
    const total = w.costs.costNs(vpmu.recreatedSinceLastPmi ? 'guestPmiEmulatedNs' : 'guestPmiEmulatedReusedNs');
    vpmu.recreatedSinceLastPmi = false;
    const handlerTraps = 7 * w.costs.costNs('msrTrapCycles');
    w.exec.exitNow(t, 'pmi', Math.max(w.costs.costNs('vmExitRoundTripCycles'), total - handlerTraps));
  }

  /**
   * At VM entry (context loaded): injects the pending virtual PMIs and runs the guest's PMI
   * handler (guest perf). True when a PMI was injected.
   */
  injectAtEntry(t: Thread): boolean {
    const w = this.w;
    const v = t.vcpu!;
    const vpmu = v.vpmu;
    if (!vpmu || (v.pendingPmis.length === 0 && !(vpmu instanceof EmulatedVpmuClass && vpmu.pendingPmi))) return false;
    const overflows = [...v.pendingPmis];
    v.pendingPmis = [];
    if (vpmu instanceof EmulatedVpmuClass && vpmu.pendingPmi) {
      // Every backing event that overflowed since the last injection (one PMI handles them all).
      for (const ns of vpmu.takePendingOverflows()) overflows.push(ns);
    }
    const vector = vpmu instanceof PassthroughVpmuClass ? PMI_VECTORS[vpmu.pmiVector] : PMI_VECTORS.shared;
    for (const overflowNs of overflows) this.emitGuestPmi(t, 'vpmu', 'guest', vector, overflowNs, false);
    const port = w.portOf(t);
    // The guest's perf_clock() is kvmclock (host time): the exit and injection time counts too.
    // One handler for every session: they share the vCPU's perf context.
    v.guestPerf[0]?.ctx.pmi(port, v.guestNsTotal, w.nowNs);
    w.guestPerf.emitThrottles(t);
    // LBR call-stack mode: the PMI handler reads the stack (DEBUGCTL.LBR cleared first).
    w.lbr?.readBegin(t, 'pmi');
    // The guest's NMI handler itself runs in the guest: no public figure, chosen (cost-model.ts).
    v.handlerDebtNs += overflows.length * w.costs.costNs('guestPmiHandlerNs');
    return true;
  }
}
