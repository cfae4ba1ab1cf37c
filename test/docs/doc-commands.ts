// The shell commands README.md and docs/**/*.md show, as test/docs/commands.test.ts runs them.
//
// What counts as a command:
// - every line of a ```sh / ```bash / ```shell block (a trailing `\` joins the next line; a line
//   that starts with `#` is a comment; a leading `$ ` is dropped);
// - in any other fenced block, a line that starts with `$ `: the lines after it, up to the next
//   `$ ` line or the block's end, are that command's sample output, checked against a real run.
// Blocks without a language that show no `$ ` are forms (`vpmu run FILE [--out DIR]`) or output.
// A trailing comment `# exit N` says the command is meant to exit N (default 0).
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface DocCommand {
  /** The command as a shell reads it (continuations joined, trailing comment removed). */
  text: string;
  /** Where it is shown: file (relative to the repository) and 1-based line. */
  file: string;
  line: number;
  /** Index of its fenced block in the file: commands of one block run in order. */
  block: number;
  expectExit: number;
  /** The output lines shown after a `$ ` command (empty for ```sh lines). */
  sample: string[];
}

const SHELL_LANGS = new Set(['sh', 'bash', 'shell']);

/** README.md and every docs/**\/*.md, sorted (the order commands are scheduled in). */
export function docFiles(root: string): string[] {
  const out = ['README.md'];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.md')) out.push(rel);
    }
  };
  walk('docs');
  return out;
}

/** Splits `cmd  # comment` at the first `#` that starts a word outside quotes. */
export function splitComment(line: string): { command: string; comment: string | null } {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      return { command: line.slice(0, i).trim(), comment: line.slice(i + 1).trim() };
    }
  }
  return { command: line.trim(), comment: null };
}

function toCommand(raw: string, file: string, line: number, block: number): DocCommand | null {
  const { command, comment } = splitComment(raw.replace(/^\s*\$\s+/, ''));
  if (command === '') return null;
  const exit = comment ? /^exit (\d+)\b/.exec(comment) : null;
  return { text: command, file, line, block, expectExit: exit ? Number(exit[1]) : 0, sample: [] };
}

export function extractCommands(file: string, markdown: string): DocCommand[] {
  const lines = markdown.split('\n');
  const out: DocCommand[] = [];
  let fence: string | null = null;
  let lang = '';
  let block = -1;
  let current: DocCommand | null = null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const open = /^\s*(```+|~~~+)\s*([\w-]*)/.exec(l);
    if (fence === null) {
      if (open) {
        fence = open[1];
        lang = open[2];
        block++;
        current = null;
      }
      continue;
    }
    if (l.trim().startsWith(fence)) {
      fence = null;
      continue;
    }
    if (SHELL_LANGS.has(lang)) {
      if (/^\s*#/.test(l) || l.trim() === '') continue;
      let text = l;
      const first = i;
      while (/\\\s*$/.test(text) && i + 1 < lines.length) text = text.replace(/\s*\\\s*$/, ' ') + lines[++i].trim();
      const c = toCommand(text, file, first + 1, block);
      if (c) out.push(c);
    } else if (/^\s*\$ /.test(l)) {
      current = toCommand(l, file, i + 1, block);
      if (current) out.push(current);
    } else if (current) {
      current.sample.push(l);
    }
  }
  return out;
}

/**
 * A sample line reduced to its shape: numbers (with a k/M/G/% suffix or a unit) and hex ids
 * become `#`, runs of spaces one space, an ellipsis (a digest shown cut) nothing. A sample shows
 * the shape of real output; the figures move with the model and the tool version.
 */
export function shape(line: string): string {
  return line
    .replace(/…/g, '')
    .replace(/\b[0-9a-f]*\d[0-9a-f]*\b/g, (m) => (m.length >= 6 && /[a-f]/.test(m) ? '#' : m))
    .replace(/\d+(\.\d+)?([eE][-+]?\d+)?[kMG]?/g, '#')
    .replace(/#(\.#)+/g, '#')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The sample lines (in order) that no real output line has the shape of, in that order. */
export function unmatchedSampleLines(sample: readonly string[], output: string): string[] {
  const real = output.split('\n').map(shape);
  const missing: string[] = [];
  let at = 0;
  for (const s of sample) {
    const want = shape(s);
    if (want === '' || want === '...') continue;
    const found = real.findIndex((r, i) => i >= at && r.startsWith(want));
    if (found < 0) missing.push(s);
    else at = found + 1;
  }
  return missing;
}
