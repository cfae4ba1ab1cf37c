// Scenario documents for the parser's specs (a minimal host, a VM on it) and assertions on what
// parseScenario makes of them: valid (with or without warnings) or failing with an error at a path.
import { stringify } from 'yaml';

import type { Scenario } from '@vpmu/world-spec';
import { formatScenarioErrors, type ScenarioError } from '../scenario.errors';
import { parseScenario } from '../scenario.parser';

export type Obj = Record<string, unknown>;

export const host = (extra: Obj = {}): Obj => ({ id: 'h1', cpu: 'intel-spr', pcpus: 4, ...extra });
export const base = (extra: Obj = {}): Obj => ({ version: 1, duration: '10ms', hosts: [host()], ...extra });
export const withVm = (vm: Obj, extra: Obj = {}): Obj => base({ vms: [{ id: 'vm1', host: 'h1', ...vm }], ...extra });

export function ok(input: string | Obj): Scenario {
  const r = parseScenario(typeof input === 'string' ? input : stringify(input));
  if (!r.ok) throw new Error(`expected a valid scenario, got:\n${formatScenarioErrors(r.errors)}`);
  return r.scenario;
}

export function okWithWarnings(input: string | Obj): { scenario: Scenario; warnings: string[] } {
  const r = parseScenario(typeof input === 'string' ? input : stringify(input));
  if (!r.ok) throw new Error(`expected a valid scenario, got:\n${formatScenarioErrors(r.errors)}`);
  return r;
}

export function errors(input: string | Obj): ScenarioError[] {
  const r = parseScenario(typeof input === 'string' ? input : stringify(input));
  if (r.ok) throw new Error('expected errors, the scenario was accepted');
  return r.errors;
}

/** Asserts the scenario fails with (at least) an error at `path` whose message contains `fragment`. */
export function expectError(input: string | Obj, path: string, fragment: string): ScenarioError {
  const errs = errors(input);
  const hit = errs.find((e) => e.path === path && e.message.includes(fragment));
  if (!hit) {
    throw new Error(`no error at ${JSON.stringify(path)} containing ${JSON.stringify(fragment)}; got:\n${formatScenarioErrors(errs)}`);
  }
  return hit;
}

export const MINIMAL = `version: 1
duration: 10ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 4
`;
