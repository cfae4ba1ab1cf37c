// `vms[].workload` of a scenario: the profile a VM's tasks run (`workload: fio` or a mapping),
// tasks per vCPU, and overrides of the profile's rates with their units.

import { WORKLOAD_PROFILES, type WorkloadRates, type WorkloadSpec } from '@vpmu/world-spec';

import { SCENARIO_DEFAULTS } from './scenario.defaults';
import {
  MAX_DIRTY_BYTES_PER_SEC,
  MAX_EXITS_PER_SEC,
  MAX_GHZ,
  MAX_IPC,
  MAX_LLC_REFS_PER_KILO_INSTR,
  MIN_GHZ,
  MIN_TIMESLICE_NS,
  WHY,
} from './scenario.limits';
import { ScenarioBuildContext } from './scenario-build.context';
import { Field } from './yaml-node.reader';

/**
 * YAML name and kind of each workload rate override. A mapped type over WorkloadRates, so a rate
 * added to the contract does not compile until it is given a YAML name here.
 */
type OverrideKind = 'number' | 'fraction' | 'duration' | 'bandwidth';
const WORKLOAD_OVERRIDES: { [K in keyof WorkloadRates]: { yaml: string; kind: OverrideKind; min?: number; max?: number; why?: string } } = {
  ipc: { yaml: 'ipc', kind: 'number', max: MAX_IPC, why: WHY.ipc },
  cpuGhz: { yaml: 'cpuGhz', kind: 'number', min: MIN_GHZ, max: MAX_GHZ, why: WHY.ghz },
  refGhz: { yaml: 'refGhz', kind: 'number', min: MIN_GHZ, max: MAX_GHZ, why: WHY.ghz },
  branchFraction: { yaml: 'branchFraction', kind: 'fraction' },
  branchMissRate: { yaml: 'branchMissRate', kind: 'fraction' },
  llcRefsPerKiloInstr: { yaml: 'llcRefsPerKiloInstr', kind: 'number', max: MAX_LLC_REFS_PER_KILO_INSTR, why: WHY.llcRefs },
  llcMissRate: { yaml: 'llcMissRate', kind: 'fraction' },
  kernelFraction: { yaml: 'kernelFraction', kind: 'fraction' },
  ioExitsPerSec: { yaml: 'ioExitsPerSec', kind: 'number', max: MAX_EXITS_PER_SEC, why: WHY.exits },
  hltExitsPerSec: { yaml: 'hltExitsPerSec', kind: 'number', max: MAX_EXITS_PER_SEC, why: WHY.exits },
  dirtyBytesPerSec: { yaml: 'dirtyRate', kind: 'bandwidth', max: MAX_DIRTY_BYTES_PER_SEC, why: WHY.dirtyRate },
  guestTimesliceNs: { yaml: 'guestTimeslice', kind: 'duration', min: MIN_TIMESLICE_NS, why: WHY.timeslice },
  busyFraction: { yaml: 'busyFraction', kind: 'fraction' },
};

const KEYS = {
  workload: ['profile', 'tasksPerVcpu', 'overrides'],
} as const;

export function readWorkload(ctx: ScenarioBuildContext, f: Field): WorkloadSpec | undefined {
  // `workload: fio` is short for `workload: { profile: fio }`.
  if (typeof ctx.r.scalarValue(f) === 'string') {
    const profile = ctx.r.oneOf(f, WORKLOAD_PROFILES);
    return profile && { profile, tasksPerVcpu: SCENARIO_DEFAULTS.vm.tasksPerVcpu, overrides: {} };
  }
  const m = ctx.r.map(f, KEYS.workload);
  if (!m) return undefined;
  const profile = ctx.opt(m, 'profile', (x) => ctx.r.oneOf(x, WORKLOAD_PROFILES)) ?? SCENARIO_DEFAULTS.vm.workloadProfile;
  const tasksPerVcpu = ctx.opt(m, 'tasksPerVcpu', (x) => ctx.r.int(x, { min: 0, max: 1024 })) ?? SCENARIO_DEFAULTS.vm.tasksPerVcpu;
  const overrides: Partial<WorkloadRates> = {};
  const ovField = m.get('overrides');
  if (ovField) {
    const entries = Object.entries(WORKLOAD_OVERRIDES) as [keyof WorkloadRates, (typeof WORKLOAD_OVERRIDES)[keyof WorkloadRates]][];
    const om = ctx.r.map(ovField, entries.map(([, v]) => v.yaml));
    if (om) {
      for (const [key, { yaml, kind, min, max, why }] of entries) {
        const x = om.get(yaml);
        if (!x) continue;
        // Bounds and their reasons: scenario.limits.ts and docs/scenario.md "Limits".
        let v: number | undefined;
        if (kind === 'duration') v = ctx.r.duration(x, { min: min ?? 1, why });
        else if (kind === 'bandwidth') v = ctx.r.bandwidth(x, { min: 0, max, why });
        else if (kind === 'fraction') v = ctx.r.number(x, { min: 0, max: 1 });
        else v = ctx.r.number(x, { min: min ?? 0, max, why });
        if (v !== undefined) overrides[key] = v;
      }
    }
  }
  return { profile, tasksPerVcpu, overrides };
}
