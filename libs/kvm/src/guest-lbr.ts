// Guest LBR virtualization of one vCPU (`vms[].vpmu.lbr: none | pv | lazy`), as a state machine
// the host world drives with events: vCPU thread switched in/out of a pCPU, guest perf adding or
// removing an LBR call-stack user, the guest's DEBUGCTL writes, the guest reading its LBR stack
// (PMI handler, sched-task hook), a guest access to an LBR MSR, and the lazy release timer.
// Every transition returns what happened (cost, trapped MSR accesses, lbrSnapshot / finding
// events); nothing is emitted through callbacks and all state is plain data.
//
// Follows the design thread of "[PATCH v2 6/8] perf/x86/intel/lbr: guest requesting KVM for lbr stack save/restore" (W. Wang, Sep 2018) (W. Wang / A. Kleen,
// kvm list, Sept 2018, "[v2,6/8] perf/x86/intel/lbr: guest requesting KVM for lbr stack
// save/restore"):
// - `none`: no save/restore. The LBR stack is per pCPU; whatever runs next on the pCPU (a host
//   thread with an LBR perf event, another vCPU) overwrites it, and a vCPU moved to another pCPU
//   reads that pCPU's stack.
// - `pv`: the guest's intel_pmu_lbr_add sets MSR_KVM_PV_LBR_CTRL (0x4b564d05) ACTIVE (bit 0) and
//   intel_pmu_lbr_del clears it, for a user call-stack event with a task context only
//   (`branch_user_callstack(br_sel) && event->ctx->task_ctx_data`): at every add and every del,
//   even with other users left (set_pv_lbr_ctrl_active: RDMSR, then WRMSR if the bit changes —
//   both trap). A per-task event is deleted and added again at each guest switch of its task, so
//   ACTIVE toggles there; a system-wide (-a) event never sets it. While ACTIVE, KVM keeps a host
//   LBR perf event for the vCPU (guest_lbr_event_create), so host perf saves the stack when the
//   vCPU thread is switched out and restores it when it is switched in. Clearing ACTIVE releases
//   the event (and the saved stack).
// - `lazy` (Kleen's proposal): after a switch the LBR MSRs are intercepted; the first guest access
//   (an LBR MSR, or a DEBUGCTL write that sets LBR) traps, creates the host event if there is
//   none, restores the saved stack and passes the MSRs through. The stack is saved at switch-out
//   only if the MSRs were passed through since the switch-in ("when the LBRs haven't been set to
//   direct access the state doesn't need to be saved"). A periodic timer (`lazyLbrReleaseNs`)
//   releases the host event when DEBUGCTL.LBR stayed 0 for a whole period — the hysteresis Kleen
//   suggests so quick toggles (a PMI handler) do nothing expensive; each firing while the vCPU runs
//   is a VM exit (Wang's objection).
// The pollution window (Wang, 8 Sept 2018): guest perf in call-stack mode clears DEBUGCTL.LBR
// before reading the stack (PMI handler, perf_pmu_sched_task). If the vCPU thread is preempted
// in that window and an LBR user runs on the pCPU, the guest reads foreign entries unless the
// stack is saved and restored: `guestReadEnd` reports them (`lbr-polluted`, with the count).
//
// DEBUGCTL itself is always intercepted (a VMCS field: every guest write is an MSR exit, in every
// mode); VM entry loads the guest's DEBUGCTL into the pCPU (`vcpuSchedIn`). Costs come from the
// cost model (`guestLbrCosts`): save/restore = depth x 3 MSRs (no public figure, docs/lbr.md).

import { LBR_DEBUGCTL, guestLbrOwner, type LbrStack, type LbrStackState } from '@vpmu/pmu';
import type { FindingEvent, LbrSnapshotEvent, Place } from '@vpmu/sim';
import type { CostModel } from './cost-model';

export type GuestLbrMode = 'none' | 'pv' | 'lazy';

export const MSR_KVM_PV_LBR_CTRL = 0x4b564d05;
export const KVM_PV_LBR_CTRL_ACTIVE = 1;
export const KVM_FEATURE_PV_LBR_CTRL = 12;
export const MSR_IA32_DEBUGCTL = 0x1d9;
/** MSR number recorded for an intercepted LBR stack access (the first FROM MSR; the model does not track which). */
export const LBR_ACCESS_MSR = 0x680;

