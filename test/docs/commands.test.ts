// Docs that a test keeps true: every shell command README.md and docs/**/*.md show (the parser
// and its conventions: test/docs/doc-commands.ts) runs, as written, in a fresh temporary
// directory against the built dist/ (`vpmu` on PATH is `node dist/apps/cli/main.js`; dist/,
// scenarios/, schema/ and bin/ are linked in), and exits with the code the doc implies (0, or the
// `# exit N` its line ends with). Each distinct command runs once. The `run` commands go first, in
// parallel (the others read their output directories); then each fenced block's other commands
// run in order, blocks in parallel. Output a doc shows after a `$ ` command must have the shape
// of the real output (figures and ids may move; lines, words and their order may not).
//
// Commands that need a Kafka broker, Docker, a Jaeger collector, a rebuild or minutes of runs are
// not run here: NOT_RUN names each with the test that covers it, and must list exactly the
// doc commands that are not run (a new doc command is either run or listed).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../support/run-scenario';
import { docFiles, extractCommands, unmatchedSampleLines, type DocCommand } from './doc-commands';

const CLUSTER = 'test/cluster/mock-broker.test.ts';
const NOT_RUN: Record<string, { why: string; coveredBy: string }> = {
  'npm ci && npm start': { why: 'reinstalls node_modules and rebuilds', coveredBy: 'CI (npm ci, npm run build); the run it starts is the README quickstart run, run here' },
  'npm ci && npm test': { why: 'the whole suite, this test included', coveredBy: 'CI' },
  'perf report --stats -i out/guest/vm1/rec.perf.data': { why: "the output of export-perf-data.test.ts's throttling scenario (a test fixture, not a built-in scenario)", coveredBy: 'test/cli/export-perf-data.test.ts (the same perf report --stats counts against the run)' },
  'npm run build': { why: 'rebuilds the dist/ the other tests run against', coveredBy: 'npm test (its pretest builds)' },
  'node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/scale-row.js 4 500 --run-only': { why: 'a bench row (minutes)', coveredBy: 'npm run bench' },
  'vpmu swarm --seed 1 --count 10': { why: 'ten generated worlds, each run and checked (minutes)', coveredBy: 'test/swarm/swarm.test.ts' },
  'SEED=$(date +%Y%m%d)': { why: 'part of the nightly swarm recipe', coveredBy: 'test/swarm/swarm.test.ts' },
  'node dist/apps/cli/main.js swarm --seed "$SEED" --count 200 --out "out/swarm-$SEED"': { why: 'the nightly swarm (hours)', coveredBy: 'test/swarm/swarm.test.ts' },
  'node dist/apps/cli/main.js swarm --seed "$SEED" --count 50 --kafka 127.0.0.1:PORT --out "out/swarm-kafka-$SEED"': { why: 'needs a Kafka broker; nightly', coveredBy: `test/swarm/swarm.test.ts; its runs over Kafka: ${CLUSTER}` },
  'vpmu sweep scenarios/sweeps/rfc-experiment.yaml --jobs 2': { why: '36 full runs (minutes)', coveredBy: 'test/cli/sweep.test.ts' },
  'vpmu sweep scenarios/sweeps/rfc-experiment.yaml --out out/sweeps/rfc': { why: '36 full runs (minutes)', coveredBy: 'test/cli/sweep.test.ts' },
  "vpmu sweep scenarios/quickstart.yaml --vary 'vms.vm-passthrough.vpmu.mode=*' --vary vms.vm-passthrough.guestPerf.stat.events.length=2,8,12 --seeds 3 --jobs 2": {
    why: '36 full runs (minutes)',
    coveredBy: 'test/cli/sweep.test.ts',
  },
  'node dist/apps/cli/main.js cluster up --mock-broker --host-nodes 2 --guest-vms 2': { why: 'starts a Kafka broker and the services', coveredBy: CLUSTER },
  'node dist/apps/cli/main.js run scenarios/quickstart.yaml --kafka 127.0.0.1:PORT': { why: 'needs a Kafka broker', coveredBy: CLUSTER },
  'node dist/apps/cli/main.js cluster down': { why: 'stops a cluster', coveredBy: CLUSTER },
  'apt-get install -y kcat': { why: 'installs a system package', coveredBy: 'scripts/test-deps.sh' },
  'vpmu cluster up --mock-broker': { why: 'starts a Kafka broker and the services', coveredBy: CLUSTER },
  'vpmu run scenarios/quickstart.yaml --kafka 127.0.0.1:35321': { why: 'needs a Kafka broker', coveredBy: CLUSTER },
  'vpmu cluster down': { why: 'stops a cluster', coveredBy: CLUSTER },
  'vpmu cluster up --kafka BROKERS --host-nodes 3 --guest-vms 2 --out out': { why: 'needs a Kafka broker', coveredBy: 'test/cluster/cluster.test.ts' },
  'vpmu run scenarios/quickstart.yaml --kafka BROKERS': { why: 'needs a Kafka broker', coveredBy: 'test/cluster/cluster.test.ts' },
  'vpmu cluster up --kafka localhost:9092': { why: 'needs a Kafka broker', coveredBy: 'test/cluster/platform-traces.test.ts' },
  'vpmu run scenarios/quickstart.yaml --kafka localhost:9092': { why: 'needs a Kafka broker', coveredBy: 'test/cluster/platform-traces.test.ts' },
  'export OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318': { why: 'sets the collector for the cluster recipe after it', coveredBy: 'test/cluster/platform-traces.test.ts' },
  'vpmu replay --kafka localhost:9092 --run quickstart-s42-f203384fce8d --verify': { why: 'needs a Kafka broker', coveredBy: 'test/cluster/replay-kafka.test.ts' },
  'vpmu replay --kafka localhost:9092 --run quickstart-s42-f203384fce8d --out out/from-kafka': { why: 'needs a Kafka broker', coveredBy: 'test/cluster/replay-kafka.test.ts' },
  'docker compose up -d --build': { why: 'needs Docker', coveredBy: 'test/cluster/docker-compose.test.ts' },
  'docker compose run --rm vpmu dist/apps/cli/main.js run scenarios/quickstart.yaml --kafka kafka:9092': { why: 'needs Docker', coveredBy: 'test/cluster/docker-compose.test.ts' },
  'docker compose down': { why: 'needs Docker', coveredBy: 'test/cluster/docker-compose.test.ts' },
  'docker run --rm -p 16686:16686 -p 4318:4318 jaegertracing/jaeger:2.5.0': { why: 'needs Docker (Jaeger)', coveredBy: 'test/cluster/docker-compose.test.ts' },
  'vpmu replay out/quickstart --otlp http://localhost:4318': { why: 'needs a collector (Jaeger)', coveredBy: 'test/cli/otlp-endpoint.test.ts' },
  'vpmu run scenarios/quickstart.yaml --out out/quickstart --otlp http://localhost:4318': { why: 'needs a collector (Jaeger)', coveredBy: 'test/cli/otlp-endpoint.test.ts' },
  'vpmu replay out/quickstart/recording.vpmurec --otlp http://localhost:4318': { why: 'needs a collector (Jaeger)', coveredBy: 'test/cli/otlp-endpoint.test.ts' },
  'OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 vpmu run scenarios/quickstart.yaml': { why: 'needs a collector (Jaeger)', coveredBy: 'test/cli/otlp-endpoint.test.ts' },
};

