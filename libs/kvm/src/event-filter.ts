// KVM PMU event filters: what KVM lets a guest counter count.
//
// x86 `KVM_SET_PMU_EVENT_FILTER` (Documentation/virt/kvm/api.rst; arch/x86/kvm/pmu.c
// is_gp_event_allowed / is_fixed_event_allowed; arch/x86/kvm/pmu.c and tools/testing/selftests/kvm/x86/pmu_event_filter_test.c:
// - action ALLOW (0) or DENY (1); flags bit 0 = KVM_PMU_EVENT_FLAG_MASKED_EVENTS; anything else → EINVAL.
// - GP counters: the counter's event select (12 bits: AMD has bits 35:32) and umask are matched
//   against the filter's entries. KVM stores plain events as "include" entries with a full umask
//   mask, so one rule covers both forms: an event *matches* iff some include entry of its event
//   select has `(umask & mask) == match` and no exclude entry does; allowed = matches ? ALLOW : DENY.
// - Fixed counters: only `fixed_counter_bitmap` decides (it wins over events[]): fixed i allowed iff
//   (ALLOW and bit i set) or (DENY and bit i clear).
// - More than 300 entries (KVM_PMU_EVENT_FILTER_MAX_EVENTS) → E2BIG.
// - A new filter takes effect at each vCPU's next guest entry (KVM_REQ_PMU): `VmEventFilterSlot`.
//
// arm64 `KVM_ARM_VCPU_PMU_V3_FILTER` (Documentation/virt/kvm/devices/vcpu.rst): event ranges are
// allowed or denied; the first filter's action sets the opposite default for every other event;
// -EBUSY once a vCPU has run; filtered events are hidden from PMCEID: `KvmArmEventFilter`.
//
// API:
//   const r = KvmEventFilter.create(vm.vpmu.filter!);          // or KvmEventFilter.fromRaw(abiStruct)
//   if (!r.ok) return r.errno;                                  // 'E2BIG' | 'EINVAL'
//   slot.set(r.filter); ...; const { filter } = slot.atEntry(vcpu); filter?.allowsGp(0xc0, 0)
// Pure: no I/O, no clock.

import type { EventFilterSpec } from '@vpmu/world-spec';

export const KVM_PMU_EVENT_ALLOW = 0;
export const KVM_PMU_EVENT_DENY = 1;
export const KVM_PMU_EVENT_FLAG_MASKED_EVENTS = 1;
/** KVM_PMU_EVENT_FILTER_MAX_EVENTS (arch/x86/kvm/pmu.c). */
export const KVM_PMU_EVENT_FILTER_MAX_EVENTS = 300;

// Masked event encoding (KVM_PMU_ENCODE_MASKED_ENTRY, arch/x86/include/uapi/asm/kvm.h):
// event select 7:0 and 35:32, match 15:8, exclude 55, mask 63:56; every other bit reserved.
const MASKED_EVENT_SELECT = 0x0000_000f_0000_00ffn;
const MASKED_MATCH = 0xff00n;
const MASKED_EXCLUDE = 1n << 55n;
const MASKED_MASK = 0xffn << 56n;
const MASKED_VALID = MASKED_EVENT_SELECT | MASKED_MATCH | MASKED_EXCLUDE | MASKED_MASK;

export type FilterErrno = 'E2BIG' | 'EINVAL';
export type FilterAction = 'allow' | 'deny';

/** The `struct kvm_pmu_event_filter` a VMM passes to the ioctl, numerically. */
export interface KvmPmuEventFilterRaw {
  action: number;
  flags: number;
  fixedCounterBitmap: number;
  /** Plain: event select 7:0 (+35:32) | umask << 8. Masked (flags bit 0): KVM_PMU_ENCODE_MASKED_ENTRY. */
  events: readonly bigint[];
  /** `pad[4]`: must be zero. */
  pad?: readonly number[];
}

/** One include/exclude entry, as KVM keeps it after parsing. */
export interface FilterEntry {
  eventSelect: number;
  mask: number;
  match: number;
  exclude: boolean;
}

