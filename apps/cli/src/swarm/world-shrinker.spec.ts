import { parseScenario } from '@vpmu/scenario';
import { worldYaml } from './world-check';
import { generateWorld, type WorldDoc } from './world-generator';
import { shrinkCandidates, worldSize } from './world-shrinker';

/** A generated world with at least two hosts, a migration and a guest perf session. */
function richWorld(): WorldDoc {
  for (let i = 0; i < 200; i++) {
    const w = generateWorld(5, i);
    if (w.hosts.length > 1 && w.timeline.some((t) => 'migrate' in t) && w.vms.some((v) => v.guestPerf?.length)) return w;
  }
  throw new Error('no rich world among the first 200 of seed 5');
}

describe('swarm world shrinker', () => {
  const w = richWorld();
  const candidates = shrinkCandidates(w);

  it('offers removing each host, each VM, each timeline action and halving the duration', () => {
    const changes = candidates.map((c) => c.change);
    for (const h of w.hosts) expect(changes).toContain(`remove host ${h.id} and its VMs`);
    for (const v of w.vms) expect(changes).toContain(`remove VM ${v.id}`);
    w.timeline.forEach((_, i) => expect(changes.some((c) => c.startsWith(`remove timeline[${i}]`))).toBe(true));
    expect(changes.some((c) => c.startsWith('halve the duration'))).toBe(true);
  });

  it('every candidate is smaller and leaves the original untouched', () => {
    const before = worldYaml(w);
    for (const c of candidates) expect(worldSize(c.world)).toBeLessThan(worldSize(w));
    expect(worldYaml(w)).toBe(before);
  });

  it('removing a VM also removes the timeline actions that name it, so the world stays valid', () => {
    const migrated = (w.timeline.find((t) => 'migrate' in t)!.migrate as { vm: string }).vm;
    const c = candidates.find((x) => x.change === `remove VM ${migrated}`)!;
    expect(JSON.stringify(c.world.timeline)).not.toContain(`"${migrated}"`);
    expect(parseScenario(worldYaml(c.world)).ok).toBe(true);
  });

  it('most candidates are valid worlds (the rest are skipped by the swarm)', () => {
    const valid = candidates.filter((c) => parseScenario(worldYaml(c.world)).ok).length;
    expect(valid / candidates.length).toBeGreaterThan(0.8);
  });
});
