import { parseScenario } from '@vpmu/scenario';
import { Prng } from '@vpmu/sim';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HostWorld } from './host-world';
import { restoreHostWorld, snapshotHostWorld } from './host-world.snapshot';

const text = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'scenarios', 'quickstart.yaml'), 'utf8');
const parsed = parseScenario(text);
if (!parsed.ok) throw new Error('quickstart invalid');
const scenario = parsed.scenario;

describe('HostWorld checkpoints', () => {
  it('a world restored from a checkpoint simulates exactly like the original', () => {
    const world = new HostWorld(scenario, 'h1', Prng.fromSeed(scenario.seed));
    const ms = scenario.epochNs;
    for (let e = 0; e < 20; e++) world.runEpoch(e * ms, (e + 1) * ms);
    const restored = restoreHostWorld(snapshotHostWorld(world));
    for (let e = 20; e < 40; e++) {
      const a = world.runEpoch(e * ms, (e + 1) * ms);
      const b = restored.runEpoch(e * ms, (e + 1) * ms);
      expect(b).toEqual(a);
    }
  });

  it('a host on the mainline kernel with a mediated VM and a host perf session restores and simulates alike (kernel-generations.yaml)', () => {
    const kgText = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'scenarios', 'kernel-generations.yaml'), 'utf8');
    const kg = parseScenario(kgText);
    if (!kg.ok) throw new Error('kernel-generations invalid');
    const world = new HostWorld(kg.scenario, 'mainline', Prng.fromSeed(kg.scenario.seed));
    const ms = kg.scenario.epochNs;
    for (let e = 0; e < 10; e++) world.runEpoch(e * ms, (e + 1) * ms);
    const restored = restoreHostWorld(snapshotHostWorld(world));
    for (let e = 10; e < 20; e++) expect(restored.runEpoch(e * ms, (e + 1) * ms)).toEqual(world.runEpoch(e * ms, (e + 1) * ms));
  });

  it('snapshots are deterministic bytes', () => {
    const a = new HostWorld(scenario, 'h1', Prng.fromSeed(1));
    const b = new HostWorld(scenario, 'h1', Prng.fromSeed(1));
    a.runEpoch(0, 5_000_000);
    b.runEpoch(0, 5_000_000);
    expect(Buffer.from(snapshotHostWorld(a)).equals(Buffer.from(snapshotHostWorld(b)))).toBe(true);
  });
});
