// Host perf on one simulated host: the perf core over the pCPUs' hardware PMUs, what runs on each
// pCPU since its last advance (rates and execution mode), the perf deadlines (overflow, PMI,
// rotation, tick) armed in the queue, the host perf sessions of the scenario (perf_event_open per
// CPU and event at start, close at stop), the kernel-side perf events KVM creates for vCPU
// threads, and the final host perf readings. The NMI watchdog is a per-CPU pinned cycles event.
import { EmulatedVpmu } from '@vpmu/kvm';
import { createPmuForCpu, EventRates, MODE_GUEST, MODE_HOST, MODE_HOST_KERNEL, type ExecMode, type IntelPmu } from '@vpmu/pmu';
import { PerfCore, WATCHDOG_THRESH_SEC, type PerfCpuContext, type PerfEventAttr, type PerfHooks } from '@vpmu/perf';
import { hostKernel } from '@vpmu/world-spec';
import type { WorldCore } from './world-core';
import { hostRates, NS_PER_SEC, type Thread } from './world-state';

// Module-level copies of hot imports: a CommonJS barrel re-exports through getters, which the
// dispatch path would otherwise call at every VM exit and entry.
const EmulatedVpmuClass = EmulatedVpmu;
const MODE_GUEST_ = MODE_GUEST;
const MODE_HOST_ = MODE_HOST;
const MODE_HOST_KERNEL_ = MODE_HOST_KERNEL;

export type HostPerfItem = { p: 'perf'; t: 'deadline'; cpu: number; gen: number } | { p: 'perf'; t: 'session'; session: string; action: 'start' | 'stop' };

/** What runs on a pCPU since the last perf advance, and the perf deadline armed for it. */
interface CpuSegment {
  rates: EventRates;
  mode: ExecMode;
  /** The perf deadline armed in the queue for this pCPU (and its generation). */
  dueNs: number;
  gen: number;
}

export class HostPerfPart {
  /** The host perf core over the pCPUs' hardware PMUs. */
  readonly core: PerfCore;
  private readonly segments: CpuSegment[] = [];
  /**
   * pCPUs synced since the last armDeadlines, in first-sync order (the order their deadlines are
   * pushed), with a flag per pCPU instead of a Set: this runs at every VM exit and entry.
   */
  private readonly dirtyCpus: number[] = [];
  private readonly isDirty: Uint8Array;
  private readonly noiseRates: EventRates;
  private readonly exitRates: EventRates;
  private readonly idleRates = EventRates.ZERO;
  /** Host perf sessions: event ids opened per session (in creation order). */
  private readonly sessionEvents = new Map<string, string[]>();
  private readonly sessionRounds = new Map<string, number>();
  private kvmEventSeq = 0;

  constructor(
    private readonly w: WorldCore,
    ghz: number,
  ) {
    const spec = w.spec;
    this.noiseRates = hostRates(ghz, 1.0, 0.3);
    this.exitRates = hostRates(ghz, 0.8, 1);
    const pmus = [];
    this.isDirty = new Uint8Array(spec.pcpus);
    for (let i = 0; i < spec.pcpus; i++) {
      this.segments.push({ rates: this.idleRates, mode: MODE_HOST_, dueNs: Infinity, gen: 0 });
      pmus.push(
        createPmuForCpu(spec.cpu, i, spec.pcpus, {
          ...(spec.pmu?.gpCounters !== undefined && { gpCounters: spec.pmu.gpCounters }),
          ...(spec.pmu?.fixedCounters !== undefined && { fixedCounters: spec.pmu.fixedCounters }),
          ...(spec.pmu?.counterWidth !== undefined && { counterWidth: spec.pmu.counterWidth }),
          ...(spec.pmu?.pmiSkidNs !== undefined && { pmiSkidNs: spec.pmu.pmiSkidNs }),
        }),
      );
    }
    // The perf core reports its records (perfState, pmi, finding) straight into the world's stream.
    this.core = new PerfCore({ hostId: w.id, pmus, sink: w, guestRules: hostKernel(spec) });
    if (spec.nmiWatchdog) {
      // hw_nmi_get_sample_period: watchdog_thresh seconds of cycles at the nominal clock.
      const period = Math.round(WATCHDOG_THRESH_SEC * ghz * NS_PER_SEC);
      for (let i = 0; i < spec.pcpus; i++) this.core.createNmiWatchdog(i, 0, period);
    }
    for (const session of spec.perf) {
      w.queue.push(session.startNs, { p: 'perf', t: 'session', session: session.id, action: 'start' });
      if (session.stopNs !== undefined) w.queue.push(session.stopNs, { p: 'perf', t: 'session', session: session.id, action: 'stop' });
    }
  }

