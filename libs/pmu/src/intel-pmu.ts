// Intel architectural performance monitoring (perfmon v2+), one logical CPU.
//
// Models N GP counters (IA32_PMCi / IA32_A_PMCi / IA32_PERFEVTSELi), M fixed counters
// (IA32_FIXED_CTRi, IA32_FIXED_CTR_CTRL), the global registers (PERF_GLOBAL_CTRL / STATUS /
// OVF_CTRL / STATUS_SET), PERF_CAPABILITIES, DEBUGCTL freeze-on-PMI and RDPMC, with the register
// layouts of the Intel SDM vol. 3 "Performance Monitoring" and arch/x86/include/asm/msr-index.h
// and the KVM selftests' include/x86/pmu.h). The MSR interface answers as a KVM guest sees it:
// the #GP rules are those the KVM selftests pin down (tools/testing/selftests/kvm/x86/pmu_counters_test.c), reserved-bit masks follow
// arch/x86/kvm/vmx/pmu_intel.c (eventsel_rsvd 0xffffffff00200000, fixed_ctr_ctrl ANY bit reserved).
//
// Freeze-on-PMI follows the v4 semantics (Intel SDM 3B 20.2.4.1): with DEBUGCTL.FREEZE_PERFMON_ON_PMI
// an overflow that raises a PMI sets GLOBAL_STATUS.CTR_FRZ (bit 59) and every counter stops until
// software clears it through GLOBAL_OVF_CTRL; FREEZE_LBRS_ON_PMI likewise sets LBR_FRZ (bit 58).
// The freeze takes effect at the overflow instant (the skid is only the delivery latency).

import { CounterBank } from './counter-bank';
import { INTEL_ARCH_EVENTS, INTEL_FIXED_COUNTER_EVENTS, WORKLOAD_EVENT_NAMES, eventIndex, type EventRates, type ExecMode, type WorkloadEventName } from './events';
import {
  DEBUGCTL,
  DEBUGCTL_ALLOWED,
  EVTSEL,
  EVTSEL_RESERVED_LOW,
  FIXED_COUNTER_ID_BASE,
  FIXED_CTRL,
  GP,
  MAX_FIXED_COUNTERS,
  MAX_GP_COUNTERS,
  MSR,
  OK,
  RDPMC_FAST,
  RDPMC_FIXED,
  STATUS_MISC_BITS,
  counterBits,
  decodeFixedCounter,
  decodeGpCounter,
  fixedCtrlAllowed,
  gpMask,
  intelCounterCandidates,
  ok,
  packGlobalCtrl,
  packGlobalStatus,
  perfCapabilities,
  statusBits,
  toU64,
} from './intel-msr.codec';
import type { IntelPmuConfig, IntelPmuState } from './intel-pmu.config';
import { modeMask, sortOverflows, type CounterSlot, type HostCounterConfig, type PmuModel, type PmuOverflow, type PmuStateBase, type RegResult, type WriteResult } from './pmu.types';

export {
  DEBUGCTL,
  EVTSEL,
  FIXED_COUNTER_ID_BASE,
  FIXED_CTRL,
  GLOBAL_STATUS_BITS,
  MAX_FIXED_COUNTERS,
  MAX_GP_COUNTERS,
  MSR,
  RDPMC_FAST,
  RDPMC_FIXED,
} from './intel-msr.codec';
export { intelConfigFromPreset, type IntelPmuConfig, type IntelPmuState } from './intel-pmu.config';

const EMPTY: PmuOverflow[] = [];

export class IntelPmu implements PmuModel {
  readonly arch = 'intel' as const;
  readonly pmuId = 'cpu';
  readonly pmiSkidNs: number;
  readonly slots: readonly CounterSlot[];
  readonly cfg: IntelPmuConfig;

