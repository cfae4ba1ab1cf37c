// vPMU backends in the world — KVM-selftest checks as guest programs, filter rules,
// emulated starvation, passthrough PMI attribution.
import { runScenarioFile, runScenarioText } from '../support/run-scenario';

const vm = (mode: string, extra: string, program: string, workload = 'idle') => `version: 1
name: vpmu-t
seed: 9
duration: 20ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
vms:
  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: ${mode}${extra} }
    workload: ${workload}
    program:
${program}
`;

const SELFTEST = `      - wrmsr: { msr: 0xc1, value: 0x1234 }
      - rdmsr: { msr: 0xc1 }
      - expect: { step: 1, equals: 0x1234 }
      - rdpmc: { index: 8 }
      - expect: { step: 3, fault: gp }
      - rdmsr: { msr: 0x38f }
      - expect: { step: 5, equals: 0xff }
      - wrmsr: { msr: 0x186, value: 0x4300c0 }
      - wrmsr: { msr: 0x38f, value: 0x1 }
      - loop: { instructions: 100000, branches: 1000 }
      - rdpmc: { index: 0 }
      - expect: { step: 10, equals: ${0x1234 + 100000 + 2} }`; // + the two enabling WRMSRs, each retired while the counter counted (kvm_pmu_instruction_retired)

/** One intel-spr host (2 pCPUs) and one VM with one guest perf session. */
function oneVm(o: { name: string; seed: number; duration: string; pmu?: string; vcpus: number; vpmu: string; workload: string; session: string }): string {
  return `version: 1
name: ${o.name}
seed: ${o.seed}
duration: ${o.duration}
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2${o.pmu ? `\n    pmu: ${o.pmu}` : ''}
vms:
  - id: vm1
    host: h1
    vcpus: ${o.vcpus}
    vpmu: ${o.vpmu}
    workload: ${o.workload}
    guestPerf:
      - ${o.session}
`;
}

