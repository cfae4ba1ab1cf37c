// AMD MSR decoding (arch/x86/include/asm/msr-index.h; get_gp_pmc_amd in arch/x86/kvm/svm/pmu.c:
// PERF_CTLn even, PERF_CTRn odd from MSR_F15H_PERF_CTL0) and the event-select translation.
import { AMD_MSR, amdEventOf, amdRegister, amdToEngineEventSel } from './amd-msr.codec';
import { intelEventIndex, WORKLOAD_EVENT_NAMES } from './events';

describe('AMD MSR codec', () => {
  it('F15H CTL/CTR pairs interleave (even = select, odd = counter), K7 MSRs alias counters 0-3, nothing past PERF_CTR5', () => {
    expect(amdRegister(AMD_MSR.F15H_PERF_CTL0 + 4)).toEqual({ k: 'ctl', i: 2, legacy: false });
    expect(amdRegister(AMD_MSR.F15H_PERF_CTL0 + 11)).toEqual({ k: 'ctr', i: 5, legacy: false });
    expect(amdRegister(AMD_MSR.F15H_PERF_CTL0 + 12)).toBeNull();
    expect(amdRegister(AMD_MSR.K7_PERFCTR0 + 3)).toEqual({ k: 'ctr', i: 3, legacy: true });
    expect(amdRegister(AMD_MSR.K7_EVNTSEL0 + 4)).toEqual({ k: 'ctr', i: 0, legacy: true });
    expect(amdRegister(0xc000_0302)).toEqual({ k: 'status-clr' });
  });

  it('Zen events (amd_zen2_perfmon_event_map) translate to the engine encoding of the same event; others count nothing', () => {
    const cycles = amdToEngineEventSel(0x430076n);
    expect(WORKLOAD_EVENT_NAMES[intelEventIndex(cycles & 0xff, (cycles >> 8) & 0xff)]).toBe('cycles');
    expect(cycles & 0xffff0000).toBe(0x430000);
    expect(amdEventOf(0x43ff60n)).toBe('cache-references');
    // Event 0x1C0 (bits 35:32 = 1) is not retired instructions.
    expect(amdEventOf((1n << 32n) | 0x4300c0n)).toBeNull();
    expect(intelEventIndex(amdToEngineEventSel(0x430099n) & 0xff, 0)).toBe(-1);
  });
});
