// libs/world-spec: the normalized description of a simulated world (Scenario, hosts, VMs,
// workloads, programs, timeline) that the models are built from, and the unit-quantity grammar
// (`500ms`, `4GiB`, `10Gbps`) the timeline's fault parameters are written in. Pure data and
// pure functions: no file format, no I/O. libs/scenario reads YAML into these types.
export * from './scenario.types';
export * from './host-spec.types';
export * from './vm-spec.types';
export * from './workload-spec.types';
export * from './program-op.types';
export { parseDurationNs, parseSizeBytes, parseBandwidthBytesPerSec, parseInteger, formatDurationNs, QUANTITY_UNIT_NAMES } from './quantity.parser';
export type { QuantityResult } from './quantity.parser';
