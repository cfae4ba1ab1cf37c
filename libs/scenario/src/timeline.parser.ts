// `timeline[]` of a scenario: what happens when (migrations, arm64 PMU changes, host and guest
// perf sessions started and stopped, faults), every reference checked, and each VM followed
// through its migrations in time order.

import { formatDurationNs, type TimelineAction, type TimelineEntry } from '@vpmu/world-spec';

import { FAULT_PARAMS, faultKindOf, FIDELITY_FAULT_KINDS, MAX_FAULT_EVENTS, TEST_ONLY_FAULT_KINDS, type FaultParamType } from '@vpmu/host';
import { WORKLOAD_EVENT_NAMES } from '@vpmu/pmu';

import { didYouMean } from './did-you-mean';
import { SCENARIO_DEFAULTS } from './scenario.defaults';
import { readEventFilter } from './vpmu-spec.parser';
import { ScenarioBuildContext } from './scenario-build.context';
import { keysOf, TIMELINE_ACTIONS } from './scenario.fields';
import { childPath, Field } from './yaml-node.reader';


const KEYS = {
  timeline: keysOf('timeline'),
  migrate: keysOf('migrate'),
  tlSetPmu: keysOf('tlSetPmu'),
  tlSetFilter: keysOf('tlSetFilter'),
  tlHostPerf: keysOf('tlHostPerf'),
  tlGuestPerf: keysOf('tlGuestPerf'),
  fault: keysOf('fault'),
};

export function readTimelineEntry(ctx: ScenarioBuildContext, f: Field): TimelineEntry | undefined {
  const m = ctx.r.map(f, KEYS.timeline);
  if (!m) return undefined;
  const atField = m.require('at', 'when, e.g. `at: 50ms`');
  const atNs = atField && ctx.atTime(atField);
  const present = TIMELINE_ACTIONS.filter((a) => m.has(a));
  if (present.length !== 1) {
    ctx.r.error(
      f,
      present.length === 0
        ? `give one action: ${TIMELINE_ACTIONS.join(', ')}`
        : `has ${present.join(' and ')}; give one action per timeline entry`,
    );
    return undefined;
  }
  const kind = present[0];
  const body = m.get(kind)!;
  const action = readTimelineAction(ctx, kind, body);
  if (atNs === undefined || action === undefined) return undefined;
  return { atNs, action };
}

