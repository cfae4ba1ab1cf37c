// arm64 PMUv3, one CPU of one core type (cluster).
//
// Models PMCR_EL0 (E, P, C, D, X, DP, LC, LP, N), PMCNTEN/PMINTEN/PMOVS set/clear, PMEVTYPER<n>
// with the EL filters (EXCLUDE_EL1 31, EXCLUDE_EL0 30, INCLUDE_EL2 27), PMEVCNTR<n>, the cycle
// counter PMCCNTR (index 31, filter PMCCFILTR), PMSELR/PMXEV*, and PMCEID0/1 per core type, with
// the layouts of arch/arm64/kvm/pmu-emul.c and Documentation/virt/kvm/devices/vcpu.rst. Registers answer as a KVM guest sees
// them (Documentation/virt/kvm/devices/vcpu.rst; arch/arm64/kvm/sys_regs.c, pmu-emul.c): bits of
// counters >= N in the set/clear registers read as zero and ignore writes; PMEVCNTR/PMEVTYPER
// n >= N are UNDEFINED; PMCEID is read-only; PMCR.N is read-only; PMCR.LP is RES0 before PMUv3p5.
//
// EL filters on a VHE host: host kernel runs at EL2 (counted iff INCLUDE_EL2), a guest kernel at
// EL1 (counted iff !EXCLUDE_EL1), user code at EL0 (counted iff !EXCLUDE_EL0). Guest-vs-host EL0
// is told apart by KVM switching counters at entry/exit (kvm_pmu_events), modelled as a per-counter
// guest/host switch like on Intel. Interrupts are level-triggered: asserted while
// PMCR.E && (PMOVS & PMCNTEN & PMINTEN) (kvm_pmu_overflow_status).
// Not modelled: PMCR.D's divide-by-64 of the cycle counter (the bit is stored), chained counters.

import { CounterBank } from './counter-bank';
import type { ArmClusterSpec } from './cpu-presets';
import { ARM_EVENT_FOR, EV, armEventIndex, type EventRates, type ExecMode, type WorkloadEventName } from './events';
import {
  modeMask,
  type CounterSlot,
  type HostCounterConfig,
  type PmuModel,
  type PmuOverflow,
  type PmuStateBase,
  sortOverflows,
} from './pmu.types';

export const PMCR = { E: 1 << 0, P: 1 << 1, C: 1 << 2, D: 1 << 3, X: 1 << 4, DP: 1 << 5, LC: 1 << 6, LP: 1 << 7, N_SHIFT: 11 } as const;
export const PMEVTYPER = { EXCLUDE_EL1: 2 ** 31, EXCLUDE_EL0: 1 << 30, INCLUDE_EL2: 1 << 27, EVENT_MASK: 0xffff } as const;
export const CYCLE_COUNTER_ID = 31;
/** PMCR.IMP: Arm Limited. */
const PMCR_IMP_ARM = 0x41 << 24;
const PMCR_WRITABLE = PMCR.E | PMCR.D | PMCR.X | PMCR.DP | PMCR.LC;
const EVTYPER_WRITABLE = PMEVTYPER.EXCLUDE_EL1 + PMEVTYPER.EXCLUDE_EL0 + PMEVTYPER.INCLUDE_EL2 + PMEVTYPER.EVENT_MASK;

export type ArmPmuReg =
  | 'PMCR_EL0'
  | 'PMCNTENSET_EL0'
  | 'PMCNTENCLR_EL0'
  | 'PMINTENSET_EL1'
  | 'PMINTENCLR_EL1'
  | 'PMOVSSET_EL0'
  | 'PMOVSCLR_EL0'
  | 'PMEVTYPER_EL0'
  | 'PMEVCNTR_EL0'
  | 'PMCCNTR_EL0'
  | 'PMCCFILTR_EL0'
  | 'PMSELR_EL0'
  | 'PMXEVTYPER_EL0'
  | 'PMXEVCNTR_EL0'
  | 'PMCEID0_EL0'
  | 'PMCEID1_EL0';

export const ARM_PMU_REGS: readonly ArmPmuReg[] = [
  'PMCR_EL0',
  'PMCNTENSET_EL0',
  'PMCNTENCLR_EL0',
  'PMINTENSET_EL1',
  'PMINTENCLR_EL1',
  'PMOVSSET_EL0',
  'PMOVSCLR_EL0',
  'PMEVTYPER_EL0',
  'PMEVCNTR_EL0',
  'PMCCNTR_EL0',
  'PMCCFILTR_EL0',
  'PMSELR_EL0',
  'PMXEVTYPER_EL0',
  'PMXEVCNTR_EL0',
  'PMCEID0_EL0',
  'PMCEID1_EL0',
];

