// Host perf rules per kernel generation (PerfCoreOptions.guestRules):
// - rfc-as-posted: "[RFC PATCH 02/41] perf: Support guest enter/exit interfaces" (K. Liang, Jan
//   2024) as posted: the sibling loop of perf_guest_enter sets the leader's state, so only the
//   leader goes to ERROR; perf_guest_exit schedules the CPU context before the task context.
// - mainline: "perf: Add APIs to create/release mediated guest vPMUs" and "perf: Add APIs to
//   load/put guest mediated PMU context" (tip perf/core, Dec 2025): perf_create_mediated_pmu
//   fails with EBUSY while an include-guest event exists, mediated_pmu_account_event fails with
//   EOPNOTSUPP while a mediated VM exists, perf_load_guest_context schedules exclude_guest events
//   out (EVENT_GUEST) and perf_put_guest_context schedules them back in; the NMI watchdog's
//   wd_hw_attr (kernel/watchdog_perf.c) has no exclude_guest.
import { MODE_GUEST, MODE_HOST } from '@vpmu/pmu';
import { MS, RATES, host } from './testing/perf-core.fixture';

const ok = (r: { ok: boolean }) => expect(r).toMatchObject({ ok: true });

describe('kernel generations: the RFC as posted', () => {
  it('perf_guest_enter as posted puts only the group leader into ERROR; siblings are just scheduled out', () => {
    const { core, findings } = host('intel-skx', 1, { guestRules: 'rfc-as-posted' });
    ok(core.createEvent({ event: 'cycles', excludeGuest: true }, { cpu: 0, id: 'L1' }, 0));
    ok(core.createEvent({ event: 'instructions' }, { cpu: 0, id: 'S1', groupLeader: 'L1' }, 0));
    ok(core.createEvent({ event: 'branches', excludeGuest: true }, { cpu: 0, id: 'S2', groupLeader: 'L1' }, 0));
    const c = core.cpus[0];
    c.advanceTo(MS, RATES, MODE_HOST);
    c.guestEnter(MS);
    expect(['L1', 'S1', 'S2'].map((id) => core.read(id, MS)!.state)).toEqual(['error', 'inactive', 'inactive']);
    expect(findings('host-event-error-state')).toHaveLength(1);
    c.advanceTo(2 * MS, RATES, MODE_GUEST);
    c.guestExit(2 * MS);
    // The leader in ERROR keeps the whole group off the PMU: the siblings never run again.
    expect(['L1', 'S1', 'S2'].map((id) => core.read(id, 2 * MS)!.state)).toEqual(['error', 'inactive', 'inactive']);
  });

  const taskPinnedAfterExit = (guestRules: 'rfc-as-posted' | 'rfc-fixed') => {
    const { core } = host('intel-skx', 1, { guestRules });
    // Four flexible GP-only CPU events fill the 4 GP counters of Skylake; the vCPU task has a
    // pinned GP event that must win one of them (cpu pinned > task pinned > cpu flexible).
    for (let i = 0; i < 4; i++) ok(core.createEvent({ event: 'branches', excludeGuest: true }, { cpu: 0, id: `F${i}` }, 0));
    ok(core.createEvent({ event: 'branches', excludeGuest: true, pinned: true }, { task: 'vcpu0', id: 'TP' }, 0));
    const c = core.cpus[0];
    c.schedIn('vcpu0', 0);
    expect(core.read('TP', 0)!.state).toBe('active');
    c.advanceTo(MS, RATES, MODE_HOST);
    c.guestEnter(MS);
    c.advanceTo(2 * MS, RATES, MODE_GUEST);
    c.guestExit(2 * MS);
    return core.read('TP', 2 * MS)!.state;
  };

  it('perf_guest_exit as posted schedules the CPU context first: the task pinned event loses its counter and goes to ERROR', () => {
    expect(taskPinnedAfterExit('rfc-as-posted')).toBe('error');
  });

  it('with the order fixed (perf_event_sched_in order) the task pinned event gets its counter back', () => {
    expect(taskPinnedAfterExit('rfc-fixed')).toBe('active');
  });
});

describe('kernel generations: mainline (mediated vPMU)', () => {
  it('perf_create_mediated_pmu fails with EBUSY while the NMI watchdog (no exclude_guest in mainline) exists', () => {
    const { core } = host('intel-skx', 2, { guestRules: 'mainline' });
    ok(core.createNmiWatchdog(0, 0, 1e9));
    ok(core.createNmiWatchdog(1, 0, 1e9));
    expect(core.createMediatedPmu()).toEqual({ ok: false, errno: 'EBUSY', includeGuestEvents: ['nmi-watchdog/cpu0', 'nmi-watchdog/cpu1'] });
    core.close('nmi-watchdog/cpu0', 0);
    core.close('nmi-watchdog/cpu1', 0);
    expect(core.createMediatedPmu()).toEqual({ ok: true });
    expect(core.mediatedPmuVms).toBe(1);
  });

  it('creating an include-guest event fails with EOPNOTSUPP while a mediated VM exists, and works again after the release', () => {
    const { core, findings } = host('intel-skx', 1, { guestRules: 'mainline' });
    ok(core.createMediatedPmu());
    expect(core.createEvent({ event: 'cycles' }, { cpu: 0, id: 'inc' }, 0)).toMatchObject({ ok: false, errno: 'EOPNOTSUPP' });
    expect(findings('host-event-create-unsupported')).toHaveLength(1);
    ok(core.createEvent({ event: 'cycles', excludeGuest: true }, { cpu: 0, id: 'exc' }, 0));
    // Software events are not on the mediated core PMU: no restriction.
    ok(core.createEvent({ event: 'cpu-clock' }, { cpu: 0, id: 'sw' }, 0));
    core.releaseMediatedPmu();
    ok(core.createEvent({ event: 'cycles' }, { cpu: 0, id: 'inc2' }, 0));
  });

  it('perf_load_guest_context schedules exclude_guest events of the CPU and task contexts out, perf_put_guest_context back in; no ERROR', () => {
    const { core, records } = host('intel-skx', 1, { guestRules: 'mainline', traceSchedTransitions: true });
    ok(core.createMediatedPmu());
    ok(core.createEvent({ event: 'cycles', excludeGuest: true }, { cpu: 0, id: 'cpuev' }, 0));
    ok(core.createEvent({ event: 'instructions', excludeGuest: true }, { task: 'vcpu0', id: 'taskev' }, 0));
    const c = core.cpus[0];
    c.schedIn('vcpu0', 0);
    c.advanceTo(MS, RATES, MODE_HOST);
    c.guestEnter(MS);
    c.advanceTo(3 * MS, RATES, MODE_GUEST);
    c.guestExit(3 * MS);
    c.advanceTo(4 * MS, RATES, MODE_HOST);
    const transitions = records.flatMap((r) => (r.kind === 'perfState' && r.eventId !== undefined && r.atNs > 0 ? [`${r.atNs / MS}ms ${r.eventId} ${r.from}->${r.to} ${r.cause}`] : []));
    expect(transitions).toEqual([
      '1ms cpuev active->inactive guest-load',
      '1ms taskev active->inactive guest-load',
      '3ms cpuev inactive->active sched-in',
      '3ms taskev inactive->active sched-in',
    ]);
    expect(records.some((r) => r.kind === 'perfState' && r.to === 'error')).toBe(false);
    // Enabled 4 ms, running only the 2 ms of host time.
    expect(core.read('cpuev', 4 * MS)).toMatchObject({ timeEnabledNs: 4 * MS, timeRunningNs: 2 * MS, state: 'active' });
  });
});
