// `vms[].workload` of a scenario: the profile a VM's tasks run (`workload: fio` or a mapping),
// tasks per vCPU, and overrides of the profile's rates with their units.

import { WORKLOAD_PROFILES, type WorkloadRates, type WorkloadSpec } from '@vpmu/world-spec';

import { SCENARIO_DEFAULTS } from './scenario.defaults';
import { ScenarioBuildContext } from './scenario-build.context';
import { keysOf, WORKLOAD_OVERRIDES } from './scenario.fields';
import { Field } from './yaml-node.reader';

const KEYS = { workload: keysOf('workload') };

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
