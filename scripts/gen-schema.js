#!/usr/bin/env node
// `npm run schema`: writes schema/scenario.schema.json, the JSON Schema of the scenario format,
// from the built reader's field table (libs/scenario/src/scenario.fields.ts), so the schema and
// the validator cannot drift. The schema test (libs/scenario/src/scenario.schema.spec.ts) fails
// when the committed file is not what this writes.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const built = path.join(root, 'dist', 'libs', 'scenario', 'src', 'index.js');
if (!fs.existsSync(built)) {
  console.error('gen-schema: dist/ is missing; run `npm run build` first (npm run schema does)');
  process.exit(2);
}
const { scenarioJsonSchema } = require(built);
const out = path.join(root, 'schema', 'scenario.schema.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(scenarioJsonSchema(), null, 2) + '\n');
console.log(`schema: wrote ${path.relative(root, out)}`);
