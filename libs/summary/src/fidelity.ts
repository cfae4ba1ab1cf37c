// vms.<id>.fidelity in summary.json: could a record/replay debugger (rr) run in this guest?
// Built from the VM's fidelity figures (guestPerf records with command "fidelity", emitted by the
// host world at the end of the run: libs/host/src/guest-fidelity.ts) and the VM's findings.
// rr needs exact counts (its tick counter must read the same at the same point of every run),
// deterministic counting across VM exits, and precise PMIs (each one, within its skid margin).
import type { FindingEvent, GuestPerfEvent } from '@vpmu/sim';

export const FIDELITY_RECORD_COMMAND = 'fidelity';
/** The model's counters and their ground truth differ by at most the PMU's fractional carry. */
export const COUNT_TOLERANCE_EVENTS = 1;

export interface VmFidelity {
  counts: { exact: boolean; maxAbsError: number; checks: number; toleranceEvents: number };
  pmis: {
    precise: boolean;
    raised: number;
    delivered: number;
    lost: number;
    /** Raised and still in flight when the run ended (neither injected nor yet counted lost): raised = delivered + lost + pending. */
    pending?: number;
    late: number;
    imprecise: number;
    skidP50Ns: number;
    skidMaxNs: number;
    /** The skid (guest run time past the overflow) a replay debugger absorbs. */
    skidToleranceNs: number;
  };
  branches: { deterministic: boolean; maxAbsError: number; checks: number; exits: number };
  isolation: { checks: number; leaks: number };
  /** `verdict === 'usable'`. */
  replayDebuggerUsable: boolean;
  /**
   * `usable` needs evidence: no reason against AND a checked retired-branch counter (rr's tick
   * counter) AND delivered PMIs (rr's interrupt). Without them it is `not measured`, never usable.
   */
  verdict: 'usable' | 'not usable' | 'not measured';
  /** Why not (empty when usable or not measured). */
  reasons: string[];
  /** The evidence a `not measured` verdict lacks (empty otherwise). */
  unmeasured: string[];
}

/** Findings that break record/replay, and what each means for it. */
const REPLAY_BREAKERS: Record<string, string> = {
  'counter-overcount': 'counters count events the guest did not retire',
  'counter-undercount': 'counters miss events the guest retired',
  'guest-counter-stuck': 'a guest counter does not count',
  'guest-counter-starved': 'host perf events starve the guest counters',
  'user-count-includes-kernel': 'user-only counts include guest-kernel events',
  'branch-miscount': 'branch counts change across VM exits',
  'pmi-lost': 'PMIs are lost',
  'pmi-late': 'PMIs are injected late',
  'pmi-imprecise': 'PMI skid exceeds what a replay debugger absorbs',
  'pmi-misattributed': 'guest PMIs are taken by the host',
  'counter-leak': 'counters hold values the guest did not produce',
  'counter-discontinuity': 'counters jump across live migration',
  'guest-counter-stopped-wrong-core': 'counting stops on some core types',
};

export class FidelityCollector {
  private readonly figures = new Map<string, Map<string, number>>();
  private readonly findings = new Map<string, Map<string, number>>();

  onRecord(e: GuestPerfEvent): void {
    if (e.at.vm === undefined) return;
    let m = this.figures.get(e.at.vm);
    if (!m) this.figures.set(e.at.vm, (m = new Map()));
    m.set(e.event, e.count);
  }

  onFinding(e: FindingEvent): void {
    if (e.at.vm === undefined || !(e.findingKind in REPLAY_BREAKERS)) return;
    let m = this.findings.get(e.at.vm);
    if (!m) this.findings.set(e.at.vm, (m = new Map()));
    m.set(e.findingKind, (m.get(e.findingKind) ?? 0) + (e.count ?? 1)); // a folded finding counts for its repeats
  }

  build(vmId: string, vpmuMode: string): VmFidelity {
    const f = this.figures.get(vmId) ?? new Map<string, number>();
    const n = (k: string): number => f.get(k) ?? 0;
    const kinds = this.findings.get(vmId) ?? new Map<string, number>();
    const skidToleranceNs = n('skidToleranceNs');
    const fid: VmFidelity = {
      counts: { exact: n('countMaxAbsError') <= COUNT_TOLERANCE_EVENTS, maxAbsError: n('countMaxAbsError'), checks: n('countChecks'), toleranceEvents: COUNT_TOLERANCE_EVENTS },
      pmis: {
        precise: n('pmisLost') === 0 && n('pmisLate') === 0 && n('skidMaxNs') <= skidToleranceNs,
        raised: n('pmisRaised'),
        delivered: n('pmisDelivered'),
        lost: n('pmisLost'),
        pending: n('pmisPending'),
        late: n('pmisLate'),
        imprecise: n('pmisImprecise'),
        skidP50Ns: n('skidP50Ns'),
        skidMaxNs: n('skidMaxNs'),
        skidToleranceNs,
      },
      branches: { deterministic: n('branchMaxAbsError') <= COUNT_TOLERANCE_EVENTS && !kinds.has('branch-miscount'), maxAbsError: n('branchMaxAbsError'), checks: n('branchChecks'), exits: n('exits') },
      isolation: { checks: n('isolationChecks'), leaks: n('leaks') },
      replayDebuggerUsable: false,
      verdict: 'not usable',
      reasons: [],
      unmeasured: [],
    };
    const reasons = fid.reasons;
    if (vpmuMode === 'none') reasons.push('no PMU is exposed to the guest (vpmu mode none)');
    else if (vpmuMode === 'paravirt') reasons.push('the guest has no architectural PMU (paravirtual perf hypercalls only)');
    else if (f.size === 0) reasons.push('fidelity not measured for this VM (no x86 vPMU model for it)');
    if (!fid.counts.exact) reasons.push(`guest counts are off by up to ${fid.counts.maxAbsError} events`);
    if (!fid.branches.deterministic && fid.branches.maxAbsError > COUNT_TOLERANCE_EVENTS && !kinds.has('branch-miscount')) reasons.push(`branch counts are off by up to ${fid.branches.maxAbsError}`);
    if (fid.pmis.skidMaxNs > skidToleranceNs && !kinds.has('pmi-imprecise')) reasons.push(`PMI skid up to ${fid.pmis.skidMaxNs} ns exceeds ${skidToleranceNs} ns`);
    for (const [kind, count] of [...kinds.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      reasons.push(`${kind}: ${REPLAY_BREAKERS[kind]}${count > 1 ? ` (${count} findings)` : ''}`);
    }
    if (reasons.length === 0) {
      // No evidence against is not evidence for: rr relies on a retired-branch counter and on PMIs.
      if (fid.branches.checks === 0) fid.unmeasured.push('no retired-branch counter was checked (rr counts retired conditional branches; the guest counted none)');
      if (fid.pmis.delivered === 0) fid.unmeasured.push('no PMI reached the guest (rr stops the tracee with a counter overflow PMI; none was raised)');
    }
    fid.verdict = reasons.length > 0 ? 'not usable' : fid.unmeasured.length > 0 ? 'not measured' : 'usable';
    fid.replayDebuggerUsable = fid.verdict === 'usable';
    return fid;
  }
}
