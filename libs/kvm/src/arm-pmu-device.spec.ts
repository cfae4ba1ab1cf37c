import { ARM_EVENTS, ArmPmu, CPU_PRESETS, CounterBank, EventRates, MODE_GUEST, PMCR, PMEVTYPER, type ArmPmuReg, type ArmPmuSpec } from '@vpmu/pmu';
import { SnapshotRegistry, decodeSnapshot, encodeSnapshot } from '@vpmu/sim';
import { ArmPmuDevice, WRONG_CORE_FINDING, armHostPmus, type ArmPmuDeviceOptions } from './arm-pmu-device';

const A76_A55 = CPU_PRESETS['arm-a76-a55'] as ArmPmuSpec;
const N6_N4 = CPU_PRESETS['arm-hetero-n6-n4'] as ArmPmuSpec;
const BIG = 'armv8_cortex_a76';
const LITTLE = 'armv8_cortex_a55';
const SYN_LITTLE = 'armv8_synthetic_little';
const ALLOW = 0;
const DENY = 1;

// 8 pCPUs: the big cluster is pCPUs 0-3, the little one 4-7.
const device = (o: Partial<ArmPmuDeviceOptions> = {}) => new ArmPmuDevice({ host: 'h1', vm: 'vm1', vcpus: 2, preset: A76_A55, pcpus: 8, ...o });
const ok = { ok: true };
const errno = (e: string) => expect.objectContaining({ ok: false, errno: e });
const UNDEF = { ok: false, fault: 'undefined' };
const val = (v: number | bigint) => ({ ok: true, value: BigInt(v) });
const bit = (ev: number) => 1 << (ev & 31);

/** A guest program: a list of (register, n, write?) steps; returns each step's result. */
function runProgram(d: ArmPmuDevice, vcpu: number, steps: [ArmPmuReg, number | undefined, (number | bigint)?][]) {
  return steps.map(([reg, n, w]) => d.guestAccess(vcpu, reg, n, w));
}

describe('ArmPmuDevice: default PMU by probe order', () => {
  it('without SET_PMU the VM gets the first PMU in probe order (preset order by default)', () => {
    expect(device().pmuId).toBe(BIG);
    expect(device().pmuExplicit).toBe(false);
    expect(device({ probeOrder: [LITTLE] }).pmuId).toBe(LITTLE);
    expect(device({ probeOrder: ['no_such_pmu', LITTLE, BIG] }).pmuId).toBe(LITTLE);
    expect(device().coveredCpus).toEqual([0, 1, 2, 3]);
    expect(device({ probeOrder: [LITTLE] }).coveredCpus).toEqual([4, 5, 6, 7]);
  });

  it('a PMU that covers no pCPU of the host is not registered (a 1-pCPU host has only the big PMU)', () => {
    expect(armHostPmus(A76_A55, 1, [LITTLE]).map((p) => p.pmuId)).toEqual([BIG]);
    expect(device({ pcpus: 1, probeOrder: [LITTLE] }).pmuId).toBe(BIG);
    expect(device({ pcpus: 1 }).setPmu(LITTLE)).toEqual(errno('ENXIO'));
  });

  it('the host override of N applies to every PMU', () => {
    expect(device({ countersOverride: 3 }).maxCounters).toBe(3);
  });
});

