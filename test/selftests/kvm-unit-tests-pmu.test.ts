// kvm-unit-tests x86/pmu.c, as guest programs.
// check_rdpmc: val = 0xff0123456789 written to IA32_PERFCTRx reads back through RDPMC as its low 32
// bits sign-extended ("Without full-width writes, only the low 32 bits are writable, and the value
// is sign-extended"), masked to the counter width; through IA32_A_PMCx (full-width writes) as val
// masked to the width. check_counter_overflow: a counter preset so the measured code overflows it
// sets its bit in IA32_PERF_GLOBAL_STATUS, and writing that bit to GLOBAL_OVF_CTRL clears it.
// check_gp_counter / check_fixed_counters: every event's count over loop() within its bounds.
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
  // check_gp_counter / check_fixed_counters: each event counted over loop(), N = 1,000,000
  // iterations of MOV, ADD, 7 NOP, LOOP (10 instructions, 1 branch each), must fall within its
  // row of the intel_gp_events / fixed_events tables (the bounds before the 2024 rework of the
  // loop): core cycles [N, 50N], instructions [10N, 10.2N], ref cycles [N, 30N], branches
  // [N, 1.1N], branch misses [0, 0.1N]; fixed 1 (instructions) [10N, 10.2N], fixed 2 (cycles)
  // [N, 30N], fixed 3 (reference cycles) [0.1N, 30N]. LLC rows: not translated (README gap).
  it.each(['emulated', 'passthrough'])('%s: check_gp_counter and check_fixed_counters bounds over loop()', async (mode) => {
    const N = 1_000_000;
    const LOOP = `loop: { instructions: ${10 * N}, branches: ${N} }`;
    const gp: [string, number, number, number][] = [
      ['core cycles', 0x003c, N, 50 * N],
      ['instructions', 0x00c0, 10 * N, 10.2 * N],
      ['ref cycles', 0x013c, N, 30 * N],
      ['branches', 0x00c4, N, 1.1 * N],
      ['branch misses', 0x00c5, 0, 0.1 * N],
    ];
    const fixed: [string, number, number, number][] = [
      ['fixed 1', 0, 10 * N, 10.2 * N],
      ['fixed 2', 1, N, 30 * N],
      ['fixed 3', 2, 0.1 * N, 30 * N],
    ];
    const program: string[] = [];
    const names: string[] = [];
    const check = (name: string, min: number, max: number) => {
      program.push(`expect: { step: ${program.length - 1}, atLeast: ${min}, atMost: ${max} }`);
      names.push(name);
    };
    for (const [name, sel, min, max] of gp) {
      // start_event: counter 0, the select (USR|OS|EN), GLOBAL_CTRL; loop(); stop_event.
      program.push('wrmsr: { msr: 0x38f, value: 0 }', 'wrmsr: { msr: 0x4c1, value: 0 }', `wrmsr: { msr: 0x186, value: ${0x430000 | sel} }`, 'wrmsr: { msr: 0x38f, value: 0x1 }', LOOP, 'wrmsr: { msr: 0x38f, value: 0 }', 'rdpmc: { index: 0 }');
      check(name, min, max);
    }
    program.push('wrmsr: { msr: 0x186, value: 0 }');
    for (const [name, f, min, max] of fixed) {
      program.push('wrmsr: { msr: 0x38f, value: 0 }', `wrmsr: { msr: ${0x309 + f}, value: 0 }`, `wrmsr: { msr: 0x38d, value: ${0x3 << (4 * f)} }`, `wrmsr: { msr: 0x38f, value: ${2 ** (32 + f)} }`, LOOP, 'wrmsr: { msr: 0x38f, value: 0 }', `rdpmc: { index: ${0x40000000 + f} }`);
      check(name, min, max);
    }
    const steps = await runSelftest({ name: 'kut-counters', vpmu: `{ mode: ${mode} }`, program });
    const verdicts = steps.filter((s) => s.op === 'expect').map((s, k) => `${names[k]}: ${s.ok ? 'ok' : `got ${s.value}`}`);
    expect(verdicts).toEqual(names.map((n) => `${n}: ok`));
  });
});
