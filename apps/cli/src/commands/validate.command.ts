// `vpmu validate FILE`: checks a scenario; every error with its path (and line) in the file.
import { parseArgs, type CommandSpec } from '../args';
import { loadScenarioFile } from '../scenario-file';
import type { CommandIo } from './command-io';

export const VALIDATE_SPEC: CommandSpec = { name: 'validate', positionals: [{ name: 'FILE', required: true }], flags: { debug: 'bool' } };

export async function validateCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(VALIDATE_SPEC, argv);
  const loaded = loadScenarioFile(args.positionals[0]);
  const s = loaded.scenario;
  for (const w of loaded.warnings) io.err(`warning: ${w}`);
  io.out(
    `${loaded.file}: valid scenario "${s.name}" (${s.hosts.length} host${s.hosts.length === 1 ? '' : 's'}, ${s.vms.length} VM${s.vms.length === 1 ? '' : 's'}, ${s.timeline.length} timeline action${s.timeline.length === 1 ? '' : 's'}, seed ${s.seed}).`,
  );
  return 0;
}
