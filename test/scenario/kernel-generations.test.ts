// scenarios/kernel-generations.yaml: one world under the three kernel generations (and mainline
// with the NMI watchdog on). The expected differences come from the kernel sources:
// - rfc-as-posted: "[RFC PATCH 02/41] perf: Support guest enter/exit interfaces" (K. Liang, Jan
//   2024) as posted, whose sibling loop in perf_guest_enter sets the leader's state at each step;
// - rfc-fixed: the same with every group member put into ERROR;
// - mainline: "perf: Add APIs to create/release mediated guest vPMUs" / "perf: Add APIs to
//   load/put guest mediated PMU context" (tip perf/core, Dec 2025): EOPNOTSUPP for include-guest
//   events while a mediated VM exists, EBUSY for perf_create_mediated_pmu while one exists (the
//   watchdog's wd_hw_attr in kernel/watchdog_perf.c sets no exclude_guest), no ERROR state.
import { runScenarioFile, type ScenarioRun } from '../support/run-scenario';

describe('kernel-generations.yaml: one world, three kernel generations', () => {
  let run: ScenarioRun;
  beforeAll(async () => {
    run = await runScenarioFile('kernel-generations.yaml');
  }, 120_000);

  const rows = (host: string) => new Map(run.summary.hosts[host].perfEvents.map((r) => [r.id, r]));
  const findings = (host: string, kind: string) => run.summary.findings.filter((f) => f.host === host && f.kind === kind);

  it('rfc-as-posted: only the group leader goes to ERROR; the sibling stays INACTIVE and never runs again', () => {
    const r = rows('posted');
    expect(r.get('grp/cycles@cpu0')!.state).toBe('error');
    const sib = r.get('grp/instructions@cpu0')!;
    expect(sib.state).toBe('inactive');
    expect(sib.timeRunningNs).toBeLessThan(sib.timeEnabledNs / 10);
    expect(findings('posted', 'host-event-error-state').map((f) => f.detail.split(' ')[3])).toEqual(['grp/cycles@cpu0']);
  });

  it('rfc-fixed: every member of the include-guest group goes to ERROR', () => {
    const r = rows('fixed');
    expect([r.get('grp/cycles@cpu0')!.state, r.get('grp/instructions@cpu0')!.state]).toEqual(['error', 'error']);
    expect(findings('fixed', 'host-event-error-state')).toHaveLength(2);
  });

  it('mainline: the include-guest group cannot be created while the mediated VM exists (EOPNOTSUPP), and nothing goes to ERROR', () => {
    const r = rows('mainline');
    expect(r.has('grp/cycles@cpu0')).toBe(false);
    expect(findings('mainline', 'host-event-create-unsupported').map((f) => f.detail.split(' ')[4])).toEqual(['grp/cycles@cpu0', 'grp/instructions@cpu0']);
    expect(findings('mainline', 'host-event-error-state')).toEqual([]);
    expect(run.summary.vms['vm-mainline'].vpmu).toBe('mediated');
    expect(run.summary.vms['vm-mainline'].guestRunNs).toBeGreaterThan(0);
    // exclude_guest events are scheduled out around the guest in every generation.
    for (const host of ['posted', 'fixed', 'mainline']) {
      const exc = rows(host).get('exc/branches@cpu0')!;
      expect(exc.state).not.toBe('error');
      expect(exc.timeRunningNs).toBeLessThan(exc.timeEnabledNs);
    }
  });

  it('mainline with the NMI watchdog on: perf_create_mediated_pmu fails with EBUSY, the VM never runs, and the group is then created and counts', () => {
    const busy = findings('mainline-watchdog', 'mediated-pmu-busy');
    expect(busy).toHaveLength(1);
    expect(busy[0].detail).toContain('nmi-watchdog/cpu0, nmi-watchdog/cpu1');
    expect(run.summary.vms['vm-mainline-watchdog'].guestRunNs).toBe(0);
    expect(rows('mainline-watchdog').get('grp/cycles@cpu0')!.state).toBe('active');
    // The RFC generations model the watchdog with exclude_guest: no refusal there.
    expect(run.summary.findings.filter((f) => f.kind === 'mediated-pmu-busy')).toHaveLength(1);
  });
});
