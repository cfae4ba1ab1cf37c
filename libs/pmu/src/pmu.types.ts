// The interface every hardware PMU model offers the simulated world and the host perf core, so
// Intel and arm64 PMUs are driven alike: analytic advance over a segment of known rates, the exact
// instant of the next overflow, the overflows that happened, state save/restore (context switch,
// migration), and the "host driver" operations perf uses to program counters (what
// arch/x86/events/intel/core.c and drivers/perf/arm_pmuv3.c do with the registers).

import type { EventRates, ExecMode, WorkloadEventName } from './events';

/** A counter overflow (wrap past its overflow width) observed during `advance`. */
export interface PmuOverflow {
  /** Counter id: Intel GP i = i, fixed i = 32 + i; arm event counter n = n, cycle counter = 31. */
  readonly counterId: number;
  /** First virtual ns at which the counter had wrapped. */
  readonly overflowNs: number;
  /** The counter's interrupt was enabled: a PMI is raised. */
  readonly pmi: boolean;
  /** overflowNs + the PMU's skid: when the PMI reaches the CPU (meaningful when `pmi`). */
  readonly pmiNs: number;
}

/** How the host kernel programs one counter for a perf event. */
export interface HostCounterConfig {
  event: WorkloadEventName;
  countUser: boolean;
  countKernel: boolean;
  /** Count while a guest runs (perf !exclude_guest). */
  countGuest: boolean;
  /** Count while the host runs (perf !exclude_host). */
  countHost: boolean;
  /** Raise a PMI on overflow (sampling events). */
  interrupt: boolean;
  /** Overflow after this many events (sampling period); absent = start from 0 (counting). */
  periodEvents?: number;
}

export type PmuFault = 'gp' | 'undefined';
export type RegResult = { ok: true; value: bigint } | { ok: false; fault: PmuFault };
export type WriteResult = { ok: true } | { ok: false; fault: PmuFault };

export interface CounterSlot {
  counterId: number;
  kind: 'gp' | 'fixed' | 'cycle';
  widthBits: number;
}

/** Plain-object snapshot of a PMU (JSON-safe numbers and arrays only). */
export interface PmuStateBase {
  arch: 'intel' | 'arm';
  pmuId: string;
  /** Per counter (bank order): register value in the model's signed form (see CounterBank). */
  stored: number[];
  /** Per counter: fractional event accumulator, 2^-16 events. */
  acc: number[];
  /** Per counter: events counted since the last write (host driver bookkeeping). */
  sinceWrite: number[];
  /** Per counter: KVM/perf guest/host switch (bit 0 count in host, bit 1 count in guest). */
  guestHost: number[];
}

export interface PmuModel {
  readonly arch: 'intel' | 'arm';
  /** perf PMU name (e.g. 'cpu' on x86, 'armv8_cortex_a76'). */
  readonly pmuId: string;
  /** Virtual time up to which the model has been advanced. */
  readonly nowNs: number;
  readonly pmiSkidNs: number;
  readonly slots: readonly CounterSlot[];

  /** Counts every enabled counter whose filters match `mode` over `dtNs` ns at `rates`. */
  advance(dtNs: number, rates: EventRates, mode: ExecMode): void;
  advanceTo(nowNs: number, rates: EventRates, mode: ExecMode): void;
  /**
   * Exact ns from now until the first counter with its interrupt enabled overflows under `rates`
   * and `mode` (Infinity if none will). Advancing by exactly this many ns reports that overflow.
   */
  nextOverflowInNs(rates: EventRates, mode: ExecMode): number;
  /** Overflows since the last call, in time order (a fresh array; empty array when none). */
  takeOverflows(): PmuOverflow[];

  saveState(): PmuStateBase;
  loadState(state: PmuStateBase): void;
  /** Power-on / reset state (KVM vCPU reset for a virtual PMU). */
  reset(): void;

  // --- host driver operations (kernel-internal, never faulting) ---
  /** Counters that can count `event` for host perf, preferred first; [] when unsupported. */
  hostCandidates(event: WorkloadEventName): readonly number[];
  hostProgram(counterId: number, cfg: HostCounterConfig): void;
  hostStop(counterId: number): void;
  /** Disables every counter (perf_pmu_disable + clearing what a guest left enabled). */
  hostStopAll(): void;
  /** Events counted by `counterId` since it was last programmed or written. */
  countedSinceWrite(counterId: number): number;
  /**
   * The counter's sub-event progress (2^-16 events, < 1 event). It belongs to the execution
   * stream being counted, so perf saves it with an event it schedules out and gives it back at
   * sched-in: a counter shared by several events (tasks, a vCPU's backing events) never hands one
   * stream's fraction to another. Real counters count whole events; the fraction only exists
   * because the model integrates rates, and must not create or lose events.
   */
  hostCarryQ(counterId: number): number;
  hostSetCarryQ(counterId: number, carryQ: number): void;
  /** Clears the counter's overflow status bit (the PMI handler's acknowledge). */
  hostAckOverflow(counterId: number): void;
}

/** Mode bits of a counter: which of the four (guest?, kernel?) combinations it counts in. */
export const MODE_HOST_USER_BIT = 1;
export const MODE_HOST_KERNEL_BIT = 2;
export const MODE_GUEST_USER_BIT = 4;
export const MODE_GUEST_KERNEL_BIT = 8;

export function modeMask(countUser: boolean, countKernel: boolean, countHost: boolean, countGuest: boolean): number {
  let m = 0;
  if (countHost && countUser) m |= MODE_HOST_USER_BIT;
  if (countHost && countKernel) m |= MODE_HOST_KERNEL_BIT;
  if (countGuest && countUser) m |= MODE_GUEST_USER_BIT;
  if (countGuest && countKernel) m |= MODE_GUEST_KERNEL_BIT;
  return m;
}

/** Stable sort of overflows[start..] by overflowNs (insertion sort: tiny arrays). */
export function sortOverflows(a: PmuOverflow[], start: number): void {
  for (let i = start + 1; i < a.length; i++) {
    const x = a[i];
    let j = i - 1;
    while (j >= start && a[j].overflowNs > x.overflowNs) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = x;
  }
}
