// Fleet templates: an entry of `hosts:` or `vms:` with a `count` (or, for VMs, a `placement`)
// stands for that many copies, each with an id made from a pattern (`h{i}`, `{host}-vm{j:2}`),
// VMs spread over hosts by a placement rule, and chosen fields cycling through lists. A template
// is expanded here, at parse time, into plain entries that go through the same readers as
// hand-written ones, so a templated world and the same world written out are one normalized
// Scenario (docs/scenario.md "Fleet templates").
//
// Expansion works on the YAML nodes: each copy is a new mapping that shares the template's
// value nodes (so errors keep the template's lines) and replaces only `id`, `host`, `affinity`
// and the cycled fields. The order is deterministic: copies in index order, a template's copies
// where the template stands in the list.

import { isMap, isScalar, Pair, Scalar, YAMLMap, YAMLSeq, type Node as YamlNode } from 'yaml';

import { MAX_TEMPLATE_COUNT, WHY } from './scenario.limits';
import { ScenarioBuildContext } from './scenario-build.context';
import { keysOf, PINNINGS, PLACEMENT_ORDERS } from './scenario.fields';
import { childPath, describe, Field, MapView } from './yaml-node.reader';

/** Keys a template has on top of the keys of the entry it copies. */
const TEMPLATE_KEYS = keysOf('hostTemplate');
const VM_TEMPLATE_KEYS = keysOf('vmTemplate');
const PLACEMENT_KEYS = keysOf('placement');

/** Placeholders of an id pattern: the copy's number, its number on its host, its host's id. */
const HOST_PLACEHOLDERS = ['i'] as const;
const VM_PLACEHOLDERS = ['i', 'j', 'host'] as const;
const MAX_PAD_WIDTH = 16;

type Kind = 'host' | 'vm';

/** True when a `hosts:`/`vms:` entry is a template rather than one host or VM. */
export function isTemplateEntry(f: Field, kind: Kind): boolean {
  if (!isMap(f.node)) return false;
  const markers: readonly string[] = kind === 'host' ? ['count'] : ['count', 'placement'];
  return f.node.items.some((p) => isScalar(p.key) && markers.includes(String(p.key.value)));
}

/**
 * The copies of a template as fields to hand to readHost / readVm, one after the other through
 * `read`. Every copy is read (later ones may be referenced by VMs and timeline actions), but of
 * the errors and warnings at one place (path and line) only the first copy's are kept: the
 * others are the same problem once per copy. A cycled value has its own line, so its problems
 * are kept.
 */
export function expandTemplate<T>(ctx: ScenarioBuildContext, f: Field, kind: Kind, entryKeys: readonly string[], read: (copy: Field) => T | undefined): T[] {
  const templateKeys: readonly string[] = kind === 'host' ? TEMPLATE_KEYS : VM_TEMPLATE_KEYS;
  const m = ctx.r.map(f, [...entryKeys, ...templateKeys]);
  if (!m) return [];
  const plan = planCopies(ctx, m, kind);
  if (!plan) return [];

  const out: T[] = [];
  const errorsSeen = new Set<string>();
  const warningsSeen = new Set<string>();
  for (const copy of plan) {
    const errorsBefore = ctx.diag.errors.length;
    const warningsBefore = ctx.diag.warnings.length;
    const readCopy = (): T | undefined => {
      const node = buildCopy(ctx, m, entryKeys, templateKeys, copy);
      return node && read({ node, path: f.path, line: f.line });
    };
    // Aliases inside the template are counted once, for the first copy (MAX_ALIAS_EXPANSIONS).
    const spec = copy.index === 0 ? readCopy() : ctx.r.withoutAliasCount(readCopy);
    keepFirstOfEachPlace(ctx.diag.errors, errorsBefore, errorsSeen);
    keepFirstOfEachPlace(ctx.diag.warnings, warningsBefore, warningsSeen);
    if (spec !== undefined) out.push(spec);
  }
  return out;
}

