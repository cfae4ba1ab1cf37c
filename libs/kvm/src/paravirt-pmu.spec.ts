import fc from 'fast-check';
import type { PerfEventAttr, PerfHooks } from '@vpmu/perf';
import { PERF_TYPE_HARDWARE, PERF_TYPE_RAW, PvPerfTable, type PvHostPerfPort, type PvPerfAttr, type PvResult } from './paravirt-pmu';

/** A host perf stand-in that records every misuse instead of crashing; `of(n)` is vCPU n's port. */
class FakeHostPerf {
  readonly live = new Map<string, { attr: PerfEventAttr; vcpu: number; enabled: boolean; count: number; hooks: PerfHooks }>();
  readonly closed = new Set<string>();
  readonly violations: string[] = [];
  readonly log: string[] = [];
  refuseNext: string | null = null;
  private next = 0;

  of(vcpu: number): PvHostPerfPort {
    return {
      vcpu,
      perfCreate: (attr, hooks) => this.create(attr, hooks, vcpu),
      perfEnable: (id) => this.enable(id, vcpu),
      perfDisable: (id) => this.disable(id),
      perfClose: (id) => this.close(id),
      perfRead: (id) => ({ count: this.read(id), enabledNs: 0, runningNs: 0 }),
    };
  }
  create(attr: PerfEventAttr, hooks: PerfHooks, vcpu: number) {
    if (this.refuseNext) {
      const errno = this.refuseNext;
      this.refuseNext = null;
      return { ok: false as const, errno };
    }
    const id = `h${this.next++}`;
    this.live.set(id, { attr, vcpu, enabled: false, count: 0, hooks });
    this.log.push(`create ${id} ${attr.event}`);
    return { ok: true as const, id };
  }
  private get(op: string, id: string) {
    const e = this.live.get(id);
    if (!e) this.violations.push(`${op} on ${this.closed.has(id) ? 'closed' : 'unknown'} ${id}`);
    return e;
  }
  enable(id: string, vcpu: number) {
    const e = this.get('enable', id);
    if (e) {
      e.enabled = true;
      e.vcpu = vcpu;
    }
    this.log.push(`enable ${id}`);
  }
  disable(id: string) {
    const e = this.get('disable', id);
    if (e) e.enabled = false;
    this.log.push(`disable ${id}`);
  }
  close(id: string) {
    if (this.get('close', id)) {
      this.live.delete(id);
      this.closed.add(id);
    }
    this.log.push(`close ${id}`);
  }
  read(id: string) {
    return this.get('read', id)?.count ?? 0;
  }
}

const ATTR: PvPerfAttr = { type: PERF_TYPE_HARDWARE, config: 1, samplePeriod: 0, freq: false, sampleType: 0, excludeUser: false, excludeKernel: false, flags: 0 };
const attr = (over: Partial<PvPerfAttr>): PvPerfAttr => ({ ...ATTR, ...over });
const guestErr = (r: PvResult) => (r.ok ? null : r.side === 'guest' ? { errno: r.errno, finding: r.finding.findingKind } : { host: r.errno });