  private readonly n: number;
  private readonly m: number;
  private readonly bank: CounterBank;
  private timeNs = 0;
  private readonly eventSel: number[];
  private fixedCtrl = 0;
  private globalCtrlGp = 0;
  private globalCtrlFixed = 0;
  private statusGp = 0;
  private statusFixed = 0;
  private statusMisc = 0;
  private debugCtl = 0n;
  /** DEBUGCTL.FREEZE_PERFMON_ON_PMI, cached as a boolean for the hot path. */
  private freezeOnPmi = false;
  /** Per bank index: bit 0 count in host, bit 1 count in guest (perf/KVM's GLOBAL_CTRL switch). */
  private readonly guestHost: number[];
  private overflows: PmuOverflow[] = [];
  /** hostCandidates per workload event name, computed once (perf asks at every sched-in). */
  private readonly candidates: Record<string, readonly number[]>;

  constructor(cfg: IntelPmuConfig) {
    if (cfg.gpCounters < 0 || cfg.gpCounters > MAX_GP_COUNTERS) throw new Error(`gpCounters must be 0..${MAX_GP_COUNTERS}`);
    if (cfg.fixedCounters < 0 || cfg.fixedCounters > MAX_FIXED_COUNTERS) throw new Error(`fixedCounters must be 0..${MAX_FIXED_COUNTERS}`);
    if (cfg.gpWidthBits > 52 || cfg.fixedWidthBits > 52) throw new Error('Intel counter widths above 52 bits are not modelled');
    this.cfg = { ...cfg };
    this.n = cfg.gpCounters;
    this.m = cfg.fixedCounters;
    this.pmiSkidNs = cfg.pmiSkidNs;
    const widths = [...Array(this.n).fill(cfg.gpWidthBits), ...Array(this.m).fill(cfg.fixedWidthBits)];
    this.bank = new CounterBank(widths);
    this.eventSel = Array(this.n).fill(0);
    this.guestHost = Array(this.n + this.m).fill(3);
    const slots: CounterSlot[] = [];
    for (let i = 0; i < this.n; i++) slots.push({ counterId: i, kind: 'gp', widthBits: cfg.gpWidthBits });
    for (let i = 0; i < this.m; i++) slots.push({ counterId: FIXED_COUNTER_ID_BASE + i, kind: 'fixed', widthBits: cfg.fixedWidthBits });
    this.slots = slots;
    for (let i = 0; i < this.m; i++) this.bank.eventIdx[this.n + i] = eventIndex(INTEL_FIXED_COUNTER_EVENTS[i]);
    this.candidates = {};
    for (const e of WORKLOAD_EVENT_NAMES) this.candidates[e] = Object.freeze(this.computeCandidates(e));
    this.reset();
  }

  get nowNs(): number {
    return this.timeNs;
  }

  /**
   * Power-on state; GLOBAL_CTRL resets to the mask of GP counters (perfmon v2+, Intel SDM vol. 3).
   * Below version 2 there is no GLOBAL_CTRL and every counter is enabled by its own EN bit: the
   * engine keeps the mask set (an AMD host without PerfMonV2 runs so).
   */
  reset(): void {
    for (let i = 0; i < this.n + this.m; i++) this.bank.write(i, 0);
    this.eventSel.fill(0);
    this.fixedCtrl = 0;
    this.globalCtrlGp = gpMask(this.n);
    this.globalCtrlFixed = 0;
    this.statusGp = 0;
    this.statusFixed = 0;
    this.statusMisc = 0;
    this.debugCtl = 0n;
    this.freezeOnPmi = false;
    this.guestHost.fill(3);
    this.recompute();
  }

  // ------------------------------------------------------------------------------------------
  // MSR interface (as seen by a guest under KVM).

