// A `--vary PATH=V1,V2` axis of a sweep, applied to the scenario's YAML text: the expanded
// scenario of a point is the scenario file with the varied values written in, so it is checked by
// the same reader as any scenario (an invalid value gets the reader's sentence, path and choices)
// and it is what the cache key and the recording hold.
//
// PATH walks the document: map keys by name, list items by index (`vms[0]`, `vms.0`) or by their
// `id` (`vms.guest`), as the reader's error paths and scenario ids name them. A final `length` on
// a list resizes it, cycling its items (`guestPerf.s.events.length=6,16`: 6 or 16 events, the
// multiplexing axis). A value `*` on a `vpmu.mode` path stands for every vPMU design of VPMU_MODES
// (all but `none`, which gives the guest no PMU at all) that the scenario accepts there, so a sweep
// picks up a design added to the models without being edited.
import { isMap, isScalar, isSeq, parseDocument, parse as parseYamlValue, type Document, type Node } from 'yaml';
import { closest, parseScenario, VPMU_MODES } from '@vpmu/scenario';
import { CliError } from '../cli-error';

export type VaryValue = string | number | boolean;

export interface VaryAxis {
  /** The path as written on the command line or in the sweep file. */
  path: string;
  values: VaryValue[];
}

type Step = { key: string } | { index: number } | { id: string } | { length: true };

/** `PATH=V1,V2,...` → an axis (values read as YAML scalars: `1000` is a number, `emulated` a string). */
export function parseVaryFlag(flag: string): VaryAxis {
  const eq = flag.indexOf('=');
  if (eq <= 0 || eq === flag.length - 1) {
    throw new CliError(`vpmu sweep: --vary "${flag}" must be PATH=V1,V2,... (e.g. --vary vms.guest.vpmu.mode=emulated,passthrough).`);
  }
  const values = flag
    .slice(eq + 1)
    .split(',')
    .map((v) => v.trim());
  if (values.some((v) => v === '')) throw new CliError(`vpmu sweep: --vary "${flag}" has an empty value; separate values with single commas.`);
  return { path: flag.slice(0, eq).trim(), values: values.map(scalarOf) };
}

export function scalarOf(text: string): VaryValue {
  if (text === '*') return text;
  try {
    const v: unknown = parseYamlValue(text);
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  } catch {
    // not a YAML scalar: taken as the text itself
  }
  return text;
}

function stepsOf(path: string): Step[] {
  const steps: Step[] = [];
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  parts.forEach((p, i) => {
    if (p === '') throw new CliError(`vpmu sweep: --vary path "${path}" has an empty segment; write it like vms.guest.vpmu.mode or vms[0].vpmu.mode.`);
    if (p === 'length' && i === parts.length - 1) steps.push({ length: true });
    else if (/^\d+$/.test(p)) steps.push({ index: Number(p) });
    else steps.push({ key: p });
  });
  return steps;
}