function readTimelineAction(ctx: ScenarioBuildContext, kind: (typeof TIMELINE_ACTIONS)[number], f: Field): TimelineAction | undefined {
  const startStop = ['start', 'stop'] as const;
  switch (kind) {
    case 'migrate': {
      const m = ctx.r.map(f, KEYS.migrate);
      if (!m) return undefined;
      const vm = ctx.optReq(m, 'vm', (x) => ctx.vmRef(x));
      const to = ctx.optReq(m, 'to', (x) => ctx.hostRef(x));
      const bandwidthBytesPerSec =
        ctx.opt(m, 'bandwidth', (x) => ctx.r.bandwidth(x, { min: 1 })) ?? SCENARIO_DEFAULTS.migrate.bandwidthBytesPerSec;
      const maxDowntimeNs = ctx.opt(m, 'maxDowntime', (x) => ctx.r.duration(x, { min: 0 })) ?? SCENARIO_DEFAULTS.migrate.maxDowntimeNs;
      if (!vm || !to) return undefined;
      return { kind, vm: vm.id, to: to.id, bandwidthBytesPerSec, maxDowntimeNs };
    }
    case 'setPmu': {
      const m = ctx.r.map(f, KEYS.tlSetPmu);
      if (!m) return undefined;
      const vm = ctx.optReq(m, 'vm', (x) => ctx.vmRef(x));
      const pmu = ctx.optReq(m, 'pmu', (x) => ctx.nonEmptyString(x));
      if (!vm || pmu === undefined) return undefined;
      return { kind, vm: vm.id, pmu };
    }
    case 'setFilter': {
      // KVM_SET_PMU_EVENT_FILTER on a running x86 VM: every vCPU reprograms its counters
      // (KVM_REQ_PMU). The emulated vPMU recreates or releases backing perf events; the mediated
      // vPMU and the RFC's passthrough with event-select interception reprogram the hardware
      // selectors from the guest's values ("KVM: x86/pmu: Reprogram mediated PMU event selectors
      // on event filter updates"). Without interception KVM never sees the guest's selectors.
      const m = ctx.r.map(f, KEYS.tlSetFilter);
      if (!m) return undefined;
      const vm = ctx.optReq(m, 'vm', (x) => ctx.vmRef(x));
      const filterField = m.get('filter');
      const remove = ctx.opt(m, 'remove', (x) => ctx.r.bool(x)) ?? false;
      if (!!filterField === remove) {
        ctx.r.error(f, 'give either filter (the new KVM event filter) or remove: true');
        return undefined;
      }
      const filter = filterField ? readEventFilter(ctx, filterField) : null;
      if (!vm || filter === undefined) return undefined;
      const arm = ctx.hosts.get(vm.host)?.cpu.startsWith('arm') ?? false;
      if (arm || (vm.vpmu.mode !== 'mediated' && vm.vpmu.mode !== 'emulated' && vm.vpmu.mode !== 'passthrough')) {
        const what = arm ? `runs on arm64 host ${vm.host} (KVM_SET_PMU_EVENT_FILTER is x86; use vpmu.filter with the PMU device)` : `has vpmu.mode ${vm.vpmu.mode}`;
        ctx.r.error(f, `VM ${vm.id} ${what}; changing the filter of a running VM is modelled for modes emulated, passthrough (with interceptEventSelect) and mediated`);
        return undefined;
      }
      if (vm.vpmu.mode === 'passthrough' && !vm.vpmu.interceptEventSelect) {
        ctx.r.error(f, `VM ${vm.id} is passthrough with interceptEventSelect: false, so KVM never sees its event selectors and cannot apply a new filter to them (the RFC's filter needs the interception); set interceptEventSelect: true`);
        return undefined;
      }
      return { kind, vm: vm.id, filter };
    }
    case 'hostPerf': {
      const m = ctx.r.map(f, KEYS.tlHostPerf);
      if (!m) return undefined;
      const host = ctx.optReq(m, 'host', (x) => ctx.hostRef(x));
      const sessionField = m.require('session', 'the id of one of the host\'s perf sessions');
      const action = ctx.optReq(m, 'action', (x) => ctx.r.oneOf(x, startStop));
      const session = sessionField && readSessionRef(ctx, sessionField, host?.perf.map((s) => s.id), host && `host ${host.id}`);
      if (!host || session === undefined || action === undefined) return undefined;
      return { kind, host: host.id, session, action };
    }
    case 'guestPerf': {
      const m = ctx.r.map(f, KEYS.tlGuestPerf);
      if (!m) return undefined;
      const vm = ctx.optReq(m, 'vm', (x) => ctx.vmRef(x));
      const sessionField = m.require('session', 'the id of one of the VM\'s guestPerf sessions');
      const action = ctx.optReq(m, 'action', (x) => ctx.r.oneOf(x, startStop));
      const session = sessionField && readSessionRef(ctx, sessionField, vm?.guestPerf.map((s) => s.id), vm && `VM ${vm.id}`);
      if (!vm || session === undefined || action === undefined) return undefined;
      return { kind, vm: vm.id, session, action };
    }
    case 'fault': {
      const m = ctx.r.map(f, KEYS.fault);
      if (!m) return undefined;
      const fault = ctx.optReq(m, 'kind', (x) => ctx.r.id(x));
      if (fault !== undefined && faultKindOf(fault) === undefined) {
        const known = [...FIDELITY_FAULT_KINDS, ...TEST_ONLY_FAULT_KINDS];
        ctx.r.warn(m.get('kind')!, `unknown fault kind "${fault}"${didYouMean(fault, known) || ` (known: ${known.join(', ')})`}; the run refuses this action with EINVAL`);
      }
      const targetField = m.require('target', 'the id of a host or VM');
      let target: string | undefined;
      if (targetField) {
        const id = ctx.r.id(targetField);
        if (id !== undefined && !ctx.hosts.has(id) && !ctx.vms.has(id)) {
          const known = [...ctx.hosts.keys(), ...ctx.vms.keys()];
          ctx.r.error(targetField, `unknown host or VM "${id}"${ctx.knownList(known, id)}`);
        } else {
          target = id;
        }
      }
      const durationNs = ctx.opt(m, 'duration', (x) => ctx.r.duration(x, { min: 0 })) ?? 0;
      const pf = m.get('params');
      const params = pf ? readFaultParams(ctx, pf, fault) : {};
      if (fault === undefined || target === undefined) return undefined;
      return { kind, fault, target, durationNs, params };
    }
  }
}

