// Workload events, their hardware encodings, and the rates the world feeds the PMU models.
//
// Encodings: Intel architectural events (event/umask) from the Intel SDM
// vol. 3B ch. 20 "Architectural events" / CPUID.0AH); arm64 PMUv3 common event numbers from the Arm ARM
// (D17.11 "Common event numbers"; also drivers/perf/arm_pmuv3.c armv8_pmuv3_perf_map).
//
// Rates are fixed-point: a rate in events per ns is stored as an integer number of 2^-16 events
// per ns (`RATE_SCALE`). Counting with integer arithmetic makes the counts exact integers and the
// result of advancing by a + b ns identical to advancing by a then by b, which floating-point
// accumulation would not guarantee (and replay needs bit-identical counts).

export const WORKLOAD_EVENT_NAMES = [
  'instructions',
  'cycles',
  'ref-cycles',
  'branches',
  'branch-misses',
  'cache-references',
  'cache-misses',
  'topdown-slots',
] as const;
export type WorkloadEventName = (typeof WORKLOAD_EVENT_NAMES)[number];
export const WORKLOAD_EVENT_COUNT = WORKLOAD_EVENT_NAMES.length;

/** Index of each workload event in rate arrays. */
export const EV = {
  instructions: 0,
  cycles: 1,
  refCycles: 2,
  branches: 3,
  branchMisses: 4,
  cacheReferences: 5,
  cacheMisses: 6,
  topdownSlots: 7,
} as const;

export function eventIndex(name: string): number {
  return (WORKLOAD_EVENT_NAMES as readonly string[]).indexOf(name);
}

export function isWorkloadEvent(name: string): name is WorkloadEventName {
  return eventIndex(name) >= 0;
}

// ---------------------------------------------------------------------------------------------
// Intel architectural encodings (the Intel SDM vol. 3 "Pre-defined Architectural Performance Events".

export interface IntelEncoding {
  eventSelect: number;
  umask: number;
}

export const INTEL_ARCH_EVENTS: Readonly<Record<WorkloadEventName, IntelEncoding>> = {
  instructions: { eventSelect: 0xc0, umask: 0x00 },
  cycles: { eventSelect: 0x3c, umask: 0x00 },
  'ref-cycles': { eventSelect: 0x3c, umask: 0x01 },
  branches: { eventSelect: 0xc4, umask: 0x00 },
  'branch-misses': { eventSelect: 0xc5, umask: 0x00 },
  'cache-references': { eventSelect: 0x2e, umask: 0x4f },
  'cache-misses': { eventSelect: 0x2e, umask: 0x41 },
  'topdown-slots': { eventSelect: 0xa4, umask: 0x01 },
};

/** Fixed counter i counts this event (Intel SDM vol. 3: 0 instructions, 1 cycles, 2 ref cycles, 3 slots). */
export const INTEL_FIXED_COUNTER_EVENTS: readonly WorkloadEventName[] = [
  'instructions',
  'cycles',
  'ref-cycles',
  'topdown-slots',
];

/** Workload event index by (event select | umask << 8): a flat table, read at every register change. */
const intelByCode = new Int8Array(1 << 16).fill(-1);
for (const name of WORKLOAD_EVENT_NAMES) {
  const e = INTEL_ARCH_EVENTS[name];
  intelByCode[e.eventSelect | (e.umask << 8)] = eventIndex(name);
}

/** Workload event index counted by an Intel event select + umask, or -1 (counts nothing here). */
export function intelEventIndex(eventSelect: number, umask: number): number {
  return intelByCode[(eventSelect & 0xff) | ((umask & 0xff) << 8)];
}

// ---------------------------------------------------------------------------------------------
// arm64 PMUv3 common event numbers.

export const ARM_EVENTS = {
  SW_INCR: 0x00,
  L1D_CACHE_REFILL: 0x03,
  L1D_CACHE: 0x04,
  INST_RETIRED: 0x08,
  BR_MIS_PRED: 0x10,
  CPU_CYCLES: 0x11,
  BR_PRED: 0x12,
  INST_SPEC: 0x1b,
  CHAIN: 0x1e,
  BR_RETIRED: 0x21,
  BR_MIS_PRED_RETIRED: 0x22,
  L3D_CACHE_REFILL: 0x2a,
  L3D_CACHE: 0x2b,
  LL_CACHE_RD: 0x36,
  LL_CACHE_MISS_RD: 0x37,
} as const;

/**
 * Workload event -> arm64 common event number (as armv8_pmuv3_perf_map uses them). ref-cycles and
 * topdown-slots have no PMUv3 common event: perf returns -ENOENT for them on arm64.
 */
export const ARM_EVENT_FOR: Readonly<Partial<Record<WorkloadEventName, number>>> = {
  instructions: ARM_EVENTS.INST_RETIRED,
  cycles: ARM_EVENTS.CPU_CYCLES,
  branches: ARM_EVENTS.BR_RETIRED,
  'branch-misses': ARM_EVENTS.BR_MIS_PRED_RETIRED,
  'cache-references': ARM_EVENTS.LL_CACHE_RD,
  'cache-misses': ARM_EVENTS.LL_CACHE_MISS_RD,
};

