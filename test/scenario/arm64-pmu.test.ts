// Heterogeneous arm64 PMUs in the world (libs/host/src/arm-pmu-world.ts, docs/arm64-pmu.md):
// default PMU by probe order, SET_PMU (ENXIO / EBUSY / affinity / failed entry), SET_NR_COUNTERS
// (PMCR.N, RAZ/WI, UNDEFINED, EINVAL), wrong-core counting, PMCEID by PMU and filter.
import { getCpuPreset, type ArmPmuSpec } from '@vpmu/pmu';
import { runScenarioFile, runScenarioText } from '../support/run-scenario';

const arm = (vms: string, opts: { cpu?: string; probe?: string; timeline?: string; duration?: string } = {}) => `version: 1
name: arm-t
seed: 3
duration: ${opts.duration ?? '30ms'}
hosts:
  - id: arm1
    cpu: ${opts.cpu ?? 'arm-a76-a55'}
    pcpus: 8${opts.probe ? `\n    armPmuProbeOrder: [${opts.probe}]` : ''}
vms:
${vms}${opts.timeline ? `\ntimeline:\n${opts.timeline}` : ''}
`;

const vm = (id: string, body: string) => `  - id: ${id}
    host: arm1
${body}`;

describe('arm64 heterogeneous PMUs in the world', () => {
  it('the shipped scenario: wrong-core counting, SET_PMU at creation, EBUSY after a run (program and timeline), affinity told up front', async () => {
    const run = await runScenarioFile('arm64-set-pmu.yaml');
    const { 'vm-probe': probe, 'vm-pinned': pinned } = run.summary.vms;
    const wrong = run.summary.findings.filter((f) => f.kind === 'guest-counter-stopped-wrong-core');
    expect(wrong.length).toBeGreaterThan(0);
    expect(wrong.every((f) => f.vm === 'vm-probe')).toBe(true);
    const lost = wrong.map((f) => Number(/lostNs=(\d+)/.exec(f.detail)![1])).reduce((a, b) => a + b, 0);
    expect(lost).toBeGreaterThan(1_000_000);
    // Observed counts miss the work on the A55 core; the pinned VM counts exactly. Half the time on
    // the little core (0.358 of the big core's work per ns) costs the score a third.
    expect(probe.counters.instructions.guestObserved).toBeLessThan(probe.counters.instructions.actual);
    expect(probe.workloadScore).toBeLessThan(0.8 * pinned.workloadScore);
    expect(pinned.counters.instructions.errorPct).toBe(0);
    expect(pinned.actions).toEqual([expect.objectContaining({ action: 'setPmu', arg: 'armv8_cortex_a76', result: 'ok', errno: null })]);
    expect(pinned.program.map((s) => [s.op, s.result])).toEqual([['loop', 'ok'], ['setPmu', 'EBUSY'], ['setNrCounters', 'EBUSY']]);
    expect(probe.actions).toEqual([expect.objectContaining({ atNs: 50_000_000, action: 'setPmu', result: 'EBUSY', errno: 'EBUSY' })]);
    const aff = run.summary.findings.filter((f) => f.kind === 'arm-pmu-affinity');
    // Both reports (same kind, place and detail class) fold into one summary entry with a count.
    expect(aff.map((f) => [f.vm, f.count])).toEqual([['vm-probe', 2]]);
    expect(aff[0].detail).toContain('set vpmu.armPmu or restrict the affinity to pCPUs 0-3');
    expect(run.summary.findings.filter((f) => f.kind === 'timeline-action')).toEqual([]); // outcomes live under vms.<id>.actions
  });

  it('the default PMU follows the probe order', async () => {
    const body = `    vcpus: 1\n    affinity: [5]\n    vpmu: { mode: emulated }\n    workload: specint\n    guestPerf:\n      - { id: s, command: stat, events: [instructions] }\n    program:\n      - armRead: { reg: PMCEID1_EL0 }\n`;
    const big = await runScenarioText(arm(vm('v', body)));
    const little = await runScenarioText(arm(vm('v', body), { probe: 'armv8_cortex_a55, armv8_cortex_a76' }));
    // A76 first: pCPU 5 (A55) counts nothing; A55 first: it counts everything.
    expect(big.summary.vms.v.counters.instructions.guestObserved).toBe(0);
    expect(big.summary.findings.some((f) => f.kind === 'guest-counter-stopped-wrong-core')).toBe(true);
    expect(little.summary.vms.v.counters.instructions.errorPct).toBe(0);
    expect(little.summary.findings.filter((f) => f.kind !== 'timeline-action')).toEqual([]);
    // PMCEID reflects the chosen PMU: the A55 lacks the LL_CACHE events of the A76.
    const spec = getCpuPreset('arm-a76-a55') as ArmPmuSpec;
    expect(big.summary.vms.v.program[0].value).toBe(spec.clusters[0].pmceid1 >>> 0);
    expect(little.summary.vms.v.program[0].value).toBe(spec.clusters[1].pmceid1 >>> 0);
    expect(spec.clusters[0].pmceid1).not.toBe(spec.clusters[1].pmceid1);
  });

  // kvm_pmu_get_pmceid (arch/arm64/kvm/pmu-emul.c) computes PMCEID0/1 from kvm->arch.arm_pmu's
  // pmceid_bitmap (compute_pmceid0/1), the PMU that KVM_ARM_VCPU_PMU_V3_SET_PMU stored
  // (kvm_arm_pmu_v3_set_pmu); a guest counter of an event outside it counts nothing.
  it('the guest event mask (PMCEID and what counts) follows the PMU selected with SET_PMU, not the preset\'s first PMU', async () => {
    const body = (pcpu: number, pmu: string) =>
      `    vcpus: 1\n    affinity: [${pcpu}]\n    vpmu: { mode: emulated, armPmu: ${pmu} }\n    workload: specint\n    guestPerf:\n      - { id: s, command: stat, events: [instructions, cache-misses] }\n    program:\n      - armRead: { reg: PMCEID1_EL0 }\n`;
    const run = await runScenarioText(arm(vm('big', body(0, 'armv8_cortex_a76')) + '\n' + vm('little', body(5, 'armv8_cortex_a55')), { duration: '20ms' }));
    const spec = getCpuPreset('arm-a76-a55') as ArmPmuSpec;
    const { big, little } = run.summary.vms;
    const llCacheMissRd = 1 << (0x37 - 32);
    expect(big.program[0].value).toBe(spec.clusters[0].pmceid1 >>> 0);
    expect(little.program[0].value).toBe(spec.clusters[1].pmceid1 >>> 0);
    expect(big.program[0].value! & llCacheMissRd).not.toBe(0);
    expect(little.program[0].value! & llCacheMissRd).toBe(0);
    // Both count instructions exactly on their own cores; LL_CACHE_MISS_RD counts on the A76 PMU only.
    expect(big.counters.instructions.errorPct).toBe(0);
    expect(little.counters.instructions.errorPct).toBe(0);
    expect(big.counters['cache-misses'].errorPct).toBe(0);
    expect(little.counters['cache-misses'].actual).toBeGreaterThan(0);
    expect(little.counters['cache-misses'].guestObserved).toBe(0);
  });

  // Core speed from the kernel's device tree for a Cortex-A76 + Cortex-A55 SoC
  // (arch/arm64/boot/dts/rockchip/rk3588-base.dtsi: capacity-dmips-mhz 1024 and 530) at the
  // preset's clocks (2.6 and 1.8 GHz): a little core retires (530 x 1.8) / (1024 x 2.6) of the big
  // core's instructions per ns and counts 1.8 / 2.6 of its cycles per ns.
  it('a vCPU on a little core runs slower than on a big core: instructions per ns from capacity-dmips-mhz x clock, cycles per ns from the clock', async () => {
    const body = (pcpu: number, pmu: string) =>
      `    vcpus: 1\n    affinity: [${pcpu}]\n    vpmu: { mode: emulated, armPmu: ${pmu} }\n    workload: specint\n    guestPerf:\n      - { id: s, command: stat, events: [instructions, cycles] }\n`;
    const run = await runScenarioText(arm(vm('big', body(1, 'armv8_cortex_a76')) + '\n' + vm('little', body(6, 'armv8_cortex_a55')), { duration: '20ms' }));
    const { big, little } = run.summary.vms;
    const perNs = (v: typeof big, e: string) => v.counters[e].actual / v.guestRunNs;
    expect(perNs(little, 'instructions') / perNs(big, 'instructions')).toBeCloseTo((530 * 1.8) / (1024 * 2.6), 3);
    expect(perNs(little, 'cycles') / perNs(big, 'cycles')).toBeCloseTo(1.8 / 2.6, 3);
    // The guest counts what it retired on its own PMU's cores; the score is the work done.
    expect(little.counters.instructions.errorPct).toBe(0);
    expect(little.workloadScore / little.guestRunNs).toBeLessThan(0.4 * (big.workloadScore / big.guestRunNs));
  });

  it('SET_PMU: ENXIO for an unknown PMU; with SET_PMU, entry on an uncovered pCPU fails (told up front, reported, the vCPU stops)', async () => {
    const run = await runScenarioText(
      arm(
        vm('bad', `    vcpus: 1\n    affinity: [0]\n    vpmu: { mode: emulated, armPmu: armv9_cortex_x4 }\n    workload: specint\n`) +
          '\n' +
          vm('crossing', `    vcpus: 2\n    affinity: [[3, 4], [4, 5]]\n    vpmu: { mode: emulated, armPmu: armv8_cortex_a55 }\n    workload: specint\n    guestPerf:\n      - { id: s, command: stat, events: [instructions] }\n`),
      ),
    );
    const s = run.summary;
    expect(s.vms.bad.actions).toEqual([expect.objectContaining({ action: 'setPmu', result: 'ENXIO' })]);
    expect(s.vms.bad.actions![0].detail).toContain('known: armv8_cortex_a76, armv8_cortex_a55');
    expect(s.vms.crossing.actions![0]).toMatchObject({ result: 'ok' });
    const aff = s.findings.filter((f) => f.kind === 'arm-pmu-affinity' && f.vm === 'crossing');
    expect(aff).toHaveLength(1); // vCPU 1's affinity [4, 5] is inside the A55 cluster
    expect(aff[0].detail).toContain('KVM_RUN fails there (KVM_EXIT_FAIL_ENTRY, CPU_UNSUPPORTED): restrict the affinity to pCPUs 4-7');
    const failed = s.findings.filter((f) => f.kind === 'arm-entry-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ vm: 'crossing', vcpu: 0 });
    expect(failed[0].detail).toContain('on pCPU 3: PMU armv8_cortex_a55 (SET_PMU) covers pCPUs 4-7 only');
    // vCPU 1 started on pCPU 4 and runs; vCPU 0 never entered.
    expect(s.vms.crossing.guestRunNs).toBeGreaterThan(0);
    expect(s.vms.crossing.guestRunNs).toBeLessThanOrEqual(30_000_000);
    expect(s.findings.some((f) => f.kind === 'guest-counter-stopped-wrong-core')).toBe(false);
  });

  it('SET_PMU: EBUSY once a filter is set for another PMU; the same PMU is accepted; a filtered event leaves PMCEID', async () => {
    const run = await runScenarioText(
      arm(
        vm(
          'f',
          `    vcpus: 1\n    affinity: [0]\n    vpmu: { mode: emulated, filter: { action: deny, events: [{ event: 0x08, umask: 0 }] } }\n    workload: idle\n    program:\n      - setPmu: { pmu: armv8_cortex_a55 }\n      - setPmu: { pmu: armv8_cortex_a76 }\n      - armRead: { reg: PMCEID0_EL0 }\n`,
        ),
      ),
    );
    const p = run.summary.vms.f.program;
    expect(p.map((x) => x.result)).toEqual(['EBUSY', 'ok', 'ok']);
    expect(run.summary.vms.f.actions).toEqual([expect.objectContaining({ action: 'setFilter', arg: '0x8', result: 'ok' })]);
    const spec = getCpuPreset('arm-a76-a55') as ArmPmuSpec;
    expect(p[2].value).toBe((spec.clusters[0].pmceid0 & ~(1 << 8)) >>> 0); // INST_RETIRED (0x08) hidden
  });

  it('SET_NR_COUNTERS: PMCR.N, RAZ/WI above N, UNDEFINED at and above N, EINVAL beyond the PMU', async () => {
    const prog = `    program:
      - armRead: { reg: PMCR_EL0 }
      - armWrite: { reg: PMCNTENSET_EL0, value: 0xffffffff }
      - armRead: { reg: PMCNTENSET_EL0 }
      - armRead: { reg: PMEVCNTR_EL0, n: 3 }
      - armRead: { reg: PMEVCNTR_EL0, n: 4 }
      - expect: { step: 4, fault: undefined }
      - armWrite: { reg: PMEVTYPER_EL0, n: 5, value: 0x11 }
      - expect: { step: 6, fault: undefined }
      - armRead: { reg: PMEVTYPER_EL0, n: 3 }
      - expect: { step: 8, fault: none }
`;
    const run = await runScenarioText(
      arm(
        vm('n4', `    vcpus: 1\n    affinity: [0]\n    vpmu: { mode: emulated, nrCounters: 4 }\n    workload: idle\n${prog}`) +
          '\n' +
          vm('n7', `    vcpus: 1\n    affinity: [1]\n    vpmu: { mode: emulated, nrCounters: 7 }\n    workload: idle\n    program:\n      - armRead: { reg: PMCR_EL0 }\n`),
      ),
    );
    const p = run.summary.vms.n4.program;
    expect((p[0].value! >> 11) & 0x1f).toBe(4);
    expect(p[2].value).toBe(0x8000000f); // counters 0-3 and the cycle counter; 4-30 RAZ/WI
    expect(p[3].result).toBe('ok');
    expect(p[4].result).toBe('undefined');
    expect(p.filter((s) => s.op === 'expect').every((s) => s.ok)).toBe(true);
    expect(run.summary.vms.n4.actions).toEqual([expect.objectContaining({ action: 'setNrCounters', arg: '4', result: 'ok' })]);
    expect(run.summary.vms.n7.actions).toEqual([expect.objectContaining({ action: 'setNrCounters', arg: '7', result: 'EINVAL' })]);
    expect((run.summary.vms.n7.program[0].value! >> 11) & 0x1f).toBe(6); // unchanged: the PMU's N
  });

  it('the hetero-n6-n4 preset: N follows the chosen PMU; a guest counter counts on its PMU\'s cores only', async () => {
    const counting = `      - armWrite: { reg: PMEVTYPER_EL0, n: 0, value: 0x08 }
      - armWrite: { reg: PMCNTENSET_EL0, value: 1 }
      - armWrite: { reg: PMCR_EL0, value: 1 }
      - loop: { instructions: 5000, branches: 100 }
      - armRead: { reg: PMEVCNTR_EL0, n: 0 }
      - armRead: { reg: PMCR_EL0 }
`;
    const run = await runScenarioText(
      arm(
        vm('big', `    vcpus: 1\n    affinity: [0]\n    vpmu: { mode: emulated }\n    workload: idle\n    program:\n${counting}`) +
          '\n' +
          vm('little', `    vcpus: 1\n    affinity: [7]\n    vpmu: { mode: emulated }\n    workload: idle\n    program:\n${counting}`) +
          '\n' +
          vm('set', `    vcpus: 1\n    affinity: [6]\n    vpmu: { mode: emulated, armPmu: armv8_synthetic_little }\n    workload: idle\n    program:\n${counting}`),
        { cpu: 'arm-hetero-n6-n4' },
      ),
    );
    const v = (id: string) => run.summary.vms[id].program;
    expect(v('big')[4].value).toBe(5000);
    expect(v('little')[4].value).toBe(0); // default PMU (big) does not count on a little core
    expect(v('set')[4].value).toBe(5000);
    expect((v('big')[5].value! >> 11) & 0x1f).toBe(6);
    expect((v('set')[5].value! >> 11) & 0x1f).toBe(4);
  });
});