/**
 * A fault's `params`. For a kind the fault injector knows (libs/host/src/fault-injector.ts), each
 * value is checked against the parameter's type here, so a bad value fails at validate with its
 * path. An unknown kind or parameter is left to the run, which refuses the action with EINVAL
 * (reported under the VM's actions): validate warns about it.
 */
function readFaultParams(ctx: ScenarioBuildContext, f: Field, fault: string | undefined): Record<string, string> {
  const params: Record<string, string> = {};
  const pm = ctx.r.map(f, [], { anyKey: true });
  if (!pm) return params;
  const kind = fault === undefined ? undefined : faultKindOf(fault);
  const schema = kind === undefined ? undefined : FAULT_PARAMS[kind];
  for (const key of pm.keys()) {
    const x = pm.get(key)!;
    const v = ctx.r.scalarValue(x);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      ctx.r.typeError(x, 'a string, number or boolean');
      continue;
    }
    params[key] = String(v);
    if (!schema) continue;
    const type = Object.prototype.hasOwnProperty.call(schema, key) ? schema[key] : undefined;
    if (type === undefined) {
      const names = Object.keys(schema);
      ctx.r.warn(x, `fault ${kind} has no parameter "${key}"${didYouMean(key, names) || ` (it takes: ${names.join(', ') || 'none'})`}; the run refuses this action with EINVAL`);
      continue;
    }
    checkFaultParam(ctx, x, type);
  }
  return params;
}

function checkFaultParam(ctx: ScenarioBuildContext, x: Field, type: FaultParamType): void {
  switch (type) {
    case 'duration':
      ctx.r.duration(x, { min: 0 });
      return;
    case 'probability':
    case 'fraction':
      ctx.r.number(x, { min: 0, max: 1 });
      return;
    case 'integer':
      ctx.r.int(x, { min: -MAX_FAULT_EVENTS, max: MAX_FAULT_EVENTS, why: 'a 32-bit counter\'s range' });
      return;
    case 'event':
      ctx.r.oneOf(x, [...WORKLOAD_EVENT_NAMES, 'all']);
      return;
    case 'choice':
      ctx.r.oneOf(x, ['state', 'message'] as const);
      return;
    case 'list': {
      const s = ctx.nonEmptyString(x);
      if (s === undefined || !x.path.endsWith('.drop')) return;
      const bad = s.split(',').map((p) => p.trim()).filter((p) => !['counters', 'pmis', 'period'].includes(p));
      // Like an unknown parameter, refused by the run with EINVAL (an action outcome it reports).
      if (bad.length > 0) ctx.r.warn(x, `drop takes a comma list of counters, pmis, period; got "${bad.join(', ')}"; the run refuses this action with EINVAL`);
      return;
    }
  }
}

function readSessionRef(ctx: ScenarioBuildContext, f: Field, known: string[] | undefined, owner: string | undefined): string | undefined {
  const id = ctx.r.id(f);
  if (id === undefined || known === undefined) return undefined;
  if (!known.includes(id)) {
    ctx.r.error(f, `${owner} has no session "${id}"${ctx.knownList(known, id)}`);
    return undefined;
  }
  return id;
}

/** Follows each VM through its migrations (in time order) to check where it is going. */
export function checkMigrations(ctx: ScenarioBuildContext, entries: TimelineEntry[], fields: Field[]): void {
  const location = new Map<string, string>();
  for (const [id, vm] of ctx.vms) location.set(id, vm.host);
  entries.forEach((e, i) => {
    if (e.action.kind !== 'migrate') return;
    const { vm: vmId, to } = e.action;
    const vm = ctx.vms.get(vmId);
    const dest = ctx.hosts.get(to);
    if (!vm || !dest) return;
    const path = childPath(fields[i].path, 'migrate.to');
    const line = fields[i].line;
    const from = location.get(vmId);
    if (from === to) {
      ctx.diag.error(path, `VM ${vmId} is already on host ${to} at ${formatDurationNs(e.atNs)}`, line);
      return;
    }
    if (vm.vcpus > dest.pcpus) {
      ctx.diag.error(path, `VM ${vmId}'s ${vm.vcpus} vCPUs exceed host ${to}'s ${dest.pcpus} pCPUs`, line);
    }
    if (vm.vpmu.mode !== 'none' && !dest.vpmuModes.includes(vm.vpmu.mode)) {
      // Not an error: refusing an incompatible migration is behaviour the model reports
      // (finding migration-refused-incompatible).
      ctx.diag.warn(path, `host ${to} does not offer vPMU mode ${vm.vpmu.mode}; the migration will be refused`, line);
    }
    location.set(vmId, to);
  });
}
