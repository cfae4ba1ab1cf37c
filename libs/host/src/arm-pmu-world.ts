// arm64 heterogeneous PMUs in the host world (docs/arm64-pmu.md): one ArmPmuDevice
// (libs/kvm/src/arm-pmu-device.ts) per VM on a big.LITTLE host preset. HostWorld calls in:
// - at VM creation: the default PMU by probe order (`hosts[].armPmuProbeOrder`), SET_PMU from
//   `vpmu.armPmu`, SET_NR_COUNTERS from `vpmu.nrCounters` (outcomes reported as action results),
//   and the up-front affinity check (one `arm-pmu-affinity` finding per vCPU whose affinity reaches
//   pCPUs the PMU does not cover, saying what to change);
// - at each VM entry (`enter`): KVM_RUN on a pCPU outside a SET_PMU PMU fails entry
//   (KVM_EXIT_FAIL_ENTRY / CPU_UNSUPPORTED): the world stops that vCPU and reports
//   `arm-entry-failed`;
// - for each guest-mode segment (`guestRan`): time on an uncovered pCPU counts nothing; a stretch
//   of such time yields `guest-counter-stopped-wrong-core` with the time lost (`lostNs=`), and the
//   vCPU's guest-observed counts only include the time on covered pCPUs;
// - timeline `setPmu` and program steps setPmu / setNrCounters / armRead / armWrite / loop.
import { ArmPmuDevice, WRONG_CORE_FINDING } from '@vpmu/kvm';
import { armClusterOfCpus, armClusterRateScales, EventRates, getCpuPreset, MODE_GUEST, WORKLOAD_EVENT_NAMES, type ArmPmuReg, type ArmPmuSpec, type WorkloadEventName } from '@vpmu/pmu';
import type { HostSpec, ProgramOp, VmSpec } from '@vpmu/world-spec';
import type { FindingEvent, SimEvent } from '@vpmu/sim';

/** Finding kind of a timeline action's outcome (the summary lists them under vms.<id>.actions). */
export const ACTION_OUTCOME_FINDING = 'timeline-action';

export interface ArmWorldSink {
  emit(e: SimEvent): void;
}

interface ArmVm {
  dev: ArmPmuDevice;
  /** Guest ns per vCPU on pCPUs the PMU covers (what the guest's counters counted). */
  countedNs: number[];
  /** The guest counts (has guest perf sessions): wrong-core time is lost time. */
  counting: boolean;
  failed: boolean[];
}

export class ArmPmuWorld {
  private readonly vms = new Map<string, ArmVm>();
  /** The preset's cluster (core type) of each pCPU. */
  readonly clusterOfCpu: number[];
  /** Per cluster, each workload event's rate factor against the fastest core (armClusterRateScales). */
  private readonly rateScales: Float64Array[];

  private constructor(
    private readonly hostId: string,
    private readonly spec: HostSpec,
  ) {
    const preset = getCpuPreset(spec.cpu) as ArmPmuSpec;
    this.clusterOfCpu = armClusterOfCpus(preset, spec.pcpus);
    this.rateScales = armClusterRateScales(preset, WORKLOAD_EVENT_NAMES);
  }

  /** Number of core types (clusters) of the host. */
  get coreTypes(): number {
    return this.rateScales.length;
  }

  /**
   * A workload's rates on each core type: a little core retires fewer instructions per ns
   * (capacity-dmips-mhz x clock) and counts fewer cycles per ns (its clock) than the big one.
   */
  coreRates(rates: EventRates): EventRates[] {
    return this.rateScales.map((f) => rates.scaledBy(f));
  }

  /** The preset cluster whose pCPUs the VM's guest counters count on (its PMU's), or null without a device. */
  countingCoreType(vm: string): number | null {
    const d = this.vms.get(vm)?.dev;
    if (!d) return null;
    const cpu = d.coveredCpus[0];
    return cpu === undefined ? null : this.clusterOfCpu[cpu];
  }

  /** The host's arm64 PMU device model, or null on a host without arm PMUs. */
  static create(hostId: string, spec: HostSpec): ArmPmuWorld | null {
    return getCpuPreset(spec.cpu).arch === 'arm' ? new ArmPmuWorld(hostId, spec) : null;
  }

