// Collects what a VM's guest perf files are built from: the guest's PMIs (delivered and lost),
// its task switches, its perf events' throttling and the guest perf sessions' final readings.
// Fed either with a recording streamed back (`vpmu export --format perf-data`) or, during a run,
// with the guest-visible events the hosts send the guest-vm service. A VM that migrated has
// events from both hosts; they are merged into one time line here (both feeds deliver epoch by
// epoch, then by node: a stable sort by time restores the guest's order).
import type { GuestContextSwitchEvent, GuestPerfEvent, GuestThrottleEvent, PmiEvent, SimEvent } from '@vpmu/sim';

export type GuestTimelineEvent = PmiEvent | GuestContextSwitchEvent | GuestThrottleEvent;

export interface VmGuestEvents {
  /** Guest PMIs, guest task switches and throttle changes, in guest time order. */
  timeline: GuestTimelineEvent[];
  /** Final readings of the guest's `perf stat` / `perf record` sessions, keyed by session id. */
  readings: Map<string, GuestPerfEvent[]>;
  /** Hosts the VM's events came from, in order of first appearance. */
  hosts: string[];
}

/** The `command` of the guestPerf events that are a guest session's readings: `stat:<id>` / `record:<id>`. */
const SESSION_COMMAND = /^(stat|record):(.+)$/;

/** Whether an event is part of the guest's own view (what the guest-vm service is sent). */
export function isGuestVisible(e: SimEvent): boolean {
  if (e.at.vm === undefined) return false;
  if (e.kind === 'pmi') return e.owner === 'guest';
  if (e.kind === 'guestContextSwitch' || e.kind === 'guestThrottle') return true;
  return e.kind === 'guestPerf' && SESSION_COMMAND.test(e.command);
}

export class GuestEventsCollector {
  private readonly vms = new Map<string, VmGuestEvents>();

  onEvents(events: readonly SimEvent[]): void {
    for (const e of events) {
      const vm = e.at.vm;
      if (vm === undefined) continue;
      if (e.kind === 'pmi') {
        if (e.owner !== 'guest') continue;
        this.of(vm, e.at.host).timeline.push(e);
      } else if (e.kind === 'guestContextSwitch' || e.kind === 'guestThrottle') {
        this.of(vm, e.at.host).timeline.push(e);
      } else if (e.kind === 'guestPerf') {
        const m = SESSION_COMMAND.exec(e.command);
        if (!m) continue;
        const readings = this.of(vm, e.at.host).readings;
        const list = readings.get(m[2]!) ?? [];
        list.push(e);
        readings.set(m[2]!, list);
      }
    }
  }

  /** The VM's events, the time line sorted by time (stable: same-time events keep recording order). */
  forVm(vm: string): VmGuestEvents {
    const v = this.vms.get(vm) ?? { timeline: [], readings: new Map(), hosts: [] };
    v.timeline.sort((a, b) => a.atNs - b.atNs);
    return v;
  }

  private of(vm: string, host: string | undefined): VmGuestEvents {
    let v = this.vms.get(vm);
    if (!v) this.vms.set(vm, (v = { timeline: [], readings: new Map(), hosts: [] }));
    if (host !== undefined && !v.hosts.includes(host)) v.hosts.push(host);
    return v;
  }
}
