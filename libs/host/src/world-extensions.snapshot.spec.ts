// Checkpoints of worlds using the world helpers (paravirt perf, guest LBR, arm64 PMU device):
// the helpers' state is plain data in registered classes, so a restored world continues exactly.
import { parseScenario } from '@vpmu/scenario';
import type { Scenario } from '@vpmu/world-spec';
import { Prng } from '@vpmu/sim';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HostWorld } from './host-world';
import { restoreHostWorld, snapshotHostWorld } from './host-world.snapshot';

function load(text: string): Scenario {
  const p = parseScenario(text);
  if (!p.ok) throw new Error(p.errors.map((e) => e.message).join('; '));
  return p.scenario;
}
const file = (name: string) => load(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'scenarios', name), 'utf8'));

const PARAVIRT = `version: 1
name: pv-ckpt
seed: 2
duration: 40ms
hosts:
  - { id: h1, cpu: intel-spr, pcpus: 2 }
vms:
  - id: vm1
    host: h1
    vcpus: 2
    vpmu: { mode: paravirt, pvEventLimit: 4 }
    workload: specint
    guestPerf:
      - { id: rec, command: record, events: [instructions, branch-misses], sample: { period: 50000 } }
    program:
      - hypercall: { call: open, id: 900, event: cycles }
      - hypercall: { call: enable, id: 900, vcpu: 1 }
`;

describe('HostWorld checkpoints with paravirt perf, guest LBR and arm64 PMU devices', () => {
  it.each([
    ['lbr-modes', () => file('lbr-modes.yaml'), 'h1'],
    ['arm64-set-pmu', () => file('arm64-set-pmu.yaml'), 'arm1'],
    ['paravirt', () => load(PARAVIRT), 'h1'],
  ] as const)('%s: a restored world simulates exactly like the original', (_name, scenarioOf, host) => {
    const scenario = scenarioOf();
    const world = new HostWorld(scenario, host, Prng.fromSeed(scenario.seed));
    const ms = scenario.epochNs;
    const epochs = Math.floor(scenario.durationNs / ms);
    const half = Math.floor(epochs / 2);
    for (let e = 0; e < half; e++) world.runEpoch(e * ms, (e + 1) * ms);
    const restored = restoreHostWorld(snapshotHostWorld(world));
    for (let e = half; e < epochs; e++) {
      const a = world.runEpoch(e * ms, (e + 1) * ms);
      const b = restored.runEpoch(e * ms, (e + 1) * ms);
      expect(b).toEqual(a);
    }
  });
});