/** Drops the diagnostics from `from` on whose path and line an earlier copy already had one. */
function keepFirstOfEachPlace(list: { path: string; line?: number }[], from: number, seen: Set<string>): void {
  const fresh = list.slice(from);
  list.splice(from);
  const places = new Set<string>();
  for (const d of fresh) {
    const place = `${d.path}\u0000${d.line ?? ''}`;
    if (seen.has(place)) continue;
    places.add(place);
    list.push(d as (typeof list)[number]);
  }
  for (const p of places) seen.add(p);
}

// ---- planning: how many copies, their ids and hosts ------------------------------------------------

interface CopyPlan {
  /** 0-based position of the copy in its template. */
  index: number;
  id: string;
  idField: Field;
  host?: { id: string; field: Field };
  /** pCPUs of a disjoint pinning, the same for each vCPU. */
  pinnedPcpus?: number[];
}

interface IdPattern {
  field: Field;
  text: string;
}

function planCopies(ctx: ScenarioBuildContext, m: MapView, kind: Kind): CopyPlan[] | undefined {
  const idField = m.require('id', kind === 'host' ? 'an id pattern, e.g. `id: "h{i}"`' : 'an id pattern, e.g. `id: "{host}-vm{j}"`');
  const pattern = idField && readPattern(ctx, idField, kind === 'host' ? HOST_PLACEHOLDERS : VM_PLACEHOLDERS);
  const firstIndex = ctx.opt(m, 'firstIndex', (x) => ctx.r.int(x, { min: 0 })) ?? 1;
  const countField = m.get('count');
  let count = countField && readCount(ctx, countField);
  if (countField && count === undefined) return undefined;

  let hosts: ({ id: string; field: Field } | undefined)[] = [];
  let pinned: (number[] | undefined)[] = [];
  let slots: number[] = [];
  if (kind === 'vm') {
    const placed = placeVms(ctx, m, count);
    if (!placed) return undefined;
    count = placed.count;
    hosts = placed.hosts;
    slots = placed.slots;
    pinned = placed.pinned;
  } else if (count === undefined) {
    ctx.diag.error(childPath(m.path, 'count'), 'required (the number of copies)', m.line);
    return undefined;
  }
  if (count === undefined || !pattern || !idField) return undefined;

  const copies: CopyPlan[] = [];
  const byId = new Map<string, number>();
  for (let k = 0; k < count; k++) {
    const host = hosts[k];
    const id = pattern.text.replace(PLACEHOLDER, (_, name: string, width: string | undefined) => {
      const value = name === 'host' ? (host?.id ?? '') : String(firstIndex + (name === 'j' ? slots[k] : k));
      return width === undefined ? value : value.padStart(Number(width), '0');
    });
    if (!VALID_ID.test(id) || id.length > 64) {
      ctx.r.error(idField, `pattern "${pattern.text}" makes "${id}" for copy ${k + 1}, which is not a valid id (up to 64 letters, digits, "-", "_" or ".", starting with a letter or digit)`);
      return undefined;
    }
    const twin = byId.get(id);
    if (twin !== undefined) {
      ctx.r.error(idField, `pattern "${pattern.text}" makes the same id "${id}" for copies ${twin + 1} and ${k + 1}; put {i} in it${kind === 'vm' ? ' (or {host} and {j})' : ''}`);
      return undefined;
    }
    byId.set(id, k);
    const plan: CopyPlan = { index: k, id, idField };
    if (host) plan.host = host;
    if (pinned[k]) plan.pinnedPcpus = pinned[k];
    copies.push(plan);
  }
  return copies;
}

/** A count of copies: at least 1, at most MAX_TEMPLATE_COUNT (with the reason for the bound). */
function readCount(ctx: ScenarioBuildContext, f: Field): number | undefined {
  const n = ctx.r.int(f, { min: 1 });
  return n === undefined ? undefined : ctx.r.int(f, { max: MAX_TEMPLATE_COUNT, why: WHY.templateCount });
}

