// libs/pmu: hardware PMU models (Intel architectural perfmon, arm64 PMUv3), CPU presets, workload
// events and rates. Pure: no I/O, no wall clock.
export * from './cpu-presets';
export * from './events';
export * from './pmu.types';
export * from './counter-bank';
export * from './intel-pmu';
export * from './amd-msr.codec';
export * from './arm-pmu';
export * from './create-pmu';
export * from './lbr-stack';
