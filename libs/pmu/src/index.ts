export * from './cpu-presets';
