// The paravirt part, through HostWorld's records and inspect(): the exits the guest's hypercalls
// cost and the host events they open.
import { CostModel } from '@vpmu/kvm';
import { cpuNominalGhz } from '../host-presets';
import { oneHost, SmallWorld } from '../testing/small-world.fixture';

describe('paravirt part', () => {
  it('folds the refusals of one hypercall step into one finding per kind and errno, with a count', () => {
    const vms = `  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: paravirt, pvEventLimit: 4 }
    program:
      - hypercall: { call: open, id: 10, count: 1000 }
      - hypercall: { call: open, id: 10 }`;
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms, duration: '2ms' })).runUntil();
    const limit = w.findings('pv-limit-exceeded');
    expect(limit.map((f) => [f.count, f.at.vcpu])).toEqual([[996, 0]]);
    expect(limit[0].detail).toMatch(/open id 14: .* → ENOENT to the guest \(and the same for 995 more calls of this step, ids up to 1009: 996 in all\)/);
    // A single call reports as before: one finding, no count.
    const dup = w.findings('pv-error-to-guest');
    expect(dup).toHaveLength(1);
    expect(dup[0].count).toBeUndefined();
    expect(w.host().inspect().perfEvents.filter((e) => e.id.startsWith('kvm/pv/'))).toHaveLength(4);
  });

  it('a guest perf session opens and enables its events by hypercalls, each a VMCALL exit charged with the host perf work', () => {
    const vms = `  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: paravirt }
    workload: specint
    guestPerf:
      - { id: st, command: stat, events: [instructions, cycles], start: 1ms }`;
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms, duration: '5ms' })).runUntil();
    const costs = new CostModel(w.scenario.costs, cpuNominalGhz('intel-spr'));
    const calls = w.of('vmExit').filter((e) => e.reason === 'hypercall');
    const open = costs.costNs('hypercallExitCycles') + costs.costNs('perfEventCreateNs');
    const toggle = costs.costNs('hypercallExitCycles') + costs.costNs('perfEventToggleNs');
    // Per event an open then an enable, at the session start.
    expect(calls.map((e) => e.costNs)).toEqual([open, toggle, open, toggle]);
    expect(calls.every((e) => e.atNs === 1_000_000)).toBe(true);
    const ids = w.host().inspect().perfEvents.filter((e) => e.id.startsWith('kvm/pv/'));
    expect(ids.map((e) => e.state)).toEqual(['active', 'active']);
    const last = w.of('counterSample').filter((s) => s.event === 'instructions').at(-1)!;
    expect(last.observed).toBeGreaterThan(0);
  });
});
