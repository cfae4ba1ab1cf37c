import fc from 'fast-check';
import type { EventFilterSpec } from '@vpmu/world-spec';
import {
  KvmArmEventFilter,
  KvmEventFilter,
  VmEventFilterSlot,
  encodeMaskedEntry,
  encodePlainEvent,
  type FilterCreateResult,
} from './event-filter';

// The event encodings pmu_event_filter_test.c uses (Intel architectural events, Intel SDM vol. 3).
const INSTRUCTIONS = { eventSelect: 0xc0, umask: 0x00 };
const BRANCHES = { eventSelect: 0xc4, umask: 0x00 };
const LLC_REFS = { eventSelect: 0x2e, umask: 0x4f };
const LLC_MISSES = { eventSelect: 0x2e, umask: 0x41 };
const CYCLES = { eventSelect: 0x3c, umask: 0x00 };
// The selftest's base list: a handful of common events, including the one it measures.
const BASE_EVENTS = [INSTRUCTIONS, BRANCHES, CYCLES, LLC_REFS, LLC_MISSES, { eventSelect: 0xc5, umask: 0 }];

function spec(over: Partial<EventFilterSpec>): EventFilterSpec {
  return { action: 'allow', events: [], fixedCounterBitmap: 0, masked: [], ...over };
}
function filter(over: Partial<EventFilterSpec>): KvmEventFilter {
  const r = KvmEventFilter.create(spec(over));
  if (!r.ok) throw new Error(r.reason);
  return r.filter;
}
const counts = (f: KvmEventFilter, e: { eventSelect: number; umask: number }) => f.allowsGp(e.eventSelect, e.umask);
const errno = (r: FilterCreateResult) => (r.ok ? null : r.errno);

