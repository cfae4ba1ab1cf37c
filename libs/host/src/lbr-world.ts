// Guest LBR in the host world (docs/lbr.md): one hardware LbrStack per pCPU filled from
// the taken branches of whatever runs there, and one GuestLbr state machine per vCPU of a VM whose
// guest perf uses `callGraph: lbr`. HostWorld calls in at the points the seed's design discussion
// is about ("[PATCH v2 6/8] perf/x86/intel/lbr: guest requesting KVM for lbr stack save/restore" (W. Wang, Sep 2018)):
// - host thread switches: a host noise thread with `lbr: true` runs with DEBUGCTL.LBR set (its
//   own LBR perf event) and overwrites the stack; other host threads record nothing; a vCPU thread
//   switched in/out drives `vcpuSchedIn` / `vcpuSchedOut` (pv saves/restores, lazy intercepts);
// - guest-mode time: the workload's taken branches are recorded while the guest's DEBUGCTL.LBR is
//   loaded (`guestRan`);
// - guest perf adding / removing its call-stack user (session start / stop on that vCPU, and for a
//   per-task session each guest switch between the workload's tasks: del then add);
// - the guest's reads of the stack — in its PMI handler and its sched-task hook at guest task
//   switches — which clear DEBUGCTL.LBR first and read `guestLbrReadWindowNs(depth)` of guest time
//   later: the pollution window. A preemption inside it lets a host LBR user overwrite the stack.
// - the lazy release timer (a queue item of the world).
// Every transition returns the GuestLbr outcome (cost, trapped MSR accesses, events); HostWorld
// charges it (exits while in guest mode, host time before the next entry otherwise). State is plain
// data plus registered model classes.
import { GuestLbr, guestLbrCosts, guestLbrReadWindowNs, type CostModel, type GuestLbrOutcome, type GuestLbrReadCause, type GuestLbrStats } from '@vpmu/kvm';
import { getCpuPreset, hostLbrOwner, LBR_DEBUGCTL, LbrStack } from '@vpmu/pmu';
import type { HostSpec, VmSpec } from '@vpmu/world-spec';
import type { LbrSnapshotEvent, Prng, SimEvent } from '@vpmu/sim';

/** lbrSnapshot events emitted per vCPU at most (the polluted reads; findings are never capped). */
export const LBR_SNAPSHOTS_PER_VCPU = 8;

interface LbrVcpu {
  lbr: GuestLbr;
  vm: string;
  /** Guest taken branches per ns of guest run time. */
  branchesPerNs: number;
  /** Guest perf sessions (index) using the LBR call stack. */
  sessions: number[];
  /** Those of them with a task context (not `-a`): their events are per task. */
  taskSessions: number[];
  /** A read window is open and its end is due (or waits for the vCPU to run again). */
  readGen: number;
  readEndPending: boolean;
  /** The lazy timer instant already in the world queue. */
  timerQueuedNs: number;
  snapshots: number;
  /** Fractional branches carried between fills (keeps counts exact over many short segments). */
  carry: number;
}

export class LbrWorld {
  readonly stacks: LbrStack[];
  readonly windowNs: number;
  private readonly vcpus = new Map<string, LbrVcpu>();
  private readonly noiseLbr: string[] = [];
  private readonly noiseBranchesPerNs: number;

  private constructor(
    private readonly hostId: string,
    spec: HostSpec,
    private readonly prng: Prng,
    private readonly costs: CostModel,
    noiseBranchesPerNs: number,
  ) {
    const preset = getCpuPreset(spec.cpu);
    this.stacks = Array.from({ length: spec.pcpus }, (_, i) => LbrStack.forPreset(preset, i, spec.pmu?.lbrDepth));
    this.windowNs = guestLbrReadWindowNs(this.stacks[0]?.depth ?? 0);
    this.noiseBranchesPerNs = noiseBranchesPerNs;
    for (const n of spec.noise) if (n.lbr) this.noiseLbr.push(`noise:${n.id}`);
  }

  /** The host's LBR model, or null when there is nothing to model (arm: no LBR; no LBR user at all). */
  static create(hostId: string, spec: HostSpec, vms: readonly VmSpec[], prng: Prng, costs: CostModel, noiseBranchesPerNs: number): LbrWorld | null {
    const preset = getCpuPreset(spec.cpu);
    if (preset.arch !== 'intel' || (spec.pmu?.lbrDepth ?? preset.lbrDepth) === 0) return null;
    if (!vms.some(usesLbr) && !spec.noise.some((n) => n.lbr)) return null;
    return new LbrWorld(hostId, spec, prng, costs, noiseBranchesPerNs);
  }

