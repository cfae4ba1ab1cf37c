// The KVM arm64 PMU device of one VM on a heterogeneous host (big and little clusters, each its
// own PMU): the KVM_ARM_VCPU_PMU_V3_CTRL attributes the VMM sets (FILTER, SET_PMU,
// SET_NR_COUNTERS, INIT), the entry check of KVM_RUN, whether a vCPU counts on a given pCPU, the
// wrong-core accounting, and the guest-visible PMU registers of each vCPU.
//
// Follows Documentation/virt/kvm/devices/vcpu.rst (KVM_ARM_VCPU_PMU_V3_CTRL),
// arch/arm64/kvm/pmu-emul.c and the design thread of "[PATCH v3 3/4] KVM: arm64: Add KVM_ARM_VCPU_PMU_V3_SET_PMU attribute" (A. Elisei, Jan 2022)
// (A. Elisei / M. Zyngier, Dec 2021 - Jan 2022, "KVM: arm64: Add KVM_ARM_VCPU_PMU_V3_SET_PMU"):
// - Without SET_PMU, KVM's events go to the first PMU in probe order that can create them
//   (perf_init_event walks the PMU list; a PMU only exists on this host if it covers a pCPU), so
//   every VM uses that PMU; a vCPU running on a pCPU of another cluster counts nothing.
// - SET_PMU (attr 3) is VM-wide (the PMU is stored in struct kvm, as Zyngier asked in the
//   thread): -ENXIO for an unknown PMU id; -EBUSY once the vCPU's PMU is initialized, once a vCPU
//   has run, or when an event filter is set and the id differs from the current PMU
//   (kvm_arm_pmu_v3_set_pmu in the seed: "Can't change PMU if filters are already in place").
//   It restricts the VM to the PMU's CPUs: KVM_RUN on another CPU fails entry
//   (KVM_EXIT_FAIL_ENTRY, hardware_entry_failure_reason KVM_EXIT_FAIL_ENTRY_CPU_UNSUPPORTED), and
//   resets the counter count to the new PMU's N.
// - SET_NR_COUNTERS (attr 4): 0..N of the PMU, seen by the guest as PMCR_EL0.N; larger -> -EINVAL.
//   Counters >= N are RAZ/WI in PM{CNTEN,INTEN,OVS}{SET,CLR}; PMEVCNTR/PMEVTYPER n >= N are
//   UNDEFINED (the wrapped ArmPmu implements both).
// - FILTER (attr 2): event ranges allowed or denied; the first filter's action sets the opposite
//   default; -EBUSY once a vCPU has run; -EINVAL for a bad action or a range past the PMU's event
//   space. PMCEID0/1 seen by the guest = the chosen PMU's PMCEID masked by the filter, and a
//   filtered event does not count.
// - Any attribute after INIT (attr 1) of that vCPU -> -EBUSY (pmu.created). The VMM always INITs
//   before the first KVM_RUN, so `enter` initializes a vCPU that was not.
// State is plain data plus one ArmPmu (a registered model class) per vCPU for the guest's view.

import { ARM_EVENT_FOR, ArmPmu, armClusterOfCpus, armConfigFromCluster, type ArmAccessResult, type ArmPmuReg, type ArmPmuSpec, type WorkloadEventName } from '@vpmu/pmu';
import type { FindingEvent } from '@vpmu/sim';

export const KVM_ARM_VCPU_PMU_V3_ATTR = { IRQ: 0, INIT: 1, FILTER: 2, SET_PMU: 3, SET_NR_COUNTERS: 4 } as const;
// struct kvm_pmu_event_filter.action values (the x86 filter's KVM_PMU_EVENT_ALLOW/DENY, event-filter.ts).
const KVM_PMU_EVENT_ALLOW = 0;
const KVM_PMU_EVENT_DENY = 1;
/** hardware_entry_failure_reason of a KVM_EXIT_FAIL_ENTRY on a CPU the VM's PMU does not cover. */
export const KVM_EXIT_FAIL_ENTRY_CPU_UNSUPPORTED = 1n << 63n;

