#!/usr/bin/env node
// The `vpmu` command. Operating errors become one clear sentence and an exit code; a stack trace
// is shown only with --debug (or for an internal bug, exit 1, with the seed when known).
import 'reflect-metadata';
import { isOperatingError } from '@vpmu/errors';
import { EXIT, exitCodeFor } from './exit-codes';
import { processIo, type CommandIo } from './commands/command-io';
import { clusterCommand } from './commands/cluster.command';
import { runCommand } from './commands/run.command';
import { validateCommand } from './commands/validate.command';
import { replayCommand } from './commands/replay.command';
import { inspectCommand } from './commands/inspect.command';
import { exportCommand } from './commands/export.command';
import { overheadCommand } from './commands/overhead.command';

type Command = (argv: string[], io: CommandIo) => Promise<number>;

/** Each command with its forms: [synopsis, what it does]. Shown by `vpmu help`, one page each in docs/cli/. */
const COMMANDS: Record<string, { run: Command; forms: [string, string][] }> = {
  run: { run: runCommand, forms: [['run FILE [--out DIR] [--seed N] [--otlp URL] [--kafka B]', 'run a scenario, record it, write the summary and the viewers']] },
  validate: { run: validateCommand, forms: [['validate FILE', 'check a scenario file, every error with its path']] },
  replay: {
    run: replayCommand,
    forms: [
      ['replay REC --verify [--json]', 're-simulate a recording and compare (exit 3 on divergence)'],
      ['replay REC [--otlp URL] [--out DIR] [--speed X]', 'stream a recording to the viewers'],
      ['replay --kafka B --run ID [--verify]', 'the same for a run read back from Kafka'],
    ],
  },
  inspect: { run: inspectCommand, forms: [['inspect REC --at TIME [--vm ID] [--host ID] [--json]', 'the vPMU, perf and scheduler state at a virtual time']] },
  export: { run: exportCommand, forms: [['export REC --format jsonl|perfetto|otlp-json|html --out FILE', 'convert a recording'], ['export REC --format perf-data --out DIR', 'guest perf sessions as perf.data / perf stat output']] },
  overhead: { run: overheadCommand, forms: [['overhead FILE [--json]', 'guest perf overhead: emulated / passthrough / passthrough+filter']] },
  cluster: {
    run: clusterCommand,
    forms: [
      ['cluster up (--kafka B | --mock-broker) [--host-nodes N] [--guest-vms M] [--out DIR]', 'start the services as local processes on a broker'],
      ['cluster down | cluster status', 'stop them / show them'],
    ],
  },
};

export function usage(): string {
  const forms = Object.values(COMMANDS).flatMap((c) => c.forms);
  const width = Math.max(...forms.map(([synopsis]) => synopsis.length));
  return [
    'usage: vpmu <command> [options]',
    '',
    'commands:',
    ...forms.map(([synopsis, what]) => `  ${synopsis.padEnd(width)}  ${what}`),
    '',
    'exit codes: 0 ok, 1 internal bug, 2 bad input, 3 replay divergence, 4 infrastructure unavailable',
    'docs: docs/cli/<command>.md; add --debug to any command for stack traces',
  ].join('\n');
}

export async function main(argv: string[], io: CommandIo = processIo): Promise<number> {
  const debug = argv.includes('--debug');
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    io.out(usage());
    return name ? EXIT.ok : EXIT.badInput;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.err(`vpmu: unknown command "${name}"; run "vpmu help" for the list.`);
    return EXIT.badInput;
  }
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    return reportFailure(err, io, debug);
  }
}

/** The top-level handler: prints what failed and returns the exit code (exit-codes.ts). */
function reportFailure(err: unknown, io: CommandIo, debug: boolean): number {
  if (isOperatingError(err)) {
    io.err(`error: ${err.message}`);
    for (const d of err.details) io.err(`  ${d}`);
    if (debug && err.stack) io.err(err.stack);
    return exitCodeFor(err);
  }
  const e = err as Error;
  io.err(`internal error (a bug in vpmu-lab; please report it with the scenario and seed): ${e.message}`);
  if (debug) io.err(e.stack ?? '');
  else io.err('re-run with --debug for the stack trace.');
  return exitCodeFor(err);
}

/** Entry point when run as `node dist/apps/cli/main.js`. */
export function start(): void {
  // A closed pipe (`vpmu run … | head`) ends output quietly instead of crashing.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`internal error: ${(err as Error).message}\n`);
      process.exitCode = EXIT.bug;
    },
  );
}

if (require.main === module) start();