/** Finding raised when the guest reads LBR entries it did not record. */
export const LBR_POLLUTED_FINDING = 'lbr-polluted';

/** Resolved costs (integer ns) of the LBR transitions on one host. */
export interface GuestLbrCosts {
  /** One trapped MSR access (DEBUGCTL write, PV control MSR, intercepted LBR MSR). */
  msrTrapNs: number;
  /** Saving the whole stack (depth x FROM/TO/INFO). */
  saveNs: number;
  /** Restoring the whole stack. */
  restoreNs: number;
  hostEventCreateNs: number;
  hostEventReleaseNs: number;
  /** The release timer interrupting a running vCPU (external-interrupt exit and re-entry). */
  timerExitNs: number;
}

/**
 * Costs from the cost model. Save and restore each move depth x 3 MSRs: XSAVES/XRSTORS of the arch
 * LBR state (`lbrArchXsavesNsPerMsr`) or one RDMSR/WRMSR each on legacy LBR
 * (`lbrLegacyMsrAccessCycles`). Creating / releasing the host LBR event use perfEventCreateNs /
 * perfEventToggleNs (no LBR-specific figure).
 */
export function guestLbrCosts(costs: CostModel, depth: number, archLbr: boolean): GuestLbrCosts {
  const perMsrNs = archLbr ? costs.costNs('lbrArchXsavesNsPerMsr') : costs.costNs('lbrLegacyMsrAccessCycles');
  const stackNs = depth * 3 * perMsrNs;
  return {
    msrTrapNs: costs.costNs('msrTrapCycles'),
    saveNs: stackNs,
    restoreNs: stackNs,
    hostEventCreateNs: costs.costNs('perfEventCreateNs'),
    hostEventReleaseNs: costs.costNs('perfEventToggleNs'),
    timerExitNs: costs.costNs('vmExitRoundTripCycles'),
  };
}

/**
 * How long the guest's LBR read keeps DEBUGCTL.LBR clear: reading depth x 3 passed-through MSRs at
 * `perMsrNs` (40 ns chosen: an RDMSR that does not exit). The world may use it to decide whether a
 * preemption lands inside the window.
 */
export function guestLbrReadWindowNs(depth: number, perMsrNs = 40): number {
  return depth * 3 * perMsrNs;
}

export interface GuestLbrConfig {
  host: string;
  vm: string;
  vcpu: number;
  mode: GuestLbrMode;
  /** `vms[].vpmu.lazyLbrReleaseNs`: period of the lazy release timer. */
  lazyLbrReleaseNs: number;
  costs: GuestLbrCosts;
}

export type GuestLbrAction =
  | 'debugctl-write'
  | 'pv-ctrl-read'
  | 'pv-ctrl-write'
  | 'host-event-create'
  | 'host-event-release'
  | 'save'
  | 'restore'
  | 'intercept'
  | 'passthrough'
  | 'timer'
  | 'read';

/** A guest MSR access that exited to KVM (for vmExit / msrAccess events). */
export interface GuestLbrExit {
  msr: number;
  write: boolean;
}

export interface GuestLbrOutcome {
  /** CPU time the transition takes on the pCPU where it happens (ns). */
  costNs: number;
  actions: GuestLbrAction[];
  exits: GuestLbrExit[];
  events: (LbrSnapshotEvent | FindingEvent)[];
  /** On a read: entries the guest read that it did not record. */
  foreignEntries: number;
}

export interface GuestLbrStats {
  saves: number;
  restores: number;
  intercepts: number;
  hostEventCreates: number;
  hostEventReleases: number;
  timerFires: number;
  reads: number;
  pollutedReads: number;
  foreignEntries: number;
  msrExits: number;
  costNs: number;
}

export type GuestLbrReadCause = 'pmi' | 'sched-task';

