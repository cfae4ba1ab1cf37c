// No PMU (KVM_PMU_CAP_DISABLE): CPUID.0AH is empty and PMU MSRs / RDPMC #GP after a trap, except
// the legacy P6 ones: kvm_set_msr_common / kvm_get_msr_common (arch/x86/kvm/x86.c) take
// MSR_P6_PERFCTR0/1 and MSR_P6_EVNTSEL0/1 themselves when the vPMU does not claim them, dropping
// writes and reading 0 (pmu_counters_test: "KVM drops writes to MSR_P6_PERFCTR[0|1] if the vCPU
// doesn't have a PMU, i.e. doesn't #GP and reads back '0'").
// The paravirtual perf guest uses it too: its perf driver makes hypercalls instead.
import type { RegResult, WriteResult } from '@vpmu/pmu';
import { MSR } from '@vpmu/pmu';
import { GP_FAULT } from './pmu-msr-class';
import { VcpuVpmu } from './vpmu-backend';
import type { VcpuWorldPort } from './vcpu-world.port';

/** MSR_P6_PERFCTR0/1 (0xC1/0xC2) and MSR_P6_EVNTSEL0/1 (0x186/0x187). */
function isLegacyP6(msr: number): boolean {
  return msr === MSR.IA32_PMC0 || msr === MSR.IA32_PMC0 + 1 || msr === MSR.IA32_PERFEVTSEL0 || msr === MSR.IA32_PERFEVTSEL0 + 1;
}

/** No PMU: CPUID.0AH empty, PMU MSRs and RDPMC #GP (KVM injects #GP after the exit), the legacy P6 four aside. */
export class NoneVpmu extends VcpuVpmu {
  wrmsr(_ops: VcpuWorldPort, msr: number): WriteResult {
    this.trap('msr-write', msr);
    if (isLegacyP6(msr)) return { ok: true }; // dropped
    return GP_FAULT as WriteResult;
  }
  rdmsr(_ops: VcpuWorldPort, msr: number): RegResult {
    this.trap('msr-read', msr);
    if (isLegacyP6(msr)) return { ok: true, value: 0n };
    return GP_FAULT;
  }
  rdpmc(): RegResult {
    this.trap('rdpmc', 0);
    return GP_FAULT;
  }
  peek(): bigint {
    return 0n;
  }
  programLoop(): void {}
  override cpuid0a(): { eax: number; ebx: number; ecx: number; edx: number } {
    return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  }
}
