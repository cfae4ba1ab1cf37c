// `vpmu swarm` against the built CLI (npm test builds dist/ first): a bounded swarm of a fixed
// seed holds every invariant; a planted defect is found, written, shrunk and reported with exit 3;
// and every world the swarm once found (test/swarm/regressions, each shrunk and then fixed) passes
// the swarm's whole check today. The runs are child processes on a machine that may be busy:
// timeouts are generous and nothing here is timed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { parseScenario } from '@vpmu/scenario';
import { checkWorld } from '../../apps/cli/src/swarm/world-check';
import type { WorldDoc } from '../../apps/cli/src/swarm/world-generator';
import { worldSize } from '../../apps/cli/src/swarm/world-shrinker';
import { CLI, vpmuAsync } from '../support/cli';
import { runScenarioText, tempDir } from '../support/run-scenario';

const REGRESSIONS = path.join(__dirname, 'regressions');
const LONG_MS = 900_000;

describe('vpmu swarm', () => {
  it(
    'a bounded swarm (seed 1, 2 worlds) runs each world twice, replays it and holds every invariant: exit 0',
    async () => {
      const out = tempDir('swarm-ok');
      const r = await vpmuAsync(['swarm', '--seed', '1', '--count', '2', '--out', out, '--json'], { timeoutMs: LONG_MS });
      expect(r.stderr).toMatch(/world 2\/2 swarm-1-1 .*: ok/);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ seed: 1, worlds: 2, violation: null });
      for (const i of [0, 1]) {
        for (const f of ['world.yaml', 'a/summary.json', 'b/summary.json', 'a/recording.vpmurec']) expect(fs.existsSync(path.join(out, `world-${i}`, f))).toBe(true);
      }
    },
    LONG_MS,
  );

  it(
    'finds a planted defect (test hook: test-leak-host-counter, undeclared), writes the world, shrinks it and exits 3 naming the invariant',
    async () => {
      const out = tempDir('swarm-plant');
      const r = await vpmuAsync(['swarm', '--seed', '24', '--count', '1', '--out', out, '--shrink-steps', '6', '--json'], {
        timeoutMs: LONG_MS,
        env: { VPMU_SWARM_TEST_PLANT: 'test-leak-host-counter' },
      });
      expect(r.stderr).toMatch(/invariant violated: no-counter-leak \(world 0 of seed 24\)/);
      expect(r.code).toBe(3);
      const result = JSON.parse(r.stdout);
      expect(result.violation.invariant).toBe('no-counter-leak');
      const original = parse(fs.readFileSync(result.violation.file, 'utf8')) as WorldDoc;
      const shrunkText = fs.readFileSync(result.violation.shrunk, 'utf8');
      const shrunk = parse(shrunkText) as WorldDoc;
      expect(parseScenario(shrunkText).ok).toBe(true);
      expect(worldSize(shrunk)).toBeLessThan(worldSize(original));
      // The cause survives shrinking: without the planted fault the leak is gone.
      expect(shrunk.timeline.map((t) => (t.fault as { kind?: string } | undefined)?.kind)).toContain('test-leak-host-counter');
      expect(result.violation.shrunkViolation.invariant).toBe('no-counter-leak');
    },
    LONG_MS,
  );

  it(
    'bad arguments are exit 2 with one sentence',
    async () => {
      const noSeed = await vpmuAsync(['swarm', '--count', '1']);
      expect(noSeed.code).toBe(2);
      expect(noSeed.stderr).toMatch(/--seed N is required/);
      const zero = await vpmuAsync(['swarm', '--seed', '1', '--count', '0']);
      expect(zero.code).toBe(2);
    },
    LONG_MS,
  );
});

describe('worlds the swarm found (test/swarm/regressions)', () => {
  const files = fs.readdirSync(REGRESSIONS).filter((f) => f.endsWith('.yaml')).sort();

  it.each(files)(
    '%s passes the whole swarm check (runs twice, replays, invariants)',
    async (file) => {
      const world = parse(fs.readFileSync(path.join(REGRESSIONS, file), 'utf8')) as WorldDoc;
      const { violation } = await checkWorld(world, tempDir('swarm-regression'), { cliPath: CLI, timeoutMs: LONG_MS / 3, heapMiB: 512 });
      expect(violation).toBeNull();
    },
    LONG_MS,
  );

  it('test-leak-other-pcpu: the test-only leak fault reads only the entering pCPU\'s perf events (perf-core readAll) and its counter-leak is reported', async () => {
    const run = await runScenarioText(fs.readFileSync(path.join(REGRESSIONS, 'test-leak-other-pcpu.yaml'), 'utf8'));
    expect(run.summary.findings.map((f) => f.kind)).toContain('counter-leak');
  });

  it('pmi-in-flight-at-end: a PMI raised just before the end is counted pending (fidelity-monitor vmFigures), so raised = delivered + lost + pending', async () => {
    const run = await runScenarioText(fs.readFileSync(path.join(REGRESSIONS, 'pmi-in-flight-at-end.yaml'), 'utf8'));
    const pmis = run.summary.vms.vm3.fidelity!.pmis;
    expect(pmis.pending).toBeGreaterThan(0);
    expect(pmis.delivered + pmis.lost + pmis.pending!).toBe(pmis.raised);
  });
});