const PLACEHOLDER = /\{([a-z]+)(?::(\d+))?\}/g;
const VALID_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function readPattern(ctx: ScenarioBuildContext, f: Field, allowed: readonly string[]): IdPattern | undefined {
  const v = ctx.r.scalarValue(f);
  const text = typeof v === 'number' && Number.isInteger(v) ? String(v) : v;
  if (typeof text !== 'string') {
    ctx.r.typeError(f, 'an id pattern such as "h{i}"');
    return undefined;
  }
  const names = allowed.map((n) => `{${n}}`).join(', ');
  for (const match of text.matchAll(PLACEHOLDER)) {
    const [whole, name, width] = match;
    if (!allowed.includes(name)) {
      ctx.r.error(f, `unknown placeholder ${whole} in id pattern "${text}" (use ${names})`);
      return undefined;
    }
    if (width !== undefined && (Number(width) < 1 || Number(width) > MAX_PAD_WIDTH)) {
      ctx.r.error(f, `${whole}: the zero-padded width must be 1..${MAX_PAD_WIDTH}`);
      return undefined;
    }
  }
  if (/[{}]/.test(text.replace(PLACEHOLDER, ''))) {
    ctx.r.error(f, `id pattern "${text}" has a brace that is not a placeholder (use ${names}, with an optional zero-padded width such as {i:3})`);
    return undefined;
  }
  return { field: f, text };
}

interface Placement {
  count: number;
  hosts: { id: string; field: Field }[];
  /** 0-based position of each copy among this template's copies on its host. */
  slots: number[];
  pinned: (number[] | undefined)[];
}

function placeVms(ctx: ScenarioBuildContext, m: MapView, count: number | undefined): Placement | undefined {
  const hostField = m.get('host');
  const placementField = m.get('placement');
  if (hostField && placementField) {
    ctx.r.error(placementField, 'give either host (every copy on that host) or placement, not both');
    return undefined;
  }
  if (hostField) {
    const host = ctx.hostRef(hostField);
    if (!host) return undefined;
    if (count === undefined) {
      ctx.diag.error(childPath(m.path, 'count'), 'required (the number of copies; or use placement with perHost)', m.line);
      return undefined;
    }
    return { count, hosts: Array.from({ length: count }, () => ({ id: host.id, field: hostField })), slots: Array.from({ length: count }, (_, k) => k), pinned: [] };
  }
  if (!placementField) {
    ctx.diag.error(childPath(m.path, 'placement'), 'required: a VM template needs placement (e.g. `placement: { perHost: 4 }`) or host', m.line);
    return undefined;
  }
  const p = ctx.r.map(placementField, PLACEMENT_KEYS);
  if (!p) return undefined;
  const candidates = selectHosts(ctx, p, placementField);
  const perHostField = p.get('perHost');
  const perHost = perHostField && readCount(ctx, perHostField);
  const order = ctx.opt(p, 'order', (x) => ctx.r.oneOf(x, PLACEMENT_ORDERS)) ?? (perHostField ? 'fill' : 'spread');
  const pinning = ctx.opt(p, 'pinning', (x) => ctx.r.oneOf(x, PINNINGS)) ?? 'none';
  if (!candidates || (perHostField && perHost === undefined)) return undefined;

  const capacity = perHost === undefined ? undefined : perHost * candidates.length;
  if (count === undefined) {
    if (capacity === undefined) {
      ctx.diag.error(childPath(m.path, 'count'), 'required (the number of copies), unless placement.perHost gives it as perHost x hosts', m.line);
      return undefined;
    }
    if (capacity > MAX_TEMPLATE_COUNT) {
      ctx.r.error(perHostField!, `perHost ${perHost} x ${candidates.length} hosts makes ${capacity} copies, more than ${MAX_TEMPLATE_COUNT} (${WHY.templateCount})`);
      return undefined;
    }
    count = capacity;
  }
  if (capacity !== undefined && count > capacity) {
    ctx.r.error(perHostField!, `placement impossible: ${count} VMs do not fit on ${candidates.length} host${candidates.length === 1 ? '' : 's'} x ${perHost} per host (${capacity})`);
    return undefined;
  }
  if (order === 'fill' && perHost === undefined) {
    ctx.r.error(placementField, 'order fill needs perHost (how many VMs go on a host before the next one)');
    return undefined;
  }
  if (pinning === 'disjoint' && m.get('affinity')) {
    ctx.r.error(m.get('affinity')!, 'placement.pinning disjoint sets each copy\'s affinity; leave affinity out');
    return undefined;
  }

  const hosts: { id: string; field: Field }[] = [];
  const slots: number[] = [];
  const used = new Map<string, number>();
  for (let k = 0; k < count; k++) {
    const host = candidates[order === 'fill' ? Math.floor(k / perHost!) : k % candidates.length];
    const slot = used.get(host.id) ?? 0;
    used.set(host.id, slot + 1);
    hosts.push({ id: host.id, field: placementField });
    slots.push(slot);
  }

  const pinned: (number[] | undefined)[] = [];
  if (pinning === 'disjoint') {
    const vcpus = vcpusOf(ctx, m);
    if (vcpus === undefined) return undefined; // readVm reports a bad vcpus
    for (let k = 0; k < count; k++) {
      const first = slots[k] * vcpus;
      const host = candidates.find((h) => h.id === hosts[k].id)!;
      const onHost = used.get(host.id)!;
      if (onHost * vcpus > host.pcpus) {
        ctx.r.error(placementField, `placement impossible: pinning disjoint gives ${onHost} VMs of ${vcpus} vCPUs on host ${host.id} ${onHost * vcpus} pCPUs of their own, and it has ${host.pcpus}`);
        return undefined;
      }
      pinned.push(Array.from({ length: vcpus }, (_, c) => first + c));
    }
  }
  return { count, hosts, slots, pinned };
}