export type ArmAccessResult = { ok: true; value: bigint } | { ok: false; fault: 'undefined' };

export interface ArmPmuConfig {
  pmuId: string;
  /** PMCR.N as the (virtual) CPU reports it. */
  counters: number;
  counterWidthBits: number;
  pmceid0: number;
  pmceid1: number;
  /** PMUv3p5 or later: PMCR.LP exists (64-bit event counters). */
  hasPmuV3p5: boolean;
  pmiSkidNs: number;
}

export function armConfigFromCluster(c: ArmClusterSpec, overrides: Partial<ArmPmuConfig> = {}): ArmPmuConfig {
  return {
    pmuId: c.pmuId,
    counters: c.counters,
    counterWidthBits: c.counterWidthBits,
    pmceid0: c.pmceid0,
    pmceid1: c.pmceid1,
    hasPmuV3p5: false,
    pmiSkidNs: c.pmiSkidNs,
    ...overrides,
  };
}

export interface ArmPmuState extends PmuStateBase {
  arch: 'arm';
  nowNs: number;
  pmcr: number;
  cntEn: number;
  intEn: number;
  ovs: number;
  evtyper: number[];
  ccfiltr: number;
  pmselr: number;
}

export class ArmPmu implements PmuModel {
  readonly arch = 'arm' as const;
  readonly pmuId: string;
  readonly pmiSkidNs: number;
  readonly slots: readonly CounterSlot[];
  readonly cfg: ArmPmuConfig;

  private readonly n: number;
  private readonly bank: CounterBank;
  private timeNs = 0;
  private pmcr = 0;
  private cntEn = 0;
  private intEn = 0;
  private ovs = 0;
  private readonly evtyper: number[];
  private ccfiltr = 0;
  private pmselr = 0;
  private readonly guestHost: number[];
  private overflows: PmuOverflow[] = [];
  /** Bits of existing counters in the set/clear registers: 0..N-1 and 31. */
  private readonly validMask: number;

  constructor(cfg: ArmPmuConfig) {
    if (!(cfg.counters >= 0 && cfg.counters <= 31)) throw new Error('PMCR.N must be 0..31');
    this.cfg = { ...cfg };
    this.n = cfg.counters;
    this.pmuId = cfg.pmuId;
    this.pmiSkidNs = cfg.pmiSkidNs;
    this.bank = new CounterBank([...Array(this.n).fill(cfg.counterWidthBits), 64], [...Array(this.n).fill(cfg.counterWidthBits), 32]);
    this.evtyper = Array(this.n).fill(0);
    this.guestHost = Array(this.n + 1).fill(3);
    this.validMask = (((this.n >= 31 ? 0x7fffffff : (1 << this.n) - 1) | (1 << 31)) >>> 0);
    this.slots = [
      ...Array.from({ length: this.n }, (_, i): CounterSlot => ({ counterId: i, kind: 'gp', widthBits: cfg.counterWidthBits })),
      { counterId: CYCLE_COUNTER_ID, kind: 'cycle', widthBits: 64 },
    ];
    this.bank.eventIdx[this.n] = EV.cycles;
    this.reset();
  }

  get nowNs(): number {
    return this.timeNs;
  }

  reset(): void {
    for (let i = 0; i <= this.n; i++) this.bank.write(i, 0);
    this.pmcr = 0;
    this.cntEn = 0;
    this.intEn = 0;
    this.ovs = 0;
    this.evtyper.fill(0);
    this.ccfiltr = 0;
    this.pmselr = 0;
    this.guestHost.fill(3);
    this.recompute();
  }

  /** Whether common event `num` (0x00-0x3F) is implemented on this core type (PMCEID0/1). */
  implementsEvent(num: number): boolean {
    if (num < 0 || num >= 64) return false;
    const word = num < 32 ? this.cfg.pmceid0 : this.cfg.pmceid1;
    return ((word >>> (num & 31)) & 1) === 1;
  }

  // ------------------------------------------------------------------------------------------
  // System register interface (as a KVM guest sees it).

  /** Read and write in one call: a read when `write` is undefined. */
  access(reg: ArmPmuReg, n?: number, write?: number | bigint): ArmAccessResult {
    if (write === undefined) return this.read(reg, n);
    const r = this.write(reg, write, n);
    return r.ok ? { ok: true, value: 0n } : r;
  }

