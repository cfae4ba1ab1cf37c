// The mediated vPMU as merged upstream ("KVM: x86: Add support for mediated vPMUs", v6 Dec 2025;
// perf parts in tip perf/core Dec 2025), run as whole scenarios. Each test names the rule and
// where it comes from; expectations follow the kernel sources, not the tool's output.
import { freshHostWorlds, runLockStep } from '@vpmu/engine';
import * as path from 'node:path';
import { decodeEventBatch } from '@vpmu/proto';
import { readRecording, RECORDING_FILE_NAME } from '@vpmu/recording';
import type { PmiEvent, SimEvent, VmExitEvent } from '@vpmu/sim';
import { loadScenarioText, runScenarioText } from '../support/run-scenario';

const TIMEOUT_MS = 120_000;

/** One Sapphire Rapids host on the mainline kernel with enable_mediated_pmu, and one VM. */
function mediatedWorld(name: string, opts: { watchdog?: boolean; hostPerf?: string; vpmu?: string; program?: string; workload?: string; duration?: string; extra?: string } = {}): string {
  return `version: 1
name: ${name}
seed: 3
duration: ${opts.duration ?? '20ms'}
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
    nmiWatchdog: ${opts.watchdog ?? false}
    kernel: mainline
    kvm: { enableMediatedPmu: true }
${opts.hostPerf ? `    perf:\n${opts.hostPerf}\n` : ''}vms:
  - id: vm1
    host: h1
    vcpus: 1
    affinity: [0]
    vpmu: ${opts.vpmu ?? '{ mode: mediated }'}
    workload: ${opts.workload ?? 'specint'}
${opts.program ? `    program:\n${opts.program}\n` : ''}${opts.extra ?? ''}`;
}

const findingsOf = (run: { summary: { findings: { kind: string; detail: string }[] } }, kind: string) => run.summary.findings.filter((f) => f.kind === kind);

describe('mediated vPMU: creation-time exclusion', () => {
  it(
    'perf_create_mediated_pmu returns EBUSY while the NMI watchdog (wd_hw_attr, no exclude_guest, kernel/watchdog_perf.c) exists: the VM is refused with the watchdog events named',
    async () => {
      const run = await runScenarioText(mediatedWorld('mediated-busy', { watchdog: true }));
      const busy = findingsOf(run, 'mediated-pmu-busy');
      expect(busy).toHaveLength(1);
      expect(busy[0].detail).toMatch(/EBUSY/);
      expect(busy[0].detail).toContain('nmi-watchdog/cpu0, nmi-watchdog/cpu1');
      expect(busy[0].detail).toContain('disable system wide perf events and nmi_watchdog');
      // KVM_CREATE_VCPU failed: the guest never ran.
      expect(run.summary.vms.vm1.guestRunNs).toBe(0);
    },
    TIMEOUT_MS,
  );

  it(
    'with nmi_watchdog off no include-guest event exists: perf_create_mediated_pmu succeeds and the VM runs',
    async () => {
      const run = await runScenarioText(mediatedWorld('mediated-no-watchdog'));
      expect(findingsOf(run, 'mediated-pmu-busy')).toEqual([]);
      expect(run.summary.vms.vm1.guestRunNs).toBeGreaterThan(10_000_000);
    },
    TIMEOUT_MS,
  );

  it(
    'mediated_pmu_account_event: a host event without exclude_guest fails with EOPNOTSUPP while the mediated VM exists; an exclude_guest one is created',
    async () => {
      const hostPerf = ['      - { id: inc, events: [cycles], cpus: [0], start: 5ms }', '      - { id: exc, events: [cycles], excludeGuest: true, cpus: [0], start: 5ms }'].join('\n');
      const run = await runScenarioText(mediatedWorld('mediated-eopnotsupp', { hostPerf }));
      const unsupported = findingsOf(run, 'host-event-create-unsupported');
      expect(unsupported).toHaveLength(1);
      expect(unsupported[0].detail).toMatch(/inc\/cycles@cpu0.*EOPNOTSUPP/);
      const rows = run.summary.hosts.h1.perfEvents;
      expect(rows.find((r) => r.id.startsWith('inc/'))).toBeUndefined();
      expect(rows.find((r) => r.id === 'exc/cycles@cpu0')).toBeDefined();
      // The RFC's EBUSY-at-creation rule (perf_force_exclude_guest_check) is gone in mainline.
      expect(findingsOf(run, 'host-event-create-busy')).toEqual([]);
    },
    TIMEOUT_MS,
  );
});