  dispatch(item: HostPerfItem): void {
    if (item.t === 'deadline') this.onDeadline(item.cpu, item.gen);
    else this.onSession(item.session, item.action);
  }

  cpu(index: number): PerfCpuContext {
    return this.core.cpus[index];
  }

  // ---- pCPU segments --------------------------------------------------------------------------

  /** Advances pCPU `index`'s PMU and perf state to now under what ran on it since the last call. */
  syncCpu(index: number): void {
    const w = this.w;
    const seg = this.segments[index];
    const pc = this.core.cpus[index];
    if (pc.nowNs < w.nowNs) pc.advanceTo(w.nowNs, seg.rates, seg.mode);
    if (this.isDirty[index] === 0) {
      this.isDirty[index] = 1;
      this.dirtyCpus.push(index);
    }
    const current = w.sched.cpus[index].current;
    if (pc.inGuest) {
      const ovfs = pc.takeGuestOverflows();
      if (ovfs.length > 0 && current !== null) {
        const t = w.threads.get(current)!;
        for (const o of ovfs) if (o.pmi) w.pmi.raisePassthrough(t, o.pmiNs, o.overflowNs, o.counterId);
      }
    }
    if (current !== null) {
      const v = w.threads.get(current)!.vcpu;
      if (v && v.state === 'guest' && v.vpmu instanceof EmulatedVpmuClass && v.vpmu.pendingPmi && !v.vpmu.pmiExitQueued) {
        v.vpmu.pmiExitQueued = true;
        w.pmi.raiseEmulated(current, v.stint);
      } else if (v && v.state === 'guest' && v.pvPerf.length > 0 && w.pv.table(v.vm)?.hasPendingFor(v.index)) {
        w.pmi.raiseParavirt(w.threads.get(current)!);
      }
    }
  }

  syncAll(): void {
    for (let i = 0; i < this.segments.length; i++) this.syncCpu(i);
  }

  /** From now on pCPU `index` runs at `rates` in `mode` (the past is accounted under the old segment). */
  private setSegment(index: number, rates: EventRates, mode: ExecMode): void {
    this.syncCpu(index);
    const seg = this.segments[index];
    seg.rates = rates;
    seg.mode = mode;
  }

  runIdle(index: number): void {
    this.setSegment(index, this.idleRates, MODE_HOST_);
  }

  runNoise(index: number): void {
    this.setSegment(index, this.noiseRates, MODE_HOST_);
  }

  /** KVM's exit handling in the host kernel. */
  runExit(index: number): void {
    this.setSegment(index, this.exitRates, MODE_HOST_KERNEL_);
  }

  runGuest(index: number, rates: EventRates): void {
    this.setSegment(index, rates, MODE_GUEST_);
  }

  /** perf_event_task_sched_out, then the pCPU idles until something else runs. */
  schedOut(index: number): void {
    this.core.cpus[index].schedOut(this.w.nowNs);
    this.runIdle(index);
  }

