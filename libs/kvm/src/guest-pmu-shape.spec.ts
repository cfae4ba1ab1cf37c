// The guest PMU shape as KVM applies it: CPUID.0AH enumeration (intel_pmu_refresh reads it back),
// the mediated vPMU's interception decisions (kvm_need_rdpmc_intercept and
// kvm_need_perf_global_ctrl_intercept in arch/x86/kvm/pmu.c, "KVM: x86/pmu: Disable interception
// of select PMU MSRs for mediated vPMUs", v6 Dec 2025), and the host limits a scenario may not pass.
import { getCpuPreset, intelConfigFromPreset, MSR } from '@vpmu/pmu';
import { CostModel } from './cost-model';
import { EmulatedVpmu } from './emulated-vpmu.backend';
import { checkGuestPmu, guestPmuShape } from './guest-pmu-shape';
import { MediatedVpmu } from './mediated-vpmu.backend';
import { accessExits } from './vpmu-trap-rules';

const spr = getCpuPreset('intel-spr');
if (spr.arch !== 'intel') throw new Error('intel-spr is an Intel preset');
const host = intelConfigFromPreset(spr, {});
const costs = new CostModel({}, 2);

function mediated(spec: Parameters<typeof guestPmuShape>[1]): MediatedVpmu {
  const guest = guestPmuShape(host, spec, host.gpCounters);
  return new MediatedVpmu({ host, gpCounters: guest.gpCounters, guest }, costs, undefined, 'vm/vcpu0');
}

describe('guest PMU shape', () => {
  it('CPUID.0AH shows the guest shape: version, GP count (EAX), unavailable events (EBX), fixed bitmask (ECX, v5), contiguous fixed count (EDX, v2+)', () => {
    const guest = guestPmuShape(host, { version: 5, gpCounters: 3, fixedCounters: 1, fixedCounterMask: 0b100, eventMask: 0x21 }, 8);
    const v = new EmulatedVpmu({ host, gpCounters: 3, guest }, costs, undefined, 'vm/vcpu0', 't');
    const c = v.cpuid0a();
    expect(c.eax & 0xff).toBe(5);
    expect((c.eax >> 8) & 0xff).toBe(3);
    expect(c.ebx).toBe(0x21);
    expect(c.ecx).toBe(0b100);
    expect(c.edx & 0x1f).toBe(1);
    expect(guest.fixedPresent).toBe(0b101);
  });

  it('version 1 has no fixed counters and version < 5 ignores the fixed bitmask (pmu_counters_test guest_test_fixed_counters)', () => {
    expect(guestPmuShape(host, { version: 1, fixedCounters: 3 }, 8).fixedPresent).toBe(0);
    expect(guestPmuShape(host, { version: 4, fixedCounters: 1, fixedCounterMask: 0b100 }, 8).fixedPresent).toBe(0b1);
  });

  it('mediated: a guest shaped like the host reads PMCs and the global registers without exits (kvm_need_rdpmc_intercept false)', () => {
    const v = mediated(undefined);
    expect(v.rdpmcIntercepted).toBe(false);
    expect(v.globalCtrlIntercepted).toBe(false);
    expect(accessExits({ op: 'rdmsr', msr: MSR.PERF_GLOBAL_CTRL }, v)).toBe(false);
  });

  it('mediated: fewer fixed counters than the host intercept RDPMC and the global registers (kvm_need_any_pmc_intercept)', () => {
    const v = mediated({ fixedCounters: 2 });
    expect(v.rdpmcIntercepted).toBe(true);
    expect(v.globalCtrlIntercepted).toBe(true);
    expect(accessExits({ op: 'rdpmc', msr: 0 }, v)).toBe(true);
    expect(accessExits({ op: 'wrmsr', msr: MSR.PERF_GLOBAL_CTRL }, v)).toBe(true);
  });

  it('mediated: version 1 (no PERF_GLOBAL_CTRL, no fixed counters) intercepts the global registers (kvm_pmu_has_perf_global_ctrl) and RDPMC', () => {
    const v = mediated({ version: 1, fixedCounters: 0 });
    // Version 1 has no fixed counters while the host has 4: the counts differ, so RDPMC exits too.
    expect(v.rdpmcIntercepted).toBe(true);
    expect(v.globalCtrlIntercepted).toBe(true);
  });

  it('the host bounds the shape: more GP or fixed counters, a higher version or FW_WRITES the host lacks are refused, naming the limit', () => {
    expect(checkGuestPmu(host, 'h1', { gpCounters: 9 })).toMatch(/gpCounters 9 exceeds the host's 8 GP counters/);
    expect(checkGuestPmu(host, 'h1', { fixedCounters: 4 })).toBeNull();
    expect(checkGuestPmu({ ...host, fixedCounters: 3 }, 'h1', { fixedCounterMask: 0b1000 })).toMatch(/fixed counters the host lacks/);
    expect(checkGuestPmu({ ...host, perfmonVersion: 4 }, 'h1', { version: 5 })).toMatch(/version 5 exceeds/);
    expect(checkGuestPmu({ ...host, fullWidthWrites: false }, 'h1', { fullWidthWrites: true })).toMatch(/FW_WRITES/);
  });
});