  has(vm: string): boolean {
    return this.vms.has(vm);
  }

  /** The VM's PMU id and N as the guest sees them (migration state, migration-world.ts), or null. */
  pmuOf(vm: string): { pmuId: string; nrCounters: number } | null {
    const d = this.vms.get(vm)?.dev;
    return d ? { pmuId: d.pmuId, nrCounters: d.nrCounters } : null;
  }

  /** Creates the VM's PMU device: SET_PMU / SET_NR_COUNTERS from the spec, then the affinity check. */
  addVm(spec: VmSpec, sink: ArmWorldSink, nowNs: number): void {
    const preset = getCpuPreset(this.spec.cpu);
    if (preset.arch !== 'arm' || spec.vpmu.mode === 'none') return;
    const dev = new ArmPmuDevice({
      host: this.hostId,
      vm: spec.id,
      vcpus: spec.vcpus,
      preset,
      pcpus: this.spec.pcpus,
      ...(this.spec.armPmuProbeOrder && { probeOrder: this.spec.armPmuProbeOrder }),
      ...(this.spec.pmu?.gpCounters !== undefined && { countersOverride: this.spec.pmu.gpCounters }),
    });
    this.vms.set(spec.id, { dev, countedNs: Array(spec.vcpus).fill(0), counting: spec.guestPerf.length > 0, failed: Array(spec.vcpus).fill(false) });
    const at = { host: this.hostId, vm: spec.id };
    if (spec.vpmu.armPmu !== undefined) sink.emit(outcome(nowNs, at, 'setPmu', spec.vpmu.armPmu, dev.setPmu(spec.vpmu.armPmu)));
    if (spec.vpmu.nrCounters !== undefined) sink.emit(outcome(nowNs, at, 'setNrCounters', String(spec.vpmu.nrCounters), dev.setNrCounters(spec.vpmu.nrCounters)));
    // vpmu.filter on arm64: each event is a PMUv3 event number (event | umask << 8), one FILTER
    // range each, after SET_PMU as a VMM does it (a later SET_PMU to another PMU is then EBUSY).
    for (const e of spec.vpmu.filter?.events ?? []) {
      const ev = e.eventSelect | (e.umask << 8);
      sink.emit(outcome(nowNs, at, 'setFilter', `0x${ev.toString(16)}`, dev.setFilter({ baseEvent: ev, nevents: 1, action: spec.vpmu.filter!.action === 'allow' ? 0 : 1 })));
    }
    for (const msg of dev.affinityProblems(spec)) sink.emit({ kind: 'finding', atNs: nowNs, at, findingKind: 'arm-pmu-affinity', detail: msg });
  }

  removeVm(vm: string): void {
    this.vms.delete(vm);
  }

  /** KVM_RUN of `vcpu` on `pcpu`: null when it enters, else the failure message. */
  enter(vm: string, vcpu: number, pcpu: number): string | null {
    const a = this.vms.get(vm);
    if (!a) return null;
    const r = a.dev.enter(vcpu, pcpu);
    if (r.ok) return null;
    a.failed[vcpu] = true;
    return `KVM_RUN: ${r.exitReason} (${r.failureReason}): ${r.message}; the VMM stops the vCPU`;
  }

  /** Guest-mode time [startNs, endNs) of `vcpu` on `pcpu`: counted or lost, wrong-core findings. */
  guestRan(vm: string, vcpu: number, pcpu: number, startNs: number, endNs: number): FindingEvent[] {
    const a = this.vms.get(vm);
    if (!a || endNs <= startNs) return [];
    if (a.dev.countsOn(pcpu)) a.countedNs[vcpu] += endNs - startNs;
    return a.dev.accountGuestRun(vcpu, pcpu, startNs, endNs, a.counting);
  }

  /** Whether the VM's guest counters can count `event` (its PMU's PMCEID, filter applied); true without a device. */
  guestCountsEvent(vm: string, event: string): boolean {
    const d = this.vms.get(vm)?.dev;
    return !d || d.guestCountsEvent(event as WorkloadEventName);
  }

