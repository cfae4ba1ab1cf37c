// Builds the hardware PMU of one pCPU from a CPU preset (and the scenario's `hosts[].pmu`
// overrides). On heterogeneous arm hosts the pCPU's cluster decides the PMU (docs/cpu-presets.md).

import { ArmPmu, armConfigFromCluster } from './arm-pmu';
import { armClusterOfCpus, getCpuPreset } from './cpu-presets';
import { IntelPmu, intelConfigFromPreset } from './intel-pmu';
import type { PmuModel } from './pmu.types';

export interface PmuOverrides {
  gpCounters?: number;
  fixedCounters?: number;
  counterWidth?: number;
  pmiSkidNs?: number;
}

export function createPmuForCpu(presetName: string, pcpu: number, pcpus: number, overrides: PmuOverrides = {}): PmuModel {
  const preset = getCpuPreset(presetName);
  if (!(Number.isInteger(pcpu) && pcpu >= 0 && pcpu < pcpus)) throw new Error(`pCPU ${pcpu} out of range 0..${pcpus - 1}`);
  if (preset.arch === 'intel') {
    return new IntelPmu(
      intelConfigFromPreset(preset, {
        ...(overrides.gpCounters !== undefined && { gpCounters: overrides.gpCounters }),
        ...(overrides.fixedCounters !== undefined && { fixedCounters: overrides.fixedCounters }),
        ...(overrides.counterWidth !== undefined && { gpWidthBits: overrides.counterWidth, fixedWidthBits: overrides.counterWidth }),
        ...(overrides.pmiSkidNs !== undefined && { pmiSkidNs: overrides.pmiSkidNs }),
      }),
    );
  }
  const cluster = preset.clusters[armClusterOfCpus(preset, pcpus)[pcpu]];
  return new ArmPmu(
    armConfigFromCluster(cluster, {
      ...(overrides.gpCounters !== undefined && { counters: overrides.gpCounters }),
      ...(overrides.counterWidth !== undefined && { counterWidthBits: overrides.counterWidth }),
      ...(overrides.pmiSkidNs !== undefined && { pmiSkidNs: overrides.pmiSkidNs }),
    }),
  );
}