describe('mediated vPMU: perf_load_guest_context / perf_put_guest_context', () => {
  it(
    'exclude_guest host events are scheduled out while the guest runs and back in after each exit; none goes to ERROR ("perf: Add APIs to load/put guest mediated PMU context")',
    async () => {
      const hostPerf = '      - { id: exc, events: [cycles], excludeGuest: true, cpus: [0], start: 5ms }';
      const run = await runScenarioText(mediatedWorld('mediated-load-put', { hostPerf }));
      const row = run.summary.hosts.h1.perfEvents.find((r) => r.id === 'exc/cycles@cpu0')!;
      expect(row.state).not.toBe('error');
      expect(row.timeEnabledNs).toBe(15_000_000);
      // cpu0 runs the compute-bound guest almost all the time: the host event runs only in exits.
      expect(row.timeRunningNs).toBeGreaterThan(0);
      expect(row.timeRunningNs).toBeLessThan(row.timeEnabledNs / 10);
      expect(findingsOf(run, 'host-event-error-state')).toEqual([]);
      expect(findingsOf(run, 'nmi-watchdog-blind')).toEqual([]);
    },
    TIMEOUT_MS,
  );

  it('skips the PMC writes at load when the hardware still holds the guest values ("KVM: x86/pmu: Elide WRMSRs when loading guest PMCs if values already match")', () => {
    const switchNs = (hostPerf?: string) => {
      const scenario = loadScenarioText(mediatedWorld('mediated-elide', { hostPerf, duration: '10ms' }));
      const entries: number[] = [];
      runLockStep(scenario, freshHostWorlds(scenario, ['h1']), {
        onEpoch: (f) => {
          for (const h of f.hosts) for (const e of h.events as SimEvent[]) if (e.kind === 'vmEntry') entries.push(e.pmuSwitchNs);
        },
      });
      return entries;
    };
    // Sapphire Rapids nominal clock: the cost model's cycles in ns.
    const quiet = switchNs();
    expect(quiet.length).toBeGreaterThan(3);
    // The first load writes the guest's values into a PMU that held none of them; then no host
    // event touches the counters, so every later load is elided (3k vs 4k cycles).
    expect(new Set(quiet.slice(1)).size).toBe(1);
    expect(quiet[0]).toBeGreaterThanOrEqual(quiet[1]);
    const busy = switchNs('      - { id: exc, events: [instructions, cycles, branches], excludeGuest: true, cpus: [0], start: 0 }');
    expect(Math.max(...busy.slice(1))).toBeGreaterThan(quiet[1]);
  });
});

describe('mediated vPMU: interception', () => {
  const filterProgram = [
    '      - wrmsr: { msr: 0x186, value: 0x4300c0 }',
    '      - wrmsr: { msr: 0x187, value: 0x4300c4 }',
    '      - wrmsr: { msr: 0x38f, value: 0x3 }',
    '      - loop: { instructions: 1000000, branches: 100000 }',
    '      - rdpmc: { index: 0 }',
    '      - expect: { step: 4, equals: 0 }',
    '      - rdpmc: { index: 1 }',
    '      - expect: { step: 6, atLeast: 100000 }',
  ].join('\n');
  const denyInstructions = '{ mode: MODE, filter: { action: deny, events: [{ event: 0xc0, umask: 0 }], fixedCounterBitmap: 0x1 } }';

  it(
    'the event filter applies without any interception option: event selectors are always intercepted (eventsel_hw, pmu_event_filter_test.c)',
    async () => {
      const run = await runScenarioText(mediatedWorld('mediated-filter', { vpmu: denyInstructions.replace('MODE', 'mediated'), program: filterProgram, workload: 'idle' }));
      const steps = run.summary.vms.vm1.program;
      expect(steps.filter((s) => s.op === 'expect').map((s) => s.ok)).toEqual([true, true]);
      expect(findingsOf(run, 'filter-bypass')).toEqual([]);
    },
    TIMEOUT_MS,
  );

  it(
    'a guest with fewer GP counters than the host reads its counters through RDPMC and gets #GP beyond them (kvm_pmu_rdpmc; interception itself: mediated-vpmu.backend.spec.ts)',
    async () => {
      const vpmu = '{ mode: mediated, nrCounters: 4 }';
      const program = [
        '      - wrmsr: { msr: 0x186, value: 0x4300c4 }',
        '      - wrmsr: { msr: 0x38f, value: 0x1 }',
        '      - loop: { instructions: 1000, branches: 500 }',
        '      - rdpmc: { index: 0 }',
        '      - expect: { step: 3, equals: 500 }',
        '      - rdpmc: { index: 5 }',
        '      - expect: { step: 5, fault: gp }',
      ].join('\n');
      const run = await runScenarioText(mediatedWorld('mediated-rdpmc', { vpmu, program, workload: 'idle' }));
      expect(run.summary.vms.vm1.program.filter((s) => s.op === 'expect').map((s) => s.ok)).toEqual([true, true]);
    },
    TIMEOUT_MS,
  );
});

