// Guest LBR on one simulated host (lbr-world.ts holds the stacks and per-vCPU state machines;
// docs/lbr.md): this part feeds it the scheduler's switches and the guest's run time, opens the
// guest's stack reads (PMI handler, guest task switch in call-stack mode), and turns each LBR
// transition into what it costs the vCPU: trapped LBR MSR accesses as exits in guest mode, a
// delayed next entry outside it. The read window's end and the lazy release timer are its items.
import type { GuestLbrOutcome } from '@vpmu/kvm';
import type { LbrWorld } from '../lbr-world';
import type { WorldCore } from './world-core';
import type { Thread } from './world-state';

export type LbrItem = { p: 'lbr'; thread: string; what: 'read-end' | 'timer'; gen: number };

export class LbrPart {
  constructor(
    private readonly w: WorldCore,
    private readonly lbr: LbrWorld,
  ) {}

  dispatch(item: LbrItem): void {
    const w = this.w;
    const t = w.threads.get(item.thread);
    if (!t) return;
    const v = t.vcpu!;
    const inGuest = v.state === 'guest' && w.sched.isCurrent(t);
    if (item.what === 'read-end') {
      if (!this.lbr.readCurrent(t.id, item.gen)) return;
      if (!inGuest) {
        this.lbr.deferReadEnd(t.id); // read at the next entry, on whatever pCPU the vCPU is then
        return;
      }
      w.exec.accountGuest(v);
      this.apply(t, this.lbr.readEnd(t.id, t.cpu, w.nowNs));
    } else {
      this.apply(t, this.lbr.timer(t.id, w.nowNs));
    }
    if (inGuest) w.exec.applyTraps(t);
  }

  switchIn(t: Thread, cpu: number): void {
    this.apply(t, this.lbr.switchIn(t.id, cpu, this.w.nowNs));
  }

  switchOut(t: Thread, cpu: number): void {
    const ranNs = t.noise ? this.w.nowNs - t.noise.runStartNs : 0;
    this.apply(t, this.lbr.switchOut(t.id, cpu, this.w.nowNs, ranNs));
  }

  /** `dtNs` of guest-mode time just accounted: the guest's taken branches fill the stack. */
  guestRan(t: Thread, dtNs: number): void {
    if (this.lbr.has(t.id)) this.lbr.guestRan(t.id, t.cpu, dtNs);
  }

  /** A guest perf session with an LBR call stack starts or stops. */
  guestPerf(t: Thread, session: number, action: 'start' | 'stop'): void {
    this.apply(t, this.lbr.guestPerf(t.id, t.cpu, session, action, this.w.nowNs));
  }

  /** A guest task switch: per-task call-stack events deleted and re-added; true if it queued exits. */
  guestTaskSwitch(t: Thread): boolean {
    const out = this.lbr.guestTaskSwitch(t.id, t.cpu, this.w.nowNs);
    this.apply(t, out);
    return out !== null && (out.exits.length > 0 || out.costNs > 0);
  }

  /** Opens a guest LBR read window (PMI handler or sched-task); true if it queued exits. */
  readBegin(t: Thread, cause: 'pmi' | 'sched-task'): boolean {
    const w = this.w;
    const r = this.lbr.readBegin(t.id, t.cpu, w.nowNs, cause);
    if (!r) return false;
    this.apply(t, r.out);
    w.queue.push(w.nowNs + this.lbr.windowNs, { p: 'lbr', thread: t.id, what: 'read-end', gen: r.gen });
    return r.out.exits.length > 0 || r.out.costNs > 0;
  }

  /** At VM entry: a read whose window outlasted a preemption or an exit reads the stack now. */
  readEndAtEntry(t: Thread): void {
    if (this.lbr.readEndDue(t.id)) this.apply(t, this.lbr.readEnd(t.id, t.cpu, this.w.nowNs));
  }

  /**
   * Charges a guest LBR transition: in guest mode its trapped MSR accesses are exits (the stack
   * save/restore rides on the first); outside guest mode its cost delays the vCPU's next entry.
   */
  private apply(t: Thread, out: GuestLbrOutcome | null): void {
    const w = this.w;
    if (!out) return;
    for (const e of out.events) w.emit(e);
    const v = t.vcpu;
    if (v && (out.costNs > 0 || out.exits.length > 0)) {
      if (v.state === 'guest' && v.vpmu) {
        const trapNs = w.costs.costNs('msrTrapCycles');
        let rest = Math.max(0, out.costNs - out.exits.length * trapNs);
        for (const x of out.exits) {
          v.vpmu.traps.push({ reason: 'lbr-msr', msr: x.msr, costNs: trapNs + rest });
          rest = 0;
        }
        if (out.exits.length === 0) v.vpmu.traps.push({ reason: out.actions.includes('timer') ? 'lbr-timer' : 'lbr', msr: 0, costNs: out.costNs });
      } else if (v.state === 'runnable' || v.state === 'halted') {
        v.exitLeftNs += out.costNs;
      }
    }
    const due = this.lbr.timerToQueue(t.id);
    if (due !== null) w.queue.push(Math.max(due, w.nowNs), { p: 'lbr', thread: t.id, what: 'timer', gen: 0 });
  }

  /** End of the run: LBR statistics per VM. */
  reportFinal(): void {
    for (const e of this.lbr.finalRecords(this.w.nowNs)) this.w.emit(e);
  }
}
