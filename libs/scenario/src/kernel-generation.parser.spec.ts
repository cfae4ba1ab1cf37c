// `hosts[].kernel` and `hosts[].kvm` (the kvm module parameters enable_pmu / enable_mediated_pmu)
// and the vPMU modes they allow: the mediated vPMU exists only in mainline and only with
// enable_mediated_pmu ("KVM: x86/pmu: Expose enable_mediated_pmu parameter to user space",
// v6 Dec 2025); mainline has no RFC passthrough.
import { base, expectError, host, ok, okWithWarnings } from './testing/parse-scenario.fixture';

const mainline = (kvm: Record<string, unknown> = { enableMediatedPmu: true }) => host({ kernel: 'mainline', kvm });
const onHost = (h: Record<string, unknown>, vpmu: Record<string, unknown>) => base({ hosts: [h], vms: [{ id: 'vm1', host: 'h1', vpmu }] });

describe('parseScenario: kernel generations and kvm module parameters', () => {
  it('reads kernel and kvm; leaves them out when absent (the rfc-fixed defaults)', () => {
    const s = ok(onHost(mainline(), { mode: 'mediated' }));
    expect(s.hosts[0]).toMatchObject({ kernel: 'mainline', kvm: { enablePmu: true, enableMediatedPmu: true } });
    expect(s.vms[0].vpmu.mode).toBe('mediated');
    const d = ok(base());
    expect(d.hosts[0].kernel).toBeUndefined();
    expect(d.hosts[0].kvm).toBeUndefined();
  });

  it('checks the kernel name', () => {
    expectError(base({ hosts: [host({ kernel: 'rfc' })] }), 'hosts[0].kernel', 'expected one of rfc-as-posted|rfc-fixed|mainline');
  });

  it('refuses enableMediatedPmu on an RFC kernel (no such module parameter)', () => {
    expectError(base({ hosts: [host({ kvm: { enableMediatedPmu: true } })] }), 'hosts[0].kvm.enableMediatedPmu', 'no enable_mediated_pmu parameter');
  });

  it('refuses mode mediated on an RFC kernel and without enableMediatedPmu', () => {
    expectError(onHost(host(), { mode: 'mediated' }), 'vms[0].vpmu.mode', 'set kernel: mainline');
    expectError(onHost(mainline({}), { mode: 'mediated' }), 'vms[0].vpmu.mode', 'set kvm.enableMediatedPmu: true');
  });

  it('refuses mode mediated on Intel CPUs before Sapphire Rapids (GLOBAL_CTRL saved by the VMCS exit controls)', () => {
    expectError(onHost({ ...mainline(), cpu: 'intel-icx' }, { mode: 'mediated' }), 'vms[0].vpmu.mode', 'from Sapphire Rapids on');
  });

  it('refuses the RFC passthrough on mainline, and emulated once every VM gets the mediated vPMU', () => {
    expectError(onHost(mainline(), { mode: 'passthrough' }), 'vms[0].vpmu.mode', 'mainline KVM has no RFC passthrough vPMU');
    expectError(onHost(mainline(), { mode: 'emulated' }), 'vms[0].vpmu.mode', 'every VM with a PMU gets the mediated vPMU');
    ok(onHost(mainline({}), { mode: 'emulated' }));
    ok(onHost(mainline(), { mode: 'none' }));
  });

  it('the RFC module-wide enable_passthrough_pmu ("[RFC PATCH 11/41]") decides the mode of every VM when given', () => {
    expectError(onHost(host({ kvm: { enablePassthroughPmu: true } }), { mode: 'emulated' }), 'vms[0].vpmu.mode', 'every VM with a PMU the passthrough vPMU');
    expectError(onHost(host({ kvm: { enablePassthroughPmu: false } }), { mode: 'passthrough' }), 'vms[0].vpmu.mode', 'enablePassthroughPmu is false');
    ok(onHost(host({ kvm: { enablePassthroughPmu: true } }), { mode: 'passthrough' }));
    expectError(base({ hosts: [mainline({ enablePassthroughPmu: true })] }), 'hosts[0].kvm.enablePassthroughPmu', 'no enable_passthrough_pmu parameter');
  });

  it('enablePmu: false leaves only mode none', () => {
    expectError(onHost(host({ kvm: { enablePmu: false } }), { mode: 'passthrough' }), 'vms[0].vpmu.mode', 'kvm.enablePmu is false');
    ok(onHost(host({ kvm: { enablePmu: false } }), { mode: 'none' }));
  });

  it('warns that interceptEventSelect: false means nothing for the mediated vPMU', () => {
    const { warnings } = okWithWarnings(onHost(mainline(), { mode: 'mediated', interceptEventSelect: false }));
    expect(warnings.join('\n')).toMatch(/always intercepts the event selectors/);
  });
});

