// libs/kvm: vPMU backends, event filter and the cost model (pure model).
export * from './cost-model';
