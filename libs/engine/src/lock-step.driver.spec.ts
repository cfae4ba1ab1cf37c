import { restoreHostWorld } from '@vpmu/host';
import { encodeEventBatch } from '@vpmu/proto';
import { compareEpochFrames, readRecording } from '@vpmu/recording';
import { parseScenario, type Scenario } from '@vpmu/scenario';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runScenarioText } from '../../../test/support/run-scenario';
import { freshHostWorlds, runLockStep, type LockStepFrame } from './lock-step.driver';

const SCENARIOS = path.join(__dirname, '..', '..', '..', 'scenarios');
const MS = 1_000_000;

function scenarioFile(name: string): { text: string; scenario: Scenario } {
  const text = fs.readFileSync(path.join(SCENARIOS, name), 'utf8');
  const parsed = parseScenario(text);
  if (!parsed.ok) throw new Error(`${name} invalid`);
  return { text, scenario: parsed.scenario };
}

function framesOf(scenario: Scenario, worlds = freshHostWorlds(scenario), fromEpoch = 0): LockStepFrame[] {
  const frames: LockStepFrame[] = [];
  runLockStep(scenario, worlds, { fromEpoch, onEpoch: (f) => frames.push(f) });
  return frames;
}

describe('lock-step driver (live-migration.yaml: a VM moves from src to dst)', () => {
  const { text, scenario } = scenarioFile('live-migration.yaml');
  const continuous = framesOf(scenario);
  const handOffEpoch = continuous.find((f) => f.hosts.some((h) => h.transfers.length > 0))!.epoch;

  it('simulates every epoch of the run, each host once, in host id order', () => {
    expect(continuous.map((f) => f.epoch)).toEqual(Array.from({ length: 200 }, (_, e) => e));
    expect(continuous.every((f) => f.hosts.map((h) => h.hostId).join() === 'dst,src')).toBe(true);
    expect(continuous[0]).toMatchObject({ startNs: 0, endNs: MS, windowEndNs: MS });
  });

  it('produces exactly the events of the embedded run (the host nodes over the message bus)', async () => {
    const run = await runScenarioText(text);
    const recording = readRecording(path.join(run.outDir, 'recording.vpmurec'));
    const recordedEpochs = recording.epochs.filter((e) => e.epoch < continuous.length);
    expect(recordedEpochs.map((e) => e.epoch)).toEqual(continuous.map((f) => f.epoch));
    for (const f of continuous) {
      const recorded = recordedEpochs[f.epoch].frames.filter((r) => r.node.startsWith('host/'));
      const simulated = f.hosts.map((h) => ({ node: `host/${h.hostId}`, batch: encodeEventBatch(h.events, f.startNs) }));
      expect(compareEpochFrames(f.epoch, recorded, simulated)).toBeNull();
    }
  }, 60_000);

  it('hands a VM off to its destination at the start of the next epoch, not before', () => {
    const dstVms = (untilNs: number): string[] => {
      const worlds = freshHostWorlds(scenario);
      runLockStep(scenario, worlds, { untilNs });
      return worlds.find((w) => w.id === 'dst')!.inspect().vcpus.map((v) => v.vm);
    };
    const nextStartNs = (handOffEpoch + 1) * scenario.epochNs;
    expect(dstVms(nextStartNs)).not.toContain('vm1');
    expect(dstVms(nextStartNs + 1)).toContain('vm1');
  });

  it('restored from the checkpoints of any epoch, continues exactly like the continuous run', () => {
    const checkpoints = new Map<number, Map<string, Uint8Array>>();
    runLockStep(scenario, freshHostWorlds(scenario), {
      onCheckpoint: (epoch, hostId, state) => {
        if (!checkpoints.has(epoch)) checkpoints.set(epoch, new Map());
        checkpoints.get(epoch)!.set(hostId, state);
      },
    });
    expect([...checkpoints.keys()]).toEqual([50, 100, 150]);
    // The hand-off falls between two checkpoints, so one restore has the VM in flight.
    expect(handOffEpoch > 50 && handOffEpoch < 150).toBe(true);
    for (const [epoch, states] of checkpoints) {
      const worlds = scenario.hosts.map((h) => restoreHostWorld(states.get(h.id)!));
      expect(framesOf(scenario, worlds, epoch)).toEqual(continuous.slice(epoch));
    }
  });

  it('restored at the epoch a handed-off VM arrives in, the checkpoint holds the VM and the run continues the same', () => {
    const arrival = handOffEpoch + 1;
    const atArrival = { ...scenario, checkpointEveryEpochs: arrival };
    const states = new Map<string, Uint8Array>();
    const whole = framesOf(atArrival);
    runLockStep(atArrival, freshHostWorlds(atArrival), { untilNs: (arrival + 1) * MS, onCheckpoint: (e, hostId, state) => e === arrival && states.set(hostId, state) });
    const worlds = atArrival.hosts.map((h) => restoreHostWorld(states.get(h.id)!));
    expect(worlds.find((w) => w.id === 'dst')!.inspect().vcpus.map((v) => v.vm)).toContain('vm1');
    expect(framesOf(atArrival, worlds, arrival)).toEqual(whole.slice(arrival));
  });

  it('stops at a virtual time inside an epoch: the worlds are there, the frame says where', () => {
    const worlds = freshHostWorlds(scenario);
    const frames: LockStepFrame[] = [];
    runLockStep(scenario, worlds, { fromEpoch: 0, untilNs: 7 * MS + 250_000, onEpoch: (f) => frames.push(f) });
    expect(frames.map((f) => f.epoch)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(frames[7]).toMatchObject({ startNs: 7 * MS, endNs: 7 * MS + 250_000, windowEndNs: 8 * MS });
    expect(worlds.map((w) => w.simulatedUntilNs)).toEqual([7 * MS + 250_000, 7 * MS + 250_000]);
    expect(frames[7].hosts.flatMap((h) => h.events).every((e) => e.atNs <= 7 * MS + 250_000)).toBe(true);
    // The whole epochs before are those of the full run.
    expect(frames.slice(0, 7)).toEqual(continuous.slice(0, 7));
  });

  it('refuses to drop a VM handed off to a host it does not simulate', () => {
    expect(() => runLockStep(scenario, freshHostWorlds(scenario, ['src']))).toThrow(/hands VM vm1 off to host dst, which is not simulated/);
  });
});
