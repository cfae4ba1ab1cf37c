// libs/guest: the guest kernel model: workloads, guest scheduler, guest perf, guest programs.
export * from './workload.profiles';
export * from './guest-program';
export * from './guest-perf-session';
export * from './guest-pv-perf';
