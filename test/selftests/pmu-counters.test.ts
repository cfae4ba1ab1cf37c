// tools/testing/selftests/kvm/x86/pmu_counters_test.c (x86_64/ before v6.13), as guest programs.
//
// guest_rd_wr_counters: for every possible counter i (MAX_NR_GP_COUNTERS 8, MAX_NR_FIXED_COUNTERS
// 3), WRMSR test_val 0xffff then RDMSR: a supported counter reads it back; an unsupported one
// #GPs on both, except MSR_P6_PERFCTR0/1 when the vCPU has no PMU ("KVM drops writes to
// MSR_P6_PERFCTR[0|1] if the vCPU doesn't have a PMU, i.e. doesn't #GP and reads back '0'");
// guest_test_rdpmc: RDPMC of an unsupported index #GPs. guest_assert_event_count: every
// architectural event over the measured sequence (exact instructions and branches, non-zero
// cycles and reference cycles, GP and fixed counters).
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

  // guest_test_arch_event / GUEST_MEASURE_EVENT / guest_assert_event_count, as upstream runs them:
  // the counter is zeroed and enabled by one WRMSR (the event select for GP counters,
  // PERF_GLOBAL_CTRL for fixed ones), the measured code runs (NUM_LOOPS = 10 iterations of
  // CLFLUSH, MFENCE, MOV, LOOP, plus MOV $NUM_LOOPS before them and MOV, XOR, XOR after them: 44
  // instructions, 10 branches), one WRMSR disables the counter. Upstream expects exactly
  // NUM_INSNS_RETIRED = 10 * 4 + 5 instructions (the 5 extra: 2 MOV, 2 XOR, 1 WRMSR) and
  // NUM_BRANCH_INSNS_RETIRED = 10 branches; cycles and reference cycles non-zero; topdown slots at
  // least NUM_INSNS_RETIRED. The WRMSR counted is the one that enabled the counter: under KVM it
  // exits, KVM emulates it and credits it after the write took effect (kvm_skip_emulated_instruction
  // -> kvm_pmu_instruction_retired, arch/x86/kvm/x86.c and pmu.c); the disabling one finds the
  // counter off. Then the sanity checks: a LOOP with the counter off leaves it unchanged, and a
  // write of 0xdead reads back.
  const NUM_INSNS_RETIRED = 10 * 4 + 5;
  const NUM_BRANCH_INSNS_RETIRED = 10;
  const MEASURED = 'loop: { instructions: 44, branches: 10 }';
  type Check = { equals: number } | { atLeast: number };
  const gpEvents: [string, number, Check][] = [
    ['instructions retired', 0x00c0, { equals: NUM_INSNS_RETIRED }],
    ['branches retired', 0x00c4, { equals: NUM_BRANCH_INSNS_RETIRED }],
    ['cpu cycles', 0x003c, { atLeast: 1 }],
    ['reference cycles', 0x013c, { atLeast: 1 }],
  ];
  const fixedEvents: [string, number, Check][] = [
    ['fixed 0 (instructions)', 0, { equals: NUM_INSNS_RETIRED }],
    ['fixed 1 (cycles)', 1, { atLeast: 1 }],
    ['fixed 2 (TSC reference cycles)', 2, { atLeast: 1 }],
    ['fixed 3 (topdown slots)', 3, { atLeast: NUM_INSNS_RETIRED }],
  ];
  const expectText = (step: number, c: Check) => ('equals' in c ? `expect: { step: ${step}, equals: ${c.equals} }` : `expect: { step: ${step}, atLeast: ${c.atLeast} }`);

  function archEventProgram(): { program: string[]; names: string[] } {
    const program: string[] = [];
    const names: string[] = [];
    const measure = (name: string, c: Check, setup: string[], enable: string, disable: string, rdpmc: string, counterMsr: number) => {
      program.push(...setup, enable, MEASURED, disable, rdpmc);
      const read = program.length - 1;
      program.push(expectText(read, c));
      names.push(`${name}: count`);
      if ('equals' in c) {
        // sanity_checks: a LOOP with the counter disabled changes nothing.
        program.push('loop: { instructions: 10, branches: 10 }', rdpmc);
        program.push(`expect: { step: ${program.length - 1}, equals: ${c.equals} }`);
        names.push(`${name}: no count while disabled`);
      }
      program.push(`wrmsr: { msr: ${counterMsr}, value: 0xdead }`, rdpmc);
      program.push(`expect: { step: ${program.length - 1}, equals: 0xdead }`);
      names.push(`${name}: write read back`);
    };
    for (const [name, sel, c] of gpEvents) {
      // IA32_PERFEVTSEL0 off, GLOBAL_CTRL = BIT(0), IA32_PMC0 (full-width) = 0, then OS|EN|event.
      measure(name, c, ['wrmsr: { msr: 0x186, value: 0 }', 'wrmsr: { msr: 0x38f, value: 0x1 }', 'wrmsr: { msr: 0x4c1, value: 0 }'], `wrmsr: { msr: 0x186, value: ${0x420000 | sel} }`, 'wrmsr: { msr: 0x186, value: 0 }', 'rdpmc: { index: 0 }', 0x4c1);
    }
    for (const [name, f, c] of fixedEvents) {
      // GLOBAL_CTRL off, FIXED_CTRf = 0, FIXED_CTR_CTRL = FIXED_PMC_KERNEL for f, then GLOBAL_CTRL = BIT(32 + f).
      measure(name, c, ['wrmsr: { msr: 0x38f, value: 0 }', `wrmsr: { msr: ${0x309 + f}, value: 0 }`, `wrmsr: { msr: 0x38d, value: ${0x1 << (4 * f)} }`], `wrmsr: { msr: 0x38f, value: ${2 ** (32 + f)} }`, 'wrmsr: { msr: 0x38f, value: 0 }', `rdpmc: { index: ${0x40000000 + f} }`, 0x309 + f);
    }
    return { program, names };
  }

  it.each(['emulated', 'passthrough'])('%s: architectural events count the measured loop exactly as upstream expects, the enabling WRMSR included (guest_test_arch_event, guest_assert_event_count)', async (mode) => {
    const { program, names } = archEventProgram();
    const steps = await runSelftest({ name: 'st-arch-events', vpmu: `{ mode: ${mode} }`, program });
    const verdicts = steps.filter((s) => s.op === 'expect').map((s, k) => `${names[k]}: ${s.ok ? 'ok' : `got ${s.value}`}`);
    expect(verdicts).toEqual(names.map((n) => `${n}: ok`));
  });
});
