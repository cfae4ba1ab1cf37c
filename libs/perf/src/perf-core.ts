// The host perf core of one simulated host: perf_event_open / ioctl(ENABLE, DISABLE, PERIOD) /
// read / close over per-CPU contexts (one PerfCpuContext per pCPU) and per-task contexts.
//
// Follows perf_event_open(2) and kernel/events/core.c: argument checks (EINVAL for a sample_freq
// above perf_event_max_sample_rate, for pid == -1 && cpu == -1, for uncore task events; ENOENT for
// an event the PMU cannot count), groups (siblings share the leader's context; pinned only on
// leaders), ctx_resched on install/enable, ERROR -> OFF -> INACTIVE on enable, perf_group_detach
// promoting siblings to singleton groups on close. The passthrough creation rule comes from the
// "[RFC PATCH 02/41] perf: Support guest enter/exit interfaces" (K. Liang, Jan 2024) (perf_force_exclude_guest_check): a core-PMU event without
// exclude_guest cannot be created on a CPU whose passthrough guest is running, nor for a vCPU
// thread in guest mode -> EBUSY (the RFC's code; v6 returns EOPNOTSUPP once any mediated VM exists).

import type { PmuModel } from '@vpmu/pmu';
import { PerfCpuContext, type PerfCoreLink, type PerfCpuOptions } from './perf-cpu-context';
import type { GuestPmuRules } from './perf-cpu-scheduling';
import {
  NULL_SINK,
  PerfEvent,
  PerfEventContext,
  pmuKindOf,
  type CreateResult,
  type PerfErrno,
  type PerfEventAttr,
  type PerfHooks,
  type PerfReading,
  type PerfSink,
  type PerfTarget,
} from './perf-event';

export interface PerfCoreOptions {
  hostId: string;
  /** The hardware PMU of each pCPU, index = pCPU. */
  pmus: PmuModel[];
  sink?: PerfSink;
  /** Kernel HZ (default 250): tick = 1e9/HZ ns, default mux interval = 1000/HZ ms. */
  hz?: number;
  muxIntervalNs?: number;
  maxSampleRateHz?: number;
  traceSchedTransitions?: boolean;
  emitPmis?: boolean;
  uncoreClockGhz?: number;
  /** The kernel generation's guest-PMU rules (default rfc-fixed: the RFC with its bugs fixed). */
  guestRules?: GuestPmuRules;
}

/** perf_create_mediated_pmu's answer: ok, or EBUSY naming the include-guest events that exist. */
export type MediatedPmuResult = { ok: true } | { ok: false; errno: 'EBUSY'; includeGuestEvents: string[] };

export const DEFAULT_HZ = 250;
export const DEFAULT_MAX_SAMPLE_RATE_HZ = 100_000;
/** hardlockup detector: watchdog_thresh (10 s) worth of cycles (hw_nmi_get_sample_period). */
export const WATCHDOG_THRESH_SEC = 10;

export class PerfCore implements PerfCoreLink {
  readonly sink: PerfSink;
  readonly cpus: PerfCpuContext[];
  readonly options: PerfCpuOptions;
  private readonly tasks = new Map<string, PerfEventContext>();
  private readonly events = new Map<string, PerfEvent>();
  /** Every event ever created, in creation order (closed ones keep their final reading). */
  private readonly order: string[] = [];
  private readonly closed = new Map<string, PerfReading>();
  private groupIndex = 0;
  private idCounter = 0;
  /** Mainline: VMs holding a mediated PMU on this host (nr_mediated_pmu_vms). */
  private mediatedVms = 0;

  constructor(opts: PerfCoreOptions) {
    const hz = opts.hz ?? DEFAULT_HZ;
    this.sink = opts.sink ?? NULL_SINK;
    this.options = {
      hostId: opts.hostId,
      tickNs: Math.round(1e9 / hz),
      muxIntervalNs: opts.muxIntervalNs ?? Math.round(1e9 / hz),
      maxSampleRateHz: opts.maxSampleRateHz ?? DEFAULT_MAX_SAMPLE_RATE_HZ,
      traceSchedTransitions: opts.traceSchedTransitions ?? false,
      emitPmis: opts.emitPmis ?? true,
      uncoreClockGhz: opts.uncoreClockGhz ?? 2.0,
      guestRules: opts.guestRules ?? 'rfc-fixed',
    };
    this.cpus = opts.pmus.map((pmu, cpu) => new PerfCpuContext(cpu, pmu, this.options, this));
  }

  taskContext(task: string): PerfEventContext | undefined {
    return this.tasks.get(task);
  }

  nextGroupIndex(): number {
    return ++this.groupIndex;
  }

