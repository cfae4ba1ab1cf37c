// Lookahead windows (docs/cluster.md "Lookahead windows") change how many epochs one barrier
// round trip grants, never what is simulated: every message is applied at the epoch the
// per-epoch protocol applies it (a message sent in epoch e at the start of e + 1, the rule of
// docs/architecture.md "The epoch protocol"). So every built-in scenario records the same bytes
// with windows on (the default), forced off (one epoch per grant, `vpmu run --no-lookahead`) and
// with short windows whose ends fall anywhere.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runEpochCount } from '@vpmu/engine';
import { REPO_ROOT, runScenarioText, type ScenarioRun } from '../support/run-scenario';

jest.setTimeout(300_000);

const SOURCES = ['scenarios', 'test/cluster/fixtures'];
const BUILT_IN = SOURCES.flatMap((dir) =>
  fs
    .readdirSync(path.join(REPO_ROOT, dir))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => `${dir}/${f}`),
);

function recordingOf(run: ScenarioRun): Buffer {
  return fs.readFileSync(path.join(run.outDir, 'recording.vpmurec'));
}

function summaryOf(run: ScenarioRun): unknown {
  return JSON.parse(fs.readFileSync(path.join(run.outDir, 'summary.json'), 'utf8'));
}

describe('lookahead windows: the same recording with windows on and forced off (embedded)', () => {
  for (const file of BUILT_IN) {
    it(`${file}: byte-identical recording and summary, fewer round trips`, async () => {
      const text = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
      const off = await runScenarioText(text, { maxWindowEpochs: 1 });
      const on = await runScenarioText(text);
      const epochs = runEpochCount(on.scenario);
      // Forced off: one grant per simulated epoch plus the two drain epochs.
      expect(off.barrierRoundTripMs.length).toBe(epochs + 2);
      expect(on.barrierRoundTripMs.length).toBeLessThan(off.barrierRoundTripMs.length);
      expect(recordingOf(on).equals(recordingOf(off))).toBe(true);
      expect(summaryOf(on)).toEqual(summaryOf(off));
      if (on.scenario.timeline.some((t) => t.action.kind === 'migrate')) {
        // Windows of 3 epochs end everywhere relative to the hand-offs: still the same bytes.
        const short = await runScenarioText(text, { maxWindowEpochs: 3 });
        expect(recordingOf(short).equals(recordingOf(off))).toBe(true);
      }
      for (const r of [on, off]) fs.rmSync(r.outDir, { recursive: true, force: true });
    });
  }

  it('a world without migrations runs its simulated epochs in full windows of DEFAULT_MAX_WINDOW_EPOCHS', async () => {
    const text = fs.readFileSync(path.join(REPO_ROOT, 'scenarios/quickstart.yaml'), 'utf8');
    const on = await runScenarioText(text);
    const epochs = runEpochCount(on.scenario);
    // 200 epochs in windows of 64 (64, 64, 64, 8) and the two drain epochs.
    expect(epochs).toBe(200);
    expect(on.barrierRoundTripMs.length).toBe(4 + 2);
    fs.rmSync(on.outDir, { recursive: true, force: true });
  });
});
