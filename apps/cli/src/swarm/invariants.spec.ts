import type { CounterSampleEvent } from '@vpmu/sim';
import type { RunSummary, VmSummary } from '@vpmu/summary';
import { checkSummary, guestPerfWindowChanges, RunEventsFold } from './invariants';
import type { WorldDoc } from './world-generator';

function world(extra: Partial<WorldDoc> = {}): WorldDoc {
  return {
    version: 1,
    name: 'w',
    seed: 1,
    duration: '4000us',
    epoch: '1000us',
    checkpointEvery: 1,
    sampleInterval: '500us',
    hosts: [{ id: 'h1', cpu: 'intel-spr', pcpus: 2, vpmuModes: ['passthrough'], nmiWatchdog: true }],
    vms: [{ id: 'vm1', host: 'h1', vcpus: 1, memory: '64MiB', vpmu: { mode: 'passthrough' }, workload: { profile: 'specint' } }],
    timeline: [],
    ...extra,
  };
}

function vmSummary(extra: Partial<VmSummary> = {}): VmSummary {
  return { host: 'h1', vpmu: 'passthrough', workloadScore: 1, guestRunNs: 1_000_000, counters: {}, vmExits: {}, pmis: { delivered: 0, lost: 0 }, program: [], migrations: [], guestPerf: [], ...extra };
}

function summary(vms: Record<string, VmSummary>, extra: Partial<RunSummary> = {}): RunSummary {
  return {
    schema: 1,
    run: { id: 'r', scenario: 'w', seed: 1, durationNs: 4e6, epochs: 4, toolVersion: 't', transport: 'in-process' },
    digest: 'd',
    contentDigest: 'c',
    events: { total: 0, byKind: {} },
    vms,
    hosts: { h1: { cpu: 'intel-spr', pcpus: 2, contextSwitches: 0, perfEvents: [] } },
    findings: [],
    deadLetters: 0,
    ...extra,
  };
}

const finding = (kind: string) => ({ kind, atNs: 5, lastAtNs: 5, count: 1, host: 'h1', vm: 'vm1', vcpu: 0, detail: 'x' });
const sample = (atNs: number, actual: number, observed = actual, host = 'h1'): CounterSampleEvent => ({ kind: 'counterSample', atNs, at: { host, vm: 'vm1', vcpu: 0 }, event: 'instructions', actual, observed });

