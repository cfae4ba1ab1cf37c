// Guest LBR save/restore modes in the world (libs/host/src/lbr-world.ts, docs/lbr.md).
// The same host LBR noise (a high-priority host thread with `lbr: true`) against a guest recording
// with --call-graph lbr: under `none` reads preempted inside the pollution window return the host's
// branches; `pv` saves/restores at every switch and stays clean; `lazy` stays clean while
// preemptions are shorter than its release hysteresis and pollutes when they are longer.
import * as fs from 'node:fs';
import { runScenarioFile, runScenarioText } from '../support/run-scenario';

// docs/lbr.md's results table renderer (a plain script, also run by hand with --write).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lbrTable = require('../../scripts/lbr-table.js') as { renderLbrTable: (s: unknown) => string; committedTable: (doc: string) => string | null; DOC: string };

const one = (lbr: string, opts: { callGraph?: string; lazy?: string; allCpus?: boolean; duration?: string } = {}) => `version: 1
name: lbr-one
seed: 7
duration: ${opts.duration ?? '100ms'}
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
    noise:
      - { id: lbr-hog, cpus: all, period: 300us, runtime: 40us, lbr: true, priority: high }
vms:
  - id: vm1
    host: h1
    vcpus: 2
    vpmu: { mode: passthrough, lbr: ${lbr}${opts.lazy ? `, lazyLbrRelease: ${opts.lazy}` : ''} }
    workload: { profile: specint, tasksPerVcpu: 2 }
    guestPerf:
      - { id: rec, command: record, events: [cycles], sample: { freq: 4000 }, callGraph: ${opts.callGraph ?? 'lbr'}${opts.allCpus ? ', allCpus: true' : ''} }
`;

