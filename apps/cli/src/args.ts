// A small, strict argument parser: every command declares its flags; an unknown flag, a
// missing value or a malformed number is a CliError (exit 2) with one clear sentence.
import { CliError } from './cli-error';

export type FlagKind = 'string' | 'int' | 'number' | 'bool';

export interface CommandSpec {
  name: string;
  positionals: { name: string; required: boolean }[];
  flags: Record<string, FlagKind>;
}

export interface ParsedArgs {
  positionals: string[];
  flags: Record<string, string | number | boolean>;
}

export function parseArgs(spec: CommandSpec, argv: string[]): ParsedArgs {
  const positionals: string[] = [];
  const flags: Record<string, string | number | boolean> = {};
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
      const known = Object.keys(spec.flags).map((f) => `--${f}`).join(', ') || 'none';
      throw new CliError(`vpmu ${spec.name}: unknown option --${name} (options: ${known}).`);
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
  const flags = Object.entries(spec.flags).map(([f, k]) => (k === 'bool' ? `[--${f}]` : `[--${f} ${k === 'string' ? 'VALUE' : 'N'}]`));
  return [...pos, ...flags].join(' ');
}