describe('KVM_SET_PMU_EVENT_FILTER (pmu_event_filter_test.c checks)', () => {
  it('member of a deny list: the event does not count', () => {
    const f = filter({ action: 'deny', events: BASE_EVENTS });
    expect(counts(f, INSTRUCTIONS)).toBe(false);
    expect(counts(f, BRANCHES)).toBe(false);
  });

  it('member of an allow list: counts; not a member: does not', () => {
    const f = filter({ action: 'allow', events: BASE_EVENTS });
    expect(counts(f, INSTRUCTIONS)).toBe(true);
    expect(counts(f, { eventSelect: 0xd1, umask: 0x01 })).toBe(false);
  });

  it('not a member of a deny list: counts; not a member of an allow list: does not', () => {
    const rest = BASE_EVENTS.filter((e) => e !== INSTRUCTIONS && e !== BRANCHES);
    expect(counts(filter({ action: 'deny', events: rest }), INSTRUCTIONS)).toBe(true);
    expect(counts(filter({ action: 'allow', events: rest }), INSTRUCTIONS)).toBe(false);
  });

  it('event select and umask must both match (plain entries)', () => {
    const f = filter({ action: 'allow', events: [LLC_REFS] });
    expect(counts(f, LLC_REFS)).toBe(true);
    expect(counts(f, LLC_MISSES)).toBe(false);
  });

  it.each(['allow', 'deny'] as const)('fixed counters under %s: allowed iff (ALLOW and bit set) or (DENY and bit clear)', (action) => {
    for (let bitmap = 0; bitmap < 16; bitmap++) {
      const f = filter({ action, fixedCounterBitmap: bitmap });
      for (let i = 0; i < 4; i++) {
        const bit = ((bitmap >> i) & 1) === 1;
        expect(f.allowsFixed(i)).toBe(action === 'allow' ? bit : !bit);
      }
    }
  });

  it('the fixed counter bitmap wins over events[] (instructions listed, fixed counter 0 not)', () => {
    // Deny list naming instructions, bitmap clear: GP instructions denied, fixed counter 0 allowed.
    const deny = filter({ action: 'deny', events: [INSTRUCTIONS], fixedCounterBitmap: 0 });
    expect(counts(deny, INSTRUCTIONS)).toBe(false);
    expect(deny.allowsFixed(0)).toBe(true);
    // Allow list naming instructions, bitmap clear: GP instructions count, fixed counter 0 does not.
    const allow = filter({ action: 'allow', events: [INSTRUCTIONS], fixedCounterBitmap: 0 });
    expect(counts(allow, INSTRUCTIONS)).toBe(true);
    expect(allow.allowsFixed(0)).toBe(false);
  });

  it('masked events: include by (umask & mask) == match, exclude wins', () => {
    // Every umask of event 0x2e except LLC misses.
    const masked = [
      { eventSelect: 0x2e, mask: 0x00, match: 0x00, exclude: false },
      { eventSelect: 0x2e, mask: 0xff, match: 0x41, exclude: true },
    ];
    const allow = filter({ action: 'allow', masked });
    expect(counts(allow, LLC_REFS)).toBe(true);
    expect(counts(allow, LLC_MISSES)).toBe(false);
    expect(counts(allow, INSTRUCTIONS)).toBe(false); // no include for 0xc0
    const deny = filter({ action: 'deny', masked });
    expect(counts(deny, LLC_REFS)).toBe(false);
    expect(counts(deny, LLC_MISSES)).toBe(true);
    expect(counts(deny, INSTRUCTIONS)).toBe(true);
    // Partial masks: bit 6 set matches 0x4f and 0x41 alike; bit 3 tells them apart.
    const bit6 = filter({ action: 'allow', masked: [{ eventSelect: 0x2e, mask: 0x40, match: 0x40, exclude: false }] });
    expect([counts(bit6, LLC_REFS), counts(bit6, LLC_MISSES)]).toEqual([true, true]);
    const bit3 = filter({ action: 'allow', masked: [{ eventSelect: 0x2e, mask: 0x08, match: 0x08, exclude: false }] });
    expect([counts(bit3, LLC_REFS), counts(bit3, LLC_MISSES)]).toEqual([true, false]);
  });

  it('plain events next to masked ones become full-mask includes (one ioctl)', () => {
    const f = filter({ action: 'allow', events: [INSTRUCTIONS], masked: [{ eventSelect: 0x2e, mask: 0xff, match: 0x4f, exclude: false }] });
    expect(counts(f, INSTRUCTIONS)).toBe(true);
    expect(counts(f, LLC_REFS)).toBe(true);
    expect(counts(f, LLC_MISSES)).toBe(false);
  });

  it('at most 300 events: 301 → E2BIG (plain, masked, and both together)', () => {
    const ev = (n: number) => Array.from({ length: n }, (_, i) => ({ eventSelect: i & 0xff, umask: i >> 8 }));
    const mk = (n: number) => Array.from({ length: n }, (_, i) => ({ eventSelect: i & 0xff, mask: 0xff, match: 0, exclude: false }));
    expect(errno(KvmEventFilter.create(spec({ events: ev(300) })))).toBeNull();
    expect(errno(KvmEventFilter.create(spec({ events: ev(301) })))).toBe('E2BIG');
    expect(errno(KvmEventFilter.create(spec({ masked: mk(301) })))).toBe('E2BIG');
    expect(errno(KvmEventFilter.create(spec({ events: ev(150), masked: mk(151) })))).toBe('E2BIG');
  });

  it('invalid action, flags, pad or masked reserved bits → EINVAL', () => {
    const raw = { action: 0, flags: 0, fixedCounterBitmap: 0, events: [encodePlainEvent(0xc0, 0)] };
    expect(errno(KvmEventFilter.fromRaw(raw))).toBeNull();
    expect(errno(KvmEventFilter.fromRaw({ ...raw, action: 2 }))).toBe('EINVAL');
    expect(errno(KvmEventFilter.fromRaw({ ...raw, flags: 2 }))).toBe('EINVAL');
    expect(errno(KvmEventFilter.fromRaw({ ...raw, pad: [0, 1, 0, 0] }))).toBe('EINVAL');
    const m = encodeMaskedEntry(0xc0, 0xff, 0, false);
    expect(errno(KvmEventFilter.fromRaw({ ...raw, flags: 1, events: [m] }))).toBeNull();
    expect(errno(KvmEventFilter.fromRaw({ ...raw, flags: 1, events: [m | (1n << 40n)] }))).toBe('EINVAL');
  });

  it('plain filters silently drop impossible entries (ABI compatibility)', () => {
    const r = KvmEventFilter.fromRaw({ action: 0, flags: 0, fixedCounterBitmap: 0, events: [encodePlainEvent(0xc0, 0) | (1n << 50n)] });
    expect(r.ok && r.filter.allowsGp(0xc0, 0)).toBe(false);
  });

  it('AMD 12-bit event selects: bits 11:8 live in EVENTSEL 35:32', () => {
    const f = filter({ action: 'deny', events: [{ eventSelect: 0x1c0, umask: 0 }] });
    expect(f.allowsGp(0x1c0, 0)).toBe(false);
    expect(f.allowsGp(0xc0, 0)).toBe(true);
    expect(f.allowsEventSel((1n << 32n) | 0x4300c0n)).toBe(false);
    expect(f.allowsEventSel(0x4300c0)).toBe(true);
  });

  it('property: GP decision = the allow/deny rule of arch/x86/kvm/pmu.c, fixed decision = bitmap rule', () => {
    const entry = fc.record({ eventSelect: fc.integer({ min: 0, max: 3 }), mask: fc.integer({ min: 0, max: 0xff }), match: fc.integer({ min: 0, max: 0xff }), exclude: fc.boolean() });
    fc.assert(
      fc.property(fc.constantFrom('allow' as const, 'deny' as const), fc.array(entry, { maxLength: 6 }), fc.nat(0xff), fc.nat(3), fc.nat(0xff), (action, masked, bitmap, es, um) => {
        const f = filter({ action, masked, fixedCounterBitmap: bitmap });
        const hit = (ex: boolean) => masked.some((m) => m.exclude === ex && m.eventSelect === es && (um & m.mask) === m.match);
        const matched = hit(false) && !hit(true);
        expect(f.allowsGp(es, um)).toBe(matched ? action === 'allow' : action === 'deny');
        for (let i = 0; i < 8; i++) expect(f.allowsFixed(i)).toBe(action === 'allow' ? ((bitmap >> i) & 1) === 1 : ((bitmap >> i) & 1) === 0);
      }),
    );
  });
});