  /** The pCPU a thread is running on, or -1. */
  taskRunningOn(task: string): number {
    for (const c of this.cpus) if (c.currentTask === task) return c.cpu;
    return -1;
  }

  // ------------------------------------------------------------------------------------------
  // perf_event_open

  createEvent(attr: PerfEventAttr, target: PerfTarget, nowNs: number, hooks: PerfHooks = {}): CreateResult {
    const id = target.id ?? `ev${++this.idCounter}`;
    if (this.events.has(id) || this.closed.has(id)) return fail('EINVAL', `event id '${id}' already exists`);
    const kind = pmuKindOf(attr.event);
    if (kind === null) return fail('ENOENT', `unknown event '${attr.event}'`);
    const cpu = target.cpu ?? -1;
    const task = target.task ?? null;
    if (cpu === -1 && task === null) return fail('EINVAL', 'an event needs a cpu or a task (pid == -1 && cpu == -1)');
    if (cpu !== -1 && !(Number.isInteger(cpu) && cpu >= 0 && cpu < this.cpus.length)) return fail('EINVAL', `no cpu ${cpu}`);
    if (kind === 'uncore' && task !== null) return fail('EINVAL', 'uncore events cannot be per-task');
    if (attr.samplePeriod !== undefined && attr.sampleFreqHz !== undefined) return fail('EINVAL', 'give samplePeriod or sampleFreqHz, not both');
    if (attr.samplePeriod !== undefined && !(Number.isSafeInteger(attr.samplePeriod) && attr.samplePeriod >= 1)) {
      return fail('EINVAL', `samplePeriod must be a positive integer, got ${attr.samplePeriod}`);
    }
    if (attr.sampleFreqHz !== undefined) {
      if (!(Number.isInteger(attr.sampleFreqHz) && attr.sampleFreqHz >= 1)) return fail('EINVAL', `sampleFreqHz must be a positive integer, got ${attr.sampleFreqHz}`);
      if (attr.sampleFreqHz > this.options.maxSampleRateHz) {
        return fail('EINVAL', `sample_freq ${attr.sampleFreqHz} Hz is above perf_event_max_sample_rate (${this.options.maxSampleRateHz})`);
      }
    }
    const sampling = attr.samplePeriod !== undefined || attr.sampleFreqHz !== undefined;
    if (sampling && kind === 'uncore') return fail('EINVAL', 'uncore events cannot sample');
    if (sampling && kind === 'software') return fail('EOPNOTSUPP', 'software-event sampling is not modelled');
    if (kind === 'core') {
      const pmus = cpu !== -1 ? [this.cpus[cpu].pmu] : this.cpus.map((c) => c.pmu);
      if (!pmus.some((p) => p.hostCandidates(attr.event as never).length > 0)) {
        return fail('ENOENT', `the PMU cannot count '${attr.event}'`);
      }
    }
    let leader: PerfEvent | null = null;
    if (target.groupLeader !== undefined) {
      leader = this.events.get(target.groupLeader) ?? null;
      if (!leader) return fail('EINVAL', `group leader '${target.groupLeader}' does not exist`);
      if (!leader.isLeader) return fail('EINVAL', `'${target.groupLeader}' is not a group leader`);
      if (leader.cpu !== cpu || leader.task !== task) return fail('EINVAL', 'a sibling must target the same cpu and task as its leader');
      if (attr.pinned) return fail('EINVAL', 'only a group leader can be pinned');
    }

    // Mainline rule (mediated_pmu_account_event, "perf: Add APIs to create/release mediated guest
    // vPMUs", v6 Dec 2025): no event that counts in guest mode while any mediated VM exists.
    if (this.options.guestRules === 'mainline' && kind === 'core' && !attr.excludeGuest && this.mediatedVms > 0) {
      const reason = `${this.mediatedVms} VM(s) hold a mediated PMU; only exclude_guest events can be created`;
      this.sink.emit({
        kind: 'finding',
        atNs: nowNs,
        at: { host: this.options.hostId, ...(cpu !== -1 && { pcpu: cpu }) },
        findingKind: 'host-event-create-unsupported',
        detail: `creating host perf event ${id} (${attr.event}, no exclude_guest) failed with EOPNOTSUPP: ${reason}`,
      });
      return fail('EOPNOTSUPP', reason);
    }
    // Passthrough rule (perf_force_exclude_guest_check): -EBUSY while the guest owns the PMU.
    if (this.options.guestRules !== 'mainline' && kind === 'core' && !attr.excludeGuest) {
      const busyCpu = cpu !== -1 ? cpu : task !== null ? this.taskRunningOn(task) : -1;
      const c = busyCpu >= 0 ? this.cpus[busyCpu] : null;
      if (c && c.inGuest && (cpu !== -1 || c.currentTask === task)) {
        c.finding(
          'host-event-create-busy',
          `creating host perf event ${id} (${attr.event}, no exclude_guest) failed with EBUSY: a passthrough guest owns the PMU of cpu${busyCpu}`,
        );
        return fail('EBUSY', `a passthrough guest owns the PMU of cpu${busyCpu}`);
      }
    }

    const runningOn = cpu !== -1 ? cpu : task !== null ? this.taskRunningOn(task) : -1;
    if (runningOn >= 0) this.cpus[runningOn].checkNow(nowNs);
    const ev = new PerfEvent(id, { ...attr }, kind, cpu, task, hooks, nowNs);
    this.events.set(id, ev);
    this.order.push(id);
    if (leader) {
      ev.leader = leader;
      leader.siblings.push(ev);
    } else {
      this.contextFor(ev).add(ev, this.nextGroupIndex());
    }
    this.sink.emit({
      kind: 'perfState',
      atNs: nowNs,
      at: { host: this.options.hostId, ...(runningOn >= 0 && { pcpu: runningOn }) },
      eventId: id,
      from: 'off',
      to: ev.state,
      cause: 'create',
      count: 0,
    });
    if (ev.state !== 'off') this.reschedFor(ev, nowNs);
    return { ok: true, id };
  }

