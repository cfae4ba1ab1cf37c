// The summary trace level (scenario `trace: summary`): a host's per-exit, per-entry and per-PMI
// events of one epoch become counts per vCPU and reason (traceSummary events, stamped at the
// epoch's start), every other event stays as it is. Exits and PMIs are most of a busy world's
// events, so a large fleet records megabytes instead of gigabytes; the counts are still in the
// batches, hence recorded, hashed and checked by replay --verify like any event.
import type { PmiOwner, SimEvent, TraceSummaryEvent, TraceSummaryOf } from '@vpmu/sim';

/**
 * `events` in canonical order -> the epoch's summaries first (in the order each vCPU, kind and
 * reason first appears, so the result is a function of the events alone), then the other events
 * in their order.
 */
export function summarizeTrace(events: readonly SimEvent[], epochStartNs: number): SimEvent[] {
  const summaries = new Map<string, TraceSummaryEvent>();
  const rest: SimEvent[] = [];
  const add = (e: SimEvent, of: TraceSummaryOf, reason: string, costNs: number, flagged: boolean, owner?: PmiOwner): void => {
    const { host, vm, vcpu } = e.at;
    const key = `${host ?? ''}\u0000${vm ?? ''}\u0000${vcpu ?? ''}\u0000${of}\u0000${reason}\u0000${owner ?? ''}`;
    let s = summaries.get(key);
    if (!s) {
      s = { kind: 'traceSummary', atNs: epochStartNs, at: { ...(host !== undefined && { host }), ...(vm !== undefined && { vm }), ...(vcpu !== undefined && { vcpu }) }, of, reason, count: 0, costNs: 0, flagged: 0 };
      if (owner) s.owner = owner;
      summaries.set(key, s);
    }
    s.count++;
    s.costNs += costNs;
    if (flagged) s.flagged++;
  };
  for (const e of events) {
    switch (e.kind) {
      case 'vmExit':
        add(e, 'vmExit', e.reason, e.costNs, false);
        break;
      case 'vmEntry':
        add(e, 'vmEntry', '', e.pmuSwitchNs, e.pmiInjected);
        break;
      case 'pmi':
        add(e, 'pmi', e.counter, 0, e.lost, e.owner);
        break;
      default:
        rest.push(e);
    }
  }
  return [...summaries.values(), ...rest];
}
