// libs/kvm: vPMU backends, event filter and the cost model (pure model).
export * from './cost-model';
export * from './event-filter';
export * from './paravirt-pmu';
export * from './vpmu-trap-rules';
export * from './vcpu-world.port';
export * from './vpmu-backend';
export * from './guest-pmu-shape';
export * from './amd-guest-msrs';
export * from './none-vpmu.backend';
export * from './passthrough-vpmu.backend';
export * from './mediated-vpmu.backend';
export * from './emulated-vpmu.backend';
export * from './program-loop';
export { isPmuMsr } from './pmu-msr-class';
export * from './guest-lbr';
export * from './arm-pmu-device';