describe('ArmPmuDevice: SET_PMU', () => {
  it('ENXIO for an unknown id, with the known ones in the message', () => {
    const r = device().setPmu('armv8_cortex_x1');
    expect(r).toEqual(errno('ENXIO'));
    expect(!r.ok && r.message).toMatch(/known: armv8_cortex_a76, armv8_cortex_a55/);
  });

  it('is VM-wide and resets N to the new PMU\'s', () => {
    const d = device({ preset: N6_N4 });
    expect(d.setNrCounters(3)).toEqual(ok);
    expect(d.setPmu(SYN_LITTLE, 1)).toEqual(ok);
    expect(d.pmuId).toBe(SYN_LITTLE);
    expect(d.pmuExplicit).toBe(true);
    expect(d.nrCounters).toBe(4);
    expect(d.guestPmu(0).cfg.pmuId).toBe(SYN_LITTLE);
    expect(d.guestPmu(1).cfg.pmuId).toBe(SYN_LITTLE);
  });

  it('EBUSY once this vCPU\'s PMU is initialized', () => {
    const d = device();
    expect(d.init(0)).toEqual(ok);
    expect(d.setPmu(LITTLE, 0)).toEqual(errno('EBUSY'));
    // another vCPU's fd is still open for attributes before any vCPU ran
    expect(d.setPmu(LITTLE, 1)).toEqual(ok);
    expect(d.init(0)).toEqual(errno('EBUSY'));
  });

  it('EBUSY once a vCPU has run (even on another vCPU\'s fd, even if that entry failed)', () => {
    const d = device();
    expect(d.setPmu(LITTLE)).toEqual(ok);
    expect(d.enter(0, 1).ok).toBe(false);
    expect(d.hasRun).toBe(true);
    const r = d.setPmu(BIG, 1);
    expect(r).toEqual(errno('EBUSY'));
    expect(!r.ok && r.message).toMatch(/already run/);
    // an unknown id is still ENXIO (the lookup comes first, as in kvm_arm_pmu_v3_set_pmu)
    expect(d.setPmu('nope', 1)).toEqual(errno('ENXIO'));
  });

  it('EBUSY when a filter is set and the id differs; the same PMU is accepted (the seed\'s kvm_arm_pmu_v3_set_pmu)', () => {
    const d = device();
    expect(d.setFilter({ baseEvent: ARM_EVENTS.INST_RETIRED, nevents: 1, action: ALLOW })).toEqual(ok);
    expect(d.setPmu(LITTLE)).toEqual(errno('EBUSY'));
    expect(d.setPmu(BIG)).toEqual(ok);
    expect(d.pmuExplicit).toBe(true);
  });
});

describe('ArmPmuDevice: SET_NR_COUNTERS', () => {
  it.each([0, 1, 4, 6])('N=%i of the big PMU\'s 6 is accepted and seen as PMCR.N', (n) => {
    const d = device();
    expect(d.setNrCounters(n)).toEqual(ok);
    const pmcr = d.guestAccess(0, 'PMCR_EL0');
    expect(pmcr.ok && Number((pmcr.value >> BigInt(PMCR.N_SHIFT)) & 0x1fn)).toBe(n);
  });

  it.each([7, 31, -1, 2.5])('N=%p is EINVAL', (n) => {
    const d = device();
    const r = d.setNrCounters(n);
    expect(r).toEqual(errno('EINVAL'));
    expect(!r.ok && r.message).toMatch(/use 0\.\.6/);
    expect(d.nrCounters).toBe(6);
  });

  it('the limit is the chosen PMU\'s N (4 on the synthetic little core)', () => {
    const d = device({ preset: N6_N4 });
    expect(d.setPmu(SYN_LITTLE)).toEqual(ok);
    expect(d.setNrCounters(5)).toEqual(errno('EINVAL'));
    expect(d.setNrCounters(4)).toEqual(ok);
  });

  it('EBUSY after INIT or a run', () => {
    const a = device();
    a.init();
    expect(a.setNrCounters(2, 1)).toEqual(errno('EBUSY'));
    const b = device();
    b.enter(0, 0);
    expect(b.setNrCounters(2, 1)).toEqual(errno('EBUSY'));
  });
});

