// `vms[]` of a scenario: a VM's id and host, vCPUs (checked against the host's pCPUs), vCPU
// affinity, memory, and its parts read by their own readers (vPMU, workload, guest perf,
// program).

import type { GuestPerfSpec, HostSpec, VmSpec } from '@vpmu/world-spec';
import { isSeq } from 'yaml';

import { readProgram } from './guest-program.parser';
import { readGuestPerfSession } from './perf-session.parser';
import { MAX_PCPUS, SCENARIO_DEFAULTS } from './scenario.defaults';
import { ScenarioBuildContext } from './scenario-build.context';
import { keysOf } from './scenario.fields';
import { checkModeOnHost, defaultVpmu, readVpmu } from './vpmu-spec.parser';
import { readWorkload } from './workload-spec.parser';
import { childPath, Field } from './yaml-node.reader';

const KEYS = { vm: keysOf('vm') };

export function readVm(ctx: ScenarioBuildContext, f: Field): VmSpec | undefined {
  const m = ctx.r.map(f, KEYS.vm);
  if (!m) return undefined;
  const id = ctx.defineId(m, 'vm');
  const vmLabel = id ?? f.path;
  const hostField = m.require('host', 'the id of the host it runs on');
  const hostRef = hostField && ctx.hostRef(hostField);
  // A host whose own pcpus is invalid has already been reported; do not measure VMs against it.
  const host = hostRef && hostRef.pcpus > 0 ? hostRef : undefined;

  const vcpusField = m.get('vcpus');
  let vcpus = vcpusField ? ctx.r.int(vcpusField, { min: 1, max: MAX_PCPUS }) : SCENARIO_DEFAULTS.vm.vcpus;
  if (vcpus !== undefined && host && vcpus > host.pcpus) {
    ctx.diag.error(
      childPath(m.path, 'vcpus'),
      `${vcpus} vCPUs exceed host ${host.id}'s ${host.pcpus} pCPUs (a vCPU needs a pCPU of its own in this model)`,
      vcpusField?.line ?? m.line,
    );
    vcpus = undefined;
  }

  const affinityField = m.get('affinity');
  let affinity: number[][] = [];
  if (affinityField) {
    // Checked even when vcpus or host is bad, so its own errors show in the same round.
    affinity = readAffinity(ctx, affinityField, vcpus, host) ?? [];
  } else if (host && vcpus !== undefined) {
    affinity = Array.from({ length: vcpus }, () => Array.from({ length: host.pcpus }, (_, i) => i));
  }

  const memoryBytes = ctx.opt(m, 'memory', (x) => ctx.r.size(x, { min: 1 })) ?? SCENARIO_DEFAULTS.vm.memoryBytes;
  const vpmuField = m.get('vpmu');
  const vpmu = vpmuField ? readVpmu(ctx, vpmuField, host) : undefined;
  const workloadField = m.get('workload');
  const workload = workloadField ? readWorkload(ctx, workloadField) : undefined;

  const guestPerf: GuestPerfSpec[] = [];
  const gpField = m.get('guestPerf');
  if (gpField) {
    const sessionIds = new Map<string, string>();
    ctx.r.list(gpField)?.forEach((gf) => {
      const s = readGuestPerfSession(ctx, gf, vmLabel, sessionIds);
      if (s) guestPerf.push(s);
    });
  }

  const programField = m.get('program');
  const program = programField ? readProgram(ctx, programField, vmLabel, vcpus) : [];

  const spec: VmSpec = {
    id: id ?? '',
    host: hostRef?.id ?? '',
    vcpus: vcpus ?? 0,
    affinity,
    memoryBytes,
    vpmu: vpmu ?? defaultVpmu(),
    workload: workload ?? { profile: SCENARIO_DEFAULTS.vm.workloadProfile, tasksPerVcpu: SCENARIO_DEFAULTS.vm.tasksPerVcpu, overrides: {} },
    guestPerf,
    program,
  };
  if (!vpmuField && host) checkModeOnHost(ctx, SCENARIO_DEFAULTS.vm.vpmuMode, host, m.path, m.line, 'the default vpmu.mode');
  if (id !== undefined && !ctx.vms.has(id) && !ctx.hosts.has(id)) ctx.vms.set(id, spec);
  return spec;
}

/**
 * Either a flat list of pCPUs applied to every vCPU, or one list per vCPU. Normalized to one
 * sorted, de-duplicated list per vCPU.
 */
function readAffinity(ctx: ScenarioBuildContext, f: Field, vcpus: number | undefined, host: HostSpec | undefined): number[][] | undefined {
  const items = ctx.r.list(f, 'a list of pCPUs or a list of pCPU lists (one per vCPU)');
  if (!items) return undefined;
  if (items.length === 0) {
    ctx.r.error(f, 'empty affinity: a vCPU needs at least one pCPU to run on (leave affinity out to allow all)');
    return undefined;
  }
  const nested = items.map((it) => isSeq(it.node));
  if (nested.every((n) => n)) {
    if (vcpus !== undefined && items.length !== vcpus) {
      ctx.r.error(f, `has ${items.length} per-vCPU lists for ${vcpus} vCPU${vcpus === 1 ? '' : 's'}; give one list per vCPU or a flat list for all`);
      return undefined;
    }
    const out: number[][] = [];
    let ok = true;
    items.forEach((it, i) => {
      const set = readPcpuSet(ctx, it, host, `vCPU ${i}`);
      if (set === undefined) ok = false;
      else out.push(set);
    });
    return ok ? out : undefined;
  }
  if (nested.some((n) => n)) {
    ctx.r.error(f, 'mixes pCPU numbers and lists; give either a flat list of pCPUs for all vCPUs or one list per vCPU');
    return undefined;
  }
  const set = readPcpuSet(ctx, f, host, 'every vCPU');
  return set === undefined || vcpus === undefined ? undefined : Array.from({ length: vcpus }, () => [...set]);
}

function readPcpuSet(ctx: ScenarioBuildContext, f: Field, host: HostSpec | undefined, who: string): number[] | undefined {
  const items = ctx.r.list(f);
  if (!items) return undefined;
  if (items.length === 0) {
    ctx.r.error(f, `empty affinity: ${who} needs at least one pCPU to run on`);
    return undefined;
  }
  const out: number[] = [];
  let ok = true;
  for (const it of items) {
    const c = ctx.pcpu(it, host?.id ?? '?', host?.pcpus);
    if (c === undefined) {
      ok = false;
      continue;
    }
    if (out.includes(c)) ctx.r.warn(it, `pCPU ${c} is listed twice`);
    else out.push(c);
  }
  return ok ? out.sort((a, b) => a - b) : undefined;
}
