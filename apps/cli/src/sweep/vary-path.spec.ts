import { parseScenario, VPMU_MODES } from '@vpmu/scenario';
import { CliError } from '../cli-error';
import { cacheKey, planSweep, withoutGuestPerf } from './sweep-plan';
import { expandScenario, parseVaryFlag, resolveAxes } from './vary-path';

const BASE = `version: 1
name: vary
seed: 9
duration: 5ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
vms:
  - id: a
    host: h1
    vpmu: { mode: passthrough }
    guestPerf:
      - id: s
        command: record
        events: [instructions, cycles]
        sample: { freq: 1000 }
  - id: b
    host: h1
`;

const scenarioOf = (text: string) => {
  const r = parseScenario(text);
  if (!r.ok) throw new Error(r.errors[0].message);
  return r.scenario;
};

describe('--vary paths', () => {
  it('reads PATH=V1,V2 with YAML scalars', () => {
    expect(parseVaryFlag('vms.a.guestPerf.s.sample.freq=100,1000')).toEqual({ path: 'vms.a.guestPerf.s.sample.freq', values: [100, 1000] });
    expect(parseVaryFlag('vms[0].vpmu.mode=emulated,*')).toEqual({ path: 'vms[0].vpmu.mode', values: ['emulated', '*'] });
  });

  it('selects list items by id or index and writes the value', () => {
    expect(scenarioOf(expandScenario(BASE, [['vms.a.vpmu.mode', 'emulated']])).vms[0].vpmu.mode).toBe('emulated');
    expect(scenarioOf(expandScenario(BASE, [['vms[0].guestPerf.s.sample.freq', 250]])).vms[0].guestPerf[0].sample).toEqual({ freqHz: 250 });
    // A VM without a vpmu section gets one.
    expect(scenarioOf(expandScenario(BASE, [['vms.1.vpmu.mode', 'emulated']])).vms[1].vpmu.mode).toBe('emulated');
  });

  it('length resizes a list by cycling its items', () => {
    const s = scenarioOf(expandScenario(BASE, [['vms.a.guestPerf.s.events.length', 5]]));
    expect(s.vms[0].guestPerf[0].events).toEqual(['instructions', 'cycles', 'instructions', 'cycles', 'instructions']);
  });

  it('* on a vpmu.mode path is every mode of VPMU_MODES but none, of those the scenario accepts there', () => {
    // The mediated vPMU exists only on a mainline host (the merged series): refused on rfc-fixed.
    const [axis] = resolveAxes(BASE, [{ path: 'vms.a.vpmu.mode', values: ['*'] }]);
    expect(axis.values).toEqual(VPMU_MODES.filter((m) => m !== 'none' && m !== 'mediated'));
    // On mainline with enable_mediated_pmu a VM with a hardware vPMU is mediated (paravirt perf is its
    // own interface; the other VM here has none).
    const mainline = BASE.replace('    pcpus: 2\n', '    pcpus: 2\n    kernel: mainline\n    kvm: { enableMediatedPmu: true }\n').replace('  - id: b\n    host: h1\n', '  - id: b\n    host: h1\n    vpmu: { mode: none }\n');
    const [merged] = resolveAxes(mainline, [{ path: 'vms.a.vpmu.mode', values: ['*'] }]);
    expect(merged.values).toEqual(['paravirt', 'mediated']);
  });

  it('a missing item, a bad value and a misplaced * are CliErrors naming the path', () => {
    expect(() => resolveAxes(BASE, [{ path: 'vms.c.vpmu.mode', values: ['emulated'] }])).toThrow(/vms has no item c; .*choose one of "a", "b", \[0\]\.\.\[1\]/);
    expect(() => resolveAxes(BASE, [{ path: 'vms.a.vpmu.mode', values: ['fast'] }])).toThrow(CliError);
    expect(() => resolveAxes(BASE, [{ path: 'vms.a.vpmu.mode', values: ['fast'] }])).toThrow(/vms\[0\]\.vpmu\.mode: expected one of/);
    expect(() => resolveAxes(BASE, [{ path: 'duration', values: ['*'] }])).toThrow(/applies to a vpmu\.mode path only/);
    expect(() => resolveAxes(BASE, [{ path: 'duration.x', values: [1] }])).toThrow(/duration is a single value, so it has no key "x"/);
  });
});

describe('sweep plan', () => {
  it('is the cross product, first axis slowest, seeds innermost; baselines without guest perf are shared', () => {
    const axes = [
      { path: 'vms.a.vpmu.mode', values: ['emulated', 'passthrough'] },
      { path: 'vms.a.guestPerf.s.sample.freq', values: [100, 1000] },
    ];
    const plan = planSweep(BASE, axes, 2, 'v1');
    expect(plan.seeds).toEqual([9, 10]);
    expect(plan.points.map((p) => [...p.values, p.seed])).toEqual([
      ['emulated', 100, 9],
      ['emulated', 100, 10],
      ['emulated', 1000, 9],
      ['emulated', 1000, 10],
      ['passthrough', 100, 9],
      ['passthrough', 100, 10],
      ['passthrough', 1000, 9],
      ['passthrough', 1000, 10],
    ]);
    // 8 point runs, and one baseline per (mode, seed): the frequency is gone with guest perf.
    expect(plan.runs).toHaveLength(12);
    expect(plan.points[0].baseline!.key).toBe(plan.points[2].baseline!.key);
    expect(scenarioOf(plan.points[0].baseline!.scenarioText).vms.every((v) => v.guestPerf.length === 0)).toBe(true);
  });

  it('keys a run by scenario text, seed and tool version', () => {
    expect(cacheKey(BASE, 1, 'v1')).toBe(cacheKey(BASE, 1, 'v1'));
    expect(cacheKey(BASE, 1, 'v1')).not.toBe(cacheKey(BASE, 2, 'v1'));
    expect(cacheKey(BASE, 1, 'v1')).not.toBe(cacheKey(BASE, 1, 'v2'));
    expect(cacheKey(BASE, 1, 'v1')).not.toBe(cacheKey(BASE + '\n', 1, 'v1'));
  });

  it('a scenario without guest perf has no baseline', () => {
    expect(withoutGuestPerf(BASE.replace(/ {4}guestPerf:[\s\S]*?freq: 1000 }\n/, ''))).toBeNull();
  });
});
