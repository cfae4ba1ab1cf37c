// A small, strict argument parser: every command declares its flags; an unknown flag, a
// missing value or a malformed number is a CliError (exit 2) with one clear sentence.
// Why not node:util parseArgs: it has no integer or number options, accepts "--seed=" as an empty
// value and words its errors for programmers ("Unknown option '--x'. To specify a positional
// argument starting with a '-'..."); the few lines here keep every sentence ours and testable.
import { closest } from '@vpmu/scenario';
import { CliError } from './cli-error';

/** `list`: a string flag that may be given more than once (`--vary A=1 --vary B=2`), kept in order. */
export type FlagKind = 'string' | 'int' | 'number' | 'bool' | 'list';

/** What `vpmu CMD --help` says about a flag: its value's name (value flags) and one line. */
export interface FlagHelp {
  value?: string;
  text: string;
}

export interface CommandSpec {
  name: string;
  positionals: { name: string; required: boolean; help?: string }[];
  flags: Record<string, FlagKind>;
  /** One line per flag for `vpmu CMD --help`; --debug and --quiet have a common one. */
  help?: Record<string, FlagHelp>;
}

export interface ParsedArgs {
  positionals: string[];
  flags: Record<string, string | number | boolean | string[]>;
}

/** Help lines every command shares. */
export const COMMON_FLAG_HELP: Record<string, FlagHelp> = {
  debug: { text: 'show the stack trace of an error' },
  quiet: { text: 'no progress line on stderr' },
};

/** True when argv asks for the command's help (`--help` or `-h` anywhere). */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.some((a) => a === '--help' || a === '-h');
}

export function parseArgs(spec: CommandSpec, argv: string[]): ParsedArgs {
  const positionals: string[] = [];
  const flags: Record<string, string | number | boolean | string[]> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const kind = spec.flags[name];
    if (!kind) {
      const names = Object.keys(spec.flags);
      const known = names.map((f) => `--${f}`).join(', ') || 'none';
      const guess = closest(name, names);
      const hint = guess === undefined ? '' : `; did you mean --${guess}?`;
      throw new CliError(`vpmu ${spec.name}: unknown option --${name}${hint} (options: ${known}; vpmu ${spec.name} --help explains them).`);
    }
    if (kind === 'bool') {
      flags[name] = true;
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new CliError(`vpmu ${spec.name}: --${name} needs a value.`);
    if (kind === 'int') {
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
        throw new CliError(`vpmu ${spec.name}: --${name} must be a non-negative integer, got "${value}".`);
      }
      flags[name] = Number(value);
    } else if (kind === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) throw new CliError(`vpmu ${spec.name}: --${name} must be a positive number, got "${value}".`);
      flags[name] = n;
    } else if (kind === 'list') {
      flags[name] = [...((flags[name] as string[] | undefined) ?? []), value];
    } else {
      flags[name] = value;
    }
  }
  const required = spec.positionals.filter((p) => p.required);
  if (positionals.length < required.length) {
    throw new CliError(`vpmu ${spec.name}: missing ${required[positionals.length].name} (usage: vpmu ${spec.name} ${usageOf(spec)}).`);
  }
  if (positionals.length > spec.positionals.length) {
    throw new CliError(`vpmu ${spec.name}: unexpected argument "${positionals[spec.positionals.length]}" (usage: vpmu ${spec.name} ${usageOf(spec)}).`);
  }
  return { positionals, flags };
}

export function usageOf(spec: CommandSpec): string {
  const pos = spec.positionals.map((p) => (p.required ? p.name : `[${p.name}]`));
  const flags = Object.entries(spec.flags).map(([f, k]) => (k === 'bool' ? `[--${f}]` : `[--${f} ${valueName(spec, f, k)}]`));
  return [...pos, ...flags].join(' ');
}

function valueName(spec: CommandSpec, flag: string, kind: FlagKind): string {
  return spec.help?.[flag]?.value ?? (kind === 'string' || kind === 'list' ? 'VALUE' : kind === 'int' ? 'N' : 'X');
}

/** The help of a flag: the spec's line, else the common one, else null (a spec test keeps none missing). */
export function flagHelp(spec: CommandSpec, flag: string): FlagHelp | null {
  return spec.help?.[flag] ?? COMMON_FLAG_HELP[flag] ?? null;
}

/** The options part of `vpmu CMD --help`: each argument and flag with its line, aligned. */
export function optionLines(spec: CommandSpec): string[] {
  const rows: [string, string][] = [];
  for (const p of spec.positionals) if (p.help) rows.push([p.name, p.help]);
  for (const [flag, kind] of Object.entries(spec.flags)) {
    const h = flagHelp(spec, flag);
    rows.push([kind === 'bool' ? `--${flag}` : `--${flag} ${valueName(spec, flag, kind)}`, h?.text ?? '']);
  }
  const width = Math.max(0, ...rows.map(([n]) => n.length));
  return rows.map(([n, text]) => `  ${n.padEnd(width)}  ${text}`.trimEnd());
}
