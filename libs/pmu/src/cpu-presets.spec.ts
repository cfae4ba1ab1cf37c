import { CPU_PRESETS, CPU_PRESET_NAMES, armClusterOfCpus, armClusterRateScales, armPmuCpus, getCpuPreset, type ArmPmuSpec } from './cpu-presets';
import { WORKLOAD_EVENT_NAMES } from './events';
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

  // capacity-dmips-mhz of the RK3588's Cortex-A76 (1024) and Cortex-A55 (530) cores,
  // arch/arm64/boot/dts/rockchip/rk3588-base.dtsi, at the preset clocks 2.6 / 1.8 GHz.
  it('arm big.LITTLE core speed: the little core\'s rates against the big core\'s from capacity-dmips-mhz x clock', () => {
    const [big, little] = armClusterRateScales(getCpuPreset('arm-a76-a55') as ArmPmuSpec, WORKLOAD_EVENT_NAMES);
    const at = (f: Float64Array, e: string) => f[WORKLOAD_EVENT_NAMES.indexOf(e as never)];
    for (const e of WORKLOAD_EVENT_NAMES) expect(at(big, e)).toBe(1);
    for (const e of ['instructions', 'branches', 'branch-misses', 'cache-references', 'cache-misses']) expect(at(little, e)).toBeCloseTo((530 * 1.8) / (1024 * 2.6), 12);
    expect(at(little, 'cycles')).toBeCloseTo(1.8 / 2.6, 12);
    expect(at(little, 'ref-cycles')).toBe(1);
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
