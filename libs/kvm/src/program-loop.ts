// What a guest program's `loop` step produces on each workload event, for every place that counts
// it (the emulated backing events, the passthrough guest context, paravirt host events, the
// fidelity twin). A loop states its instructions and branches; the rest is a model choice:
// - cycles: one per instruction (IPC 1). The selftests' measured loops (pmu_counters_test's
//   CLFLUSH/MFENCE/LOOP body) run far below that, but what they assert about cycles, reference
//   cycles and fixed counters 1 and 2 is only that they count (guest_assert_event_count:
//   GUEST_ASSERT_NE(count, 0)); a loop that took no cycles would fail them.
// - ref-cycles: as many as cycles: the model's reference clock runs at the core's nominal clock,
//   as every other rate of the host (world-state.ts hostRates).
// - topdown-slots: four per cycle, as hostRates (pmu_counters_test only asserts slots >= the
//   instructions retired).
// Cache events and branch misses stay zero: a loop step does not describe its memory behaviour.
import type { WorkloadEventName } from '@vpmu/pmu';

export type ProgramLoopCounts = Readonly<Record<WorkloadEventName, number>>;

export function programLoopCounts(instructions: number, branches: number): ProgramLoopCounts {
  return {
    instructions,
    branches,
    cycles: instructions,
    'ref-cycles': instructions,
    'topdown-slots': 4 * instructions,
    'branch-misses': 0,
    'cache-references': 0,
    'cache-misses': 0,
  };
}

/**
 * A program's WRMSR / RDMSR / RDPMC that completed: one instruction retired, not a branch. Its own
 * cycles are not modelled (when it exits, the time is KVM's).
 */
export const ONE_INSTRUCTION: ProgramLoopCounts = Object.freeze({ ...programLoopCounts(0, 0), instructions: 1 });
