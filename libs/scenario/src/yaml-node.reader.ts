// Typed, path-aware reading of a parsed YAML document. Every reader records an error with the
// node's path and line and returns undefined instead of throwing, so one pass over the document
// collects every problem in it.
//
// Conventions: a key whose value is null (`key:` or `key: ~`) counts as absent, so optional
// fields take their default; aliases are resolved; merge keys (`<<: *anchor`) fill keys the
// mapping does not set itself.

import { Document, isAlias, isMap, isScalar, isSeq, LineCounter, Node as YamlNode } from 'yaml';

import { didYouMean } from './did-you-mean';
import { ScenarioError } from './scenario.errors';
import {
  formatDurationNs,
  parseBandwidthBytesPerSec,
  parseDurationNs,
  parseInteger,
  parseSizeBytes,
  QuantityResult,
} from '@vpmu/world-spec';

/** A value in the document: its node, where it sits, and on which line. */
export interface Field {
  node: YamlNode;
  path: string;
  line?: number;
}

export interface Range {
  min?: number;
  max?: number;
  /** Why the bound exists, shown in the error ("the widest core retires 8 per cycle"). */
  why?: string;
}

export class Diagnostics {
  readonly errors: ScenarioError[] = [];
  readonly warnings: { path: string; message: string; line?: number }[] = [];

  error(path: string, message: string, line?: number): void {
    this.errors.push(line === undefined ? { path, message } : { path, message, line });
  }

  warn(path: string, message: string, line?: number): void {
    this.warnings.push(line === undefined ? { path, message } : { path, message, line });
  }
}

export function childPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

export function indexPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

export class MapView {
  constructor(
    readonly path: string,
    readonly line: number | undefined,
    private readonly entries: Map<string, Field>,
    private readonly reader: NodeReader,
  ) {}

  /** The value at `key`, or undefined when the key is absent or null. */
  get(key: string): Field | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Keys present with a non-null value, in document order. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** The value at `key`; records "required" when it is missing. */
  require(key: string, hint?: string): Field | undefined {
    const f = this.entries.get(key);
    if (f === undefined) {
      this.reader.diag.error(childPath(this.path, key), hint ? `required (${hint})` : 'required', this.line);
    }
    return f;
  }
}

export interface MapOptions {
  /** Keys matching this are accepted and ignored (top-level `x-…` keys for YAML anchors). */
  ignoreKeys?: RegExp;
  /** Accept any key (free-form maps such as `costs` or fault `params`). */
  anyKey?: boolean;
}

/**
 * Aliases let a small file name the same big subtree many times (the "billion laughs" shape);
 * past this many alias hops into collections the reader refuses instead of walking them all.
 */
export const MAX_ALIAS_EXPANSIONS = 1000;

/**
 * Keys that name JavaScript object machinery: a scenario key with one of these names would be
 * dropped or, worse, replace an object's prototype where a reader copies keys into a plain object
 * (fault `params`, `costs`). No field of the format is called this, so they are refused anywhere.
 */
export const RESERVED_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

/**
 * Deepest nesting of mappings and lists a scenario may have. The deepest real path is about six
 * levels (`vms[0].vpmu.filter.masked[0].event`); 64 is far above any real scenario and far below
 * the depth at which the YAML library's recursive reader runs out of stack (a few thousand).
 */
export const MAX_NESTING_DEPTH = 64;

/**
 * The first node nested deeper than `limit` (its depth counts the top level as 1), walked without
 * recursion so a deep document cannot exhaust the stack here either. Aliases are leaves here: what
 * they point to is checked where it is defined.
 */
export function findTooDeep(root: unknown, limit: number): YamlNode | undefined {
  const stack: { node: unknown; depth: number }[] = [{ node: root, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > limit) return node;
    for (const item of node.items) {
      if (isMap(node)) {
        const pair = item as { key: unknown; value: unknown };
        stack.push({ node: pair.key, depth: depth + 1 }, { node: pair.value, depth: depth + 1 });
      } else {
        stack.push({ node: item, depth: depth + 1 });
      }
    }
  }
  return undefined;
}

export class NodeReader {
  private aliasExpansions = 0;
  private aliasLimitReported = false;
  private aliasCounting = true;

  constructor(
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
    readonly diag: Diagnostics,
  ) {}

  lineOf(node: YamlNode | null | undefined): number | undefined {
    const r = node?.range;
    return r ? this.lineCounter.linePos(r[0]).line : undefined;
  }

  field(node: unknown, path: string): Field | undefined {
    const resolved = this.resolve(node, path);
    if (resolved === undefined) return undefined;
    return { node: resolved, path, line: this.lineOf(resolved) };
  }