/** Writes `value` at `path` into the document (in place); a CliError naming the path when it cannot go there. */
function applyTo(doc: Document, path: string, value: VaryValue): void {
  const steps = stepsOf(path);
  let node: unknown = doc.contents;
  let where = '';
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    const last = i === steps.length - 1;
    if ('length' in step) {
      if (!isSeq(node)) throw new CliError(`vpmu sweep: --vary ${path}: "length" resizes a list, but ${where || 'the document'} is not a list.`);
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new CliError(`vpmu sweep: --vary ${path}: a length must be a whole number of at least 1, got "${value}".`);
      const items = node.items.slice();
      if (items.length === 0) throw new CliError(`vpmu sweep: --vary ${path}: ${where} is empty, so there is nothing to repeat to length ${n}.`);
      node.items = Array.from({ length: n }, (_, k) => cloneNode(doc, items[k % items.length]));
      return;
    }
    if (isSeq(node)) {
      const ids = node.items.map((it) => (isMap(it) ? it.get('id') : undefined)).filter((x): x is string => typeof x === 'string');
      let index: number;
      if ('index' in step) index = step.index;
      else if ('key' in step) index = node.items.findIndex((it) => isMap(it) && it.get('id') === step.key);
      else index = -1;
      const label = 'index' in step ? String(step.index) : 'key' in step ? step.key : '';
      if (index < 0 || index >= node.items.length) {
        const guess = 'key' in step ? closest(step.key, ids) : undefined;
        const hint = guess ? `did you mean "${guess}"? ` : '';
        const choices = [...ids.map((x) => `"${x}"`), `[0]..[${node.items.length - 1}]`].join(', ');
        throw new CliError(`vpmu sweep: --vary ${path}: ${where} has no item ${label}; ${hint}choose one of ${choices}.`);
      }
      where = `${where}[${index}]`;
      if (last) {
        node.items[index] = doc.createNode(value) as never;
        return;
      }
      node = node.items[index];
      continue;
    }
    if (isMap(node) && 'key' in step) {
      where = where ? `${where}.${step.key}` : step.key;
      if (last) {
        node.set(step.key, doc.createNode(value));
        return;
      }
      let next = node.get(step.key, true) as unknown;
      if (next === undefined || (isScalar(next) && next.value === null)) {
        // A section the file leaves to its defaults (e.g. no `vpmu:`): created; the reader checks the key.
        next = doc.createNode({});
        node.set(step.key, next);
      }
      node = next;
      continue;
    }
    const keys = isMap(node) ? node.items.map((p) => String(isScalar(p.key) ? p.key.value : p.key)) : [];
    const hint = keys.length ? ` (keys there: ${keys.join(', ')})` : '';
    throw new CliError(`vpmu sweep: --vary ${path}: ${where || 'the document'} is ${isSeq(node) ? 'a list' : 'a single value'}, so it has no ${'key' in step ? `key "${step.key}"` : `item ${'index' in step ? step.index : ''}`}${hint}.`);
  }
}

function cloneNode(doc: Document, n: unknown): Node {
  return doc.createNode((n as Node).toJSON()) as Node;
}

/** The scenario text with every (path, value) written in, in order. */
export function expandScenario(text: string, assignments: readonly [string, VaryValue][]): string {
  const doc = parseDocument(text);
  for (const [path, value] of assignments) applyTo(doc, path, value);
  return doc.toString({ lineWidth: 0 });
}

/** The first reader error of an expanded scenario, as one line (null: valid). */
export function scenarioProblem(text: string): string | null {
  const parsed = parseScenario(text);
  if (parsed.ok) return null;
  const e = parsed.errors[0];
  return `${e.path ? `${e.path}: ` : ''}${e.message}`;
}

/**
 * The axes with `*` expanded and every value checked on its own against the base scenario, so a
 * bad path or value is exit 2 naming the path and, from the scenario reader, the valid choices.
 */
export function resolveAxes(baseText: string, axes: readonly VaryAxis[]): VaryAxis[] {
  const seen = new Set<string>();
  return axes.map((axis) => {
    if (seen.has(axis.path)) throw new CliError(`vpmu sweep: --vary ${axis.path} is given twice; list all its values in one --vary.`);
    seen.add(axis.path);
    const values: VaryValue[] = [];
    for (const v of axis.values) {
      if (v === '*') {
        if (!/(^|\.)vpmu\.mode$/.test(axis.path)) throw new CliError(`vpmu sweep: --vary ${axis.path}=*: "*" (every mode) applies to a vpmu.mode path only; list the values.`);
        for (const mode of VPMU_MODES) if (mode !== 'none' && scenarioProblem(expandScenario(baseText, [[axis.path, mode]])) === null && !values.includes(mode)) values.push(mode);
        if (values.length === 0) throw new CliError(`vpmu sweep: --vary ${axis.path}=*: the scenario accepts none of the vPMU designs ${VPMU_MODES.filter((m) => m !== 'none').join('|')} there.`);
        continue;
      }
      const problem = scenarioProblem(expandScenario(baseText, [[axis.path, v]]));
      if (problem !== null) throw new CliError(`vpmu sweep: --vary ${axis.path}=${v} makes the scenario invalid: ${problem.replace(/\.$/, '')}.`);
      if (!values.includes(v)) values.push(v);
    }
    return { path: axis.path, values };
  });
}
