// STUB (owned by the libs/pmu work): CPU preset names the scenario validator accepts.
export const CPU_PRESET_NAMES = ['intel-spr', 'intel-icx', 'intel-skx', 'arm-a76-a55'] as const;
export type CpuPresetName = (typeof CPU_PRESET_NAMES)[number];
