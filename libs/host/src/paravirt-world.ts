// The paravirtual perf backend in the host world (vpmu.mode paravirt; the "para virt interface of perf to support kvm guest os statistics collection in guest os" thread (Y. Zhang, A. Kivity, kvm list, Jun 2010),
// docs/vpmu-backends.md "paravirt"): one PvPerfTable per VM whose host side is the host's PerfCore.
// A guest hypercall (from a guest perf session in paravirt mode, or a `hypercall` program step)
// goes through the table, which validates it and keeps guest errors (bad attributes, duplicate or
// stale ids, the per-VM limit) apart from host errors (host perf refused for a host reason: the
// VMM's KVM_RUN fails with it, the guest sees nothing).
// - Each host event is a per-task event on the vCPU thread that opened it, created disabled,
//   exclude_host only when the guest asks (the patch copies the guest's flags); ENABLE from another vCPU redirects its overflows to that vCPU (the table's owner).
// - Its overflows (PerfHooks.onSample: the table is its events' overflow handler) accumulate in
//   the table; the host PMI is an NMI, so a vCPU in guest mode exits at once, and they are handed
//   over at its re-entry (`syncBeforeEntry`, cost
//   `pvEventSyncNs` per event); the guest's handler then records them as samples (cost
//   `guestPmiHandlerNs`).
// - Every hypercall comes with the calling vCPU's port (VcpuWorldPort), which reaches host perf
//   and charges the VMCALL exit (world/vcpu-port.ts).
// - Findings: pv-limit-exceeded, pv-error-to-guest, pv-stale-id (guest side, from the table) and
//   pv-host-error (host side).
// Simplification: a host PMI of a PV event does not force an exit of its own here; the overflow
// waits for the vCPU's next entry (the guest timer alone exits every 4 ms).
import { PvPerfTable, type CostModel, type PvPerfAttr, type PvResult, type VcpuWorldPort } from '@vpmu/kvm';
import type { GuestPvPerfVcpu } from '@vpmu/guest';
import type { PvHypercallAttr, PvHypercallName, VmSpec } from '@vpmu/world-spec';
import type { SimEvent } from '@vpmu/sim';

/** Where the paravirt backend reports guest and host errors (the host world). */
export interface PvWorldHost {
  readonly id: string;
  readonly nowNs: number;
  emit(e: SimEvent): void;
}

/** A finding a hypercall raised, handed to a sink instead of the event stream (see ParavirtPart.programStep). */
export interface PvRaisedFinding {
  findingKind: string;
  detail: string;
}

/** Per-VM paravirt perf state of one host. Registered in the host snapshot registry. */
export class ParavirtWorld {
  private readonly tables = new Map<string, PvPerfTable>();
  /** Host-side failures per VM (what the VMM saw from KVM_RUN). */
  readonly hostErrors = new Map<string, number>();

  constructor(private readonly world: PvWorldHost) {}

  addVm(spec: VmSpec): void {
    if (spec.vpmu.mode !== 'paravirt' || this.tables.has(spec.id)) return;
    this.tables.set(spec.id, new PvPerfTable({ vmId: spec.id, limit: spec.vpmu.pvEventLimit }));
  }

  /** The VM leaves this host: every host event is closed through `port` (the guest keeps its counts). */
  removeVm(vm: string, port: VcpuWorldPort): void {
    const t = this.tables.get(vm);
    if (!t) return;
    t.destroy(port);
    this.tables.delete(vm);
  }

  table(vm: string): PvPerfTable | undefined {
    return this.tables.get(vm);
  }

