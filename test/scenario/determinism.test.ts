// The product's central property: a run is a pure function of (scenario, seed, tool version).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRecording } from '@vpmu/recording';
import { runScenarioFile } from '../support/run-scenario';

describe('determinism (embedded)', () => {
  it('records byte-identical recordings with equal digests for the same scenario and seed, and another digest for another seed', async () => {
    const a = await runScenarioFile('quickstart.yaml');
    const b = await runScenarioFile('quickstart.yaml');
    const c = await runScenarioFile('quickstart.yaml', { seed: 43 });
    const bytesA = fs.readFileSync(path.join(a.outDir, 'recording.vpmurec'));
    const bytesB = fs.readFileSync(path.join(b.outDir, 'recording.vpmurec'));
    expect(bytesA.length).toBeGreaterThan(10_000);
    expect(bytesA.equals(bytesB)).toBe(true);
    expect(a.summary.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(a.summary.digest).toBe(b.summary.digest);
    expect(JSON.parse(fs.readFileSync(path.join(a.outDir, 'summary.json'), 'utf8'))).toEqual(JSON.parse(fs.readFileSync(path.join(b.outDir, 'summary.json'), 'utf8')));
    expect(c.summary.digest).not.toBe(a.summary.digest);
    expect(c.summary.run.seed).toBe(43);
  });

  it('writes a recording the reader accepts, whose final digest is the summary digest', async () => {
    const run = await runScenarioFile('quickstart.yaml');
    const rec = readRecording(path.join(run.outDir, 'recording.vpmurec'));
    expect(rec.complete).toBe(true);
    expect(rec.header.seed).toBe(42);
    expect(rec.header.scenarioText).toContain('name: quickstart');
    expect(rec.finalDigestHex).toBe(run.summary.digest);
    expect(rec.totalEvents).toBe(run.summary.events.total);
  });
});
