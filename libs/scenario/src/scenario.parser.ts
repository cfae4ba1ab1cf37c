// Scenario file (YAML, version 1) → normalized Scenario (@vpmu/world-spec).
//
// Pure: text in, result out; the CLI reads the file. Bad input is never an exception: every
// problem becomes a ScenarioError with its path (`vms[1].vpmu.mode`) and line, and all of them are
// collected in one pass so a user fixes a file in one round. docs/scenario.md is the user-facing
// description of every field, unit and default; keep the two in step. This file holds the entry
// point and the document's top level; each section has its reader (host-spec.parser.ts,
// vm-spec.parser.ts, timeline.parser.ts, ...), all sharing one ScenarioBuildContext.

import { formatDurationNs, TRACE_LEVELS, type HostSpec, type Scenario, type TimelineEntry, type VmSpec } from '@vpmu/world-spec';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, YAMLError, type Node as YamlNode } from 'yaml';

import { expandTemplate, isTemplateEntry } from './fleet-template.reader';
import { readHost } from './host-spec.parser';
import { SCENARIO_DEFAULTS } from './scenario.defaults';
import { ScenarioBuildContext } from './scenario-build.context';
import { ScenarioError } from './scenario.errors';
import { keysOf } from './scenario.fields';
import { checkMigrations, readTimelineEntry } from './timeline.parser';
import { readVm } from './vm-spec.parser';
import { checkRunSize } from './run-size.check';
import { readCosts } from './costs.parser';
import { MAX_RUN_DURATION_NS, MIN_EPOCH_NS, MIN_SAMPLE_INTERVAL_NS, WHY } from './scenario.limits';
import { Diagnostics, Field, findTooDeep, MAX_NESTING_DEPTH, NodeReader } from './yaml-node.reader';

export type ScenarioParseResult =
  | { ok: true; scenario: Scenario; warnings: string[] }
  | { ok: false; errors: ScenarioError[] };


// ---- entry point -------------------------------------------------------------------------------

export function parseScenario(text: string): ScenarioParseResult {
  if (typeof text !== 'string') {
    return fail([{ path: '', message: 'expected the scenario as text' }]);
  }
  if (text.trim() === '') {
    return fail([{ path: '', message: 'the scenario is empty; it needs at least version, duration and hosts (see docs/scenario.md)' }]);
  }
  const binary = findBinary(text);
  if (binary) return fail([binary]);

  const lineCounter = new LineCounter();
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // byte order mark
  // The library's own duplicate-key check compares every key with every other (20k keys took
  // 47 s); findDuplicateKey below does it with a set per mapping, in one pass.
  const doc = parseDocument(source, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length > 0) {
    // One nesting error is enough: the YAML library may report its stack overflow more than once.
    const overflow = doc.errors.find(isStackOverflow);
    return fail(overflow ? [yamlError(overflow, lineCounter)] : doc.errors.map((e) => yamlError(e, lineCounter)));
  }
  const deep = findTooDeep(doc.contents, MAX_NESTING_DEPTH);
  if (deep) return fail([tooDeep(deep.range ? lineCounter.linePos(deep.range[0]).line : undefined)]);
  const duplicate = findDuplicateKey(doc.contents);
  if (duplicate) return fail([{ path: '', message: DUPLICATE_KEY_MESSAGE, ...(duplicate.range && { line: lineCounter.linePos(duplicate.range[0]).line }) }]);

  const diag = new Diagnostics();
  const reader = new NodeReader(doc, lineCounter, diag);
  for (const w of doc.warnings) diag.warn('', firstLine(w.message), lineCounter.linePos(w.pos[0]).line);

  if (NodeReader.isNull(doc.contents)) {
    return fail([{ path: '', message: 'the scenario has no content (only comments); it needs at least version, duration and hosts' }]);
  }
  const root = reader.field(doc.contents, '');
  const scenario = root && buildScenario(new ScenarioBuildContext(reader), root);

  if (diag.errors.length > 0 || scenario === undefined) {
    return fail(diag.errors.length > 0 ? diag.errors : [{ path: '', message: 'invalid scenario' }]);
  }
  return {
    ok: true,
    scenario,
    warnings: diag.warnings.map((w) => `${w.path !== '' ? `${w.path}: ` : ''}${w.message}${w.line !== undefined ? ` (line ${w.line})` : ''}`),
  };
}