  rdmsr(msr: number): RegResult {
    const gpLegacy = msr - MSR.IA32_PMC0;
    if (gpLegacy >= 0 && gpLegacy < MAX_GP_COUNTERS) {
      if (gpLegacy < this.n) return ok(this.bank.readBig(gpLegacy));
      // KVM quirk: MSR_P6_PERFCTR0/1 (0xC1/0xC2) read 0 when the counter does not exist.
      return gpLegacy < 2 ? ok(0n) : GP;
    }
    const gpFull = msr - MSR.IA32_A_PMC0;
    if (gpFull >= 0 && gpFull < MAX_GP_COUNTERS) {
      if (!this.cfg.fullWidthWrites || gpFull >= this.n) return GP;
      return ok(this.bank.readBig(gpFull));
    }
    const sel = msr - MSR.IA32_PERFEVTSEL0;
    if (sel >= 0 && sel < MAX_GP_COUNTERS) return sel < this.n ? ok(BigInt(this.eventSel[sel])) : GP;
    const fixed = msr - MSR.FIXED_CTR0;
    if (fixed >= 0 && fixed < MAX_FIXED_COUNTERS) return fixed < this.m ? ok(this.bank.readBig(this.n + fixed)) : GP;
    switch (msr) {
      case MSR.FIXED_CTR_CTRL:
        return this.cfg.perfmonVersion >= 2 ? ok(BigInt(this.fixedCtrl)) : GP;
      case MSR.PERF_GLOBAL_CTRL:
        return this.cfg.perfmonVersion >= 2 ? ok(this.globalCtrlBig()) : GP;
      case MSR.PERF_GLOBAL_STATUS:
        return this.cfg.perfmonVersion >= 2 ? ok(this.globalStatusBig()) : GP;
      case MSR.PERF_GLOBAL_OVF_CTRL:
        // Write-1-to-clear; reads as 0.
        return this.cfg.perfmonVersion >= 2 ? ok(0n) : GP;
      case MSR.PERF_GLOBAL_STATUS_SET:
        return this.hasStatusSet() ? ok(0n) : GP;
      case MSR.PERF_CAPABILITIES:
        return ok(this.perfCapabilities());
      case MSR.DEBUGCTL:
        return ok(this.debugCtl);
      default:
        return GP;
    }
  }

  wrmsr(msr: number, value: number | bigint): WriteResult {
    const v = toU64(value);
    const gpLegacy = msr - MSR.IA32_PMC0;
    if (gpLegacy >= 0 && gpLegacy < MAX_GP_COUNTERS) {
      if (gpLegacy >= this.n) return gpLegacy < 2 ? OK : GP; // 0xC1/0xC2 writes dropped (KVM quirk)
      // Legacy PMC writes: bits 31:0 sign-extended (KVM: data = (s64)(s32)data), then the width.
      this.bank.write(gpLegacy, BigInt.asIntN(32, v));
      return OK;
    }
    const gpFull = msr - MSR.IA32_A_PMC0;
    if (gpFull >= 0 && gpFull < MAX_GP_COUNTERS) {
      if (!this.cfg.fullWidthWrites || gpFull >= this.n) return GP;
      if (v >> BigInt(this.cfg.gpWidthBits) !== 0n) return GP; // beyond the counter width
      this.bank.write(gpFull, v);
      return OK;
    }
    const sel = msr - MSR.IA32_PERFEVTSEL0;
    if (sel >= 0 && sel < MAX_GP_COUNTERS) {
      if (sel >= this.n) return GP;
      if (v >> 32n !== 0n || (Number(v) & EVTSEL_RESERVED_LOW) !== 0) return GP;
      this.eventSel[sel] = Number(v);
      this.recompute();
      return OK;
    }
    const fixed = msr - MSR.FIXED_CTR0;
    if (fixed >= 0 && fixed < MAX_FIXED_COUNTERS) {
      if (fixed >= this.m) return GP;
      this.bank.write(this.n + fixed, BigInt.asUintN(this.cfg.fixedWidthBits, v));
      return OK;
    }
    if (this.cfg.perfmonVersion < 2) return msr === MSR.PERF_CAPABILITIES || msr === MSR.DEBUGCTL ? this.wrmsrMisc(msr, v) : GP;
    switch (msr) {
      case MSR.FIXED_CTR_CTRL: {
        // 4 bits per existing fixed counter; ANY (bit 2 of each field) is reserved under KVM.
        const allowed = fixedCtrlAllowed(this.m);
        if ((v & ~BigInt(allowed)) !== 0n) return GP;
        this.fixedCtrl = Number(v);
        this.recompute();
        return OK;
      }
      case MSR.PERF_GLOBAL_CTRL: {
        if ((v & ~this.counterBitsBig()) !== 0n) return GP;
        this.globalCtrlGp = Number(v & 0xffff_ffffn);
        this.globalCtrlFixed = Number(v >> 32n);
        this.recompute();
        return OK;
      }
      case MSR.PERF_GLOBAL_STATUS:
        return GP; // read-only for the guest
      case MSR.PERF_GLOBAL_OVF_CTRL: {
        if ((v & ~this.statusBitsBig()) !== 0n) return GP;
        this.setStatus(v, false);
        return OK;
      }
      case MSR.PERF_GLOBAL_STATUS_SET: {
        if (!this.hasStatusSet()) return GP;
        if ((v & ~this.statusBitsBig()) !== 0n) return GP;
        this.setStatus(v, true);
        return OK;
      }
      default:
        return this.wrmsrMisc(msr, v);
    }
  }