describe('swarm invariants on summary.json', () => {
  it('a counter-leak or filter-bypass finding is a violation unless the world injects its test-only cause', () => {
    expect(checkSummary(world(), summary({ vm1: vmSummary() }, { findings: [finding('counter-leak')] })).map((v) => v.invariant)).toEqual(['no-counter-leak']);
    expect(checkSummary(world(), summary({ vm1: vmSummary() }, { findings: [finding('filter-bypass')] })).map((v) => v.invariant)).toEqual(['no-filter-bypass']);
    const caused = world({ timeline: [{ at: '0us', fault: { kind: 'test-leak-host-counter', target: 'vm1' } }] });
    expect(checkSummary(caused, summary({ vm1: vmSummary() }, { findings: [finding('counter-leak')] }))).toEqual([]);
    // The swarm's test hook plants the cause without declaring it.
    expect(checkSummary(caused, summary({ vm1: vmSummary() }, { findings: [finding('counter-leak')] }), { undeclaredFaults: ['test-leak-host-counter'] })).toHaveLength(1);
  });

  it('time_running never exceeds time_enabled (perf multiplexing: running is the share of enabled with a counter)', () => {
    const gp = { command: 'stat', event: 'cycles', count: 10, timeEnabledNs: 100, timeRunningNs: 101, samples: 0 };
    expect(checkSummary(world(), summary({ vm1: vmSummary({ guestPerf: [gp] }) })).map((v) => v.invariant)).toEqual(['time-running-le-enabled']);
    expect(checkSummary(world(), summary({ vm1: vmSummary({ guestPerf: [{ ...gp, timeRunningNs: 100 }] }) }))).toEqual([]);
  });

  it('a sampling event with a fixed period takes at most floor(events / period) samples', () => {
    const w = world();
    w.vms[0].guestPerf = [{ id: 'rec', command: 'record', events: ['cycles'], sample: { period: 1000 } }];
    const gp = { command: 'record:rec', event: 'cycles', count: 2999, timeEnabledNs: 1, timeRunningNs: 1, samples: 3 };
    expect(checkSummary(w, summary({ vm1: vmSummary({ guestPerf: [gp] }) })).map((v) => v.invariant)).toEqual(['overflows-per-period']);
    expect(checkSummary(w, summary({ vm1: vmSummary({ guestPerf: [{ ...gp, samples: 2 }] }) }))).toEqual([]);
  });

  it('a guest count never exceeds what the guest could retire in its run time (8 IPC at 10 GHz)', () => {
    const gp = { command: 'stat:s', event: 'branches', count: 281_474_979_281_398, timeEnabledNs: 1, timeRunningNs: 1, samples: 0 };
    expect(checkSummary(world(), summary({ vm1: vmSummary({ guestRunNs: 5_000_000, guestPerf: [gp] }) })).map((v) => v.invariant)).toEqual(['guest-counts-physical']);
    expect(checkSummary(world(), summary({ vm1: vmSummary({ guestRunNs: 5_000_000, guestPerf: [{ ...gp, count: 20_000_000 }] }) }))).toEqual([]);
  });

  it('every raised PMI is delivered, lost or still in flight at the end', () => {
    const fidelity = (raised: number, pending = 0) => ({ pmis: { precise: true, raised, delivered: 3, lost: 1, pending, late: 0, imprecise: 0, skidP50Ns: 0, skidMaxNs: 0, skidToleranceNs: 0 } }) as unknown as VmSummary['fidelity'];
    expect(checkSummary(world(), summary({ vm1: vmSummary({ fidelity: fidelity(5) }) })).map((v) => v.invariant)).toEqual(['pmis-accounted']);
    expect(checkSummary(world(), summary({ vm1: vmSummary({ fidelity: fidelity(4) }) }))).toEqual([]);
    expect(checkSummary(world(), summary({ vm1: vmSummary({ fidelity: fidelity(5, 1) }) }))).toEqual([]);
  });
});

describe('swarm invariants on the recorded counter samples', () => {
  it('the true count never falls', () => {
    const fold = new RunEventsFold(new Set());
    fold.onEvents([sample(500, 10), sample(1000, 9)]);
    expect(fold.violations.map((v) => v.invariant)).toEqual(['counters-monotonic']);
  });

  it('the guest-observed count continues across a migration, unless the guest program writes counters', () => {
    const fold = new RunEventsFold(new Set());
    fold.onEvents([sample(500, 10, 10, 'h1'), sample(1000, 20, 5, 'h2')]);
    expect(fold.violations.map((v) => v.invariant)).toEqual(['migration-continuity']);
    const writer = new RunEventsFold(new Set(['vm1']));
    writer.onEvents([sample(500, 10, 10, 'h1'), sample(1000, 20, 5, 'h2')]);
    expect(writer.violations).toEqual([]);
  });

  it('a guest perf session starting changes the baseline once (observation.part.ts counterView)', () => {
    const w = world();
    w.vms[0].guestPerf = [{ id: 's', command: 'stat', events: ['instructions'], start: '700us' }];
    const changes = guestPerfWindowChanges(w);
    expect(changes.get('vm1')).toEqual([700_000]);
    const fold = new RunEventsFold(new Set(), changes);
    // The session took effect at the next guest entry: the drop comes one sample later.
    fold.onEvents([sample(500_000, 100), sample(1_000_000, 150), sample(1_500_000, 20), sample(2_000_000, 40)]);
    expect(fold.violations).toEqual([]);
    fold.onEvents([sample(2_500_000, 30)]);
    expect(fold.violations.map((v) => v.invariant)).toEqual(['counters-monotonic']);
  });
});