export const WRONG_CORE_FINDING = 'guest-counter-stopped-wrong-core';

export type ArmPmuErrno = 'ENXIO' | 'EBUSY' | 'EINVAL';
export type ArmPmuAttrResult = { ok: true } | { ok: false; errno: ArmPmuErrno; message: string };

export type ArmPmuEnterResult =
  | { ok: true }
  | { ok: false; exitReason: 'KVM_EXIT_FAIL_ENTRY'; failureReason: 'CPU_UNSUPPORTED'; message: string };

export interface ArmPmuFilterRange {
  baseEvent: number;
  nevents: number;
  /** KVM_PMU_EVENT_ALLOW (0) / KVM_PMU_EVENT_DENY (1); other values are EINVAL. */
  action: number;
}

/** One PMU of the host as KVM sees it (drivers/perf/arm_pmuv3.c registers one per core type). */
export interface ArmHostPmu {
  pmuId: string;
  /** PMCR_EL0.N of the core type (or the host's `pmu.gpCounters` override). */
  counters: number;
  pmceid0: number;
  pmceid1: number;
  counterWidthBits: number;
  pmiSkidNs: number;
  /** pCPUs of the cluster (its supported_cpus). */
  cpus: number[];
}

export interface ArmPmuDeviceOptions {
  host: string;
  vm: string;
  vcpus: number;
  preset: ArmPmuSpec;
  pcpus: number;
  /** hosts[].armPmuProbeOrder: PMU ids first in this order, the others after in preset order. */
  probeOrder?: readonly string[];
  /** hosts[].pmu.gpCounters override of every cluster's N. */
  countersOverride?: number;
}

/** The host's PMUs in probe order; PMUs that cover no pCPU of this host are not registered. */
export function armHostPmus(preset: ArmPmuSpec, pcpus: number, probeOrder: readonly string[] = [], countersOverride?: number): ArmHostPmu[] {
  const clusterOf = armClusterOfCpus(preset, pcpus);
  const all = preset.clusters.map(
    (c, ci): ArmHostPmu => ({
      pmuId: c.pmuId,
      counters: countersOverride ?? c.counters,
      pmceid0: c.pmceid0 >>> 0,
      pmceid1: c.pmceid1 >>> 0,
      counterWidthBits: c.counterWidthBits,
      pmiSkidNs: c.pmiSkidNs,
      cpus: clusterOf.flatMap((k, cpu) => (k === ci ? [cpu] : [])),
    }),
  );
  const rank = (id: string) => {
    const i = probeOrder.indexOf(id);
    return i < 0 ? probeOrder.length : i;
  };
  return all
    .map((p, i) => ({ p, i }))
    .sort((a, b) => rank(a.p.pmuId) - rank(b.p.pmuId) || a.i - b.i)
    .map((x) => x.p)
    .filter((p) => p.cpus.length > 0);
}

interface WrongCoreStretch {
  startNs: number;
  lostNs: number;
  pcpus: number[];
}

export class ArmPmuDevice {
  readonly host: string;
  readonly vm: string;
  readonly vcpus: number;
  readonly hostPmus: readonly ArmHostPmu[];
  /** Largest event number + 1 a filter may name (kvm_pmu_event_mask: 10 bits on PMUv3 v8.0, 16 after). */
  readonly nrEvents: number;
  private readonly pmuVersion: string;
  private pmuIndex: number;
  private explicit = false;
  private n: number;
  private filterRanges: ArmPmuFilterRange[] = [];
  private filterDefaultAllow = true;
  private readonly initialized: boolean[];
  private ranOnce = false;
  private guestViews: ArmPmu[] | null = null;
  private readonly stretches: (WrongCoreStretch | null)[];
  private readonly lostTotalNs: number[];