  /** Guest ns the vCPU's counters counted (null when the VM has no device). */
  countedNs(vm: string, vcpu: number): number | null {
    return this.vms.get(vm)?.countedNs[vcpu] ?? null;
  }

  /** Timeline `setPmu` on a VM of this host: the outcome as a timeline-action record. */
  timelineSetPmu(vm: string, pmu: string, nowNs: number): SimEvent {
    const a = this.vms.get(vm);
    const at = { host: this.hostId, vm };
    if (!a) return outcome(nowNs, at, 'setPmu', pmu, { ok: false, errno: 'ENXIO', message: `${vm} has no arm64 PMUv3 device on host ${this.hostId}` });
    return outcome(nowNs, at, 'setPmu', pmu, a.dev.setPmu(pmu));
  }

  /** A guest program step on an arm VM: device attributes, PMU register access, a loop of known work. */
  programStep(vm: string, op: ProgramOp, pcpuOf: (vcpu: number) => number): { result: 'ok' | 'gp' | 'undefined'; value: number; errno?: string; vcpu: number } {
    const a = this.vms.get(vm);
    if (!a) return { result: 'undefined', value: 0, vcpu: 'vcpu' in op ? op.vcpu : 0 };
    const dev = a.dev;
    const attr = (r: { ok: true } | { ok: false; errno: string }) => ({ result: 'ok' as const, value: 0, vcpu: 0, ...(!r.ok && { errno: r.errno }) });
    switch (op.op) {
      case 'setPmu':
        return attr(dev.setPmu(op.pmu));
      case 'setNrCounters':
        return attr(dev.setNrCounters(op.n));
      case 'armRead':
      case 'armWrite': {
        // A guest MRS / MSR is guest code too: it takes a KVM_RUN, after which SET_PMU,
        // SET_NR_COUNTERS and FILTER are refused (kvm_vm_has_ran_once, arch/arm64/kvm/pmu-emul.c).
        if (this.enter(vm, op.vcpu, pcpuOf(op.vcpu)) !== null) return { result: 'undefined', value: 0, vcpu: op.vcpu };
        const r = dev.guestAccess(op.vcpu, op.reg as ArmPmuReg, op.n, op.op === 'armWrite' ? BigInt(op.value) : undefined);
        return r.ok ? { result: 'ok', value: op.op === 'armRead' ? Number(r.value) : op.value, vcpu: op.vcpu } : { result: 'undefined', value: 0, vcpu: op.vcpu };
      }
      case 'loop': {
        // The loop is guest code: KVM_RUN on the vCPU's first pCPU (the VM has now run).
        const pcpu = pcpuOf(op.vcpu);
        if (this.enter(vm, op.vcpu, pcpu) !== null) return { result: 'undefined', value: 0, vcpu: op.vcpu };
        if (dev.countsOn(pcpu)) {
          // Exact counts: over 2^16 ns a rate of n * 2^-16 events/ns gives n events (runLoopOn).
          dev.guestPmu(op.vcpu).advance(65536, EventRates.of({}, { instructions: op.instructions / 65536, branches: op.branches / 65536, cycles: op.instructions / 65536 }), MODE_GUEST);
        }
        return { result: 'ok', value: op.instructions, vcpu: op.vcpu };
      }
      default:
        return { result: 'undefined', value: 0, vcpu: 0 };
    }
  }

  /** End of the run: close the open wrong-core stretches. */
  flush(nowNs: number): FindingEvent[] {
    return [...this.vms.values()].flatMap((a) => a.dev.flushWrongCore(nowNs));
  }
}

function outcome(atNs: number, at: { host: string; vm: string }, action: string, arg: string, r: { ok: true } | { ok: false; errno: string; message: string }): SimEvent {
  return { kind: 'finding', atNs, at, findingKind: ACTION_OUTCOME_FINDING, detail: r.ok ? `${action} ${arg}: ok` : `${action} ${arg}: ${r.errno}: ${r.message}` };
}

export { WRONG_CORE_FINDING };
