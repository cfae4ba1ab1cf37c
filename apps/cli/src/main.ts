#!/usr/bin/env node
// The `vpmu` command. Operating errors become one clear sentence and an exit code; a stack trace
// is shown only with --debug (or for an internal bug, exit 1, with the seed when known).
import 'reflect-metadata';
import { isOperatingError } from '@vpmu/errors';
import { closest } from '@vpmu/scenario';
import { wantsHelp } from './args';
import { EXIT, exitCodeFor } from './exit-codes';
import { commandHelp, globalUsage, type CommandEntry } from './help-text';
import { TOOL_VERSION } from './version';
import { processIo, type CommandIo } from './commands/command-io';
import { CLUSTER_DOWN_SPEC, CLUSTER_SWEEP_WORKER_SPEC, CLUSTER_UP_SPEC, clusterCommand } from './commands/cluster.command';
import { RUN_SPEC, runCommand } from './commands/run.command';
import { VALIDATE_SPEC, validateCommand } from './commands/validate.command';
import { REPLAY_SPEC, replayCommand } from './commands/replay.command';
import { INSPECT_SPEC, inspectCommand } from './commands/inspect.command';
import { EXPORT_SPEC, exportCommand } from './commands/export.command';
import { OVERHEAD_SPEC, overheadCommand } from './commands/overhead.command';
import { SWARM_SPEC, swarmCommand } from './commands/swarm.command';
import { DIFF_SPEC, diffCommand } from './commands/diff.command';
import { SWEEP_SPEC, sweepCommand } from './commands/sweep.command';

type Command = (argv: string[], io: CommandIo) => Promise<number>;

/** Each command with its forms [synopsis, what it does] and specs. Shown by `vpmu help [CMD]`, one page each in docs/cli/. */
export const COMMANDS: Record<string, CommandEntry & { run: Command }> = {
  run: {
    run: runCommand,
    specs: [RUN_SPEC],
    forms: [['run FILE [--out DIR] [--seed N] [--otlp URL] [--kafka B] [--overhead] [--json]', 'run a scenario, record it, write the summary and the viewers']],
  },
  validate: { run: validateCommand, specs: [VALIDATE_SPEC], forms: [['validate FILE [--json]', 'check a scenario file, every error with its path']] },
  replay: {
    run: replayCommand,
    specs: [REPLAY_SPEC],
    forms: [
      ['replay REC --verify [--json]', 're-simulate a recording and compare (exit 3 on divergence)'],
      ['replay REC [--otlp URL] [--out DIR] [--speed X] [--json]', 'stream a recording to the viewers'],
      ['replay --kafka B --run ID [--verify]', 'the same for a run read back from Kafka'],
    ],
  },
  inspect: {
    run: inspectCommand,
    specs: [INSPECT_SPEC],
    forms: [['inspect REC --at TIME [--vm ID] [--host ID] [--json]', 'the vPMU, perf and scheduler state at a virtual time']],
  },
  export: {
    run: exportCommand,
    specs: [EXPORT_SPEC],
    forms: [
      ['export REC --format jsonl|perfetto|otlp-json|html --out FILE [--json]', 'convert a recording'],
      ['export REC --format perf-data --out DIR [--json]', 'guest perf sessions as perf.data / perf stat output'],
    ],
  },
  overhead: { run: overheadCommand, specs: [OVERHEAD_SPEC], forms: [['overhead FILE [--json]', 'guest perf overhead: emulated / passthrough / passthrough+filter / mediated']] },
  swarm: {
    run: swarmCommand,
    specs: [SWARM_SPEC],
    forms: [['swarm --seed N [--count K] [--kafka B] [--out DIR] [--json]', 'generated worlds checked against invariants; a violation is shrunk (exit 3)']],
  },
  sweep: {
    run: sweepCommand,
    specs: [SWEEP_SPEC],
    forms: [['sweep FILE --vary PATH=V1,V2 [--vary ...] [--seeds N] [--out DIR] [--jobs N | --kafka B] [--json]', 'the cross product of varied values x seeds, in parallel (local or on the sweep workers), cached; sweep.json/csv/html']],
  },
  diff: {
    run: diffCommand,
    specs: [DIFF_SPEC],
    forms: [['diff A B [--json]', 'two runs side by side: counters, exits, PMIs, overhead, findings added/gone, first diverging event']],
  },
  cluster: {
    run: clusterCommand,
    specs: [CLUSTER_UP_SPEC, CLUSTER_DOWN_SPEC, CLUSTER_SWEEP_WORKER_SPEC],
    forms: [
      ['cluster up (--kafka B | --mock-broker) [--host-nodes N] [--guest-vms M] [--sweep-workers W] [--out DIR]', 'start the services as local processes on a broker'],
      ['cluster down | cluster status', 'stop them / show them'],
      ['cluster sweep-worker --kafka B [--replica NAME]', 'one sweep worker in the foreground: takes sweep points (vpmu sweep --kafka)'],
    ],
  },
};

export function usage(): string {
  return globalUsage(COMMANDS);
}

export async function main(argv: string[], io: CommandIo = processIo): Promise<number> {
  const debug = argv.includes('--debug');
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    io.out(usage());
    return name ? EXIT.ok : EXIT.badInput;
  }
  if (name === '--version' || name === 'version') {
    io.out(`vpmu ${TOOL_VERSION}`);
    return EXIT.ok;
  }
  if (name === 'help') {
    const cmd = known(rest[0], io);
    if (!cmd) return EXIT.badInput;
    io.out(commandHelp(rest[0], cmd));
    return EXIT.ok;
  }
  const cmd = known(name, io);
  if (!cmd) return EXIT.badInput;
  if (wantsHelp(rest)) {
    io.out(commandHelp(name, cmd));
    return EXIT.ok;
  }
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    return reportFailure(err, io, debug);
  }
}

/** The command called `name`, or null after saying it does not exist (with the nearest name). */
function known(name: string, io: CommandIo): (typeof COMMANDS)[string] | null {
  if (Object.hasOwn(COMMANDS, name)) return COMMANDS[name];
  const guess = closest(name, Object.keys(COMMANDS));
  const hint = guess ? `; did you mean "${guess}"? Run` : '; run';
  io.err(`vpmu: unknown command "${name}"${hint} "vpmu help" for the list.`);
  return null;
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
  let settled = false;
  // A command whose work stopped without settling (a service that failed where nobody listens)
  // would otherwise end with exit 0 and no output once the event loop drains.
  process.once('beforeExit', () => {
    if (settled) return;
    process.stderr.write('internal error (a bug in vpmu-lab; please report it with the command line): the command stopped before finishing, with nothing left to wait for.\n');
    process.exitCode = EXIT.bug;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      settled = true;
      process.exitCode = code;
      // A client library that keeps reconnecting to a dead broker (kafkajs) must not keep a
      // finished command alive: unref'd, so a process that drains on its own exits at once.
      setTimeout(() => process.exit(code), 10_000).unref(); // wall-clock ok: exit bound
    },
    (err) => {
      settled = true;
      process.stderr.write(`internal error: ${(err as Error).message}\n`);
      process.exitCode = EXIT.bug;
    },
  );
}

if (require.main === module) start();
