// Folds a run's event stream into summary.json (schema 1). Pure and streaming: the aggregator
// feeds each epoch's decoded events in canonical order; nothing is kept per event.
import { FAULT_FINDINGS, faultKindOf, isTestOnlyFault } from '@vpmu/host';
import type { Scenario } from '@vpmu/scenario';
import type { SimEvent } from '@vpmu/sim';
import { MAX_FINDING_ENTRIES, TIMELINE_ACTION_FINDING, type FindingSummary, type InjectedFaultSummary, type HostSummary, type RunSummary, type VmSummary } from './summary.types';
import { FIDELITY_RECORD_COMMAND, FidelityCollector } from './fidelity';

export interface RunIdentity {
  id: string;
  seed: number;
  toolVersion: string;
  transport: 'in-process' | 'kafka';
}

/** The two digests of a run (see the recording's hash chain). */
export interface RunDigests {
  digestHex: string;
  contentDigestHex: string;
}

export class SummaryBuilder {
  private readonly byKind = new Map<string, number>();
  private total = 0;
  private readonly vms = new Map<string, VmSummary>();
  private readonly hosts = new Map<string, HostSummary>();
  /** Latest sample per vm -> vcpu -> event. */
  private readonly lastSample = new Map<string, Map<number, Map<string, { actual: number; observed: number }>>>();
  private readonly findings: FindingSummary[] = [];
  /** Aggregation key (kind, place, detail class) → its entry in `findings`. */
  private readonly findingIndex = new Map<string, FindingSummary>();
  private readonly perfEvents = new Map<string, Map<string, { state: string; count: number }>>();
  private readonly guestPerf = new Map<string, Map<string, VmSummary['guestPerf'][number]>>();
  deadLetters = 0;
  private readonly hostPerfFinal = new Map<string, HostSummary['perfEvents']>();
  /** vms.<id>.fidelity (fidelity.ts). */
  private readonly fidelity = new FidelityCollector();

  constructor(private readonly scenario: Scenario) {
    for (const h of scenario.hosts) this.hosts.set(h.id, { cpu: h.cpu, pcpus: h.pcpus, contextSwitches: 0, perfEvents: [] });
    for (const vm of scenario.vms) {
      this.vms.set(vm.id, {
        host: vm.host,
        vpmu: vm.vpmu.mode,
        workloadScore: 0,
        guestRunNs: 0,
        counters: {},
        vmExits: {},
        pmis: { delivered: 0, lost: 0 },
        program: [],
        migrations: [],
        guestPerf: [],
      });
      this.lastSample.set(vm.id, new Map());
    }
  }

