// AMD Zen 4 (PerfMonV2) and Zen 3 hosts: the guest-visible register rules of KVM's SVM PMU, run
// as one scenario (several VMs on three hosts). Each expectation names its source:
// arch/x86/kvm/svm/pmu.c (get_gp_pmc_amd, amd_is_valid_msr, amd_pmu_set_msr, amd_pmu_refresh,
// amd_check_rdpmc_early, amd_pmu_is_mediated_pmu_supported), arch/x86/kvm/pmu.c (kvm_pmu_get_msr,
// kvm_pmu_set_msr: "AMD ignores writes to reserved bits and read-only PMU MSRs"; kvm_pmu_refresh:
// GLOBAL_CTRL resets to the GP counter mask), arch/x86/kvm/x86.c (kvm_get_msr_common: the P6 and
// K7 MSRs read 0 when the vPMU does not claim them), arch/x86/include/asm/msr-index.h.
import { parseScenario } from '@vpmu/scenario';
import { runScenarioText } from '../support/run-scenario';

const TIMEOUT_MS = 180_000;

const CTL0 = 0xc0010200;
const CTR0 = 0xc0010201;
const K7_EVNTSEL0 = 0xc0010000;
const K7_PERFCTR0 = 0xc0010004;
const G_STATUS = 0xc0000300;
const G_CTL = 0xc0000301;
const G_CLR = 0xc0000302;
const G_SET = 0xc0000303;
const hex = (v: number | bigint) => `"0x${v.toString(16)}"`;

/** One VM's program: steps and their expects (expect steps refer to program step numbers). */
class Prog {
  steps: string[] = [];
  expects: { text: string; why: string }[] = [];
  private add(s: string): number {
    this.steps.push(s);
    return this.steps.length - 1;
  }
  wr(msr: number, value: number | bigint, fault: 'none' | 'gp', why: string): void {
    const s = this.add(`wrmsr: { msr: ${hex(msr)}, value: ${hex(value)} }`);
    this.expects.push({ text: `expect: { step: ${s}, fault: ${fault} }`, why });
  }
  rd(msr: number, equals: number | 'gp', why: string): void {
    const s = this.add(`rdmsr: { msr: ${hex(msr)} }`);
    this.expects.push({ text: equals === 'gp' ? `expect: { step: ${s}, fault: gp }` : `expect: { step: ${s}, equals: ${equals} }`, why });
  }
  rdpmc(index: number, equals: number | 'gp', why: string): void {
    const s = this.add(`rdpmc: { index: ${hex(index)} }`);
    this.expects.push({ text: equals === 'gp' ? `expect: { step: ${s}, fault: gp }` : `expect: { step: ${s}, equals: ${equals} }`, why });
  }
  loop(instructions: number, branches: number): void {
    this.add(`loop: { instructions: ${instructions}, branches: ${branches} }`);
  }
  yaml(): string {
    return [...this.steps, ...this.expects.map((e) => e.text)].map((s) => `      - ${s}`).join('\n');
  }
}

const INSTR = 0x4300c0; // AMD event 0xC0 retired instructions, USR|OS|EN
const BRANCH = 0x4300c2; // AMD event 0xC2 retired branch instructions

