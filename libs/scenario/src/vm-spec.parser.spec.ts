// `vms[]`: host reference, vCPUs, affinity, vPMU options, workload, guest perf and programs.

import { base, errors, expectError, host, ok, okWithWarnings, withVm, type Obj } from './testing/parse-scenario.fixture';

// ---- VMs --------------------------------------------------------------------------------------------

describe('parseScenario: VMs', () => {
  it('rejects a reference to a missing host', () => {
    expectError(withVm({ host: 'h9' }), 'vms[0].host', 'unknown host "h9" (did you mean "h1"?)');
    expectError(withVm({ host: 'zzzzzz' }), 'vms[0].host', 'unknown host "zzzzzz" (defined: h1)');
    expectError(base({ vms: [{ id: 'vm1' }] }), 'vms[0].host', 'required');
  });

  it('rejects duplicate VM ids, also against host ids', () => {
    expectError(base({ vms: [{ id: 'a', host: 'h1' }, { id: 'a', host: 'h1' }] }), 'vms[1].id', 'duplicate id "a" (already used by vms[0]');
    expectError(base({ vms: [{ id: 'h1', host: 'h1' }] }), 'vms[0].id', 'duplicate id "h1" (already used by hosts[0]');
  });

  it('rejects more vCPUs than the host has pCPUs', () => {
    expectError(withVm({ vcpus: 8 }), 'vms[0].vcpus', "8 vCPUs exceed host h1's 4 pCPUs");
    expect(ok(withVm({ vcpus: 4 })).vms[0].affinity).toHaveLength(4);
    expectError(withVm({ vcpus: 0 }), 'vms[0].vcpus', 'must be at least 1');
  });

  describe('affinity', () => {
    it('applies a flat list to every vCPU', () => {
      expect(ok(withVm({ vcpus: 2, affinity: [2, 3] })).vms[0].affinity).toEqual([
        [2, 3],
        [2, 3],
      ]);
    });

    it('reads one list per vCPU', () => {
      expect(ok(withVm({ vcpus: 2, affinity: [[0], [1, 2]] })).vms[0].affinity).toEqual([[0], [1, 2]]);
    });

    it('defaults to every pCPU of the host for every vCPU', () => {
      expect(ok(withVm({ vcpus: 2 })).vms[0].affinity).toEqual([
        [0, 1, 2, 3],
        [0, 1, 2, 3],
      ]);
    });

    it('rejects pCPUs the host does not have', () => {
      expectError(withVm({ affinity: [0, 9] }), 'vms[0].affinity[1]', 'pCPU 9 does not exist on host h1 (it has 4)');
      expectError(withVm({ vcpus: 2, affinity: [[0], [1, 4]] }), 'vms[0].affinity[1][1]', 'pCPU 4 does not exist on host h1 (it has 4)');
    });

    it('rejects an empty affinity', () => {
      expectError(withVm({ affinity: [] }), 'vms[0].affinity', 'empty affinity');
      expectError(withVm({ vcpus: 2, affinity: [[0], []] }), 'vms[0].affinity[1]', 'empty affinity: vCPU 1 needs at least one pCPU');
    });

    it('rejects a per-vCPU list of the wrong length', () => {
      expectError(withVm({ vcpus: 2, affinity: [[0], [1], [2]] }), 'vms[0].affinity', 'has 3 per-vCPU lists for 2 vCPUs');
    });

    it('rejects a mix of numbers and lists', () => {
      expectError(withVm({ vcpus: 2, affinity: [0, [1]] }), 'vms[0].affinity', 'mixes pCPU numbers and lists');
    });

    it('is still checked when vcpus is wrong', () => {
      const errs = errors(withVm({ vcpus: 8, affinity: [0, 9] }));
      expect(errs.map((e) => e.path)).toEqual(['vms[0].vcpus', 'vms[0].affinity[1]']);
    });

    it('warns about and drops a repeated pCPU', () => {
      const r = okWithWarnings(withVm({ affinity: [1, 1, 0] }));
      expect(r.scenario.vms[0].affinity).toEqual([[0, 1]]);
      expect(r.warnings[0]).toContain('vms[0].affinity[1]: pCPU 1 is listed twice');
    });
  });

  describe('vpmu', () => {
    it('checks the mode', () => {
      expectError(withVm({ vpmu: { mode: 'passthru' } }), 'vms[0].vpmu.mode', 'expected one of none|emulated|passthrough|paravirt');
      expectError(withVm({ vpmu: { mdoe: 'emulated' } }), 'vms[0].vpmu.mdoe', 'unknown key (did you mean "mode"?)');
    });

    it('rejects a mode the host does not offer, except none', () => {
      const h = { hosts: [host({ vpmuModes: ['emulated'] })] };
      expectError(withVm({ vpmu: { mode: 'passthrough' } }, h), 'vms[0].vpmu.mode', 'mode passthrough is not offered by host h1');
      expect(ok(withVm({ vpmu: { mode: 'none' } }, h)).vms[0].vpmu.mode).toBe('none');
      expectError(withVm({}, { hosts: [host({ vpmuModes: ['passthrough'] })] }), 'vms[0]', 'the default vpmu.mode emulated is not offered');
    });

    it('checks the other vpmu fields', () => {
      expectError(withVm({ vpmu: { lbr: 'on' } }), 'vms[0].vpmu.lbr', 'expected one of none|pv|lazy');
      expectError(withVm({ vpmu: { pmiVector: 'nmi' } }), 'vms[0].vpmu.pmiVector', 'expected one of dedicated|shared');
      expectError(withVm({ vpmu: { lazyLbrRelease: '-1ms' } }), 'vms[0].vpmu.lazyLbrRelease', 'must not be negative');
      expectError(withVm({ vpmu: { pvEventLimit: -1 } }), 'vms[0].vpmu.pvEventLimit', 'must not be negative');
      expectError(withVm({ vpmu: { interceptEventSelect: 1 } }), 'vms[0].vpmu.interceptEventSelect', 'expected true or false');
      expectError(withVm({ vpmu: 'emulated' }), 'vms[0].vpmu', 'expected a mapping, got "emulated"');
    });

    describe('filter', () => {
      const filter = (f: Obj): Obj => withVm({ vpmu: { mode: 'passthrough', filter: { action: 'allow', ...f } } });

      it('fills filter defaults', () => {
        expect(ok(filter({})).vms[0].vpmu.filter).toEqual({ action: 'allow', events: [], fixedCounterBitmap: 0, masked: [] });
        expect(ok(filter({ events: [{ event: 0xc0 }] })).vms[0].vpmu.filter?.events).toEqual([{ eventSelect: 0xc0, umask: 0 }]);
      });

      it('requires a valid action', () => {
        expectError(withVm({ vpmu: { filter: {} } }), 'vms[0].vpmu.filter.action', 'required');
        expectError(filter({ action: 'block' }), 'vms[0].vpmu.filter.action', 'expected one of allow|deny');
      });

      it('allows 300 events and rejects 301', () => {
        const evs = (n: number): Obj[] => Array.from({ length: n }, (_, i) => ({ event: i % 256, umask: 0 }));
        expect(ok(filter({ events: evs(300) })).vms[0].vpmu.filter?.events).toHaveLength(300);
        expectError(filter({ events: evs(301) }), 'vms[0].vpmu.filter.events', 'at most 300 events (KVM returns E2BIG)');
        expectError(filter({ masked: Array.from({ length: 301 }, () => ({ event: 1, mask: 1, match: 1 })) }), 'vms[0].vpmu.filter.masked', 'at most 300 events');
      });

      it('checks filter entries', () => {
        expectError(filter({ events: [{ event: 0x1000 }] }), 'vms[0].vpmu.filter.events[0].event', 'must be at most 0xfff');
        expectError(filter({ events: [{ umask: 1 }] }), 'vms[0].vpmu.filter.events[0].event', 'required');
        expectError(filter({ events: [{ event: 1, umsk: 1 }] }), 'vms[0].vpmu.filter.events[0].umsk', 'did you mean "umask"?');
        expectError(filter({ masked: [{ event: 1, mask: 0xff }] }), 'vms[0].vpmu.filter.masked[0].match', 'required');
        expectError(filter({ fixedCounterBitmap: -1 }), 'vms[0].vpmu.filter.fixedCounterBitmap', 'must not be negative');
      });
    });
  });

  describe('workload', () => {
    it('checks the profile', () => {
      expectError(withVm({ workload: { profile: 'specjbb' } }), 'vms[0].workload.profile', 'expected one of specint|fio|idle|branchy');
      expectError(withVm({ workload: 'redis' }), 'vms[0].workload', 'expected one of specint|fio|idle|branchy');
    });

    it('reads overrides with their YAML names', () => {
      const w = ok(withVm({ workload: { overrides: { guestTimeslice: '4ms', dirtyRate: '100MB/s', kernelFraction: 0.1, busyFraction: 1 } } })).vms[0].workload;
      expect(w.overrides).toEqual({ guestTimesliceNs: 4e6, dirtyBytesPerSec: 100e6, kernelFraction: 0.1, busyFraction: 1 });
    });

    it('rejects unknown, negative and out-of-range overrides', () => {
      expectError(withVm({ workload: { overrides: { guestTimesliceNs: 5 } } }), 'vms[0].workload.overrides.guestTimesliceNs', 'did you mean "guestTimeslice"?');
      expectError(withVm({ workload: { overrides: { dirtyBytesPerSec: 5 } } }), 'vms[0].workload.overrides.dirtyBytesPerSec', 'unknown key');
      expectError(withVm({ workload: { overrides: { ipcc: 1 } } }), 'vms[0].workload.overrides.ipcc', 'did you mean "ipc"?');
      expectError(withVm({ workload: { overrides: { ipc: -1 } } }), 'vms[0].workload.overrides.ipc', 'must not be negative');
      expectError(withVm({ workload: { overrides: { llcMissRate: 1.5 } } }), 'vms[0].workload.overrides.llcMissRate', 'must be at most 1');
      expectError(withVm({ workload: { overrides: { ipc: 'fast' } } }), 'vms[0].workload.overrides.ipc', 'expected a number');
      expectError(withVm({ workload: { tasksPerVcpu: -1 } }), 'vms[0].workload.tasksPerVcpu', 'must not be negative');
    });
  });

  describe('guestPerf', () => {
    const gp = (s: Obj): Obj => withVm({ guestPerf: [{ id: 's', events: ['cycles'], ...s }] });

    it('checks command, events and sample', () => {
      expectError(gp({ command: 'top' }), 'vms[0].guestPerf[0].command', 'expected one of stat|record');
      expectError(gp({ events: ['cpu-cycles'] }), 'vms[0].guestPerf[0].events[0]', 'expected one of instructions|cycles');
      expectError(gp({ sample: { freq: 1000 } }), 'vms[0].guestPerf[0].sample', 'sample only applies to command record');
      expectError(gp({ command: 'record', sample: { freq: 10, period: 10 } }), 'vms[0].guestPerf[0].sample', 'exactly one of freq');
      expectError(gp({ callGraph: 'lbr' }), 'vms[0].guestPerf[0].callGraph', 'only applies to command record');
      expect(ok(gp({ command: 'record', sample: { period: 5000 } })).vms[0].guestPerf[0].sample).toEqual({ periodEvents: 5000 });
    });

    it('rejects duplicate session ids', () => {
      expectError(withVm({ guestPerf: [{ id: 's', events: ['cycles'] }, { id: 's', events: ['cycles'] }] }), 'vms[0].guestPerf[1].id', 'duplicate');
    });
  });

  describe('program', () => {
    const program = (ops: unknown[], vm: Obj = {}): Obj => withVm({ program: ops, ...vm });

    it('defaults vcpu to 0 and branches to 0', () => {
      expect(ok(program([{ loop: { instructions: 10 } }, { rdpmc: { index: '0x40000000' } }])).vms[0].program).toEqual([
        { op: 'loop', instructions: 10, branches: 0, vcpu: 0 },
        { op: 'rdpmc', index: 0x40000000, vcpu: 0 },
      ]);
    });

    it('rejects an unknown op with a suggestion', () => {
      expectError(program([{ wrmrs: { msr: 1, value: 1 } }]), 'vms[0].program[0].wrmrs', 'unknown key (did you mean "wrmsr"?)');
    });

    it('requires exactly one op per step', () => {
      expectError(program([{ rdmsr: { msr: 1 }, rdpmc: { index: 0 } }]), 'vms[0].program[0]', 'exactly one operation, got rdmsr and rdpmc');
      expectError(program([{}]), 'vms[0].program[0]', 'empty step');
      expectError(program(['rdmsr']), 'vms[0].program[0]', 'expected a mapping, got "rdmsr"');
    });

    it('checks op fields', () => {
      expectError(program([{ wrmsr: { msr: 0x186 } }]), 'vms[0].program[0].wrmsr.value', 'required');
      expectError(program([{ rdmsr: { msr: 1, cpu: 0 } }]), 'vms[0].program[0].rdmsr.cpu', 'unknown key');
      expectError(program([{ loop: { instructions: 10, branches: 11 } }]), 'vms[0].program[0].loop.branches', '11 branches exceed');
      expectError(program([{ loop: { instructions: 0 } }]), 'vms[0].program[0].loop.instructions', 'must be at least');
      expectError(program([{ setPmu: { pmu: '' } }]), 'vms[0].program[0].setPmu.pmu', 'must not be empty');
      expectError(program([{ setNrCounters: { n: 32 } }]), 'vms[0].program[0].setNrCounters.n', 'must be at most 31');
      expectError(program([{ rdmsr: 0x186 }]), 'vms[0].program[0].rdmsr', 'expected a mapping');
    });

    it('checks vcpu against the VM', () => {
      expectError(program([{ rdpmc: { index: 0, vcpu: 2 } }], { vcpus: 2 }), 'vms[0].program[0].rdpmc.vcpu', 'vCPU 2 does not exist (VM vm1 has 2)');
      expect(ok(program([{ rdpmc: { index: 0, vcpu: 1 } }], { vcpus: 2 })).vms[0].program[0]).toEqual({ op: 'rdpmc', index: 0, vcpu: 1 });
    });

    it('reads expect forms', () => {
      expect(ok(program([{ rdpmc: { index: 0 } }, { expect: { step: 0, equals: 0 } }, { wrmsr: { msr: 1, value: 1 } }, { expect: { step: 2, fault: 'gp' } }])).vms[0].program.slice(1)).toEqual([
        { op: 'expect', step: 0, equals: 0 },
        { op: 'wrmsr', msr: 1, value: 1, vcpu: 0 },
        { op: 'expect', step: 2, fault: 'gp' },
      ]);
    });

    it('requires expect.step to name an earlier step', () => {
      expectError(program([{ rdpmc: { index: 0 } }, { expect: { step: 1, equals: 0 } }]), 'vms[0].program[1].expect.step', 'step 1 is not an earlier step (this is step 1');
      expectError(program([{ expect: { step: 0, equals: 0 } }]), 'vms[0].program[0].expect.step', 'not an earlier step');
      expectError(program([{ rdpmc: { index: 0 } }, { expect: { step: 0, equals: 0 } }, { expect: { step: 1, equals: 0 } }]), 'vms[0].program[2].expect.step', 'itself an expect');
      expectError(program([{ rdpmc: { index: 0 } }, { expect: { equals: 0 } }]), 'vms[0].program[1].expect.step', 'required');
    });

    it('checks what expect compares', () => {
      expectError(program([{ rdpmc: { index: 0 } }, { expect: { step: 0 } }]), 'vms[0].program[1].expect', 'at least one of equals, atLeast, atMost or fault');
      expectError(program([{ loop: { instructions: 5 } }, { expect: { step: 0, equals: 5 } }]), 'vms[0].program[1].expect.step', 'step 0 (loop) returns no value');
      expectError(program([{ rdpmc: { index: 0 } }, { expect: { step: 0, fault: 'segv' } }]), 'vms[0].program[1].expect.fault', 'expected one of none|gp|undefined');
      expectError(program([{ rdpmc: { index: 0 } }, { expect: { step: 0, atLeast: 5, atMost: 4 } }]), 'vms[0].program[1].expect.atLeast', 'atLeast 5 is above atMost 4');
    });
  });
});