describe('parseScenario: timeline setFilter', () => {
  const withTimeline = (mode: string, setFilter: Record<string, unknown>) =>
    base({ hosts: [mainline({ enableMediatedPmu: mode === 'mediated' })], vms: [{ id: 'vm1', host: 'h1', vpmu: { mode } }], timeline: [{ at: '5ms', setFilter }] });

  it('reads a new filter or its removal for a mediated VM', () => {
    const s = ok(withTimeline('mediated', { vm: 'vm1', filter: { action: 'deny', events: [{ event: 0xc4 }] } }));
    expect(s.timeline[0].action).toEqual({ kind: 'setFilter', vm: 'vm1', filter: { action: 'deny', events: [{ eventSelect: 0xc4, umask: 0 }], fixedCounterBitmap: 0, masked: [] } });
    expect(ok(withTimeline('mediated', { vm: 'vm1', remove: true })).timeline[0].action).toEqual({ kind: 'setFilter', vm: 'vm1', filter: null });
  });

  it('needs exactly one of filter and remove', () => {
    expectError(withTimeline('mediated', { vm: 'vm1' }), 'timeline[0].setFilter', 'give either filter');
  });

  // kvm_vm_ioctl_set_pmu_event_filter (arch/x86/kvm/pmu.c) sets KVM_REQ_PMU on every vCPU: the
  // emulated vPMU reprograms its backing events; a passthrough vPMU can only apply a filter to
  // event selectors KVM intercepts.
  const rfc = (vpmu: Record<string, unknown>, setFilter: Record<string, unknown> = { vm: 'vm1', remove: true }) =>
    base({ hosts: [host()], vms: [{ id: 'vm1', host: 'h1', vpmu }], timeline: [{ at: '5ms', setFilter }] });

  it('accepts an emulated VM and a passthrough VM with interceptEventSelect (KVM_REQ_PMU on every vCPU)', () => {
    expect(ok(rfc({ mode: 'emulated' })).timeline[0].action).toEqual({ kind: 'setFilter', vm: 'vm1', filter: null });
    expect(ok(rfc({ mode: 'passthrough' })).timeline[0].action).toEqual({ kind: 'setFilter', vm: 'vm1', filter: null });
  });

  it('refuses a passthrough VM without interceptEventSelect (KVM never sees its selectors), mode none, and an arm64 VM', () => {
    expectError(rfc({ mode: 'passthrough', interceptEventSelect: false }), 'timeline[0].setFilter', 'cannot apply a new filter to them');
    expectError(rfc({ mode: 'none' }), 'timeline[0].setFilter', 'has vpmu.mode none');
    expectError(base({ hosts: [host({ cpu: 'arm-a76-a55' })], vms: [{ id: 'vm1', host: 'h1', vpmu: { mode: 'emulated' } }], timeline: [{ at: '5ms', setFilter: { vm: 'vm1', remove: true } }] }), 'timeline[0].setFilter', 'KVM_SET_PMU_EVENT_FILTER is x86');
  });
});