describe('PvPerfTable: hypercalls', () => {
  it('open → enable → read → disable → close drives an initially disabled host event, exclude_host only if the guest asks (the patch copies attr->flags)', () => {
    const port = new FakeHostPerf();
    const pv = new PvPerfTable({ vmId: 'vm1' });
    expect(pv.limit).toBe(1024);
    expect(pv.open(port.of(0), 7, attr({ config: 0, samplePeriod: 100_000, sampleType: 1 }))).toEqual({ ok: true });
    const [hostId] = [...port.live.keys()];
    expect(port.live.get(hostId)!.attr).toEqual({ event: 'cycles', samplePeriod: 100_000, disabled: true });
    expect(pv.enable(port.of(1), 7)).toEqual({ ok: true });
    expect(port.live.get(hostId)!.vcpu).toBe(1);
    port.live.get(hostId)!.count = 1234;
    expect(pv.read(port.of(0), 7)).toEqual({ ok: true, value: 1234 });
    expect(pv.disable(port.of(0), 7)).toEqual({ ok: true });
    expect(pv.close(port.of(0), 7)).toEqual({ ok: true, value: 0 });
    expect(port.live.size).toBe(0);
    expect(port.violations).toEqual([]);
  });

  it('duplicate id → EEXIST to the guest; the first event is kept', () => {
    const port = new FakeHostPerf();
    const pv = new PvPerfTable({ vmId: 'vm1' });
    pv.open(port.of(0), 1, ATTR);
    expect(guestErr(pv.open(port.of(1), 1, ATTR))).toEqual({ errno: 'EEXIST', finding: 'pv-error-to-guest' });
    expect(pv.size).toBe(1);
  });

  it.each<[string, string, Partial<PvPerfAttr>]>([
    ['unknown type', 'EINVAL', { type: 9 }],
    ['unknown hardware config', 'EINVAL', { config: 42 }],
    ['a valid config the host cannot count (bus cycles)', 'ENOENT', { config: 6 }],
    ['sampling with period 0', 'EINVAL', { sampleType: 0x1, samplePeriod: 0 }],
    ['sampling with frequency 0', 'EINVAL', { sampleType: 0x1, samplePeriod: 0, freq: true }],
    ['frequency above perf_event_max_sample_rate', 'EINVAL', { sampleType: 0x1, samplePeriod: 200_000, freq: true }],
    ['reserved flags', 'EINVAL', { flags: 0x80 }],
    ['unknown sample_type bits', 'EINVAL', { sampleType: 2 ** 30 }],
    ['exclude_user (unsupported)', 'EOPNOTSUPP', { excludeUser: true }],
    ['exclude_kernel (unsupported)', 'EOPNOTSUPP', { excludeKernel: true }],
    ['raw events without a raw decoder', 'EINVAL', { type: PERF_TYPE_RAW, config: 0xc0 }],
  ])('bad attribute: %s → %s to the guest, never created', (_name, errnoWanted, over) => {
    const port = new FakeHostPerf();
    const pv = new PvPerfTable({ vmId: 'vm1' });
    const r = pv.open(port.of(0), 1, attr(over));
    expect(guestErr(r)).toEqual({ errno: errnoWanted, finding: 'pv-error-to-guest' });
    expect(port.log).toEqual([]);
    expect(pv.size).toBe(0);
  });

  it('exclude_user/kernel and raw events are accepted when the host supports them', () => {
    const port = new FakeHostPerf();
    const pv = new PvPerfTable({ vmId: 'vm1', supportsPrivilegeFilter: true, rawEventName: (c) => (c === 0xc0 ? 'instructions' : null) });
    expect(pv.open(port.of(0), 1, attr({ excludeKernel: true }))).toEqual({ ok: true });
    expect(pv.open(port.of(0), 2, attr({ type: PERF_TYPE_RAW, config: 0xc0 }))).toEqual({ ok: true });
    expect(guestErr(pv.open(port.of(0), 3, attr({ type: PERF_TYPE_RAW, config: 0x1234 })))).toEqual({ errno: 'ENOENT', finding: 'pv-error-to-guest' });
    expect([...port.live.values()].map((e) => [e.attr.event, e.attr.excludeKernel ?? false])).toEqual([
      ['instructions', true],
      ['instructions', false],
    ]);
  });

  it('the per-VM limit: ENOENT + pv-limit-exceeded (kvm_pv_perf_op_open returns -ENOENT); a close frees a slot', () => {
    const port = new FakeHostPerf();
    const pv = new PvPerfTable({ vmId: 'vm1', limit: 2 });
    pv.open(port.of(0), 1, ATTR);
    pv.open(port.of(0), 2, ATTR);
    expect(guestErr(pv.open(port.of(0), 3, ATTR))).toEqual({ errno: 'ENOENT', finding: 'pv-limit-exceeded' });
    expect(port.live.size).toBe(2);
    pv.close(port.of(0), 1);
    expect(pv.open(port.of(0), 3, ATTR)).toEqual({ ok: true });
  });

  it('host errors go to the VMM, not the guest, and consume no slot', () => {
    const port = new FakeHostPerf();
    const pv = new PvPerfTable({ vmId: 'vm1', limit: 1 });
    port.refuseNext = 'EBUSY';
    const r = pv.open(port.of(0), 1, ATTR);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.side).toBe('host');
    expect(!r.ok && r.errno).toBe('EBUSY');
    expect(pv.size).toBe(0);
    expect(pv.open(port.of(0), 1, ATTR)).toEqual({ ok: true }); // the slot was not leaked
    // A host perf refusal of the attribute itself is the guest's problem.
    const pv2 = new PvPerfTable({ vmId: 'vm2' });
    port.refuseNext = 'EOPNOTSUPP';
    expect(guestErr(pv2.open(port.of(0), 1, ATTR))).toEqual({ errno: 'EOPNOTSUPP', finding: 'pv-error-to-guest' });
  });

  it('close racing enable on two vCPUs: the loser gets a stale id, the host sees nothing on the closed event', () => {
    const port = new FakeHostPerf();
    const pv = new PvPerfTable({ vmId: 'vm1' });
    pv.open(port.of(0), 5, ATTR);
    expect(pv.close(port.of(1), 5)).toEqual({ ok: true, value: 0 }); // vCPU 1 wins
    const r = pv.enable(port.of(0), 5); // vCPU 0's enable lands after the close
    expect(guestErr(r)).toEqual({ errno: 'EBADF', finding: 'pv-stale-id' });
    expect(!r.ok && r.reason).toMatch(/id 5 was closed/);
    expect(guestErr(pv.close(port.of(0), 5))).toEqual({ errno: 'EBADF', finding: 'pv-stale-id' });
    expect(!pv.read(port.of(0), 99).ok && (pv.read(port.of(0), 99) as { reason: string }).reason).toMatch(/never opened/);
    expect(port.violations).toEqual([]);
    expect(port.log.filter((l) => l.startsWith('close'))).toHaveLength(1);
  });

  it('overflows accumulate host-side and reach the owning vCPU once, at its next entry', () => {
    const port = new FakeHostPerf();
    const pv = new PvPerfTable({ vmId: 'vm1' });
    pv.open(port.of(0), 1, attr({ samplePeriod: 1000, sampleType: 1 }));
    pv.enable(port.of(0), 1);
    const h = pv.hostIdOf(1)!;
    // The table is the host event's overflow handler: perf's PMI reaches it through PerfHooks.
    port.live.get(h)!.hooks.onSample!(h, 0, 0);
    pv.onHostOverflow(h, 2);
    expect(pv.vcpusWithPending()).toEqual([0]);
    expect(pv.syncBeforeEntry(port.of(1))).toEqual([]);
    port.live.get(h)!.count = 3000;
    expect(pv.syncBeforeEntry(port.of(0))).toEqual([{ id: 1, overflows: 3, count: 3000 }]);
    expect(pv.syncBeforeEntry(port.of(0))).toEqual([]);
    // The guest task moved: re-enabled on vCPU 1, which now receives the overflows.
    pv.enable(port.of(1), 1);
    pv.onHostOverflow(h);
    expect(pv.syncBeforeEntry(port.of(0))).toEqual([]);
    expect(pv.syncBeforeEntry(port.of(1)).map((d) => d.overflows)).toEqual([1]);
    // Pending overflows go with a close; late ones for a closed event are ignored, not errors.
    pv.onHostOverflow(h, 4);
    expect(pv.close(port.of(0), 1)).toEqual({ ok: true, value: 4 });
    pv.onHostOverflow(h);
    expect(pv.lateOverflowsIgnored).toBe(1);
    expect(pv.syncBeforeEntry(port.of(1))).toEqual([]);
  });
});