/** KVM_PMU_ENCODE_MASKED_ENTRY(event_select, mask, match, exclude). */
export function encodeMaskedEntry(eventSelect: number, mask: number, match: number, exclude: boolean): bigint {
  const es = BigInt(eventSelect);
  return (es & 0xffn) | ((es & 0xf00n) << 24n) | (BigInt(mask & 0xff) << 56n) | (BigInt(match & 0xff) << 8n) | (exclude ? MASKED_EXCLUDE : 0n);
}

/** Plain filter entry: event select | umask << 8 (AMD event select bits 11:8 go to 35:32). */
export function encodePlainEvent(eventSelect: number, umask: number): bigint {
  const es = BigInt(eventSelect);
  return (es & 0xffn) | ((es & 0xf00n) << 24n) | (BigInt(umask & 0xff) << 8n);
}

export type FilterCreateResult = { ok: true; filter: KvmEventFilter } | { ok: false; errno: FilterErrno; reason: string };

export class KvmEventFilter {
  private readonly includes = new Map<number, FilterEntry[]>();
  private readonly excludes = new Map<number, FilterEntry[]>();

  private constructor(
    readonly action: FilterAction,
    readonly fixedCounterBitmap: number,
    entries: readonly FilterEntry[],
  ) {
    for (const e of entries) {
      const m = e.exclude ? this.excludes : this.includes;
      const list = m.get(e.eventSelect) ?? [];
      list.push(e);
      m.set(e.eventSelect, list);
    }
  }

  /**
   * From the scenario's filter. `events` and `masked` are one ioctl: when `masked` is non-empty the
   * filter is a masked one and each plain event becomes an include entry with mask 0xff (how KVM
   * itself stores plain events), so their total counts against the 300-entry limit.
   */
  static create(spec: EventFilterSpec): FilterCreateResult {
    const masked = spec.masked.length > 0;
    const events = masked
      ? [
          ...spec.events.map((e) => encodeMaskedEntry(e.eventSelect, 0xff, e.umask, false)),
          ...spec.masked.map((e) => encodeMaskedEntry(e.eventSelect, e.mask, e.match, e.exclude)),
        ]
      : spec.events.map((e) => encodePlainEvent(e.eventSelect, e.umask));
    return KvmEventFilter.fromRaw({
      action: spec.action === 'allow' ? KVM_PMU_EVENT_ALLOW : KVM_PMU_EVENT_DENY,
      flags: masked ? KVM_PMU_EVENT_FLAG_MASKED_EVENTS : 0,
      fixedCounterBitmap: spec.fixedCounterBitmap,
      events,
    });
  }

  /** kvm_vm_ioctl_set_pmu_event_filter's checks, then the parsed filter. */
  static fromRaw(raw: KvmPmuEventFilterRaw): FilterCreateResult {
    if (raw.action !== KVM_PMU_EVENT_ALLOW && raw.action !== KVM_PMU_EVENT_DENY) {
      return { ok: false, errno: 'EINVAL', reason: `action ${raw.action} is neither ALLOW (0) nor DENY (1)` };
    }
    if ((raw.flags & ~KVM_PMU_EVENT_FLAG_MASKED_EVENTS) !== 0) {
      return { ok: false, errno: 'EINVAL', reason: `flags 0x${raw.flags.toString(16)} has unknown bits` };
    }
    if (raw.pad?.some((p) => p !== 0)) return { ok: false, errno: 'EINVAL', reason: 'pad must be zero' };
    if (raw.events.length > KVM_PMU_EVENT_FILTER_MAX_EVENTS) {
      return { ok: false, errno: 'E2BIG', reason: `${raw.events.length} events; at most ${KVM_PMU_EVENT_FILTER_MAX_EVENTS}` };
    }
    if (!(Number.isInteger(raw.fixedCounterBitmap) && raw.fixedCounterBitmap >= 0 && raw.fixedCounterBitmap <= 0xffff_ffff)) {
      return { ok: false, errno: 'EINVAL', reason: 'fixed_counter_bitmap is a u32' };
    }
    const entries: FilterEntry[] = [];
    const masked = (raw.flags & KVM_PMU_EVENT_FLAG_MASKED_EVENTS) !== 0;
    for (const e of raw.events) {
      const eventSelect = Number((e & 0xffn) | ((e >> 24n) & 0xf00n));
      if (masked) {
        // Masked filters reject reserved bits (filter_masked_event / is_masked_filter_valid).
        if ((e & ~MASKED_VALID) !== 0n) return { ok: false, errno: 'EINVAL', reason: `masked entry 0x${e.toString(16)} has reserved bits` };
        entries.push({ eventSelect, mask: Number((e >> 56n) & 0xffn), match: Number((e >> 8n) & 0xffn), exclude: (e & MASKED_EXCLUDE) !== 0n });
      } else {
        // Plain filters silently drop entries with bits outside event select + umask
        // (remove_impossible_events: userspace ABI compatibility).
        if ((e & ~(MASKED_EVENT_SELECT | 0xff00n)) !== 0n) continue;
        entries.push({ eventSelect, mask: 0xff, match: Number((e >> 8n) & 0xffn), exclude: false });
      }
    }
    const action: FilterAction = raw.action === KVM_PMU_EVENT_ALLOW ? 'allow' : 'deny';
    return { ok: true, filter: new KvmEventFilter(action, raw.fixedCounterBitmap >>> 0, entries) };
  }

