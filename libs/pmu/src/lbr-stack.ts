// The hardware Last Branch Record stack of one pCPU (Intel; arm64 presets have none).
//
// Models what the vPMU questions need from the LBR (Intel SDM 3B ch. 18 "Last Branch Records"): `depth` FROM/TO/INFO entries used as a
// ring with a top-of-stack pointer (legacy MSR_LBR_TOS 0x1C9, FROM 0x680.., TO 0x6C0.., INFO
// 0xDC0..; architectural LBR has no TOS and numbers entries youngest first at FROM 0x1500.., TO
// 0x1600.., INFO 0x1200..), DEBUGCTL.LBR (bit 0: record taken branches) and
// DEBUGCTL.FREEZE_LBRS_ON_PMI (bit 11). Freeze follows the perfmon v4 semantics the IntelPmu model
// uses: a PMI with FREEZE_LBRS_ON_PMI sets GLOBAL_STATUS.LBR_FRZ and recording stops until
// software clears it (GLOBAL_OVF_CTRL) — `pmi()` / `unfreeze()`.
//
// Branch addresses are synthetic: `fill` draws them from the Prng stream it is given, so the
// stack's content is a function of the seed. Every entry carries its owner (`hostLbrOwner` /
// `guestLbrOwner`, a plain string) so a reader can count entries that are not its own — the
// foreign entries of an LBR pollution ("[PATCH v2 6/8] perf/x86/intel/lbr: guest requesting KVM for lbr stack save/restore" (W. Wang, Sep 2018), docs/lbr.md).
//
// `save()` / `restore()` are the host perf LBR context switch (intel_pmu_lbr_sched_task:
// FROM/TO/INFO and TOS into the task's perf context, written back at sched-in); DEBUGCTL is not
// part of the saved stack (it belongs to whoever runs next: host thread or VMCS guest state).
// All state is plain numbers/strings/arrays, so the world's snapshot codec can checkpoint it.

import type { LbrSnapshotEvent, Place, Prng } from '@vpmu/sim';
import type { CpuPreset } from './cpu-presets';

export const LBR_MSR = {
  LBR_SELECT: 0x1c8,
  LBR_TOS: 0x1c9,
  FROM0: 0x680,
  TO0: 0x6c0,
  INFO0: 0xdc0,
  ARCH_CTL: 0x14ce,
  ARCH_DEPTH: 0x14cf,
  ARCH_FROM0: 0x1500,
  ARCH_TO0: 0x1600,
  ARCH_INFO0: 0x1200,
} as const;

/** DEBUGCTL bits the LBR stack obeys, as numbers (IntelPmu's DEBUGCTL holds the same as bigints). */
export const LBR_DEBUGCTL = { LBR: 1 << 0, FREEZE_LBRS_ON_PMI: 1 << 11 } as const;

/** PERF_CAPABILITIES.LBR_FMT of architectural LBR (Intel SDM vol. 3 "Last Branch Records"; cpu-presets intel-spr). */
export const ARCH_LBR_FORMAT = 0x3f;

/** Owner tag of entries recorded while host thread `thread` ran. */
export function hostLbrOwner(thread: string): string {
  return `host/${thread}`;
}

/** Owner tag of entries recorded while vCPU `vcpu` of VM `vm` ran in guest mode. */
export function guestLbrOwner(vm: string, vcpu: number): string {
  return `guest/${vm}/${vcpu}`;
}

/** Owner of an entry that holds nothing (reset, never written). Never counted as foreign. */
export const LBR_NO_OWNER = '';

export interface LbrEntry {
  fromIp: number;
  toIp: number;
  /** LBR_INFO: elapsed core cycles since the previous entry (bits 15:0 in the model). */
  info: number;
  owner: string;
}

/** The saved stack (perf's task_ctx_data for the LBR): plain data. */
export interface LbrStackState {
  depth: number;
  tos: number;
  fromIps: number[];
  toIps: number[];
  infos: number[];
  owners: string[];
}

export interface LbrStackOptions {
  /** pCPU the stack belongs to (for the events it describes). */
  pcpu?: number;
  /** Architectural LBR numbering (PERF_CAPABILITIES.LBR_FMT = 0x3f) instead of TOS-relative MSRs. */
  archLbr?: boolean;
}

