import { CPU_PRESETS, CPU_PRESET_NAMES, armClusterOfCpus, armPmuCpus, getCpuPreset, type ArmPmuSpec } from './cpu-presets';
import { createPmuForCpu } from './create-pmu';
import { ArmPmu } from './arm-pmu';
import { IntelPmu, MSR } from './intel-pmu';

describe('CPU presets', () => {
  it('keeps the names the scenario validator accepts', () => {
    expect(CPU_PRESET_NAMES).toEqual(expect.arrayContaining(['intel-spr', 'intel-icx', 'intel-skx', 'arm-a76-a55']));
    for (const n of CPU_PRESET_NAMES) expect(getCpuPreset(n)).toBe(CPU_PRESETS[n]);
    expect(() => getCpuPreset('intel-sprr')).toThrow(/unknown CPU preset 'intel-sprr'/);
  });

  it('Intel presets state counters, fixed counters and widths', () => {
    expect(getCpuPreset('intel-spr')).toMatchObject({ gpCounters: 8, fixedCounters: 4, gpWidthBits: 48, perfmonVersion: 5 });
    expect(getCpuPreset('intel-icx')).toMatchObject({ gpCounters: 8, fixedCounters: 4, gpWidthBits: 48, perfmonVersion: 5 });
    expect(getCpuPreset('intel-skx')).toMatchObject({ gpCounters: 4, fixedCounters: 3, gpWidthBits: 48, perfmonVersion: 4 });
  });

  it('arm big.LITTLE: first half of the pCPUs big, the rest little', () => {
    const spec = getCpuPreset('arm-a76-a55') as ArmPmuSpec;
    expect(armClusterOfCpus(spec, 8)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(armClusterOfCpus(spec, 3)).toEqual([0, 0, 1]);
    expect(armClusterOfCpus(spec, 1)).toEqual([0]);
    expect(armPmuCpus(spec, 'armv8_cortex_a55', 8)).toEqual([4, 5, 6, 7]);
    expect(armPmuCpus(spec, 'nope', 8)).toEqual([]);
  });

  it('createPmuForCpu builds the pCPU\'s PMU with overrides', () => {
    const a = createPmuForCpu('arm-hetero-n6-n4', 7, 8) as ArmPmu;
    expect(a.pmuId).toBe('armv8_synthetic_little');
    expect(a.slots.length).toBe(5);
    expect(createPmuForCpu('arm-a76-a55', 0, 8).pmuId).toBe('armv8_cortex_a76');
    const i = createPmuForCpu('intel-skx', 0, 4, { gpCounters: 2, pmiSkidNs: 7 }) as IntelPmu;
    expect(i.pmiSkidNs).toBe(7);
    expect(i.rdmsr(MSR.PERF_GLOBAL_CTRL)).toEqual({ ok: true, value: 3n });
    expect(() => createPmuForCpu('intel-skx', 4, 4)).toThrow(/out of range/);
  });
});
