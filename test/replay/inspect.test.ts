// `vpmu inspect --at TIME` restores the nearest checkpoint and simulates forward; the state it
// returns must be exactly the state of a full re-simulation from time 0 to TIME.
import { readRecording } from '@vpmu/recording';
import { parseScenario, type Scenario } from '@vpmu/scenario';
import { inspectRecording, simulateFromStart } from '../../apps/cli/src/replay/inspect';
import { hasStackTrace, vpmu } from '../support/cli';
import { record, scenarioText } from './replay-support';
import { runScenarioText, tempDir } from '../support/run-scenario';
import * as path from 'node:path';

const MS = 1_000_000;

describe.each([
  ['quickstart.yaml', 11],
  ['live-migration.yaml', 3],
])('inspect on %s (checkpoints every 50 epochs of 1 ms)', (file, seed) => {
  let rec: string;
  beforeAll(async () => {
    rec = (await record(file, { seed })).rec;
  });


  it.each([
    { name: 'right after a checkpoint', atNs: 100 * MS + 250_000, from: 100 },
    { name: 'exactly at a checkpoint (nothing to simulate)', atNs: 150 * MS, from: 150 },
    { name: 'mid-epoch, far from a checkpoint', atNs: 187 * MS + 612_345, from: 150 },
    { name: 'mid-epoch, before the first checkpoint', atNs: 12 * MS + 345_678, from: null },
    { name: 'the very end of the run', atNs: 200 * MS, from: 150 },
  ])('$name: same state as a full re-simulation from 0', ({ atNs, from }) => {
    const r = inspectRecording(rec, atNs);
    expect(r).toMatchObject({ matchesRecording: true, rejectedCheckpoints: [], restoredFromEpoch: from });
    expect(r.hosts).toEqual(simulateFromStart(recordedScenario(rec), atNs));
    for (const h of r.hosts) expect(h.atNs).toBe(atNs);
  });

  it('the cost is the distance to a checkpoint: a time after a checkpoint simulates few epochs', () => {
    const r = inspectRecording(rec, 151 * MS + 1);
    expect(r).toMatchObject({ restoredFromEpoch: 150, simulatedEpochs: 2, partialWindowNs: 1 });
  });
});

function recordedScenario(rec: string): Scenario {
  const header = readRecording(rec).header;
  const p = parseScenario(header.scenarioText);
  if (!p.ok) throw new Error('bad scenario');
  return { ...p.scenario, seed: header.seed };
}

describe('inspect across a VM hand-off between hosts', () => {
  // live-migration's VM leaves src in epoch 123 and lands on dst at the start of 124. With a
  // checkpoint every epoch, the one at 124 does not hold the VM in flight (it is a message, not
  // host state); inspect notices that the forward simulation does not reproduce the recording
  // and starts from an earlier checkpoint. Either way the state equals a full re-simulation.
  let rec: string;
  beforeAll(async () => {
    const text = scenarioText('live-migration.yaml', '130ms').replace(/^duration: 130ms$/m, 'duration: 130ms\ncheckpointEvery: 1');
    rec = path.join((await runScenarioText(text, { outDir: tempDir('handoff') })).outDir, 'recording.vpmurec');
  });

  it.each([122.5, 123.5, 124.5, 125.5, 126.5, 127.5])('at %sms', (ms) => {
    const atNs = Math.round(ms * MS);
    const r = inspectRecording(rec, atNs);
    expect(r.matchesRecording).toBe(true);
    expect(r.restoredFromEpoch).toBeGreaterThanOrEqual(Math.floor(ms) - 2);
    expect(r.hosts).toEqual(simulateFromStart(recordedScenario(rec), atNs));
  });
});

describe('vpmu inspect (CLI)', () => {
  let rec: string;
  beforeAll(async () => {
    rec = (await record('quickstart.yaml', { seed: 4, duration: '60ms' })).rec;
  });

  it('prints pCPUs and vCPUs with their counters; --vm and --json narrow and structure it', () => {
    const r = vpmu(['inspect', rec, '--at', '55.5ms']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^state at 55\.5ms \(epoch 55\) of run quickstart-s4-/);
    expect(r.stdout).toContain('restored from the checkpoint at epoch 50; simulated 6 epochs forward (the last one partly, 500us)');
    expect(r.stdout).toMatch(/cpu0 {2}running \S+/);
    expect(r.stdout).toMatch(/vm-emulated\/0 +vpmu emulated/);
    expect(r.stdout).toMatch(/instructions +actual +\d+ +observed +\d+/);
    // A plain integer on the command line is nanoseconds, as in a scenario file.
    expect(vpmu(['inspect', rec, '--at', '55500000']).stdout).toBe(r.stdout);
    const j = vpmu(['inspect', rec, '--at', '55.5ms', '--vm', 'vm-passthrough', '--json']);
    expect(j.code).toBe(0);
    const out = JSON.parse(j.stdout);
    expect(out.hosts).toHaveLength(1);
    expect(out.hosts[0].vcpus.map((v: { vm: string }) => v.vm)).toEqual(['vm-passthrough', 'vm-passthrough']);
  });

  it.each([
    { args: ['--at', '61ms'], message: /--at 61ms is beyond the run, which covers 0 to 60ms/ },
    { args: ['--at', '1ms', '--vm', 'vm9'], message: /--vm vm9 is not in the recorded scenario \(VMs: vm-emulated, vm-passthrough\)/ },
    { args: ['--at', '1ms', '--host', 'h9'], message: /--host h9 is not in the recorded scenario \(hosts: h1\)/ },
    { args: ['--at', 'soon'], message: /--at soon is not a virtual time/ },
    { args: [], message: /--at TIME is required/ },
  ])('$args → exit 2 with one sentence', ({ args, message }) => {
    const r = vpmu(['inspect', rec, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });
});
