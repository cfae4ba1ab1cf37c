import { CostModel } from '@vpmu/kvm';
import type { PerfEventAttr } from '@vpmu/perf';
import type { VmSpec } from '@vpmu/world-spec';
import type { SimEvent } from '@vpmu/sim';
import { ParavirtWorld, PvGuestPort, type PvWorldHost } from './paravirt-world';

/** A host whose perf refuses creations with `refuse` (a host-side failure such as ENOMEM). */
class FakeHost implements PvWorldHost {
  readonly id = 'h1';
  simulatedUntilNs = 1000;
  readonly events: SimEvent[] = [];
  readonly live = new Map<string, { attr: PerfEventAttr; on: boolean }>();
  refuse: string | null = null;
  private n = 0;
  emitFromModel(e: SimEvent): void {
    this.events.push(e);
  }
  pvPerfCreate(_vm: string, _vcpu: number, attr: PerfEventAttr) {
    if (this.refuse) return { ok: false as const, errno: this.refuse };
    const id = `e${++this.n}`;
    this.live.set(id, { attr, on: false });
    return { ok: true as const, id };
  }
  pvPerfEnable(id: string) {
    this.live.get(id)!.on = true;
  }
  pvPerfDisable(id: string) {
    this.live.get(id)!.on = false;
  }
  pvPerfClose(id: string) {
    if (!this.live.delete(id)) throw new Error(`close of unknown ${id}`);
  }
  pvPerfRead(id: string) {
    if (!this.live.has(id)) throw new Error(`read of unknown ${id}`);
    return 42;
  }
}

const spec = { id: 'vm1', vpmu: { mode: 'paravirt', pvEventLimit: 4 } } as unknown as VmSpec;
const costs = new CostModel({}, 2);

describe('ParavirtWorld', () => {
  it('tells host errors (pv-host-error, nothing to the guest) from guest errors (finding + errno to the guest)', () => {
    const host = new FakeHost();
    const pv = new ParavirtWorld(host);
    pv.addVm(spec);
    host.refuse = 'ENOMEM';
    const r = pv.hypercall('vm1', 0, 'open', 1);
    expect(r).toMatchObject({ ok: false, side: 'host', errno: 'ENOMEM' });
    expect(host.events.map((e) => (e.kind === 'finding' ? e.findingKind : e.kind))).toEqual(['pv-host-error']);
    expect(pv.table('vm1')!.size).toBe(0);
    host.refuse = 'EINVAL'; // perf rejects the attribute: that one is the guest's
    expect(pv.hypercall('vm1', 0, 'open', 1)).toMatchObject({ ok: false, side: 'guest', errno: 'EINVAL' });
    expect(host.events.map((e) => (e.kind === 'finding' ? e.findingKind : e.kind))).toEqual(['pv-host-error', 'pv-error-to-guest']);
    expect(pv.hostErrors.get('vm1')).toBe(1);
  });

  it('each hypercall is one VMCALL exit; the table and host perf stay in step through races', () => {
    const host = new FakeHost();
    const pv = new ParavirtWorld(host);
    pv.addVm(spec);
    const traps: { reason: string; msr: number; costNs: number }[] = [];
    const p0 = new PvGuestPort(pv, 'vm1', 0, traps, costs);
    const p1 = new PvGuestPort(pv, 'vm1', 1, traps, costs);
    const attr = { type: 0, config: 1, samplePeriod: 0, freq: false, sampleType: 0, excludeUser: false, excludeKernel: false, flags: 0 };
    expect(p0.open(7, attr)).toEqual({ ok: true, value: 0 });
    expect(p1.close(7)).toEqual({ ok: true, value: 0 });
    expect(p0.enable(7)).toEqual({ ok: false, errno: 'EBADF' });
    expect(p0.read(7)).toEqual({ ok: false, errno: 'EBADF' });
    expect(traps).toHaveLength(4);
    expect(traps[0]).toEqual({ reason: 'hypercall', msr: 0, costNs: costs.costNs('hypercallExitCycles') + costs.costNs('perfEventCreateNs') });
    expect(traps[1].costNs).toBe(costs.costNs('hypercallExitCycles') + costs.costNs('perfEventToggleNs'));
    expect(host.live.size).toBe(pv.table('vm1')!.size);
    pv.removeVm('vm1');
    expect(host.live.size).toBe(0);
  });
});