export class GuestLbr {
  readonly cfg: GuestLbrConfig;
  readonly owner: string;
  /** The guest's DEBUGCTL (VMCS guest state). */
  private guestDebugCtl = 0;
  /** MSR_KVM_PV_LBR_CTRL as the guest last wrote it. */
  private pvCtrl = 0;
  private callStackUsers = 0;
  /** Call-stack users with a task context (per-task events: the ones that drive ACTIVE). */
  private taskCtxUsers = 0;
  /** A host LBR perf event exists for this vCPU: perf saves/restores the stack on switches. */
  private hostEvent = false;
  private saved: LbrStackState | null = null;
  /** LBR MSRs passed through (lazy: since the first access after the last switch-in). */
  private passthrough = false;
  private running = false;
  private pcpu = -1;
  private windowOpen = false;
  private windowCause: GuestLbrReadCause = 'pmi';
  private windowOpenedNs = 0;
  /** The vCPU thread was switched out while the read window was open. */
  private preemptedInWindow = false;
  /** Lazy release timer: next expiry (-1 = not armed). */
  private timerDueNs = -1;
  /** DEBUGCTL.LBR was 1 at some point of the current timer period. */
  private lbrSeenInPeriod = false;
  private readonly statsData: GuestLbrStats = {
    saves: 0,
    restores: 0,
    intercepts: 0,
    hostEventCreates: 0,
    hostEventReleases: 0,
    timerFires: 0,
    reads: 0,
    pollutedReads: 0,
    foreignEntries: 0,
    msrExits: 0,
    costNs: 0,
  };

  constructor(cfg: GuestLbrConfig) {
    if (cfg.mode === 'lazy' && !(Number.isSafeInteger(cfg.lazyLbrReleaseNs) && cfg.lazyLbrReleaseNs > 0)) {
      throw new Error(`lazyLbrReleaseNs must be a positive integer ns, got ${cfg.lazyLbrReleaseNs}`);
    }
    this.cfg = { ...cfg, costs: { ...cfg.costs } };
    this.owner = guestLbrOwner(cfg.vm, cfg.vcpu);
    // `none` has no interception: the guest's LBR MSRs go to the hardware.
    this.passthrough = cfg.mode === 'none';
  }

  get mode(): GuestLbrMode {
    return this.cfg.mode;
  }
  get debugCtl(): number {
    return this.guestDebugCtl;
  }
  get pvActive(): boolean {
    return (this.pvCtrl & KVM_PV_LBR_CTRL_ACTIVE) !== 0;
  }
  get hasHostEvent(): boolean {
    return this.hostEvent;
  }
  get passedThrough(): boolean {
    return this.passthrough;
  }
  get hasSavedStack(): boolean {
    return this.saved !== null;
  }
  get inReadWindow(): boolean {
    return this.windowOpen;
  }
  get isRunning(): boolean {
    return this.running;
  }
  get users(): number {
    return this.callStackUsers;
  }
  /** Users whose events have a task context (per-task sessions). */
  get taskUsers(): number {
    return this.taskCtxUsers;
  }
  get stats(): Readonly<GuestLbrStats> {
    return this.statsData;
  }

  /** When the lazy release timer fires next (null when not armed). */
  nextTimerNs(): number | null {
    return this.timerDueNs >= 0 ? this.timerDueNs : null;
  }

  /** Host costs changed (the vCPU's VM migrated to another host). */
  setCosts(costs: GuestLbrCosts): void {
    this.cfg.costs = { ...costs };
  }

  // ---------------------------------------------------------------------------------------------
  // Host side: the vCPU thread is switched in / out of a pCPU.

  /** The vCPU thread starts running on the pCPU owning `stack` (VM entry loads the guest DEBUGCTL). */
  vcpuSchedIn(_nowNs: number, stack: LbrStack): GuestLbrOutcome {
    const out = newOutcome();
    this.running = true;
    this.pcpu = stack.pcpu;
    if (this.cfg.mode === 'pv' && this.hostEvent && this.saved) this.restoreInto(stack, out);
    if (this.cfg.mode === 'lazy') this.passthrough = false; // intercept until the first access
    stack.writeDebugCtl(this.guestDebugCtl);
    return this.done(out);
  }

