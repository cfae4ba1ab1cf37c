// The ESLint rule that keeps the pure model libs free of frameworks, I/O, file formats, adapter
// libs and apps fires on every forbidden kind of import, in every model lib and in every import
// form, and leaves alone what the models may use and the libs and apps outside the models.
import { lintSnippets, type LintMessage } from '../support/eslint-runner';

const RULE = 'vpmu/model-import-boundary';
const MODEL_LIBS = ['sim', 'world-spec', 'pmu', 'perf', 'kvm', 'guest', 'migration', 'host', 'engine'];

const FORBIDDEN: [string, string][] = [
  ['NestJS', "import { Injectable } from '@nestjs/common';"],
  ['kafkajs', "import { Kafka } from 'kafkajs';"],
  ['node: built-in', "import * as fs from 'node:fs';"],
  ['bare built-in fs', "import * as fs from 'fs';"],
  ['bare built-in crypto', "import { createHash } from 'crypto';"],
  ['bare built-in path', "import { join } from 'path';"],
  ['built-in subpath', "import { readFile } from 'fs/promises';"],
  ['yaml', "import { parse } from 'yaml';"],
  ['protobufjs', "import * as protobuf from 'protobufjs';"],
  ['OpenTelemetry', "import { trace } from '@opentelemetry/api';"],
  ['@vpmu/scenario', "import { parseScenario } from '@vpmu/scenario';"],
  ['@vpmu/scenario, type only', "import type { Scenario } from '@vpmu/scenario';"],
  ['@vpmu/proto', "import { vpmu } from '@vpmu/proto';"],
  ['@vpmu/transport', "import { InProcessTransport } from '@vpmu/transport';"],
  ['@vpmu/recording', "import { RecordingReader } from '@vpmu/recording';"],
  ['@vpmu/telemetry', "import { PerfettoWriter } from '@vpmu/telemetry';"],
  ['@vpmu/summary', "import type { Summary } from '@vpmu/summary';"],
  ['an adapter lib by relative path', "import { parseScenario } from '../../scenario/src/scenario.parser';"],
  ['an app by alias', "import { ConductorService } from '@vpmu/conductor';"],
  ['an app by relative path', "import { main } from '../../../apps/cli/src/main';"],
  ['re-export', "export { parseScenario } from '@vpmu/scenario';"],
  ['export *', "export * from '@vpmu/transport';"],
  ['require()', "export const fs = require('fs');"],
  ['dynamic import()', "export const y = import('yaml');"],
  ['import = require()', "import fs = require('node:fs');\nexport const a = fs;"],
  ['import() type', "export type K = import('kafkajs').Kafka;"],
];

const ALLOWED: [string, string][] = [
  ['the kernel', "import { Prng } from '@vpmu/sim';"],
  ['the world description', "import { parseDurationNs, type Scenario } from '@vpmu/world-spec';"],
  ['another model', "import { EV } from '@vpmu/pmu';\nimport type { VcpuState } from '@vpmu/kvm';"],
  ['a file of its own lib', "import { FaultInjector } from './fault-injector';"],
  ['a model lib by relative path', "import { Prng } from '../../sim/src';"],
];

function lint(cases: { relPath: string; code: string }[]): LintMessage[][] {
  return lintSnippets(cases, RULE);
}

describe('vpmu/model-import-boundary', () => {
  // One ESLint process for every snippet below (each is linted as if it were the given file).
  const probe = (lib: string, spec = false) => `libs/${lib}/src/probe${spec ? '.spec' : ''}.ts`;
  const forbiddenInHost = FORBIDDEN.map(([, code]) => ({ relPath: probe('host'), code }));
  const allowedInHost = ALLOWED.map(([, code]) => ({ relPath: probe('host'), code }));
  const yamlInEachModel = MODEL_LIBS.map((lib) => ({ relPath: probe(lib), code: "import { parse } from 'yaml';" }));
  const specCases = [
    { relPath: probe('host', true), code: "import { parseScenario } from '@vpmu/scenario';\nimport * as fs from 'node:fs';" },
    { relPath: probe('host', true), code: "import { Kafka } from 'kafkajs';" },
    { relPath: probe('kvm', true), code: "import { Injectable } from '@nestjs/common';" },
  ];
  const outsideModels = [
    { relPath: 'libs/scenario/src/probe.ts', code: "import { parseDocument } from 'yaml';" },
    { relPath: 'libs/transport/src/probe.ts', code: "import { Kafka } from 'kafkajs';\nimport * as fs from 'node:fs';" },
    { relPath: 'apps/cli/src/probe.ts', code: "import { parseScenario } from '@vpmu/scenario';\nimport { Injectable } from '@nestjs/common';" },
  ];
  const all = [...forbiddenInHost, ...allowedInHost, ...yamlInEachModel, ...specCases, ...outsideModels];
  let results: LintMessage[][] = [];
  let next = 0;
  const take = (n: number) => results.slice(next, (next += n));
  let forbidden: LintMessage[][], allowed: LintMessage[][], perLib: LintMessage[][], specs: LintMessage[][], outside: LintMessage[][];

  beforeAll(() => {
    results = lint(all);
    [forbidden, allowed, perLib, specs, outside] = [forbiddenInHost, allowedInHost, yamlInEachModel, specCases, outsideModels].map((c) => take(c.length));
  });

  it.each(FORBIDDEN.map(([name], i) => [name, i] as const))('forbids %s in a model lib', (_name, i) => {
    expect(forbidden[i]).toHaveLength(1);
    expect(forbidden[i][0].message).toMatch(/the pure models depend inward only/);
  });

  it.each(ALLOWED.map(([name], i) => [name, i] as const))('allows %s', (_name, i) => {
    expect(allowed[i]).toEqual([]);
  });

  it.each(MODEL_LIBS.map((lib, i) => [lib, i] as const))('applies to libs/%s', (_lib, i) => {
    expect(perLib[i]).toHaveLength(1);
  });

  it('lets model specs use the scenario parser and Node I/O, but not frameworks', () => {
    expect(specs[0]).toEqual([]);
    expect(specs[1]).toHaveLength(1);
    expect(specs[2]).toHaveLength(1);
  });

  it('does not apply to adapter libs and apps', () => {
    expect(outside).toEqual([[], [], []]);
  });

  it('names the import and what it is', () => {
    expect(forbidden[0][0].message).toContain('"@nestjs/common" is NestJS');
    expect(forbidden[10][0].message).toContain('"@vpmu/scenario" is an adapter lib');
  });
});
