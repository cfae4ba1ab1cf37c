// libs/host: one simulated physical host (pCPUs, host scheduler, vCPU and noise threads).
export * from './host-world';
export * from './host-presets';
export * from './host-world.snapshot';