  /**
   * One hypercall from the port's vCPU of `vm`: guest errors become findings, host errors
   * pv-host-error. With `sink`, the findings go to it instead of the event stream (a caller
   * making many calls at once folds the repeats into one finding each).
   */
  hypercall(port: VcpuWorldPort, vm: string, call: PvHypercallName, id: number, attr?: PvPerfAttr, sink?: (f: PvRaisedFinding) => void): PvResult {
    const t = this.table(vm);
    const vcpu = port.vcpu;
    let r: PvResult;
    if (!t) {
      r = { ok: false, side: 'guest', errno: 'EOPNOTSUPP', reason: `${vm} has no paravirtual perf interface (vpmu.mode is not paravirt)`, finding: { findingKind: 'pv-error-to-guest', detail: `${vm}: hypercall ${call} without KVM_FEATURE_PV_PERF` } };
    } else if (call === 'open') r = t.open(port, id, attr ?? defaultAttr());
    else r = t[call](port, id);
    if (!r.ok) {
      let f: PvRaisedFinding;
      if (r.side === 'guest') f = { findingKind: r.finding.findingKind, detail: `${vm}/vcpu${vcpu}: ${r.reason} → ${r.errno} to the guest` };
      else {
        this.hostErrors.set(vm, (this.hostErrors.get(vm) ?? 0) + 1);
        f = { findingKind: 'pv-host-error', detail: `${vm}/vcpu${vcpu}: ${r.reason} (${r.errno}); the guest's hypercall is not answered` };
      }
      if (sink) sink(f);
      else this.emitFinding(vm, vcpu, f);
    }
    return r;
  }

  /** A paravirt finding of `vm`'s vCPU at the world's current time; `count` > 1 when it stands for repeats. */
  emitFinding(vm: string, vcpu: number, f: PvRaisedFinding, count = 1): void {
    const at = { host: this.world.id, vm, vcpu };
    this.world.emit({ kind: 'finding', atNs: this.world.nowNs, at, findingKind: f.findingKind, detail: f.detail, ...(count > 1 && { count }) });
  }

  /**
   * Before the port's vCPU of `vm` enters: hand its events' overflows to the guest sessions.
   * Returns the host time spent (pvEventSyncNs per event) and the overflows delivered.
   */
  syncBeforeEntry(port: VcpuWorldPort, vm: string, sessions: readonly GuestPvPerfVcpu[]): { costNs: number; overflows: number; deliveries: number } {
    const t = this.table(vm);
    if (!t) return { costNs: 0, overflows: 0, deliveries: 0 };
    let overflows = 0;
    const ds = t.syncBeforeEntry(port);
    for (const d of ds) {
      overflows += d.overflows;
      // The owner may be another vCPU's session (ENABLE moved it): deliver to whichever holds the id.
      for (const s of sessions) if (s.deliver(d.id, d.overflows)) break;
    }
    return { costNs: ds.length * port.costs.costNs('pvEventSyncNs'), overflows, deliveries: ds.length };
  }

  /** A host event's count without a hypercall (observer view); null when `id` is not open. */
  peek(port: VcpuWorldPort, vm: string, id: number): number | null {
    return this.table(vm)?.peek(port, id) ?? null;
  }
}

/**
 * What one hypercall's VMCALL exit costs: the exit (~1,530-1,560 cycles on Skylake-SP, W. Li, kvm
 * list, Mar 2020; docs/cost-model.md) plus the host perf work, perfEventCreateNs for an open and
 * perfEventToggleNs for the others (no public figure for either, cost-model.ts).
 */
export function hypercallExitCostNs(costs: CostModel, call: PvHypercallName): number {
  return costs.costNs('hypercallExitCycles') + (call === 'open' ? costs.costNs('perfEventCreateNs') : costs.costNs('perfEventToggleNs'));
}

function defaultAttr(): PvPerfAttr {
  return { type: 0, config: 1, samplePeriod: 0, freq: false, sampleType: 0, excludeUser: false, excludeKernel: false, flags: 0 };
}

/** A program step's attribute as the table takes it. */
export function pvAttrOfProgram(a: PvHypercallAttr): PvPerfAttr {
  return { type: a.type, config: a.config, samplePeriod: a.period, freq: a.freq, sampleType: a.sampleType, excludeUser: a.excludeUser, excludeKernel: a.excludeKernel, flags: a.flags };
}