describe('mediated vPMU: changing the event filter of a running VM', () => {
  const statBranches = '    guestPerf:\n      - { id: st, command: stat, events: [branches] }\n';
  const branchesErrorPct = async (name: string, vpmu: string, timeline: string) => {
    const run = await runScenarioText(mediatedWorld(name, { vpmu, duration: '40ms', extra: statBranches + timeline }));
    return run.summary.vms.vm1.counters.branches.errorPct;
  };

  it(
    'KVM_SET_PMU_EVENT_FILTER at 10 ms denying branches stops the guest counter from then on ("KVM: x86/pmu: Reprogram mediated PMU event selectors on event filter updates")',
    async () => {
      const deny = 'timeline:\n  - at: 10ms\n    setFilter: { vm: vm1, filter: { action: deny, events: [{ event: 0xc4, umask: 0 }] } }\n';
      const err = await branchesErrorPct('mediated-set-filter', '{ mode: mediated }', deny);
      // 30 of the 40 ms are lost (within the guest's exits and the epoch accounting).
      expect(err).toBeLessThan(-70);
      expect(err).toBeGreaterThan(-80);
      expect(Math.abs(await branchesErrorPct('mediated-no-filter-change', '{ mode: mediated }', ''))).toBeLessThan(1);
    },
    TIMEOUT_MS,
  );

  it(
    'removing the filter at 10 ms lets the denied event count again',
    async () => {
      const vpmu = '{ mode: mediated, filter: { action: deny, events: [{ event: 0xc4, umask: 0 }] } }';
      const err = await branchesErrorPct('mediated-remove-filter', vpmu, 'timeline:\n  - at: 10ms\n    setFilter: { vm: vm1, remove: true }\n');
      expect(err).toBeLessThan(-20);
      expect(err).toBeGreaterThan(-30);
    },
    TIMEOUT_MS,
  );
});

describe('mediated vPMU: an emulated instruction that wraps a counter raises the guest PMI', () => {
  // GP0 counts instructions retired at CPL0 and ends the program one event from wrapping: it is
  // written 0xff..fd, and the two WRMSRs that follow (the counter write itself and GLOBAL_CTRL, not
  // intercepted) retire at CPL0 and count. The guest then runs only user code (kernelFraction 0),
  // so the hardware never moves it. Its first exit KVM emulates (the TSC deadline write) is
  // credited (kvm_pmu_instruction_retired), and kvm_pmu_incr_counter for a mediated PMU wraps it
  // to zero: GLOBAL_STATUS set and, with EVENTSEL.INT, KVM_REQ_PMI ("KVM: x86/pmu: Handle
  // emulated instruction for mediated vPMU").
  const world = (name: string, eventSel: string) =>
    mediatedWorld(name, {
      program: [`      - wrmsr: { msr: 0x186, value: ${eventSel} }`, '      - wrmsr: { msr: 0x4c1, value: 0xfffffffffffd }', '      - wrmsr: { msr: 0x38f, value: 0x1 }'].join('\n'),
      workload: '{ profile: specint, overrides: { kernelFraction: 0 } }',
      duration: '5ms',
    });
  const eventsOf = (run: { outDir: string }): SimEvent[] => readRecording(path.join(run.outDir, RECORDING_FILE_NAME)).epochs.flatMap((e) => e.frames.flatMap((f) => decodeEventBatch(f.batch)));

  it(
    'with INT: one guest PMI on the mediated vector, overflowing at the credited exit and injected at the next VM-Enter; without INT: none',
    async () => {
      const run = await runScenarioText(world('mediated-credit-wrap', '0x5200c0')); // OS | INT | EN, instructions retired
      expect(run.summary.vms.vm1.pmis).toEqual({ delivered: 1, lost: 0 });
      const events = eventsOf(run);
      // The first exit after the program's own (its intercepted event-select write, MSR 0x186).
      const exit = events.find((e): e is VmExitEvent => e.kind === 'vmExit' && e.msr !== 0x186)!;
      expect(['io', 'msr-write', 'msr-read', 'rdpmc', 'hlt']).toContain(exit.reason);
      const pmi = events.find((e): e is PmiEvent => e.kind === 'pmi')!;
      expect(pmi).toMatchObject({ owner: 'guest', deliveredTo: 'guest', overflowNs: exit.atNs, lost: false });
      const entry = events.find((e) => e.kind === 'vmEntry' && e.atNs > exit.atNs)!;
      expect(entry).toMatchObject({ atNs: pmi.atNs, pmiInjected: true });
      const quiet = await runScenarioText(world('mediated-credit-wrap-no-int', '0x4200c0')); // OS | EN
      expect(quiet.summary.vms.vm1.pmis).toEqual({ delivered: 0, lost: 0 });
    },
    TIMEOUT_MS,
  );
});
