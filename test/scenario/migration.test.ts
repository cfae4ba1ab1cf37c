// Live migration scenarios: phases and downtime in summary.json, ping-pong, refusals with reasons.
import { runScenarioText } from '../support/run-scenario';

const base = (vm: string, timeline: string, hosts = '') => `version: 1
name: mig-test
seed: 5
duration: 120ms
hosts:
  - id: a
    cpu: intel-spr
    pcpus: 4
  - id: b
    cpu: intel-icx
    pcpus: 4
${hosts}
vms:
${vm}
timeline:
${timeline}
`;

const VM = (mode = 'passthrough', extra = '') => `  - id: vm1
    host: a
    vcpus: 2
    memory: 64MiB
    vpmu: { mode: ${mode}${extra} }
    workload: { profile: specint }
    guestPerf:
      - { id: stat, command: stat, events: [instructions, cycles] }`;

describe('live migration', () => {
  it.each(['none', 'emulated', 'passthrough', 'paravirt'])('moves a %s VM with setup, pre-copy, stop-and-copy and resume, and its counts continue', async (mode) => {
    const run = await runScenarioText(base(VM(mode), '  - at: 20ms\n    migrate: { vm: vm1, to: b, bandwidth: 25Gbps, maxDowntime: 5ms }'));
    const vm = run.summary.vms.vm1;
    expect(vm.host).toBe('b');
    expect(vm.migrations).toHaveLength(1);
    const m = vm.migrations[0];
    expect(m).toMatchObject({ from: 'a', to: 'b', result: 'completed' });
    expect(m.phases.map((p) => p.phase)).toEqual(expect.arrayContaining(['setup', 'precopy', 'stop-and-copy', 'resume']));
    expect(m.phases[1]).toMatchObject({ phase: 'precopy', bytes: 64 * 1024 * 1024 });
    expect(m.downtimeNs).toBeGreaterThan(0);
    expect(m.downtimeNs).toBeLessThanOrEqual(5_000_000 + 1_000_000);
    expect(m.bytesSent).toBeGreaterThan(64 * 1024 * 1024);
    // The guest ran on both hosts and its counts kept growing across the move.
    expect(vm.counters.instructions.actual).toBeGreaterThan(0);
    expect(vm.workloadScore).toBeGreaterThan(100);
    expect(run.summary.findings.filter((f) => f.kind === 'migration-refused-incompatible')).toEqual([]);
  });

  it('ping-pongs a VM a -> b -> a, each leg completed', async () => {
    const run = await runScenarioText(
      base(VM(), '  - at: 10ms\n    migrate: { vm: vm1, to: b, bandwidth: 25Gbps, maxDowntime: 5ms }\n  - at: 60ms\n    migrate: { vm: vm1, to: a, bandwidth: 25Gbps, maxDowntime: 5ms }'),
    );
    const vm = run.summary.vms.vm1;
    expect(vm.migrations.map((m) => [m.from, m.to, m.result])).toEqual([
      ['a', 'b', 'completed'],
      ['b', 'a', 'completed'],
    ]);
    expect(vm.host).toBe('a');
  });

  it('is deterministic: the same migration scenario twice gives the same digest', async () => {
    const text = base(VM(), '  - at: 20ms\n    migrate: { vm: vm1, to: b, bandwidth: 25Gbps, maxDowntime: 5ms }');
    const [x, y] = [await runScenarioText(text), await runScenarioText(text)];
    expect(x.summary.digest).toBe(y.summary.digest);
  });

  it.each([
    [
      'a host without the mode',
      VM('passthrough'),
      '  - id: c\n    cpu: intel-spr\n    pcpus: 4\n    vpmuModes: [none, emulated]',
      /does not offer the passthrough vPMU mode/,
    ],
    ['a PMU that cannot do passthrough', VM('passthrough'), '  - id: c\n    cpu: arm-a76-a55\n    pcpus: 4\n    vpmuModes: [none, emulated, passthrough]', /cannot do the passthrough/],
    ['fewer counters than the guest sees', VM('emulated'), '  - id: c\n    cpu: intel-spr\n    pcpus: 4\n    pmu: { gpCounters: 2 }', /2 general-purpose counters, the guest sees 8/],
    ['an event the guest uses that the destination cannot count', VM('emulated').replace('[instructions, cycles]', '[instructions, topdown-slots]'), '  - id: c\n    cpu: intel-skx\n    pcpus: 4\n    pmu: { gpCounters: 8 }', /cannot count topdown-slots/],
  ])('refuses a destination with %s: the VM stays, the reason is reported', async (_what, vm, host, reason) => {
    const run = await runScenarioText(base(vm, '  - at: 20ms\n    migrate: { vm: vm1, to: c, bandwidth: 25Gbps, maxDowntime: 5ms }', host));
    const s = run.summary.vms.vm1;
    expect(s.host).toBe('a');
    expect(s.migrations).toHaveLength(1);
    expect(s.migrations[0].result).toMatch(reason);
    const findings = run.summary.findings.filter((f) => f.kind === 'migration-refused-incompatible');
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ vm: 'vm1', host: 'a', atNs: 20_000_000 });
    expect(findings[0].detail).toMatch(reason);
  });
});