describe('VmEventFilterSlot: a new filter takes effect at the next guest entry', () => {
  it('each vCPU switches at its own next entry; errors change nothing', () => {
    const slot = new VmEventFilterSlot();
    expect(slot.atEntry(0)).toEqual({ filter: null, changed: false });
    expect(slot.set(spec({ action: 'deny', events: [INSTRUCTIONS] }))).toEqual({ ok: true });
    expect(slot.activeFor(0)).toBeNull(); // still running under the old (no) filter
    const e0 = slot.atEntry(0);
    expect(e0.changed).toBe(true);
    expect(e0.filter!.allowsGp(0xc0, 0)).toBe(false);
    expect(slot.atEntry(0).changed).toBe(false);
    expect(slot.activeFor(1)).toBeNull();
    expect(slot.atEntry(1).filter!.allowsGp(0xc0, 0)).toBe(false);
    const bad = slot.set({ action: 7, flags: 0, fixedCounterBitmap: 0, events: [] });
    expect(bad.ok).toBe(false);
    expect(slot.atEntry(0).changed).toBe(false);
    slot.set(null);
    expect(slot.atEntry(0)).toEqual({ filter: null, changed: true });
  });
});

describe('arm64 KVM_ARM_VCPU_PMU_V3_FILTER', () => {
  it('first range ALLOW: everything else denied; later ranges add or remove', () => {
    const f = new KvmArmEventFilter();
    expect(f.allows(0x08)).toBe(true); // no filter yet
    expect(f.add({ baseEvent: 0x08, nevents: 1, action: 0 }, false)).toBeNull();
    expect(f.allows(0x08)).toBe(true);
    expect(f.allows(0x11)).toBe(false);
    expect(f.add({ baseEvent: 0x10, nevents: 4, action: 0 }, false)).toBeNull();
    expect(f.allows(0x11)).toBe(true);
    expect(f.add({ baseEvent: 0x11, nevents: 1, action: 1 }, false)).toBeNull();
    expect([f.allows(0x10), f.allows(0x11), f.allows(0x12)]).toEqual([true, false, true]);
  });

  it('first range DENY: everything else allowed', () => {
    const f = new KvmArmEventFilter();
    f.add({ baseEvent: 0x11, nevents: 1, action: 1 }, false);
    expect(f.allows(0x11)).toBe(false);
    expect(f.allows(0x08)).toBe(true);
  });

  it('EBUSY after a vCPU has run; EINVAL for a bad action or range', () => {
    const f = new KvmArmEventFilter(0x400);
    expect(f.add({ baseEvent: 0, nevents: 1, action: 0 }, true)).toBe('EBUSY');
    expect(f.hasFilter).toBe(false);
    expect(f.add({ baseEvent: 0, nevents: 1, action: 2 }, false)).toBe('EINVAL');
    expect(f.add({ baseEvent: 0x3ff, nevents: 2, action: 0 }, false)).toBe('EINVAL');
    expect(f.add({ baseEvent: 0x3ff, nevents: 1, action: 0 }, false)).toBeNull();
  });

  it('filtered common events are hidden from PMCEID', () => {
    const f = new KvmArmEventFilter();
    f.add({ baseEvent: 0x11, nevents: 1, action: 1 }, false); // deny CPU_CYCLES
    f.add({ baseEvent: 0x36, nevents: 1, action: 1 }, false); // deny LL_CACHE_RD
    const m = f.maskPmceid(0xffff_ffff, 0xffff_ffff);
    expect(m.pmceid0).toBe((0xffff_ffff & ~(1 << 0x11)) >>> 0);
    expect(m.pmceid1).toBe((0xffff_ffff & ~(1 << (0x36 - 32))) >>> 0);
  });
});