/** The PerfMonV2 rules every Zen 4 guest with the host's shape sees. */
function zen4Rules(): Prog {
  const p = new Prog();
  p.rd(G_CTL, 0x3f, 'kvm_pmu_refresh: GLOBAL_CTL resets to GENMASK(5, 0) for 6 counters');
  // bits 40 (GuestOnly), 21 and 19 are reserved for the guest: cleared, no #GP
  p.wr(CTL0, (1n << 40n) | (1n << 21n) | (1n << 19n) | BigInt(INSTR), 'none', 'amd_pmu_set_msr: reserved bits cleared, no #GP');
  p.rd(CTL0, INSTR, 'the guest reads back pmc->eventsel, reserved bits cleared');
  p.rd(K7_EVNTSEL0, INSTR, 'get_gp_pmc_amd: MSR_K7_EVNTSEL0 is counter 0\'s select');
  p.wr(CTR0, (1n << 48n) + 5n, 'none', 'pmc_write_counter masks to 48 bits, no #GP');
  // Counter 0 counts retired instructions from here on, the guest's own WRMSR/RDMSR included:
  // each retires after its access (kvm_skip_emulated_instruction -> kvm_pmu_instruction_retired
  // when it exits; the hardware counts it when it does not).
  p.rd(CTR0, 6, 'counter bits above 47 dropped (5, plus the WRMSR that wrote it)');
  p.rd(K7_PERFCTR0, 7, 'MSR_K7_PERFCTR0 aliases PERF_CTR0 (one more: the RDMSR before)');
  p.wr(CTL0 + 10, 0, 'none', 'PERF_CTL5 exists (6 core counters)');
  p.rd(CTL0 + 12, 'gp', 'no PERF_CTL6: beyond MSR_F15H_PERF_CTR5 and the counter count');
  p.rdpmc(5, 0, 'RDPMC 5 reads counter 5');
  p.rdpmc(6, 'gp', 'amd_check_rdpmc_early: idx >= nr_arch_gp_counters');
  p.rdpmc(0x40000000, 'gp', 'no fixed-counter bit on AMD: the index is simply out of range');
  p.rd(0x186, 0, 'kvm_get_msr_common: MSR_P6_EVNTSEL0 reads 0 when the vPMU does not claim it');
  p.rd(0x38f, 'gp', 'Intel IA32_PERF_GLOBAL_CTRL does not exist on AMD');
  p.rd(0x309, 'gp', 'no fixed counters on AMD');
  p.wr(G_CTL, 0xffff, 'none', 'kvm_pmu_set_msr: GLOBAL_CTL drops reserved bits (global_ctrl_rsvd), no #GP');
  p.rd(G_CTL, 0x3f, 'only the 6 counter bits are kept');
  p.wr(G_STATUS, 1, 'none', 'GLOBAL_STATUS: read-only, the guest write is ignored');
  p.rd(G_STATUS, 0, 'the ignored write changed nothing');
  p.wr(G_SET, 0x1, 'none', 'GLOBAL_STATUS_SET sets status bits');
  p.rd(G_STATUS, 1, 'bit 0 set by STATUS_SET');
  p.rd(G_SET, 0, 'STATUS_SET reads 0');
  p.wr(G_CLR, 0x1, 'none', 'GLOBAL_STATUS_CLR clears status bits');
  p.rd(G_STATUS, 0, 'bit 0 cleared');
  p.rd(G_CLR, 0, 'STATUS_CLR reads 0');
  // Counting: Zen event 0xC0 counts retired instructions, 0xC2 retired branches.
  p.wr(CTR0, 0, 'none', 'counter 0 cleared');
  p.wr(CTL0 + 2, BRANCH, 'none', 'PERF_CTL1 = retired branches');
  p.wr(CTR0 + 2, 0, 'none', 'counter 1 cleared');
  p.loop(100000, 10000);
  p.rdpmc(0, 100003, 'retired instructions count the loop and the three WRMSRs since the clear (the clearing one included)');
  p.rdpmc(1, 10000, 'retired branches count the loop\'s branches');
  return p;
}

/** Without PerfMonV2 (guest version 1 or a Zen 3 host): no global registers; EN alone counts. */
function noPerfMonV2Rules(): Prog {
  const p = new Prog();
  p.rd(G_CTL, 'gp', 'amd_is_valid_msr: the global registers need pmu->version > 1');
  p.wr(G_CLR, 1, 'gp', 'GLOBAL_STATUS_CLR needs PerfMonV2');
  p.rd(CTL0 + 10, 0, 'PERF_CTL5 exists: AMD64_NUM_COUNTERS_CORE (6) with PERFCTR_CORE');
  p.wr(CTR0, 0, 'none', 'counter 0 cleared');
  p.wr(CTL0, INSTR, 'none', 'PERF_CTL0 = retired instructions, EN set');
  p.loop(1000, 0);
  p.rdpmc(0, 1001, 'with no global control the EN bit alone enables the counter (the loop and the enabling WRMSR)');
  return p;
}

