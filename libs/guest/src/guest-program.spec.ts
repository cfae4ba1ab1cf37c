import { KvmEventFilter } from '@vpmu/kvm';
import { CPU_PRESETS, EventRates, IntelPmu, MODE_GUEST, intelConfigFromPreset, type IntelPmuConfig, type IntelPmuSpec } from '@vpmu/pmu';
import type { EventFilterSpec, ProgramOp } from '@vpmu/world-spec';
import { GuestProgram, formatProgramOp, type GuestPmuPort, type PortReadResult, type PortWriteResult } from './guest-program';

// The selftests' guest code runs in ring 0 and programs EVENTSEL with OS | EN (0x420000).
const OS_EN = 0x42_0000;
const INSTR = 0xc0;
const BRANCHES = 0xc4;
const PMC0 = 0xc1;
const A_PMC0 = 0x4c1;
const EVTSEL0 = 0x186;
const FIXED_CTR0 = 0x309;
const FIXED_CTR_CTRL = 0x38d;
const GLOBAL_CTRL = 0x38f;

const LOOP_RATES = EventRates.of({}, { instructions: 1, branches: 1, cycles: 1 });
const NO_BRANCH_RATES = EventRates.of({}, { instructions: 1, cycles: 1 });

/** A vCPU's PMU as KVM's emulated vPMU presents it, backed by the real IntelPmu model. */
class IntelPort implements GuestPmuPort {
  readonly pmu: IntelPmu;
  constructor(over: Partial<IntelPmuConfig> = {}) {
    this.pmu = new IntelPmu(intelConfigFromPreset(CPU_PRESETS['intel-spr'] as IntelPmuSpec, over));
  }
  wrmsr(_vcpu: number, msr: number, value: number): PortWriteResult {
    return this.pmu.wrmsr(msr, value);
  }
  rdmsr(_vcpu: number, msr: number): PortReadResult {
    return this.pmu.rdmsr(msr);
  }
  rdpmc(_vcpu: number, index: number): PortReadResult {
    return this.pmu.rdpmc(index);
  }
  /** Exactly `instructions` instructions (1/ns), the first `branches` of them branches. */
  runLoop(_vcpu: number, instructions: number, branches: number): void {
    this.pmu.advance(branches, LOOP_RATES, MODE_GUEST);
    this.pmu.advance(instructions - branches, NO_BRANCH_RATES, MODE_GUEST);
  }
}

/**
 * The same PMU behind KVM's event filter, as the passthrough series' intercepted EVENTSEL /
 * FIXED_CTR_CTRL writes do it: the guest reads back what it wrote; the hardware gets EN (or the
 * fixed counter's field) cleared when the filter denies the event.
 */
class FilteredPort extends IntelPort {
  private readonly evtsel = new Map<number, number>();
  private fixedCtrl = 0;
  constructor(private readonly filter: KvmEventFilter) {
    super();
  }
  override wrmsr(vcpu: number, msr: number, value: number): PortWriteResult {
    const r = super.wrmsr(vcpu, msr, value); // the register's own checks (#GP) first
    if (!r.ok) return r;
    if (msr >= EVTSEL0 && msr < EVTSEL0 + 8) {
      this.evtsel.set(msr, value);
      return this.pmu.wrmsr(msr, this.filter.allowsEventSel(value) ? value : value & ~(1 << 22));
    }
    if (msr === FIXED_CTR_CTRL) {
      this.fixedCtrl = value;
      let hw = value;
      for (let i = 0; i < 4; i++) if (!this.filter.allowsFixed(i)) hw &= ~(0xf << (4 * i));
      return this.pmu.wrmsr(msr, hw);
    }
    return r;
  }
  override rdmsr(vcpu: number, msr: number): PortReadResult {
    if (this.evtsel.has(msr)) return { ok: true, value: this.evtsel.get(msr)! };
    if (msr === FIXED_CTR_CTRL) return { ok: true, value: this.fixedCtrl };
    return super.rdmsr(vcpu, msr);
  }
}

const wrmsr = (msr: number, value: number): ProgramOp => ({ op: 'wrmsr', msr, value, vcpu: 0 });
const rdmsr = (msr: number): ProgramOp => ({ op: 'rdmsr', msr, vcpu: 0 });
const rdpmc = (index: number): ProgramOp => ({ op: 'rdpmc', index, vcpu: 0 });
const loop = (instructions: number, branches = 0): ProgramOp => ({ op: 'loop', instructions, branches, vcpu: 0 });
type Expect = Omit<Extract<ProgramOp, { op: 'expect' }>, 'op' | 'step'>;

