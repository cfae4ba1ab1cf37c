// The cost model: every simulated action that costs the guest time has a named parameter with a
// default from a cited public figure (docs/cost-model.md, overridable per scenario
// (`costs:` in the scenario file). Where no public figure exists the default is chosen and the
// choice is stated. Cycles are converted to ns with the host's nominal frequency.
import { OperatingError } from '@vpmu/errors';

export interface CostParameter {
  name: string;
  default: number;
  unit: 'cycles' | 'ns';
  source: string;
}

export const COST_PARAMETERS: readonly CostParameter[] = [
  { name: 'vmExitRoundTripCycles', default: 1_060, unit: 'cycles', source: 'VM exit + entry round trip (CPUID exit) ~1,020-1,100 cycles: S. Christopherson, kvm list, Dec 2024' },
  { name: 'hypercallExitCycles', default: 1_545, unit: 'cycles', source: 'VMCALL exit on Skylake-SP ~1,530-1,560 cycles: W. Li, kvm list, Mar 2020' },
  { name: 'msrTrapCycles', default: 2_750, unit: 'cycles', source: 'trapped WRMSR (TSC deadline) on Skylake-SP ~2,500-3,000 cycles: W. Li, kvm list, 2020; used for every trapped PMU MSR (no PMU-specific public figure)' },
  { name: 'pmuContextSwitchCycles', default: 3_500, unit: 'cycles', source: 'the passthrough RFC\'s own PMU context save + restore at every exit/entry pair (intel_save_pmu_context / intel_restore_pmu_context, "[RFC PATCH 23/41] KVM: x86/pmu: Implement the save/restore of PMU state for Intel CPU", Jan 2024, as quoted in its review of Apr 2024): the save clears every in-use selector and counter, the restore writes them back: 2 x (8 GP selectors + 8 GP counters + FIXED_CTR_CTRL + 4 fixed counters) = 42 PMU WRMSRs on Sapphire Rapids, at ~83 cycles each (eliding the ~12 guest PMC WRMSRs of a load saves ~1k cycles on Emerald Rapids: "KVM: x86/pmu: Elide WRMSRs when loading guest PMCs if values already match", mediated vPMU v6 patch 34/44, Dec 2025); the RDPMC / RDMSR reads are not charged (the same patch: WRMSR is significantly more expensive than RDPMC)' },
  { name: 'perfGuestSwitchCycles', default: 2_750, unit: 'cycles', source: 'the passthrough RFC\'s perf_guest_enter at every entry and perf_guest_exit at every exit ("[RFC PATCH 02/41] perf: Support guest enter/exit interfaces", Jan 2024: schedule out every host event of the core PMU, then reschedule the CPU and task contexts) and the PMI vector switch both ways (perf_guest_switch_to_kvm_pmi_vector / _host_pmi_vector): 9 PMU/APIC WRMSRs with one host event per CPU (2 LVTPC writes, GLOBAL_CTRL off/on around each pass, the event\'s selector at sched-out, its counter and selector at sched-in) at ~83 cycles (as pmuContextSwitchCycles) = ~750 cycles, plus the two passes of perf core code (perf_ctx_lock, walking the pinned and flexible groups of the CPU and task contexts, time updates): no public figure, chosen ~1,000 cycles per pass' },
  { name: 'mediatedPmuSwitchCycles', default: 4_000, unit: 'cycles', source: 'mediated vPMU (merged design) guest PMU load + put around a CPUID exit ~4k cycles on Emerald Rapids (6.2k on AMD Turin) before eliding unchanged PMC writes: "KVM: x86/pmu: Elide WRMSRs when loading guest PMCs if values already match", mediated vPMU v6 patch 34/44 (S. Christopherson, kvm list, Dec 2025)' },
  { name: 'mediatedPmuSwitchElidedCycles', default: 3_000, unit: 'cycles', source: 'the same switch when every guest PMC value is already in the hardware (WRMSRs elided) ~3k cycles on Emerald Rapids (5.3k on AMD Turin): mediated vPMU v6 patch 34/44 (Dec 2025)' },
  { name: 'perfEventReprogramNs', default: 2_500_000, unit: 'ns', source: 'emulated vPMU counter reconfiguration through perf ~2.5 ms (E5-2699 v4): W. Wang, "Intel Virtual PMU Optimization", kvm list, 2018' },
  { name: 'perfEventCreateNs', default: 20_000, unit: 'ns', source: 'no public figure for perf_event_create_kernel_counter alone; chosen well below the 2.5 ms full reconfiguration and above a trapped MSR' },
  { name: 'perfEventToggleNs', default: 2_000, unit: 'ns', source: 'no public figure for perf_event_enable/disable/period; chosen ~ a few trapped MSR accesses' },
  { name: 'guestPmiEmulatedNs', default: 99_000, unit: 'ns', source: 'guest PMI handling latency in emulated vPMU ~99 us: L. Xu, kvm list, 2019' },
  { name: 'guestPmiEmulatedReusedNs', default: 56_000, unit: 'ns', source: '~56 us when perf events are reused: L. Xu, kvm list, 2019' },
  { name: 'guestPmiHandlerNs', default: 2_000, unit: 'ns', source: 'no public figure for the guest kernel\'s own PMI (NMI) handler; chosen ~2 us (read status, re-arm the counters, record a sample) and charged as guest time not spent on the workload' },
  { name: 'pvEventSyncNs', default: 300, unit: 'ns', source: 'no public figure; paravirt perf: copying one event\'s count and overflows into guest memory before entry (kvm_copy_event_to_guest: kvm_read_guest + kvm_write_guest of a small struct, the "para virt interface of perf to support kvm guest os statistics collection in guest os" thread (Y. Zhang, A. Kivity, kvm list, Jun 2010)) chosen at ~300 ns, a fraction of an exit round trip' },
  { name: 'ioExitHandlingNs', default: 5_000, unit: 'ns', source: 'no public figure used; an I/O exit to the userspace VMM (QEMU/virtio notify) chosen at ~5 us' },
  { name: 'lbrLegacyMsrAccessCycles', default: 150, unit: 'cycles', source: 'no public figure for a legacy LBR save/restore; modelled as depth x 3 RDMSR/WRMSR (FROM/TO/INFO) at a chosen ~150 cycles each, e.g. 32 entries ~ 14.4k cycles per save or restore (docs/lbr.md)' },
  { name: 'lbrArchXsavesNsPerMsr', default: 30, unit: 'ns', source: 'no public figure for an XSAVES/XRSTORS of the arch LBR state component; modelled as depth x 3 MSRs x ~30 ns (a few dozen ns each), e.g. 32 entries ~ 2.9 us per save or restore (docs/lbr.md)' },
];

