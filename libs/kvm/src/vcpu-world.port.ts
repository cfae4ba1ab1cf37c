// The one port through which the simulated world serves the models of one vCPU: the vPMU
// backend (its backing host perf events, the loaded hardware PMU, its findings), the paravirtual
// perf table (the guest's host events) and the host-side monitors. The world creates it once per
// vCPU, when the vCPU is placed on (or arrives at) a host, and passes it to each call: models
// never store it, so their state stays plain data for checkpoints and migration.
import type { IntelPmu } from '@vpmu/pmu';
import type { PerfEventAttr, PerfHooks } from '@vpmu/perf';
import type { CostModel } from './cost-model';

/** A host perf event's raw count and times, as perf_event_read_value returns them. */
export interface PerfCounts {
  count: number;
  enabledNs: number;
  runningNs: number;
  /** The event is in ERROR (a pinned event that found no counter): it counts no more. */
  error?: boolean;
}

export type PerfCreateResult = { ok: true; id: string } | { ok: false; errno: string };

export interface VcpuWorldPort {
  /** The vCPU's index in its VM. */
  readonly vcpu: number;
  /** Simulated host time now (ns). */
  readonly nowNs: number;
  /** The host's cost model (what exits and host perf work cost). */
  readonly costs: CostModel;
  /** Records a finding about this vCPU (the world adds the instant and the place). */
  emitFinding(kind: string, detail: string): void;
  /** The hardware PMU holding this vCPU's guest context, advanced to now (passthrough, loaded). */
  loadedPmu(): IntelPmu;
  /** perf_event_create_kernel_counter: a per-task event on this vCPU's thread. */
  perfCreate(attr: PerfEventAttr, hooks: PerfHooks): PerfCreateResult;
  perfRead(id: string): PerfCounts;
  perfEnable(id: string): void;
  perfDisable(id: string): void;
  perfClose(id: string): void;
  perfSetPeriod(id: string, periodEvents: number): void;
}
