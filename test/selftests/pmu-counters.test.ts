// tools/testing/selftests/kvm/x86/pmu_counters_test.c (x86_64/ before v6.13), as guest programs.
//
// guest_rd_wr_counters: for every possible counter i (MAX_NR_GP_COUNTERS 8, MAX_NR_FIXED_COUNTERS
// 3), WRMSR test_val 0xffff then RDMSR: a supported counter reads it back; an unsupported one
// #GPs on both, except MSR_P6_PERFCTR0/1 when the vCPU has no PMU ("KVM drops writes to
// MSR_P6_PERFCTR[0|1] if the vCPU doesn't have a PMU, i.e. doesn't #GP and reads back '0'");
// guest_test_rdpmc: RDPMC of an unsupported index #GPs. guest_assert_event_count: the
// instructions-retired and branches-retired events count what the measured loop retired.
import { runSelftest } from './selftest-vm';

const TEST_VAL = 0xffff;
const ok = (step: number, equals?: number) => (equals === undefined ? `expect: { step: ${step}, fault: none }` : `expect: { step: ${step}, equals: ${equals} }`);
const gp = (step: number) => `expect: { step: ${step}, fault: gp }`;

describe('selftests: x86 pmu_counters_test', () => {
  it.each(['emulated', 'passthrough'])('%s, 4 GP counters: IA32_PMC0..3 and IA32_A_PMC0..3 read back 0xffff, counters 4..7 #GP (guest_rd_wr_counters)', async (mode) => {
    const program: string[] = [];
    const expects: string[] = [];
    for (const base of [0xc1, 0x4c1]) {
      for (let i = 0; i < 8; i++) {
        const w = program.length;
        program.push(`wrmsr: { msr: ${base + i}, value: ${TEST_VAL} }`, `rdmsr: { msr: ${base + i} }`);
        if (i < 4) expects.push(ok(w), ok(w + 1, TEST_VAL));
        else expects.push(gp(w), gp(w + 1));
      }
    }
    const steps = await runSelftest({ name: 'st-gp-rdwr', vpmu: `{ mode: ${mode}, nrCounters: 4 }`, program: [...program, ...expects] });
    expect(steps.filter((s) => s.op === 'expect').map((s, k) => `${k}:${s.ok}`)).toEqual(expects.map((_, k) => `${k}:true`));
  });

  it.each(['emulated', 'passthrough'])('%s: fixed counters 0..2 read back 0xffff (guest_test_fixed_counters)', async (mode) => {
    const program: string[] = [];
    const expects: string[] = [];
    for (let i = 0; i < 3; i++) {
      const w = program.length;
      program.push(`wrmsr: { msr: ${0x309 + i}, value: ${TEST_VAL} }`, `rdmsr: { msr: ${0x309 + i} }`);
      expects.push(ok(w), ok(w + 1, TEST_VAL));
    }
    const steps = await runSelftest({ name: 'st-fixed-rdwr', vpmu: `{ mode: ${mode} }`, program: [...program, ...expects] });
    expect(steps.filter((s) => s.op === 'expect').every((s) => s.ok)).toBe(true);
  });

  it.each(['emulated', 'passthrough'])('%s, 4 GP counters: RDPMC 0..3 succeed, RDPMC 4 #GPs (guest_test_rdpmc)', async (mode) => {
    const program = ['rdpmc: { index: 0 }', 'rdpmc: { index: 3 }', 'rdpmc: { index: 4 }', ok(0), ok(1), gp(2)];
    const steps = await runSelftest({ name: 'st-rdpmc', vpmu: `{ mode: ${mode}, nrCounters: 4 }`, program });
    expect(steps.filter((s) => s.op === 'expect').every((s) => s.ok)).toBe(true);
  });

  it('no PMU: MSR_P6_PERFCTR0/1 writes are dropped and read 0; IA32_PMC2, IA32_A_PMC0 and RDPMC #GP', async () => {
    const program = [
      `wrmsr: { msr: 0xc1, value: ${TEST_VAL} }`,
      'rdmsr: { msr: 0xc1 }',
      `wrmsr: { msr: 0xc2, value: ${TEST_VAL} }`,
      'rdmsr: { msr: 0xc2 }',
      `wrmsr: { msr: 0xc3, value: ${TEST_VAL} }`,
      `wrmsr: { msr: 0x4c1, value: ${TEST_VAL} }`,
      'rdpmc: { index: 0 }',
      ok(0), ok(1, 0), ok(2), ok(3, 0), gp(4), gp(5), gp(6),
    ];
    const steps = await runSelftest({ name: 'st-nopmu', vpmu: '{ mode: none }', program });
    expect(steps.filter((s) => s.op === 'expect').map((s) => s.ok)).toEqual([true, true, true, true, true, true, true]);
  });

  it.each(['emulated', 'passthrough'])('%s: instructions and branches retired count the measured loop (guest_assert_event_count)', async (mode) => {
    const program = [
      'wrmsr: { msr: 0x186, value: 0x4300c0 }', // INST_RETIRED.ANY_P, USR|OS|EN
      'wrmsr: { msr: 0x187, value: 0x4300c4 }', // BR_INST_RETIRED.ALL_BRANCHES
      'wrmsr: { msr: 0x38f, value: 0x3 }',
      'loop: { instructions: 100000, branches: 10000 }',
      'rdpmc: { index: 0 }',
      'rdpmc: { index: 1 }',
      'expect: { step: 4, equals: 100000 }',
      'expect: { step: 5, equals: 10000 }',
    ];
    const steps = await runSelftest({ name: 'st-events', vpmu: `{ mode: ${mode} }`, program });
    expect(steps.filter((s) => s.op === 'expect').map((s) => s.ok)).toEqual([true, true]);
  });
});