describe('ArmPmuDevice: the guest\'s registers (guest programs)', () => {
  it('N=2: counters >= 2 are RAZ/WI in PM{CNTEN,INTEN,OVS}{SET,CLR}; PMEVCNTR/PMEVTYPER >= 2 are UNDEFINED', () => {
    const d = device();
    d.setNrCounters(2);
    const res = runProgram(d, 0, [
      ['PMCNTENSET_EL0', undefined, 0xffff_ffff], // 0
      ['PMCNTENSET_EL0', undefined], // 1
      ['PMINTENSET_EL1', undefined, 0xffff_ffff], // 2
      ['PMINTENCLR_EL1', undefined], // 3
      ['PMOVSSET_EL0', undefined, 0x0000_00ff], // 4
      ['PMOVSCLR_EL0', undefined, 0x0000_0004], // 5: clearing a RAZ bit does nothing
      ['PMOVSSET_EL0', undefined], // 6
      ['PMEVTYPER_EL0', 1, ARM_EVENTS.INST_RETIRED], // 7
      ['PMEVTYPER_EL0', 1], // 8
      ['PMEVTYPER_EL0', 2, ARM_EVENTS.INST_RETIRED], // 9
      ['PMEVCNTR_EL0', 2], // 10
      ['PMEVCNTR_EL0', 5, 1], // 11
      ['PMSELR_EL0', undefined, 3], // 12
      ['PMXEVCNTR_EL0', undefined], // 13
      ['PMXEVTYPER_EL0', undefined, 0x11], // 14
      ['PMCCNTR_EL0', undefined, 7], // 15: the cycle counter always exists
      ['PMCCNTR_EL0', undefined], // 16
    ]);
    expect(res).toEqual([
      val(0),
      val(0x8000_0003),
      val(0),
      val(0x8000_0003),
      val(0),
      val(0),
      val(0x3),
      val(0),
      val(ARM_EVENTS.INST_RETIRED),
      UNDEF,
      UNDEF,
      UNDEF,
      val(0),
      UNDEF,
      UNDEF,
      val(0),
      val(7),
    ]);
    // each vCPU has its own registers
    expect(d.guestAccess(1, 'PMCNTENSET_EL0')).toEqual(val(0));
  });

  it('N=0: only the cycle counter exists', () => {
    const d = device();
    d.setNrCounters(0);
    expect(runProgram(d, 0, [['PMCNTENSET_EL0', undefined, 0xffff_ffff], ['PMCNTENSET_EL0', undefined], ['PMEVCNTR_EL0', 0]])).toEqual([val(0), val(0x8000_0000), UNDEF]);
  });
});

describe('ArmPmuDevice: FILTER and PMCEID', () => {
  it('PMCEID reflects the chosen PMU: LL_CACHE_RD/LL_CACHE_MISS_RD on the big core only', () => {
    const big = device();
    const little = device();
    little.setPmu(LITTLE);
    const llBits = bit(ARM_EVENTS.LL_CACHE_RD) | bit(ARM_EVENTS.LL_CACHE_MISS_RD);
    expect(big.guestAccess(0, 'PMCEID1_EL0')).toEqual(val(A76_A55.clusters[0].pmceid1 >>> 0));
    expect(little.guestAccess(0, 'PMCEID1_EL0')).toEqual(val(A76_A55.clusters[1].pmceid1 >>> 0));
    expect(big.guestPmceid().pmceid1 & llBits).toBe(llBits);
    expect(little.guestPmceid().pmceid1 & llBits).toBe(0);
    expect(big.guestPmceid().pmceid0).toBe(A76_A55.clusters[0].pmceid0 >>> 0);
  });

  it('a first DENY range makes the default allow; the denied events vanish from PMCEID', () => {
    const d = device();
    expect(d.setFilter({ baseEvent: ARM_EVENTS.LL_CACHE_RD, nevents: 2, action: DENY })).toEqual(ok);
    expect(d.eventAllowed(ARM_EVENTS.INST_RETIRED)).toBe(true);
    expect(d.eventAllowed(ARM_EVENTS.LL_CACHE_RD)).toBe(false);
    expect(d.guestPmceid()).toEqual({ pmceid0: A76_A55.clusters[0].pmceid0 >>> 0, pmceid1: (A76_A55.clusters[0].pmceid1 & ~(bit(0x36) | bit(0x37))) >>> 0 });
    expect(d.guestAccess(0, 'PMCEID1_EL0')).toEqual(val(d.guestPmceid().pmceid1));
  });

  it('a first ALLOW range makes the default deny; later ranges refine it in order', () => {
    const d = device();
    d.setFilter({ baseEvent: ARM_EVENTS.INST_RETIRED, nevents: 1, action: ALLOW });
    d.setFilter({ baseEvent: ARM_EVENTS.BR_MIS_PRED, nevents: 3, action: ALLOW }); // 0x10-0x12
    d.setFilter({ baseEvent: ARM_EVENTS.BR_MIS_PRED, nevents: 1, action: DENY });
    expect(d.guestPmceid()).toEqual({ pmceid0: bit(0x08) | bit(0x11) | bit(0x12), pmceid1: 0 });
    expect(d.eventAllowed(ARM_EVENTS.BR_RETIRED)).toBe(false);
  });

  it('a filtered event does not count; an allowed one does', () => {
    const d = device();
    d.setFilter({ baseEvent: ARM_EVENTS.INST_RETIRED, nevents: 1, action: DENY });
    d.enter(0, 0);
    runProgram(d, 0, [
      ['PMEVTYPER_EL0', 0, ARM_EVENTS.INST_RETIRED],
      ['PMEVTYPER_EL0', 1, ARM_EVENTS.BR_RETIRED],
      ['PMCNTENSET_EL0', undefined, 0b11],
      ['PMCR_EL0', undefined, PMCR.E],
    ]);
    d.guestPmu(0).advance(1_000, EventRates.of({ instructions: 2, branches: 0.5 }), MODE_GUEST);
    expect(runProgram(d, 0, [['PMEVTYPER_EL0', 0], ['PMEVCNTR_EL0', 0], ['PMEVCNTR_EL0', 1]])).toEqual([
      val(ARM_EVENTS.INST_RETIRED), // the guest still reads back its event type
      val(0),
      val(500),
    ]);
  });

  it('EINVAL for a bad action or a range past the event space (10 bits on PMUv3 v8.0, 16 after)', () => {
    const d = device();
    expect(d.setFilter({ baseEvent: 0, nevents: 1, action: 2 })).toEqual(errno('EINVAL'));
    expect(d.setFilter({ baseEvent: 0xffff, nevents: 2, action: ALLOW })).toEqual(errno('EINVAL'));
    expect(d.setFilter({ baseEvent: 0xffff, nevents: 1, action: ALLOW })).toEqual(ok);
    const v80 = device({ preset: { ...A76_A55, pmuVersion: 'v3' } });
    expect(v80.nrEvents).toBe(0x400);
    expect(v80.setFilter({ baseEvent: 0x3ff, nevents: 2, action: DENY })).toEqual(errno('EINVAL'));
    expect(d.filterSet).toBe(true);
    expect(device().filterSet).toBe(false);
  });

  it('EBUSY once a vCPU has run, and after INIT', () => {
    const d = device();
    d.enter(1, 0);
    expect(d.setFilter({ baseEvent: 0, nevents: 1, action: DENY }, 0)).toEqual(errno('EBUSY'));
    const e = device();
    e.init(0);
    expect(e.setFilter({ baseEvent: 0, nevents: 1, action: DENY }, 0)).toEqual(errno('EBUSY'));
  });
});

