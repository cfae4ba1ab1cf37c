import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COST_PARAMETERS, CostModel, UnknownCostParameterError } from './cost-model';

describe('cost model', () => {
  it('every parameter has a positive default, a unit and a source, and is documented in docs/cost-model.md', () => {
    const doc = readFileSync(join(__dirname, '../../../docs/cost-model.md'), 'utf8');
    for (const p of COST_PARAMETERS) {
      expect(p.default).toBeGreaterThan(0);
      expect(['cycles', 'ns']).toContain(p.unit);
      expect(p.source.length).toBeGreaterThan(10);
      expect({ name: p.name, documented: doc.includes(`| \`${p.name}\` |`) }).toEqual({ name: p.name, documented: true });
    }
  });

  it('converts cycles at the host frequency, keeps ns, applies overrides, rejects unknown names', () => {
    const m = new CostModel({ msrTrapCycles: 3000 }, 2.0);
    expect(m.costNs('vmExitRoundTripCycles')).toBe(530);
    expect(m.costNs('msrTrapCycles')).toBe(1500);
    expect(m.costNs('pvEventSyncNs')).toBe(300);
    expect(() => new CostModel({ msrTrapCycle: 1 }, 2.0)).toThrow(UnknownCostParameterError);
  });
});
