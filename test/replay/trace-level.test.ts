// Scenario `trace: summary`: exits, entries and PMIs recorded as per-epoch counts per vCPU and
// reason. The run is still recorded, hashed, replayable and verified; its recording is much
// smaller; its counts add up to the full trace's; the viewers say what the level holds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRecording, RECORDING_FILE_NAME } from '@vpmu/recording';
import { verifyRecording } from '../../apps/cli/src/replay/verify';
import { runScenarioText, tempDir, type ScenarioRun } from '../support/run-scenario';
import { scenarioText } from './replay-support';

jest.setTimeout(600_000);

// The quickstart with its passthrough VM on fio: an exit-heavy world (I/O exits), which is what
// the summary level is for.
const full = scenarioText('quickstart.yaml', '100ms').replace(/(vm-passthrough[\s\S]*?profile: )specint/, '$1fio');
const summary = full.replace(/^duration: .*$/m, (line) => `${line}\ntrace: summary`);

let fullRun: ScenarioRun;
let summaryRun: ScenarioRun;
beforeAll(async () => {
  fullRun = await runScenarioText(full, { outDir: tempDir('trace-full') });
  summaryRun = await runScenarioText(summary, { outDir: tempDir('trace-summary') });
});
afterAll(() => {
  for (const r of [fullRun, summaryRun]) if (r) fs.rmSync(r.outDir, { recursive: true, force: true });
});

describe('trace: summary', () => {
  it('records traceSummary counts instead of exit, entry and PMI events, and says so in summary.json', () => {
    const kinds = summaryRun.summary.events.byKind;
    expect(kinds.traceSummary).toBeGreaterThan(0);
    expect(kinds.vmExit ?? 0).toBe(0);
    expect(kinds.vmEntry ?? 0).toBe(0);
    expect(kinds.pmi ?? 0).toBe(0);
    expect(summaryRun.summary.run.traceLevel).toBe('summary');
    expect(fullRun.summary.run.traceLevel).toBeUndefined();
  });

  it('counts exactly what the full trace holds: per-VM exit reasons and guest PMIs agree', () => {
    for (const [vm, v] of Object.entries(fullRun.summary.vms)) {
      expect(summaryRun.summary.vms[vm].vmExits).toEqual(v.vmExits);
      expect(summaryRun.summary.vms[vm].pmis).toEqual(v.pmis);
    }
  });

  it('records much less than the full trace of the same run (ratios, not times)', () => {
    // This world, 100 ms: ~13,000 events of which ~11,400 exits and entries become ~655 counts.
    // The bytes shrink less than the events (1.7x here, 2.1x on the bench's fleet host):
    // deflate already packs runs of alike exits well, and checkpoints do not shrink.
    expect(summaryRun.summary.events.total * 4).toBeLessThan(fullRun.summary.events.total);
    expect(summaryRun.recording.bytes * 1.5).toBeLessThan(fullRun.recording.bytes);
  });

  it('replays and verifies (replay --verify: identical, same content digest)', async () => {
    const file = path.join(summaryRun.outDir, RECORDING_FILE_NAME);
    expect(readRecording(file).complete).toBe(true);
    const v = await verifyRecording(file, { workDir: tempDir('trace-verify') });
    expect(v.divergence).toBeNull();
    expect(v.identical).toBe(true);
    expect(v.replayedContentDigest).toBe(summaryRun.summary.contentDigest);
  });

  it('the report, Perfetto and (by the same summary) OTLP say what the level holds and cannot show', () => {
    const report = fs.readFileSync(path.join(summaryRun.outDir, 'report.html'), 'utf8');
    expect(report).toContain('trace level summary');
    expect(report).toContain('cannot be shown');
    const perfetto = JSON.parse(fs.readFileSync(path.join(summaryRun.outDir, 'trace.perfetto.json'), 'utf8'));
    expect(perfetto.otherData).toMatchObject({ traceLevel: 'summary' });
    expect(perfetto.otherData.traceNote).toContain('cannot be shown');
    const fullPerfetto = JSON.parse(fs.readFileSync(path.join(fullRun.outDir, 'trace.perfetto.json'), 'utf8'));
    expect(fullPerfetto.otherData).toMatchObject({ traceLevel: 'full' });
  });
});
