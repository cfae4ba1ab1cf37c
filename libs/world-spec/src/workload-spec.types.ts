// What a VM's guest does: the workload profile its tasks run (with rate overrides) and the
// perf sessions (`perf stat` / `perf record`) run inside the guest.

import type { SampleSpec } from './host-spec.types';

export type WorkloadProfile = 'specint' | 'fio' | 'idle' | 'branchy';
export const WORKLOAD_PROFILES: readonly WorkloadProfile[] = ['specint', 'fio', 'idle', 'branchy'];

export interface WorkloadSpec {
  profile: WorkloadProfile;
  tasksPerVcpu: number;
  /** Overrides of the profile's rates; keys documented in docs/scenario.md. */
  overrides: Partial<WorkloadRates>;
}

/** Rates per virtual ns of guest run time, plus exit sources. */
export interface WorkloadRates {
  ipc: number;                  // instructions per cycle
  cpuGhz: number;               // core cycles per ns
  refGhz: number;               // reference cycles per ns
  branchFraction: number;       // branches per instruction
  branchMissRate: number;       // misses per branch
  llcRefsPerKiloInstr: number;
  llcMissRate: number;          // misses per LLC reference
  kernelFraction: number;       // fraction of time in guest kernel mode
  ioExitsPerSec: number;        // VM exits for I/O
  hltExitsPerSec: number;       // idle exits
  dirtyBytesPerSec: number;     // memory dirtying rate (migration)
  guestTimesliceNs: number;     // guest scheduler time slice
  busyFraction: number;         // fraction of time a vCPU has work (the rest it halts: HLT exit, thread sleeps)
}

export interface GuestPerfSpec {
  id: string;
  command: 'stat' | 'record';
  events: string[];
  sample?: SampleSpec;          // record only
  allCpus: boolean;             // -a
  callGraph: 'none' | 'lbr';
  startNs: number;
  stopNs?: number;
}
