// libs/guest: the guest kernel model: workloads, guest scheduler, guest perf, guest programs.
export * from './workload.profiles';
