// `vpmu swarm --seed N [--count K] [--kafka BROKERS] [--out DIR] [--timeout S]`: K worlds nobody
// wrote, generated from the seed (swarm/world-generator.ts), each run as a user would run it and
// checked against the invariants (swarm/world-check.ts). At the first violation the world is
// written, shrunk while the same invariant still fails (swarm/world-shrinker.ts), the shrunk world
// written beside it, and the command exits 3 naming the invariant. Exit 0 when every world passes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseScenario } from '@vpmu/scenario';
import { parseArgs, type CommandSpec } from '../args';
import { CliError, EXIT } from '../cli-error';
import { prepareOutDir, relativeForDisplay } from '../out-dir';
import { checkWorld, worldYaml, type WorldCheckOptions } from '../swarm/world-check';
import { generateWorld, type WorldDoc } from '../swarm/world-generator';
import { shrinkCandidates, worldSize } from '../swarm/world-shrinker';
import type { Violation } from '../swarm/invariants';
import type { CommandIo } from './command-io';

export const SWARM_SPEC: CommandSpec = {
  name: 'swarm',
  positionals: [],
  flags: { seed: 'int', count: 'int', first: 'int', kafka: 'string', out: 'string', timeout: 'int', 'shrink-steps': 'int', json: 'bool', debug: 'bool' },
  help: {
    seed: { value: 'N', text: 'root of every generated world (required); the same seed makes the same worlds' },
    count: { value: 'K', text: 'how many worlds to generate and check (default 10)' },
    first: { value: 'I', text: 'index of the first world (default 0): --first 17 --count 1 re-checks world 17 of the seed alone' },
    kafka: { value: 'BROKERS', text: 'also run each world on the cluster through these brokers and compare with the embedded run' },
    out: { value: 'DIR', text: 'where the worlds, their runs and a violation go (default out/swarm-<seed>)' },
    timeout: { value: 'S', text: 'seconds each run or replay of a world may take before it counts as unbounded (default 300)' },
    'shrink-steps': { value: 'N', text: 'most candidate worlds tried while shrinking a violation (default 60)' },
    json: { text: 'print the result (worlds checked, the violation and the shrunk world) as JSON on stdout' },
  },
};

/** Heap of each child run, MiB: a world of a few ms needs tens; more means it grows without bound. */
const CHILD_HEAP_MIB = 512;

/**
 * Test hook (test/swarm): a test-only fault kind planted in every generated world that has a
 * passthrough VM, standing for a model defect; the invariants do not count it as a declared
 * cause, so the swarm must find, shrink and report what it breaks.
 */
const PLANT_ENV = 'VPMU_SWARM_TEST_PLANT';

