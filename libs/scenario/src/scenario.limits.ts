// Physical bounds of the scenario format (docs/scenario.md "Limits" gives each with its reason).
// A value outside them is not a scenario a real machine could run: the reader refuses it with
// the reason, so it never reaches the models as an internal error or an unbounded run.

/**
 * Longest run: 2^52 ns (about 52 days). Virtual time is integer ns in JS numbers, exact below
 * 2^53, and the event path (batches, recording, checkpoints) carries it as plain numbers; half
 * the exact range leaves room for every instant a run schedules past its end (costs, timers,
 * skid), so no simulated instant is ever rounded.
 */
export const MAX_RUN_DURATION_NS = 2 ** 52;

/** Shortest epoch: 1 us. Each epoch is a barrier and a recorded batch; below 1 us the run is all overhead. */
export const MIN_EPOCH_NS = 1_000;

/**
 * Shortest counter sample interval: 10 us, the shortest interval between two samples the kernel
 * allows by default (perf_event_max_sample_rate = 100000 Hz, DEFAULT_MAX_SAMPLE_RATE in
 * kernel/events/core.c).
 */
export const MIN_SAMPLE_INTERVAL_NS = 10_000;

/** Shortest host scheduler time slice and guest time slice: 1 us (a context switch alone costs about that). */
export const MIN_TIMESLICE_NS = 1_000;

/**
 * Shortest noise thread period: 50 us. A sleeping task's timers get 50 us of slack by default
 * (timer_slack_ns; prctl(2) PR_SET_TIMERSLACK: "the default value is 50 microseconds"), so a
 * periodic thread does not wake more often than that.
 */
export const MIN_NOISE_PERIOD_NS = 50_000;

/**
 * Widest retire width of a shipping core: 8 instructions per cycle (Intel Golden Cove and AMD
 * Zen 5 retire at most 8 per cycle; Apple Firestorm decodes 8). A higher IPC is not a real workload.
 */
export const MAX_IPC = 8;

/**
 * Core and reference clocks: 0.1 to 10 GHz. The overclocking record is about 9.1 GHz (liquid
 * helium, 2024); no core runs below 100 MHz under load. Zero would divide by zero in the models.
 */
export const MIN_GHZ = 0.1;
export const MAX_GHZ = 10;

/** LLC references per 1000 instructions: at most 1000 (a workload where every instruction misses L2). */
export const MAX_LLC_REFS_PER_KILO_INSTR = 1000;

/**
 * I/O and HLT exits per second per vCPU: at most 10^7. A VM exit round trip alone costs about
 * 1,060 cycles (~0.3 us at 3.5 GHz, docs/cost-model.md); 10 million a second fill 3 s of every second.
 */
export const MAX_EXITS_PER_SEC = 10_000_000;

/** Guest memory dirtying rate: at most 1 TB/s, above the memory bandwidth of any one socket today (~600 GB/s). */
export const MAX_DIRTY_BYTES_PER_SEC = 1e12;

/**
 * Cost model overrides: at most 1 s per action (10^9 ns, or 10^10 cycles, 1 s at the 10 GHz top
 * of cpuGhz). Public figures are all below 3 ms (docs/cost-model.md).
 */
export const MAX_COST_NS = 1_000_000_000;
export const MAX_COST_CYCLES = 10_000_000_000;

/**
 * Most host perf events a paravirt guest may open: 1024, the design's own per-VM limit
 * (KVM_MAX_PARAVIRT_PERF_EVENT of the v2 patch of "para virt interface of perf to support kvm
 * guest os statistics collection in guest os", Y. Zhang, kvm list, Jun 2010), which A. Kivity
 * already found "really high"; the limit is there because "we consume host resources for each
 * perf_event" (A. Kivity, same thread, 9 Jun 2010). A scenario may lower it, not raise it.
 */
export const MAX_PV_EVENT_LIMIT = 1024;

/**
 * A run is "large" past this many epochs: the default 1 ms epoch reaches it at 100 s. Each epoch
 * writes at least one event batch frame to the recording and one barrier round trip in a cluster.
 */
export const LARGE_RUN_EPOCHS = 100_000;

/**
 * Recording bytes per epoch, a lower bound for the warning's size projection: an idle one-VM,
 * two-pCPU run writes about 800 bytes per epoch (measured: 10,000 epochs of 1 us took 8.1 MB).
 */
export const RECORDED_BYTES_PER_EPOCH = 800;

/** A run is "large" past this many counter samples (duration / sampleInterval x vCPUs). */
export const LARGE_RUN_SAMPLES = 10_000_000;

/**
 * Most copies one fleet template makes: 10,000. The bench's fleet worlds simulate about one
 * vCPU-second per wall second, so ten thousand one-vCPU VMs take hours per simulated second: a
 * larger count is a typo, not a world this tool can run.
 */
export const MAX_TEMPLATE_COUNT = 10_000;

/** The reasons as error messages give them (short forms of the comments above). */
export const WHY = {
  duration: 'virtual time is integer ns, exact in this tool below 2^53 ns; 2^52 leaves room for what a run schedules past its end',
  epoch: 'each epoch is a barrier and a recorded batch; below 1us a run is all overhead',
  sampleInterval: 'the kernel samples at most 100000 times a second, perf_event_max_sample_rate',
  timeslice: 'a context switch alone costs about 1us',
  noisePeriod: 'a sleeping task gets 50us of timer slack by default, timer_slack_ns',
  ipc: 'no shipping core retires more than 8 instructions per cycle',
  ghz: 'real cores run between 0.1 and about 9 GHz',
  llcRefs: 'at most one LLC reference per instruction',
  exits: 'an exit round trip alone takes about 0.3us',
  dirtyRate: 'above the memory bandwidth of any socket',
  cost: 'no modelled action costs more than 1s',
  templateCount: 'ten thousand VMs already take hours per simulated second',
  pvEventLimit: 'KVM_MAX_PARAVIRT_PERF_EVENT of the paravirt perf design, already called "really high" in its review',
} as const;