  constructor(opts: ArmPmuDeviceOptions) {
    if (!(Number.isInteger(opts.vcpus) && opts.vcpus > 0)) throw new Error(`vcpus must be a positive integer, got ${opts.vcpus}`);
    this.host = opts.host;
    this.vm = opts.vm;
    this.vcpus = opts.vcpus;
    this.hostPmus = armHostPmus(opts.preset, opts.pcpus, opts.probeOrder ?? [], opts.countersOverride);
    if (this.hostPmus.length === 0) throw new Error(`host ${opts.host} has no arm PMU covering a pCPU`);
    this.pmuVersion = opts.preset.pmuVersion;
    this.nrEvents = opts.preset.pmuVersion === 'v3' ? 0x400 : 0x10000;
    // Default PMU: the first in probe order that can create the event (all arm PMUs accept a
    // raw per-task event, so the first registered one).
    this.pmuIndex = 0;
    this.n = this.hostPmus[0].counters;
    this.initialized = Array(opts.vcpus).fill(false);
    this.stretches = Array(opts.vcpus).fill(null);
    this.lostTotalNs = Array(opts.vcpus).fill(0);
  }

  /** The PMU the VM's events are created on. */
  get pmuId(): string {
    return this.pmu.pmuId;
  }
  /** SET_PMU succeeded (entry is then restricted to the PMU's CPUs). */
  get pmuExplicit(): boolean {
    return this.explicit;
  }
  /** PMCR_EL0.N the guest sees. */
  get nrCounters(): number {
    return this.n;
  }
  /** N of the chosen PMU: the SET_NR_COUNTERS limit. */
  get maxCounters(): number {
    return this.pmu.counters;
  }
  get coveredCpus(): readonly number[] {
    return this.pmu.cpus;
  }
  get hasRun(): boolean {
    return this.ranOnce;
  }
  get filterSet(): boolean {
    return this.filterRanges.length > 0;
  }

  // ---------------------------------------------------------------------------------------------
  // KVM_SET_DEVICE_ATTR, group KVM_ARM_VCPU_PMU_V3_CTRL (issued on vCPU `vcpu`'s fd).

  /** KVM_ARM_VCPU_PMU_V3_SET_PMU. */
  setPmu(pmuId: string, vcpu = 0): ArmPmuAttrResult {
    const busy = this.attrBusy(vcpu, 'SET_PMU');
    if (busy) return busy;
    const idx = this.hostPmus.findIndex((p) => p.pmuId === pmuId);
    if (idx < 0) {
      return fail('ENXIO', `SET_PMU ${pmuId}: no such PMU on host ${this.host} (known: ${this.hostPmus.map((p) => p.pmuId).join(', ')})`);
    }
    if (this.ranOnce) return fail('EBUSY', `SET_PMU ${pmuId}: a vCPU of ${this.vm} has already run; set the PMU before the first KVM_RUN`);
    if (this.filterSet && idx !== this.pmuIndex) {
      return fail('EBUSY', `SET_PMU ${pmuId}: an event filter is set for ${this.pmuId}; set the PMU before the filter`);
    }
    this.pmuIndex = idx;
    this.explicit = true;
    this.n = this.hostPmus[idx].counters;
    this.guestViews = null;
    return OK;
  }

  /** KVM_ARM_VCPU_PMU_V3_SET_NR_COUNTERS. */
  setNrCounters(n: number, vcpu = 0): ArmPmuAttrResult {
    const busy = this.attrBusy(vcpu, 'SET_NR_COUNTERS');
    if (busy) return busy;
    if (this.ranOnce) return fail('EBUSY', `SET_NR_COUNTERS ${n}: a vCPU of ${this.vm} has already run`);
    if (!(Number.isInteger(n) && n >= 0 && n <= this.maxCounters)) {
      return fail('EINVAL', `SET_NR_COUNTERS ${n}: ${this.pmuId} has ${this.maxCounters} event counters; use 0..${this.maxCounters}`);
    }
    this.n = n;
    this.guestViews = null;
    return OK;
  }

