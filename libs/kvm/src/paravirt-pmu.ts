// The paravirtual perf interface (the "para virt interface of perf to support kvm guest os statistics collection in guest os" thread (Y. Zhang, A. Kivity, kvm list, Jun 2010): Zhang Yanmin's 2010 "para
// virt interface of perf" patches and Avi Kivity's review): the guest kernel opens, closes,
// enables, disables and reads *host* perf events through hypercalls, naming them with its own
// per-VM ids. This models the host side, one table per VM, with the review's fixes applied:
// - a per-VM limit on open events (KVM_MAX_PARAVIRT_PERF_EVENT, 1024; `VpmuSpec.pvEventLimit`),
//   checked and accounted so that a failed open never leaks a slot (the patch's atomic_inc before
//   validation did); over it the guest gets the patch's -ENOENT;
// - the host event is exclude_host only if the guest's flags say so (the patch forces nothing
//   else than exclude_user = exclude_kernel = 0), so it counts the vCPU thread's host time too;
// - attributes are validated ("needs tons of parameter validation"): unknown type/config, a
//   sampling request with period 0, period >= 2^63, reserved flags; exclude_user / exclude_kernel
//   are refused unless supported ("if we don't support it, we should error out ... Don't lie to the
//   guest"), never silently cleared;
// - guest errors (bad parameters, duplicate id, stale id, limit) go back to the guest; host errors
//   (host perf refused: EBUSY, ENOSPC, ENOMEM, ...) are told apart: they go to the VMM that called
//   KVM_RUN (`side: 'host'`) and leave the table unchanged;
// - overflows accumulate host-side per event and are handed over at the owning vCPU's next entry
//   (`syncBeforeEntry`, the atomic_xchg of the review): none is lost, none is counted twice;
// - a malicious guest racing close and enable on two vCPUs: each hypercall is atomic in the
//   world's deterministic order, so the loser sees a stale id (error + `pv-stale-id`), and the host
//   perf port never sees an operation on a closed event.
//
// API (the world owns one PvPerfTable per VM; each hypercall comes with the calling vCPU's port,
// vcpu-world.port.ts, behind which the host perf events live):
//   const pv = new PvPerfTable({ vmId: vm.id, limit: vm.vpmu.pvEventLimit });
//   const r = pv.open(port, guestId, attr);   // r.ok | r.side 'guest' (→ guest errno) | 'host' (→ VMM)
//   for (const d of pv.syncBeforeEntry(port)) deliverToGuest(d);   r.finding → FindingEvent
// The table is the host events' overflow handler (PerfHooks). Pure: no I/O, no clock.

import { isWorkloadEvent } from '@vpmu/pmu';
import type { PerfEventAttr, PerfHooks } from '@vpmu/perf';
import { programLoopCounts } from './program-loop';
import type { VcpuWorldPort } from './vcpu-world.port';

/** perf_event_attr.type values the interface accepts (include/uapi/linux/perf_event.h). */
export const PERF_TYPE_HARDWARE = 0;
export const PERF_TYPE_RAW = 4;

/** PERF_COUNT_HW_* → workload event; null = a valid config this host cannot count (→ ENOENT). */
export const PV_HW_CONFIG_EVENTS: readonly (string | null)[] = [
  'cycles', // 0 CPU_CYCLES
  'instructions', // 1 INSTRUCTIONS
  'cache-references', // 2 CACHE_REFERENCES
  'cache-misses', // 3 CACHE_MISSES
  'branches', // 4 BRANCH_INSTRUCTIONS
  'branch-misses', // 5 BRANCH_MISSES
  null, // 6 BUS_CYCLES
  null, // 7 STALLED_CYCLES_FRONTEND
  null, // 8 STALLED_CYCLES_BACKEND
  'ref-cycles', // 9 REF_CPU_CYCLES
];

/** PERF_SAMPLE_* bits defined up to PERF_SAMPLE_MAX (1 << 26 in v6.x). */
const PERF_SAMPLE_MASK = (1 << 26) - 1;
/** attr flag bits the interface understands: disabled (0). Everything else in `flags` is reserved here. */
const PV_FLAGS_KNOWN = 1;

