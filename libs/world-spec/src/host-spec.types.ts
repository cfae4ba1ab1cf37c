// A simulated physical host as the world is built from it: its CPU preset and PMU overrides,
// the vPMU modes it offers, its scheduler slice, and the host-side load on it (perf sessions
// and noise threads). Durations are integer virtual nanoseconds.

import type { VpmuMode } from './vm-spec.types';

export interface HostSpec {
  id: string;
  cpu: string;                  // CPU preset, e.g. intel-spr, intel-icx, intel-skx, arm-a76-a55
  pcpus: number;
  pmu?: PmuOverrides;
  vpmuModes: VpmuMode[];        // modes this host supports (default: all its PMU can do)
  nmiWatchdog: boolean;
  timesliceNs: number;          // host scheduler time slice
  perf: HostPerfSession[];
  noise: HostNoiseThread[];
  /** arm64: PMU probe order by PMU id (default: preset order). */
  armPmuProbeOrder?: string[];
}

export interface PmuOverrides {
  gpCounters?: number;
  fixedCounters?: number;
  counterWidth?: number;
  lbrDepth?: number;
  pmiSkidNs?: number;
}

/** How a perf session samples: by frequency or every `periodEvents` events. */
export type SampleSpec = { freqHz: number; periodEvents?: undefined } | { periodEvents: number; freqHz?: undefined };

export interface HostPerfSession {
  id: string;
  events: string[];             // event names (instructions, cycles, ...)
  group: boolean;               // the events form one group
  excludeGuest: boolean;
  excludeHost: boolean;
  excludeUser: boolean;
  excludeKernel: boolean;
  pinned: boolean;
  cpus: number[] | 'all';       // per-CPU contexts
  sample?: SampleSpec;          // absent = counting
  startNs: number;
  stopNs?: number;
}

export interface HostNoiseThread {
  id: string;
  cpus: number[] | 'all';
  periodNs: number;             // wakes up every periodNs (exponentially jittered by the PRNG)
  runtimeNs: number;            // runs this long each time
  lbr: boolean;                 // uses the LBR (LBR-pollution source)
  priority: 'normal' | 'high';  // high preempts vCPU threads at once
}