const armByNumber = new Map<number, number>();
for (const [name, num] of Object.entries(ARM_EVENT_FOR)) armByNumber.set(num as number, eventIndex(name));
// Speculative branch events count like their retired counterparts in this model.
armByNumber.set(ARM_EVENTS.BR_PRED, EV.branches);
armByNumber.set(ARM_EVENTS.BR_MIS_PRED, EV.branchMisses);

/** Workload event index counted by arm64 common event `num`, or -1. */
export function armEventIndex(num: number): number {
  return armByNumber.get(num) ?? -1;
}

// ---------------------------------------------------------------------------------------------
// Rates and execution mode.

/** Fixed-point scale of rates: one unit = 2^-16 events per ns. */
export const RATE_SCALE = 65536;
/** Rates at or above this many events per ns are rejected (keeps integer products below 2^53). */
export const MAX_RATE_PER_NS = 128;

export type RateRecord = Partial<Record<WorkloadEventName, number>>;

/**
 * Per-ns event rates of one execution segment, split by privilege: the user part counts for
 * counters that count user mode (USR / !EXCLUDE_EL0), the kernel part for counters that count
 * kernel mode (OS / !EXCLUDE_EL1 / INCLUDE_EL2). Immutable: build one per workload phase and reuse
 * it (the PMU caches per-counter rates keyed by the object's identity).
 */
export class EventRates {
  /** Rates in 2^-16 events per ns, integers. Index = workload event index. */
  readonly userQ: Float64Array;
  readonly kernelQ: Float64Array;
  readonly totalQ: Float64Array;

  private constructor(userQ: Float64Array, kernelQ: Float64Array) {
    this.userQ = userQ;
    this.kernelQ = kernelQ;
    this.totalQ = new Float64Array(WORKLOAD_EVENT_COUNT);
    for (let i = 0; i < WORKLOAD_EVENT_COUNT; i++) this.totalQ[i] = userQ[i] + kernelQ[i];
  }

  /** Rates in events per ns for user and kernel mode. */
  static of(user: RateRecord, kernel: RateRecord = {}): EventRates {
    return new EventRates(quantize(user), quantize(kernel));
  }

  /** Total rates split between kernel (fraction `kernelFraction`) and user. */
  static split(total: RateRecord, kernelFraction: number): EventRates {
    if (!(kernelFraction >= 0 && kernelFraction <= 1)) throw new Error(`kernelFraction must be in [0,1], got ${kernelFraction}`);
    // Split in fixed point so user + kernel is exactly the quantized total.
    const totalQ = quantize(total);
    const userQ = new Float64Array(WORKLOAD_EVENT_COUNT);
    const kernelQ = new Float64Array(WORKLOAD_EVENT_COUNT);
    for (let i = 0; i < WORKLOAD_EVENT_COUNT; i++) {
      kernelQ[i] = Math.round(totalQ[i] * kernelFraction);
      userQ[i] = totalQ[i] - kernelQ[i];
    }
    return new EventRates(userQ, kernelQ);
  }

  static readonly ZERO: EventRates = EventRates.of({});

  /** These rates with each event's user and kernel parts multiplied by `factors[event index]` (rounded). */
  scaledBy(factors: Float64Array): EventRates {
    const u = new Float64Array(WORKLOAD_EVENT_COUNT);
    const k = new Float64Array(WORKLOAD_EVENT_COUNT);
    for (let i = 0; i < WORKLOAD_EVENT_COUNT; i++) {
      u[i] = Math.round(this.userQ[i] * factors[i]);
      k[i] = Math.round(this.kernelQ[i] * factors[i]);
    }
    return new EventRates(u, k);
  }

  /** Rate of `name` in events per ns (user + kernel), as the model counts it. */
  ratePerNs(name: WorkloadEventName): number {
    return this.totalQ[eventIndex(name)] / RATE_SCALE;
  }
}

function quantize(rec: RateRecord): Float64Array {
  const out = new Float64Array(WORKLOAD_EVENT_COUNT);
  for (const [name, v] of Object.entries(rec)) {
    const i = eventIndex(name);
    if (i < 0) throw new Error(`unknown workload event '${name}'`);
    if (!(typeof v === 'number' && v >= 0 && v < MAX_RATE_PER_NS)) {
      throw new Error(`rate of ${name} must be in [0, ${MAX_RATE_PER_NS}) events/ns, got ${v}`);
    }
    out[i] = Math.round(v * RATE_SCALE);
  }
  return out;
}

/**
 * Who runs on the pCPU during a segment. `guest`: a vCPU in guest mode (VMX non-root / EL1 guest).
 * `kernel: true`: the whole segment is privileged code (e.g. the host's exit handling); every
 * event then counts as kernel. `kernel: false`: the rates' own user/kernel split applies.
 */
export interface ExecMode {
  readonly guest: boolean;
  readonly kernel: boolean;
}

export const MODE_HOST: ExecMode = Object.freeze({ guest: false, kernel: false });
export const MODE_HOST_KERNEL: ExecMode = Object.freeze({ guest: false, kernel: true });
export const MODE_GUEST: ExecMode = Object.freeze({ guest: true, kernel: false });
export const MODE_GUEST_KERNEL: ExecMode = Object.freeze({ guest: true, kernel: true });
