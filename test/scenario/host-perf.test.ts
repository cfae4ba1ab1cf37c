// Host perf in the world: host perf sessions over the pCPUs' PMUs next to passthrough guests.
import { runScenarioFile, runScenarioText } from '../support/run-scenario';

describe('host perf in the simulated world', () => {
  it('reports host-event-error-state, host-event-create-busy and nmi-watchdog-blind with time, CPU and event', async () => {
    const run = await runScenarioFile('host-perf-findings.yaml');
    const f = run.summary.findings;
    const err = f.find((x) => x.kind === 'host-event-error-state');
    expect(err).toBeDefined();
    expect(err!.host).toBe('h1');
    expect(err!.atNs).toBeGreaterThanOrEqual(5_000_000);
    expect(err!.detail).toMatch(/late\/cycles@cpu0.*cpu0/);
    const busy = f.find((x) => x.kind === 'host-event-create-busy');
    expect(busy!.atNs).toBe(5_000_000);
    expect(busy!.detail).toMatch(/busy\/cycles@cpu1.*EBUSY.*cpu1/);
    expect(f.filter((x) => x.kind === 'nmi-watchdog-blind').map((x) => x.detail.match(/cpu\d/)![0]).sort()).toEqual(['cpu0', 'cpu1']);
    const rows = run.summary.hosts.h1.perfEvents;
    expect(rows.find((r) => r.id === 'late/cycles@cpu0')).toMatchObject({ state: 'error', count: 0 });
    expect(rows.find((r) => r.id.startsWith('busy/'))).toBeUndefined();
    const safe = rows.find((r) => r.id === 'safe/instructions@cpu0')!;
    expect(safe.state).not.toBe('error');
    expect(safe.timeEnabledNs).toBe(55_000_000);
  });

  it('multiplexes more flexible events than counters: timeRunningNs / timeEnabledNs follows the fit', async () => {
    const run = await runScenarioFile('host-perf-multiplex.yaml');
    const rows = run.summary.hosts.h1.perfEvents.filter((r) => r.id.startsWith('mux/'));
    expect(rows).toHaveLength(4);
    for (const r of rows) {
      expect(r.timeEnabledNs).toBe(100_000_000);
      // 2 GP counters for 4 events: each runs half the time, within one 4 ms rotation.
      expect(Math.abs(r.timeRunningNs / r.timeEnabledNs - 0.5)).toBeLessThanOrEqual(0.041);
      expect(r.count).toBeGreaterThan(0);
    }
    expect(rows.reduce((a, r) => a + r.timeRunningNs, 0)).toBe(2 * 100_000_000);
  });

  it('counts host events exactly while the host runs and stops them with the session', async () => {
    const run = await runScenarioText(`version: 1
name: host-count
seed: 1
duration: 30ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 1
    nmiWatchdog: false
    perf:
      - { id: s, events: [cycles], cpus: [0], start: 0, stop: 20ms }
    noise:
      - { id: n, cpus: all, period: 1ms, runtime: 500us }
`);
    const row = run.summary.hosts.h1.perfEvents.find((r) => r.id === 's/cycles@cpu0')!;
    // Closed at 20 ms: its times stop there (the closed reading keeps the last state).
    expect(row.timeEnabledNs).toBe(20_000_000);
    expect(row.timeRunningNs).toBe(20_000_000);
    expect(row.count).toBeGreaterThan(0);
  });
});