/** What the guest passes (kvm_pv_perf_attr in the review's naming). */
export interface PvPerfAttr {
  type: number;
  config: number;
  /** sample_period, or sample_freq when `freq`. 0 = counting. */
  samplePeriod: number;
  freq: boolean;
  /** PERF_SAMPLE_* the guest asks for; non-zero means it wants samples. */
  sampleType: number;
  excludeUser: boolean;
  excludeKernel: boolean;
  /** attr.exclude_host as the guest passes it in flags (the patch copies the flags, forcing nothing). */
  excludeHost?: boolean;
  flags: number;
}

/** What the host perf port is asked to create: a guest-only, initially disabled event. */
export interface PvHostAttr {
  event: string;
  samplePeriod?: number;
  sampleFreqHz?: number;
  excludeUser: boolean;
  excludeKernel: boolean;
  /** Only when the guest asks: without it the vCPU thread's host time (exit handling) counts too. */
  excludeHost: boolean;
  excludeGuest: false;
  disabled: true;
}

/**
 * What the table uses of the calling vCPU's port: its index and host perf on its thread
 * (perf_event_create_kernel_counter & co.).
 */
export type PvHostPerfPort = Pick<VcpuWorldPort, 'vcpu' | 'perfCreate' | 'perfEnable' | 'perfDisable' | 'perfClose' | 'perfRead'>;

export type PvFindingKind = 'pv-limit-exceeded' | 'pv-error-to-guest' | 'pv-stale-id';
/** FindingEvent-shaped: the world adds atNs and the place. */
export interface PvFinding {
  findingKind: PvFindingKind;
  detail: string;
}

export type PvGuestErrno = 'EINVAL' | 'EEXIST' | 'ENOENT' | 'ENOSPC' | 'EOPNOTSUPP' | 'EBADF';

export type PvResult =
  | { ok: true; value?: number }
  /** Returned to the guest as the hypercall's result. */
  | { ok: false; side: 'guest'; errno: PvGuestErrno; reason: string; finding: PvFinding }
  /** A host failure: propagated to the VMM (KVM_RUN fails with it); the guest sees nothing. */
  | { ok: false; side: 'host'; errno: string; reason: string };

/** Data handed to the guest at entry (kvm_copy_event_to_guest). */
export interface PvDelivery {
  id: number;
  overflows: number;
  count: number;
}

export interface PvPerfTableOptions {
  vmId: string;
  /** Most open events (VpmuSpec.pvEventLimit; default 1024 = KVM_MAX_PARAVIRT_PERF_EVENT). */
  limit?: number;
  /** The host can honour exclude_user/exclude_kernel for guest events (false: refuse them, as the 2010 patch could not). */
  supportsPrivilegeFilter?: boolean;
  /** perf_event_max_sample_rate for sample_freq (default 100000). */
  maxSampleRateHz?: number;
  /** Accept PERF_TYPE_RAW configs (event select | umask << 8) mapped by this function; null = unknown. */
  rawEventName?: (config: number) => string | null;
}

interface Shadow {
  id: number;
  hostId: string;
  /** The workload event the host event counts. */
  event: string;
  /** Events of guest code the world runs outside the rate model (program loops) on the owning vCPU. */
  loopCount: number;
  /** vCPU whose next entry receives this event's overflows (last opener/enabler). */
  vcpu: number;
  enabled: boolean;
  pendingOverflows: number;
}

/** Errnos from host perf that mean "this attribute cannot be used here" rather than a host failure. */
const HOST_ERRNOS_FOR_GUEST = new Set(['EINVAL', 'ENOENT', 'EOPNOTSUPP']);

export const DEFAULT_PV_EVENT_LIMIT = 1024;

export class PvPerfTable implements PerfHooks {
  readonly vmId: string;
  readonly limit: number;
  private readonly opts: Required<Omit<PvPerfTableOptions, 'rawEventName'>> & Pick<PvPerfTableOptions, 'rawEventName'>;
  /** Guest id → shadow; Map keeps insertion order, so iteration is deterministic. */
  private readonly table = new Map<number, Shadow>();
  private readonly byHostId = new Map<string, Shadow>();
  /** Ids closed earlier (for the stale-id finding's detail). */
  private readonly closedIds = new Set<number>();
  private lateOverflows = 0;