function scenario(vms: { id: string; host: string; vpmu: string; prog: Prog }[]): string {
  return `version: 1
name: amd-register-rules
seed: 1
duration: 1ms
hosts:
  - id: zen4
    cpu: amd-zen4
    pcpus: 2
    nmiWatchdog: false
  - id: zen4-mainline
    cpu: amd-zen4
    pcpus: 2
    nmiWatchdog: false
    kernel: mainline
    kvm: { enableMediatedPmu: true }
  - id: zen3
    cpu: amd-zen3
    pcpus: 2
    nmiWatchdog: false
vms:
${vms.map((v) => `  - id: ${v.id}\n    host: ${v.host}\n    vcpus: 1\n    vpmu: ${v.vpmu}\n    workload: idle\n    program:\n${v.prog.yaml()}`).join('\n')}
`;
}

describe('AMD Zen 4 PerfMonV2 / Zen 3 presets: KVM SVM PMU register rules', () => {
  const vms = [
    { id: 'emulated-zen4', host: 'zen4', vpmu: '{ mode: emulated }', prog: zen4Rules() },
    { id: 'passthrough-zen4', host: 'zen4', vpmu: '{ mode: passthrough }', prog: zen4Rules() },
    { id: 'mediated-zen4', host: 'zen4-mainline', vpmu: '{ mode: mediated }', prog: zen4Rules() },
    { id: 'guest-v1-on-zen4', host: 'zen4', vpmu: '{ mode: emulated, guestPmu: { version: 1 } }', prog: noPerfMonV2Rules() },
    { id: 'emulated-zen3', host: 'zen3', vpmu: '{ mode: emulated }', prog: noPerfMonV2Rules() },
  ];
  let results: Record<string, { program: { op: string; ok?: boolean }[] }>;

  beforeAll(async () => {
    const run = await runScenarioText(scenario(vms));
    results = run.summary.vms as never;
  }, TIMEOUT_MS);

  it.each(vms.map((v) => [v.id, v] as const))('%s: every expectation holds', (_id, vm) => {
    const steps = results[vm.id].program;
    const expects = steps.filter((s) => s.op === 'expect');
    expect(expects).toHaveLength(vm.prog.expects.length);
    const failed = expects.flatMap((s, k) => (s.ok === true ? [] : [vm.prog.expects[k].why]));
    expect(failed).toEqual([]);
  });

  const parseErrors = (text: string): string => {
    const r = parseScenario(text);
    return r.ok ? '' : r.errors.map((e) => e.message).join('; ');
  };
  const oneVm = (cpu: string, vpmu: string, extra = '') => `version: 1
duration: 1ms
hosts:
  - id: h1
    cpu: ${cpu}
    pcpus: 2
    nmiWatchdog: false
${extra}vms:
  - id: vm1
    host: h1
    vpmu: ${vpmu}
`;

  it('mediated needs PerfMonV2 (amd_pmu_is_mediated_pmu_supported: host PMU version >= 2): refused on Zen 3, accepted on Zen 4', () => {
    const mainline = '    kernel: mainline\n    kvm: { enableMediatedPmu: true }\n';
    expect(parseErrors(oneVm('amd-zen3', '{ mode: mediated }', mainline))).toMatch(/needs AMD PerfMonV2.*amd-zen3/);
    expect(parseErrors(oneVm('amd-zen4', '{ mode: mediated }', mainline))).toBe('');
  });

  it('a guest PMU beyond the Zen 4 host (7 counters, Intel-only fields) is refused naming the limit', () => {
    expect(parseErrors(oneVm('amd-zen4', '{ mode: emulated, guestPmu: { gpCounters: 7 } }'))).toMatch(/gpCounters 7 exceeds the host's 6 GP counters/);
    expect(parseErrors(oneVm('amd-zen4', '{ mode: emulated, guestPmu: { fixedCounters: 1 } }'))).toMatch(/Intel CPUID.0AH/);
    expect(parseErrors(oneVm('amd-zen4', '{ mode: emulated, guestPmu: { version: 1, gpCounters: 4 } }'))).toMatch(/gpCounters needs version 2/);
  });
});
