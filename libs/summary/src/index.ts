export * from './summary.types';