  /** perf_event_task_sched_in: the thread's per-task perf context follows it onto this CPU. */
  schedIn(index: number, thread: string): void {
    this.core.cpus[index].schedIn(thread, this.w.nowNs);
  }

  /** Puts each touched pCPU's next perf deadline (overflow, PMI, rotation, tick) in the queue. */
  armDeadlines(): void {
    const dirty = this.dirtyCpus;
    if (dirty.length === 0) return;
    for (let k = 0; k < dirty.length; k++) {
      const i = dirty[k];
      this.isDirty[i] = 0;
      const seg = this.segments[i];
      const due = this.core.cpus[i].nextDeadlineNs(seg.rates, seg.mode);
      // A wake-up at or before `due` is already queued: it syncs this pCPU and re-arms, and an
      // early sync changes nothing (PMU and perf advance exactly in any chunking). Keeping it
      // saves a queue push per VM exit and entry, where the deadline toggles between a host
      // event's overflow and none.
      if (due >= seg.dueNs) continue;
      seg.dueNs = due;
      seg.gen++;
      if (Number.isFinite(due)) this.w.queue.push(Math.max(due, this.w.nowNs), { p: 'perf', t: 'deadline', cpu: i, gen: seg.gen });
    }
    dirty.length = 0;
  }

  private onDeadline(index: number, gen: number): void {
    const seg = this.segments[index];
    if (seg.gen !== gen) return;
    seg.dueNs = Infinity;
    this.syncCpu(index);
  }

  // ---- passthrough guest context --------------------------------------------------------------

  /** perf_guest_enter: the host's core-PMU events go out; returns the PMU the guest context loads into. */
  guestEnter(index: number): IntelPmu {
    const pc = this.core.cpus[index];
    pc.guestEnter(this.w.nowNs);
    return pc.pmu as IntelPmu;
  }

  /** perf_guest_exit, after KVM saved the guest context from `pmuOf(index)`. */
  guestExit(index: number): void {
    this.core.cpus[index].guestExit(this.w.nowNs);
  }

  pmuOf(index: number): IntelPmu {
    return this.core.cpus[index].pmu as IntelPmu;
  }

  // ---- host perf sessions ---------------------------------------------------------------------

  /** Host perf session start (perf_event_open per CPU and event) or stop (close). */
  onSession(sessionId: string, action: 'start' | 'stop'): void {
    const w = this.w;
    const session = w.spec.perf.find((p) => p.id === sessionId);
    if (!session) return;
    this.syncAll();
    const opened = this.sessionEvents.get(sessionId);
    if (action === 'stop') {
      for (const id of opened ?? []) this.core.close(id, w.nowNs);
      return;
    }
    if (opened && opened.length > 0) {
      // A restart re-opens the session under fresh ids.
      this.sessionEvents.set(sessionId, []);
    }
    const ids: string[] = this.sessionEvents.get(sessionId) ?? [];
    const round = this.sessionRounds.get(sessionId) ?? 0;
    this.sessionRounds.set(sessionId, round + 1);
    const cpus = session.cpus === 'all' ? this.segments.map((_, i) => i) : session.cpus;
    for (const cpu of cpus) {
      let leader: string | undefined;
      for (const event of session.events) {
        const attr: PerfEventAttr = {
          event,
          ...(session.excludeGuest && { excludeGuest: true }),
          ...(session.excludeHost && { excludeHost: true }),
          ...(session.excludeUser && { excludeUser: true }),
          ...(session.excludeKernel && { excludeKernel: true }),
          ...(session.pinned && (!session.group || leader === undefined) && { pinned: true }),
          ...(session.sample?.freqHz !== undefined && { sampleFreqHz: session.sample.freqHz }),
          ...(session.sample?.periodEvents !== undefined && { samplePeriod: session.sample.periodEvents }),
        };
        const id = `${sessionId}${round > 0 ? `#${round}` : ''}/${event}@cpu${cpu}`;
        const r = this.core.createEvent(attr, { cpu, id, ...(session.group && leader !== undefined && { groupLeader: leader }) }, w.nowNs);
        if (r.ok) {
          ids.push(r.id);
          if (session.group && leader === undefined) leader = r.id;
        }
      }
    }
    this.sessionEvents.set(sessionId, ids);
  }