  onEvents(events: readonly SimEvent[]): void {
    for (const e of events) {
      this.total++;
      this.byKind.set(e.kind, (this.byKind.get(e.kind) ?? 0) + 1);
      switch (e.kind) {
        case 'counterSample': {
          if (e.at.vm === undefined || e.at.vcpu === undefined) break;
          const perVcpu = this.lastSample.get(e.at.vm);
          if (!perVcpu) break;
          let m = perVcpu.get(e.at.vcpu);
          if (!m) perVcpu.set(e.at.vcpu, (m = new Map()));
          m.set(e.event, { actual: e.actual, observed: e.observed });
          break;
        }
        case 'contextSwitch': {
          const h = e.at.host !== undefined ? this.hosts.get(e.at.host) : undefined;
          if (h) h.contextSwitches++;
          break;
        }
        case 'vmExit': {
          const vm = this.vmOf(e);
          if (vm) vm.vmExits[e.reason] = (vm.vmExits[e.reason] ?? 0) + 1;
          break;
        }
        case 'pmi': {
          const vm = this.vmOf(e);
          if (vm && e.owner === 'guest') {
            if (e.lost) vm.pmis.lost++;
            else vm.pmis.delivered++;
          }
          break;
        }
        case 'traceSummary': {
          // The summary trace level's counts: the same totals as the events they stand for.
          const vm = this.vmOf(e);
          if (!vm) break;
          if (e.of === 'vmExit') vm.vmExits[e.reason] = (vm.vmExits[e.reason] ?? 0) + e.count;
          else if (e.of === 'pmi' && e.owner === 'guest') {
            vm.pmis.lost += e.flagged;
            vm.pmis.delivered += e.count - e.flagged;
          }
          break;
        }
        case 'perfState': {
          if (e.at.host === undefined || e.at.vm !== undefined) break;
          let m = this.perfEvents.get(e.at.host);
          if (!m) this.perfEvents.set(e.at.host, (m = new Map()));
          m.set(e.eventId, { state: e.to, count: e.count });
          break;
        }
        case 'finding':
          this.fidelity.onFinding(e);
          if (e.findingKind === TIMELINE_ACTION_FINDING) {
            this.onActionOutcome(e.atNs, e.at.vm, e.detail);
            break;
          }
          this.onFinding(e);
          break;
        case 'programStep': {
          const vm = this.vmOf(e);
          if (vm) {
            vm.program.push({
              step: e.step,
              op: e.op,
              result: e.errno ?? e.result,
              fault: e.errno ?? (e.result === 'ok' ? null : e.result),
              value: e.value,
              ok: e.ok,
            });
          }
          break;
        }
        case 'guestPerf': {
          if (e.command === FIDELITY_RECORD_COMMAND) {
            this.fidelity.onRecord(e);
            break;
          }
          if (e.at.vm === undefined && e.at.host !== undefined && e.command.startsWith('host-perf:')) {
            // Final host perf readings (HostWorld at the end of the run): state, count and times.
            const rows = this.hostPerfFinal.get(e.at.host) ?? [];
            rows.push({ id: e.event, state: e.command.slice('host-perf:'.length), count: e.count, timeEnabledNs: e.timeEnabledNs, timeRunningNs: e.timeRunningNs });
            this.hostPerfFinal.set(e.at.host, rows);
            break;
          }
          if (e.at.vm === undefined) break;
          if (e.command.startsWith('lbr-stats:')) {
            // Final guest LBR statistics of a VM (HostWorld / lbr-world.ts), one record per field.
            const vm = this.vms.get(e.at.vm);
            if (vm) {
              vm.lbr ??= { mode: e.command.slice('lbr-stats:'.length), reads: 0, pollutedReads: 0, foreignEntries: 0, saves: 0, restores: 0, intercepts: 0, hostEventCreates: 0, hostEventReleases: 0, timerFires: 0, msrExits: 0, costNs: 0 };
              if (e.event in vm.lbr && e.event !== 'mode') (vm.lbr as unknown as Record<string, number>)[e.event] += e.count;
            }
            break;
          }
          let m = this.guestPerf.get(e.at.vm);
          if (!m) this.guestPerf.set(e.at.vm, (m = new Map()));
          m.set(`${e.command}\u0000${e.event}`, {
            command: e.command,
            event: e.event,
            count: e.count,
            timeEnabledNs: e.timeEnabledNs,
            timeRunningNs: e.timeRunningNs,
            samples: e.samples,
          });
          break;
        }
        case 'migrationPhase': {
          const vm = this.vmOf(e);
          if (!vm) break;
          let mig = vm.migrations[vm.migrations.length - 1];
          if (e.phase === 'setup' || !mig || mig.result !== 'in-progress') {
            mig = { from: e.fromHost, to: e.toHost, phases: [], downtimeNs: 0, bytesSent: 0, result: 'in-progress' };
            vm.migrations.push(mig);
          }
          mig.phases.push({ phase: e.phase, durationNs: e.durationNs, bytes: e.bytes });
          mig.bytesSent += e.bytes;
          // Downtime: the copy while paused, plus the wait for the destination to resume.
          if (e.phase === 'stop-and-copy' || e.phase === 'resume') mig.downtimeNs += e.durationNs;
          if (e.phase === 'resume') {
            mig.result = 'completed';
            vm.host = e.toHost;
          }
          if (e.phase === 'refused') mig.result = `refused: ${e.detail ?? 'incompatible'}`;
          break;
        }
        default:
          break;
      }
    }
  }

  /** Guest-vm results: the workload score (millions of guest instructions) and guest run time. */
  setGuestResult(vmId: string, workloadUnits: number, guestRunNs: number): void {
    const vm = this.vms.get(vmId);
    if (!vm) return;
    vm.workloadScore = Math.round(workloadUnits / 1000) / 1000;
    vm.guestRunNs = guestRunNs;
  }

  /** Final host perf event table with times (from the host world, which tracks enabled/running). */
  setHostPerfEvents(hostId: string, events: HostSummary['perfEvents']): void {
    const h = this.hosts.get(hostId);
    if (h) h.perfEvents = events;
  }

