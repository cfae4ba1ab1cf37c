// CPU presets: the PMU shape of each simulated host CPU. Every figure and its source or reason
// is in docs/cpu-presets.md. Facts from the Intel SDM vol. 3 (CPUID.0AH fields, 48-bit counters,
// 8 GP counters without SMT / 4 per thread with SMT, fixed counter 3 = topdown slots from Ice
// Lake); choices (SMT mode, skid, arm PMCEID masks) are named and justified there.

export const CPU_PRESET_NAMES = ['intel-spr', 'intel-icx', 'intel-skx', 'amd-zen4', 'amd-zen3', 'arm-a76-a55', 'arm-hetero-n6-n4'] as const;
export type CpuPresetName = (typeof CPU_PRESET_NAMES)[number];

/**
 * An x86 PMU (arch 'intel' names the x86 register engine, intel-pmu.ts). `vendor: 'amd'` is an
 * AMD core PMU on that engine: no fixed counters, the AMD MSR map (amd-msr.codec.ts), and
 * `perfmonVersion` 2 meaning PerfMonV2 (CPUID 0x80000022), 1 without it.
 */
export interface IntelPmuSpec {
  arch: 'intel';
  vendor?: 'intel' | 'amd';
  /** Marketing / microarchitecture name, for reports. */
  model: string;
  /** CPUID.0AH:EAX[7:0]. */
  perfmonVersion: number;
  /** GP counters per logical CPU (CPUID.0AH:EAX[15:8]). */
  gpCounters: number;
  gpWidthBits: number;
  /** Fixed counters (CPUID.0AH:EDX[4:0]). */
  fixedCounters: number;
  fixedWidthBits: number;
  /** IA32_PERF_CAPABILITIES: LBR format (bits 5:0) and full-width writes (bit 13). */
  lbrFormat: number;
  fullWidthWrites: boolean;
  /** LBR stack depth (entries). */
  lbrDepth: number;
  /** Delay from counter overflow to PMI delivery. */
  pmiSkidNs: number;
  /** Nominal core clock (used for defaults such as the NMI watchdog period). */
  nominalGhz: number;
}

export interface ArmClusterSpec {
  /** perf PMU name as the kernel registers it (drivers/perf/arm_pmuv3.c). */
  pmuId: string;
  core: string;
  /** PMCR_EL0.N: event counters. */
  counters: number;
  /** Event counter width (32 before PMUv3p5 / PMCR.LP). */
  counterWidthBits: number;
  /** PMCEID0_EL0 / PMCEID1_EL0: common events 0x00-0x1F / 0x20-0x3F implemented. */
  pmceid0: number;
  pmceid1: number;
  /** Fraction of the host's pCPUs, in pCPU order, that belong to this cluster. */
  share: number;
  pmiSkidNs: number;
  nominalGhz: number;
  /**
   * Work per MHz relative to the fastest core type, as the kernel's `capacity-dmips-mhz` device-tree
   * property gives it (Documentation/devicetree/bindings/cpu/cpu-capacity.txt; 1024 = the fastest).
   */
  capacityDmipsPerMhz: number;
}

export interface ArmPmuSpec {
  arch: 'arm';
  model: string;
  /** PMUv3 version as ID_AA64DFR0_EL1.PMUVer names it (e.g. 'v3p1'). */
  pmuVersion: string;
  /** Clusters in pCPU order, which is also the default PMU probe order. */
  clusters: ArmClusterSpec[];
  lbrDepth: 0;
}

export type CpuPreset = IntelPmuSpec | ArmPmuSpec;

const INTEL_COMMON = { gpWidthBits: 48, fixedWidthBits: 48, fullWidthWrites: true, pmiSkidNs: 100 } as const;

// PMCEID masks (bit n = common event n): both cores implement events 0x00-0x0B and 0x10-0x1D
// (PMCEID0) and 0x20-0x25, 0x29-0x2B (PMCEID1); only the big core has LL_CACHE_RD /
// LL_CACHE_MISS_RD (0x36/0x37), so cache-references/-misses exist on big cores only. These masks
// are a model choice that makes the core types differ (docs/cpu-presets.md), not TRM transcripts.
const BIG_PMCEID0 = 0x3fff_0fff;
const BIG_PMCEID1 = (0x3f << 0) | (0x7 << 9) | (1 << (0x36 - 32)) | (1 << (0x37 - 32));
const LITTLE_PMCEID0 = 0x3fff_0fff;
const LITTLE_PMCEID1 = (0x3f << 0) | (0x7 << 9);

