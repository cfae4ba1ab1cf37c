// Perf sessions in a scenario: host `perf` sessions and guest `guestPerf` sessions, their event
// lists and sampling (`sample: { freq }` or `{ period }`).

import { WORKLOAD_EVENT_NAMES, type WorkloadEventName } from '@vpmu/pmu';
import type { GuestPerfSpec, HostPerfSession, SampleSpec } from '@vpmu/world-spec';

import { MAX_SAMPLE_RATE_HZ, SCENARIO_DEFAULTS } from './scenario.defaults';
import { ScenarioBuildContext } from './scenario-build.context';
import { keysOf } from './scenario.fields';
import { Field, MapView } from './yaml-node.reader';

/** Event names accepted in host perf and guest perf `events` lists: the workload events the PMU models count. */
export const EVENT_NAMES = WORKLOAD_EVENT_NAMES;
export type EventName = WorkloadEventName;

const KEYS = { hostPerf: keysOf('hostPerf'), sample: keysOf('sample'), guestPerf: keysOf('guestPerf') };

export function readHostPerfSession(ctx: ScenarioBuildContext, f: Field, hostLabel: string, pcpus: number | undefined, ids: Map<string, string>): HostPerfSession | undefined {
  const m = ctx.r.map(f, KEYS.hostPerf);
  if (!m) return undefined;
  const id = ctx.localId(m, ids, `perf session on host ${hostLabel}`);
  const events = readEvents(ctx, m);
  const flag = (key: string): boolean => ctx.opt(m, key, (x) => ctx.r.bool(x)) ?? false;
  const group = flag('group');
  const excludeGuest = flag('excludeGuest');
  const excludeHost = flag('excludeHost');
  const excludeUser = flag('excludeUser');
  const excludeKernel = flag('excludeKernel');
  const pinned = flag('pinned');
  if (excludeGuest && excludeHost) ctx.diag.warn(m.path, 'excludeGuest and excludeHost together count nothing', m.line);
  if (excludeUser && excludeKernel) ctx.diag.warn(m.path, 'excludeUser and excludeKernel together count nothing', m.line);
  const cpusField = m.get('cpus');
  const cpus = cpusField ? ctx.cpuList(cpusField, hostLabel, pcpus) : 'all';
  const sampleField = m.get('sample');
  const sample = sampleField && readSample(ctx, sampleField);
  const { startNs, stopNs } = ctx.startStop(m);
  const s: HostPerfSession = {
    id: id ?? '',
    events,
    group,
    excludeGuest,
    excludeHost,
    excludeUser,
    excludeKernel,
    pinned,
    cpus: cpus ?? 'all',
    startNs,
  };
  if (sample) s.sample = sample;
  if (stopNs !== undefined) s.stopNs = stopNs;
  return s;
}

export function readGuestPerfSession(ctx: ScenarioBuildContext, f: Field, vmLabel: string, ids: Map<string, string>): GuestPerfSpec | undefined {
  const m = ctx.r.map(f, KEYS.guestPerf);
  if (!m) return undefined;
  const id = ctx.localId(m, ids, `guest perf session in VM ${vmLabel}`);
  const command = ctx.opt(m, 'command', (x) => ctx.r.oneOf(x, ['stat', 'record'] as const)) ?? 'stat';
  const events = readEvents(ctx, m);
  const sampleField = m.get('sample');
  let sample: SampleSpec | undefined;
  if (sampleField) {
    sample = readSample(ctx, sampleField);
    if (command !== 'record') ctx.r.error(sampleField, 'sample only applies to command record (perf stat counts)');
  } else if (command === 'record') {
    sample = { freqHz: SCENARIO_DEFAULTS.guestRecordFreqHz };
  }
  const allCpus = ctx.opt(m, 'allCpus', (x) => ctx.r.bool(x)) ?? false;
  const callGraphField = m.get('callGraph');
  const callGraph = (callGraphField && ctx.r.oneOf(callGraphField, ['none', 'lbr'] as const)) ?? 'none';
  if (callGraphField && callGraph !== 'none' && command !== 'record') {
    ctx.r.error(callGraphField, 'callGraph only applies to command record');
  }
  const { startNs, stopNs } = ctx.startStop(m);
  const s: GuestPerfSpec = { id: id ?? '', command, events, allCpus, callGraph, startNs };
  if (sample) s.sample = sample;
  if (stopNs !== undefined) s.stopNs = stopNs;
  return s;
}

function readEvents(ctx: ScenarioBuildContext, m: MapView): string[] {
  const f = m.require('events', `a list of ${EVENT_NAMES.join(', ')}`);
  if (!f) return [];
  const items = ctx.r.list(f);
  if (!items) return [];
  if (items.length === 0) ctx.r.error(f, 'empty event list; name at least one event');
  const out: string[] = [];
  for (const it of items) {
    const e = ctx.r.oneOf(it, EVENT_NAMES);
    if (e !== undefined) out.push(e);
  }
  return out;
}

function readSample(ctx: ScenarioBuildContext, f: Field): SampleSpec | undefined {
  const m = ctx.r.map(f, KEYS.sample);
  if (!m) return undefined;
  const freqField = m.get('freq');
  const periodField = m.get('period');
  if ((freqField === undefined) === (periodField === undefined)) {
    ctx.r.error(f, 'give exactly one of freq (samples per second) or period (events per sample)');
    return undefined;
  }
  if (freqField) {
    const freqHz = ctx.r.int(freqField, { min: 1 });
    if (freqHz === undefined) return undefined;
    if (freqHz > MAX_SAMPLE_RATE_HZ) {
      ctx.r.warn(freqField, `${freqHz} Hz is above perf_event_max_sample_rate (${MAX_SAMPLE_RATE_HZ}); the kernel refuses it with EINVAL`);
    }
    return { freqHz };
  }
  const periodEvents = ctx.r.int(periodField!, { min: 1 });
  return periodEvents === undefined ? undefined : { periodEvents };
}
