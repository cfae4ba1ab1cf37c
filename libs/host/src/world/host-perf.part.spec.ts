// Host perf, through HostWorld's inspect() and records: sessions opened per CPU and event at their
// start, closed at their stop, restarted by a timeline action under fresh ids, the NMI watchdog,
// and the final readings.
import { oneHost, SmallWorld } from '../testing/small-world.fixture';

const VM = `  - id: vm1
    host: h1
    vcpus: 1
    affinity: [0]
    vpmu: { mode: emulated }
    workload: specint`;

const ids = (w: SmallWorld) => w.host().inspect().perfEvents.map((e) => e.id);

describe('host perf part', () => {
  it('opens a session per CPU and event at its start and closes it at its stop', () => {
    const host = `    nmiWatchdog: false
    perf:
      - { id: s, events: [cycles, instructions], cpus: [0, 1], start: 2ms, stop: 6ms }`;
    const w = SmallWorld.of(oneHost({ pcpus: 2, host, vms: VM, duration: '10ms' }));
    expect(ids(w)).toEqual([]);
    w.runUntil(3_000_000);
    expect(ids(w)).toEqual(['s/cycles@cpu0', 's/instructions@cpu0', 's/cycles@cpu1', 's/instructions@cpu1']);
    const busy = w.host().inspect().perfEvents.find((e) => e.id === 's/cycles@cpu0')!;
    expect(busy).toMatchObject({ state: 'active', timeEnabledNs: 1_000_000, timeRunningNs: 1_000_000 });
    expect(busy.count).toBeGreaterThan(0);
    w.runUntil(7_000_000);
    // Closed at 6 ms: its reading stays the one taken then (enabled 2-6 ms), however long the run goes on.
    const atClose = w.host().inspect().perfEvents.find((e) => e.id === 's/cycles@cpu0')!;
    expect(atClose.timeEnabledNs).toBe(4_000_000);
    w.runUntil(9_000_000);
    expect(w.host().inspect().perfEvents.find((e) => e.id === 's/cycles@cpu0')).toEqual(atClose);
    const closed = w.of('perfState').filter((e) => e.to === 'off').map((e) => e.eventId);
    expect(closed.sort()).toEqual(['s/cycles@cpu0', 's/cycles@cpu1', 's/instructions@cpu0', 's/instructions@cpu1']);
  });

  it('a timeline stop and restart re-opens the session under fresh ids; the end of the run reports every event', () => {
    const host = `    nmiWatchdog: true
    perf:
      - { id: s, events: [cycles], cpus: [1], start: 1ms }`;
    const timeline = `  - at: 3ms
    hostPerf: { host: h1, session: s, action: stop }
  - at: 5ms
    hostPerf: { host: h1, session: s, action: start }`;
    const w = SmallWorld.of(oneHost({ pcpus: 2, host, vms: VM, timeline, duration: '8ms' })).runUntil();
    const final = w.of('guestPerf').filter((e) => e.command.startsWith('host-perf:'));
    // A closed event's final reading is the one taken at its close.
    expect(final.map((e) => [e.event, e.command])).toEqual([
      ['nmi-watchdog/cpu0', 'host-perf:active'],
      ['nmi-watchdog/cpu1', 'host-perf:active'],
      ['s/cycles@cpu1', 'host-perf:active'],
      ['s#1/cycles@cpu1', 'host-perf:active'],
    ]);
    expect(w.of('perfState').filter((e) => e.eventId === 's/cycles@cpu1' && e.to === 'off')).toMatchObject([{ atNs: 3_000_000, cause: 'close' }]);
    for (const e of final) expect(e).toMatchObject({ atNs: 8_000_000, at: { host: 'h1' } });
    // Enabled times say when each lived: 1-3 ms, then 5-8 ms.
    expect(final[3].timeEnabledNs).toBe(3_000_000);
    expect(final[2].timeEnabledNs).toBe(2_000_000);
  });
});
