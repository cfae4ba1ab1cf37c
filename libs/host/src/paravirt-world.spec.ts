import { CostModel, type VcpuWorldPort } from '@vpmu/kvm';
import type { PerfEventAttr } from '@vpmu/perf';
import type { VmSpec } from '@vpmu/world-spec';
import type { SimEvent } from '@vpmu/sim';
import { ParavirtWorld, type PvWorldHost } from './paravirt-world';

/** A host whose perf refuses creations with `refuse` (a host-side failure such as ENOMEM). */
class FakeHost implements PvWorldHost {
  readonly id = 'h1';
  nowNs = 1000;
  readonly events: SimEvent[] = [];
  readonly live = new Map<string, { attr: PerfEventAttr; on: boolean; vcpu: number }>();
  refuse: string | null = null;
  private n = 0;
  emit(e: SimEvent): void {
    this.events.push(e);
  }
  /** vCPU `vcpu`'s port: its perf operations land in `live`. */
  port(vcpu: number): VcpuWorldPort {
    return {
      vcpu,
      nowNs: this.nowNs,
      costs,
      emitFinding: () => undefined,
      loadedPmu: () => {
        throw new Error('no PMU context in a paravirt guest');
      },
      perfCreate: (attr) => {
        if (this.refuse) return { ok: false, errno: this.refuse };
        const id = `e${++this.n}`;
        this.live.set(id, { attr, on: false, vcpu });
        return { ok: true, id };
      },
      perfEnable: (id) => void (this.live.get(id)!.on = true),
      perfDisable: (id) => void (this.live.get(id)!.on = false),
      perfClose: (id) => {
        if (!this.live.delete(id)) throw new Error(`close of unknown ${id}`);
      },
      perfRead: (id) => {
        if (!this.live.has(id)) throw new Error(`read of unknown ${id}`);
        return { count: 42, enabledNs: 0, runningNs: 0 };
      },
      perfSetPeriod: () => undefined,
    };
  }
}

const spec = { id: 'vm1', vpmu: { mode: 'paravirt', pvEventLimit: 4 } } as unknown as VmSpec;
const costs = new CostModel({}, 2);
const attr = { type: 0, config: 1, samplePeriod: 0, freq: false, sampleType: 0, excludeUser: false, excludeKernel: false, flags: 0 };

describe('ParavirtWorld', () => {
  it('tells host errors (pv-host-error, nothing to the guest) from guest errors (finding + errno to the guest)', () => {
    const host = new FakeHost();
    const pv = new ParavirtWorld(host);
    pv.addVm(spec);
    host.refuse = 'ENOMEM';
    const r = pv.hypercall(host.port(0), 'vm1', 'open', 1);
    expect(r).toMatchObject({ ok: false, side: 'host', errno: 'ENOMEM' });
    expect(host.events.map((e) => (e.kind === 'finding' ? e.findingKind : e.kind))).toEqual(['pv-host-error']);
    expect(host.events[0].at).toEqual({ host: 'h1', vm: 'vm1', vcpu: 0 });
    expect(pv.table('vm1')!.size).toBe(0);
    host.refuse = 'EINVAL'; // perf rejects the attribute: that one is the guest's
    expect(pv.hypercall(host.port(0), 'vm1', 'open', 1)).toMatchObject({ ok: false, side: 'guest', errno: 'EINVAL' });
    expect(host.events.map((e) => (e.kind === 'finding' ? e.findingKind : e.kind))).toEqual(['pv-host-error', 'pv-error-to-guest']);
    expect(pv.hostErrors.get('vm1')).toBe(1);
  });

  it('creates disabled host events (no forced exclude_host, as the 2010 patch) on the calling vCPU; the table and host perf stay in step through races', () => {
    const host = new FakeHost();
    const pv = new ParavirtWorld(host);
    pv.addVm(spec);
    expect(pv.hypercall(host.port(1), 'vm1', 'open', 7, attr)).toEqual({ ok: true });
    expect([...host.live.values()]).toEqual([{ attr: { event: 'instructions', disabled: true }, on: false, vcpu: 1 }]);
    expect(pv.peek(host.port(0), 'vm1', 7)).toBe(42);
    expect(pv.hypercall(host.port(0), 'vm1', 'close', 7)).toEqual({ ok: true, value: 0 });
    expect(pv.hypercall(host.port(1), 'vm1', 'enable', 7)).toMatchObject({ ok: false, side: 'guest', errno: 'EBADF' });
    expect(pv.peek(host.port(0), 'vm1', 7)).toBeNull();
    expect(pv.hypercall(host.port(0), 'vm1', 'open', 8, attr)).toEqual({ ok: true });
    expect(host.live.size).toBe(pv.table('vm1')!.size);
    pv.removeVm('vm1', host.port(0));
    expect(host.live.size).toBe(0);
    expect(pv.table('vm1')).toBeUndefined();
  });

  it('a VM without the paravirtual interface answers EOPNOTSUPP', () => {
    const host = new FakeHost();
    const pv = new ParavirtWorld(host);
    expect(pv.hypercall(host.port(0), 'vm9', 'read', 1)).toMatchObject({ ok: false, side: 'guest', errno: 'EOPNOTSUPP' });
    expect(host.events.map((e) => (e.kind === 'finding' ? e.findingKind : e.kind))).toEqual(['pv-error-to-guest']);
  });
});
