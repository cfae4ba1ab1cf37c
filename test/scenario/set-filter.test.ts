// KVM_SET_PMU_EVENT_FILTER on a running VM (timeline `setFilter`) under the emulated vPMU and the
// RFC's passthrough vPMU with event-select interception: kvm_vm_ioctl_set_pmu_event_filter
// (arch/x86/kvm/pmu.c) replaces the VM's filter, marks every counter for reprogramming and makes
// KVM_REQ_PMU on every vCPU, so the new filter applies to counters already programmed, not only
// to the guest's later writes. The mediated vPMU's own test is in mediated-vpmu.test.ts.
import { runScenarioText, type ScenarioRun } from '../support/run-scenario';

const TIMEOUT_MS = 120_000;
const DENY_BRANCHES = '{ action: deny, events: [{ event: 0xc4, umask: 0 }] }';

/** One RFC-kernel host, three 1-vCPU VMs counting branches with perf stat for 40 ms. */
function world(name: string, vms: { id: string; vpmu: string }[], timeline: string): string {
  return `version: 1
name: ${name}
seed: 5
duration: 40ms
hosts:
  - { id: h1, cpu: intel-spr, pcpus: ${vms.length} }
vms:
${vms
  .map(
    (v, i) => `  - id: ${v.id}
    host: h1
    affinity: [${i}]
    vpmu: ${v.vpmu}
    workload: specint
    guestPerf:
      - { id: st, command: stat, events: [branches] }
`,
  )
  .join('')}timeline:
${timeline}`;
}

describe('setFilter on a running emulated or passthrough VM (KVM_REQ_PMU: every counter reprogrammed)', () => {
  let denied: ScenarioRun;
  let removed: ScenarioRun;
  beforeAll(async () => {
    denied = await runScenarioText(
      world(
        'set-filter-deny',
        [
          { id: 'emu', vpmu: '{ mode: emulated }' },
          { id: 'pt', vpmu: '{ mode: passthrough, interceptEventSelect: true }' },
          { id: 'control', vpmu: '{ mode: emulated }' },
        ],
        `  - { at: 10ms, setFilter: { vm: emu, filter: ${DENY_BRANCHES} } }\n  - { at: 10ms, setFilter: { vm: pt, filter: ${DENY_BRANCHES} } }\n`,
      ),
    );
    removed = await runScenarioText(
      world(
        'set-filter-remove',
        [
          { id: 'emu', vpmu: `{ mode: emulated, filter: ${DENY_BRANCHES} }` },
          { id: 'pt', vpmu: `{ mode: passthrough, interceptEventSelect: true, filter: ${DENY_BRANCHES} }` },
        ],
        '  - { at: 10ms, setFilter: { vm: emu, remove: true } }\n  - { at: 10ms, setFilter: { vm: pt, remove: true } }\n',
      ),
    );
  }, TIMEOUT_MS);

  const errorPct = (run: ScenarioRun, vm: string): number => run.summary.vms[vm]!.counters['branches']!.errorPct;

  it('denying branches at 10 ms stops the counter already counting them (emulated: the backing perf event is released, pmc_event_is_allowed)', () => {
    // 30 of the 40 ms are lost (within the guest's exits and the epoch accounting).
    expect(errorPct(denied, 'emu')).toBeLessThan(-65);
    expect(errorPct(denied, 'emu')).toBeGreaterThan(-85);
    expect(Math.abs(errorPct(denied, 'control'))).toBeLessThan(1);
    // The release of the backing event is the vCPU's own cost (KVM_REQ_PMU runs on the vCPU).
    expect(denied.summary.vms['emu']!.vmExits['perf-release']).toBeGreaterThanOrEqual(1);
  });

  it('passthrough with interceptEventSelect: the hardware selector is rewritten without EN from the guest\'s value', () => {
    expect(errorPct(denied, 'pt')).toBeLessThan(-65);
    expect(errorPct(denied, 'pt')).toBeGreaterThan(-85);
    expect(denied.summary.findings.filter((f) => f.kind === 'filter-bypass')).toEqual([]);
  });

  it('removing the filter at 10 ms lets the denied event count again, in both modes', () => {
    for (const vm of ['emu', 'pt']) {
      expect(errorPct(removed, vm)).toBeLessThan(-15);
      expect(errorPct(removed, vm)).toBeGreaterThan(-35);
    }
    expect(removed.summary.vms['emu']!.vmExits['perf-create']).toBeGreaterThanOrEqual(1);
  });
});