  /** KVM_ARM_VCPU_PMU_V3_FILTER: one event range. */
  setFilter(f: ArmPmuFilterRange, vcpu = 0): ArmPmuAttrResult {
    const busy = this.attrBusy(vcpu, 'FILTER');
    if (busy) return busy;
    if (this.ranOnce) return fail('EBUSY', `FILTER: a vCPU of ${this.vm} has already run; filters must be set before the first KVM_RUN`);
    if (f.action !== KVM_PMU_EVENT_ALLOW && f.action !== KVM_PMU_EVENT_DENY) return fail('EINVAL', `FILTER: action ${f.action} is neither ALLOW (0) nor DENY (1)`);
    if (!(Number.isInteger(f.baseEvent) && Number.isInteger(f.nevents) && f.baseEvent >= 0 && f.nevents >= 0 && f.baseEvent + f.nevents <= this.nrEvents)) {
      return fail('EINVAL', `FILTER: events ${f.baseEvent}+${f.nevents} exceed the PMU's ${this.nrEvents} event numbers`);
    }
    // The default depends on the first filter: allowing events makes the default deny.
    if (!this.filterSet) this.filterDefaultAllow = f.action === KVM_PMU_EVENT_DENY;
    this.filterRanges.push({ baseEvent: f.baseEvent, nevents: f.nevents, action: f.action });
    this.guestViews = null;
    return OK;
  }

  /** KVM_ARM_VCPU_PMU_V3_INIT of one vCPU (all when `vcpu` is omitted). */
  init(vcpu?: number): ArmPmuAttrResult {
    const list = vcpu === undefined ? [...this.initialized.keys()] : [vcpu];
    for (const v of list) {
      this.checkVcpu(v);
      if (this.initialized[v]) return fail('EBUSY', `INIT: the PMU of ${this.vm} vCPU ${v} is already initialized`);
    }
    for (const v of list) this.initialized[v] = true;
    return OK;
  }

  // ---------------------------------------------------------------------------------------------
  // Placement.

  /** Whether KVM_RUN can enter the guest on `pcpu` (only SET_PMU restricts the CPUs). */
  canEnter(pcpu: number): boolean {
    return !this.explicit || this.pmu.cpus.includes(pcpu);
  }

  /** Whether the VM's guest counters count while a vCPU runs on `pcpu`. */
  countsOn(pcpu: number): boolean {
    return this.pmu.cpus.includes(pcpu);
  }

  /**
   * KVM_RUN of `vcpu` on `pcpu`. The first run marks the VM as having run (even if entry then
   * fails) and initializes the vCPU's PMU if the VMM had not.
   */
  enter(vcpu: number, pcpu: number): ArmPmuEnterResult {
    this.checkVcpu(vcpu);
    this.initialized[vcpu] = true;
    this.ranOnce = true;
    if (this.canEnter(pcpu)) return { ok: true };
    return {
      ok: false,
      exitReason: 'KVM_EXIT_FAIL_ENTRY',
      failureReason: 'CPU_UNSUPPORTED',
      message: `${this.vm} vCPU ${vcpu} on pCPU ${pcpu}: PMU ${this.pmuId} (SET_PMU) covers pCPUs ${ranges(this.pmu.cpus)} only`,
    };
  }

