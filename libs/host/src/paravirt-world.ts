// The paravirtual perf backend in the host world (vpmu.mode paravirt; seed paravirt-perf.txt,
// docs/vpmu-backends.md "paravirt"): one PvPerfTable per VM whose host side is the host's PerfCore.
// A guest hypercall (from a guest perf session in paravirt mode, or a `hypercall` program step)
// goes through the table, which validates it and keeps guest errors (bad attributes, duplicate or
// stale ids, the per-VM limit) apart from host errors (host perf refused for a host reason: the
// VMM's KVM_RUN fails with it, the guest sees nothing).
// - Each host event is a per-task event on the vCPU thread that opened it, exclude_host, created
//   disabled; ENABLE from another vCPU redirects its overflows to that vCPU (the table's owner).
// - Its overflows (PerfHooks.onSample → PvOverflowHook) accumulate in the table and are handed
//   over at the owning vCPU's next VM entry (`syncBeforeEntry`, cost `pvEventSyncNs` per event);
//   the guest's handler then records them as samples (cost `guestPmiHandlerNs`).
// - Every hypercall is a VMCALL exit (`hypercallExitCycles`), queued as a trap record on the
//   vCPU's vPMU so the world charges it like any other exit; the host perf work behind it adds
//   perfEventCreateNs (open) or perfEventToggleNs (enable, disable, read, close).
// - Findings: pv-limit-exceeded, pv-error-to-guest, pv-stale-id (guest side, from the table) and
//   pv-host-error (host side).
// Simplification: a host PMI of a PV event does not force an exit of its own here; the overflow
// waits for the vCPU's next entry (the guest timer alone exits every 4 ms).
import { PvPerfTable, type PvHostAttr, type PvHostCreateResult, type PvHostPerfPort, type PvPerfAttr, type PvResult, type TrapRecord } from '@vpmu/kvm';
import type { CostModel } from '@vpmu/kvm';
import type { GuestPvCallResult, GuestPvHypercallPort, GuestPvPerfVcpu } from '@vpmu/guest';
import type { PerfEventAttr, PerfHooks } from '@vpmu/perf';
import type { PvHypercallAttr, PvHypercallName, VmSpec } from '@vpmu/world-spec';
import type { SimEvent } from '@vpmu/sim';

/** The host world's services the paravirt backend uses (HostWorld implements them, @internal). */
export interface PvWorldHost {
  readonly id: string;
  readonly simulatedUntilNs: number;
  emitFromModel(e: SimEvent): void;
  /** Per-task host perf event on the thread of vCPU `vcpu` of `vm` (everything synced to now first). */
  pvPerfCreate(vm: string, vcpu: number, attr: PerfEventAttr, hooks: PerfHooks): { ok: true; id: string } | { ok: false; errno: string };
  pvPerfEnable(hostId: string): void;
  pvPerfDisable(hostId: string): void;
  pvPerfClose(hostId: string): void;
  pvPerfRead(hostId: string): number;
}

/** PvHostPerfPort over the world's PerfCore, for one VM (state: world reference + VM id). */
export class WorldPvPort implements PvHostPerfPort {
  constructor(
    readonly world: PvWorldHost,
    readonly vm: string,
    readonly table: { ref: PvPerfTable | null },
  ) {}
  create(attr: PvHostAttr, vcpu: number): PvHostCreateResult {
    const a: PerfEventAttr = {
      event: attr.event,
      excludeHost: true,
      disabled: true,
      ...(attr.excludeUser && { excludeUser: true }),
      ...(attr.excludeKernel && { excludeKernel: true }),
      ...(attr.samplePeriod !== undefined && { samplePeriod: attr.samplePeriod }),
      ...(attr.sampleFreqHz !== undefined && { sampleFreqHz: attr.sampleFreqHz }),
    };
    const r = this.world.pvPerfCreate(this.vm, vcpu, a, new PvOverflowHook(this.table));
    return r.ok ? { ok: true, hostId: r.id } : { ok: false, errno: r.errno };
  }
  enable(hostId: string): void {
    // As in the 2010 patch the host event stays on the thread that opened it (a process-context
    // event of that vCPU thread); ENABLE from another vCPU only redirects the overflow delivery.
    this.world.pvPerfEnable(hostId);
  }
  disable(hostId: string): void {
    this.world.pvPerfDisable(hostId);
  }
  close(hostId: string): void {
    this.world.pvPerfClose(hostId);
  }
  read(hostId: string): number {
    return this.world.pvPerfRead(hostId);
  }
}

/** The host perf overflow handler of a PV event (kvm_perf_overflow of the patch): accumulate. */
export class PvOverflowHook implements PerfHooks {
  constructor(readonly table: { ref: PvPerfTable | null }) {}
  onSample(eventId: string): void {
    this.table.ref?.onHostOverflow(eventId);
  }
}