// Core throughput per MHz: the capacity-dmips-mhz of the Cortex-A76 (1024) and Cortex-A55 (530)
// cores of the RK3588 in the kernel tree (arch/arm64/boot/dts/rockchip/rk3588-base.dtsi). With the
// presets' clocks (2.6 / 1.8 GHz) a little core retires (530 x 1.8) / (1024 x 2.6) = 0.358 of a big
// core's instructions per ns (docs/arm64-pmu.md). The synthetic little core takes the A55's.
const A76_CAPACITY = 1024;
const A55_CAPACITY = 530;

export const CPU_PRESETS: Readonly<Record<CpuPresetName, CpuPreset>> = {
  'intel-spr': {
    arch: 'intel',
    model: 'Sapphire Rapids (Golden Cove)',
    perfmonVersion: 5,
    gpCounters: 8,
    fixedCounters: 4,
    lbrFormat: 0x3f, // architectural LBR: PERF_CAPABILITIES.LBR_FMT = 0x3f
    lbrDepth: 32,
    nominalGhz: 2.0,
    ...INTEL_COMMON,
  },
  'intel-icx': {
    arch: 'intel',
    model: 'Ice Lake-SP (Sunny Cove)',
    perfmonVersion: 5,
    gpCounters: 8,
    fixedCounters: 4,
    lbrFormat: 5,
    lbrDepth: 32,
    nominalGhz: 2.4,
    ...INTEL_COMMON,
  },
  'intel-skx': {
    arch: 'intel',
    model: 'Skylake-SP (SMT on)',
    perfmonVersion: 4,
    gpCounters: 4,
    fixedCounters: 3,
    lbrFormat: 5,
    lbrDepth: 32,
    nominalGhz: 2.1,
    ...INTEL_COMMON,
  },
  // AMD EPYC 9004 (Zen 4): 6 core counters of 48 bits (AMD64_NUM_COUNTERS_CORE), PerfMonV2
  // (global control / status / status-clear MSRs), no fixed counters, counters written at full
  // width. Its LBR (LbrExtV2) is not modelled.
  'amd-zen4': {
    arch: 'intel',
    vendor: 'amd',
    model: 'AMD EPYC 9004 (Zen 4), PerfMonV2',
    perfmonVersion: 2,
    gpCounters: 6,
    fixedCounters: 0,
    lbrFormat: 0,
    lbrDepth: 0,
    nominalGhz: 2.4,
    ...INTEL_COMMON,
  },
  // AMD EPYC 7003 (Zen 3): the same 6 core counters without PerfMonV2 (no global registers), so
  // no mediated vPMU (amd_pmu_is_mediated_pmu_supported needs a host PMU version of 2).
  'amd-zen3': {
    arch: 'intel',
    vendor: 'amd',
    model: 'AMD EPYC 7003 (Zen 3), no PerfMonV2',
    perfmonVersion: 1,
    gpCounters: 6,
    fixedCounters: 0,
    lbrFormat: 0,
    lbrDepth: 0,
    nominalGhz: 2.45,
    ...INTEL_COMMON,
  },
  'arm-a76-a55': {
    arch: 'arm',
    model: 'DynamIQ 4x Cortex-A76 + 4x Cortex-A55',
    pmuVersion: 'v3p1',
    lbrDepth: 0,
    clusters: [
      { pmuId: 'armv8_cortex_a76', core: 'Cortex-A76', counters: 6, counterWidthBits: 32, pmceid0: BIG_PMCEID0, pmceid1: BIG_PMCEID1, share: 0.5, pmiSkidNs: 100, nominalGhz: 2.6, capacityDmipsPerMhz: A76_CAPACITY },
      { pmuId: 'armv8_cortex_a55', core: 'Cortex-A55', counters: 6, counterWidthBits: 32, pmceid0: LITTLE_PMCEID0, pmceid1: LITTLE_PMCEID1, share: 0.5, pmiSkidNs: 150, nominalGhz: 1.8, capacityDmipsPerMhz: A55_CAPACITY },
    ],
  },
  'arm-hetero-n6-n4': {
    arch: 'arm',
    model: 'Synthetic big.LITTLE with different counter counts (6 and 4)',
    pmuVersion: 'v3p1',
    lbrDepth: 0,
    clusters: [
      { pmuId: 'armv8_cortex_a76', core: 'Cortex-A76', counters: 6, counterWidthBits: 32, pmceid0: BIG_PMCEID0, pmceid1: BIG_PMCEID1, share: 0.5, pmiSkidNs: 100, nominalGhz: 2.6, capacityDmipsPerMhz: A76_CAPACITY },
      { pmuId: 'armv8_synthetic_little', core: 'synthetic little core', counters: 4, counterWidthBits: 32, pmceid0: LITTLE_PMCEID0, pmceid1: LITTLE_PMCEID1, share: 0.5, pmiSkidNs: 150, nominalGhz: 1.8, capacityDmipsPerMhz: A55_CAPACITY },
    ],
  },
};

