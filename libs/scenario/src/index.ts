// libs/scenario: the scenario file format (YAML, version 1), its validation with clear errors,
// and the normalized Scenario the rest of the tool runs. Pure: no file system; the CLI reads files.
export * from './scenario.types';
export { parseScenario, EVENT_NAMES, SCENARIO_DEFAULTS, MAX_FILTER_EVENTS } from './scenario.parser';
export type { ScenarioParseResult, EventName } from './scenario.parser';
export { formatScenarioErrors } from './scenario.errors';
export type { ScenarioError } from './scenario.errors';
export { parseDurationNs, parseSizeBytes, parseBandwidthBytesPerSec, formatDurationNs } from './quantity.parser';
export type { QuantityResult } from './quantity.parser';
