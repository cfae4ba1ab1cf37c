// libs/kvm: vPMU backends, event filter and the cost model (pure model).
export * from './cost-model';
export * from './event-filter';
export * from './paravirt-pmu';
export * from './vpmu-trap-rules';
export * from './vpmu-backends';
export * from './guest-lbr';
export * from './arm-pmu-device';