  constructor(opts: PvPerfTableOptions) {
    this.opts = {
      vmId: opts.vmId,
      limit: opts.limit ?? DEFAULT_PV_EVENT_LIMIT,
      supportsPrivilegeFilter: opts.supportsPrivilegeFilter ?? false,
      maxSampleRateHz: opts.maxSampleRateHz ?? 100_000,
      rawEventName: opts.rawEventName,
    };
    if (!(Number.isInteger(this.opts.limit) && this.opts.limit >= 0)) throw new Error(`pvEventLimit must be an integer >= 0, got ${this.opts.limit}`);
    this.vmId = opts.vmId;
    this.limit = this.opts.limit;
  }

  /** Open events now. */
  get size(): number {
    return this.table.size;
  }

  /** Overflows the host reported for events already closed (dropped; the guest closed them). */
  get lateOverflowsIgnored(): number {
    return this.lateOverflows;
  }

  /** Open ids in open order (for checks and snapshots). */
  ids(): number[] {
    return [...this.table.keys()];
  }

  /** Host perf event id behind a guest id, or undefined. */
  hostIdOf(id: number): string | undefined {
    return this.table.get(id)?.hostId;
  }

  /** KVM_PERF_OP_OPEN: validates, checks the limit, creates the host event (disabled). */
  open(port: PvHostPerfPort, id: number, attr: PvPerfAttr): PvResult {
    const vcpu = port.vcpu;
    if (!Number.isSafeInteger(id) || id < 0) return this.guestError('EINVAL', 'pv-error-to-guest', `open: id ${id} is not a non-negative integer`);
    if (this.table.has(id)) return this.guestError('EEXIST', 'pv-error-to-guest', `open: id ${id} is already open`);
    const v = this.validate(attr);
    if (!v.ok) return this.guestError(v.errno, 'pv-error-to-guest', `open id ${id}: ${v.reason}`);
    if (this.table.size >= this.limit) {
      // The patch's kvm_pv_perf_op_open returns -ENOENT at KVM_MAX_PARAVIRT_PERF_EVENT.
      return this.guestError('ENOENT', 'pv-limit-exceeded', `open id ${id}: VM ${this.vmId} already has ${this.table.size} paravirt perf events (limit ${this.limit})`);
    }
    const created = port.perfCreate(hostAttr(v.host), this);
    if (!created.ok) {
      if (HOST_ERRNOS_FOR_GUEST.has(created.errno)) {
        return this.guestError(created.errno as PvGuestErrno, 'pv-error-to-guest', `open id ${id}: host perf rejects the attribute (${created.errno})`);
      }
      return { ok: false, side: 'host', errno: created.errno, reason: `open id ${id}: host perf failed (${created.errno}); KVM_RUN returns it to the VMM` };
    }
    if (this.byHostId.has(created.id)) throw new Error(`PvPerfTable(${this.vmId}): host port returned a live id ${created.id} twice`);
    const s: Shadow = { id, hostId: created.id, event: v.host.event, loopCount: 0, vcpu, enabled: false, pendingOverflows: 0 };
    this.table.set(id, s);
    this.byHostId.set(s.hostId, s);
    this.closedIds.delete(id);
    return { ok: true };
  }

  /** KVM_PERF_OP_CLOSE: releases the host event; pending overflows go with it. */
  close(port: PvHostPerfPort, id: number): PvResult {
    const s = this.table.get(id);
    if (!s) return this.stale('close', port.vcpu, id);
    this.table.delete(id);
    this.byHostId.delete(s.hostId);
    this.closedIds.add(id);
    port.perfClose(s.hostId);
    return { ok: true, value: s.pendingOverflows };
  }

