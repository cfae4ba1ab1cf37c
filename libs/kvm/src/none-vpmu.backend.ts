// No PMU (KVM_PMU_CAP_DISABLE): CPUID.0AH is empty and every PMU MSR / RDPMC #GPs after a trap.
// The paravirtual perf guest uses it too: its perf driver makes hypercalls instead.
import type { RegResult, WriteResult } from '@vpmu/pmu';
import { GP_FAULT } from './pmu-msr-class';
import { VcpuVpmu } from './vpmu-backend';
import type { VcpuWorldPort } from './vcpu-world.port';

/** No PMU: CPUID.0AH empty, every PMU MSR and RDPMC #GPs (KVM injects #GP after the exit). */
export class NoneVpmu extends VcpuVpmu {
  wrmsr(_ops: VcpuWorldPort, msr: number): WriteResult {
    this.trap('msr-write', msr);
    return GP_FAULT as WriteResult;
  }
  rdmsr(_ops: VcpuWorldPort, msr: number): RegResult {
    this.trap('msr-read', msr);
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
  override cpuid0a(): { eax: number; ebx: number; edx: number } {
    return { eax: 0, ebx: 0, edx: 0 };
  }
}