  /** Follows aliases; undefined (with an error) for an alias to a missing anchor. */
  private resolve(node: unknown, path: string, lineHint?: number): YamlNode | undefined {
    let n = node;
    for (let hops = 0; isAlias(n); hops++) {
      const target = n.resolve(this.doc);
      if (target === undefined || hops > 32) {
        this.diag.error(path, `unknown anchor *${n.source} (an anchor must be defined before it is used)`, this.lineOf(n) ?? lineHint);
        return undefined;
      }
      if ((isMap(target) || isSeq(target)) && this.aliasCounting && ++this.aliasExpansions > MAX_ALIAS_EXPANSIONS) {
        if (!this.aliasLimitReported) {
          this.diag.error(path, `more than ${MAX_ALIAS_EXPANSIONS} aliases to mappings or lists; write the scenario out instead`, this.lineOf(n) ?? lineHint);
          this.aliasLimitReported = true;
        }
        return undefined;
      }
      n = target;
    }
    return n as YamlNode;
  }

  /**
   * Runs `read` without counting alias hops against MAX_ALIAS_EXPANSIONS: for the second and
   * later copies of a fleet template, which walk the same nodes as the first (counted) copy.
   * Their number is bounded by the template's count instead.
   */
  withoutAliasCount<T>(read: () => T): T {
    const before = this.aliasCounting;
    this.aliasCounting = false;
    try {
      return read();
    } finally {
      this.aliasCounting = before;
    }
  }

  static isNull(node: YamlNode | null | undefined): boolean {
    return node === null || node === undefined || (isScalar(node) && node.value === null);
  }

  // ---- containers --------------------------------------------------------------------

