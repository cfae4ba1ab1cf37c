// Guest `perf stat` / `perf record` on one vCPU of a paravirtual-perf guest (vpmu.mode paravirt):
// the guest kernel has no architectural PMU (CPUID.0AH empty) and its perf driver opens, enables,
// reads, disables and closes *host* perf events by hypercall instead (the "para virt interface of perf to support kvm guest os statistics collection in guest os" thread (Y. Zhang, A. Kivity, kvm list, Jun 2010),
// Zhang Yanmin's 2010 "para virt interface of perf": KVM_PERF_OP_OPEN / CLOSE / ENABLE / DISABLE /
// READ, ids chosen by the guest per VM). Each event of the session becomes one host event; its
// count is what the guest reports. Sampling sessions ask the host event to sample; the host
// accumulates overflows and KVM hands them over before the next entry (`deliver`), where the
// guest's handler records them as samples.
//
// The 2010 interface copies the raw count only: no time_enabled / time_running come back, so the
// guest cannot scale a host-multiplexed event (a starved host event simply counts less). The
// guest's own enabled time (guest run time since start) is reported for both.
import type { GuestPerfSpec } from '@vpmu/world-spec';

/** PERF_COUNT_HW_* (include/uapi/linux/perf_event.h) of the events the paravirt guest can open. */
export const PV_GUEST_HW_CONFIG: Readonly<Record<string, number>> = {
  cycles: 0,
  instructions: 1,
  'cache-references': 2,
  'cache-misses': 3,
  branches: 4,
  'branch-misses': 5,
  'ref-cycles': 9,
};

/** What the guest passes to KVM_PERF_OP_OPEN (the kvm_pv_perf_attr of the review). */
export interface GuestPvAttr {
  type: number;
  config: number;
  samplePeriod: number;
  freq: boolean;
  sampleType: number;
  excludeUser: boolean;
  excludeKernel: boolean;
  flags: number;
}

export type GuestPvCallResult = { ok: true; value: number } | { ok: false; errno: string };

/** The hypercall interface as the guest kernel reaches it (each call is a VMCALL exit). */
export interface GuestPvHypercallPort {
  open(id: number, attr: GuestPvAttr): GuestPvCallResult;
  enable(id: number): GuestPvCallResult;
  disable(id: number): GuestPvCallResult;
  read(id: number): GuestPvCallResult;
  close(id: number): GuestPvCallResult;
}

/** PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_PERIOD: what `perf record` asks. */
const RECORD_SAMPLE_TYPE = 0x1 | 0x2 | 0x4 | 0x100;

export interface GuestPvEventState {
  name: string;
  id: number;
  /** The host event is open (the open hypercall succeeded and no close happened since). */
  open: boolean;
  /** Count carried over from earlier host events (stop, migration). */
  baseCount: number;
  samples: number;
  /** errno of the last failed hypercall for this event ('' = none). */
  lastErrno: string;
}

export interface GuestPvReading {
  event: string;
  count: number;
  scaledCount: number;
  timeEnabledNs: number;
  timeRunningNs: number;
  samples: number;
}

/** Guest id of event `j` of guest perf session `k` on vCPU `vcpu` (unique per VM, never 0). */
export function guestPvEventId(k: number, vcpu: number, j: number): number {
  return 1 + j + 64 * (vcpu + 1024 * k);
}

export class GuestPvPerfVcpu {
  readonly events: GuestPvEventState[];
  running = false;
  /** Guest run ns the session was enabled up to `lastNs`. */
  windowNs = 0;
  private lastNs = 0;
  /** Hypercalls issued so far (each a VMCALL exit). */
  hypercalls = 0;

  constructor(
    readonly spec: GuestPerfSpec,
    readonly sessionIndex: number,
    readonly vcpu: number,
  ) {
    this.events = spec.events.map((name, j) => ({ name, id: guestPvEventId(sessionIndex, vcpu, j), open: false, baseCount: 0, samples: 0, lastErrno: '' }));
  }

  /** The attribute the guest perf driver builds for an event of this session. */
  attrOf(name: string): GuestPvAttr {
    const sample = this.spec.command === 'record' ? this.spec.sample : undefined;
    const config = PV_GUEST_HW_CONFIG[name];
    return {
      type: 0,
      // An event without a PERF_COUNT_HW_* number (topdown-slots) is sent as an unknown config: EINVAL.
      config: config ?? 0xffff,
      samplePeriod: sample ? (sample.freqHz ?? sample.periodEvents ?? 0) : 0,
      freq: sample?.freqHz !== undefined,
      sampleType: sample ? RECORD_SAMPLE_TYPE : 0,
      excludeUser: false,
      excludeKernel: false,
      flags: 1, // disabled: enabled by the next hypercall
    };
  }

  /** perf_event_open + enable for each event (two hypercalls each). */
  start(port: GuestPvHypercallPort, nowNs: number): void {
    if (this.running) return;
    this.running = true;
    this.lastNs = nowNs;
    this.openAll(port);
  }

  /** read, disable and close each open event (three hypercalls each); counts are kept. */
  stop(port: GuestPvHypercallPort, nowNs: number): void {
    if (!this.running) return;
    this.account(nowNs);
    for (const e of this.events) {
      if (!e.open) continue;
      const r = this.call(e, port.read(e.id));
      if (r !== null) e.baseCount += r;
      this.call(e, port.disable(e.id));
      this.call(e, port.close(e.id));
      e.open = false;
    }
    this.running = false;
  }

  /** Overflows KVM handed over before an entry (kvm_copy_event_to_guest): each is one sample. */
  deliver(id: number, overflows: number): boolean {
    const e = this.events.find((x) => x.id === id);
    if (!e) return false;
    e.samples += overflows;
    return true;
  }

  /** The VM leaves this host: fold each open event's count (read by the host side, no hypercall). */
  detach(peek: (id: number) => number | null, nowNs: number): void {
    this.account(nowNs);
    for (const e of this.events) {
      if (!e.open) continue;
      e.baseCount += peek(e.id) ?? 0;
      e.open = false;
    }
  }

  /** On the destination host KVM reopens the table: the guest's events continue from their counts. */
  attach(port: GuestPvHypercallPort, nowNs: number): void {
    this.lastNs = nowNs;
    if (this.running) this.openAll(port);
  }

  /** Counts as of now; `peek` reads a host event's count without a hypercall (null: not open). */
  readings(peek: (id: number) => number | null, nowNs: number): GuestPvReading[] {
    const enabled = this.windowUntil(nowNs);
    return this.events.map((e) => {
      const count = e.baseCount + (e.open ? (peek(e.id) ?? 0) : 0);
      return { event: e.name, count, scaledCount: count, timeEnabledNs: enabled, timeRunningNs: enabled, samples: e.samples };
    });
  }

  /** Guest ns the session has been enabled, up to now. */
  windowUntil(nowNs: number): number {
    return this.windowNs + (this.running ? Math.max(0, nowNs - this.lastNs) : 0);
  }

  private openAll(port: GuestPvHypercallPort): void {
    for (const e of this.events) {
      if (this.call(e, port.open(e.id, this.attrOf(e.name))) === null) continue;
      e.open = true;
      this.call(e, port.enable(e.id));
    }
  }

  private account(nowNs: number): void {
    const dt = nowNs - this.lastNs;
    if (dt <= 0) return;
    this.lastNs = nowNs;
    this.windowNs += dt;
  }

  private call(e: GuestPvEventState, r: GuestPvCallResult): number | null {
    this.hypercalls++;
    if (r.ok) return r.value;
    e.lastErrno = r.errno;
    return null;
  }
}
