// tools/testing/selftests/kvm/x86/pmu_counters_test.c test_intel_counters, as scenarios: the
// upstream test sweeps the guest PMU version, PERF_CAPABILITIES (full-width writes off / on), the
// GP counter count and the fixed-counter count x bitmask, and checks in the guest which counter
// MSRs and RDPMC indexes exist. Here each combination is one VM with `vpmu.guestPmu` (several VMs
// per run keep the tier cheap); the expectations are the test's:
// - guest_test_gp_counters: for version 2+ PERF_GLOBAL_CTRL reads GENMASK(n-1, 0) after RESET
//   (0 with no GP counter); counters below n read back 0xffff through RDMSR and RDPMC, those from
//   n on #GP, except MSR_P6_PERFCTR0/1 (writes dropped, read 0); the base MSR is IA32_A_PMC0 when
//   PERF_CAPABILITIES.FW_WRITES, IA32_PERFCTR0 otherwise (the A_PMC aliases #GP without it);
//   fast-mode RDPMC (bit 31) always #GPs.
// - guest_test_fixed_counters: fixed counters exist from version 2 (contiguous count), the
//   bitmask from version 5; counter i exists when i < count or bit i is set; an absent one #GPs
//   on its MSR, on RDPMC, on a FIXED_CTR_CTRL field enabling it and on its GLOBAL_CTRL bit.
// - version 0 is no PMU (only the P6 quirk answers).
// The mediated interception decisions for a shape that differs from the host's are unit-tested in
// libs/kvm/src/guest-pmu-shape.spec.ts.
import { parseScenario } from '@vpmu/scenario';
import { runScenarioText } from '../support/run-scenario';

const TIMEOUT_MS = 180_000;
const TEST_VAL = 0xffff;

interface VmCase {
  id: string;
  guestPmu: string;
  program: string[];
  expects: string[];
}

/** One Sapphire Rapids host (8 GP, 4 fixed counters, version 5, FW_WRITES), one VM per case. */
function sweepScenario(name: string, mode: 'emulated' | 'mediated', cases: VmCase[]): string {
  const vms = cases
    .map(
      (c) => `  - id: ${c.id}
    host: h1
    vcpus: 1
    vpmu: { mode: ${mode}, guestPmu: ${c.guestPmu} }
    workload: idle
    program:
${[...c.program, ...c.expects].map((s) => `      - ${s}`).join('\n')}`,
    )
    .join('\n');
  return `version: 1
name: ${name}
seed: 1
duration: 1ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
    nmiWatchdog: false
${mode === 'mediated' ? '    kernel: mainline\n    kvm: { enableMediatedPmu: true }\n' : ''}vms:
${vms}
`;
}

/** Builder of one VM's program: steps and the expects on them. */
class Prog {
  program: string[] = [];
  expects: string[] = [];
  private add(step: string): number {
    this.program.push(step);
    return this.program.length - 1;
  }
  wr(msr: number, value: number | string, gp: boolean): void {
    const s = this.add(`wrmsr: { msr: ${msr}, value: ${value} }`);
    this.expects.push(`expect: { step: ${s}, fault: ${gp ? 'gp' : 'none'} }`);
  }
  rd(msr: number, gp: boolean, equals?: number): void {
    const s = this.add(`rdmsr: { msr: ${msr} }`);
    this.expects.push(gp || equals === undefined ? `expect: { step: ${s}, fault: ${gp ? 'gp' : 'none'} }` : `expect: { step: ${s}, equals: ${equals} }`);
  }
  rdpmc(index: number, gp: boolean, equals?: number): void {
    const s = this.add(`rdpmc: { index: ${index} }`);
    this.expects.push(gp || equals === undefined ? `expect: { step: ${s}, fault: ${gp ? 'gp' : 'none'} }` : `expect: { step: ${s}, equals: ${equals} }`);
  }
  /** Renumbers the expects after the program steps (expects refer to program step numbers). */
  vm(id: string, guestPmu: string): VmCase {
    return { id, guestPmu, program: this.program, expects: this.expects };
  }
}

/** guest_rd_wr_counters for one counter range. */
function rdWrCounters(p: Prog, baseMsr: number, possible: number, present: (i: number) => boolean, fixed: boolean): void {
  for (let i = 0; i < possible; i++) {
    const msr = baseMsr + i;
    const ok = present(i);
    const p6Quirk = !ok && (msr === 0xc1 || msr === 0xc2);
    p.wr(msr, TEST_VAL, !ok && !p6Quirk);
    p.rd(msr, !ok && !p6Quirk, ok ? TEST_VAL : p6Quirk ? 0 : undefined);
    const idx = fixed ? (1 << 30) | i : i;
    p.rdpmc(idx, !ok, ok ? TEST_VAL : undefined);
    p.rdpmc(idx + 2 ** 31, true); // INTEL_RDPMC_FAST: KVM has no fast mode
    p.wr(msr, 0, !ok && !p6Quirk);
  }
}