  /** KVM_PERF_OP_ENABLE: the event now delivers to `vcpu` (the guest task may have moved). */
  enable(port: PvHostPerfPort, id: number): PvResult {
    const s = this.table.get(id);
    if (!s) return this.stale('enable', port.vcpu, id);
    s.vcpu = port.vcpu;
    s.enabled = true;
    // As in the 2010 patch the host event stays on the thread that opened it (a process-context
    // event of that vCPU thread); ENABLE from another vCPU only redirects the overflow delivery.
    port.perfEnable(s.hostId);
    return { ok: true };
  }

  /** KVM_PERF_OP_DISABLE. */
  disable(port: PvHostPerfPort, id: number): PvResult {
    const s = this.table.get(id);
    if (!s) return this.stale('disable', port.vcpu, id);
    s.enabled = false;
    port.perfDisable(s.hostId);
    return { ok: true };
  }

  /** KVM_PERF_OP_READ: the host event's count. */
  read(port: PvHostPerfPort, id: number): PvResult {
    const s = this.table.get(id);
    if (!s) return this.stale('read', port.vcpu, id);
    return { ok: true, value: port.perfRead(s.hostId).count + s.loopCount };
  }

  /**
   * A loop of known guest code on the port's vCPU (a program step): every enabled event the
   * vCPU thread counts sees what the loop produces of its kind (program-loop.ts: instructions,
   * branches, and the cycles they take), as a per-task host event counting guest mode would.
   */
  programLoop(port: PvHostPerfPort, instructions: number, branches: number): void {
    const counts = programLoopCounts(instructions, branches);
    for (const s of this.table.values()) {
      if (!s.enabled || s.vcpu !== port.vcpu) continue;
      s.loopCount += isWorkloadEvent(s.event) ? counts[s.event] : 0;
    }
  }

  /** Overflows wait for `vcpu` (its host PMI is an NMI: the world forces the VM exit now). */
  hasPendingFor(vcpu: number): boolean {
    for (const s of this.table.values()) if (s.pendingOverflows > 0 && s.vcpu === vcpu) return true;
    return false;
  }

  /** A host event's count without a hypercall (observer view); null when `id` is not open. */
  peek(port: PvHostPerfPort, id: number): number | null {
    const s = this.table.get(id);
    return s ? port.perfRead(s.hostId).count + s.loopCount : null;
  }

  /** PerfHooks: the host PMI of one of the table's events (kvm_perf_overflow of the patch). */
  onSample(eventId: string): void {
    this.onHostOverflow(eventId);
  }

  /**
   * The host perf overflow handler (NMI context) for a host event: accumulates. Unknown host ids
   * (closed meanwhile, or not ours) are ignored and counted, never an error.
   */
  onHostOverflow(hostId: string, overflows = 1): void {
    const s = this.byHostId.get(hostId);
    if (!s) {
      this.lateOverflows += overflows;
      return;
    }
    s.pendingOverflows += overflows;
  }

  /** Vcpus with overflows waiting (the world can request an entry-time sync / PMI injection). */
  vcpusWithPending(): number[] {
    const out = new Set<number>();
    for (const s of this.table.values()) if (s.pendingOverflows > 0) out.add(s.vcpu);
    return [...out].sort((a, b) => a - b);
  }

  /** Before entering the port's vCPU: hand over and reset (xchg) the overflows of the events it owns. */
  syncBeforeEntry(port: PvHostPerfPort): PvDelivery[] {
    const out: PvDelivery[] = [];
    for (const s of this.table.values()) {
      if (s.vcpu !== port.vcpu || s.pendingOverflows === 0) continue;
      const overflows = s.pendingOverflows;
      s.pendingOverflows = 0;
      out.push({ id: s.id, overflows, count: port.perfRead(s.hostId).count + s.loopCount });
    }
    return out;
  }

  /** VM teardown (through any vCPU's port): closes every host event. */
  destroy(port: PvHostPerfPort): void {
    for (const s of this.table.values()) port.perfClose(s.hostId);
    this.table.clear();
    this.byHostId.clear();
  }

  /** Plain snapshot (JSON-safe) for checks and debugging. */
  snapshot(): { id: number; hostId: string; vcpu: number; enabled: boolean; pendingOverflows: number }[] {
    return [...this.table.values()].map((s) => ({ ...s }));
  }