  /** The vCPU thread is switched out of the pCPU owning `stack` (preempted, blocked, migrated). */
  vcpuSchedOut(_nowNs: number, stack: LbrStack): GuestLbrOutcome {
    const out = newOutcome();
    this.running = false;
    if (this.windowOpen) this.preemptedInWindow = true;
    if (this.hostEvent && (this.cfg.mode === 'pv' || (this.cfg.mode === 'lazy' && this.passthrough))) {
      this.saved = stack.save();
      out.costNs += this.cfg.costs.saveNs;
      out.actions.push('save');
      this.statsData.saves++;
    }
    if (this.cfg.mode === 'lazy') this.passthrough = false;
    return this.done(out);
  }

  // ---------------------------------------------------------------------------------------------
  // Guest side (the vCPU is running on the pCPU owning `stack`).

  /** Guest WRMSR DEBUGCTL (always intercepted). Setting LBR is an LBR access under `lazy`. */
  guestWriteDebugCtl(nowNs: number, value: number, stack: LbrStack): GuestLbrOutcome {
    const out = newOutcome();
    this.writeDebugCtl(nowNs, value, stack, out);
    return this.done(out);
  }

  /** Guest RDMSR/WRMSR of an LBR stack MSR (FROM/TO/INFO/TOS/SELECT) outside a perf read. */
  guestLbrMsrAccess(nowNs: number, stack: LbrStack): GuestLbrOutcome {
    const out = newOutcome();
    this.lbrAccess(nowNs, stack, out, false);
    return this.done(out);
  }

  /**
   * Guest perf adds an LBR call-stack user (intel_pmu_lbr_add of a `--call-graph lbr` event).
   * Under `pv`, an event with a task context (`taskCtx`: a per-task session, not `-a`) sets ACTIVE
   * in MSR_KVM_PV_LBR_CTRL; then the guest enables DEBUGCTL.LBR if it was clear.
   */
  guestCallStackUserAdd(nowNs: number, stack: LbrStack, taskCtx = true): GuestLbrOutcome {
    const out = newOutcome();
    this.callStackUsers++;
    if (taskCtx) this.taskCtxUsers++;
    if (this.cfg.mode === 'pv' && taskCtx) this.setPvActive(true, out);
    if ((this.guestDebugCtl & LBR_DEBUGCTL.LBR) === 0) this.writeDebugCtl(nowNs, this.guestDebugCtl | LBR_DEBUGCTL.LBR, stack, out);
    return this.done(out);
  }

  /**
   * Guest perf removes an LBR call-stack user (intel_pmu_lbr_del). Under `pv` an event with a task
   * context clears ACTIVE at every removal, even when other users remain (the seed patch does so:
   * the host event and any saved stack go with it). With no user left the guest clears
   * DEBUGCTL.LBR.
   */
  guestCallStackUserDel(nowNs: number, stack: LbrStack, taskCtx = true): GuestLbrOutcome {
    const out = newOutcome();
    if (this.callStackUsers === 0) throw new Error(`${this.owner}: LBR call-stack user removed but none was added`);
    if (taskCtx && this.taskCtxUsers === 0) throw new Error(`${this.owner}: task-context LBR user removed but none was added`);
    this.callStackUsers--;
    if (taskCtx) this.taskCtxUsers--;
    if (this.cfg.mode === 'pv' && taskCtx) this.setPvActive(false, out);
    if (this.callStackUsers === 0 && (this.guestDebugCtl & LBR_DEBUGCTL.LBR) !== 0) this.writeDebugCtl(nowNs, this.guestDebugCtl & ~LBR_DEBUGCTL.LBR, stack, out);
    return this.done(out);
  }

  /**
   * A guest task switch between tasks of the monitored workload: each per-task event of the
   * outgoing task is deleted and the incoming task's added (event_sched_out / event_sched_in ->
   * intel_pmu_lbr_del / intel_pmu_lbr_add). Under `pv` each del clears ACTIVE and each add sets it
   * again: two PV MSR exits per change and a host LBR event released and created. DEBUGCTL is left
   * as it is (the users come straight back). Nothing happens in the other modes.
   */
  guestTaskSwitch(_nowNs: number, _stack: LbrStack): GuestLbrOutcome {
    const out = newOutcome();
    if (this.cfg.mode !== 'pv') return out;
    for (let i = 0; i < this.taskCtxUsers; i++) this.setPvActive(false, out);
    for (let i = 0; i < this.taskCtxUsers; i++) this.setPvActive(true, out);
    return this.done(out);
  }