  /** May a GP counter programmed with this event select and umask count? (is_gp_event_allowed) */
  allowsGp(eventSelect: number, umask: number): boolean {
    const es = eventSelect & 0xfff;
    const um = umask & 0xff;
    const hit = (list: FilterEntry[] | undefined): boolean => list !== undefined && list.some((e) => (um & e.mask) === e.match);
    const matches = hit(this.includes.get(es)) && !hit(this.excludes.get(es));
    return matches ? this.action === 'allow' : this.action === 'deny';
  }

  /** May GP counter count with this raw IA32_PERFEVTSELx value (event 7:0, umask 15:8, AMD 35:32)? */
  allowsEventSel(eventSel: number | bigint): boolean {
    const v = BigInt(eventSel);
    return this.allowsGp(Number((v & 0xffn) | ((v >> 24n) & 0xf00n)), Number((v >> 8n) & 0xffn));
  }

  /** May fixed counter i count? The bitmap alone decides (is_fixed_event_allowed). */
  allowsFixed(i: number): boolean {
    const bit = i >= 0 && i < 32 && ((this.fixedCounterBitmap >>> i) & 1) === 1;
    return this.action === 'allow' ? bit : !bit;
  }
}

/** Parsed filters per scenario filter object (a cache: parsing is pure, the result immutable). */
const parsedSpecs = new WeakMap<EventFilterSpec, KvmEventFilter | null>();

/** The KvmEventFilter of a scenario filter; null when KVM would refuse it (the VM runs unfiltered). */
export function kvmFilterOf(spec: EventFilterSpec): KvmEventFilter | null {
  let f = parsedSpecs.get(spec);
  if (f === undefined) {
    const r = KvmEventFilter.create(spec);
    f = r.ok ? r.filter : null;
    parsedSpecs.set(spec, f);
  }
  return f;
}

/** KVM's decision for a GP counter's event select + umask under a scenario filter (none: allowed). */
export function filterAllowsGp(spec: EventFilterSpec | undefined, eventSelect: number, umask: number): boolean {
  const f = spec ? kvmFilterOf(spec) : null;
  return f === null || f.allowsGp(eventSelect, umask);
}

/** KVM's decision for fixed counter i under a scenario filter: the bitmap alone (none: allowed). */
export function filterAllowsFixed(spec: EventFilterSpec | undefined, i: number): boolean {
  const f = spec ? kvmFilterOf(spec) : null;
  return f === null || f.allowsFixed(i);
}

/**
 * A VM's filter as vCPUs see it: `set()` replaces the VM's filter (the ioctl); each vCPU switches
 * to it at its next entry (`atEntry`), which tells the caller whether to reprogram that vCPU's
 * counters (KVM_REQ_PMU → reprogram every counter).
 */
export class VmEventFilterSlot {
  private pending: KvmEventFilter | null = null;
  private generation = 0;
  private readonly active = new Map<number, { filter: KvmEventFilter | null; generation: number }>();