/** Lowest synthetic code address (keeps values far from 0 and inside safe integers). */
const CODE_BASE = 0x40_0000;
const CODE_SPAN = 0x1000_0000;

export class LbrStack {
  readonly depth: number;
  readonly pcpu: number;
  readonly archLbr: boolean;
  private debugCtlBits = 0;
  private frozenFlag = false;
  /** Physical slot of the youngest entry. */
  private tosIdx = 0;
  private readonly fromIps: number[];
  private readonly toIps: number[];
  private readonly infos: number[];
  private readonly owners: string[];
  /** Entries ever recorded (lifetime statistic). */
  private recordedTotal = 0;

  constructor(depth: number, opts: LbrStackOptions = {}) {
    if (!(Number.isInteger(depth) && depth >= 0 && depth <= 64)) throw new Error(`LBR depth must be 0..64, got ${depth}`);
    this.depth = depth;
    this.pcpu = opts.pcpu ?? -1;
    this.archLbr = opts.archLbr ?? false;
    this.fromIps = Array(depth).fill(0);
    this.toIps = Array(depth).fill(0);
    this.infos = Array(depth).fill(0);
    this.owners = Array(depth).fill(LBR_NO_OWNER);
  }

  /** The stack of one pCPU of `preset` (depth 0 on arm: no LBR). `depthOverride` = hosts[].pmu.lbrDepth. */
  static forPreset(preset: CpuPreset, pcpu: number, depthOverride?: number): LbrStack {
    if (preset.arch === 'arm') return new LbrStack(0, { pcpu });
    return new LbrStack(depthOverride ?? preset.lbrDepth, { pcpu, archLbr: preset.lbrFormat === ARCH_LBR_FORMAT });
  }

  get debugCtl(): number {
    return this.debugCtlBits;
  }

  get tos(): number {
    return this.tosIdx;
  }

  get frozen(): boolean {
    return this.frozenFlag;
  }

  /** Whether a taken branch is recorded now: DEBUGCTL.LBR set, not frozen, stack present. */
  get recording(): boolean {
    return this.depth > 0 && (this.debugCtlBits & LBR_DEBUGCTL.LBR) !== 0 && !this.frozenFlag;
  }

  get entriesRecorded(): number {
    return this.recordedTotal;
  }

  /** Loads DEBUGCTL (host thread switch, VM entry with the guest's value, guest WRMSR). */
  writeDebugCtl(value: number | bigint): void {
    const v = typeof value === 'bigint' ? Number(value & 0xffffn) : value;
    this.debugCtlBits = v & (LBR_DEBUGCTL.LBR | LBR_DEBUGCTL.FREEZE_LBRS_ON_PMI);
  }

  /** A PMI reached this CPU: with FREEZE_LBRS_ON_PMI the stack freezes (LBR_FRZ). Returns whether it froze. */
  pmi(): boolean {
    if ((this.debugCtlBits & LBR_DEBUGCTL.FREEZE_LBRS_ON_PMI) === 0 || this.depth === 0) return false;
    this.frozenFlag = true;
    return true;
  }

  /** Software cleared LBR_FRZ (GLOBAL_OVF_CTRL / GLOBAL_STATUS_RESET). */
  unfreeze(): void {
    this.frozenFlag = false;
  }

  /**
   * Records the last `branches` taken branches of the code now running, owned by `owner`.
   * Only the youngest `depth` of them can survive, so at most `depth` entries are drawn
   * (two PRNG draws each); nothing is drawn when the stack is not recording. Returns the number
   * of entries written.
   */
  fill(branches: number, owner: string, prng: Prng): number {
    if (!this.recording || !(branches > 0)) return 0;
    const n = Math.min(Math.floor(branches), this.depth);
    for (let k = 0; k < n; k++) {
      const a = prng.nextU32();
      const b = prng.nextU32();
      const fromIp = CODE_BASE + (a % CODE_SPAN);
      // Taken branches mostly land near their source: a signed displacement of up to +-32 KiB.
      const toIp = fromIp + ((b & 0xffff) - 0x8000);
      this.tosIdx = (this.tosIdx + 1) % this.depth;
      this.fromIps[this.tosIdx] = fromIp;
      this.toIps[this.tosIdx] = toIp;
      this.infos[this.tosIdx] = b >>> 16;
      this.owners[this.tosIdx] = owner;
    }
    this.recordedTotal += n;
    return n;
  }

