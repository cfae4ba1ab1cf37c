// Workload profiles: the rates at which a guest vCPU produces hardware events while it runs in
// guest mode, and the VM-exit sources it generates. Rates are per virtual ns of guest run time.
// The numbers are typical magnitudes, not measurements of a specific benchmark: `specint` is a
// compute-bound SPEC CPU-like mix (high IPC, few exits); `fio` an I/O-bound storage workload
// (low IPC, mostly kernel, tens of thousands of I/O exits per second); `idle` a mostly halted
// guest; `branchy` an interpreter-like mix with many, often mispredicted, branches. Every rate can
// be overridden in the scenario (`workload.overrides`), see docs/scenario.md.
import type { WorkloadProfile, WorkloadRates, WorkloadSpec } from '@vpmu/world-spec';
import { NS_PER_MS } from '@vpmu/sim';

export const WORKLOAD_PROFILE_RATES: Readonly<Record<WorkloadProfile, WorkloadRates>> = {
  specint: {
    ipc: 2.2,
    cpuGhz: 3.0,
    refGhz: 2.0,
    branchFraction: 0.18,
    branchMissRate: 0.02,
    llcRefsPerKiloInstr: 4,
    llcMissRate: 0.3,
    kernelFraction: 0.02,
    ioExitsPerSec: 50,
    hltExitsPerSec: 0,
    dirtyBytesPerSec: 200 * 1024 * 1024,
    guestTimesliceNs: 4 * NS_PER_MS,
    busyFraction: 1,
  },
  fio: {
    ipc: 0.9,
    cpuGhz: 3.0,
    refGhz: 2.0,
    branchFraction: 0.2,
    branchMissRate: 0.04,
    llcRefsPerKiloInstr: 12,
    llcMissRate: 0.5,
    kernelFraction: 0.6,
    ioExitsPerSec: 40_000,
    hltExitsPerSec: 2_000,
    dirtyBytesPerSec: 400 * 1024 * 1024,
    guestTimesliceNs: 4 * NS_PER_MS,
    busyFraction: 0.8,
  },
  idle: {
    ipc: 0.5,
    cpuGhz: 3.0,
    refGhz: 2.0,
    branchFraction: 0.15,
    branchMissRate: 0.03,
    llcRefsPerKiloInstr: 2,
    llcMissRate: 0.2,
    kernelFraction: 0.9,
    ioExitsPerSec: 10,
    hltExitsPerSec: 250,
    dirtyBytesPerSec: 1024 * 1024,
    guestTimesliceNs: 4 * NS_PER_MS,
    busyFraction: 0.02,
  },
  branchy: {
    ipc: 1.4,
    cpuGhz: 3.0,
    refGhz: 2.0,
    branchFraction: 0.3,
    branchMissRate: 0.08,
    llcRefsPerKiloInstr: 6,
    llcMissRate: 0.25,
    kernelFraction: 0.05,
    ioExitsPerSec: 200,
    hltExitsPerSec: 0,
    dirtyBytesPerSec: 100 * 1024 * 1024,
    guestTimesliceNs: 4 * NS_PER_MS,
    busyFraction: 1,
  },
};

export function resolveWorkloadRates(spec: WorkloadSpec): WorkloadRates {
  return { ...WORKLOAD_PROFILE_RATES[spec.profile], ...spec.overrides };
}

/** Hardware event names the workload produces, in canonical order (the PMU model's list). */
export { WORKLOAD_EVENT_NAMES as WORKLOAD_EVENTS, type WorkloadEventName as WorkloadEvent } from '@vpmu/pmu';

/** Per-ns rate of each workload event, in WORKLOAD_EVENTS order. */
export function eventRatesPerNs(r: WorkloadRates): Float64Array {
  const cycles = r.cpuGhz;
  const instr = cycles * r.ipc;
  const branches = instr * r.branchFraction;
  const llcRefs = (instr * r.llcRefsPerKiloInstr) / 1000;
  return Float64Array.from([
    instr,
    cycles,
    r.refGhz,
    branches,
    branches * r.branchMissRate,
    llcRefs,
    llcRefs * r.llcMissRate,
    cycles * 4, // topdown slots: 4-wide issue per cycle (Intel TOPDOWN.SLOTS definition)
  ]);
}