function fail(errors: ScenarioError[]): ScenarioParseResult {
  // File order reads best; errors about the whole file (no line) come first. Stable sort.
  const sorted = errors
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (a.e.line ?? 0) - (b.e.line ?? 0) || a.i - b.i)
    .map(({ e }) => e);
  return { ok: false, errors: sorted };
}

function findBinary(text: string): ScenarioError | undefined {
  // NUL or other C0 controls (but tab, LF, VT, FF, CR) mean a binary file; U+FFFD is what a
  // UTF-8 decoder leaves for invalid bytes.
  let index = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && (c < 0x09 || c > 0x0d)) || c === 0xfffd) {
      index = i;
      break;
    }
  }
  if (index < 0) return undefined;
  const c = text.charCodeAt(index);
  const line = text.slice(0, index).split('\n').length;
  const what = c === 0xfffd ? 'invalid UTF-8' : c === 0 ? 'NUL bytes' : 'control characters';
  return {
    path: '',
    message: `this is not a text scenario (it contains ${what}); give the YAML scenario file, not a recording or other binary`,
    line,
  };
}

function tooDeep(line: number | undefined): ScenarioError {
  const message = `mappings and lists are nested more than ${MAX_NESTING_DEPTH} levels deep here; a scenario needs fewer than ten (see docs/scenario.md "Limits")`;
  return line === undefined ? { path: '', message } : { path: '', message, line };
}

function yamlError(e: YAMLError, lineCounter: LineCounter): ScenarioError {
  const line = lineCounter.linePos(e.pos[0]).line;
  // The YAML library reads nested collections recursively: thousands of levels exhaust its stack.
  if (isStackOverflow(e)) return tooDeep(line);
  const messages: Partial<Record<string, string>> = {
    MULTIPLE_DOCS: 'a scenario file holds one YAML document; remove the second `---` document',
    DUPLICATE_KEY: DUPLICATE_KEY_MESSAGE,
    TAB_AS_INDENT: 'tabs are not allowed for indentation in YAML; indent with spaces',
  };
  const message = messages[e.code] ?? `invalid YAML: ${firstLine(e.message).replace(/ at line \d+, column \d+:?$/, '')}`;
  return { path: '', message, line };
}

const DUPLICATE_KEY_MESSAGE = 'a key appears twice in the same mapping; remove one of them';

/**
 * The first key that repeats a key of its own mapping (scalar keys by type and value; the merge
 * key `<<` may repeat), in document order; aliases are not followed, so each node is seen once.
 * Runs after the nesting check, so the recursion is shallow.
 */
function findDuplicateKey(node: unknown): YamlNode | undefined {
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const key = pair.key;
      if (isScalar(key) && key.value !== '<<') {
        const id = `${typeof key.value}\u0000${String(key.value)}`;
        if (seen.has(id)) return key;
        seen.add(id);
      }
      const inKey = findDuplicateKey(key);
      if (inKey) return inKey;
      const inValue = findDuplicateKey(pair.value);
      if (inValue) return inValue;
    }
  } else if (isSeq(node)) {
    for (const item of node.items) {
      const found = findDuplicateKey(item);
      if (found) return found;
    }
  }
  return undefined;
}

function isStackOverflow(e: YAMLError): boolean {
  return /Maximum call stack size exceeded/.test(e.message);
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}

// ---- the top level -------------------------------------------------------------------------------

