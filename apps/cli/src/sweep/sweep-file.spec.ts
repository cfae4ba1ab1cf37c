// The built-in sweep files (scenarios/sweeps/*.yaml) must stay runnable as the models change:
// each one's scenario loads, every axis value is valid and every point of the cross product is.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSweepInput } from './sweep-file';
import { planSweep } from './sweep-plan';
import { resolveAxes } from './vary-path';

const dir = path.join(__dirname, '..', '..', '..', '..', 'scenarios', 'sweeps');
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .filter((f) => /^sweep:/m.test(fs.readFileSync(path.join(dir, f), 'utf8')))
  .sort();

describe('scenarios/sweeps/', () => {
  it('has sweep files', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('%s plans a valid sweep', (file) => {
    const input = readSweepInput(path.join(dir, file));
    expect(input.sweepFile).not.toBeNull();
    const axes = resolveAxes(input.loaded.text, input.axes);
    const plan = planSweep(input.loaded.text, axes, input.seeds ?? 1, 'spec');
    expect(plan.points.length).toBe(axes.reduce((n, a) => n * a.values.length, 1) * plan.seeds.length);
  });
});