  // ------------------------------------------------------------------------------------------

  private validate(a: PvPerfAttr): { ok: true; host: PvHostAttr } | { ok: false; errno: PvGuestErrno; reason: string } {
    const bad = (reason: string, errno: PvGuestErrno = 'EINVAL') => ({ ok: false as const, errno, reason });
    if (!Number.isSafeInteger(a.config) || a.config < 0) return bad(`config ${a.config} is not a u64 we can represent`);
    if ((a.flags & ~PV_FLAGS_KNOWN) !== 0) return bad(`flags 0x${a.flags.toString(16)} has bits this interface does not support`);
    if ((a.sampleType & ~PERF_SAMPLE_MASK) !== 0) return bad(`sample_type 0x${a.sampleType.toString(16)} has unknown bits`);
    let event: string | null;
    if (a.type === PERF_TYPE_HARDWARE) {
      if (a.config >= PV_HW_CONFIG_EVENTS.length) return bad(`hardware config ${a.config} is unknown (PERF_COUNT_HW_MAX is ${PV_HW_CONFIG_EVENTS.length})`);
      event = PV_HW_CONFIG_EVENTS[a.config];
      if (event === null) return bad(`hardware config ${a.config} is not countable on this host`, 'ENOENT');
    } else if (a.type === PERF_TYPE_RAW && this.opts.rawEventName) {
      event = this.opts.rawEventName(a.config);
      if (event === null) return bad(`raw config 0x${a.config.toString(16)} is not an event this host counts`, 'ENOENT');
    } else {
      return bad(`type ${a.type} is not supported by the paravirt interface`);
    }
    if (!Number.isSafeInteger(a.samplePeriod) || a.samplePeriod < 0) return bad(`sample_period ${a.samplePeriod} is not a u63`);
    if (a.sampleType !== 0 && a.samplePeriod === 0) return bad(`sampling requested (sample_type 0x${a.sampleType.toString(16)}) with ${a.freq ? 'sample_freq' : 'sample_period'} 0`);
    if (a.freq && a.samplePeriod > this.opts.maxSampleRateHz) return bad(`sample_freq ${a.samplePeriod} is above perf_event_max_sample_rate ${this.opts.maxSampleRateHz}`);
    if ((a.excludeUser || a.excludeKernel) && !this.opts.supportsPrivilegeFilter) {
      return bad('exclude_user/exclude_kernel are not supported for guest events on this host', 'EOPNOTSUPP');
    }
    const host: PvHostAttr = {
      event,
      excludeUser: a.excludeUser,
      excludeKernel: a.excludeKernel,
      excludeHost: a.excludeHost ?? false,
      excludeGuest: false,
      disabled: true,
    };
    if (a.samplePeriod > 0) {
      if (a.freq) host.sampleFreqHz = a.samplePeriod;
      else host.samplePeriod = a.samplePeriod;
    }
    return { ok: true, host };
  }

  private stale(op: string, vcpu: number, id: number): PvResult {
    const why = this.closedIds.has(id) ? 'was closed' : 'was never opened';
    return this.guestError('EBADF', 'pv-stale-id', `${op} on vCPU ${vcpu}: id ${id} ${why} (VM ${this.vmId})`);
  }

  private guestError(errno: PvGuestErrno, findingKind: PvFindingKind, reason: string): PvResult {
    return { ok: false, side: 'guest', errno, reason, finding: { findingKind, detail: reason } };
  }
}

/** The host perf attribute of a validated guest attribute: created disabled, exclude_host only if asked. */
function hostAttr(a: PvHostAttr): PerfEventAttr {
  return {
    event: a.event,
    disabled: true,
    ...(a.excludeHost && { excludeHost: true }),
    ...(a.excludeUser && { excludeUser: true }),
    ...(a.excludeKernel && { excludeKernel: true }),
    ...(a.samplePeriod !== undefined && { samplePeriod: a.samplePeriod }),
    ...(a.sampleFreqHz !== undefined && { sampleFreqHz: a.sampleFreqHz }),
  };
}