describe('ArmPmuDevice: placement', () => {
  it('without SET_PMU every pCPU can be entered, but only the PMU\'s count', () => {
    const d = device();
    for (let c = 0; c < 8; c++) {
      expect(d.canEnter(c)).toBe(true);
      expect(d.countsOn(c)).toBe(c < 4);
    }
    expect(d.enter(0, 6)).toEqual({ ok: true });
  });

  it('with SET_PMU, KVM_RUN on an uncovered pCPU fails entry (KVM_EXIT_FAIL_ENTRY, CPU_UNSUPPORTED)', () => {
    const d = device();
    d.setPmu(LITTLE);
    expect(d.canEnter(2)).toBe(false);
    expect(d.canEnter(5)).toBe(true);
    const r = d.enter(1, 2);
    expect(r).toMatchObject({ ok: false, exitReason: 'KVM_EXIT_FAIL_ENTRY', failureReason: 'CPU_UNSUPPORTED' });
    expect(!r.ok && r.message).toMatch(/covers pCPUs 4-7 only/);
    expect(d.enter(1, 5)).toEqual({ ok: true });
  });

  it('affinityProblems: fail entry with SET_PMU, silent stop without; nothing when the affinity fits', () => {
    const explicit = device();
    explicit.setPmu(LITTLE);
    const p = explicit.affinityProblems({ affinity: [[0, 1, 4], [4, 5, 6, 7]] });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^vms\.vm1\.affinity\[0\]: pCPUs 0-1 are not covered by PMU armv8_cortex_a55 \(set with SET_PMU\); KVM_RUN fails there/);
    expect(p[0]).toMatch(/restrict the affinity to pCPUs 4-7$/);
    const dflt = device().affinityProblems({ affinity: [[0, 1], [3, 4, 7]] });
    expect(dflt).toEqual([expect.stringMatching(/affinity\[1\]: pCPUs 4,7 are not covered .* guest counters stop counting there: set vpmu.armPmu/)]);
    expect(device().affinityProblems({ affinity: [[0, 1, 2, 3], [2]] })).toEqual([]);
  });
});

