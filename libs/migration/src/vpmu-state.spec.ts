import { CostModel, EmulatedVpmu, NoneVpmu, PassthroughVpmu, type VcpuWorldPort } from '@vpmu/kvm';
import { GuestPerfVcpu } from '@vpmu/guest';
import { EVTSEL, getCpuPreset, intelConfigFromPreset, MSR, type IntelPmu } from '@vpmu/pmu';
import { diffVpmuState, vpmuStateOf, withoutVpmuState, type VpmuStateSource } from './index';

const spr = getCpuPreset('intel-spr');
if (spr.arch !== 'intel') throw new Error('intel-spr is an Intel preset');
const host = intelConfigFromPreset(spr, {});
const shape = { host, gpCounters: 8 };
const costs = new CostModel({}, 2);
const ops: VcpuWorldPort = {
  vcpu: 0,
  nowNs: 0,
  costs,
  loadedPmu: () => {
    throw new Error('not loaded');
  },
  perfCreate: () => ({ ok: false, errno: 'ENODEV' }),
  perfRead: () => ({ count: 0, enabledNs: 0, runningNs: 0 }),
  perfEnable: () => undefined,
  perfDisable: () => undefined,
  perfClose: () => undefined,
  perfSetPeriod: () => undefined,
  emitFinding: () => undefined,
};
const INSTR_SEL = 0xc0 | EVTSEL.USR | EVTSEL.OS | EVTSEL.EN | EVTSEL.INT;

function source(backend: PassthroughVpmu | EmulatedVpmu | NoneVpmu, pending: number[] = []): VpmuStateSource {
  const perf = new GuestPerfVcpu({ id: 'rec', command: 'record', events: ['instructions'], sample: { periodEvents: 50000 }, startNs: 0 } as never, 8, host.fixedCounters, host.gpWidthBits);
  return {
    vm: 'vm1',
    mode: backend.mode,
    eventsInUse: ['instructions'],
    arm: null,
    filter: { action: 'deny', events: [{ eventSelect: 0xc4, umask: 0 }], fixedCounterBitmap: 0b10, masked: [] },
    vcpus: [{ index: 0, backend, pendingPmiNs: pending, guestPerf: [perf], pvPerf: [], guestNs: 0, lbr: { debugCtl: 1, pvActive: true } }],
  };
}

describe('vpmuStateOf', () => {
  it('reads a saved passthrough context: counter values, selects, global control and status, pending PMIs, filter, LBR bits', () => {
    const b = new PassthroughVpmu(shape, costs, undefined, 'vm1/vcpu0', false, 'dedicated');
    const pmu: IntelPmu = b.gpmu;
    pmu.wrmsr(MSR.IA32_PERFEVTSEL0, INSTR_SEL);
    pmu.wrmsr(MSR.IA32_A_PMC0, 12345n);
    pmu.wrmsr(MSR.PERF_GLOBAL_STATUS_SET, 1n);
    const s = vpmuStateOf(source(b, [900]));
    expect(s).toMatchObject({ vm: 'vm1', mode: 'passthrough', gpCounters: 8, fixedCounters: host.fixedCounters, counterWidth: host.gpWidthBits });
    const v = s.vcpus[0];
    expect(v.counters[0]).toMatchObject({ index: 0, fixed: false, value: 12345, eventsel: INSTR_SEL, pmiPending: true });
    expect(v.counters).toHaveLength(8 + host.fixedCounters);
    expect(v.globalCtrl).toBe(0xff);
    expect(v.globalStatus).toBe(1);
    expect(v.pendingPmiNs).toEqual([900]);
    expect(v.perf[0]).toMatchObject({ session: 0, freqHz: 0, events: [expect.objectContaining({ event: 'instructions', samplePeriod: 50000 })] });
    expect(v.lbr).toMatchObject({ debugctlLbr: true, pvActive: true });
    expect(s.filter).toEqual({ action: 1, events: [0xc4], fixedCounterBitmap: 0b10, masked: [] });
  });

  it('reads a detached emulated vPMU from its registers and folded counts', () => {
    const b = new EmulatedVpmu(shape, costs, undefined, 'vm1/vcpu0', 'vcpu:vm1/0');
    b.wrmsr(ops, MSR.IA32_A_PMC0 + 2, 777n);
    b.detach(ops);
    const s = vpmuStateOf(source(b));
    expect(s.vcpus[0].counters[2]).toMatchObject({ value: 777, backingCount: 0 });
  });

  it('a guest without a PMU (none / paravirt) has no counters', () => {
    const s = vpmuStateOf(source(new NoneVpmu('none', shape, costs, undefined, 'vm1/vcpu0')));
    expect(s.vcpus[0].counters).toEqual([]);
    expect(s.gpCounters).toBe(0);
  });

  it('refuses a vPMU that is not quiesced (a loaded passthrough context)', () => {
    const b = new PassthroughVpmu(shape, costs, undefined, 'vm1/vcpu0', false, 'dedicated');
    b.loaded = true;
    expect(() => vpmuStateOf(source(b))).toThrow(/must be quiesced/);
  });
});

describe('diffVpmuState / withoutVpmuState', () => {
  const b = new PassthroughVpmu(shape, costs, undefined, 'vm1/vcpu0', false, 'dedicated');
  b.gpmu.wrmsr(MSR.IA32_A_PMC0, 5000n);
  const s = vpmuStateOf(source(b, [42]));

  it('equal states have no difference', () => {
    expect(diffVpmuState(s, structuredClone(s))).toEqual([]);
  });

  it('names every differing field with both values and the delta', () => {
    expect(diffVpmuState(s, withoutVpmuState(s, 'counters'))).toEqual([{ field: 'vcpus[0].counters[0].value', expected: '5000', actual: '0', delta: -5000 }]);
    expect(diffVpmuState(s, withoutVpmuState(s, 'pmis'))).toEqual([{ field: 'vcpus[0].pendingPmiNs.length', expected: '1', actual: '0', delta: -1 }]);
    expect(diffVpmuState(s, withoutVpmuState(s, 'period')).map((d) => d.field)).toEqual(expect.arrayContaining(['vcpus[0].perf[0].events[0].samplePeriod']));
  });

  it('ignores fields by path prefix', () => {
    expect(diffVpmuState(s, { ...s, armPmu: 'x' }, ['armPmu'])).toEqual([]);
  });
});
