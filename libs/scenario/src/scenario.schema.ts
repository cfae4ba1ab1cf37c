// The JSON Schema (draft-07) of the scenario format, made from the field table the reader uses
// (scenario.fields.ts), for editors: completion, hover text and the first errors while typing.
// `npm run schema` writes it to schema/scenario.schema.json and a test fails when that file is
// stale. The schema is the shape of a file (keys, types, enums, integer ranges); what needs the
// whole document (references, vCPUs against pCPUs, durations within the run, physical bounds of
// quantities) only `vpmu validate` checks.

import { QUANTITY_UNIT_NAMES } from '@vpmu/world-spec';

import { SECTIONS, TIMELINE_ACTIONS, type FieldDef, type Section, type ValueType } from './scenario.fields';

type JsonSchema = Record<string, unknown>;

const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]*$';
/** An id with placeholders {i}, {j}, {host}, optionally zero-padded ({i:3}). */
const ID_TEMPLATE_PATTERN = '^[A-Za-z0-9{][A-Za-z0-9_.{}:-]*$';

export function scenarioJsonSchema(): JsonSchema {
  const definitions: Record<string, JsonSchema> = {};
  for (const name of Object.keys(SECTIONS) as (keyof typeof SECTIONS)[]) {
    if (name === 'top' || name === 'hostTemplate' || name === 'vmTemplate') continue;
    definitions[name] = sectionSchema(name);
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'vpmu-lab scenario, version 1',
    description: 'A simulated run: hosts, VMs, timeline. Field by field: docs/scenario.md; `vpmu validate FILE` checks what a schema cannot.',
    ...objectSchema(SECTIONS.top),
    // Top-level keys starting with x- are ignored by the reader: they hold YAML anchors.
    patternProperties: { '^x-': {} },
    definitions,
  };
}

function sectionSchema(name: keyof typeof SECTIONS): JsonSchema {
  switch (name) {
    case 'host':
      // A host entry, or a fleet template of hosts (an entry with count): a template may leave
      // to `cycle` any field but its id pattern.
      return {
        ...objectSchema({ ...SECTIONS.host, ...SECTIONS.hostTemplate }, []),
        if: { required: ['count'] },
        then: { required: ['id'] },
        else: { required: required(SECTIONS.host) },
      };
    case 'vm':
      return {
        ...objectSchema({ ...SECTIONS.vm, ...SECTIONS.vmTemplate }, []),
        if: { anyOf: [{ required: ['count'] }, { required: ['placement'] }] },
        then: { required: ['id'] },
        else: { required: required(SECTIONS.vm) },
      };
    case 'programStep':
      return { ...objectSchema(SECTIONS.programStep, []), minProperties: 1, maxProperties: 1, description: 'one step: a one-key mapping such as `rdmsr: { msr: 0x186 }`' };
    case 'timeline':
      return { ...objectSchema(SECTIONS.timeline), oneOf: TIMELINE_ACTIONS.map((a) => ({ required: [a] })), description: '`at` and exactly one action' };
    default:
      return objectSchema(SECTIONS[name]);
  }
}

function required(section: Section): string[] {
  return Object.keys(section).filter((k) => section[k].required);
}

function objectSchema(section: Section, requiredKeys = required(section)): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [key, def] of Object.entries(section)) properties[key] = fieldSchema(def);
  const out: JsonSchema = { type: 'object', properties, additionalProperties: false };
  if (requiredKeys.length > 0) out.required = requiredKeys;
  return out;
}

function fieldSchema(def: FieldDef): JsonSchema {
  const value = valueSchema(def.type);
  // A key with no value (`key:` or `key: ~`) is the same as leaving it out.
  const schema = def.required ? value : { anyOf: [value, { type: 'null' }] };
  return { description: def.doc, ...schema };
}

function valueSchema(type: ValueType): JsonSchema {
  switch (type.t) {
    case 'int':
      return bounded({ type: 'integer' }, type.min, type.max);
    case 'number':
      return bounded({ type: 'number' }, type.min, type.max);
    case 'intOrHex':
      return { anyOf: [bounded({ type: 'integer' }, type.min, type.max), { type: 'string', pattern: '^\\s*-?0[xX][0-9a-fA-F]+\\s*$' }] };
    case 'bool':
      return { type: 'boolean' };
    case 'string':
      return { type: 'string', minLength: 1 };
    case 'id':
      return { anyOf: [{ type: 'string', pattern: ID_PATTERN, maxLength: 64 }, { type: 'integer', minimum: 0 }] };
    case 'idPattern':
      return { type: 'string', pattern: ID_TEMPLATE_PATTERN };
    case 'enum':
      return { enum: [...type.values] };
    case 'quantity': {
      const units = QUANTITY_UNIT_NAMES[type.unit].map(escapeRegExp).join('|');
      return {
        anyOf: [bounded({ type: 'integer' }, type.min, type.max), { type: 'string', pattern: `^\\s*\\+?\\d+(\\.\\d+)?\\s*(${units})\\s*$` }],
      };
    }
    case 'section':
      return { $ref: `#/definitions/${type.name}` };
    case 'list': {
      const out: JsonSchema = { type: 'array', items: valueSchema(type.of) };
      if (type.minItems !== undefined && type.minItems > 0) out.minItems = type.minItems;
      if (type.maxItems !== undefined) out.maxItems = type.maxItems;
      return out;
    }
    case 'either':
      return { anyOf: type.of.map(valueSchema) };
    case 'mapOf':
      return { type: 'object', additionalProperties: valueSchema(type.of) };
    case 'any':
      return {};
  }
}

function bounded(schema: JsonSchema, min: number | undefined, max: number | undefined): JsonSchema {
  const out = { ...schema };
  if (min !== undefined) out.minimum = min;
  if (max !== undefined) out.maximum = max;
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
