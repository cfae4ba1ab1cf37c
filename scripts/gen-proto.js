#!/usr/bin/env node
// Generates libs/proto/src/generated/vpmu.{js,d.ts} from proto/vpmu/v1/*.proto with
// protobufjs' pbjs/pbts (static code). Generated files are build output: never edit them.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const protoDir = path.join(root, 'proto');
const outDir = path.join(root, 'libs', 'proto', 'src', 'generated');
const files = fs
  .readdirSync(path.join(protoDir, 'vpmu', 'v1'))
  .filter((f) => f.endsWith('.proto'))
  .sort()
  .map((f) => path.join(protoDir, 'vpmu', 'v1', f));
fs.mkdirSync(outDir, { recursive: true });
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const js = path.join(outDir, 'vpmu.js');
execFileSync(
  bin('pbjs'),
  ['-t', 'static-module', '-w', 'commonjs', '--force-number', '--no-beautify', '--no-delimited', '--no-verify', '-p', protoDir, '-o', js, ...files],
  { cwd: protoDir, stdio: 'inherit' },
);
execFileSync(bin('pbts'), ['-o', path.join(outDir, 'vpmu.d.ts'), js], { stdio: 'inherit' });
process.stdout.write(`proto: generated ${path.relative(root, js)} from ${files.length} files\n`);
