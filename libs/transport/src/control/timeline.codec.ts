// Timeline actions on the wire (EpochGrant.actions) and back, plus the run context every node
// builds from RunStart.
import { OperatingError } from '@vpmu/errors';
import type { vpmu } from '@vpmu/proto';
import { parseScenario, type EventFilterSpec, type Scenario, type TimelineAction, type TimelineEntry } from '@vpmu/scenario';
import { epochCount } from '@vpmu/sim';

export interface RunContext {
  runId: string;
  scenario: Scenario;
  scenarioText: string;
  toolVersion: string;
  epochs: number;
}

export class RunStartError extends OperatingError {
  constructor(message: string) {
    super('bad-input', message);
  }
}

export function runContextFromStart(m: vpmu.v1.IRunStart): RunContext {
  const parsed = parseScenario(m.scenarioText ?? '');
  if (!parsed.ok) {
    throw new RunStartError(`run ${m.runId}: the scenario in RunStart is invalid: ${parsed.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  }
  const scenario = { ...parsed.scenario, seed: Number(m.seed ?? parsed.scenario.seed) };
  return { runId: m.runId ?? '', scenario, scenarioText: m.scenarioText ?? '', toolVersion: m.toolVersion ?? '', epochs: epochCount(scenario.durationNs, scenario.epochNs) };
}

export function toActionMessage(atNs: number, a: TimelineAction): vpmu.v1.ITimelineAction {
  switch (a.kind) {
    case 'migrate':
      return { atNs, migrate: { vm: a.vm, to: a.to, bandwidthBytesPerSec: a.bandwidthBytesPerSec, maxDowntimeNs: a.maxDowntimeNs } };
    case 'setPmu':
      return { atNs, setPmu: { vm: a.vm, pmu: a.pmu } };
    case 'hostPerf':
      return { atNs, hostPerf: { target: a.host, session: a.session, start: a.action === 'start' } };
    case 'guestPerf':
      return { atNs, guestPerf: { target: a.vm, session: a.session, start: a.action === 'start' } };
    case 'fault':
      return { atNs, fault: { kind: a.fault, target: a.target, durationNs: a.durationNs, params: a.params } };
    case 'setFilter': {
      const f = a.filter;
      if (f === null) return { atNs, setFilter: { vm: a.vm, remove: true } };
      return { atNs, setFilter: { vm: a.vm, remove: false, deny: f.action === 'deny', events: f.events, fixedCounterBitmap: f.fixedCounterBitmap, masked: f.masked } };
    }
  }
}

/** The inverse of toActionMessage, used by the nodes. */
export function fromActionMessage(m: vpmu.v1.ITimelineAction): TimelineEntry {
  const atNs = Number(m.atNs ?? 0);
  if (m.migrate) {
    return { atNs, action: { kind: 'migrate', vm: m.migrate.vm ?? '', to: m.migrate.to ?? '', bandwidthBytesPerSec: Number(m.migrate.bandwidthBytesPerSec ?? 0), maxDowntimeNs: Number(m.migrate.maxDowntimeNs ?? 0) } };
  }
  if (m.setPmu) return { atNs, action: { kind: 'setPmu', vm: m.setPmu.vm ?? '', pmu: m.setPmu.pmu ?? '' } };
  if (m.setFilter) return { atNs, action: { kind: 'setFilter', vm: m.setFilter.vm ?? '', filter: filterFromMessage(m.setFilter) } };
  if (m.hostPerf) return { atNs, action: { kind: 'hostPerf', host: m.hostPerf.target ?? '', session: m.hostPerf.session ?? '', action: m.hostPerf.start ? 'start' : 'stop' } };
  if (m.guestPerf) return { atNs, action: { kind: 'guestPerf', vm: m.guestPerf.target ?? '', session: m.guestPerf.session ?? '', action: m.guestPerf.start ? 'start' : 'stop' } };
  if (m.fault) {
    return { atNs, action: { kind: 'fault', fault: m.fault.kind ?? '', target: m.fault.target ?? '', durationNs: Number(m.fault.durationNs ?? 0), params: { ...(m.fault.params ?? {}) } } };
  }
  throw new Error('timeline action with no known kind');
}

function filterFromMessage(m: vpmu.v1.ISetFilterAction): EventFilterSpec | null {
  if (m.remove) return null;
  return {
    action: m.deny ? 'deny' : 'allow',
    events: (m.events ?? []).map((e) => ({ eventSelect: e.eventSelect ?? 0, umask: e.umask ?? 0 })),
    fixedCounterBitmap: m.fixedCounterBitmap ?? 0,
    masked: (m.masked ?? []).map((e) => ({ eventSelect: e.eventSelect ?? 0, mask: e.mask ?? 0, match: e.match ?? 0, exclude: !!e.exclude })),
  };
}
