// The help the CLI prints: the global usage (`vpmu help`, `vpmu --help`) and one command's page
// (`vpmu CMD --help`, `vpmu CMD -h`, `vpmu help CMD`): its synopsis forms, each argument and flag
// with its meaning (from the command's spec) and the path of its docs page.
import { optionLines, type CommandSpec } from './args';

export interface CommandEntry {
  /** [synopsis, what it does], one per form of the command. */
  forms: [string, string][];
  /** The specs its argv is parsed with (cluster has one per subcommand). */
  specs: CommandSpec[];
}

export function globalUsage(commands: Record<string, CommandEntry>): string {
  const forms = Object.values(commands).flatMap((c) => c.forms);
  const width = Math.max(...forms.map(([synopsis]) => synopsis.length));
  return [
    'usage: vpmu <command> [options]',
    '',
    'commands:',
    ...forms.map(([synopsis, what]) => `  ${synopsis.padEnd(width)}  ${what}`),
    '',
    'exit codes: 0 ok, 1 internal bug, 2 bad input, 3 replay divergence, 4 infrastructure unavailable',
    'vpmu <command> --help (or vpmu help <command>) explains a command; vpmu --version prints the version',
    'docs: docs/cli/<command>.md; add --debug to any command for stack traces',
  ].join('\n');
}

export function commandHelp(name: string, entry: CommandEntry): string {
  const lines = ['usage:'];
  for (const [synopsis, what] of entry.forms) lines.push(`  vpmu ${synopsis}`, `      ${what}`);
  for (const spec of entry.specs) {
    const options = optionLines(spec);
    if (options.length === 0) continue;
    lines.push('', entry.specs.length > 1 ? `options of vpmu ${spec.name}:` : 'options:', ...options);
  }
  lines.push('', `docs: docs/cli/${name}.md`);
  return lines.join('\n');
}