/** Builds a program; `check(e)` expects `e` of the step just added. */
class ProgramBuilder {
  readonly ops: ProgramOp[] = [];
  add(op: ProgramOp, e?: Expect): this {
    this.ops.push(op);
    if (e) this.ops.push({ op: 'expect', step: this.ops.length - 1, ...e });
    return this;
  }
}

function runExpectingSuccess(ops: ProgramOp[], port: GuestPmuPort) {
  const prog = new GuestProgram(ops, port);
  const results = prog.run();
  expect(prog.failedExpectations()).toEqual([]);
  expect(results).toHaveLength(ops.length);
  return results;
}

describe('GuestProgram: pmu_counters_test.c checks as programs (real IntelPmu)', () => {
  it.each([1, 4, 8])('N=%i GP counters: write/read back via RDMSR and RDPMC below N, #GP at and above N', (n) => {
    const p = new ProgramBuilder();
    for (let i = 0; i < 8; i++) {
      const exists = i < n;
      p.add(wrmsr(A_PMC0 + i, 0xffff), { fault: exists ? 'none' : 'gp' });
      p.add(rdmsr(A_PMC0 + i), exists ? { equals: 0xffff } : { fault: 'gp' });
      p.add(rdpmc(i), exists ? { equals: 0xffff } : { fault: 'gp' });
      // the legacy alias: 0xC1/0xC2 drop writes and read 0 when missing (KVM quirk)
      if (!exists && i < 2) p.add(rdmsr(PMC0 + i), { equals: 0 });
    }
    runExpectingSuccess(p.ops, new IntelPort({ gpCounters: n }));
  });

  it('GLOBAL_CTRL resets to the mask of GP counters', () => {
    const p = new ProgramBuilder().add(rdmsr(GLOBAL_CTRL), { equals: 0xff });
    runExpectingSuccess(p.ops, new IntelPort());
    runExpectingSuccess(new ProgramBuilder().add(rdmsr(GLOBAL_CTRL), { equals: 0xf }).ops, new IntelPort({ gpCounters: 4 }));
  });

  it('a disabled counter does not move across a loop and reads back the written value', () => {
    const p = new ProgramBuilder()
      .add(wrmsr(PMC0, 777))
      .add(wrmsr(EVTSEL0, INSTR | 0x02_0000)) // OS, EN clear
      .add(loop(1_000_000, 1000))
      .add(rdpmc(0), { equals: 777 })
      .add(rdmsr(PMC0), { equals: 777 });
    runExpectingSuccess(p.ops, new IntelPort());
  });

  it('enabled counters count the loop exactly (instructions, branches)', () => {
    const p = new ProgramBuilder()
      .add(wrmsr(EVTSEL0, INSTR | OS_EN))
      .add(wrmsr(EVTSEL0 + 1, BRANCHES | OS_EN))
      .add(loop(1_000_000, 100_000))
      .add(rdpmc(0), { equals: 1_000_000 })
      .add(rdpmc(1), { equals: 100_000 });
    runExpectingSuccess(p.ops, new IntelPort());
  });

  it('fixed counter i exists iff i < M: missing counters and their control bits #GP', () => {
    const p = new ProgramBuilder();
    for (let i = 0; i < 4; i++) {
      const exists = i < 3;
      p.add(wrmsr(FIXED_CTR0 + i, 0x1234), { fault: exists ? 'none' : 'gp' });
      p.add(rdpmc(0x4000_0000 + i), exists ? { equals: 0x1234 } : { fault: 'gp' });
      p.add(wrmsr(FIXED_CTR_CTRL, 0x1 << (4 * i)), { fault: exists ? 'none' : 'gp' });
    }
    runExpectingSuccess(p.ops, new IntelPort({ fixedCounters: 3 }));
  });
});