  /** Entry `i` counted from the youngest (0). */
  entry(i: number): LbrEntry {
    if (!(Number.isInteger(i) && i >= 0 && i < this.depth)) throw new Error(`LBR entry ${i} out of range 0..${this.depth - 1}`);
    const p = this.slot(i);
    return { fromIp: this.fromIps[p], toIp: this.toIps[p], info: this.infos[p], owner: this.owners[p] };
  }

  /** Every non-empty entry, youngest first (what a reader of the whole stack gets). */
  entries(): LbrEntry[] {
    const out: LbrEntry[] = [];
    for (let i = 0; i < this.depth; i++) {
      const e = this.entry(i);
      if (e.owner !== LBR_NO_OWNER) out.push(e);
    }
    return out;
  }

  /** Entries that hold a branch recorded by someone other than `owner`. */
  countForeign(owner: string): number {
    let n = 0;
    for (const o of this.owners) if (o !== LBR_NO_OWNER && o !== owner) n++;
    return n;
  }

  /** The stack as `viewer` reads it, as an lbrSnapshot event. */
  snapshotEvent(atNs: number, at: Place, viewer: string): LbrSnapshotEvent {
    const es = this.entries();
    return {
      kind: 'lbrSnapshot',
      atNs,
      at,
      fromIps: es.map((e) => e.fromIp),
      toIps: es.map((e) => e.toIp),
      foreignEntries: this.countForeign(viewer),
    };
  }

  /** RDMSR of an LBR MSR as the hardware answers it; undefined for MSRs outside the stack. */
  readMsr(msr: number): bigint | undefined {
    const d = this.depth;
    if (d === 0) return undefined;
    if (this.archLbr) {
      if (msr === LBR_MSR.ARCH_DEPTH) return BigInt(d);
      // Architectural LBR: entry i is the i-th youngest.
      for (const [base, arr] of [[LBR_MSR.ARCH_FROM0, this.fromIps], [LBR_MSR.ARCH_TO0, this.toIps], [LBR_MSR.ARCH_INFO0, this.infos]] as const) {
        if (msr >= base && msr < base + d) return BigInt(arr[this.slot(msr - base)]);
      }
      return undefined;
    }
    if (msr === LBR_MSR.LBR_TOS) return BigInt(this.tosIdx);
    // Legacy LBR: MSR index = physical slot; software walks back from TOS.
    for (const [base, arr] of [[LBR_MSR.FROM0, this.fromIps], [LBR_MSR.TO0, this.toIps], [LBR_MSR.INFO0, this.infos]] as const) {
      if (msr >= base && msr < base + d) return BigInt(arr[msr - base]);
    }
    return undefined;
  }

  /** The stack (not DEBUGCTL) for a context switch save. */
  save(): LbrStackState {
    return {
      depth: this.depth,
      tos: this.tosIdx,
      fromIps: [...this.fromIps],
      toIps: [...this.toIps],
      infos: [...this.infos],
      owners: [...this.owners],
    };
  }

  /** Writes a saved stack back (the restore half of the context switch). */
  restore(s: LbrStackState): void {
    if (s.depth !== this.depth) throw new Error(`LbrStack.restore: saved depth ${s.depth} differs from this stack's ${this.depth}`);
    this.tosIdx = s.tos;
    for (let i = 0; i < this.depth; i++) {
      this.fromIps[i] = s.fromIps[i];
      this.toIps[i] = s.toIps[i];
      this.infos[i] = s.infos[i];
      this.owners[i] = s.owners[i];
    }
  }

  /** Reset: empty entries, TOS 0, DEBUGCTL 0, not frozen. */
  clear(): void {
    this.fromIps.fill(0);
    this.toIps.fill(0);
    this.infos.fill(0);
    this.owners.fill(LBR_NO_OWNER);
    this.tosIdx = 0;
    this.debugCtlBits = 0;
    this.frozenFlag = false;
  }

  private slot(i: number): number {
    return (((this.tosIdx - i) % this.depth) + this.depth) % this.depth;
  }
}