describe('ArmPmuDevice: wrong-core accounting', () => {
  const counting = () => {
    const d = device();
    d.enter(0, 0);
    runProgram(d, 0, [['PMCNTENSET_EL0', undefined, 1], ['PMCR_EL0', undefined, PMCR.E]]);
    return d;
  };

  it('one finding per stretch on the other cluster, with the time lost, when the vCPU comes back', () => {
    const d = counting();
    expect(d.accountGuestRun(0, 0, 0, 100)).toEqual([]);
    expect(d.accountGuestRun(0, 5, 100, 300)).toEqual([]);
    expect(d.accountGuestRun(0, 6, 300, 350)).toEqual([]);
    expect(d.lostNs(0)).toBe(250);
    const f = d.accountGuestRun(0, 1, 350, 400);
    expect(f).toEqual([
      {
        kind: 'finding',
        atNs: 350,
        at: { host: 'h1', vm: 'vm1', vcpu: 0, pcpu: 5 },
        findingKind: WRONG_CORE_FINDING,
        detail: expect.stringContaining('vm1 vCPU 0 ran 250 ns on pCPUs 5-6 (not covered by armv8_cortex_a76) from 100 ns'),
      },
    ]);
    // a covered run with no open stretch yields nothing
    expect(d.accountGuestRun(0, 2, 400, 500)).toEqual([]);
    // a second stretch, closed by the end of the run
    d.accountGuestRun(0, 7, 500, 900);
    const end = d.flushWrongCore(1_000);
    expect(end).toHaveLength(1);
    expect(end[0].detail).toMatch(/lostNs=400/);
    expect(d.flushWrongCore(1_000)).toEqual([]);
    expect(d.lostNs(0)).toBe(650);
    expect(d.lostNs(1)).toBe(0);
  });

  it('nothing is lost while the guest is not counting (PMCR.E clear or no counter enabled)', () => {
    const d = device();
    d.enter(0, 0);
    expect(d.accountGuestRun(0, 5, 0, 1_000)).toEqual([]);
    expect(d.flushWrongCore(1_000)).toEqual([]);
    expect(d.lostNs(0)).toBe(0);
    // the world may say so explicitly, e.g. when guest perf drives the counters
    d.accountGuestRun(1, 4, 0, 10, true);
    expect(d.flushWrongCore(10)).toHaveLength(1);
  });
});

describe('ArmPmuDevice: checkpoints', () => {
  it('goes through the snapshot codec (plain data + ArmPmu) and continues identically', () => {
    const registry = new SnapshotRegistry().registerAll([ArmPmuDevice, ArmPmu, CounterBank]);
    const d = device({ preset: N6_N4 });
    d.setPmu(BIG);
    d.setNrCounters(3);
    d.setFilter({ baseEvent: ARM_EVENTS.INST_RETIRED, nevents: 1, action: DENY });
    d.enter(0, 0);
    runProgram(d, 0, [['PMEVTYPER_EL0', 0, ARM_EVENTS.BR_RETIRED | PMEVTYPER.EXCLUDE_EL1], ['PMCNTENSET_EL0', undefined, 1], ['PMCR_EL0', undefined, PMCR.E]]);
    d.accountGuestRun(0, 6, 10, 60);
    const copy = decodeSnapshot<ArmPmuDevice>(encodeSnapshot(d, registry), registry);
    for (const x of [d, copy]) x.guestPmu(0).advance(100, EventRates.of({ branches: 1 }), MODE_GUEST);
    expect(copy.guestAccess(0, 'PMEVCNTR_EL0', 0)).toEqual(d.guestAccess(0, 'PMEVCNTR_EL0', 0));
    expect(copy.flushWrongCore(70)).toEqual(d.flushWrongCore(70));
    expect(copy.setPmu(BIG)).toEqual(errno('EBUSY'));
  });
});
