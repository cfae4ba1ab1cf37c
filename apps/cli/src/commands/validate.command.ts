// `vpmu validate FILE [--json]`: checks a scenario; every error with its path (and line) in the
// file. With --json, stdout carries the normalized counts or the errors, the exit code stays.
import { isOperatingError } from '@vpmu/errors';
import type { Scenario } from '@vpmu/scenario';
import { parseArgs, type CommandSpec } from '../args';
import { CliError } from '../cli-error';
import { loadScenarioFile, ScenarioFileError, type LoadedScenario } from '../scenario-file';
import { testFaultsNote, testOnlyFaultsOf } from '../test-faults';
import type { CommandIo } from './command-io';

export const VALIDATE_SPEC: CommandSpec = {
  name: 'validate',
  positionals: [{ name: 'FILE', required: true, help: 'the scenario file (YAML) to check' }],
  flags: { json: 'bool', debug: 'bool' },
  help: { json: { text: 'print the normalized counts (hosts, VMs, vCPUs after fleet templates), or every error with its path and line, as JSON on stdout' } },
};

export async function validateCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(VALIDATE_SPEC, argv);
  const file = args.positionals[0];
  if (args.flags.json === true) return validateJson(file, io);
  const loaded = loadScenarioFile(file);
  const s = loaded.scenario;
  for (const w of loaded.warnings) io.err(`warning: ${w}`);
  const vcpus = vcpuCount(s);
  // The counts are after fleet templates are expanded: the size of the world that will run.
  io.out(
    `${loaded.file}: valid scenario "${s.name}" (${s.hosts.length} host${s.hosts.length === 1 ? '' : 's'}, ${s.vms.length} VM${s.vms.length === 1 ? '' : 's'}, ${vcpus} vCPU${vcpus === 1 ? '' : 's'}, ${s.timeline.length} timeline action${s.timeline.length === 1 ? '' : 's'}, seed ${s.seed}).`,
  );
  const note = testFaultsNote(s);
  if (note) io.out(`note: ${note}`);
  return 0;
}

function vcpuCount(s: Scenario): number {
  return s.vms.reduce((n, vm) => n + vm.vcpus, 0);
}

async function validateJson(file: string, io: CommandIo): Promise<number> {
  let loaded: LoadedScenario;
  try {
    loaded = loadScenarioFile(file);
  } catch (err) {
    if (!isOperatingError(err)) throw err;
    const errors = err instanceof ScenarioFileError ? err.errors.map((e) => ({ path: e.path, line: e.line ?? null, message: e.message })) : [{ path: '', line: null, message: err.message }];
    io.out(JSON.stringify({ file, valid: false, errors }, null, 2));
    // stderr keeps the sentence for a human; the details are in the JSON.
    throw err instanceof ScenarioFileError ? new CliError(err.message.replace(/:$/, '.'), err.kind) : err;
  }
  const s = loaded.scenario;
  const counts = { hosts: s.hosts.length, vms: s.vms.length, vcpus: vcpuCount(s), timelineActions: s.timeline.length };
  io.out(JSON.stringify({ file, valid: true, scenario: s.name, seed: s.seed, durationNs: s.durationNs, ...counts, warnings: loaded.warnings, testOnlyFaults: testOnlyFaultsOf(s) }, null, 2));
  return 0;
}