  finish(run: RunIdentity, digests: RunDigests, epochs: number): RunSummary {
    for (const [vmId, perVcpu] of this.lastSample) {
      const vm = this.vms.get(vmId)!;
      const totals = new Map<string, { actual: number; observed: number }>();
      for (const vcpu of [...perVcpu.keys()].sort((a, b) => a - b)) {
        for (const [event, s] of perVcpu.get(vcpu)!) {
          const t = totals.get(event) ?? { actual: 0, observed: 0 };
          t.actual += s.actual;
          t.observed += s.observed;
          totals.set(event, t);
        }
      }
      for (const event of [...totals.keys()].sort()) {
        const t = totals.get(event)!;
        vm.counters[event] = {
          actual: t.actual,
          guestObserved: t.observed,
          errorPct: t.actual === 0 ? 0 : Math.round(((t.observed - t.actual) / t.actual) * 1e6) / 1e4,
        };
      }
      vm.guestPerf = [...(this.guestPerf.get(vmId)?.values() ?? [])];
      vm.fidelity = this.fidelity.build(vmId, vm.vpmu);
      vm.vmExits = sortedRecord(vm.vmExits);
    }
    for (const [hostId, rows] of this.hostPerfFinal) {
      const h = this.hosts.get(hostId);
      if (h && h.perfEvents.length === 0) h.perfEvents = rows;
    }
    for (const [hostId, m] of this.perfEvents) {
      const h = this.hosts.get(hostId);
      if (h && h.perfEvents.length === 0) {
        h.perfEvents = [...m.entries()].map(([id, s]) => ({ id, state: s.state, count: s.count, timeEnabledNs: 0, timeRunningNs: 0 }));
      }
    }
    return {
      schema: 1,
      run: {
        id: run.id,
        scenario: this.scenario.name,
        seed: run.seed,
        durationNs: this.scenario.durationNs,
        epochs,
        toolVersion: run.toolVersion,
        transport: run.transport,
        ...(this.scenario.trace === 'summary' && { traceLevel: 'summary' as const }),
      },
      digest: digests.digestHex,
      contentDigest: digests.contentDigestHex,
      events: { total: this.total, byKind: sortedRecord(Object.fromEntries(this.byKind)) },
      vms: Object.fromEntries([...this.vms.entries()].sort(([a], [b]) => (a < b ? -1 : 1))),
      hosts: Object.fromEntries([...this.hosts.entries()].sort(([a], [b]) => (a < b ? -1 : 1))),
      findings: this.findings,
      ...this.injectedFaults(),
      deadLetters: this.deadLetters,
    };
  }

  /** Every fault the timeline injects, with the findings of its kinds on its target (a VM, or a host and its VMs). */
  private injectedFaults(): { injectedFaults?: InjectedFaultSummary[] } {
    const faults: InjectedFaultSummary[] = [];
    for (const t of this.scenario.timeline) {
      const a = t.action;
      if (a.kind !== 'fault') continue;
      const kind = faultKindOf(a.fault) ?? a.fault;
      const findingKinds = [...((FAULT_FINDINGS as Record<string, readonly string[]>)[kind] ?? [])];
      const findings = this.findings.filter((f) => findingKinds.includes(f.kind) && (f.vm === a.target || f.host === a.target)).reduce((n, f) => n + f.count, 0);
      faults.push({ kind, target: a.target, atNs: t.atNs, durationNs: a.durationNs, testOnly: isTestOnlyFault(kind), findingKinds, findings });
    }
    return faults.length > 0 ? { injectedFaults: faults } : {};
  }

  /** Repeats (same kind, place and detail class) fold into one entry with a count and the first/last time. */
  private onFinding(e: Extract<SimEvent, { kind: 'finding' }>): void {
    const place = `${e.findingKind}\u0000${e.at.host ?? ''}\u0000${e.at.pcpu ?? ''}\u0000${e.at.vm ?? ''}\u0000${e.at.vcpu ?? ''}`;
    let key = `${place}\u0000${detailClass(e.detail)}`;
    if (!this.findingIndex.has(key) && this.findingIndex.size >= MAX_FINDING_ENTRIES) key = `${place}\u0000*`;
    const count = e.count ?? 1;
    const f = this.findingIndex.get(key);
    if (f) {
      f.count += count;
      f.lastAtNs = Math.max(f.lastAtNs, e.atNs);
      return;
    }
    const detail = key.endsWith('\u0000*') ? `${e.detail} (with the later ${e.findingKind} findings here whose details differ: the summary keeps at most ${MAX_FINDING_ENTRIES} distinct findings)` : e.detail;
    const entry: FindingSummary = { kind: e.findingKind, atNs: e.atNs, lastAtNs: e.atNs, count, host: e.at.host ?? null, vm: e.at.vm ?? null, vcpu: e.at.vcpu ?? null, detail };
    this.findingIndex.set(key, entry);
    this.findings.push(entry);
  }

  /** `<action> <arg>: ok|E...[: detail]` (the format HostWorld's timeline outcomes use). */
  private onActionOutcome(atNs: number, vmId: string | undefined, detail: string): void {
    const vm = vmId !== undefined ? this.vms.get(vmId) : undefined;
    const m = /^(\S+) (\S+): (ok|E[A-Z0-9]+)(?:: ([\s\S]*))?$/.exec(detail);
    if (!vm || !m) return;
    (vm.actions ??= []).push({ atNs, action: m[1], arg: m[2], result: m[3], errno: m[3] === 'ok' ? null : m[3], detail: m[4] ?? '' });
  }

  private vmOf(e: SimEvent): VmSummary | undefined {
    return e.at.vm !== undefined ? this.vms.get(e.at.vm) : undefined;
  }
}

/**
 * A finding's detail with its free-standing numbers masked: "id 7 ... 1.5us" and "id 8 ... 2us"
 * are one class. Numbers inside names ("cpu1", "vcpu0", "gp1") are kept: they say where.
 */
function detailClass(detail: string): string {
  return detail.replace(/\b\d+(?:\.\d+)?/g, '#');
}

function sortedRecord<T>(r: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
