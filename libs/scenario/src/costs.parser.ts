// `costs:` of a scenario: overrides of the cost model's parameters (libs/kvm/src/cost-model.ts).
// Checked here against the model's own list, so a misspelt name fails at `vpmu validate` with a
// suggestion instead of at run time inside the model.

import { COST_PARAMETERS } from '@vpmu/kvm';

import { didYouMean } from './did-you-mean';
import { MAX_COST_CYCLES, MAX_COST_NS, WHY } from './scenario.limits';
import { ScenarioBuildContext } from './scenario-build.context';
import { Field } from './yaml-node.reader';

const COST_NAMES = COST_PARAMETERS.map((p) => p.name);

export function readCosts(ctx: ScenarioBuildContext, f: Field): Record<string, number> {
  const costs: Record<string, number> = {};
  const cm = ctx.r.map(f, [], { anyKey: true });
  for (const key of cm?.keys() ?? []) {
    const x = cm!.get(key)!;
    const param = COST_PARAMETERS.find((p) => p.name === key);
    if (!param) {
      const hint = didYouMean(key, COST_NAMES);
      ctx.r.error(x, `unknown cost parameter${hint || ` (known: ${COST_NAMES.join(', ')})`}`);
      continue;
    }
    const v = ctx.r.number(x, { min: 0, max: param.unit === 'cycles' ? MAX_COST_CYCLES : MAX_COST_NS, why: WHY.cost });
    if (v !== undefined) costs[key] = v;
  }
  return costs;
}