  /**
   * The guest starts reading its stack (PMI handler or perf_pmu_sched_task): it clears
   * DEBUGCTL.LBR first. The pollution window is open until `guestReadEnd`.
   */
  guestReadBegin(nowNs: number, stack: LbrStack, cause: GuestLbrReadCause): GuestLbrOutcome {
    if (this.windowOpen) throw new Error(`${this.owner}: LBR read begun twice (at ${this.windowOpenedNs} and ${nowNs} ns)`);
    const out = newOutcome();
    this.writeDebugCtl(nowNs, this.guestDebugCtl & ~LBR_DEBUGCTL.LBR, stack, out);
    this.windowOpen = true;
    this.windowCause = cause;
    this.windowOpenedNs = nowNs;
    this.preemptedInWindow = false;
    return this.done(out);
  }

  /**
   * The guest reads the stack (now on the pCPU owning `stack`, possibly another one), counts the
   * entries it did not record, then re-enables DEBUGCTL.LBR while it has call-stack users (and, on
   * a PMI, clears LBR_FRZ). Emits an lbrSnapshot event, and an `lbr-polluted` finding with the
   * foreign count when there are any.
   */
  guestReadEnd(nowNs: number, stack: LbrStack): GuestLbrOutcome {
    if (!this.windowOpen) throw new Error(`${this.owner}: LBR read ended at ${nowNs} ns without guestReadBegin`);
    const out = newOutcome();
    this.lbrAccess(nowNs, stack, out, true);
    const at = this.place(stack);
    const snapshot = stack.snapshotEvent(nowNs, at, this.owner);
    out.events.push(snapshot);
    out.actions.push('read');
    out.foreignEntries = snapshot.foreignEntries;
    this.statsData.reads++;
    if (snapshot.foreignEntries > 0) {
      this.statsData.pollutedReads++;
      this.statsData.foreignEntries += snapshot.foreignEntries;
      const foreignOwners = [...new Set(stack.entries().map((e) => e.owner).filter((o) => o !== this.owner))].sort();
      out.events.push({
        kind: 'finding',
        atNs: nowNs,
        at,
        findingKind: LBR_POLLUTED_FINDING,
        detail:
          `guest LBR read (${this.windowCause}, lbr mode ${this.cfg.mode}) returned ${snapshot.foreignEntries} foreign entries of ` +
          `${snapshot.fromIps.length}, recorded by ${foreignOwners.join(', ')}` +
          (this.preemptedInWindow ? `; the vCPU thread was preempted between clearing DEBUGCTL.LBR (at ${this.windowOpenedNs} ns) and the read` : ''),
      });
    }
    if (this.windowCause === 'pmi') stack.unfreeze();
    this.windowOpen = false;
    this.preemptedInWindow = false;
    if (this.callStackUsers > 0) this.writeDebugCtl(nowNs, this.guestDebugCtl | LBR_DEBUGCTL.LBR, stack, out);
    return this.done(out);
  }

  // ---------------------------------------------------------------------------------------------
  // Lazy release timer.

  /**
   * The release timer fired (call at `nextTimerNs()`). Releases the host LBR event when
   * DEBUGCTL.LBR stayed 0 for the whole period (the saved stack is dropped with it); otherwise
   * re-arms. A firing while the vCPU runs costs it an exit.
   */
  timer(nowNs: number): GuestLbrOutcome {
    const out = newOutcome();
    if (this.timerDueNs < 0 || nowNs < this.timerDueNs) return out;
    this.statsData.timerFires++;
    out.actions.push('timer');
    if (this.running) out.costNs += this.cfg.costs.timerExitNs;
    const lbrOn = (this.guestDebugCtl & LBR_DEBUGCTL.LBR) !== 0;
    if (!this.lbrSeenInPeriod && !lbrOn) {
      this.releaseHostEvent(out);
    } else {
      this.lbrSeenInPeriod = lbrOn;
      const period = this.cfg.lazyLbrReleaseNs;
      this.timerDueNs += period * Math.max(1, Math.ceil((nowNs - this.timerDueNs + 1) / period));
    }
    return this.done(out);
  }