/** The hosts a placement may use, in the order they are defined: all, or those matching the ids or `*` patterns given. */
function selectHosts(ctx: ScenarioBuildContext, p: MapView, placementField: Field): { id: string; pcpus: number }[] | undefined {
  const all = [...ctx.hosts.values()];
  const f = p.get('hosts');
  if (!f || ctx.r.scalarValue(f) === 'all') {
    // Without hosts because the hosts have errors: those are reported already.
    if (all.length === 0 && ctx.diag.errors.length === 0) ctx.r.error(placementField, 'no hosts to place VMs on');
    return all.length === 0 ? undefined : all;
  }
  const items = isScalar(f.node) ? [f] : ctx.r.list(f, 'all, a host id or pattern such as "h*", or a list of them');
  if (!items) return undefined;
  if (items.length === 0) {
    ctx.r.error(f, 'empty list; name at least one host (or write all)');
    return undefined;
  }
  const chosen = new Set<string>();
  for (const it of items) {
    const v = ctx.r.scalarValue(it);
    const text = typeof v === 'number' && Number.isInteger(v) ? String(v) : v;
    if (typeof text !== 'string' || !/^[A-Za-z0-9*][A-Za-z0-9_.*-]*$/.test(text)) {
      ctx.r.error(it, `expected a host id or a pattern with * (such as "h*"), got ${describe(it.node)}`);
      return undefined;
    }
    const re = new RegExp(`^${text.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`);
    const matches = all.filter((h) => re.test(h.id));
    if (matches.length === 0) {
      ctx.r.error(it, `"${text}" matches no host${ctx.knownList(all.map((h) => h.id), text)}`);
      return undefined;
    }
    for (const h of matches) chosen.add(h.id);
  }
  // Definition order, whatever the order of the patterns.
  return all.filter((h) => chosen.has(h.id));
}

function vcpusOf(ctx: ScenarioBuildContext, m: MapView): number | undefined {
  const f = m.get('vcpus');
  if (!f) return 1;
  const v = ctx.r.scalarValue(f);
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : undefined;
}

// ---- building one copy -------------------------------------------------------------------------------

type AnyMap = YAMLMap<unknown, unknown>;