function buildScenario(ctx: ScenarioBuildContext, root: Field): Scenario | undefined {
  const m = ctx.r.map(root, keysOf('top'), { ignoreKeys: /^x-/ });
  if (!m) return undefined;

  const versionField = m.require('version', 'write `version: 1`');
  if (versionField) {
    const v = ctx.r.scalarValue(versionField);
    if (v !== 1) {
      ctx.r.error(versionField, `unsupported version ${typeof v === 'string' ? `"${v}"` : String(v)}; this tool reads version 1`);
    }
  }
  const name = ctx.opt(m, 'name', (f) => ctx.nonEmptyString(f)) ?? SCENARIO_DEFAULTS.name;
  const seed = ctx.opt(m, 'seed', (f) => ctx.r.int(f, { min: 0 })) ?? SCENARIO_DEFAULTS.seed;
  const durationField = m.require('duration', 'e.g. `duration: 200ms`');
  const durationNs = durationField && ctx.r.duration(durationField, { min: 1, max: MAX_RUN_DURATION_NS, why: WHY.duration });
  ctx.durationNs = durationNs;

  // Default: 1ms, or the whole run when the run is shorter than that.
  const epochField = m.get('epoch');
  let epochNs: number = Math.min(SCENARIO_DEFAULTS.epochNs, durationNs ?? SCENARIO_DEFAULTS.epochNs);
  if (epochField) {
    const e = ctx.r.duration(epochField, { min: MIN_EPOCH_NS, why: WHY.epoch });
    if (e !== undefined && durationNs !== undefined && e > durationNs) {
      ctx.r.error(epochField, `epoch ${formatDurationNs(e)} is longer than the run (duration ${formatDurationNs(durationNs)})`);
    }
    epochNs = e ?? epochNs;
  }
  const checkpointEveryEpochs = ctx.opt(m, 'checkpointEvery', (f) => ctx.r.int(f, { min: 1 })) ?? SCENARIO_DEFAULTS.checkpointEveryEpochs;
  const trace = ctx.opt(m, 'trace', (f) => ctx.r.oneOf(f, TRACE_LEVELS)) ?? 'full';
  const sampleIntervalNs = ctx.opt(m, 'sampleInterval', (f) => ctx.r.duration(f, { min: MIN_SAMPLE_INTERVAL_NS, why: WHY.sampleInterval })) ?? SCENARIO_DEFAULTS.sampleIntervalNs;

  const hostsField = m.require('hosts', 'at least one host');
  const hosts: HostSpec[] = [];
  if (hostsField) {
    const items = ctx.r.list(hostsField);
    if (items && items.length === 0) ctx.r.error(hostsField, 'needs at least one host');
    items?.forEach((f) => {
      if (isTemplateEntry(f, 'host')) {
        hosts.push(...expandTemplate(ctx, f, 'host', keysOf('host'), (copy) => readHost(ctx, copy)));
        return;
      }
      const h = readHost(ctx, f);
      if (h) hosts.push(h);
    });
  }

  const vms: VmSpec[] = [];
  const vmsField = m.get('vms');
  if (vmsField) {
    ctx.r.list(vmsField)?.forEach((f) => {
      if (isTemplateEntry(f, 'vm')) {
        vms.push(...expandTemplate(ctx, f, 'vm', keysOf('vm'), (copy) => readVm(ctx, copy)));
        return;
      }
      const vm = readVm(ctx, f);
      if (vm) vms.push(vm);
    });
  }

  const timeline: TimelineEntry[] = [];
  const timelineFields: Field[] = [];
  const timelineField = m.get('timeline');
  if (timelineField) {
    ctx.r.list(timelineField)?.forEach((f) => {
      const entry = readTimelineEntry(ctx, f);
      if (entry) {
        timeline.push(entry);
        timelineFields.push(f);
      }
    });
  }
  // Stable sort by time: entries at the same instant keep file order.
  const order = timeline.map((_, i) => i).sort((a, b) => timeline[a].atNs - timeline[b].atNs || a - b);
  const sortedTimeline = order.map((i) => timeline[i]);
  checkMigrations(ctx, sortedTimeline, order.map((i) => timelineFields[i]));

  const costsField = m.get('costs');
  const costs = costsField ? readCosts(ctx, costsField) : {};

  if (durationNs !== undefined) checkRunSize(ctx, { durationNs, epochNs, sampleIntervalNs, hosts, vms });

  return {
    version: 1,
    name,
    seed,
    durationNs: durationNs ?? 0,
    epochNs,
    checkpointEveryEpochs,
    sampleIntervalNs,
    // Only a summary level is written out, so full-level scenarios keep their exact shape.
    ...(trace === 'summary' && { trace }),
    hosts,
    vms,
    timeline: sortedTimeline,
    costs,
  };
}
