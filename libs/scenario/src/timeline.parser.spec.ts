// `timeline[]`: instants, one action per entry, ordering, references, and VMs followed through
// their migrations.

import { base, expectError, host, ok, okWithWarnings, type Obj } from './testing/parse-scenario.fixture';

// ---- timeline ---------------------------------------------------------------------------------------

describe('parseScenario: timeline', () => {
  const world = (timeline: unknown[], extra: Obj = {}): Obj =>
    base({
      hosts: [host({ perf: [{ id: 'p1', events: ['cycles'] }] }), host({ id: 'h2' })],
      vms: [{ id: 'vm1', host: 'h1', guestPerf: [{ id: 's1', events: ['cycles'] }] }],
      timeline,
      ...extra,
    });

  it('requires at and exactly one action', () => {
    expectError(world([{ setPmu: { vm: 'vm1', pmu: 'x' } }]), 'timeline[0].at', 'required');
    expectError(world([{ at: '1ms' }]), 'timeline[0]', 'give one action: migrate, setPmu, setFilter, hostPerf, guestPerf, fault');
    expectError(world([{ at: '1ms', setPmu: { vm: 'vm1', pmu: 'x' }, fault: { kind: 'k', target: 'h1' } }]), 'timeline[0]', 'has setPmu and fault; give one action');
    expectError(world([{ at: '1ms', migrat: {} }]), 'timeline[0].migrat', 'did you mean "migrate"?');
  });

  it('rejects at beyond the duration and warns at the very end', () => {
    expectError(world([{ at: '11ms', setPmu: { vm: 'vm1', pmu: 'x' } }]), 'timeline[0].at', '11ms is beyond the end of the run (duration 10ms)');
    expect(okWithWarnings(world([{ at: '10ms', setPmu: { vm: 'vm1', pmu: 'x' } }])).warnings[0]).toContain('no effect');
  });

  it('sorts by at, keeping file order for equal times', () => {
    const s = ok(
      world([
        { at: '3ms', setPmu: { vm: 'vm1', pmu: 'c' } },
        { at: '1ms', setPmu: { vm: 'vm1', pmu: 'a' } },
        { at: '3ms', setPmu: { vm: 'vm1', pmu: 'd' } },
        { at: '1ms', setPmu: { vm: 'vm1', pmu: 'b' } },
      ]),
    );
    expect(s.timeline.map((e) => (e.action.kind === 'setPmu' ? e.action.pmu : ''))).toEqual(['a', 'b', 'c', 'd']);
  });

  it('checks migrate references', () => {
    expectError(world([{ at: '1ms', migrate: { vm: 'vm9', to: 'h2' } }]), 'timeline[0].migrate.vm', 'unknown VM "vm9" (did you mean "vm1"?)');
    expectError(world([{ at: '1ms', migrate: { vm: 'vm1', to: 'h3' } }]), 'timeline[0].migrate.to', 'unknown host "h3"');
    expectError(world([{ at: '1ms', migrate: { vm: 'vm1' } }]), 'timeline[0].migrate.to', 'required');
  });

  it('follows a VM through its migrations', () => {
    expectError(world([{ at: '1ms', migrate: { vm: 'vm1', to: 'h1' } }]), 'timeline[0].migrate.to', 'VM vm1 is already on host h1 at 1ms');
    // listed out of order: sorted by time, h1 → h2 → h1 is fine
    expect(
      ok(
        world([
          { at: '5ms', migrate: { vm: 'vm1', to: 'h1' } },
          { at: '2ms', migrate: { vm: 'vm1', to: 'h2' } },
        ]),
      ).timeline.map((e) => e.atNs),
    ).toEqual([2e6, 5e6]);
  });

  it('rejects a migration to a host with too few pCPUs', () => {
    const s = base({ hosts: [host(), host({ id: 'small', pcpus: 1 })], vms: [{ id: 'vm1', host: 'h1', vcpus: 2 }], timeline: [{ at: '1ms', migrate: { vm: 'vm1', to: 'small' } }] });
    expectError(s, 'timeline[0].migrate.to', "VM vm1's 2 vCPUs exceed host small's 1 pCPUs");
  });

  it('warns (model refuses) when the destination lacks the vPMU mode', () => {
    const s = base({
      hosts: [host(), host({ id: 'h2', vpmuModes: ['emulated'] })],
      vms: [{ id: 'vm1', host: 'h1', vpmu: { mode: 'passthrough' } }],
      timeline: [{ at: '1ms', migrate: { vm: 'vm1', to: 'h2' } }],
    });
    expect(okWithWarnings(s).warnings[0]).toContain('will be refused');
  });

  it('checks setPmu, hostPerf and guestPerf references', () => {
    expectError(world([{ at: '1ms', setPmu: { vm: 'nope', pmu: 'x' } }]), 'timeline[0].setPmu.vm', 'unknown VM "nope"');
    expectError(world([{ at: '1ms', hostPerf: { host: 'hx', session: 'p1', action: 'start' } }]), 'timeline[0].hostPerf.host', 'unknown host "hx"');
    expectError(world([{ at: '1ms', hostPerf: { host: 'h1', session: 'p2', action: 'start' } }]), 'timeline[0].hostPerf.session', 'host h1 has no session "p2" (did you mean "p1"?)');
    expectError(world([{ at: '1ms', hostPerf: { host: 'h2', session: 'p1', action: 'start' } }]), 'timeline[0].hostPerf.session', 'host h2 has no session "p1" (none are defined)');
    expectError(world([{ at: '1ms', hostPerf: { host: 'h1', session: 'p1', action: 'pause' } }]), 'timeline[0].hostPerf.action', 'expected one of start|stop');
    expectError(world([{ at: '1ms', guestPerf: { vm: 'vmx', session: 's1', action: 'stop' } }]), 'timeline[0].guestPerf.vm', 'unknown VM "vmx"');
    expectError(world([{ at: '1ms', guestPerf: { vm: 'vm1', session: 'zz', action: 'stop' } }]), 'timeline[0].guestPerf.session', 'VM vm1 has no session "zz" (defined: s1)');
  });

  it('checks fault targets', () => {
    expect(ok(world([{ at: '1ms', fault: { kind: 'broker-restart', target: 'h2' } }])).timeline[0].action).toMatchObject({ target: 'h2' });
    expectError(world([{ at: '1ms', fault: { kind: 'x', target: 'vm2' } }]), 'timeline[0].fault.target', 'unknown host or VM "vm2" (did you mean "vm1"?)');
    expectError(world([{ at: '1ms', fault: { target: 'h1' } }]), 'timeline[0].fault.kind', 'required');
    expectError(world([{ at: '1ms', fault: { kind: 'x', target: 'h1', params: { a: [1] } } }]), 'timeline[0].fault.params.a', 'expected a string, number or boolean');
  });
});