  read(reg: ArmPmuReg, n = 0): ArmAccessResult {
    switch (reg) {
      case 'PMCR_EL0':
        return ok(BigInt(((this.pmcr & ~(PMCR.P | PMCR.C)) | (this.n << PMCR.N_SHIFT) | PMCR_IMP_ARM) >>> 0));
      case 'PMCNTENSET_EL0':
      case 'PMCNTENCLR_EL0':
        return ok(BigInt(this.cntEn >>> 0));
      case 'PMINTENSET_EL1':
      case 'PMINTENCLR_EL1':
        return ok(BigInt(this.intEn >>> 0));
      case 'PMOVSSET_EL0':
      case 'PMOVSCLR_EL0':
        return ok(BigInt(this.ovs >>> 0));
      case 'PMEVTYPER_EL0':
        return n >= 0 && n < this.n ? ok(BigInt(this.evtyper[n] >>> 0)) : UNDEF;
      case 'PMEVCNTR_EL0':
        return n >= 0 && n < this.n ? ok(this.bank.readBig(n)) : UNDEF;
      case 'PMCCNTR_EL0':
        return ok(this.bank.readBig(this.n));
      case 'PMCCFILTR_EL0':
        return ok(BigInt(this.ccfiltr >>> 0));
      case 'PMSELR_EL0':
        return ok(BigInt(this.pmselr));
      case 'PMXEVTYPER_EL0':
        return this.pmselr === CYCLE_COUNTER_ID ? ok(BigInt(this.ccfiltr >>> 0)) : this.read('PMEVTYPER_EL0', this.pmselr);
      case 'PMXEVCNTR_EL0':
        return this.pmselr === CYCLE_COUNTER_ID ? this.read('PMCCNTR_EL0') : this.read('PMEVCNTR_EL0', this.pmselr);
      case 'PMCEID0_EL0':
        return ok(BigInt(this.cfg.pmceid0 >>> 0));
      case 'PMCEID1_EL0':
        return ok(BigInt(this.cfg.pmceid1 >>> 0));
      default:
        return UNDEF;
    }
  }

  write(reg: ArmPmuReg, value: number | bigint, n = 0): { ok: true } | { ok: false; fault: 'undefined' } {
    const v = typeof value === 'bigint' ? BigInt.asUintN(64, value) : BigInt.asUintN(64, BigInt(exact(value)));
    const lo = Number(v & 0xffff_ffffn);
    switch (reg) {
      case 'PMCR_EL0': {
        const writable = PMCR_WRITABLE | (this.cfg.hasPmuV3p5 ? PMCR.LP : 0);
        this.pmcr = lo & writable;
        // P and C are write-only actions: reset event counters / the cycle counter.
        if (lo & PMCR.P) for (let i = 0; i < this.n; i++) this.bank.write(i, 0);
        if (lo & PMCR.C) this.bank.write(this.n, 0);
        this.bank.setOverflowBits(this.n, this.pmcr & PMCR.LC ? 64 : 32);
        break;
      }
      case 'PMCNTENSET_EL0':
        this.cntEn = (this.cntEn | (lo & this.validMask)) >>> 0;
        break;
      case 'PMCNTENCLR_EL0':
        this.cntEn = (this.cntEn & ~(lo & this.validMask)) >>> 0;
        break;
      case 'PMINTENSET_EL1':
        this.intEn = (this.intEn | (lo & this.validMask)) >>> 0;
        break;
      case 'PMINTENCLR_EL1':
        this.intEn = (this.intEn & ~(lo & this.validMask)) >>> 0;
        break;
      case 'PMOVSSET_EL0':
        this.ovs = (this.ovs | (lo & this.validMask)) >>> 0;
        break;
      case 'PMOVSCLR_EL0':
        this.ovs = (this.ovs & ~(lo & this.validMask)) >>> 0;
        break;
      case 'PMEVTYPER_EL0':
        if (!(n >= 0 && n < this.n)) return UNDEF;
        this.evtyper[n] = (lo & EVTYPER_WRITABLE) >>> 0;
        break;
      case 'PMEVCNTR_EL0':
        if (!(n >= 0 && n < this.n)) return UNDEF;
        this.bank.write(n, BigInt.asUintN(this.cfg.counterWidthBits, v));
        return OKW;
      case 'PMCCNTR_EL0':
        this.bank.write(this.n, v);
        return OKW;
      case 'PMCCFILTR_EL0':
        this.ccfiltr = (lo & (EVTYPER_WRITABLE - PMEVTYPER.EVENT_MASK)) >>> 0;
        break;
      case 'PMSELR_EL0':
        this.pmselr = lo & 0x1f;
        return OKW;
      case 'PMXEVTYPER_EL0':
        return this.pmselr === CYCLE_COUNTER_ID ? this.write('PMCCFILTR_EL0', value) : this.write('PMEVTYPER_EL0', value, this.pmselr);
      case 'PMXEVCNTR_EL0':
        return this.pmselr === CYCLE_COUNTER_ID ? this.write('PMCCNTR_EL0', value) : this.write('PMEVCNTR_EL0', value, this.pmselr);
      default:
        return UNDEF; // PMCEID0/1 are read-only
    }
    this.recompute();
    return OKW;
  }

