// The mediated vPMU backend's KVM rules ("KVM: x86: Add support for mediated vPMUs", v5 Aug 2025,
// v6 Dec 2025), one per test, with the patch each comes from.
import { EVTSEL, getCpuPreset, IntelPmu, intelConfigFromPreset, MSR } from '@vpmu/pmu';
import { CostModel } from './cost-model';
import { MediatedVpmu } from './mediated-vpmu.backend';
import { PassthroughVpmu } from './passthrough-vpmu.backend';
import { accessExits } from './vpmu-trap-rules';
import type { VcpuWorldPort } from './vcpu-world.port';

const spr = getCpuPreset('intel-spr');
if (spr.arch !== 'intel') throw new Error('intel-spr is an Intel preset');
const host = intelConfigFromPreset(spr, {});
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
const INSTR_SEL = 0xc0 | EVTSEL.USR | EVTSEL.OS | EVTSEL.EN;
const deny = { action: 'deny' as const, events: [{ eventSelect: 0xc0, umask: 0 }], fixedCounterBitmap: 0, masked: [] };

describe('MediatedVpmu', () => {
  it('intercepts every event-select write, so the filter applies without an option ("KVM: x86/pmu: Introduce eventsel_hw to prepare for pmu event filtering")', () => {
    const m = new MediatedVpmu({ host, gpCounters: 8 }, costs, deny, 'vm/vcpu0');
    expect(m.mode).toBe('mediated');
    expect(m.interceptEventSelect).toBe(true);
    m.wrmsr(ops, MSR.IA32_PERFEVTSEL0, BigInt(INSTR_SEL));
    expect(m.traps.map((t) => t.reason)).toEqual(['msr-write']);
    // The guest reads back what it wrote; the hardware value has EN cleared.
    expect(m.rdmsr(ops, MSR.IA32_PERFEVTSEL0)).toEqual({ ok: true, value: BigInt(INSTR_SEL) });
    const hwSel = m.gpmu.rdmsr(MSR.IA32_PERFEVTSEL0);
    if (!hwSel.ok) throw new Error('IA32_PERFEVTSEL0 must read');
    expect(Number(hwSel.value)).toBe(INSTR_SEL & ~EVTSEL.EN);
    // Counters and GLOBAL_CTRL do not exit ("KVM: x86/pmu: Disable interception of select PMU MSRs for mediated vPMUs").
    m.traps = [];
    m.wrmsr(ops, MSR.PERF_GLOBAL_CTRL, 1n);
    m.rdmsr(ops, MSR.IA32_A_PMC0);
    expect(m.traps).toEqual([]);
    expect(accessExits({ op: 'wrmsr', msr: 0x186 }, { mode: 'mediated', interceptEventSelect: false })).toBe(true);
    expect(accessExits({ op: 'wrmsr', msr: 0x38f }, { mode: 'mediated', interceptEventSelect: false })).toBe(false);
  });

  it('intercepts RDPMC only when the guest PMU differs from the host PMU (kvm_need_rdpmc_intercept, "KVM: x86/pmu: Disable RDPMC interception for compatible mediated vPMU", v5 27/44)', () => {
    const same = new MediatedVpmu({ host, gpCounters: host.gpCounters }, costs, undefined, 'a');
    same.rdpmc(ops, 0);
    expect(same.rdpmcIntercepted).toBe(false);
    expect(same.traps).toEqual([]);
    const fewer = new MediatedVpmu({ host, gpCounters: 4 }, costs, undefined, 'b');
    expect(fewer.rdpmcIntercepted).toBe(true);
    expect(fewer.rdpmc(ops, 0)).toEqual({ ok: true, value: 0n });
    expect(fewer.rdpmc(ops, 5)).toMatchObject({ ok: false, fault: 'gp' });
    expect(fewer.traps.map((t) => t.reason)).toEqual(['rdpmc', 'rdpmc']);
    expect(accessExits({ op: 'rdpmc', msr: 0 }, { mode: 'mediated', interceptEventSelect: true, rdpmcIntercepted: true })).toBe(true);
    expect(accessExits({ op: 'rdpmc', msr: 0 }, { mode: 'mediated', interceptEventSelect: true })).toBe(false);
  });

  it('credits an instruction KVM emulated to the counters counting instructions retired (kvm_pmu_instruction_retired, "KVM: x86/pmu: Handle emulated instruction for mediated vPMU")', () => {
    const m = new MediatedVpmu({ host, gpCounters: 8 }, costs, undefined, 'c');
    m.wrmsr(ops, MSR.PERF_GLOBAL_CTRL, 0n); // as perf programs its selectors: under perf_pmu_disable
    m.wrmsr(ops, MSR.IA32_PERFEVTSEL0, BigInt(INSTR_SEL));
    m.wrmsr(ops, MSR.IA32_PERFEVTSEL0 + 1, BigInt(0xc4 | EVTSEL.USR | EVTSEL.OS | EVTSEL.EN)); // branches: not credited
    m.wrmsr(ops, MSR.PERF_GLOBAL_CTRL, 3n); // not intercepted: no emulated instruction
    m.creditEmulatedInstruction(ops);
    m.creditEmulatedInstruction(ops);
    expect(m.rdpmc(ops, 0)).toEqual({ ok: true, value: 2n });
    expect(m.rdpmc(ops, 1)).toEqual({ ok: true, value: 0n });
    expect(m.creditedInstructions).toBe(2);
  });

  it('a credit that wraps a counter sets its GLOBAL_STATUS bit and requests a PMI when the counter asked for one (kvm_pmu_incr_counter for a mediated PMU: "KVM: x86/pmu: Handle emulated instruction for mediated vPMU")', () => {
    const m = new MediatedVpmu({ host, gpCounters: 8 }, costs, undefined, 'w');
    const minusOne = (1n << BigInt(host.gpWidthBits)) - 1n;
    // GP0: instructions retired with INT; GP1: the same without INT; both one event from wrapping.
    m.wrmsr(ops, MSR.IA32_PERFEVTSEL0, BigInt(INSTR_SEL | EVTSEL.INT));
    m.wrmsr(ops, MSR.IA32_PERFEVTSEL0 + 1, BigInt(INSTR_SEL));
    m.wrmsr(ops, MSR.IA32_A_PMC0, minusOne - 1n);
    m.wrmsr(ops, MSR.IA32_A_PMC0 + 1, minusOne);
    m.wrmsr(ops, MSR.PERF_GLOBAL_CTRL, 3n);
    // GP1 wraps first: status bit, no interrupt asked for, no PMI.
    expect(m.creditEmulatedInstruction(ops)).toBe(false);
    expect(m.rdmsr(ops, MSR.PERF_GLOBAL_STATUS)).toEqual({ ok: true, value: 2n });
    expect(m.rdpmc(ops, 1)).toEqual({ ok: true, value: 0n });
    // GP0 wraps on the next credit: its bit joins, and the PMI is requested (KVM_REQ_PMI).
    expect(m.creditEmulatedInstruction(ops)).toBe(true);
    expect(m.rdmsr(ops, MSR.PERF_GLOBAL_STATUS)).toEqual({ ok: true, value: 3n });
    expect(m.rdpmc(ops, 0)).toEqual({ ok: true, value: 0n });
    expect(m.creditOverflows).toBe(2);
    // No wrap, no PMI.
    expect(m.creditEmulatedInstruction(ops)).toBe(false);
  });

  // kvm_skip_emulated_instruction → kvm_pmu_instruction_retired runs right after KVM emulated the
  // intercepted WRMSR, and kvm_pmu_trigger_event only bumps counters that are globally enabled
  // (pmc_is_globally_enabled) at that instruction: perf's selector writes between
  // perf_pmu_disable and perf_pmu_enable (GLOBAL_CTRL = 0) credit nothing.
  it('credits a trapped select write at the access, with GLOBAL_CTRL as it is then: nothing while GLOBAL_CTRL = 0 (kvm_pmu_instruction_retired, pmc_is_globally_enabled)', () => {
    const m = new MediatedVpmu({ host, gpCounters: 8 }, costs, undefined, 'g');
    m.wrmsr(ops, MSR.PERF_GLOBAL_CTRL, 0n);
    m.wrmsr(ops, MSR.IA32_PERFEVTSEL0, BigInt(INSTR_SEL));
    m.wrmsr(ops, MSR.IA32_PERFEVTSEL0, BigInt(INSTR_SEL & ~EVTSEL.EN));
    m.wrmsr(ops, MSR.IA32_PERFEVTSEL0, BigInt(INSTR_SEL));
    expect(m.traps).toHaveLength(3);
    m.wrmsr(ops, MSR.PERF_GLOBAL_CTRL, 1n);
    expect(m.creditedInstructions).toBe(0);
    expect(m.rdpmc(ops, 0)).toEqual({ ok: true, value: 0n });
    // The same write with the counter globally enabled: the emulated WRMSR counts as it retires.
    m.wrmsr(ops, MSR.IA32_PERFEVTSEL0, BigInt(INSTR_SEL));
    expect(m.creditedInstructions).toBe(1);
    expect(m.rdpmc(ops, 0)).toEqual({ ok: true, value: 1n });
    // A faulting access is not skipped: no credit.
    expect(m.wrmsr(ops, MSR.IA32_PERFEVTSEL0 + 8, BigInt(INSTR_SEL)).ok).toBe(false);
    expect(m.creditedInstructions).toBe(1);
  });

  it('elides the PMC writes of a load when the hardware already holds the guest values ("KVM: x86/pmu: Elide WRMSRs when loading guest PMCs if values already match")', () => {
    const m = new MediatedVpmu({ host, gpCounters: 8 }, costs, undefined, 'd');
    m.wrmsr(ops, MSR.IA32_A_PMC0, 1234n);
    const hw = new IntelPmu(host);
    m.load(hw, ops);
    expect(m.lastLoadElided).toBe(false);
    expect(m.lastLoadCost()).toBe('mediatedPmuSwitchCycles');
    m.save(hw);
    expect(m.switchCostAfterPut(hw)).toBe('mediatedPmuSwitchElidedCycles');
    m.load(hw, ops);
    expect(m.lastLoadElided).toBe(true);
    expect([m.loads, m.loadsElided]).toEqual([2, 1]);
    m.save(hw);
    hw.wrmsr(MSR.IA32_A_PMC0, 1n); // a host event took the counter after the put
    expect(m.switchCostAfterPut(hw)).toBe('mediatedPmuSwitchCycles');
    // Still the RFC backend's context handling underneath.
    expect(m).toBeInstanceOf(PassthroughVpmu);
  });
});
