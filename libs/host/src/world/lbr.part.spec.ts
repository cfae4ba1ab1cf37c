// The guest LBR part, through HostWorld's records: the reads a guest with an LBR call stack makes
// and what they cost.
import { oneHost, SmallWorld } from '../testing/small-world.fixture';

describe('guest LBR part', () => {
  it('a guest recording with an LBR call stack reads the stack in its PMI handler; the run ends with per-VM LBR statistics', () => {
    const host = '    noise:\n      - { id: hog, cpus: all, period: 300us, runtime: 40us, lbr: true, priority: high }';
    const vms = `  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: passthrough, lbr: lazy, lazyLbrRelease: 2ms }
    workload: { profile: specint, tasksPerVcpu: 2 }
    guestPerf:
      - { id: rec, command: record, events: [cycles], sample: { freq: 4000 }, callGraph: lbr }`;
    const w = SmallWorld.of(oneHost({ pcpus: 1, host, vms, duration: '30ms' })).runUntil();
    const stats = new Map(w.of('guestPerf').filter((e) => e.command === 'lbr-stats:lazy').map((e) => [e.event, e.count]));
    expect(stats.get('reads')).toBeGreaterThan(0);
    const lbrExits = w.of('vmExit').filter((e) => e.reason.startsWith('lbr'));
    expect(lbrExits.length).toBeGreaterThan(0);
    expect(stats.get('msrExits')).toBe(lbrExits.filter((e) => e.reason === 'lbr-msr').length);
  });
});
