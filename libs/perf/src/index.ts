// libs/perf: the host perf core (perf events, groups, per-CPU and per-task contexts, scheduling,
// multiplexing, sampling, passthrough guest enter/exit). Pure: no I/O, no wall clock.
export * from './perf-event';
export * from './perf-cpu-context';
export * from './perf-core';