  // ---------------------------------------------------------------------------------------------

  private writeDebugCtl(nowNs: number, value: number, stack: LbrStack, out: GuestLbrOutcome): void {
    this.trap(MSR_IA32_DEBUGCTL, true, out);
    out.actions.push('debugctl-write');
    const v = value & (LBR_DEBUGCTL.LBR | LBR_DEBUGCTL.FREEZE_LBRS_ON_PMI);
    const setsLbr = (v & LBR_DEBUGCTL.LBR) !== 0;
    this.guestDebugCtl = v;
    if (setsLbr) this.lbrSeenInPeriod = true;
    if (setsLbr && this.cfg.mode === 'lazy') this.lbrAccess(nowNs, stack, out, false);
    if (this.running) stack.writeDebugCtl(this.guestDebugCtl);
  }

  /** A guest access to the LBR MSRs; under `lazy` the first one after a switch traps and restores. */
  private lbrAccess(nowNs: number, stack: LbrStack, out: GuestLbrOutcome, msrRead: boolean): void {
    if (this.cfg.mode !== 'lazy' || this.passthrough) return;
    if (msrRead) this.trap(LBR_ACCESS_MSR, false, out);
    out.actions.push('intercept');
    this.statsData.intercepts++;
    if (!this.hostEvent) {
      this.createHostEvent(out);
      this.timerDueNs = nowNs + this.cfg.lazyLbrReleaseNs;
      this.lbrSeenInPeriod = true;
    } else if (this.saved) {
      this.restoreInto(stack, out);
    }
    this.passthrough = true;
    out.actions.push('passthrough');
  }

  private setPvActive(active: boolean, out: GuestLbrOutcome): void {
    // set_pv_lbr_ctrl_active: rdmsrl, and wrmsrl only when the value changes.
    this.trap(MSR_KVM_PV_LBR_CTRL, false, out);
    out.actions.push('pv-ctrl-read');
    const next = active ? this.pvCtrl | KVM_PV_LBR_CTRL_ACTIVE : this.pvCtrl & ~KVM_PV_LBR_CTRL_ACTIVE;
    if (next === this.pvCtrl) return;
    this.trap(MSR_KVM_PV_LBR_CTRL, true, out);
    out.actions.push('pv-ctrl-write');
    this.pvCtrl = next;
    if (active && !this.hostEvent) {
      this.createHostEvent(out);
      this.passthrough = true;
    } else if (!active && this.hostEvent) {
      this.releaseHostEvent(out);
    }
  }

  private createHostEvent(out: GuestLbrOutcome): void {
    this.hostEvent = true;
    out.costNs += this.cfg.costs.hostEventCreateNs;
    out.actions.push('host-event-create');
    this.statsData.hostEventCreates++;
  }

  private releaseHostEvent(out: GuestLbrOutcome): void {
    this.hostEvent = false;
    this.saved = null;
    this.passthrough = this.cfg.mode === 'none';
    this.timerDueNs = -1;
    out.costNs += this.cfg.costs.hostEventReleaseNs;
    out.actions.push('host-event-release');
    this.statsData.hostEventReleases++;
  }

  private restoreInto(stack: LbrStack, out: GuestLbrOutcome): void {
    stack.restore(this.saved!);
    out.costNs += this.cfg.costs.restoreNs;
    out.actions.push('restore');
    this.statsData.restores++;
  }

  private trap(msr: number, write: boolean, out: GuestLbrOutcome): void {
    out.exits.push({ msr, write });
    out.costNs += this.cfg.costs.msrTrapNs;
    this.statsData.msrExits++;
  }

  private done(out: GuestLbrOutcome): GuestLbrOutcome {
    this.statsData.costNs += out.costNs;
    return out;
  }

  private place(stack: LbrStack): Place {
    return { host: this.cfg.host, pcpu: stack.pcpu >= 0 ? stack.pcpu : this.pcpu, vm: this.cfg.vm, vcpu: this.cfg.vcpu };
  }
}

function newOutcome(): GuestLbrOutcome {
  return { costNs: 0, actions: [], exits: [], events: [], foreignEntries: 0 };
}
