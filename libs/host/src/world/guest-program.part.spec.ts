// Guest programs, through HostWorld's programStep records: PMU accesses through each vPMU
// backend, expectations on earlier steps, paravirt hypercalls and arm64-only steps on x86.
import { oneHost, SmallWorld } from '../testing/small-world.fixture';

const vm = (mode: string, program: string) => `  - id: vm1
    host: h1
    vcpus: 2
    vpmu: { mode: ${mode} }
    workload: idle
    program:
${program}`;

const steps = (w: SmallWorld) => w.of('programStep').map((s) => ({ step: s.step, op: s.op, result: s.result, value: s.value, ok: s.ok, vcpu: s.at.vcpu, ...(s.errno !== undefined && { errno: s.errno }) }));

describe('guest program part', () => {
  it.each(['emulated', 'passthrough'])('%s: writes read back, #GP beyond the exposed counters, a loop counts exactly; all at VM start', (mode) => {
    const program = `      - wrmsr: { msr: 0xc1, value: 0x1234 }
      - rdmsr: { msr: 0xc1 }
      - expect: { step: 1, equals: 0x1234 }
      - rdpmc: { index: 8 }
      - expect: { step: 3, fault: gp }
      - wrmsr: { vcpu: 1, msr: 0x186, value: 0x4300c0 }
      - wrmsr: { vcpu: 1, msr: 0x38f, value: 0x1 }
      - loop: { vcpu: 1, instructions: 5000, branches: 100 }
      - rdpmc: { vcpu: 1, index: 0 }
      - expect: { step: 8, equals: 5001 }`;
    const w = SmallWorld.of(oneHost({ pcpus: 2, vms: vm(mode, program) })).runUntil(1);
    expect(steps(w)).toEqual([
      { step: 0, op: 'wrmsr', result: 'ok', value: 0x1234, ok: true, vcpu: 0 },
      { step: 1, op: 'rdmsr', result: 'ok', value: 0x1234, ok: true, vcpu: 0 },
      { step: 2, op: 'expect', result: 'ok', value: 0x1234, ok: true, vcpu: 0 },
      { step: 3, op: 'rdpmc', result: 'gp', value: 0, ok: true, vcpu: 0 },
      { step: 4, op: 'expect', result: 'ok', value: 0, ok: true, vcpu: 0 },
      { step: 5, op: 'wrmsr', result: 'ok', value: 0x4300c0, ok: true, vcpu: 1 },
      { step: 6, op: 'wrmsr', result: 'ok', value: 1, ok: true, vcpu: 1 },
      { step: 7, op: 'loop', result: 'ok', value: 5000, ok: true, vcpu: 1 },
      // The loop, plus the two WRMSRs that enabled the counter: each retired an instruction the
      // counter counted once it was enabled (kvm_pmu_instruction_retired when KVM emulated it).
      { step: 8, op: 'rdpmc', result: 'ok', value: 5002, ok: true, vcpu: 1 },
      { step: 9, op: 'expect', result: 'ok', value: 5002, ok: false, vcpu: 0 },
    ]);
    expect(w.of('programStep').every((s) => s.atNs === 0)).toBe(true);
    // The program runs before the workload: its trapped accesses are recorded as exits (at VM
    // start), not charged as guest time. Emulated: every access exits; passthrough: the faulting
    // RDPMC and the intercepted event select.
    const exits = w.of('vmExit').filter((e) => e.atNs === 0 && e.reason !== 'perf-create');
    expect(exits.map((e) => `${e.at.vcpu}:${e.reason}`)).toEqual(
      mode === 'emulated' ? ['0:msr-write', '0:msr-read', '0:rdpmc', '1:msr-write', '1:msr-write', '1:rdpmc'] : ['0:rdpmc', '1:msr-write'],
    );
  });

  it('without a PMU every access #GPs', () => {
    const w = SmallWorld.of(oneHost({ pcpus: 2, vms: vm('none', '      - rdmsr: { msr: 0x38f }\n      - expect: { step: 0, fault: gp }') })).runUntil(1);
    expect(steps(w)).toEqual([
      { step: 0, op: 'rdmsr', result: 'gp', value: 0, ok: true, vcpu: 0 },
      { step: 1, op: 'expect', result: 'ok', value: 0, ok: true, vcpu: 0 },
    ]);
  });

  it('paravirt hypercalls open host events; arm64 device steps fail with ENXIO on an x86 host', () => {
    const program = `      - hypercall: { call: open, id: 1, count: 3 }
      - hypercall: { call: read, id: 1 }
      - hypercall: { call: open, id: 1 }
      - setPmu: { pmu: armv8_cortex_a76 }`;
    const w = SmallWorld.of(oneHost({ pcpus: 2, vms: vm('paravirt', program) })).runUntil(1);
    expect(steps(w)).toEqual([
      { step: 0, op: 'hypercall', result: 'ok', value: 3, ok: true, vcpu: 0 },
      { step: 1, op: 'hypercall', result: 'ok', value: 0, ok: true, vcpu: 0 },
      { step: 2, op: 'hypercall', result: 'ok', value: 0, ok: true, vcpu: 0, errno: 'EEXIST' },
      { step: 3, op: 'setPmu', result: 'undefined', value: 0, ok: true, vcpu: 0, errno: 'ENXIO' },
    ]);
    expect(w.findings('pv-error-to-guest').map((f) => f.detail)).toEqual([expect.stringContaining('id 1 is already open')]);
    expect(w.host().inspect().perfEvents.filter((e) => e.id.startsWith('kvm/pv/vm1/')).map((e) => e.id)).toEqual(['kvm/pv/vm1/1', 'kvm/pv/vm1/2', 'kvm/pv/vm1/3']);
    // Every call is a VMCALL exit (the patch's guest side issues kvm_hypercall*, each a VM exit),
    // the refused one too: 3 + 1 + 1, recorded at VM start as the program's other exits.
    expect(w.of('vmExit').filter((e) => e.atNs === 0).map((e) => e.reason)).toEqual(['hypercall', 'hypercall', 'hypercall', 'hypercall', 'hypercall']);
  });
});
