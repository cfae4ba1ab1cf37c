// libs/scenario: the scenario file format (YAML, version 1): reading it, validating it with
// clear errors (path and line), filling in its defaults, and producing the normalized Scenario
// of @vpmu/world-spec that the models run. Pure: no file system; the CLI reads files.
//
// The world-spec types and quantity functions are re-exported so that callers of the parser
// (apps, tests, bench) have the result's types at hand; the models import them from
// @vpmu/world-spec directly.
export * from '@vpmu/world-spec';
export { parseScenario } from './scenario.parser';
// The JSON Schema of the format, made from the reader's own field table (npm run schema).
export { scenarioJsonSchema } from './scenario.schema';
export type { ScenarioParseResult } from './scenario.parser';
export { EVENT_NAMES } from './perf-session.parser';
export type { EventName } from './perf-session.parser';
export { SCENARIO_DEFAULTS, MAX_FILTER_EVENTS } from './scenario.defaults';
export { formatScenarioErrors } from './scenario.errors';
// The CLI suggests commands and flags with the same edit distance as the scenario's keys.
export { closest, didYouMean } from './did-you-mean';
export type { ScenarioError } from './scenario.errors';