  private wrmsrMisc(msr: number, v: bigint): WriteResult {
    if (msr === MSR.DEBUGCTL) {
      if ((v & ~DEBUGCTL_ALLOWED) !== 0n) return GP;
      this.debugCtl = v;
      this.freezeOnPmi = (v & DEBUGCTL.FREEZE_PERFMON_ON_PMI) !== 0n;
      return OK;
    }
    return GP; // PERF_CAPABILITIES is read-only for the guest; anything else is not ours
  }

  /** RDPMC as KVM emulates it: bit 31 (fast) #GPs, bit 30 selects fixed counters. */
  rdpmc(index: number): RegResult {
    if (!Number.isInteger(index) || index < 0 || index >= 2 ** 32) return GP;
    if (index >= RDPMC_FAST) return GP;
    if (index & RDPMC_FIXED) {
      const i = index & (RDPMC_FIXED - 1);
      return i < this.m ? ok(this.bank.readBig(this.n + i)) : GP;
    }
    return index < this.n ? ok(this.bank.readBig(index)) : GP;
  }

  /** CPUID.0AH as this PMU would enumerate it (EAX, EBX, EDX). */
  cpuid0a(): { eax: number; ebx: number; edx: number } {
    const eax = (this.cfg.perfmonVersion & 0xff) | (this.n << 8) | (this.cfg.gpWidthBits << 16) | (7 << 24);
    return { eax: eax >>> 0, ebx: 0, edx: (this.m & 0x1f) | (this.cfg.fixedWidthBits << 5) };
  }

  // ------------------------------------------------------------------------------------------
  // Analytic time.

  advanceTo(nowNs: number, rates: EventRates, mode: ExecMode): void {
    this.advance(nowNs - this.timeNs, rates, mode);
  }

  advance(dtNs: number, rates: EventRates, mode: ExecMode): void {
    if (dtNs < 0 || !Number.isSafeInteger(dtNs)) throw new Error(`IntelPmu.advance: bad dtNs ${dtNs}`);
    if (dtNs === 0) return;
    const bank = this.bank;
    // Freeze-on-PMI needs the counters stopped at the first PMI-raising overflow; otherwise one
    // bulk step counts everything and reports each wrap at its exact instant.
    if (this.freezeOnPmi && bank.interruptLiveCount(rates, mode) > 0) {
      const t = bank.nextInterruptWrapInNs(rates, mode);
      if (t <= dtNs) {
        bank.advance(t, this.timeNs, rates, mode);
        this.timeNs += t;
        this.drainWraps();
        this.advance(dtNs - t, rates, mode); // frozen now (or a lower bound was hit): continue
        return;
      }
    }
    bank.advance(dtNs, this.timeNs, rates, mode);
    this.timeNs += dtNs;
    if (bank.wrapCount > 0) this.drainWraps();
  }

  nextOverflowInNs(rates: EventRates, mode: ExecMode): number {
    return this.bank.nextInterruptWrapInNs(rates, mode);
  }

  takeOverflows(): PmuOverflow[] {
    if (this.overflows.length === 0) return EMPTY;
    const out = this.overflows;
    this.overflows = [];
    return out;
  }

