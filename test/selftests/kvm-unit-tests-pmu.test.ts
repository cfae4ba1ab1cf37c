// kvm-unit-tests x86/pmu.c, as guest programs.
// check_rdpmc: val = 0xff0123456789 written to IA32_PERFCTRx reads back through RDPMC as its low 32
// bits sign-extended ("Without full-width writes, only the low 32 bits are writable, and the value
// is sign-extended"), masked to the counter width; through IA32_A_PMCx (full-width writes) as val
// masked to the width. check_counter_overflow: a counter preset so the measured code overflows it
// sets its bit in IA32_PERF_GLOBAL_STATUS, and writing that bit to GLOBAL_OVF_CTRL clears it.
import { runSelftest } from './selftest-vm';

const VAL = 0xff0123456789;
const WIDTH48 = 2 ** 48;

describe('selftests: kvm-unit-tests x86 pmu', () => {
  it.each(['emulated', 'passthrough'])('%s: check_rdpmc, legacy and full-width writes of 0xff0123456789', async (mode) => {
    const legacy = 0x23456789; // (int32_t)0x23456789 is positive: no sign extension
    const steps = await runSelftest({
      name: 'kut-rdpmc',
      vpmu: `{ mode: ${mode} }`,
      program: [`wrmsr: { msr: 0xc1, value: ${VAL} }`, 'rdpmc: { index: 0 }', `wrmsr: { msr: 0x4c2, value: ${VAL} }`, 'rdpmc: { index: 1 }'],
    });
    expect(steps[1].value).toBe(legacy);
    expect(steps[3].value).toBe(VAL % WIDTH48);
  });

  it.each(['emulated', 'passthrough'])('%s: check_counter_overflow, GLOBAL_STATUS bit set at the overflow, cleared by GLOBAL_OVF_CTRL', async (mode) => {
    const steps = await runSelftest({
      name: 'kut-overflow',
      vpmu: `{ mode: ${mode} }`,
      program: [
        `wrmsr: { msr: 0x4c1, value: ${WIDTH48 - 50000} }`, // IA32_A_PMC0: 50000 events to the wrap
        'wrmsr: { msr: 0x186, value: 0x4300c0 }',
        'wrmsr: { msr: 0x38f, value: 0x1 }',
        'loop: { instructions: 100000, branches: 10000 }',
        'wrmsr: { msr: 0x38f, value: 0x0 }',
        'rdmsr: { msr: 0x38e }',
        'wrmsr: { msr: 0x390, value: 0x1 }',
        'rdmsr: { msr: 0x38e }',
        'rdpmc: { index: 0 }',
      ],
    });
    expect(steps[5].value! & 1).toBe(1);
    expect(steps[7].value! & 1).toBe(0);
    // Wrapped: from 2^48 - 50000 the counter counted the loop's 100000 instructions and the two
    // WRMSRs that enabled it (each retired with the counter counting: KVM credits the trapped one,
    // kvm_skip_emulated_instruction -> kvm_pmu_instruction_retired); the one that disabled it not.
    expect(steps[8].value).toBe(50002);
  });
});
