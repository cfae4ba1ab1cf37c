// tools/testing/selftests/kvm/arm64/vpmu_counter_access.c (aarch64/ before v6.13), as guest
// programs on an arm64 host (Cortex-A76 cores: PMCR_EL0.N = 6).
// test_create_vpmu_vm_with_nr_counters: after KVM_ARM_VCPU_PMU_V3_SET_NR_COUNTERS n the guest reads
// PMCR_EL0.N == n; run_error_test: n beyond the PMU's N is refused (-EINVAL);
// test_access_pmc_regs: PMCNTENSET_EL0 keeps only the bits of implemented counters (0..n-1 and
// the cycle counter, bit 31), the others RAZ/WI; test_access_invalid_pmc_regs: PMEVCNTR<i>_EL0 and
// PMEVTYPER<i>_EL0 for i >= n are UNDEFINED.
import { runScenarioText } from '../support/run-scenario';

const armVm = (id: string, pcpu: number, nr: number, program: string[]) => `  - id: ${id}
    host: a1
    vcpus: 1
    affinity: [${pcpu}]
    vpmu: { mode: emulated, nrCounters: ${nr} }
    workload: idle
    program:
${program.map((s) => `      - ${s}`).join('\n')}`;

const scenario = (vms: string) => `version: 1
name: st-arm64-counter-access
seed: 1
duration: 2ms
hosts:
  - id: a1
    cpu: arm-a76-a55
    pcpus: 8
vms:
${vms}
`;

describe('selftests: arm64 vpmu_counter_access', () => {
  it('nr counters 3: PMCR_EL0.N = 3, PMCNTENSET_EL0 keeps bits 0-2 and 31, PMEVCNTR/PMEVTYPER 3 UNDEFINED, 2 accessible', async () => {
    const program = [
      'armRead: { reg: PMCR_EL0 }',
      'armWrite: { reg: PMCNTENSET_EL0, value: 0xffffffff }',
      'armRead: { reg: PMCNTENSET_EL0 }',
      'armRead: { reg: PMEVCNTR_EL0, n: 2 }',
      'armRead: { reg: PMEVCNTR_EL0, n: 3 }',
      'armWrite: { reg: PMEVTYPER_EL0, n: 3, value: 0x11 }',
    ];
    const run = await runScenarioText(scenario(armVm('n3', 0, 3, program)));
    const p = run.summary.vms.n3.program;
    expect((p[0].value! >> 11) & 0x1f).toBe(3);
    expect(p[2].value! >>> 0).toBe(0x80000007);
    expect(p[3].result).toBe('ok');
    expect(p[4].result).toBe('undefined');
    expect(p[5].result).toBe('undefined');
  });

  it('nr counters 7 on a PMU with 6: refused with EINVAL, the guest keeps N = 6 (run_error_test)', async () => {
    const run = await runScenarioText(scenario(armVm('n7', 0, 7, ['armRead: { reg: PMCR_EL0 }'])));
    expect(run.summary.vms.n7.actions).toEqual([expect.objectContaining({ action: 'setNrCounters', arg: '7', result: 'EINVAL' })]);
    expect((run.summary.vms.n7.program[0].value! >> 11) & 0x1f).toBe(6);
  });

  // kvm_arm_pmu_v3_set_attr (arch/arm64/kvm/pmu-emul.c) refuses SET_NR_COUNTERS once the VM has
  // run (kvm_vm_has_ran_once): a guest register access is guest code, so it took a KVM_RUN.
  it('SET_NR_COUNTERS after the guest accessed a PMU register: EBUSY, PMCR_EL0.N unchanged', async () => {
    const run = await runScenarioText(scenario(armVm('late', 0, 6, ['armRead: { reg: PMCR_EL0 }', 'setNrCounters: { n: 2 }', 'armRead: { reg: PMCR_EL0 }'])));
    const p = run.summary.vms.late.program;
    expect(p[1].result).toBe('EBUSY');
    expect((p[2].value! >> 11) & 0x1f).toBe(6);
  });
});
