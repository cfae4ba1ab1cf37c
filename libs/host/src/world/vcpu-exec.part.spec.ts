// vCPU execution, through HostWorld's records, epoch results and inspect(): exits drawn from the
// workload and charged in host time, halts, the passthrough PMU context switch at entry.
import { CostModel } from '@vpmu/kvm';
import { cpuNominalGhz } from '../host-presets';
import { oneHost, SmallWorld } from '../testing/small-world.fixture';

const vm = (mode: string, workload: string, extra = '') => `  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: ${mode} }
    workload: ${workload}${extra}`;

const costsOf = (w: SmallWorld) => new CostModel(w.scenario.costs, cpuNominalGhz('intel-spr'));

describe('vCPU execution part', () => {
  it('draws I/O and timer exits from the workload; each costs its handling in host time', () => {
    const T = 40_000_000;
    // branchy: always busy (no halts), 200 I/O exits/s besides the 250 Hz timer.
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms: vm('emulated', 'branchy'), duration: '40ms' })).runUntil(T);
    const costs = costsOf(w);
    const exits = w.of('vmExit');
    expect(new Set(exits.map((e) => e.reason))).toEqual(new Set(['io', 'msr-write']));
    for (const e of exits) {
      if (e.reason === 'io') expect(e).toMatchObject({ costNs: costs.costNs('vmExitRoundTripCycles') + costs.costNs('ioExitHandlingNs'), msr: 0 });
      // The guest timer tick: a trapped WRMSR of IA32_TSC_DEADLINE.
      else expect(e).toMatchObject({ costNs: costs.costNs('msrTrapCycles'), msr: 0x6e0 });
    }
    // Alone on its pCPU, the vCPU is either in guest mode or handling an exit.
    const guestNs = w.host().inspect().vcpus[0].guestRunNs;
    const exitNs = exits.reduce((s, e) => s + e.costNs, 0);
    expect(guestNs + exitNs).toBeGreaterThanOrEqual(T);
    expect(guestNs + exitNs - exits[exits.length - 1].costNs).toBeLessThanOrEqual(T);
    expect(w.of('vmEntry')).toEqual([]); // emulated: no PMU context switch at entry
  });

  it('an idle guest halts: its pCPU idles until the vCPU wakes', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms: vm('emulated', 'idle') })).runUntil(20_000_000);
    const halts = w.of('vmExit').filter((e) => e.reason === 'hlt');
    expect(halts.length).toBeGreaterThan(0);
    const cs = w.of('contextSwitch');
    for (const h of halts) {
      expect(cs.find((e) => e.atNs === h.atNs)).toMatchObject({ prevThread: 'vcpu:vm1/0', nextThread: 'idle' });
      const wake = cs.find((e) => e.atNs > h.atNs);
      if (wake) expect(wake).toMatchObject({ prevThread: 'idle', nextThread: 'vcpu:vm1/0' });
    }
  });

  // The RFC cover letter ("[RFC PATCH 00/41] KVM: x86/pmu: Introduce passthrough vPMU", Jan 2024,
  // Implementation): at every VM-entry perf_guest_enter + PMI vector switch + guest context restore,
  // at every VM-exit guest context save + vector switch + perf_guest_exit, whatever the exit.
  it('passthrough (RFC): every exit also pays the PMU context save/restore and perf_guest_exit/enter, and each entry records the switch', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms: vm('passthrough', 'fio') })).runUntil(10_000_000);
    const costs = costsOf(w);
    const switchNs = costs.costNs('pmuContextSwitchCycles') + costs.costNs('perfGuestSwitchCycles');
    const io = w.of('vmExit').filter((e) => e.reason === 'io');
    expect(io.length).toBeGreaterThan(0);
    for (const e of io) expect(e.costNs).toBe(costs.costNs('vmExitRoundTripCycles') + costs.costNs('ioExitHandlingNs') + switchNs);
    const entries = w.of('vmEntry');
    expect(entries.length).toBeGreaterThan(io.length);
    for (const e of entries) expect(e).toMatchObject({ pmuSwitchNs: switchNs, pmiInjected: false, at: { host: 'h1', pcpu: 0, vm: 'vm1', vcpu: 0 } });
    // Each handled exit re-enters exactly after its cost.
    for (const e of io) expect(entries.some((x) => x.atNs === e.atNs + e.costNs)).toBe(true);
  });

  it('an epoch reports the workload done in it: instructions over the guest time, at most the epoch', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms: vm('emulated', 'specint') }));
    const h = w.host();
    const a = h.runEpoch(0, 1_000_000);
    const b = h.runEpoch(1_000_000, 2_000_000);
    for (const r of [a, b]) {
      expect(r.guestOutputs).toHaveLength(1);
      expect(r.guestOutputs[0].vm).toBe('vm1');
      expect(r.guestOutputs[0].guestNs).toBeGreaterThan(0);
      expect(r.guestOutputs[0].guestNs).toBeLessThanOrEqual(1_000_000);
      expect(r.guestOutputs[0].workloadUnits).toBeGreaterThan(r.guestOutputs[0].guestNs); // specint retires > 1 instruction per ns
    }
    expect(h.simulatedUntilNs).toBe(2_000_000);
    expect(h.inspect().vcpus[0].guestRunNs).toBe(a.guestOutputs[0].guestNs + b.guestOutputs[0].guestNs);
  });
});