describe('guest LBR modes under the same host LBR noise', () => {
  it('none pollutes, pv and lazy (10 ms hysteresis) do not; each costs what its mechanism does', async () => {
    const [base, none, pv, lazy] = await Promise.all([runScenarioText(one('none', { callGraph: 'none' })), runScenarioText(one('none')), runScenarioText(one('pv')), runScenarioText(one('lazy'))]);
    const l = (r: typeof none) => r.summary.vms.vm1.lbr!;
    expect(base.summary.vms.vm1.lbr).toBeUndefined();
    for (const r of [none, pv, lazy]) expect(l(r).reads).toBeGreaterThan(200);

    expect(l(none).pollutedReads).toBeGreaterThan(0);
    expect(l(none).foreignEntries).toBeGreaterThanOrEqual(l(none).pollutedReads);
    const polluted = none.summary.findings.filter((f) => f.kind === 'lbr-polluted');
    // Repeats fold into one summary entry with a count (docs/findings.md "Repeated findings").
    expect(polluted.reduce((n, f) => n + f.count, 0)).toBe(l(none).pollutedReads);
    // Every foreign entry is the host thread's: a preemption inside the window, or (no restore at
    // all under `none`) one between the guest's last branches and a PMI injected at re-entry.
    expect(polluted.every((f) => /returned \d+ foreign entries of \d+, recorded by host\/noise:lbr-hog/.test(f.detail))).toBe(true);
    expect(none.summary.events.byKind.lbrSnapshot).toBeGreaterThan(0);
    expect(none.summary.events.byKind.lbrSnapshot).toBeLessThanOrEqual(2 * 8);
    expect(l(none).saves + l(none).restores).toBe(0);

    expect(l(pv).pollutedReads).toBe(0);
    expect(pv.summary.findings.filter((f) => f.kind === 'lbr-polluted')).toEqual([]);
    expect(l(pv).saves).toBeGreaterThan(100); // every vCPU switch while ACTIVE
    // intel_pmu_lbr_del / intel_pmu_lbr_add with set_pv_lbr_ctrl_active ("[PATCH v2 6/8]
    // perf/x86/intel/lbr: guest requesting KVM for lbr stack save/restore", Sep 2018): the per-task
    // event is deleted and re-added at every guest switch between the workload's two tasks, so
    // ACTIVE is cleared and set again there: one host LBR event per vCPU at the start, then a
    // release and a create per guest task switch, and four PV MSR exits (RDMSR+WRMSR each way).
    const switches = pv.summary.events.byKind.guestContextSwitch;
    expect(switches).toBeGreaterThan(10);
    expect(l(pv).hostEventCreates).toBe(2 + switches);
    expect(l(pv).hostEventReleases).toBe(switches);
    expect(pv.summary.vms.vm1.vmExits['lbr-msr']).toBeGreaterThan(4 * switches);

    expect(l(lazy).pollutedReads).toBe(0);
    expect(l(lazy).intercepts).toBeGreaterThan(0);
    expect(l(lazy).saves).toBeLessThan(l(pv).saves); // saves only after the MSRs were passed through
    expect(l(lazy).hostEventReleases).toBe(0); // DEBUGCTL.LBR is never 0 for a whole 10 ms

    // Overhead against the same perf record without the LBR call stack.
    const score = (r: typeof none) => r.summary.vms.vm1.workloadScore;
    for (const r of [none, pv, lazy]) expect(score(r)).toBeLessThan(score(base));
    expect(score(pv)).toBeLessThan(score(none));
    expect(l(pv).costNs).toBeGreaterThan(l(lazy).costNs);
    expect(l(lazy).costNs).toBeGreaterThan(l(none).costNs);
  });

  it('pv with a system-wide (-a) session: no task context, so ACTIVE is never set: no host event, no save, polluted like none (intel_pmu_lbr_add: task_ctx_data only)', async () => {
    const run = await runScenarioText(one('pv', { allCpus: true, duration: '50ms' }));
    const l = run.summary.vms.vm1.lbr!;
    expect(l.reads).toBeGreaterThan(50);
    expect(l.hostEventCreates).toBe(0);
    expect(l.saves + l.restores).toBe(0);
    expect(l.pollutedReads).toBeGreaterThan(0);
  });

  it('lazy with a release period shorter than the preemptions: events released, stack lost, polluted; timer exits cost the guest', async () => {
    const [lazyLong, lazyShort] = await Promise.all([runScenarioText(one('lazy')), runScenarioText(one('lazy', { lazy: '10us' }))]);
    const s = lazyShort.summary.vms.vm1;
    expect(s.lbr!.hostEventReleases).toBeGreaterThan(0);
    expect(s.lbr!.pollutedReads).toBeGreaterThan(0);
    expect(s.vmExits['lbr-timer']).toBeGreaterThan(1000);
    expect(s.workloadScore).toBeLessThan(0.9 * lazyLong.summary.vms.vm1.workloadScore);
  });

  it('the shipped lbr-modes scenario: pollution and overhead per mode in the summary', async () => {
    const run = await runScenarioFile('lbr-modes.yaml');
    const vms = run.summary.vms;
    expect(vms['vm-none'].lbr!.pollutedReads).toBeGreaterThan(0);
    expect(vms['vm-pv'].lbr!.pollutedReads).toBe(0);
    expect(vms['vm-lazy'].lbr!.pollutedReads).toBe(0);
    for (const id of ['vm-none', 'vm-pv', 'vm-lazy']) expect(vms[id].workloadScore).toBeLessThan(vms['vm-base'].workloadScore);
    expect(run.summary.findings.filter((f) => f.kind === 'lbr-polluted').every((f) => f.vm === 'vm-none')).toBe(true);
    // The committed results table in docs/lbr.md is this run's: regenerate it with
    // `node scripts/lbr-table.js --write` after a change that moves it.
    expect(lbrTable.committedTable(fs.readFileSync(lbrTable.DOC, 'utf8'))).toBe(lbrTable.renderLbrTable(run.summary));
  });
});
