import { restoreHostWorld, type HostWorld } from '@vpmu/host';
import { parseScenario, type Scenario } from '@vpmu/scenario';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runEpochWindow, actionsDueIn } from './epoch-schedule';
import { stepHost, type HostStepResult } from './host-step';
import { freshHostWorlds, runLockStep } from './lock-step.driver';

function scenarioFile(name: string, patch: Partial<Scenario> = {}): Scenario {
  const parsed = parseScenario(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'scenarios', name), 'utf8'));
  if (!parsed.ok) throw new Error(`${name} invalid`);
  return { ...parsed.scenario, ...patch };
}

/** Steps `world` through epochs [from, to) of the scenario with no hand-offs. */
function stepThrough(world: HostWorld, scenario: Scenario, from: number, to: number, resumedAt?: { epoch: number; checkpoint: Uint8Array }): HostStepResult[] {
  const out: HostStepResult[] = [];
  for (let epoch = from; epoch < to; epoch++) {
    const w = runEpochWindow(scenario, epoch);
    out.push(
      stepHost(world, scenario, {
        epoch,
        startNs: w.startNs,
        endNs: w.endNs,
        actions: actionsDueIn(scenario.timeline, w.startNs, w.endNs),
        inbound: [],
        ...(resumedAt?.epoch === epoch && { resumedFrom: { checkpoint: resumedAt.checkpoint } }),
      }),
    );
  }
  return out;
}

describe('host step', () => {
  const scenario = scenarioFile('quickstart.yaml', { checkpointEveryEpochs: 4, durationNs: 20_000_000 });

  it('checkpoints the host at the cadence, at the start of the epoch', () => {
    const [world] = freshHostWorlds(scenario, ['h1']);
    const steps = stepThrough(world, scenario, 0, 13);
    expect(steps.flatMap((s, e) => (s.checkpoint ? [e] : []))).toEqual([4, 8, 12]);
    // The state at the start of epoch 8: it has simulated exactly up to the epoch's start.
    expect(restoreHostWorld(steps[8].checkpoint!).simulatedUntilNs).toBe(8_000_000);
    expect(steps.every((s) => s.events.length > 0)).toBe(true);
  });

  it('a host restored from a checkpoint and stepped on emits exactly what the continuous host does', () => {
    const [world] = freshHostWorlds(scenario, ['h1']);
    const continuous = stepThrough(world, scenario, 0, 20);
    const checkpoint = continuous[8].checkpoint!;
    const resumed = stepThrough(restoreHostWorld(checkpoint), scenario, 8, 20, { epoch: 8, checkpoint });
    expect(resumed.map((s) => s.events)).toEqual(continuous.slice(8).map((s) => s.events));
    expect(resumed.map((s) => s.guestOutputs)).toEqual(continuous.slice(8).map((s) => s.guestOutputs));
    // The epoch it resumed at re-sends the checkpoint it was restored from, byte for byte.
    expect(resumed[0].checkpoint).toBe(checkpoint);
    expect(resumed.map((s) => s.checkpoint !== null)).toEqual(continuous.slice(8).map((s) => s.checkpoint !== null));
  });

  it('events come out in canonical order: by time', () => {
    const [world] = freshHostWorlds(scenario, ['h1']);
    for (const s of stepThrough(world, scenario, 0, 5)) {
      expect(s.events.map((e) => e.atNs)).toEqual(s.events.map((e) => e.atNs).sort((a, b) => a - b));
    }
  });

  it('simulates nothing in the drain epochs after the run', () => {
    const [world] = freshHostWorlds(scenario, ['h1']);
    stepThrough(world, scenario, 0, 20);
    const until = world.simulatedUntilNs;
    const drain = stepHost(world, scenario, { epoch: 20, startNs: scenario.durationNs, endNs: scenario.durationNs, actions: [], inbound: [] });
    expect(drain).toEqual({ checkpoint: null, events: [], guestOutputs: [], transfers: [] });
    expect(world.simulatedUntilNs).toBe(until);
  });

  it('applies a VM handed off in the previous epoch before the checkpoint of its epoch', () => {
    const migration = scenarioFile('live-migration.yaml');
    // The epoch in which the source hands the VM off.
    let handOff: { epoch: number; transfers: HostStepResult['transfers'] } | null = null;
    runLockStep(migration, freshHostWorlds(migration), {
      onEpoch: (f) => {
        const transfers = f.hosts.flatMap((h) => h.transfers);
        if (handOff === null && transfers.length > 0) handOff = { epoch: f.epoch, transfers };
      },
    });
    expect(handOff).not.toBeNull();
    const { epoch, transfers } = handOff!;
    // Checkpoint the destination at the start of the epoch the VM arrives in.
    const arrivalEpoch = { ...migration, checkpointEveryEpochs: epoch + 1 };
    const [dst] = freshHostWorlds(arrivalEpoch, ['dst']);
    stepThrough(dst, arrivalEpoch, 0, epoch + 1);
    expect(dst.inspect().vcpus.map((v) => v.vm)).not.toContain('vm1');
    const w = runEpochWindow(arrivalEpoch, epoch + 1);
    const step = stepHost(dst, arrivalEpoch, {
      epoch: epoch + 1,
      startNs: w.startNs,
      endNs: w.endNs,
      actions: [],
      inbound: transfers.map((transfer, seq) => ({ key: { sentEpoch: epoch, sourceNode: 'host/src', seq }, transfer })),
    });
    expect(step.checkpoint).not.toBeNull();
    expect(restoreHostWorld(step.checkpoint!).inspect().vcpus.map((v) => v.vm)).toContain('vm1');
  });
});
