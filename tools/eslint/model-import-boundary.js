// ESLint rule: the pure models depend inward only (docs/architecture.md "Layers").
// A model lib (configured by file glob in eslint.config.js) may not import a framework or I/O
// package (NestJS, kafkajs, OpenTelemetry, protobufjs, the YAML parser, Node built-ins), an
// adapter lib (@vpmu/scenario, proto, transport, recording, telemetry, summary), or an app —
// by package name or by a relative path into those folders. Every form of import counts:
// `import`, `import type`, `export ... from`, `import()`, `require()` and `import x = require()`,
// because a type-only dependency still ties the model to the adapter's release.
//
// Option `allow`: kinds a file group may use anyway (spec files build test worlds with the
// parser and read fixtures: `allow: ['adapter-lib', 'node-builtin']`).
'use strict';

const path = require('node:path');
const { builtinModules } = require('node:module');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith('_')));
const ADAPTER_LIBS = ['scenario', 'proto', 'transport', 'recording', 'telemetry', 'summary'];
const APP_ALIASES = ['cli', 'conductor', 'host-node', 'guest-vm', 'aggregator'];

/** Each kind: a test on the import specifier (and the importing file, for relative paths). */
const KINDS = [
  { kind: 'nestjs', what: 'NestJS', test: (s) => /^@nestjs\//.test(s) },
  { kind: 'kafkajs', what: 'kafkajs', test: (s) => /^kafkajs(\/|$)/.test(s) },
  { kind: 'opentelemetry', what: 'OpenTelemetry', test: (s) => /^@opentelemetry\//.test(s) },
  { kind: 'protobufjs', what: 'protobufjs', test: (s) => /^protobufjs(\/|$)/.test(s) },
  { kind: 'yaml', what: 'the YAML parser', test: (s) => /^yaml(\/|$)/.test(s) },
  { kind: 'node-builtin', what: 'a Node built-in (I/O)', test: (s) => s.startsWith('node:') || BUILTINS.has(s.split('/')[0]) },
  {
    kind: 'adapter-lib',
    what: 'an adapter lib',
    test: (s, file) =>
      ADAPTER_LIBS.some((lib) => s === `@vpmu/${lib}` || s.startsWith(`@vpmu/${lib}/`)) ||
      ADAPTER_LIBS.some((lib) => insideRepoFolder(s, file, path.join('libs', lib))),
  },
  {
    kind: 'app',
    what: 'an app',
    test: (s, file) => APP_ALIASES.some((app) => s === `@vpmu/${app}` || s.startsWith(`@vpmu/${app}/`)) || insideRepoFolder(s, file, 'apps'),
  },
];

/** A relative specifier that resolves into `<repo>/<folder>`. */
function insideRepoFolder(specifier, file, folder) {
  if (!specifier.startsWith('.')) return false;
  const target = path.relative(path.join(REPO_ROOT, folder), path.resolve(path.dirname(file), specifier));
  return target === '' || (!target.startsWith('..') && !path.isAbsolute(target));
}

module.exports = {
  meta: {
    type: 'problem',
    docs: { description: 'keep the pure model libs free of frameworks, I/O, file formats, adapters and apps' },
    schema: [
      {
        type: 'object',
        properties: { allow: { type: 'array', items: { enum: KINDS.map((k) => k.kind) }, uniqueItems: true } },
        additionalProperties: false,
      },
    ],
    messages: {
      forbidden: '"{{specifier}}" is {{what}}: the pure models depend inward only (sim, world-spec, the other models); move the code that needs it to an adapter or app.',
    },
  },
  create(context) {
    const allow = new Set((context.options[0] && context.options[0].allow) || []);
    const file = context.physicalFilename ?? context.filename ?? context.getFilename();
    const check = (node, source) => {
      if (!source || source.type !== 'Literal' || typeof source.value !== 'string') return;
      const specifier = source.value;
      for (const k of KINDS) {
        if (allow.has(k.kind) || !k.test(specifier, file)) continue;
        context.report({ node, messageId: 'forbidden', data: { specifier, what: k.what } });
        return;
      }
    };
    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => check(node, node.source),
      TSImportType: (node) => check(node, node.argument && node.argument.type === 'TSLiteralType' ? node.argument.literal : node.argument),
      TSExternalModuleReference: (node) => check(node, node.expression),
      CallExpression(node) {
        if (node.callee.type === 'Identifier' && node.callee.name === 'require' && node.arguments.length === 1) check(node, node.arguments[0]);
      },
    };
  },
};