  /**
   * Creates the NMI watchdog event of `cpu`: pinned cycles. The RFC generations model it with
   * exclude_guest (blind while a passthrough guest runs); mainline's wd_hw_attr
   * (kernel/watchdog_perf.c) sets no exclude_guest, so it counts guest mode and is the
   * include-guest event that makes perf_create_mediated_pmu fail.
   */
  createNmiWatchdog(cpu: number, nowNs: number, periodEvents: number): CreateResult {
    const excludeGuest = this.options.guestRules !== 'mainline';
    return this.createEvent(
      { event: 'cycles', pinned: true, excludeGuest, samplePeriod: periodEvents, nmiWatchdog: true },
      { cpu, id: `nmi-watchdog/cpu${cpu}` },
      nowNs,
    );
  }

  // ------------------------------------------------------------------------------------------
  // Mediated vPMU (mainline): creation-time exclusion

  /**
   * perf_create_mediated_pmu (KVM calls it at a VM's first KVM_CREATE_VCPU): EBUSY while any
   * event that counts in guest mode (!exclude_guest on the core PMU) exists on the host, else the
   * VM is counted until perf_release_mediated_pmu.
   */
  createMediatedPmu(): MediatedPmuResult {
    if (this.mediatedVms > 0) {
      this.mediatedVms++;
      return { ok: true };
    }
    const includeGuestEvents = this.includeGuestEventIds();
    if (includeGuestEvents.length > 0) return { ok: false, errno: 'EBUSY', includeGuestEvents };
    this.mediatedVms++;
    return { ok: true };
  }

  /** perf_release_mediated_pmu: the VM that held a mediated PMU is gone. */
  releaseMediatedPmu(): void {
    if (this.mediatedVms > 0) this.mediatedVms--;
  }

  /** VMs holding a mediated PMU on this host. */
  get mediatedPmuVms(): number {
    return this.mediatedVms;
  }

