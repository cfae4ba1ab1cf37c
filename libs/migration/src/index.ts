// libs/migration: live migration planning (pre-copy / stop-and-copy timing) and vPMU
// compatibility rules. Pure: the host world and the host-node service carry the state.
export * from './precopy.plan';
export * from './compatibility';
export * from './vpmu-state';