  /** Level of the PMU interrupt line (kvm_pmu_overflow_status). */
  interruptAsserted(): boolean {
    return (this.pmcr & PMCR.E) !== 0 && (this.ovs & this.cntEn & this.intEn) !== 0;
  }

  // ------------------------------------------------------------------------------------------
  // Analytic time.

  advanceTo(nowNs: number, rates: EventRates, mode: ExecMode): void {
    this.advance(nowNs - this.timeNs, rates, mode);
  }

  advance(dtNs: number, rates: EventRates, mode: ExecMode): void {
    if (dtNs < 0 || !Number.isSafeInteger(dtNs)) throw new Error(`ArmPmu.advance: bad dtNs ${dtNs}`);
    if (dtNs === 0) return;
    this.bank.advance(dtNs, this.timeNs, rates, mode);
    this.timeNs += dtNs;
    if (this.bank.wrapCount > 0) this.drainWraps();
  }

  nextOverflowInNs(rates: EventRates, mode: ExecMode): number {
    return this.bank.nextInterruptWrapInNs(rates, mode);
  }

  takeOverflows(): PmuOverflow[] {
    if (this.overflows.length === 0) return [];
    const out = this.overflows;
    this.overflows = [];
    return out;
  }

  private drainWraps(): void {
    const bank = this.bank;
    const start = this.overflows.length;
    for (let w = 0; w < bank.wrapCount; w++) {
      const i = bank.wrapIdx[w];
      const at = bank.wrapAtNs[w];
      const id = i === this.n ? CYCLE_COUNTER_ID : i;
      this.ovs = (this.ovs | (1 << id)) >>> 0;
      const pmi = bank.interrupt[i] === 1;
      this.overflows.push({ counterId: id, overflowNs: at, pmi, pmiNs: at + this.pmiSkidNs });
    }
    bank.wrapCount = 0;
    if (this.overflows.length - start > 1) sortOverflows(this.overflows, start);
  }

  // ------------------------------------------------------------------------------------------
  // Host driver (drivers/perf/arm_pmuv3.c).

  hostCandidates(event: WorkloadEventName): readonly number[] {
    const counters = Array.from({ length: this.n }, (_, i) => i);
    // armv8pmu_get_event_idx: a cycles event prefers the dedicated cycle counter.
    if (event === 'cycles') return [CYCLE_COUNTER_ID, ...counters];
    const num = ARM_EVENT_FOR[event];
    if (num === undefined || !this.implementsEvent(num)) return [];
    return counters;
  }

  hostProgram(counterId: number, c: HostCounterConfig): void {
    const i = this.indexOf(counterId);
    const filter =
      (c.countUser ? 0 : PMEVTYPER.EXCLUDE_EL0) + (c.countKernel ? PMEVTYPER.INCLUDE_EL2 : PMEVTYPER.EXCLUDE_EL1);
    if (i === this.n) {
      if (c.event !== 'cycles') throw new Error(`the cycle counter cannot count ${c.event}`);
      this.ccfiltr = filter >>> 0;
      this.pmcr |= PMCR.LC; // perf uses the 64-bit cycle counter
      this.bank.setOverflowBits(this.n, 64);
    } else {
      const num = ARM_EVENT_FOR[c.event];
      if (num === undefined) throw new Error(`${this.pmuId} cannot count ${c.event}`);
      this.evtyper[i] = (filter + num) >>> 0;
    }
    const bit = 1 << counterId;
    this.cntEn = (this.cntEn | bit) >>> 0;
    this.intEn = c.interrupt ? (this.intEn | bit) >>> 0 : (this.intEn & ~bit) >>> 0;
    this.ovs = (this.ovs & ~bit) >>> 0;
    this.pmcr |= PMCR.E;
    this.guestHost[i] = (c.countHost ? 1 : 0) | (c.countGuest ? 2 : 0);
    if (c.periodEvents !== undefined) this.bank.writeToOverflowIn(i, c.periodEvents);
    else this.bank.write(i, 0);
    this.recompute();
  }