  /** Open core-PMU events without exclude_guest (nr_include_guest_events), in creation order. */
  private includeGuestEventIds(): string[] {
    const out: string[] = [];
    for (const id of this.order) {
      const ev = this.events.get(id);
      if (ev && ev.pmuKind === 'core' && !ev.attr.excludeGuest) out.push(id);
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // ioctl / read / close

  enable(id: string, nowNs: number): boolean {
    const ev = this.events.get(id);
    if (!ev) return false;
    if (ev.state !== 'off' && ev.state !== 'error') return true;
    const c = this.cpuOf(ev, nowNs);
    ev.forcedOutByGuest = false;
    if (c) {
      if (ev.state === 'error') c.setState(ev, 'off', 'enable');
      c.setState(ev, 'inactive', 'enable');
    } else {
      this.setStateDetached(ev, 'inactive', 'enable', nowNs);
    }
    this.reschedFor(ev, nowNs);
    return true;
  }

  disable(id: string, nowNs: number): boolean {
    const ev = this.events.get(id);
    if (!ev) return false;
    if (ev.state === 'off') return true;
    const c = this.cpuOf(ev, nowNs);
    if (c) {
      if (ev.isLeader) for (const s of ev.siblings) if (s.state === 'active') c.removeActive(s, 'inactive', 'group-disabled');
      c.removeActive(ev, 'off', 'disable');
    } else {
      this.setStateDetached(ev, 'off', 'disable', nowNs);
    }
    return true;
  }

  /** PERF_EVENT_IOC_PERIOD: new sample period, effective at the next period reload. */
  setSamplePeriod(id: string, periodEvents: number): boolean {
    const ev = this.events.get(id);
    if (!ev || !ev.sampling || ev.attr.sampleFreqHz !== undefined) return false;
    if (!(Number.isSafeInteger(periodEvents) && periodEvents >= 1)) return false;
    ev.samplePeriod = periodEvents;
    return true;
  }

  read(id: string, nowNs: number): PerfReading | undefined {
    const closed = this.closed.get(id);
    if (closed) return closed;
    const ev = this.events.get(id);
    if (!ev) return undefined;
    const c = this.cpuOf(ev, nowNs);
    if (c) {
      c.fold(ev);
      c.touch(ev);
    }
    return reading(ev);
  }

  /**
   * perf_event_read_value, what an in-kernel user such as KVM reads: the count so far even for an
   * event in ERROR (only read(2) from user space returns nothing then).
   */
  readValue(id: string, nowNs: number): PerfReading | undefined {
    const r = this.read(id, nowNs);
    const ev = this.events.get(id);
    return r && ev && r.state === 'error' ? { ...r, count: ev.count } : r;
  }

  /**
   * Readings of every event ever created, in creation order (for summary.json perfEvents), or of
   * those `which` picks: an event on a pCPU whose context is behind `nowNs` cannot be read.
   */
  readAll(nowNs: number, which: (id: string) => boolean = () => true): PerfReading[] {
    return this.order.filter(which).map((id) => this.read(id, nowNs)!);
  }

  close(id: string, nowNs: number): boolean {
    const ev = this.events.get(id);
    if (!ev) return false;
    const c = this.cpuOf(ev, nowNs);
    if (c) {
      c.fold(ev);
      c.touch(ev);
    }
    const final = reading(ev);
    // __perf_remove_from_context: only this event is scheduled out; active siblings stay active.
    if (ev.state !== 'off') {
      if (c) c.removeActive(ev, 'off', 'close');
      else this.setStateDetached(ev, 'off', 'close', nowNs);
    }
    this.closed.set(id, final);
    this.events.delete(id);
    if (ev.isLeader) {
      const ctx = this.contextFor(ev);
      ctx.remove(ev);
      // perf_group_detach: siblings become singleton groups.
      for (const s of ev.siblings) {
        s.leader = s;
        ctx.add(s, this.nextGroupIndex());
      }
      ev.siblings.length = 0;
    } else {
      const sibs = ev.leader.siblings;
      sibs.splice(sibs.indexOf(ev), 1);
    }
    return true;
  }

  // ------------------------------------------------------------------------------------------

  private contextFor(ev: PerfEvent): PerfEventContext {
    if (ev.task === null) return this.cpus[ev.cpu].ctx;
    let t = this.tasks.get(ev.task);
    if (!t) {
      t = new PerfEventContext('task', ev.task);
      this.tasks.set(ev.task, t);
    }
    return t;
  }

  /** The CPU context an event's time runs on right now (checked to be at nowNs), or null. */
  private cpuOf(ev: PerfEvent, nowNs: number): PerfCpuContext | null {
    let cpu = -1;
    if (ev.activeCpu >= 0) cpu = ev.activeCpu;
    else if (ev.task === null) cpu = ev.cpu;
    else cpu = this.taskRunningOn(ev.task);
    if (cpu < 0) return null;
    const c = this.cpus[cpu];
    c.checkNow(nowNs);
    return c;
  }

  private reschedFor(ev: PerfEvent, nowNs: number): void {
    const cpu = ev.task === null ? ev.cpu : this.taskRunningOn(ev.task);
    if (cpu >= 0) this.cpus[cpu].resched(nowNs, !!ev.leader.attr.pinned);
  }

  private setStateDetached(ev: PerfEvent, to: PerfEvent['state'], cause: string, nowNs: number): void {
    const from = ev.state;
    ev.state = to;
    ev.tstampNs = Math.max(ev.tstampNs, nowNs);
    this.sink.emit({ kind: 'perfState', atNs: nowNs, at: { host: this.options.hostId }, eventId: ev.id, from, to, cause, count: ev.count });
  }
}

function fail(errno: PerfErrno, reason: string): CreateResult {
  return { ok: false, errno, reason };
}

function reading(ev: PerfEvent): PerfReading {
  const error = ev.state === 'error';
  const count = error ? 0 : ev.count;
  return {
    id: ev.id,
    state: ev.state,
    count,
    scaledCount: ev.runningNs === 0 ? 0 : Math.round((count * ev.enabledNs) / ev.runningNs),
    timeEnabledNs: ev.enabledNs,
    timeRunningNs: ev.runningNs,
    samples: ev.samples,
    samplePeriod: ev.samplePeriod,
    lostPmis: ev.lostPmis,
  };
}
