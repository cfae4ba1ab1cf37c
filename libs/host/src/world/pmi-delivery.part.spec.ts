// PMI delivery, through HostWorld's records: where each kind of guest PMI comes from, how it is
// recorded (counter name, vector, owner, skid), and what it costs the vCPU.
import { CostModel, PMI_VECTORS } from '@vpmu/kvm';
import { cpuNominalGhz } from '../host-presets';
import { guestPmiCounterName } from './pmi-delivery.part';
import { oneHost, SmallWorld } from '../testing/small-world.fixture';

const recordVm = (vpmu: string, workload = 'specint', period = 200000) => `  - id: vm1
    host: h1
    vcpus: 1
    vpmu: ${vpmu}
    workload: ${workload}
    guestPerf:
      - { id: rec, command: record, events: [instructions], sample: { period: ${period} } }`;

describe('PMI delivery part', () => {
  it('names a guest PMI after the vCPU, with the counter it lost or the paravirt hand-over', () => {
    expect(guestPmiCounterName('vm1', 0, 'vpmu')).toBe('vm1/vcpu0');
    expect(guestPmiCounterName('vm-a', 3, { counter: 2 })).toBe('vm-a/vcpu3/c2');
    expect(guestPmiCounterName('vm-a', 3, { counter: 33 })).toBe('vm-a/vcpu3/c33');
    expect(guestPmiCounterName('vm1', 1, 'pv')).toBe('vm1/vcpu1/pv');
  });

  it('passthrough: a guest counter overflow exits on the dedicated vector and is injected at the next entry', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms: recordVm('{ mode: passthrough }') })).runUntil(20_000_000);
    const costs = new CostModel(w.scenario.costs, cpuNominalGhz('intel-spr'));
    const pmis = w.of('pmi').filter((p) => p.owner === 'guest');
    expect(pmis.length).toBeGreaterThan(5);
    const entries = w.of('vmEntry');
    const pmiExits = w.of('vmExit').filter((e) => e.reason === 'pmi');
    for (const p of pmis) {
      expect(p).toMatchObject({ counter: 'vm1/vcpu0', deliveredTo: 'guest', vector: PMI_VECTORS.dedicated, lost: false, at: { host: 'h1', pcpu: 0, vm: 'vm1', vcpu: 0 } });
      expect(p.skidNs).toBe(p.atNs - p.overflowNs);
      expect(p.skidNs).toBeGreaterThanOrEqual(0);
      // Injected at an entry, which records it.
      expect(entries.find((e) => e.atNs === p.atNs)).toMatchObject({ pmiInjected: true });
    }
    expect(pmiExits.length).toBeGreaterThan(0);
    // The RFC switches the PMU context and calls perf_guest_exit / perf_guest_enter around the PMI's exit too.
    for (const e of pmiExits) expect(e.costNs).toBe(costs.costNs('vmExitRoundTripCycles') + costs.costNs('pmuContextSwitchCycles') + costs.costNs('perfGuestSwitchCycles'));
    expect(w.findings('pmi-misattributed')).toEqual([]);
  });

  it('emulated: the backing event host PMI forces an NMI exit; one virtual PMI is injected at re-entry', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms: recordVm('{ mode: emulated }') })).runUntil(20_000_000);
    const costs = new CostModel(w.scenario.costs, cpuNominalGhz('intel-spr'));
    const guestPmis = w.of('pmi').filter((p) => p.owner === 'guest');
    expect(guestPmis.length).toBeGreaterThan(5);
    for (const p of guestPmis) expect(p).toMatchObject({ counter: 'vm1/vcpu0', deliveredTo: 'guest', vector: PMI_VECTORS.shared, lost: false });
    const pmiExits = w.of('vmExit').filter((e) => e.reason === 'pmi');
    expect(pmiExits.length).toBeGreaterThan(0);
    const floor = costs.costNs('vmExitRoundTripCycles');
    // The figure covers the handler's exits: its six PMU MSR traps and its LVTPC write, charged one by one.
    const allowed = ['guestPmiEmulatedNs', 'guestPmiEmulatedReusedNs'].map((k) => Math.max(floor, costs.costNs(k as 'guestPmiEmulatedNs') - 7 * costs.costNs('msrTrapCycles')));
    for (const e of pmiExits) expect(allowed).toContain(e.costNs);
    // Each PMI exit is followed, after its cost, by the injection.
    for (const e of pmiExits) expect(guestPmis.some((p) => p.atNs === e.atNs + e.costNs)).toBe(true);
  });

  it('passthrough on the shared NMI vector: a PMI arriving after the exit is taken by the host and lost to the guest', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms: recordVm('{ mode: passthrough, pmiVector: shared }', 'fio', 20000), duration: '40ms' })).runUntil(40_000_000);
    const lost = w.of('pmi').filter((p) => p.lost);
    expect(lost.length).toBeGreaterThan(0);
    const misattributed = w.findings('pmi-misattributed');
    expect(misattributed).toHaveLength(lost.length);
    lost.forEach((p, k) => {
      expect(p).toMatchObject({ owner: 'guest', deliveredTo: 'host', vector: PMI_VECTORS.shared });
      expect(p.counter).toMatch(/^vm1\/vcpu0\/c\d+$/);
      expect(misattributed[k].atNs).toBe(p.atNs);
      expect(misattributed[k].detail).toContain(`guest counter ${p.counter.split('/c')[1]} overflowed at ${p.overflowNs} ns`);
    });
    // The injected ones still go to the guest on the shared vector.
    expect(w.of('pmi').filter((p) => !p.lost).every((p) => p.vector === PMI_VECTORS.shared && p.counter === 'vm1/vcpu0')).toBe(true);
  });

  it('paravirt: host event overflows are handed over before entry as one PMI record per entry', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms: recordVm('{ mode: paravirt }', 'specint', 100000) })).runUntil(20_000_000);
    const pmis = w.of('pmi').filter((p) => p.owner === 'guest');
    expect(pmis.length).toBeGreaterThan(0);
    for (const p of pmis) expect(p).toMatchObject({ counter: 'vm1/vcpu0/pv', deliveredTo: 'guest', vector: PMI_VECTORS.shared, overflowNs: p.atNs, skidNs: 0, lost: false });
  });
});