  /**
   * Up-front check of a VM's affinity (the scenario layer tells the user): with SET_PMU, pCPUs
   * outside the PMU fail entry; without it, they silently stop the guest's counters.
   */
  affinityProblems(vm: { affinity: readonly (readonly number[])[] }): string[] {
    const out: string[] = [];
    vm.affinity.forEach((cpus, vcpu) => {
      const outside = [...new Set(cpus)].filter((c) => !this.countsOn(c)).sort((a, b) => a - b);
      if (outside.length === 0) return;
      const covered = ranges(this.pmu.cpus);
      out.push(
        this.explicit
          ? `vms.${this.vm}.affinity[${vcpu}]: pCPUs ${ranges(outside)} are not covered by PMU ${this.pmuId} (set with SET_PMU); ` +
              `KVM_RUN fails there (KVM_EXIT_FAIL_ENTRY, CPU_UNSUPPORTED): restrict the affinity to pCPUs ${covered}`
          : `vms.${this.vm}.affinity[${vcpu}]: pCPUs ${ranges(outside)} are not covered by PMU ${this.pmuId} (picked by probe order, no SET_PMU); ` +
              `guest counters stop counting there: set vpmu.armPmu or restrict the affinity to pCPUs ${covered}`,
      );
    });
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Wrong-core accounting.

  /**
   * `vcpu` ran in guest mode on `pcpu` over [startNs, endNs). Time on a pCPU the PMU does not cover
   * is lost to the guest's counters when it is counting (default: its PMCR.E and some PMCNTEN bit
   * set). A stretch of such runs ends at the next run on a covered pCPU, which returns one
   * `guest-counter-stopped-wrong-core` finding with the time lost in the stretch.
   */
  accountGuestRun(vcpu: number, pcpu: number, startNs: number, endNs: number, guestCounting = this.guestCounting(vcpu)): FindingEvent[] {
    this.checkVcpu(vcpu);
    if (endNs < startNs) throw new Error(`accountGuestRun: endNs ${endNs} < startNs ${startNs}`);
    if (this.countsOn(pcpu)) return this.closeStretch(vcpu, startNs);
    if (!guestCounting || endNs === startNs) return [];
    let s = this.stretches[vcpu];
    if (!s) s = this.stretches[vcpu] = { startNs, lostNs: 0, pcpus: [] };
    s.lostNs += endNs - startNs;
    if (!s.pcpus.includes(pcpu)) s.pcpus.push(pcpu);
    this.lostTotalNs[vcpu] += endNs - startNs;
    return [];
  }

  /** Closes every open stretch (end of the run, or an epoch boundary the world chooses). */
  flushWrongCore(nowNs: number): FindingEvent[] {
    return this.stretches.flatMap((_, v) => this.closeStretch(v, nowNs));
  }

  /** Guest counting time lost on wrong cores so far (open stretches included). */
  lostNs(vcpu: number): number {
    this.checkVcpu(vcpu);
    return this.lostTotalNs[vcpu];
  }

  // ---------------------------------------------------------------------------------------------
  // Guest-visible PMU registers.

  /** Whether the guest may count common event `ev` (the filter; no filter = all). */
  eventAllowed(ev: number): boolean {
    let allowed = this.filterDefaultAllow;
    for (const r of this.filterRanges) if (ev >= r.baseEvent && ev < r.baseEvent + r.nevents) allowed = r.action === KVM_PMU_EVENT_ALLOW;
    return allowed;
  }

  /** PMCEID0/1 as the guest reads them: the chosen PMU's, with filtered events cleared. */
  guestPmceid(): { pmceid0: number; pmceid1: number } {
    let m0 = 0;
    let m1 = 0;
    for (let b = 0; b < 32; b++) {
      if (this.eventAllowed(b)) m0 |= 1 << b;
      if (this.eventAllowed(32 + b)) m1 |= 1 << b;
    }
    return { pmceid0: (this.pmu.pmceid0 & m0) >>> 0, pmceid1: (this.pmu.pmceid1 & m1) >>> 0 };
  }

  /**
   * Whether a guest counter programmed with workload event `event` counts: the event's common
   * event number must be in the PMCEID the guest reads, which KVM computes from the PMU of the VM
   * (the SET_PMU one, else the default) with filtered events cleared (kvm_pmu_get_pmceid,
   * compute_pmceid0/1 over kvm->arch.arm_pmu's pmceid_bitmap, arch/arm64/kvm/pmu-emul.c), never
   * from another core type's PMU. The cycle counter always counts; an event with no PMUv3 common
   * event number does not.
   */
  guestCountsEvent(event: WorkloadEventName): boolean {
    if (event === 'cycles') return true;
    const num = ARM_EVENT_FOR[event];
    if (num === undefined || num >= 64) return false;
    const { pmceid0, pmceid1 } = this.guestPmceid();
    return (((num < 32 ? pmceid0 : pmceid1) >>> (num & 31)) & 1) === 1;
  }

  /** The guest's view of `vcpu`'s PMU: N = the device's N, PMCEID masked (a filtered event does not count). */
  guestPmu(vcpu: number): ArmPmu {
    this.checkVcpu(vcpu);
    if (!this.guestViews) {
      const p = this.pmu;
      const { pmceid0, pmceid1 } = this.guestPmceid();
      const cluster = {
        pmuId: p.pmuId,
        core: p.pmuId,
        counters: this.n,
        counterWidthBits: p.counterWidthBits,
        pmceid0,
        pmceid1,
        share: 0,
        pmiSkidNs: p.pmiSkidNs,
        nominalGhz: 0,
        capacityDmipsPerMhz: 0,
      };
      this.guestViews = Array.from({ length: this.vcpus }, () => new ArmPmu(armConfigFromCluster(cluster, { hasPmuV3p5: pmuV3Minor(this.pmuVersion) >= 5 })));
    }
    return this.guestViews[vcpu];
  }

  /** A guest MRS/MSR of a PMU register (`write` undefined = read); UNDEFINED as ArmPmu reports it. */
  guestAccess(vcpu: number, reg: ArmPmuReg, n?: number, write?: number | bigint): ArmAccessResult {
    return this.guestPmu(vcpu).access(reg, n, write);
  }

  private guestCounting(vcpu: number): boolean {
    if (!this.guestViews) return false;
    const pmu = this.guestViews[vcpu];
    const pmcr = pmu.read('PMCR_EL0');
    const en = pmu.read('PMCNTENSET_EL0');
    return pmcr.ok && en.ok && (pmcr.value & 1n) === 1n && en.value !== 0n;
  }

  private closeStretch(vcpu: number, nowNs: number): FindingEvent[] {
    const s = this.stretches[vcpu];
    if (!s) return [];
    this.stretches[vcpu] = null;
    return [
      {
        kind: 'finding',
        atNs: nowNs,
        at: { host: this.host, vm: this.vm, vcpu, pcpu: s.pcpus[0] },
        findingKind: WRONG_CORE_FINDING,
        detail:
          `${this.vm} vCPU ${vcpu} ran ${s.lostNs} ns on pCPUs ${ranges([...s.pcpus].sort((a, b) => a - b))} (not covered by ${this.pmuId}) ` +
          `from ${s.startNs} ns: its counters counted nothing there (lostNs=${s.lostNs})`,
      },
    ];
  }

  private attrBusy(vcpu: number, attr: string): ArmPmuAttrResult | null {
    this.checkVcpu(vcpu);
    return this.initialized[vcpu] ? fail('EBUSY', `${attr}: the PMU of ${this.vm} vCPU ${vcpu} is already initialized`) : null;
  }

  private checkVcpu(vcpu: number): void {
    if (!(Number.isInteger(vcpu) && vcpu >= 0 && vcpu < this.vcpus)) throw new Error(`${this.vm}: no vCPU ${vcpu} (0..${this.vcpus - 1})`);
  }

  private get pmu(): ArmHostPmu {
    return this.hostPmus[this.pmuIndex];
  }
}

const OK: ArmPmuAttrResult = Object.freeze({ ok: true });

function fail(errno: ArmPmuErrno, message: string): ArmPmuAttrResult {
  return { ok: false, errno, message };
}

/** 'v3p5' -> 5; 'v3' -> 0. */
function pmuV3Minor(version: string): number {
  const m = /^v3p(\d+)$/.exec(version);
  return m ? Number(m[1]) : 0;
}

/** "0-3,6" */
function ranges(cpus: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j] + 1) j++;
    out.push(i === j ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return out.join(',');
}