function buildCopy(ctx: ScenarioBuildContext, m: MapView, entryKeys: readonly string[], templateKeys: readonly string[], copy: CopyPlan): AnyMap | undefined {
  let node: AnyMap = new YAMLMap<unknown, unknown>();
  if (copy.idField.node.range) node.range = copy.idField.node.range;
  for (const key of m.keys()) {
    if (templateKeys.includes(key) || !entryKeys.includes(key)) continue;
    node.items.push(new Pair<unknown, unknown>(keyScalar(key, m.get(key)!.node), m.get(key)!.node));
  }
  node = setAt(node, ['id'], scalarLike(copy.id, copy.idField));
  if (copy.host) node = setAt(node, ['host'], scalarLike(copy.host.id, copy.host.field));
  if (copy.pinnedPcpus) {
    node = setAt(node, ['affinity'], listLike(copy.pinnedPcpus, m.get('placement')!));
  }
  const cycleField = m.get('cycle');
  if (cycleField) {
    const cm = ctx.r.map(cycleField, [], { anyKey: true });
    if (!cm) return undefined;
    for (const pathText of cm.keys()) {
      const itemsField = cm.get(pathText)!;
      const items = ctx.r.list(itemsField, 'a list of values to cycle through');
      if (!items) return undefined;
      if (items.length === 0) {
        ctx.r.error(itemsField, 'empty list; give at least one value');
        return undefined;
      }
      const segments = pathText.split('.');
      const head = segments[0];
      if (!entryKeys.includes(head) || head === 'id' || head === 'host' || segments.some((s) => s === '')) {
        const what = head === 'id' || head === 'host' ? `${head} comes from the ${head === 'id' ? 'id pattern' : 'placement'}` : `"${pathText}" is not a field of the entry`;
        ctx.r.error(itemsField, `cannot cycle ${pathText}: ${what}`);
        return undefined;
      }
      // A null item (`~`) leaves the field out of that copy, so its default applies.
      const item = items[copy.index % items.length].node ?? new Scalar(null);
      const next = setAt(node, segments, item, (at: string) => {
        ctx.r.error(itemsField, `cannot cycle ${pathText}: the template's ${at} is not a mapping`);
      });
      if (!next) return undefined;
      node = next;
    }
  }
  return node;
}

/**
 * A copy of `map` with the value at `path` replaced (or added), copying only the mappings along
 * the path so the template's own nodes stay untouched for the next copy.
 */
function setAt(map: AnyMap, path: string[], value: YamlNode): AnyMap;
function setAt(map: AnyMap, path: string[], value: YamlNode, notAMap: (at: string) => void): AnyMap | undefined;
function setAt(map: AnyMap, path: string[], value: YamlNode, notAMap?: (at: string) => void): AnyMap | undefined {
  return setAtDepth(map, path, 0, value, notAMap ?? (() => undefined));
}

function setAtDepth(map: AnyMap, path: string[], depth: number, value: YamlNode, notAMap: (at: string) => void): AnyMap | undefined {
  const copy: AnyMap = new YAMLMap<unknown, unknown>();
  copy.range = map.range;
  copy.flow = map.flow;
  copy.items = map.items.slice();
  const key = path[depth];
  const at = copy.items.findIndex((p) => isScalar(p.key) && String(p.key.value) === key);
  if (depth === path.length - 1) {
    const pair = new Pair<unknown, unknown>(keyScalar(key, value.range ? value : (map as YamlNode)), value);
    if (at >= 0) copy.items[at] = pair;
    else copy.items.push(pair);
    return copy;
  }
  let child: unknown = at >= 0 ? copy.items[at].value : undefined;
  if (child === undefined || child === null || (isScalar(child) && child.value === null)) {
    const fresh: AnyMap = new YAMLMap<unknown, unknown>();
    if (value.range) fresh.range = value.range;
    child = fresh;
  }
  if (!isMap(child)) {
    notAMap(path.slice(0, depth + 1).join('.'));
    return undefined;
  }
  const inner = setAtDepth(child as AnyMap, path, depth + 1, value, notAMap);
  if (!inner) return undefined;
  const pair = new Pair<unknown, unknown>(keyScalar(key, child as YamlNode), inner);
  if (at >= 0) copy.items[at] = pair;
  else copy.items.push(pair);
  return copy;
}

function keyScalar(key: string, like: YamlNode): Scalar {
  const s = new Scalar(key);
  if (like.range) s.range = like.range;
  return s;
}

/** A generated scalar placed on the line of the field it comes from, so errors point there. */
function scalarLike(value: string | number, from: Field): Scalar {
  const s = new Scalar(value);
  if (from.node.range) s.range = from.node.range;
  return s;
}

function listLike(values: number[], from: Field): YamlNode {
  const seq = new YAMLSeq<Scalar>();
  if (from.node.range) seq.range = from.node.range;
  for (const v of values) seq.items.push(scalarLike(v, from));
  return seq;
}
