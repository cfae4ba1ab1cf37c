// libs/guest: the guest kernel model: workloads, guest scheduler, guest perf, guest programs.
export * from './workload.profiles';
export * from './guest-perf';
export * from './guest-program';
export * from './guest-perf-session';