  /** Reads a mapping; unknown keys are errors with a "did you mean" suggestion. */
  map(f: Field, allowedKeys: readonly string[], options: MapOptions = {}): MapView | undefined {
    if (!isMap(f.node)) {
      this.typeError(f, 'a mapping');
      return undefined;
    }
    const entries = new Map<string, Field>();
    const merges: { node: unknown; line?: number }[] = [];
    const collect = (items: typeof f.node.items, fromMerge: boolean): void => {
      for (const pair of items) {
        const keyNode = pair.key as YamlNode | null;
        if (isScalar(keyNode) && (typeof keyNode.value === 'symbol' || keyNode.source === '<<')) {
          merges.push({ node: pair.value, line: this.lineOf(keyNode) });
          continue;
        }
        const keyLine = this.lineOf(keyNode);
        if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === 'object') {
          this.diag.error(f.path, 'keys must be plain names', keyLine ?? f.line);
          continue;
        }
        const key = String(keyNode.value);
        const path = childPath(f.path, key);
        if (RESERVED_KEYS.includes(key)) {
          this.diag.error(path, `"${key}" is a reserved name and cannot be a key; remove it or rename it`, keyLine ?? f.line);
          continue;
        }
        if (options.ignoreKeys?.test(key)) continue;
        if (!options.anyKey && !allowedKeys.includes(key)) {
          if (!fromMerge || !entries.has(key)) {
            this.diag.error(path, `unknown key${didYouMean(key, allowedKeys)}`, keyLine ?? f.line);
          }
          continue;
        }
        if (fromMerge && entries.has(key)) continue; // explicit keys win over merged ones
        const valueNode = this.resolve(pair.value, path, keyLine);
        if (valueNode === undefined && pair.value !== null && pair.value !== undefined) continue;
        if (NodeReader.isNull(valueNode)) {
          entries.delete(key);
          continue;
        }
        entries.set(key, { node: valueNode as YamlNode, path, line: this.lineOf(valueNode) ?? keyLine });
      }
    };
    collect(f.node.items, false);
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i];
      const target = this.resolve(m.node, childPath(f.path, '<<'), m.line);
      if (target === undefined) continue;
      const sources = isSeq(target) ? target.items.map((it) => this.resolve(it, childPath(f.path, '<<'), m.line)) : [target];
      for (const s of sources) {
        if (s === undefined) continue;
        if (!isMap(s)) {
          this.diag.error(childPath(f.path, '<<'), 'a merge key takes a mapping or a list of mappings', m.line);
          continue;
        }
        collect(s.items, true);
      }
    }
    return new MapView(f.path, f.line, entries, this);
  }

  /** Reads a list; returns its items as fields (null items stay, readers reject them). */
  list(f: Field, what = 'a list'): Field[] | undefined {
    if (!isSeq(f.node)) {
      this.typeError(f, what);
      return undefined;
    }
    const out: Field[] = [];
    f.node.items.forEach((item, i) => {
      const path = indexPath(f.path, i);
      const node = this.resolve(item, path, f.line);
      if (node === undefined && item !== null && item !== undefined) return;
      const n = (node ?? null) as YamlNode | null;
      out.push({ node: n as YamlNode, path, line: this.lineOf(n) ?? f.line });
    });
    return out;
  }

  // ---- scalars -----------------------------------------------------------------------

  scalarValue(f: Field): unknown {
    return isScalar(f.node) ? f.node.value : undefined;
  }

  string(f: Field): string | undefined {
    const v = this.scalarValue(f);
    if (typeof v !== 'string') {
      this.typeError(f, 'a string');
      return undefined;
    }
    return v;
  }

  /** Ids name hosts, VMs and sessions in commands, topic keys and file names. */
  id(f: Field): string | undefined {
    const v = this.scalarValue(f);
    const s = typeof v === 'number' && Number.isInteger(v) ? String(v) : v;
    if (typeof s !== 'string') {
      this.typeError(f, 'an id (letters, digits, "-", "_", ".")');
      return undefined;
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(s) || s.length > 64) {
      this.error(f, `"${s}" is not a valid id (use up to 64 letters, digits, "-", "_" or ".", starting with a letter or digit)`);
      return undefined;
    }
    return s;
  }

  bool(f: Field): boolean | undefined {
    const v = this.scalarValue(f);
    if (typeof v !== 'boolean') {
      this.typeError(f, 'true or false');
      return undefined;
    }
    return v;
  }

  int(f: Field, range: Range = {}): number | undefined {
    const v = this.scalarValue(f);
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.typeError(f, 'a whole number');
      return undefined;
    }
    if (!Number.isSafeInteger(v)) {
      this.error(f, `${v} is larger than 2^53 - 1, the largest value this tool holds exactly`);
      return undefined;
    }
    return this.inRange(f, v, range, String);
  }

  /** An integer given as a YAML integer or a hex string (`0x186`). */
  intOrHex(f: Field, range: Range = {}): number | undefined {
    const v = this.scalarValue(f);
    if (typeof v !== 'number' && typeof v !== 'string') {
      this.typeError(f, 'a whole number or a hex string such as 0x186');
      return undefined;
    }
    const r = parseInteger(v);
    return this.quantity(f, r, range, (n) => (n >= 0 ? `0x${n.toString(16)}` : String(n)));
  }

  number(f: Field, range: Range = {}): number | undefined {
    const v = this.scalarValue(f);
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.typeError(f, 'a number');
      return undefined;
    }
    return this.inRange(f, v, range, String);
  }

  oneOf<T extends string>(f: Field, values: readonly T[]): T | undefined {
    const v = this.scalarValue(f);
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    const got = typeof v === 'string' ? `, got "${v}"${didYouMean(v, values)}` : `, got ${describe(f.node)}`;
    this.error(f, `expected one of ${values.join('|')}${got}`);
    return undefined;
  }

  duration(f: Field, range: Range = {}): number | undefined {
    return this.unitQuantity(f, 'a duration such as 500ms', parseDurationNs, range, formatDurationNs);
  }

  size(f: Field, range: Range = {}): number | undefined {
    return this.unitQuantity(f, 'a size such as 4GiB', parseSizeBytes, range, (n) => `${n} bytes`);
  }

  bandwidth(f: Field, range: Range = {}): number | undefined {
    return this.unitQuantity(f, 'a bandwidth such as 10Gbps', parseBandwidthBytesPerSec, range, (n) => `${n} bytes/s`);
  }

  // ---- errors ------------------------------------------------------------------------

  error(f: Field, message: string): void {
    this.diag.error(f.path, message, f.line);
  }

  warn(f: Field, message: string): void {
    this.diag.warn(f.path, message, f.line);
  }

  typeError(f: Field, expected: string): void {
    this.error(f, `expected ${expected}, got ${describe(f.node)}`);
  }

  private unitQuantity(
    f: Field,
    expected: string,
    parse: (v: string | number) => QuantityResult,
    range: Range,
    show: (n: number) => string,
  ): number | undefined {
    const v = this.scalarValue(f);
    if (typeof v !== 'number' && typeof v !== 'string') {
      this.typeError(f, expected);
      return undefined;
    }
    return this.quantity(f, parse(v), range, show);
  }

  private quantity(f: Field, r: QuantityResult, range: Range, show: (n: number) => string): number | undefined {
    if (!r.ok) {
      this.error(f, r.message);
      return undefined;
    }
    return this.inRange(f, r.value, range, show);
  }

  private inRange(f: Field, v: number, range: Range, show: (n: number) => string): number | undefined {
    const why = range.why ? ` (${range.why})` : '';
    if (range.min !== undefined && v < range.min) {
      this.error(f, range.min === 0 ? `must not be negative, got ${show(v)}` : `must be at least ${show(range.min)}${why}, got ${show(v)}`);
      return undefined;
    }
    if (range.max !== undefined && v > range.max) {
      this.error(f, `must be at most ${show(range.max)}${why}, got ${show(v)}`);
      return undefined;
    }
    return v;
  }
}

/** How a value looks in an error message: "a list", "a mapping", `"abc"`, 3, true, nothing. */
export function describe(node: YamlNode | null | undefined): string {
  if (NodeReader.isNull(node)) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (typeof v === 'string') return `"${v.length > 40 ? v.slice(0, 39) + '…' : v}"`;
    if (typeof v === 'number' && Number.isNaN(v)) return 'NaN';
    return String(v);
  }
  return 'an unsupported value';
}