  /** A VM placed on this host: a GuestLbr per vCPU when its guest perf uses the LBR call stack. */
  addVm(spec: VmSpec, threadIds: readonly string[], branchesPerNs: number): void {
    if (!usesLbr(spec)) return;
    const depth = this.stacks[0].depth;
    const costs = guestLbrCosts(this.costs, depth, this.stacks[0].archLbr);
    const sessions = spec.guestPerf.flatMap((g, k) => (g.callGraph === 'lbr' ? [k] : []));
    const taskSessions = sessions.filter((k) => !spec.guestPerf[k].allCpus);
    threadIds.forEach((id, i) => {
      const lbr = new GuestLbr({ host: this.hostId, vm: spec.id, vcpu: i, mode: spec.vpmu.lbr, lazyLbrReleaseNs: spec.vpmu.lazyLbrReleaseNs, costs });
      this.vcpus.set(id, { lbr, vm: spec.id, branchesPerNs, sessions, taskSessions, readGen: 0, readEndPending: false, timerQueuedNs: -1, snapshots: 0, carry: 0 });
    });
  }

  /** The VM leaves this host (its guest LBR state is not carried: a new stack on the destination). */
  removeVm(vm: string): void {
    for (const [id, v] of this.vcpus) if (v.vm === vm) this.vcpus.delete(id);
  }

  has(thread: string): boolean {
    return this.vcpus.has(thread);
  }

  /** The guest LBR of a vCPU thread (migration state, migration-world.ts), or null. */
  guestLbr(thread: string): GuestLbr | null {
    return this.vcpus.get(thread)?.lbr ?? null;
  }

  /** `thread` starts running on `cpu`: loads its DEBUGCTL (and, for a guest, its LBR mode's work). */
  switchIn(thread: string, cpu: number, nowNs: number): GuestLbrOutcome | null {
    const stack = this.stacks[cpu];
    const v = this.vcpus.get(thread);
    if (v) return v.lbr.vcpuSchedIn(nowNs, stack);
    // A host thread with an LBR perf event records; everything else (other host threads, vCPUs
    // whose guest does not use the LBR) runs with DEBUGCTL.LBR clear.
    stack.writeDebugCtl(this.noiseLbr.includes(thread) ? LBR_DEBUGCTL.LBR : 0);
    return null;
  }

  /** `thread` leaves `cpu` after running `ranNs` (host threads: their branches are recorded now). */
  switchOut(thread: string, cpu: number, nowNs: number, ranNs: number): GuestLbrOutcome | null {
    const stack = this.stacks[cpu];
    const v = this.vcpus.get(thread);
    if (v) return v.lbr.vcpuSchedOut(nowNs, stack);
    if (this.noiseLbr.includes(thread) && ranNs > 0) stack.fill(Math.floor(ranNs * this.noiseBranchesPerNs), hostLbrOwner(thread), this.prng);
    return null;
  }

  /** `dtNs` of guest-mode time of a vCPU on `cpu`: its taken branches go into the stack if it records. */
  guestRan(thread: string, cpu: number, dtNs: number): void {
    const v = this.vcpus.get(thread);
    if (!v || dtNs <= 0) return;
    const stack = this.stacks[cpu];
    if (!stack.recording) return;
    const b = dtNs * v.branchesPerNs + v.carry;
    const n = Math.floor(b);
    v.carry = b - n;
    stack.fill(n, v.lbr.owner, this.prng);
  }

  /** Guest perf session `k` starts / stops on this vCPU: its LBR call-stack user comes or goes. */
  guestPerf(thread: string, cpu: number, k: number, action: 'start' | 'stop', nowNs: number): GuestLbrOutcome | null {
    const v = this.vcpus.get(thread);
    if (!v || !v.sessions.includes(k)) return null;
    const taskCtx = v.taskSessions.includes(k);
    if (action === 'start') return v.lbr.guestCallStackUserAdd(nowNs, this.stacks[cpu], taskCtx);
    return v.lbr.users > 0 && (!taskCtx || v.lbr.taskUsers > 0) ? v.lbr.guestCallStackUserDel(nowNs, this.stacks[cpu], taskCtx) : null;
  }

  /** A guest switch between the workload's tasks: the per-task call-stack events are deleted and re-added. */
  guestTaskSwitch(thread: string, cpu: number, nowNs: number): GuestLbrOutcome | null {
    const v = this.vcpus.get(thread);
    if (!v || v.lbr.taskUsers === 0) return null;
    return v.lbr.guestTaskSwitch(nowNs, this.stacks[cpu]);
  }

