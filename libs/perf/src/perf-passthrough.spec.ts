// The passthrough rules of perf_guest_enter / perf_guest_exit ("[RFC PATCH 02/41] perf: Support guest enter/exit interfaces" (K. Liang, Jan 2024),
// kernel/events/core.c and perf_event_open(2).
import { EventRates, IntelPmu, MODE_GUEST, MODE_HOST, MSR } from '@vpmu/pmu';
import { MS, RATES, host, runAll } from './testing/perf-core.fixture';

const ok = (r: { ok: boolean }) => expect(r).toMatchObject({ ok: true });

describe('perf guest enter / exit (passthrough vPMU)', () => {
  it('every member of a group without exclude_guest goes to ERROR for good (not only the leader)', () => {
    const { core, records, findings } = host('intel-skx', 1);
    // leader has exclude_guest, a sibling does not: the whole group is forced to ERROR
    ok(core.createEvent({ event: 'cycles', excludeGuest: true }, { cpu: 0, id: 'L1' }, 0));
    ok(core.createEvent({ event: 'instructions' }, { cpu: 0, id: 'S1', groupLeader: 'L1' }, 0));
    ok(core.createEvent({ event: 'branches', excludeGuest: true }, { cpu: 0, id: 'S2', groupLeader: 'L1' }, 0));
    // an all-exclude_guest group survives
    ok(core.createEvent({ event: 'branches', excludeGuest: true }, { cpu: 0, id: 'X' }, 0));
    const c = core.cpus[0];
    c.advanceTo(MS, RATES, MODE_HOST);
    c.guestEnter(MS);
    expect(['L1', 'S1', 'S2', 'X'].map((id) => core.read(id, MS)!.state)).toEqual(['error', 'error', 'error', 'inactive']);
    expect(findings('host-event-error-state').map((f) => f.at.pcpu)).toEqual([0, 0, 0]);
    expect(findings('host-event-error-state').map((f) => f.kind === 'finding' && f.detail.split(' ')[3])).toEqual(['L1', 'S1', 'S2']);
    expect(records.filter((r) => r.kind === 'perfState' && r.to === 'error').map((r) => r.kind === 'perfState' && r.cause)).toEqual(['guest-enter', 'guest-enter', 'guest-enter']);
    c.advanceTo(2 * MS, RATES, MODE_GUEST);
    c.guestExit(2 * MS);
    c.advanceTo(3 * MS, RATES, MODE_HOST);
    expect(['L1', 'S1', 'S2', 'X'].map((id) => core.read(id, 3 * MS)!.state)).toEqual(['error', 'error', 'error', 'active']);
    expect(core.read('S1', 3 * MS)!.count).toBe(0); // ERROR reads 0
    // X did not count guest time and was not running during it
    expect(core.read('X', 3 * MS)).toMatchObject({ count: MS, timeEnabledNs: 3 * MS, timeRunningNs: 2 * MS });
    // re-enabling is the only way back
    core.enable('L1', 3 * MS);
    core.enable('S1', 3 * MS);
    core.enable('S2', 3 * MS);
    expect(core.read('S1', 3 * MS)!.state).toBe('active');
  });

  it('creating an event without exclude_guest while the guest owns the PMU fails with EBUSY', () => {
    const { core, findings } = host('intel-skx', 2);
    const c = core.cpus[1];
    c.schedIn('vcpu0', 0);
    c.guestEnter(0);
    runAll(core, MS, RATES, MODE_GUEST);
    expect(core.createEvent({ event: 'cycles' }, { cpu: 1, id: 'busy' }, MS)).toMatchObject({ ok: false, errno: 'EBUSY' });
    expect(core.createEvent({ event: 'cycles' }, { task: 'vcpu0', id: 'busy-task' }, MS)).toMatchObject({ ok: false, errno: 'EBUSY' });
    expect(findings('host-event-create-busy').map((f) => [f.atNs, f.at.pcpu])).toEqual([
      [MS, 1],
      [MS, 1],
    ]);
    // other CPUs, exclude_guest events, and software/uncore PMUs are fine
    ok(core.createEvent({ event: 'cycles' }, { cpu: 0, id: 'other-cpu' }, MS));
    ok(core.createEvent({ event: 'cycles', excludeGuest: true }, { cpu: 1, id: 'eg' }, MS));
    ok(core.createEvent({ event: 'cpu-clock' }, { cpu: 1, id: 'sw' }, MS));
    ok(core.createEvent({ event: 'uncore-clockticks' }, { cpu: 1, id: 'unc' }, MS));
    expect(core.read('eg', MS)!.state).toBe('inactive'); // waits for the exit
    expect(core.read('sw', MS)!.state).toBe('active');
    runAll(core, 2 * MS, RATES, MODE_GUEST);
    c.guestExit(2 * MS);
    expect(core.read('eg', 2 * MS)!.state).toBe('active');
    ok(core.createEvent({ event: 'cycles' }, { cpu: 1, id: 'after' }, 2 * MS));
  });

  it('uncore and software events are untouched by guest entry', () => {
    const { core } = host('intel-skx', 1);
    ok(core.createEvent({ event: 'cpu-clock' }, { cpu: 0, id: 'sw' }, 0));
    ok(core.createEvent({ event: 'uncore-clockticks' }, { cpu: 0, id: 'unc' }, 0));
    const c = core.cpus[0];
    c.guestEnter(0);
    c.advanceTo(MS, RATES, MODE_GUEST);
    c.guestExit(MS);
    expect(core.read('sw', MS)).toMatchObject({ state: 'active', count: MS, timeRunningNs: MS });
    expect(core.read('unc', MS)).toMatchObject({ state: 'active', count: 2 * MS });
  });

  it('at exit pinned groups are scheduled before flexible ones (CPU pinned, task pinned, CPU flexible, task flexible)', () => {
    const { core } = host('intel-skx', 1); // 4 GP counters
    for (let i = 0; i < 4; i++) ok(core.createEvent({ event: 'branches', excludeGuest: true }, { cpu: 0, id: `cf${i}` }, 0));
    ok(core.createEvent({ event: 'branches', excludeGuest: true, pinned: true }, { task: 'vcpu0', id: 'tp' }, 0));
    ok(core.createEvent({ event: 'branch-misses', excludeGuest: true, pinned: true }, { cpu: 0, id: 'cp' }, 0));
    const c = core.cpus[0];
    c.schedIn('vcpu0', 0);
    c.guestEnter(0);
    c.advanceTo(MS, RATES, MODE_GUEST);
    c.guestExit(MS);
    // The RFC's per-context order (cpu pinned+flexible, then task) would have starved tp into ERROR.
    expect(core.read('cp', MS)!.state).toBe('active');
    expect(core.read('tp', MS)!.state).toBe('active');
    expect(['cf0', 'cf1', 'cf2', 'cf3'].map((id) => core.read(id, MS)!.state)).toEqual(['active', 'active', 'inactive', 'inactive']);
  });

  it('the NMI watchdog (pinned cycles, exclude_guest) is blind while a guest runs', () => {
    const { core, findings } = host('intel-skx', 1);
    ok(core.createNmiWatchdog(0, 0, 21_000_000_000));
    const c = core.cpus[0];
    c.advanceTo(MS, RATES, MODE_HOST);
    for (let k = 1; k <= 3; k++) {
      c.guestEnter(k * MS);
      expect(core.read('nmi-watchdog/cpu0', k * MS)!.state).toBe('inactive');
      c.advanceTo(k * MS + MS / 2, RATES, MODE_GUEST);
      c.guestExit(k * MS + MS / 2);
      c.advanceTo((k + 1) * MS, RATES, MODE_HOST);
      expect(core.read('nmi-watchdog/cpu0', (k + 1) * MS)!.state).toBe('active');
    }
    expect(findings('nmi-watchdog-blind')).toHaveLength(1); // once per CPU
    expect(findings('nmi-watchdog-blind')[0]).toMatchObject({ atNs: MS, at: { host: 'h1', pcpu: 0 } });
    expect(c.watchdogBlindNs).toBe(1.5 * MS);
    expect(core.read('nmi-watchdog/cpu0', 4 * MS)).toMatchObject({ timeEnabledNs: 4 * MS, timeRunningNs: 2.5 * MS });
  });

  it('while the guest owns the PMU its overflows go to KVM, not to host perf; host counters are stopped', () => {
    const { core, records } = host('intel-skx', 1);
    ok(core.createEvent({ event: 'instructions', excludeGuest: true }, { cpu: 0, id: 'h' }, 0));
    const c = core.cpus[0];
    c.advanceTo(1000, RATES, MODE_HOST);
    c.guestEnter(1000);
    // KVM loads the guest's PMU context: a sampling counter about to overflow
    const pmu = c.pmu as IntelPmu;
    pmu.wrmsr(MSR.IA32_A_PMC0, 2n ** 48n - 500n);
    pmu.wrmsr(MSR.IA32_PERFEVTSEL0, 0xc0 | (1 << 16) | (1 << 20) | (1 << 22));
    const rates = EventRates.of({ instructions: 1 });
    expect(c.nextDeadlineNs(rates, MODE_GUEST)).toBe(1500);
    c.advanceTo(1500, rates, MODE_GUEST);
    expect(c.takeGuestOverflows()).toEqual([{ counterId: 0, overflowNs: 1500, pmi: true, pmiNs: 1500 + pmu.pmiSkidNs }]);
    expect(records.filter((r) => r.kind === 'pmi')).toEqual([]);
    c.advanceTo(2000, rates, MODE_GUEST);
    c.guestExit(2000);
    c.advanceTo(3000, RATES, MODE_HOST);
    expect(core.read('h', 3000)!.count).toBe(4000); // 2/ns for the 2000 host ns only
    expect(pmu.rdmsr(MSR.PERF_GLOBAL_STATUS)).toEqual({ ok: true, value: 0n });
  });

  it('a host PMI whose event was scheduled out at guest entry is lost', () => {
    const { core, records } = host('intel-icx', 1, {}, { pmiSkidNs: 200 });
    ok(core.createEvent({ event: 'cycles', excludeGuest: true, samplePeriod: 1000 }, { cpu: 0, id: 's' }, 0));
    const c = core.cpus[0];
    const rates = EventRates.of({ cycles: 1 });
    c.advanceTo(1100, rates, MODE_HOST); // overflow at 1000, PMI due at 1200
    c.guestEnter(1100);
    c.advanceTo(1300, rates, MODE_GUEST);
    expect(records.filter((r) => r.kind === 'pmi')).toEqual([expect.objectContaining({ atNs: 1200, overflowNs: 1000, lost: true, skidNs: 200 })]);
    expect(core.read('s', 1300)).toMatchObject({ samples: 0, lostPmis: 1 });
  });
});
