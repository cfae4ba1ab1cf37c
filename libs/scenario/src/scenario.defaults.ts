// The scenario format's defaults and limits (documented in docs/scenario.md): what a field left
// out becomes, and the bounds the kernel interfaces the models imitate put on a value.

import type { VpmuMode } from '@vpmu/world-spec';

export const SCENARIO_DEFAULTS = {
  name: 'unnamed',
  seed: 1,
  epochNs: 1_000_000,
  checkpointEveryEpochs: 50,
  sampleIntervalNs: 1_000_000,
  host: { nmiWatchdog: true, timesliceNs: 3_000_000 },
  vm: {
    vcpus: 1,
    memoryBytes: 1 << 30,
    vpmuMode: 'emulated' as VpmuMode,
    interceptEventSelect: true,
    lazyLbrReleaseNs: 10_000_000,
    pvEventLimit: 1024,
    workloadProfile: 'specint' as const,
    tasksPerVcpu: 2,
  },
  /** `perf record` without -F samples at 4000 Hz. */
  guestRecordFreqHz: 4000,
  migrate: { bandwidthBytesPerSec: 1_250_000_000 /* 10Gbps */, maxDowntimeNs: 300_000_000 },
} as const;

/** KVM_SET_PMU_EVENT_FILTER takes at most this many events (E2BIG beyond). */
export const MAX_FILTER_EVENTS = 300;
/** perf_event_max_sample_rate default: a higher sample_freq is EINVAL in the kernel. */
export const MAX_SAMPLE_RATE_HZ = 100_000;
export const MAX_PCPUS = 4096;
export const U32_MAX = 0xffff_ffff;