/** A guest's hypercall port on one vCPU (transient: built per call sequence, never stored). */
export class PvGuestPort implements GuestPvHypercallPort {
  constructor(
    private readonly pv: ParavirtWorld,
    private readonly vm: string,
    private readonly vcpu: number,
    private readonly traps: TrapRecord[],
    private readonly costs: CostModel,
  ) {}
  open(id: number, attr: PvPerfAttr): GuestPvCallResult {
    return this.do('open', id, attr);
  }
  enable(id: number): GuestPvCallResult {
    return this.do('enable', id);
  }
  disable(id: number): GuestPvCallResult {
    return this.do('disable', id);
  }
  read(id: number): GuestPvCallResult {
    return this.do('read', id);
  }
  close(id: number): GuestPvCallResult {
    return this.do('close', id);
  }
  private do(call: PvHypercallName, id: number, attr?: PvPerfAttr): GuestPvCallResult {
    // VMCALL exit on Skylake-SP ~1,530-1,560 cycles (W. Li, kvm list, Mar 2020; DOMAIN.md), plus
    // the host perf work: perfEventCreateNs for an open, perfEventToggleNs for the others (no public
    // figure for either, cost-model.ts).
    const perfNs = call === 'open' ? this.costs.costNs('perfEventCreateNs') : this.costs.costNs('perfEventToggleNs');
    this.traps.push({ reason: 'hypercall', msr: 0, costNs: this.costs.costNs('hypercallExitCycles') + perfNs });
    const r = this.pv.hypercall(this.vm, this.vcpu, call, id, attr);
    if (r.ok) return { ok: true, value: r.value ?? 0 };
    return { ok: false, errno: r.errno };
  }
}

/** Per-VM paravirt perf state of one host. Registered in the host snapshot registry. */
export class ParavirtWorld {
  private readonly tables = new Map<string, { ref: PvPerfTable | null }>();
  /** Host-side failures per VM (what the VMM saw from KVM_RUN). */
  readonly hostErrors = new Map<string, number>();

  constructor(private readonly world: PvWorldHost) {}

  addVm(spec: VmSpec): void {
    if (spec.vpmu.mode !== 'paravirt' || this.tables.has(spec.id)) return;
    const holder: { ref: PvPerfTable | null } = { ref: null };
    holder.ref = new PvPerfTable({ vmId: spec.id, limit: spec.vpmu.pvEventLimit }, new WorldPvPort(this.world, spec.id, holder));
    this.tables.set(spec.id, holder);
  }

  /** The VM leaves this host: every host event is closed (the guest keeps its counts). */
  removeVm(vm: string): void {
    const h = this.tables.get(vm);
    if (!h) return;
    h.ref?.destroy();
    this.tables.delete(vm);
  }

  table(vm: string): PvPerfTable | undefined {
    return this.tables.get(vm)?.ref ?? undefined;
  }

  /** One hypercall from vCPU `vcpu` of `vm`: guest errors become findings, host errors pv-host-error. */
  hypercall(vm: string, vcpu: number, call: PvHypercallName, id: number, attr?: PvPerfAttr): PvResult {
    const t = this.table(vm);
    let r: PvResult;
    if (!t) {
      r = { ok: false, side: 'guest', errno: 'EOPNOTSUPP', reason: `${vm} has no paravirtual perf interface (vpmu.mode is not paravirt)`, finding: { findingKind: 'pv-error-to-guest', detail: `${vm}: hypercall ${call} without KVM_FEATURE_PV_PERF` } };
    } else if (call === 'open') r = t.open(vcpu, id, attr ?? defaultAttr());
    else r = t[call](vcpu, id);
    if (!r.ok) {
      const at = { host: this.world.id, vm, vcpu };
      const atNs = this.world.simulatedUntilNs;
      if (r.side === 'guest') this.world.emitFromModel({ kind: 'finding', atNs, at, findingKind: r.finding.findingKind, detail: `${vm}/vcpu${vcpu}: ${r.reason} → ${r.errno} to the guest` });
      else {
        this.hostErrors.set(vm, (this.hostErrors.get(vm) ?? 0) + 1);
        this.world.emitFromModel({ kind: 'finding', atNs, at, findingKind: 'pv-host-error', detail: `${vm}/vcpu${vcpu}: ${r.reason} (${r.errno}); the guest's hypercall is not answered` });
      }
    }
    return r;
  }

  /**
   * Before vCPU `vcpu` of `vm` enters: hand its events' overflows to the guest sessions. Returns
   * the host time spent (pvEventSyncNs per event) and the overflows delivered.
   */
  syncBeforeEntry(vm: string, vcpu: number, sessions: readonly GuestPvPerfVcpu[], costs: CostModel): { costNs: number; overflows: number; deliveries: number } {
    const t = this.table(vm);
    if (!t) return { costNs: 0, overflows: 0, deliveries: 0 };
    let overflows = 0;
    const ds = t.syncBeforeEntry(vcpu);
    for (const d of ds) {
      overflows += d.overflows;
      // The owner may be another vCPU's session (ENABLE moved it): deliver to whichever holds the id.
      for (const s of sessions) if (s.deliver(d.id, d.overflows)) break;
    }
    return { costNs: ds.length * costs.costNs('pvEventSyncNs'), overflows, deliveries: ds.length };
  }

  /** A host event's count without a hypercall (observer view); null when `id` is not open. */
  peek(vm: string, id: number): number | null {
    const t = this.table(vm);
    const hostId = t?.hostIdOf(id);
    return hostId === undefined ? null : this.world.pvPerfRead(hostId);
  }
}

function defaultAttr(): PvPerfAttr {
  return { type: 0, config: 1, samplePeriod: 0, freq: false, sampleType: 0, excludeUser: false, excludeKernel: false, flags: 0 };
}

/** A program step's attribute as the table takes it. */
export function pvAttrOfProgram(a: PvHypercallAttr): PvPerfAttr {
  return { type: a.type, config: a.config, samplePeriod: a.period, freq: a.freq, sampleType: a.sampleType, excludeUser: a.excludeUser, excludeKernel: a.excludeKernel, flags: a.flags };
}