  /** KVM_SET_PMU_EVENT_FILTER. `null` removes the filter. On error nothing changes. */
  set(spec: EventFilterSpec | KvmPmuEventFilterRaw | null): { ok: true } | { ok: false; errno: FilterErrno; reason: string } {
    if (spec === null) {
      this.pending = null;
      this.generation++;
      return { ok: true };
    }
    const r = typeof spec.action === 'number' ? KvmEventFilter.fromRaw(spec as KvmPmuEventFilterRaw) : KvmEventFilter.create(spec as EventFilterSpec);
    if (!r.ok) return r;
    this.pending = r.filter;
    this.generation++;
    return { ok: true };
  }

  /** Called at each guest entry of `vcpu`: the filter now in force and whether it just changed. */
  atEntry(vcpu: number): { filter: KvmEventFilter | null; changed: boolean } {
    const cur = this.active.get(vcpu);
    if (cur && cur.generation === this.generation) return { filter: cur.filter, changed: false };
    const changed = cur !== undefined || this.generation > 0;
    this.active.set(vcpu, { filter: this.pending, generation: this.generation });
    return { filter: this.pending, changed };
  }

  /** The filter `vcpu` runs under (its last entry's); null = no filter. */
  activeFor(vcpu: number): KvmEventFilter | null {
    return this.active.get(vcpu)?.filter ?? null;
  }

  /** The filter the next entry will apply. */
  latest(): KvmEventFilter | null {
    return this.pending;
  }
}

// ---------------------------------------------------------------------------------------------
// arm64

export interface ArmFilterRange {
  baseEvent: number;
  nevents: number;
  /** 0 = ALLOW, 1 = DENY. */
  action: number;
}

export type ArmFilterErrno = 'EINVAL' | 'EBUSY';

/**
 * KVM_ARM_VCPU_PMU_V3_FILTER (arch/arm64/kvm/pmu-emul.c kvm_arm_pmu_v3_set_attr): a bitmap over
 * the event space (PMUv3 events 0..0x3ff; 0..0xffff from PMUv3p1). The first range creates the
 * bitmap with the opposite default (ALLOW first → everything else denied, DENY first → everything
 * else allowed); later ranges set or clear their bits. The cycle counter is filtered as CPU_CYCLES.
 */
export class KvmArmEventFilter {
  private bitmap: Uint8Array | null = null;

  constructor(readonly eventSpace: number = 0x10000) {}

  /** Adds one range. `vmHasRun`: some vCPU of the VM has run (→ EBUSY). Returns null on success. */
  add(range: ArmFilterRange, vmHasRun: boolean): ArmFilterErrno | null {
    if (vmHasRun) return 'EBUSY';
    const { baseEvent, nevents, action } = range;
    if (action !== KVM_PMU_EVENT_ALLOW && action !== KVM_PMU_EVENT_DENY) return 'EINVAL';
    if (!(Number.isInteger(baseEvent) && Number.isInteger(nevents) && baseEvent >= 0 && nevents >= 0)) return 'EINVAL';
    if (baseEvent + nevents > this.eventSpace) return 'EINVAL';
    if (this.bitmap === null) this.bitmap = new Uint8Array(this.eventSpace).fill(action === KVM_PMU_EVENT_ALLOW ? 0 : 1);
    this.bitmap.fill(action === KVM_PMU_EVENT_ALLOW ? 1 : 0, baseEvent, baseEvent + nevents);
    return null;
  }

  get hasFilter(): boolean {
    return this.bitmap !== null;
  }

  /** May a counter programmed with this PMUv3 event count? No filter = everything. */
  allows(event: number): boolean {
    if (this.bitmap === null) return true;
    return event >= 0 && event < this.eventSpace && this.bitmap[event] === 1;
  }

  /** PMCEID0/1 as the guest reads them: filtered common events are hidden. */
  maskPmceid(pmceid0: number, pmceid1: number): { pmceid0: number; pmceid1: number } {
    let a = pmceid0 >>> 0;
    let b = pmceid1 >>> 0;
    for (let n = 0; n < 32; n++) {
      if (!this.allows(n)) a &= ~(1 << n);
      if (!this.allows(32 + n)) b &= ~(1 << n);
    }
    return { pmceid0: a >>> 0, pmceid1: b >>> 0 };
  }
}
