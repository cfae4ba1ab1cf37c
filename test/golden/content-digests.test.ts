// Golden content digests: every built-in scenario and cluster fixture, run embedded with its own
// seed, must simulate exactly the events pinned in content-digests.json. The content digest
// covers the event batches alone (not the tool version, run id or scenario text), so a refactor
// or a speed-up changes none of them; a behaviour change updates the file in the same commit and
// says why. To rewrite the file after a deliberate behaviour change:
//   UPDATE_GOLDEN=1 npx jest test/golden
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRecording } from '@vpmu/recording';
import { REPO_ROOT, runScenarioText } from '../support/run-scenario';

const GOLDEN_FILE = path.join(__dirname, 'content-digests.json');
const SOURCES = ['scenarios', 'test/cluster/fixtures'];

function builtInScenarios(): string[] {
  return SOURCES.flatMap((dir) =>
    fs
      .readdirSync(path.join(REPO_ROOT, dir))
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => `${dir}/${f}`),
  );
}

interface GoldenEntry {
  contentDigest: string;
  events: number;
}

const golden: Record<string, GoldenEntry> = fs.existsSync(GOLDEN_FILE) ? JSON.parse(fs.readFileSync(GOLDEN_FILE, 'utf8')) : {};
const updating = process.env.UPDATE_GOLDEN === '1';
const observed: Record<string, GoldenEntry> = {};

describe('golden content digests of the built-in scenarios', () => {
  afterAll(() => {
    if (updating) fs.writeFileSync(GOLDEN_FILE, JSON.stringify(observed, null, 2) + '\n');
  });

  it('pins every built-in scenario and no scenario that is gone', () => {
    if (updating) return;
    expect(Object.keys(golden).sort()).toEqual(builtInScenarios());
  });

  for (const file of builtInScenarios()) {
    it(`${file} simulates the pinned events`, async () => {
      const run = await runScenarioText(fs.readFileSync(path.join(REPO_ROOT, file), 'utf8'));
      const rec = readRecording(path.join(run.outDir, 'recording.vpmurec'));
      // The summary, the recording's trailer and a fresh read of the frames agree.
      expect(rec.trailer?.contentDigestHex).toBe(run.summary.contentDigest);
      expect(rec.contentDigestHex).toBe(run.summary.contentDigest);
      observed[file] = { contentDigest: run.summary.contentDigest, events: run.summary.events.total };
      fs.rmSync(run.outDir, { recursive: true, force: true });
      if (!updating) expect(observed[file]).toEqual(golden[file]);
    });
  }
});
