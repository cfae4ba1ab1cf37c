// Guest perf sessions and what the world observes of the guest's counters, through HostWorld's
// records and inspect(): start and stop (scheduled and by timeline action), the samples, the
// final per-session reports and fidelity figures.
import { oneHost, SmallWorld } from '../testing/small-world.fixture';

const vm = (mode: string, session: string, vcpus = 1) => `  - id: vm1
    host: h1
    vcpus: ${vcpus}
    vpmu: { mode: ${mode} }
    workload: specint
    guestPerf:
      - ${session}`;

const observed = (w: SmallWorld, event: string, vcpu = 0) => w.of('counterSample').filter((s) => s.event === event && s.at.vcpu === vcpu);

describe('guest perf part', () => {
  it('a stat session counts from its start to its stop; its PMU programming traps under the emulated vPMU', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms: vm('emulated', '{ id: st, command: stat, events: [instructions], start: 2ms, stop: 6ms }'), duration: '10ms' })).runUntil();
    const s = observed(w, 'instructions');
    expect(s.map((x) => x.atNs)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((ms) => ms * 1_000_000));
    expect(s.filter((x) => x.atNs < 2_000_000).every((x) => x.observed === 0)).toBe(true);
    expect(s.find((x) => x.atNs === 4_000_000)!.observed).toBeGreaterThan(0);
    const after = s.filter((x) => x.atNs > 6_000_000).map((x) => x.observed);
    expect(new Set(after).size).toBe(1); // stopped: the reading no longer moves
    // The guest kernel programs its PMU at start and stop: trapped WRMSRs of PMU registers, not the timer.
    const pmuWrites = w.of('vmExit').filter((e) => e.reason === 'msr-write' && e.msr !== 0x6e0);
    expect(new Set(pmuWrites.map((e) => e.atNs))).toEqual(new Set([2_000_000, 6_000_000]));
    const report = w.of('guestPerf').filter((e) => e.command === 'stat:st');
    expect(report).toHaveLength(1);
    expect(report[0]).toMatchObject({ event: 'instructions', count: after[0], at: { host: 'h1', vm: 'vm1' } });
    expect(report[0].timeEnabledNs).toBeLessThanOrEqual(4_000_000);
    expect(report[0].timeEnabledNs).toBeGreaterThan(3_000_000);
  });

  it('a timeline action stops a session on every vCPU; the final report sums the vCPUs', () => {
    const timeline = '  - at: 3ms\n    guestPerf: { vm: vm1, session: st, action: stop }';
    const w = SmallWorld.of(oneHost({ pcpus: 2, vms: vm('passthrough', '{ id: st, command: stat, events: [instructions, cycles] }', 2), timeline, duration: '8ms' })).runUntil();
    const report = w.of('guestPerf').filter((e) => e.command === 'stat:st');
    expect(report.map((r) => r.event)).toEqual(['instructions', 'cycles']);
    for (const r of report) {
      // Two vCPUs, each enabled for at most the 3 ms before the stop.
      expect(r.timeEnabledNs).toBeLessThanOrEqual(6_000_000);
      expect(r.timeEnabledNs).toBeGreaterThan(5_000_000);
    }
    const last = (e: string, vcpu: number) => observed(w, e, vcpu).at(-1)!.observed;
    expect(report[0].count).toBe(last('instructions', 0) + last('instructions', 1));
  });

  it('samples report the truth against what the guest reads; inspect shows the same view now', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms: vm('passthrough', '{ id: st, command: stat, events: [instructions] }') })).runUntil(5_000_000);
    const s = observed(w, 'instructions');
    for (const x of s) {
      expect(x.actual).toBeGreaterThan(0);
      // A stat session over the whole run reads the truth up to the counting error of the vPMU.
      expect(Math.abs(x.observed - x.actual) / x.actual).toBeLessThan(0.01);
    }
    const insp = w.host().inspect().vcpus[0];
    expect(insp).toMatchObject({ vm: 'vm1', vcpu: 0, vpmu: 'passthrough', pcpu: 0 });
    expect(insp.guestTask).toMatch(/^specint\/0\.\d+$/);
    // At 5 ms, a ms after the last sample: more counted, the same agreement.
    const now = insp.counters.instructions;
    expect(now.actual).toBeGreaterThan(s.at(-1)!.actual);
    expect(Math.abs(now.observed - now.actual) / now.actual).toBeLessThan(0.01);
  });

  // The guest kernel schedules every event of a CPU in one perf context, whichever session opened
  // it (kernel/events/core.c: perf_install_in_context -> ctx_resched): a record session beside a
  // stat session takes the counters the stat left free and neither disturbs the other's counts.
  it.each(['passthrough', 'emulated'])('%s: a stat session and a record session at once both read their true counts', (mode) => {
    const sessions = `{ id: st, command: stat, events: [instructions, branches] }
      - { id: rec, command: record, events: [cycles, branches], sample: { freq: 1000 }, start: 1ms }`;
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms: vm(mode, sessions), duration: '20ms' })).runUntil();
    for (const event of ['instructions', 'branches']) {
      const last = observed(w, event).at(-1)!;
      expect(last.actual).toBeGreaterThan(0);
      expect(Math.abs(last.observed - last.actual) / last.actual).toBeLessThan(0.01);
    }
    const rec = w.of('guestPerf').filter((e) => e.command === 'record:rec');
    // -F 1000 for ~19 ms of guest time: the frequency loop settles around 1 sample per ms per event.
    for (const r of rec) expect(r.samples).toBeGreaterThan(5);
  });

  it('the end of the run reports each VM fidelity figures', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms: vm('emulated', '{ id: st, command: stat, events: [instructions] }'), duration: '5ms' })).runUntil();
    const fidelity = w.of('guestPerf').filter((e) => e.command === 'fidelity');
    expect(fidelity.length).toBeGreaterThan(0);
    expect(fidelity.every((e) => e.atNs === 5_000_000 && e.at.vm === 'vm1')).toBe(true);
    expect(fidelity.find((e) => e.event === 'exits')!.count).toBe(w.of('vmExit').length);
  });
});
