// tools/testing/selftests/kvm/x86/pmu_event_filter_test.c (x86_64/ before v6.13), as guest
// programs. The guest counts branches retired (0xc4) on GP counter 0 over a measured loop:
// test_member_deny_list / test_not_member_allow_list expect it not to count (count 0);
// test_member_allow_list / test_not_member_deny_list / test_without_filter expect it to count.
// test_fixed_counter_bitmap: fixed counter i counts iff (action ALLOW and bit i set in
// fixed_counter_bitmap) or (action DENY and bit i clear) (is_fixed_event_allowed, pmu.c).
import { runSelftest } from './selftest-vm';

const MEASURE_BRANCHES = [
  'wrmsr: { msr: 0x186, value: 0x4300c4 }', // BR_INST_RETIRED, USR|OS|EN
  'wrmsr: { msr: 0x38f, value: 0x1 }',
  'loop: { instructions: 100000, branches: 10000 }',
  'rdpmc: { index: 0 }',
];
const BRANCHES = '{ event: 0xc4, umask: 0x00 }';
const OTHER = '{ event: 0x2e, umask: 0x41 }'; // LLC misses: an event the loop is not measured with

async function branchesCounted(mode: string, filter: string): Promise<number> {
  const steps = await runSelftest({ name: 'st-filter', vpmu: `{ mode: ${mode}${filter ? `, filter: ${filter}` : ''} }`, program: MEASURE_BRANCHES });
  return steps[3].value!;
}

describe('selftests: x86 pmu_event_filter_test', () => {
  const modes = ['emulated', 'passthrough'];
  it.each(modes)('%s: without a filter the event counts (test_without_filter)', async (mode) => {
    expect(await branchesCounted(mode, '')).toBe(10000);
  });
  it.each(modes)('%s: a deny list holding the event stops it (test_member_deny_list)', async (mode) => {
    expect(await branchesCounted(mode, `{ action: deny, events: [${BRANCHES}] }`)).toBe(0);
  });
  it.each(modes)('%s: an allow list holding the event lets it count (test_member_allow_list)', async (mode) => {
    expect(await branchesCounted(mode, `{ action: allow, events: [${BRANCHES}] }`)).toBe(10000);
  });
  it.each(modes)('%s: a deny list without the event lets it count (test_not_member_deny_list)', async (mode) => {
    expect(await branchesCounted(mode, `{ action: deny, events: [${OTHER}] }`)).toBe(10000);
  });
  it.each(modes)('%s: an allow list without the event stops it (test_not_member_allow_list)', async (mode) => {
    expect(await branchesCounted(mode, `{ action: allow, events: [${OTHER}] }`)).toBe(0);
  });

  it.each([
    ['deny', '0x1', 0],
    // Counting: the loop and the GLOBAL_CTRL WRMSR that enabled the counter (KVM emulates it and
    // credits it, kvm_pmu_instruction_retired: the filter allows fixed counter 0 there too).
    ['deny', '0x0', 100001],
    ['allow', '0x1', 100001],
    ['allow', '0x0', 0],
  ])('emulated: fixed counter 0 with action %s and fixedCounterBitmap %s counts %i (test_fixed_counter_bitmap)', async (action, bitmap, expected) => {
    const steps = await runSelftest({
      name: 'st-filter-fixed',
      vpmu: `{ mode: emulated, filter: { action: ${action}, events: [${OTHER}], fixedCounterBitmap: ${bitmap} } }`,
      program: ['wrmsr: { msr: 0x38d, value: 0x3 }', 'wrmsr: { msr: 0x38f, value: 0x100000000 }', 'loop: { instructions: 100000, branches: 10000 }', 'rdpmc: { index: 0x40000000 }'],
    });
    expect(steps[3].value).toBe(expected);
  });
});