/** How many commands run at once (the machine may have 2 busy cores). */
const PARALLEL = 3;

interface Outcome {
  code: number | null;
  output: string;
}

function runShell(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    // Kept apart so a progress line on stderr never splits a line of stdout.
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    // Generous: a busy CI machine; no behaviour here is timed.
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: `${stdout}\n${stderr}` });
    });
  });
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

const isRun = (c: DocCommand): boolean => /^(vpmu|\.\/bin\/vpmu|node dist\/apps\/cli\/main\.js) run /.test(c.text);

describe('every command README.md and docs/ show', () => {
  const all: DocCommand[] = [];
  for (const file of docFiles(REPO_ROOT)) all.push(...extractCommands(file, fs.readFileSync(path.join(REPO_ROOT, file), 'utf8')));
  const distinct = new Map<string, DocCommand>();
  for (const c of all) if (!distinct.has(c.text)) distinct.set(c.text, c);
  const toRun = [...distinct.values()].filter((c) => !(c.text in NOT_RUN));
  const outcomes = new Map<string, Outcome>();
  let workDir: string;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpmu-docs-'));
    for (const d of ['dist', 'scenarios', 'schema', 'bin', 'node_modules', 'package.json']) fs.symlinkSync(path.join(REPO_ROOT, d), path.join(workDir, d));
    const binDir = path.join(workDir, '.docs-bin');
    fs.mkdirSync(binDir);
    fs.writeFileSync(path.join(binDir, 'vpmu'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(REPO_ROOT, 'dist', 'apps', 'cli', 'main.js')}" "$@"\n`, { mode: 0o755 });
    const env = { ...process.env, CI: 'true', PATH: `${binDir}${path.delimiter}${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` };
    const exec = async (c: DocCommand): Promise<void> => {
      outcomes.set(c.text, await runShell(c.text, workDir, env));
    };
    await inParallel(toRun.filter(isRun), PARALLEL, exec);
    const blocks = new Map<string, DocCommand[]>();
    for (const c of toRun.filter((x) => !isRun(x))) {
      const key = `${c.file}#${c.block}`;
      blocks.set(key, [...(blocks.get(key) ?? []), c]);
    }
    await inParallel([...blocks.values()], PARALLEL, async (cs) => {
      for (const c of cs) await exec(c);
    });
  }, 900_000);

  afterAll(() => {
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('finds the commands, runs most of them and lists the rest', () => {
    // Printed for the record: how many the docs show, run, and leave to other tests.
    console.log(`doc commands: ${all.length} shown, ${distinct.size} distinct, ${toRun.length} run, ${distinct.size - toRun.length} listed as covered elsewhere`);
    expect(toRun.length).toBeGreaterThan(15);
  });

  it('lists only commands the docs show, each with a test or step that covers it', () => {
    const stale = Object.keys(NOT_RUN).filter((t) => !distinct.has(t));
    expect(stale).toEqual([]);
    for (const { coveredBy } of Object.values(NOT_RUN)) {
      for (const p of coveredBy.match(/\b(test|scripts)\/[\w./-]+\.(ts|sh)\b/g) ?? []) expect(fs.existsSync(path.join(REPO_ROOT, p))).toBe(true);
    }
  });

  it('runs each command with the exit code its doc implies', () => {
    const wrong = toRun
      .filter((c) => outcomes.get(c.text)?.code !== c.expectExit)
      .map((c) => `${c.file}:${c.line}: \`${c.text}\` exited ${outcomes.get(c.text)?.code} (expected ${c.expectExit}):\n${(outcomes.get(c.text)?.output ?? '').slice(-1500)}`);
    expect(wrong).toEqual([]);
  });

  it('shows output samples with the shape of the real output', () => {
    const stale: string[] = [];
    for (const c of all.filter((x) => x.sample.some((l) => l.trim() !== ''))) {
      const o = outcomes.get(c.text);
      if (!o) continue; // not run here (NOT_RUN)
      const missing = unmatchedSampleLines(c.sample, o.output);
      if (missing.length > 0) stale.push(`${c.file}:${c.line}: \`${c.text}\` never prints a line shaped like:\n  ${missing.join('\n  ')}\nit printed:\n${o.output.slice(0, 2000)}`);
    }
    expect(stale).toEqual([]);
  });

  it('quotes no whole digest in prose or samples (they change with every build: show them cut, digest 6f962ad2…)', () => {
    const whole = /\b[0-9a-f]{40,}\b/;
    const hits = docFiles(REPO_ROOT).flatMap((f) =>
      fs
        .readFileSync(path.join(REPO_ROOT, f), 'utf8')
        .split('\n')
        .map((l, i) => (whole.test(l) ? `${f}:${i + 1}: ${l.trim()}` : null))
        .filter((x): x is string => x !== null),
    );
    expect(hits).toEqual([]);
  });
});