describe('vPMU backends', () => {
  it.each(['emulated', 'passthrough'])('%s: KVM selftest checks (write/read-back, #GP beyond N, GLOBAL_CTRL reset, counting) hold', async (mode) => {
    const run = await runScenarioText(vm(mode, '', SELFTEST.replace('0x1234 + 100000', String(0x1234 + 100000))));
    const p = run.summary.vms.vm1.program;
    expect(p.filter((s) => s.op === 'expect').map((s) => s.ok)).toEqual([true, true, true, true]);
  });

  it('none: every PMU MSR and RDPMC #GPs', async () => {
    const run = await runScenarioText(vm('none', '', `      - rdmsr: { msr: 0x38f }\n      - rdpmc: { index: 0 }\n      - expect: { step: 0, fault: gp }\n      - expect: { step: 1, fault: gp }`));
    expect(run.summary.vms.vm1.program.filter((s) => s.op === 'expect').every((s) => s.ok)).toBe(true);
  });

  it('the shipped event-filter selftest: a denied event does not count, an allowed one does', async () => {
    const run = await runScenarioFile('event-filter-selftest.yaml');
    const p = run.summary.vms.vm1.program;
    expect(p.filter((s) => s.op === 'expect').map((s) => s.ok)).toEqual([true, true, true]);
    expect(run.summary.findings.filter((f) => f.kind === 'filter-bypass')).toEqual([]);
  });

  it('passthrough without event-select interception cannot enforce the filter: filter-bypass', async () => {
    const filter = `, interceptEventSelect: false, filter: { action: deny, events: [{ event: 0xc0, umask: 0 }] }`;
    const run = await runScenarioText(vm('passthrough', filter, `      - wrmsr: { msr: 0x186, value: 0x4300c0 }\n      - wrmsr: { msr: 0x38f, value: 0x1 }\n      - loop: { instructions: 1000, branches: 10 }\n      - rdpmc: { index: 0 }\n      - expect: { step: 3, equals: 0 }`));
    expect(run.summary.findings.some((f) => f.kind === 'filter-bypass')).toBe(true);
    expect(run.summary.vms.vm1.program.find((s) => s.op === 'expect')!.ok).toBe(false);
  });

  // arch/x86/kvm/pmu.c pmc_reprogram_counter creates the backing event with attr.pinned and
  // exclude_host; kernel/events/core.c schedules CPU pinned, task pinned, then flexible groups and
  // puts a pinned group that finds no counter in ERROR (merge_sched_in). So only other pinned
  // events (here a CPU-pinned host group) can starve a guest counter.
  it('emulated: a guest counter whose pinned backing event finds no counter stops silently (guest-counter-starved)', async () => {
    const run = await runScenarioText(`version: 1
name: starve
seed: 4
duration: 40ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 1
    nmiWatchdog: false
    pmu: { gpCounters: 2 }
    perf:
      - { id: hog, events: [branches, branch-misses], pinned: true, group: true, cpus: [0] }
vms:
  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: emulated }
    workload: specint
    guestPerf:
      - { id: stat, command: stat, events: [branches] }
`);
    expect(run.summary.findings.some((f) => f.kind === 'guest-counter-starved' && f.vm === 'vm1')).toBe(true);
    const c = run.summary.vms.vm1.counters.branches;
    expect(c.guestObserved).toBeLessThan(c.actual);
  });

  // Same rule, other side: a flexible host `perf stat` loses the counters to KVM's pinned backing
  // events (pmu.c pmc_reprogram_counter: .pinned = true) and multiplexes; the guest counts all along.
  it('emulated: a flexible host perf stat multiplexes behind the pinned backing events; the guest is not starved', async () => {
    const run = await runScenarioText(`version: 1
name: flex-host
seed: 4
duration: 40ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 1
    nmiWatchdog: false
    pmu: { gpCounters: 2 }
    perf:
      - { id: hog, events: [branches, branch-misses], group: true, cpus: [0] }
vms:
  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: emulated }
    workload: specint
    guestPerf:
      - { id: stat, command: stat, events: [branches] }
`);
    expect(run.summary.findings.some((f) => f.kind === 'guest-counter-starved')).toBe(false);
    const c = run.summary.vms.vm1.counters.branches;
    expect(Math.abs(c.guestObserved - c.actual) / c.actual).toBeLessThan(0.01);
  });

  it('passthrough guest perf stat reads exact counts; emulated sampling injects PMIs that cost exits', async () => {
    const text = (mode: string, session: string) => `version: 1
name: acc
seed: 2
duration: 50ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
vms:
  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: ${mode} }
    workload: specint
    guestPerf:
      - ${session}
`;
    const stat = await runScenarioText(text('passthrough', '{ id: st, command: stat, events: [instructions, branches] }'));
    expect(stat.summary.vms.vm1.counters.instructions.errorPct).toBe(0);
    const rec = '{ id: rec, command: record, events: [cycles], sample: { freq: 1000 } }';
    const pt = await runScenarioText(text('passthrough', rec));
    expect(pt.summary.vms.vm1.pmis.delivered).toBeGreaterThan(0);
    const emu = await runScenarioText(text('emulated', rec));
    expect(emu.summary.vms.vm1.pmis.delivered).toBeGreaterThan(0);
    expect(emu.summary.vms.vm1.vmExits.pmi).toBeGreaterThan(0);
    expect(emu.summary.vms.vm1.workloadScore).toBeLessThan(pt.summary.vms.vm1.workloadScore);
  });

  // perf record -F converges to ~freq samples per second per event per vCPU. The frequency ramp
  // starts at period 1 (perf_event_alloc) and costs the first few ms, hence runs of 200 ms.
  const within = (actual: number, expected: number, tolerance = 0.3) => {
    expect(actual).toBeGreaterThanOrEqual(Math.floor(expected * (1 - tolerance)));
    expect(actual).toBeLessThanOrEqual(Math.ceil(expected * (1 + tolerance)));
  };
  const recordRun = (mode: string, vcpus: number) =>
    oneVm({ name: 'pmi-rate', seed: 2, duration: '200ms', vcpus, vpmu: `{ mode: ${mode} }`, workload: 'specint', session: '{ id: rec, command: record, events: [cycles], sample: { freq: 1000 }, allCpus: true }' });

  it.each(['passthrough', 'emulated'])('%s: perf record -F 1000 delivers ~1000 guest PMIs per second per event per vCPU', async (mode) => {
    const run = await runScenarioText(recordRun(mode, 2));
    const vm1 = run.summary.vms.vm1;
    // 1000 Hz x 1 event x 2 vCPUs x 0.2 s
    within(vm1.pmis.delivered, 1000 * 1 * 2 * 0.2);
    within(vm1.guestPerf.find((g) => g.event === 'cycles')!.samples, 1000 * 1 * 2 * 0.2);
    expect(vm1.pmis.lost).toBe(0);
  });

  it('the RFC experiment: perf record -F 1000 -a with 6 and 10 instructions events samples at the asked frequency', async () => {
    const run = await runScenarioFile('passthrough-rfc-experiment.yaml');
    const g = run.summary.vms.guest.guestPerf;
    const basic = g.find((r) => r.command === 'record:basic-sampling')!;
    const mux = g.find((r) => r.command === 'record:multiplex-sampling')!;
    // 6 events x 4 vCPUs x 100 ms; 10 events x 4 vCPUs x 100 ms, each running 9/10 of the time
    // (10 events on 1 fixed + 8 GP counters), and freq mode targets samples per running second.
    within(basic.samples, 1000 * 6 * 4 * 0.1);
    within(mux.samples, 1000 * 10 * 4 * 0.1 * 0.9);
    expect(mux.timeRunningNs / mux.timeEnabledNs).toBeCloseTo(0.9, 2);
    // One guest PMI per counter overflow, none lost: several counters overflowing at once ride on one PMI.
    within(run.summary.vms.guest.pmis.delivered, basic.samples + mux.samples, 0.05);
    expect(run.summary.vms.guest.pmis.lost).toBe(0);
  });

  // The guest's PMI handler ends with apic_write(APIC_LVTPC, APIC_DM_NMI) (arch/x86/events/intel/core.c
  // intel_pmu_handle_irq, the late ack) because the local APIC masked LVTPC when it delivered the
  // PMI (KVM's emulated one too: lapic.c kvm_apic_local_deliver). KVM emulates the guest's local
  // APIC in every vPMU design (x2APIC: the LVTPC WRMSR 0x834 is intercepted; vmx.c
  // vmx_update_msr_bitmap_x2apic passes through only TPR, EOI and SELF_IPI), so each handler run is
  // one more exit. One sampling event with a long period: each PMI carries one overflow.
  const lvtpcRun = (mode: string, host = '') =>
    `version: 1
name: lvtpc-${mode}
seed: 4
duration: 20ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2${host}
vms:
  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: ${mode} }
    workload: specint
    guestPerf:
      - { id: rec, command: record, events: [instructions], sample: { period: 2000000 } }
`;
  it.each([
    ['passthrough', ''],
    ['emulated', ''],
    ['mediated', '\n    nmiWatchdog: false\n    kernel: mainline\n    kvm: { enableMediatedPmu: true }'],
  ])('%s: each guest PMI handler run unmasks LVTPC with one APIC-write exit (intel_pmu_handle_irq, kvm_apic_local_deliver)', async (mode, host) => {
    const vm1 = (await runScenarioText(lvtpcRun(mode, host))).summary.vms.vm1;
    expect(vm1.pmis.delivered).toBeGreaterThan(5);
    expect(vm1.vmExits['apic-write']).toBe(vm1.pmis.delivered);
  });

  // A guest counter that overflows just before a VM exit: its PMI (overflow + skid) reaches the
  // CPU in host mode. With the dedicated guest PMI vector KVM knows the owner and injects it at
  // the next entry; on the shared NMI vector the host perf handler takes it (pmi-misattributed).
  // A 2 us skid (hosts[].pmu.pmiSkid) widens the window so a 50 ms fio run hits it.
  const skidRun = (vector: string) =>
    oneVm({ name: `pmi-skid-${vector}`, seed: 11, duration: '50ms', pmu: '{ pmiSkid: 2us }', vcpus: 1, vpmu: `{ mode: passthrough, pmiVector: ${vector} }`, workload: 'fio', session: '{ id: rec, command: record, events: [cycles], sample: { period: 200000 } }' });

  it('pmiVector shared: a PMI whose overflow lands just before an exit is taken by the host (pmi-misattributed)', async () => {
    const run = await runScenarioText(skidRun('shared'));
    const found = run.summary.findings.filter((f) => f.kind === 'pmi-misattributed');
    expect(found.length).toBeGreaterThan(0);
    expect(found[0].vm).toBe('vm1');
    expect(run.summary.vms.vm1.pmis.lost).toBe(found.length);
    expect(run.summary.vms.vm1.pmis.delivered).toBeGreaterThan(0);
  });

  it('pmiVector dedicated: the same PMIs reach the guest at the next entry, none lost', async () => {
    const shared = await runScenarioText(skidRun('shared'));
    const dedicated = await runScenarioText(skidRun('dedicated'));
    expect(dedicated.summary.findings.filter((f) => f.kind === 'pmi-misattributed')).toEqual([]);
    expect(dedicated.summary.vms.vm1.pmis.lost).toBe(0);
    expect(dedicated.summary.vms.vm1.pmis.delivered).toBeGreaterThan(shared.summary.vms.vm1.pmis.delivered);
  });
});