  private drainWraps(): void {
    const bank = this.bank;
    const count = bank.wrapCount;
    const start = this.overflows.length;
    let froze = false;
    for (let w = 0; w < count; w++) {
      const i = bank.wrapIdx[w];
      const at = bank.wrapAtNs[w];
      if (i < this.n) this.statusGp |= 1 << i;
      else this.statusFixed |= 1 << (i - this.n);
      const pmi = bank.interrupt[i] === 1;
      this.overflows.push({ counterId: this.idOf(i), overflowNs: at, pmi, pmiNs: at + this.pmiSkidNs });
      if (pmi) {
        if ((this.debugCtl & DEBUGCTL.FREEZE_PERFMON_ON_PMI) !== 0n) froze = true;
        if ((this.debugCtl & DEBUGCTL.FREEZE_LBRS_ON_PMI) !== 0n) this.statusMisc |= 1; // LBR_FRZ
      }
    }
    bank.wrapCount = 0;
    if (this.overflows.length - start > 1) sortOverflows(this.overflows, start);
    if (froze) {
      this.statusMisc |= 2; // CTR_FRZ
      this.recompute();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Host driver (arch/x86/events/intel/core.c).

  hostCandidates(event: WorkloadEventName): readonly number[] {
    return this.candidates[event] ?? this.computeCandidates(event);
  }

  private computeCandidates(event: WorkloadEventName): number[] {
    return intelCounterCandidates(event, this.n, this.m);
  }

  hostProgram(counterId: number, c: HostCounterConfig): void {
    const i = this.indexOf(counterId);
    if (i < this.n) {
      const enc = INTEL_ARCH_EVENTS[c.event];
      this.eventSel[i] =
        enc.eventSelect | (enc.umask << 8) | (c.countUser ? EVTSEL.USR : 0) | (c.countKernel ? EVTSEL.OS : 0) | (c.interrupt ? EVTSEL.INT : 0) | EVTSEL.EN;
      this.globalCtrlGp |= 1 << i;
    } else {
      const f = i - this.n;
      if (INTEL_FIXED_COUNTER_EVENTS[f] !== c.event) throw new Error(`fixed counter ${f} cannot count ${c.event}`);
      const field = (c.countKernel ? FIXED_CTRL.OS : 0) | (c.countUser ? FIXED_CTRL.USR : 0) | (c.interrupt ? FIXED_CTRL.PMI : 0);
      this.fixedCtrl = (this.fixedCtrl & ~(0xf << (4 * f))) | (field << (4 * f));
      this.globalCtrlFixed |= 1 << f;
    }
    this.guestHost[i] = (c.countHost ? 1 : 0) | (c.countGuest ? 2 : 0);
    if (c.periodEvents !== undefined) this.bank.writeToOverflowIn(i, c.periodEvents);
    else this.bank.write(i, 0);
    this.clearStatusOf(i);
    // Only counter i's registers changed: re-derive it alone (the others' inputs are untouched).
    this.recomputeCounter(i, this.frozen());
    this.bank.touch();
  }

  hostStop(counterId: number): void {
    const i = this.indexOf(counterId);
    if (i < this.n) {
      this.eventSel[i] &= ~EVTSEL.EN;
      this.globalCtrlGp &= ~(1 << i);
    } else {
      const f = i - this.n;
      this.fixedCtrl &= ~(0xf << (4 * f));
      this.globalCtrlFixed &= ~(1 << f);
    }
    this.recomputeCounter(i, this.frozen());
    this.bank.touch();
  }

  hostStopAll(): void {
    for (let i = 0; i < this.n; i++) this.eventSel[i] &= ~EVTSEL.EN;
    this.fixedCtrl = 0;
    this.globalCtrlGp = 0;
    this.globalCtrlFixed = 0;
    this.statusGp = 0;
    this.statusFixed = 0;
    this.statusMisc = 0;
    this.guestHost.fill(3);
    // What recompute() would derive, without its per-counter decode (this runs at every exit of a
    // passthrough guest): nothing counts; GP counters keep their event, umask, INT, CMASK, INV
    // and EDGE bits (only EN changed) and count in both modes again; fixed fields are all clear.
    const b = this.bank;
    b.counting.fill(0);
    for (let i = 0; i < this.n; i++) {
      const es = this.eventSel[i];
      b.modeBits[i] = modeMask((es & EVTSEL.USR) !== 0, (es & EVTSEL.OS) !== 0, true, true);
    }
    for (let i = this.n; i < this.n + this.m; i++) {
      b.modeBits[i] = 0;
      b.interrupt[i] = 0;
    }
    b.touch();
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
    this.clearStatusOf(this.indexOf(counterId));
  }

  // ------------------------------------------------------------------------------------------
  // State.

  saveState(): IntelPmuState {
    const b = this.bank;
    return {
      arch: 'intel',
      pmuId: this.pmuId,
      nowNs: this.timeNs,
      stored: Array.from(b.stored),
      acc: Array.from(b.acc),
      sinceWrite: Array.from(b.sinceWrite),
      guestHost: [...this.guestHost],
      eventSel: [...this.eventSel],
      fixedCtrl: this.fixedCtrl,
      globalCtrlGp: this.globalCtrlGp,
      globalCtrlFixed: this.globalCtrlFixed,
      statusGp: this.statusGp,
      statusFixed: this.statusFixed,
      statusMisc: this.statusMisc,
      debugCtl: Number(this.debugCtl),
    };
  }

  /** Restores registers and counter values; the PMU's own clock is kept (time is the world's). */
  loadState(state: PmuStateBase): void {
    const s = state as IntelPmuState;
    if (s.arch !== 'intel' || s.stored.length !== this.n + this.m || s.eventSel.length !== this.n) {
      throw new Error(`IntelPmu.loadState: state for a different PMU shape (${s.arch}, ${s.stored.length} counters)`);
    }
    const b = this.bank;
    for (let i = 0; i < b.size; i++) {
      b.stored[i] = s.stored[i];
      b.acc[i] = s.acc[i];
      b.sinceWrite[i] = s.sinceWrite[i];
      this.guestHost[i] = s.guestHost[i];
    }
    for (let i = 0; i < this.n; i++) this.eventSel[i] = s.eventSel[i];
    this.fixedCtrl = s.fixedCtrl;
    this.globalCtrlGp = s.globalCtrlGp;
    this.globalCtrlFixed = s.globalCtrlFixed;
    this.statusGp = s.statusGp;
    this.statusFixed = s.statusFixed;
    this.statusMisc = s.statusMisc;
    this.debugCtl = BigInt(s.debugCtl);
    this.freezeOnPmi = (this.debugCtl & DEBUGCTL.FREEZE_PERFMON_ON_PMI) !== 0n;
    this.recompute();
  }

  /**
   * Register-for-register copy of another PMU of the same shape into this one, allocation-free:
   * what KVM's passthrough context switch does at every VM entry and exit (the guest context is
   * written into / read out of the hardware). Equivalent to `loadState(src.saveState())`, and like
   * loadState it keeps this PMU's own clock. The per-counter configuration the bank derives from
   * the registers is a pure function of them, so it is copied rather than re-derived, and only
   * when some configuration register differs (a guest that did not reprogram its PMU since the
   * last switch costs a value copy).
   */
  copyStateFrom(src: IntelPmu): void {
    if (src === this) return;
    if (src.n !== this.n || src.m !== this.m || src.cfg.gpWidthBits !== this.cfg.gpWidthBits || src.cfg.fixedWidthBits !== this.cfg.fixedWidthBits) {
      throw new Error(`IntelPmu.copyStateFrom: ${src.n}+${src.m} counters into ${this.n}+${this.m} (or different widths)`);
    }
    this.bank.copyValuesFrom(src.bank);
    let sameConfig =
      this.fixedCtrl === src.fixedCtrl &&
      this.globalCtrlGp === src.globalCtrlGp &&
      this.globalCtrlFixed === src.globalCtrlFixed &&
      (this.statusMisc & 2) === (src.statusMisc & 2); // CTR_FRZ gates every counter
    for (let i = 0; sameConfig && i < this.n; i++) sameConfig = this.eventSel[i] === src.eventSel[i];
    for (let i = 0; sameConfig && i < this.n + this.m; i++) sameConfig = this.guestHost[i] === src.guestHost[i];
    if (!sameConfig) {
      for (let i = 0; i < this.n; i++) this.eventSel[i] = src.eventSel[i];
      for (let i = 0; i < this.n + this.m; i++) this.guestHost[i] = src.guestHost[i];
      this.fixedCtrl = src.fixedCtrl;
      this.globalCtrlGp = src.globalCtrlGp;
      this.globalCtrlFixed = src.globalCtrlFixed;
      this.bank.copyConfigFrom(src.bank);
    }
    this.statusGp = src.statusGp;
    this.statusFixed = src.statusFixed;
    this.statusMisc = src.statusMisc;
    this.debugCtl = src.debugCtl;
    this.freezeOnPmi = src.freezeOnPmi;
  }

  /**
   * Every counter register holds the value `other`'s does (same shape): loading `other` into this
   * PMU would need no counter write (the mediated vPMU elides those WRMSRs).
   */
  countersMatch(other: IntelPmu): boolean {
    if (other.n !== this.n || other.m !== this.m) return false;
    const a = this.bank.stored;
    const b = other.bank.stored;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /** The counter's register holds 0 (number check, no bigint: the passthrough leak check). */
  counterIsZero(counterId: number): boolean {
    return this.bank.stored[this.indexOf(counterId)] === 0;
  }

  // ------------------------------------------------------------------------------------------

  /** Bank index of a counter id (GP i = i, fixed i = 32 + i). */
  indexOf(counterId: number): number {
    if (counterId >= 0 && counterId < this.n) return counterId;
    const f = counterId - FIXED_COUNTER_ID_BASE;
    if (f >= 0 && f < this.m) return this.n + f;
    throw new Error(`IntelPmu: no counter ${counterId}`);
  }

  private idOf(i: number): number {
    return i < this.n ? i : FIXED_COUNTER_ID_BASE + (i - this.n);
  }

  private frozen(): boolean {
    return (this.statusMisc & 2) !== 0;
  }

  /** Re-derives each counter's enable, filters, event and interrupt from the registers. */
  private recompute(): void {
    const frozen = this.frozen();
    for (let i = 0; i < this.n + this.m; i++) this.recomputeCounter(i, frozen);
    this.bank.touch();
  }

  /** Re-derives counter i (bank index) from its registers; the caller touches the bank. */
  private recomputeCounter(i: number, frozen: boolean): void {
    if (i < this.n) decodeGpCounter(this.bank, i, this.eventSel[i], this.globalCtrlGp, this.guestHost[i], frozen);
    else decodeFixedCounter(this.bank, i, i - this.n, this.fixedCtrl, this.globalCtrlFixed, this.guestHost[i], frozen);
  }

  private clearStatusOf(i: number): void {
    if (i < this.n) this.statusGp &= ~(1 << i);
    else this.statusFixed &= ~(1 << (i - this.n));
  }

  private setStatus(v: bigint, set: boolean): void {
    const gp = Number(v & BigInt(gpMask(this.n)));
    const fx = Number((v >> 32n) & BigInt(gpMask(this.m)));
    let misc = 0;
    STATUS_MISC_BITS.forEach((bit, j) => {
      if ((v >> bit) & 1n) misc |= 1 << j;
    });
    const wasFrozen = this.frozen();
    if (set) {
      this.statusGp |= gp;
      this.statusFixed |= fx;
      this.statusMisc |= misc;
    } else {
      this.statusGp &= ~gp;
      this.statusFixed &= ~fx;
      this.statusMisc &= ~misc;
    }
    if (wasFrozen !== this.frozen()) this.recompute();
  }

  /** GLOBAL_STATUS_SET: Intel perfmon v4+, AMD PerfMonV2 (MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET). */
  private hasStatusSet(): boolean {
    return this.cfg.perfmonVersion >= 4 || (this.cfg.vendor === 'amd' && this.cfg.perfmonVersion >= 2);
  }

  private counterBitsBig(): bigint {
    return counterBits(this.n, this.m);
  }

  private statusBitsBig(): bigint {
    return statusBits(this.n, this.m);
  }

  private globalCtrlBig(): bigint {
    return packGlobalCtrl(this.globalCtrlGp, this.globalCtrlFixed);
  }

  private globalStatusBig(): bigint {
    return packGlobalStatus(this.statusGp, this.statusFixed, this.statusMisc);
  }

  private perfCapabilities(): bigint {
    return perfCapabilities(this.cfg.lbrFormat, this.cfg.fullWidthWrites);
  }
}
