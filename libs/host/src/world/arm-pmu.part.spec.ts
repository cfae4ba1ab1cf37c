// The arm64 PMU part, through HostWorld's records and inspect(): KVM_RUN failing on a core outside
// the VM's PMU, timeline setPmu on a host without one.
import { oneHost, SmallWorld } from '../testing/small-world.fixture';

describe('arm64 PMU part', () => {
  it('KVM_RUN fails on a core the VM PMU does not cover: the vCPU stops, the finding says why', () => {
    const text = `version: 1
name: arm-entry
seed: 4
duration: 10ms
hosts:
  - { id: arm1, cpu: arm-a76-a55, pcpus: 8 }
vms:
  - id: vm1
    host: arm1
    vcpus: 1
    affinity: [[3, 4]]
    vpmu: { mode: emulated, armPmu: armv8_cortex_a55 }
    workload: specint
`;
    const w = SmallWorld.of(text).runUntil();
    const failed = w.findings('arm-entry-failed', 'arm1');
    expect(failed).toHaveLength(1);
    expect(failed[0].at).toMatchObject({ host: 'arm1', vm: 'vm1', vcpu: 0 });
    expect(w.host('arm1').inspect().vcpus[0].state).toBe('failed');
    // Nothing runs the stopped vCPU again.
    expect(w.of('contextSwitch', 'arm1').filter((e) => e.nextThread === 'vcpu:vm1/0')).toHaveLength(1);
  });

  it('a timeline setPmu for a VM on an x86 host is answered ENXIO', () => {
    const vms = '  - { id: vm1, host: h1, vcpus: 1, vpmu: { mode: emulated }, workload: idle }';
    const w = SmallWorld.of(oneHost({ pcpus: 1, vms, timeline: '  - at: 1ms\n    setPmu: { vm: vm1, pmu: armv8_cortex_a76 }', duration: '3ms' })).runUntil();
    expect(w.findings('timeline-action').map((f) => [f.atNs, f.detail])).toEqual([[1_000_000, 'setPmu armv8_cortex_a76: ENXIO: host h1 is not arm64 (no KVM_ARM_VCPU_PMU_V3_CTRL)']]);
  });
});