function gpCase(version: number, fw: boolean, n: number): VmCase {
  const p = new Prog();
  if (version > 1) p.rd(0x38f, false, n === 0 ? 0 : 2 ** n - 1);
  // PERF_CAPABILITIES: FW_WRITES (bit 13) as the VM set it, beside the host's LBR format (0x3f,
  // architectural LBR, on intel-spr: docs/cpu-presets.md).
  if (version > 0) p.rd(0x345, false, (fw ? 0x2000 : 0) | 0x3f);
  rdWrCounters(p, fw ? 0x4c1 : 0xc1, 8, (i) => version > 0 && i < n, false);
  // The alias the guest was not given: IA32_A_PMC0 #GPs without FW_WRITES.
  if (!fw) p.wr(0x4c1, 1, true);
  return p.vm(`gp-v${version}-fw${fw ? 1 : 0}-n${n}`, `{ version: ${version}, fullWidthWrites: ${fw}, gpCounters: ${n} }`);
}

function fixedCase(version: number, count: number, mask: number): VmCase {
  const nr = version >= 2 ? count : 0;
  const bitmask = version >= 5 ? mask : 0;
  const present = (i: number) => i < nr || (bitmask & (1 << i)) !== 0;
  const p = new Prog();
  rdWrCounters(p, 0x309, 3, present, true);
  for (let i = 0; i < 3; i++) {
    if (present(i)) continue;
    p.wr(0x38d, `0x${(1 << (4 * i)).toString(16)}`, true); // FIXED_PMC_CTRL(i, FIXED_PMC_KERNEL)
    p.wr(0x38f, `0x${(2 ** (32 + i)).toString(16)}`, true); // FIXED_PMC_GLOBAL_CTRL_ENABLE(i)
  }
  return p.vm(`fx-v${version}-c${count}-m${mask}`, `{ version: ${version}, fixedCounters: ${count}, fixedCounterMask: ${mask} }`);
}

type ProgramResult = { op: string; ok?: boolean; step?: number };

function failures(summary: { vms: Record<string, { program: ProgramResult[] }> }, cases: VmCase[]): string[] {
  const out: string[] = [];
  for (const c of cases) {
    const steps = summary.vms[c.id].program;
    const n = steps.filter((s) => s.op === 'expect').length;
    if (n !== c.expects.length) out.push(`${c.id}: ${n} expects ran, ${c.expects.length} written`);
    steps.forEach((s, k) => {
      if (s.op === 'expect' && s.ok !== true) out.push(`${c.id}: ${c.expects[k - c.program.length]}`);
    });
  }
  return out;
}

describe('selftests: pmu_counters_test sweeps of the guest PMU shape (vpmu.guestPmu)', () => {
  it('a shape beyond the host is refused, naming the limit (KVM exposes at most kvm_pmu_cap.num_counters_gp)', () => {
    const text = sweepScenario('st-shape-too-many', 'emulated', [{ id: 'vm1', guestPmu: '{ gpCounters: 8 }', program: [], expects: [] }]).replace('    program:\n', '').replace('cpu: intel-spr', 'cpu: intel-skx');
    const r = parseScenario(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.message).join('; ')).toMatch(/gpCounters 8 exceeds the host's 4 GP counters .*intel-skx/);
  });

  it(
    'emulated: GP counters over versions 0, 1, 2, 5 x FW_WRITES off/on x 0, 3, 8 counters (guest_test_gp_counters)',
    async () => {
      const cases: VmCase[] = [];
      for (const v of [0, 1, 2, 5]) for (const fw of [false, true]) for (const n of [0, 3, 8]) cases.push(gpCase(v, fw, n));
      const run = await runScenarioText(sweepScenario('st-shape-gp', 'emulated', cases));
      expect(failures(run.summary as never, cases)).toEqual([]);
    },
    TIMEOUT_MS,
  );

  it(
    'emulated: fixed counters over versions 1, 2, 5 x counts 0, 1, 3 x bitmasks 0, 0b010, 0b101 (guest_test_fixed_counters)',
    async () => {
      const cases: VmCase[] = [];
      for (const v of [1, 2, 5]) for (const c of [0, 1, 3]) for (const m of [0, 2, 5]) cases.push(fixedCase(v, c, m));
      const run = await runScenarioText(sweepScenario('st-shape-fixed', 'emulated', cases));
      expect(failures(run.summary as never, cases)).toEqual([]);
    },
    TIMEOUT_MS,
  );

  it(
    'mediated: the same GP and fixed rules hold with counters in the hardware (version 2 and 5, 3 and 8 GP counters, fixed bitmask 0b101)',
    async () => {
      const cases = [gpCase(5, true, 8), gpCase(5, false, 3), gpCase(2, true, 3), fixedCase(5, 0, 5), fixedCase(2, 1, 0), fixedCase(5, 4, 0)];
      const run = await runScenarioText(sweepScenario('st-shape-mediated', 'mediated', cases));
      expect(failures(run.summary as never, cases)).toEqual([]);
    },
    TIMEOUT_MS,
  );
});