export async function swarmCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(SWARM_SPEC, argv);
  const seed = args.flags.seed as number | undefined;
  if (seed === undefined) throw new CliError('vpmu swarm: --seed N is required (the same seed makes the same worlds; try --seed 1).');
  const count = (args.flags.count as number | undefined) ?? 10;
  const first = (args.flags.first as number | undefined) ?? 0;
  if (count < 1) throw new CliError('vpmu swarm: --count must be at least 1.');
  const timeoutS = (args.flags.timeout as number | undefined) ?? 300;
  if (timeoutS < 1) throw new CliError('vpmu swarm: --timeout must be at least 1 second.');
  const shrinkSteps = (args.flags['shrink-steps'] as number | undefined) ?? 60;
  const json = args.flags.json === true;
  const outDir = prepareOutDir((args.flags.out as string | undefined) ?? path.join('out', `swarm-${seed}`));
  const plant = process.env[PLANT_ENV] || undefined;
  const options: WorldCheckOptions = {
    cliPath: path.resolve(__dirname, '..', 'main.js'),
    timeoutMs: timeoutS * 1000,
    heapMiB: CHILD_HEAP_MIB,
    kafka: args.flags.kafka as string | undefined,
    undeclaredFaults: plant ? [plant] : [],
  };
  const say = (line: string) => (json ? io.err(line) : io.out(line));
  say(`swarm seed ${seed}: ${count} world${count === 1 ? '' : 's'}${options.kafka ? `, each also on the cluster at ${options.kafka}` : ''}, written under ${relativeForDisplay(outDir)}`);
  const checked: { name: string; wallMs: number }[] = [];
  for (let i = first; i < first + count; i++) {
    const world = generateWorld(seed, i);
    if (plant) plantFault(world, plant);
    const dir = path.join(outDir, `world-${i}`);
    const { violation, wallMs } = await checkWorld(world, dir, options);
    checked.push({ name: world.name, wallMs });
    say(`world ${i + 1 - first}/${count} ${world.name} (${describe(world)}): ${violation ? `VIOLATION ${violation.invariant}` : 'ok'} (${(wallMs / 1000).toFixed(1)}s)`);
    if (!violation) continue;
    say(`  ${violation.detail}`);
    const found = path.join(outDir, 'violation.yaml');
    fs.writeFileSync(found, worldYaml(world));
    say(`  the world: ${relativeForDisplay(found)}; shrinking while ${violation.invariant} holds…`);
    const shrunk = await shrink(world, violation, path.join(outDir, 'shrink'), { ...options, only: violation.invariant }, shrinkSteps, say);
    const shrunkFile = path.join(outDir, 'violation.shrunk.yaml');
    fs.writeFileSync(shrunkFile, `# shrunk from ${world.name}: ${shrunk.violation.invariant}: ${shrunk.violation.detail.replace(/\n/g, ' ')}\n${worldYaml(shrunk.world)}`);
    say(`  shrunk in ${shrunk.tries} tries to ${describe(shrunk.world)}: ${relativeForDisplay(shrunkFile)}`);
    say(`invariant violated: ${violation.invariant} (world ${i} of seed ${seed}); reproduce with vpmu run ${relativeForDisplay(shrunkFile)}`);
    if (json) io.out(JSON.stringify({ seed, worlds: checked.length, violation: { ...violation, world: i, file: found, shrunk: shrunkFile, shrunkViolation: shrunk.violation } }, null, 2));
    return EXIT.diverged;
  }
  say(`all ${count} worlds hold every invariant (${(checked.reduce((s, c) => s + c.wallMs, 0) / 1000).toFixed(1)}s)`);
  if (json) io.out(JSON.stringify({ seed, worlds: checked.length, violation: null }, null, 2));
  return EXIT.ok;
}

/** Greedy shrinking: take the first smaller valid world that still violates the same invariant, until none does. */
async function shrink(
  world: WorldDoc,
  violation: Violation,
  dir: string,
  options: WorldCheckOptions,
  maxTries: number,
  say: (line: string) => void,
): Promise<{ world: WorldDoc; violation: Violation; tries: number }> {
  let best = { world, violation };
  let tries = 0;
  let progress = true;
  while (progress && tries < maxTries) {
    progress = false;
    for (const c of shrinkCandidates(best.world)) {
      if (tries >= maxTries) break;
      if (worldSize(c.world) >= worldSize(best.world) || !parseScenario(worldYaml(c.world)).ok) continue;
      tries++;
      const tryDir = path.join(dir, `try-${tries}`);
      const { violation: v } = await checkWorld(c.world, tryDir, options);
      fs.rmSync(tryDir, { recursive: true, force: true });
      if (v?.invariant !== violation.invariant) continue;
      say(`  - ${c.change}: still ${v.invariant}`);
      best = { world: c.world, violation: v };
      progress = true;
      break;
    }
  }
  return { ...best, tries };
}

function describe(w: WorldDoc): string {
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  return `${n(w.hosts.length, 'host')}, ${n(w.vms.length, 'VM')}, ${n(w.timeline.length, 'action')}, ${w.duration}`;
}

/** The test hook: the planted fault on the world's first passthrough VM, for its whole run. */
function plantFault(world: WorldDoc, kind: string): void {
  const vm = world.vms.find((v) => v.vpmu.mode === 'passthrough');
  if (vm) world.timeline.unshift({ at: '0us', fault: { kind, target: vm.id } });
}
