// libs/summary: the summary.json contract (schema 1) and the streaming fold that builds it.
export * from './summary.types';
export * from './summary.builder';
export * from './fidelity';