  /**
   * The guest starts reading its stack (PMI handler / sched-task hook): only with a call-stack
   * user and no read in progress. Returns the outcome and the generation of the read's end.
   */
  readBegin(thread: string, cpu: number, nowNs: number, cause: GuestLbrReadCause): { out: GuestLbrOutcome; gen: number } | null {
    const v = this.vcpus.get(thread);
    if (!v || v.lbr.users === 0 || v.lbr.inReadWindow) return null;
    const out = v.lbr.guestReadBegin(nowNs, this.stacks[cpu], cause);
    v.readEndPending = false;
    return { out, gen: ++v.readGen };
  }

  /** Whether read generation `gen` of `thread` is still the open one. */
  readCurrent(thread: string, gen: number): boolean {
    const v = this.vcpus.get(thread);
    return !!v && v.readGen === gen && v.lbr.inReadWindow;
  }

  /** The read's end came while the vCPU was not in guest mode: it happens at its next entry. */
  deferReadEnd(thread: string): void {
    const v = this.vcpus.get(thread);
    if (v) v.readEndPending = true;
  }

  /** A deferred read end waits for this entry. */
  readEndDue(thread: string): boolean {
    const v = this.vcpus.get(thread);
    return !!v && v.readEndPending && v.lbr.inReadWindow;
  }

  /** The guest reads the stack of `cpu` now (lbrSnapshot kept for polluted reads, capped). */
  readEnd(thread: string, cpu: number, nowNs: number): GuestLbrOutcome {
    const v = this.vcpus.get(thread)!;
    v.readEndPending = false;
    const out = v.lbr.guestReadEnd(nowNs, this.stacks[cpu]);
    out.events = out.events.filter((e) => {
      if (e.kind !== 'lbrSnapshot') return true;
      if ((e as LbrSnapshotEvent).foreignEntries === 0 || v.snapshots >= LBR_SNAPSHOTS_PER_VCPU) return false;
      v.snapshots++;
      return true;
    });
    return out;
  }

  /** The lazy release timer's next instant if it is not queued yet (null: nothing to queue). */
  timerToQueue(thread: string): number | null {
    const v = this.vcpus.get(thread);
    const due = v?.lbr.nextTimerNs() ?? null;
    if (!v || due === null || due === v.timerQueuedNs) return null;
    v.timerQueuedNs = due;
    return due;
  }

  /** The lazy timer fires (stale instants are ignored). */
  timer(thread: string, nowNs: number): GuestLbrOutcome | null {
    const v = this.vcpus.get(thread);
    if (!v || v.lbr.nextTimerNs() !== nowNs) return null;
    v.timerQueuedNs = -1;
    return v.lbr.timer(nowNs);
  }

  /** Per VM (in placement order): its LBR mode and summed per-vCPU statistics. */
  statsByVm(): { vm: string; mode: string; stats: GuestLbrStats }[] {
    const out = new Map<string, { vm: string; mode: string; stats: GuestLbrStats }>();
    for (const v of this.vcpus.values()) {
      let row = out.get(v.vm);
      if (!row) out.set(v.vm, (row = { vm: v.vm, mode: v.lbr.mode, stats: { saves: 0, restores: 0, intercepts: 0, hostEventCreates: 0, hostEventReleases: 0, timerFires: 0, reads: 0, pollutedReads: 0, foreignEntries: 0, msrExits: 0, costNs: 0 } }));
      const s = v.lbr.stats;
      for (const key of Object.keys(row.stats) as (keyof GuestLbrStats)[]) row.stats[key] += s[key];
    }
    return [...out.values()];
  }

  /** Final per-VM LBR statistics as guestPerf-shaped records (`lbr-stats:<mode>`), for the summary. */
  finalRecords(nowNs: number): SimEvent[] {
    return this.statsByVm().flatMap(({ vm, mode, stats }) =>
      (Object.keys(stats) as (keyof GuestLbrStats)[]).map(
        (key): SimEvent => ({ kind: 'guestPerf', atNs: nowNs, at: { host: this.hostId, vm }, command: `lbr-stats:${mode}`, event: key, count: Math.round(stats[key]), timeEnabledNs: 0, timeRunningNs: 0, samples: 0 }),
      ),
    );
  }
}

/** A VM whose guest perf records with the LBR call stack (and which has an x86 vPMU to do it). */
export function usesLbr(vm: VmSpec): boolean {
  return vm.vpmu.mode !== 'none' && vm.vpmu.mode !== 'paravirt' && vm.guestPerf.some((g) => g.callGraph === 'lbr');
}