describe('GuestProgram: pmu_event_filter_test.c checks as programs (KvmEventFilter)', () => {
  function filtered(spec: Partial<EventFilterSpec>): FilteredPort {
    const r = KvmEventFilter.create({ action: 'allow', events: [], fixedCounterBitmap: 0, masked: [], ...spec });
    if (!r.ok) throw new Error(r.reason);
    return new FilteredPort(r.filter);
  }
  const measure = () =>
    new ProgramBuilder()
      .add(wrmsr(PMC0, 0))
      .add(wrmsr(EVTSEL0, INSTR | OS_EN))
      .add(wrmsr(FIXED_CTR_CTRL, 0x1)) // fixed 0, OS
      .add(wrmsr(GLOBAL_CTRL, 0x1 + 2 ** 32));

  it('deny list: the denied event stays 0 across the loop; the guest still reads back its EVENTSEL', () => {
    const p = measure().add(loop(100_000)).add(rdpmc(0), { equals: 0 }).add(rdmsr(EVTSEL0), { equals: INSTR | OS_EN });
    runExpectingSuccess(p.ops, filtered({ action: 'deny', events: [{ eventSelect: INSTR, umask: 0 }] }));
  });

  it('allow list: the listed event counts; an unlisted one does not', () => {
    const p = measure().add(loop(100_000)).add(rdpmc(0), { equals: 100_000 });
    runExpectingSuccess(p.ops, filtered({ action: 'allow', events: [{ eventSelect: INSTR, umask: 0 }] }));
    const q = measure().add(loop(100_000)).add(rdpmc(0), { equals: 0 });
    runExpectingSuccess(q.ops, filtered({ action: 'allow', events: [{ eventSelect: BRANCHES, umask: 0 }] }));
  });

  it.each<[EventFilterSpec['action'], number, boolean]>([
    ['allow', 0x1, true],
    ['allow', 0x0, false],
    ['deny', 0x1, false],
    ['deny', 0x0, true],
  ])('fixed counter bitmap: %s with bitmap 0x%i → fixed counter 0 counts: %s', (action, bitmap, counts) => {
    const p = measure().add(wrmsr(FIXED_CTR0, 0)).add(loop(50_000)).add(rdpmc(0x4000_0000), { equals: counts ? 50_000 : 0 });
    runExpectingSuccess(p.ops, filtered({ action, fixedCounterBitmap: bitmap }));
  });

  it('masked events: include every umask of 0xc0 → instructions count', () => {
    const p = measure().add(loop(10_000)).add(rdpmc(0), { equals: 10_000 });
    runExpectingSuccess(p.ops, filtered({ action: 'allow', masked: [{ eventSelect: INSTR, mask: 0, match: 0, exclude: false }] }));
  });
});

describe('GuestProgram: the interpreter', () => {
  it('step texts, results and expectation verdicts', () => {
    const ops: ProgramOp[] = [
      wrmsr(EVTSEL0, 0x4300c0),
      rdmsr(0x12345),
      { op: 'expect', step: 1, equals: 5 },
      { op: 'expect', step: 1, fault: 'gp' },
      rdmsr(GLOBAL_CTRL),
      { op: 'expect', step: 4, atLeast: 0x100 },
      { op: 'expect', step: 4, atMost: 0xff, fault: 'none' },
      { op: 'setPmu', pmu: 'armv8_cortex_a76' },
      { op: 'expect', step: 7, fault: 'none' },
      { op: 'rdpmc', index: 0, vcpu: 1 },
    ];
    const prog = new GuestProgram(ops, new IntelPort());
    expect(prog.peek()).toBe(ops[0]);
    const r = prog.run();
    expect(r.map((x) => [x.op, x.result, x.ok])).toEqual([
      ['wrmsr 0x186 0x4300c0', 'ok', true],
      ['rdmsr 0x12345', 'gp', true],
      ['expect step 1 equals 0x5', 'ok', false],
      ['expect step 1 fault gp', 'ok', true],
      ['rdmsr 0x38f', 'ok', true],
      ['expect step 4 atLeast 256', 'ok', false],
      ['expect step 4 atMost 255 fault none', 'ok', true],
      ['setPmu armv8_cortex_a76', 'ENXIO', true],
      ['expect step 7 fault none', 'ok', false],
      ['rdpmc 0x0 (vcpu 1)', 'ok', true],
    ]);
    expect(r[2].detail).toBe('step 1 has no value (gp)');
    expect(r[5].detail).toBe('expected at least 256, got 255');
    expect(r[9].vcpu).toBe(1);
    expect(prog.failedExpectations().map((x) => x.step)).toEqual([2, 5, 8]);
    expect(prog.step()).toBeNull();
    expect(prog.finished).toBe(true);
  });

  it('setPmu / setNrCounters go to the port and report its errno', () => {
    const port: GuestPmuPort = {
      wrmsr: () => ({ ok: true }),
      rdmsr: () => ({ ok: true, value: 0 }),
      rdpmc: () => ({ ok: false, fault: 'undefined' }),
      runLoop: () => undefined,
      setPmu: (id) => (id === 'armv8_cortex_a76' ? null : 'ENXIO'),
      setNrCounters: (n) => (n > 6 ? 'EINVAL' : null),
    };
    const r = new GuestProgram(
      [{ op: 'setPmu', pmu: 'armv8_cortex_a76' }, { op: 'setPmu', pmu: 'nope' }, { op: 'setNrCounters', n: 7 }, rdpmc(3), { op: 'expect', step: 3, fault: 'undefined' }],
      port,
    ).run();
    expect(r.map((x) => x.result)).toEqual(['ok', 'ENXIO', 'EINVAL', 'undefined', 'ok']);
    expect(r[4].ok).toBe(true);
    expect(formatProgramOp(loop(10, 2))).toBe('loop 10 instructions 2 branches');
  });
});