export function isCpuPresetName(name: string): name is CpuPresetName {
  return (CPU_PRESET_NAMES as readonly string[]).includes(name);
}

export function getCpuPreset(name: string): CpuPreset {
  if (!isCpuPresetName(name)) {
    throw new Error(`unknown CPU preset '${name}'; use one of ${CPU_PRESET_NAMES.join(', ')}`);
  }
  return CPU_PRESETS[name];
}

/**
 * Which cluster each pCPU belongs to: clusters take consecutive pCPUs in order, each its `share`
 * of the host (rounded, the last cluster takes the rest; every cluster gets at least one pCPU when
 * there are enough pCPUs).
 */
export function armClusterOfCpus(spec: ArmPmuSpec, pcpus: number): number[] {
  const out: number[] = [];
  let start = 0;
  spec.clusters.forEach((c, ci) => {
    const last = ci === spec.clusters.length - 1;
    const remainingClusters = spec.clusters.length - ci - 1;
    let n = last ? pcpus - start : Math.max(1, Math.round(c.share * pcpus));
    const reserve = Math.min(remainingClusters, Math.max(0, pcpus - start - 1));
    n = Math.max(0, Math.min(n, pcpus - start - reserve));
    for (let i = 0; i < n; i++) out.push(ci);
    start += n;
  });
  return out;
}

/** pCPUs covered by the arm PMU `pmuId` on a host with `pcpus` pCPUs. */
export function armPmuCpus(spec: ArmPmuSpec, pmuId: string, pcpus: number): number[] {
  const ci = spec.clusters.findIndex((c) => c.pmuId === pmuId);
  if (ci < 0) return [];
  return armClusterOfCpus(spec, pcpus).flatMap((c, cpu) => (c === ci ? [cpu] : []));
}

/** Workload events that scale with the core's clock alone (per cycle), not with its work per cycle. */
const CLOCK_EVENTS: readonly string[] = ['cycles', 'topdown-slots'];
/** Workload events that do not scale with the core (a constant-rate reference clock). */
const CONSTANT_EVENTS: readonly string[] = ['ref-cycles'];

/**
 * Per cluster, the factor of each workload event's rate (WORKLOAD_EVENT_NAMES order) on that core
 * type against the fastest one (largest capacity x clock): a workload's rates describe it on the
 * fastest core. Instruction-like events scale with work per ns (capacity-dmips-mhz x GHz), cycles
 * with the clock, reference cycles not at all.
 */
export function armClusterRateScales(spec: ArmPmuSpec, eventNames: readonly string[]): Float64Array[] {
  const work = spec.clusters.map((c) => c.capacityDmipsPerMhz * c.nominalGhz);
  const ref = spec.clusters[work.indexOf(Math.max(...work))];
  return spec.clusters.map((c, ci) =>
    Float64Array.from(eventNames, (e) =>
      CONSTANT_EVENTS.includes(e) ? 1 : CLOCK_EVENTS.includes(e) ? c.nominalGhz / ref.nominalGhz : work[ci] / (ref.capacityDmipsPerMhz * ref.nominalGhz),
    ),
  );
}