export type CostName =
  | 'vmExitRoundTripCycles'
  | 'hypercallExitCycles'
  | 'msrTrapCycles'
  | 'pmuContextSwitchCycles'
  | 'perfGuestSwitchCycles'
  | 'mediatedPmuSwitchCycles'
  | 'mediatedPmuSwitchElidedCycles'
  | 'perfEventReprogramNs'
  | 'perfEventCreateNs'
  | 'perfEventToggleNs'
  | 'guestPmiEmulatedNs'
  | 'guestPmiEmulatedReusedNs'
  | 'guestPmiHandlerNs'
  | 'pvEventSyncNs'
  | 'ioExitHandlingNs'
  | 'lbrLegacyMsrAccessCycles'
  | 'lbrArchXsavesNsPerMsr';

/** A `costs:` key in the scenario that names no cost parameter: bad input, not a bug. */
export class UnknownCostParameterError extends OperatingError {
  constructor(message: string) {
    super('bad-input', message);
  }
}

/** Resolved costs in integer ns for one host (cycles converted at `cpuGhz`). */
export class CostModel {
  private readonly ns = new Map<string, number>();

  constructor(overrides: Record<string, number>, readonly cpuGhz: number) {
    const known = new Set(COST_PARAMETERS.map((p) => p.name));
    for (const name of Object.keys(overrides).sort()) {
      if (!known.has(name)) {
        throw new UnknownCostParameterError(`costs.${name}: unknown cost parameter (known: ${[...known].join(', ')})`);
      }
    }
    for (const p of COST_PARAMETERS) {
      const v = overrides[p.name] ?? p.default;
      this.ns.set(p.name, p.unit === 'cycles' ? Math.round(v / cpuGhz) : Math.round(v));
    }
  }

  /** The cost of `name` in integer virtual ns. */
  costNs(name: CostName): number {
    return this.ns.get(name)!;
  }
}