  hostStop(counterId: number): void {
    this.indexOf(counterId);
    this.cntEn = (this.cntEn & ~(1 << counterId)) >>> 0;
    this.recompute();
  }

  hostStopAll(): void {
    this.cntEn = 0;
    this.intEn = 0;
    this.ovs = 0;
    this.guestHost.fill(3);
    this.recompute();
  }

  countedSinceWrite(counterId: number): number {
    return this.bank.sinceWrite[this.indexOf(counterId)];
  }

  hostCarryQ(counterId: number): number {
    return this.bank.acc[this.indexOf(counterId)];
  }

  hostSetCarryQ(counterId: number, carryQ: number): void {
    this.bank.acc[this.indexOf(counterId)] = carryQ;
    this.bank.touch();
  }

  hostAckOverflow(counterId: number): void {
    this.ovs = (this.ovs & ~(1 << counterId)) >>> 0;
  }

  // ------------------------------------------------------------------------------------------

  saveState(): ArmPmuState {
    const b = this.bank;
    return {
      arch: 'arm',
      pmuId: this.pmuId,
      nowNs: this.timeNs,
      stored: Array.from(b.stored),
      acc: Array.from(b.acc),
      sinceWrite: Array.from(b.sinceWrite),
      guestHost: [...this.guestHost],
      pmcr: this.pmcr,
      cntEn: this.cntEn,
      intEn: this.intEn,
      ovs: this.ovs,
      evtyper: [...this.evtyper],
      ccfiltr: this.ccfiltr,
      pmselr: this.pmselr,
    };
  }

  loadState(state: PmuStateBase): void {
    const s = state as ArmPmuState;
    if (s.arch !== 'arm' || s.evtyper.length !== this.n) {
      throw new Error(`ArmPmu.loadState: state for a different PMU (${s.arch} ${s.pmuId}, ${s.stored.length - 1} counters)`);
    }
    const b = this.bank;
    for (let i = 0; i < b.size; i++) {
      b.stored[i] = s.stored[i];
      b.acc[i] = s.acc[i];
      b.sinceWrite[i] = s.sinceWrite[i];
      this.guestHost[i] = s.guestHost[i];
    }
    this.pmcr = s.pmcr;
    this.cntEn = s.cntEn;
    this.intEn = s.intEn;
    this.ovs = s.ovs;
    for (let i = 0; i < this.n; i++) this.evtyper[i] = s.evtyper[i];
    this.ccfiltr = s.ccfiltr;
    this.pmselr = s.pmselr;
    this.bank.setOverflowBits(this.n, this.pmcr & PMCR.LC ? 64 : 32);
    this.recompute();
  }

  indexOf(counterId: number): number {
    if (counterId === CYCLE_COUNTER_ID) return this.n;
    if (counterId >= 0 && counterId < this.n) return counterId;
    throw new Error(`${this.pmuId}: no counter ${counterId}`);
  }

  private recompute(): void {
    const b = this.bank;
    const enabled = (this.pmcr & PMCR.E) !== 0;
    for (let i = 0; i <= this.n; i++) {
      const id = i === this.n ? CYCLE_COUNTER_ID : i;
      const type = i === this.n ? this.ccfiltr : this.evtyper[i];
      if (i < this.n) {
        const num = type & PMEVTYPER.EVENT_MASK;
        b.eventIdx[i] = this.implementsEvent(num) ? armEventIndex(num) : -1;
      }
      b.counting[i] = enabled && ((this.cntEn >>> id) & 1) === 1 ? 1 : 0;
      b.interrupt[i] = ((this.intEn >>> id) & 1) === 1 ? 1 : 0;
      const gh = this.guestHost[i];
      const countUser = (type & PMEVTYPER.EXCLUDE_EL0) === 0;
      const guestKernel = (type & PMEVTYPER.EXCLUDE_EL1) === 0;
      const hostKernel = (type & PMEVTYPER.INCLUDE_EL2) !== 0;
      b.modeBits[i] =
        (modeMask(countUser, hostKernel, (gh & 1) !== 0, false) | modeMask(countUser, guestKernel, false, (gh & 2) !== 0)) & 0xf;
    }
    b.touch();
  }
}

const OKW = Object.freeze({ ok: true }) as { ok: true };
const UNDEF = Object.freeze({ ok: false, fault: 'undefined' }) as { ok: false; fault: 'undefined' };

function ok(value: bigint): ArmAccessResult {
  return { ok: true, value };
}

function exact(v: number): number {
  if (!Number.isSafeInteger(v)) throw new Error(`register value ${v} is not an exact integer; pass a bigint`);
  return v;
}
