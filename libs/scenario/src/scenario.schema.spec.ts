// The published JSON Schema (schema/scenario.schema.json): the committed file is what the field
// table makes today (npm run schema rewrites it), every built-in scenario and the docs' examples
// validate against it with a real JSON Schema validator (ajv, draft-07) and name it on their first
// line for editors, and what the reader refuses at the shape level the schema refuses too.
// (Test code may read files; the library itself does not.)
import Ajv from 'ajv';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

import { scenarioJsonSchema } from './scenario.schema';
import { keysOf, SECTIONS } from './scenario.fields';

const root = join(__dirname, '..', '..', '..');
const schemaFile = join(root, 'schema', 'scenario.schema.json');
const scenarioFiles = readdirSync(join(root, 'scenarios')).filter((f) => /\.ya?ml$/.test(f)).sort();
const SCHEMA_LINE = '# yaml-language-server: $schema=../schema/scenario.schema.json';

const validate = new Ajv({ allErrors: true }).compile(scenarioJsonSchema());
const errorsOf = (text: string): string[] => {
  const ok = validate(parse(text, { merge: true }));
  return ok ? [] : (validate.errors ?? []).map((e) => `${e.dataPath} ${e.message}`);
};

describe('schema/scenario.schema.json', () => {
  it('is what the field table makes (run `npm run schema` after changing the format)', () => {
    expect(readFileSync(schemaFile, 'utf8')).toBe(JSON.stringify(scenarioJsonSchema(), null, 2) + '\n');
  });

  it.each(scenarioFiles)('scenarios/%s validates against it and names it on its first line', (file) => {
    const text = readFileSync(join(root, 'scenarios', file), 'utf8');
    expect(text.split('\n')[0]).toBe(SCHEMA_LINE);
    expect(errorsOf(text)).toEqual([]);
  });

  it('the full example and the fleet template example of docs/scenario.md validate against it', () => {
    const doc = readFileSync(join(root, 'docs', 'scenario.md'), 'utf8');
    const yamlBlocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    const full = yamlBlocks.find((b) => b.includes('name: full-example'));
    const fleet = yamlBlocks.find((b) => b.includes('name: fleet-64'));
    expect(errorsOf(full ?? '')).toEqual([]);
    expect(errorsOf(fleet ?? '')).toEqual([]);
  });

  it('has a definition with exactly the reader\'s keys for each section', () => {
    const schema = scenarioJsonSchema() as { properties: object; definitions: Record<string, { properties: object }> };
    expect(Object.keys(schema.properties)).toEqual(keysOf('top'));
    expect(Object.keys(schema.definitions.host.properties)).toEqual([...keysOf('host'), ...keysOf('hostTemplate')]);
    expect(Object.keys(schema.definitions.vm.properties)).toEqual([...keysOf('vm'), ...keysOf('vmTemplate')]);
    for (const name of Object.keys(SECTIONS) as (keyof typeof SECTIONS)[]) {
      if (['top', 'host', 'vm', 'hostTemplate', 'vmTemplate'].includes(name)) continue;
      expect([name, Object.keys(schema.definitions[name].properties)]).toEqual([name, keysOf(name)]);
    }
  });

  it('refuses what the reader refuses at the shape level', () => {
    const base = 'version: 1\nduration: 10ms\nhosts:\n  - { id: h1, cpu: intel-spr, pcpus: 4 }\n';
    expect(errorsOf(base)).toEqual([]);
    expect(errorsOf(base.replace('pcpus', 'pcpu')).join('\n')).toMatch(/additional properties|required/);
    expect(errorsOf(base + 'vms:\n  - { id: vm1, host: h1, vpmu: { mode: passthru } }\n').join('\n')).toMatch(/allowed values/);
    expect(errorsOf(base.replace('10ms', '10min')).join('\n')).toMatch(/\.duration/);
    expect(errorsOf(base + 'timeline:\n  - at: 1ms\n').join('\n')).toMatch(/oneOf|required/);
    expect(errorsOf(base + 'vms:\n  - { id: "v{i}", count: 0, host: h1 }\n').join('\n')).toMatch(/\.count/);
    expect(errorsOf(base + 'x-anchor: { any: thing }\n')).toEqual([]);
  });
});