describe('PvPerfTable: a malicious guest on two vCPUs never corrupts anything (property)', () => {
  type Cmd =
    | { k: 'open'; vm: number; vcpu: number; id: number; attr: Partial<PvPerfAttr> }
    | { k: 'close' | 'enable' | 'disable' | 'read'; vm: number; vcpu: number; id: number }
    | { k: 'overflow'; vm: number; id: number; n: number }
    | { k: 'sync'; vm: number; vcpu: number }
    | { k: 'refuse'; errno: string };

  const vm = fc.constantFrom(0, 0, 0, 1);
  const vcpu = fc.constantFrom(0, 1);
  const id = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom(-1, 1e6));
  const badAttr = fc.constantFrom<Partial<PvPerfAttr>>(
    {},
    { config: 0, samplePeriod: 1000, sampleType: 1 },
    { type: 9 },
    { config: 99 },
    { sampleType: 1, samplePeriod: 0 },
    { excludeUser: true },
    { flags: 4 },
  );
  const cmd: fc.Arbitrary<Cmd> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ k: fc.constant('open' as const), vm, vcpu, id, attr: badAttr }) },
    { weight: 5, arbitrary: fc.record({ k: fc.constantFrom('close' as const, 'enable' as const, 'disable' as const, 'read' as const), vm, vcpu, id }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('overflow' as const), vm, id, n: fc.integer({ min: 1, max: 3 }) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('sync' as const), vm, vcpu }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('refuse' as const), errno: fc.constantFrom('EBUSY', 'ENOSPC', 'ENOMEM', 'EINVAL') }) },
  );

  it('count <= limit, unique ids, no double close, no leak, overflows conserved, other VM untouched', () => {
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 120 }), fc.integer({ min: 0, max: 4 }), (cmds, limit) => {
        const port = new FakeHostPerf();
        const tables = [new PvPerfTable({ vmId: 'a', limit }), new PvPerfTable({ vmId: 'b', limit: 3 })];
        const injected = [0, 0];
        const accounted = [0, 0];
        for (const c of cmds) {
          const target = c.k === 'refuse' ? -1 : c.vm;
          const others = tables.map((t, i) => (i === target ? null : JSON.stringify(t.snapshot())));
          switch (c.k) {
            case 'refuse':
              port.refuseNext = c.errno;
              break;
            case 'open':
              tables[c.vm].open(port.of(c.vcpu), c.id, attr(c.attr));
              break;
            case 'close': {
              const r = tables[c.vm].close(port.of(c.vcpu), c.id);
              if (r.ok) accounted[c.vm] += r.value ?? 0;
              break;
            }
            case 'enable':
            case 'disable':
            case 'read':
              tables[c.vm][c.k](port.of(c.vcpu), c.id);
              break;
            case 'overflow': {
              // A real host id when the guest id is open, else a stale one.
              const h = tables[c.vm].hostIdOf(c.id) ?? `h-stale-${c.id}`;
              if (tables[c.vm].hostIdOf(c.id) !== undefined) injected[c.vm] += c.n;
              tables[c.vm].onHostOverflow(h, c.n);
              break;
            }
            case 'sync':
              for (const d of tables[c.vm].syncBeforeEntry(port.of(c.vcpu))) accounted[c.vm] += d.overflows;
              break;
          }
          tables.forEach((t, i) => {
            if (others[i] !== null) expect(JSON.stringify(t.snapshot())).toBe(others[i]);
            const snap = t.snapshot();
            expect(snap.length).toBeLessThanOrEqual(t.limit);
            expect(new Set(snap.map((s) => s.id)).size).toBe(snap.length);
            const pending = snap.reduce((s, e) => s + e.pendingOverflows, 0);
            expect(accounted[i] + pending).toBe(injected[i]);
          });
          const tableHostIds = tables.flatMap((t) => t.snapshot().map((s) => s.hostId)).sort();
          expect([...port.live.keys()].sort()).toEqual(tableHostIds); // no leaked, no dangling host event
          expect(port.violations).toEqual([]);
        }
        tables.forEach((t) => t.destroy(port.of(0)));
        expect(port.live.size).toBe(0);
        expect(port.violations).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