  /** End of the run: every host perf event's final reading. */
  reportFinal(): void {
    const w = this.w;
    for (const r of this.core.readAll(w.nowNs)) {
      // Final readings travel as a guestPerf-shaped record without a VM (command "host-perf:<state>"):
      // the summary turns them into hosts.<id>.perfEvents with their times.
      w.emit({ kind: 'guestPerf', atNs: w.nowNs, at: { host: w.id }, command: `host-perf:${r.state}`, event: r.id, count: r.count, timeEnabledNs: r.timeEnabledNs, timeRunningNs: r.timeRunningNs, samples: r.samples });
    }
  }

  inspect(): { id: string; state: string; count: number; timeEnabledNs: number; timeRunningNs: number }[] {
    return this.core.readAll(this.w.nowNs).map((r) => ({ id: r.id, state: r.state, count: r.count, timeEnabledNs: r.timeEnabledNs, timeRunningNs: r.timeRunningNs }));
  }

  // ---- KVM's perf events on vCPU threads ------------------------------------------------------

  /** Syncs the thread's pCPU when the thread runs there now (its events count up to now). */
  syncThread(t: Thread): void {
    if (this.w.sched.isCurrent(t)) this.syncCpu(t.cpu);
  }

  /** The hardware PMU of the thread's pCPU, advanced to now. */
  loadedPmu(t: Thread): IntelPmu {
    this.syncCpu(t.cpu);
    return this.core.cpus[t.cpu].pmu as IntelPmu;
  }

  /**
   * perf_event_create_kernel_counter on a vCPU thread. A backing event of a vCPU's vPMU is named
   * after the vCPU; a paravirt event after its VM (`scope` 'vm'), whose hypercalls may come from
   * any vCPU: every pCPU is synced first.
   */
  createTaskEvent(t: Thread, attr: PerfEventAttr, hooks: PerfHooks, scope: 'vcpu' | 'vm'): { ok: true; id: string } | { ok: false; errno: string } {
    const w = this.w;
    const v = t.vcpu!;
    if (scope === 'vm') this.syncAll();
    else this.syncThread(t);
    const id = scope === 'vm' ? `kvm/pv/${v.vm}/${++this.kvmEventSeq}` : `kvm/${v.vm}/vcpu${v.index}/${++this.kvmEventSeq}`;
    const r = this.core.createEvent(attr, { task: t.id, id }, w.nowNs, hooks);
    const pc = this.core.cpus[t.cpu];
    // The thread's first per-task event: attach its new task context to the CPU it runs on.
    if (r.ok && w.sched.isCurrent(t) && pc.activeTaskContext === null) pc.schedIn(t.id, w.nowNs);
    return r.ok ? { ok: true, id: r.id } : { ok: false, errno: r.errno };
  }

  /** An in-kernel read (KVM's backing and PV events): perf_event_read_value. */
  read(id: string): { count: number; enabledNs: number; runningNs: number; error: boolean } {
    const r = this.core.readValue(id, this.w.nowNs);
    return r ? { count: r.count, enabledNs: r.timeEnabledNs, runningNs: r.timeRunningNs, error: r.state === 'error' } : { count: 0, enabledNs: 0, runningNs: 0, error: false };
  }

  enable(id: string): void {
    this.core.enable(id, this.w.nowNs);
  }

  disable(id: string): void {
    this.core.disable(id, this.w.nowNs);
  }

  close(id: string): void {
    this.core.close(id, this.w.nowNs);
  }

  setPeriod(id: string, periodEvents: number): void {
    this.core.setSamplePeriod(id, periodEvents);
  }
}
