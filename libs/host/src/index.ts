// libs/host: one simulated physical host (pCPUs, host scheduler, vCPU and noise threads).
export * from './host-world';
export * from './host-presets';
export * from './host-world.snapshot';
export { FAULT_FINDINGS, FAULT_PARAMS, faultKindOf, isTestOnlyFault, FIDELITY_FAULT_KINDS, MAX_FAULT_EVENTS, TEST_ONLY_FAULT_KINDS, type FaultKind, type FaultParamType } from './fault-injector';
