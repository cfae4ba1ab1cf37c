// libs/perf-data: the guest's own view in perf's own formats. Pure byte/text producers, no I/O:
//  - writePerfData: a perf.data file (header, attrs, data records, feature sections) that
//    `perf script -i` and `perf report -i` (perf 6.1) read;
//  - formatPerfMap / perfMapPath: the /tmp/perf-<pid>.map symbol file that names the workload's
//    functions for perf (see perf-map.format.ts for how a user points perf at it);
//  - formatPerfStat / formatPerfStatCsv: `perf stat` output, the default table and `-x,`.
// docs/perf-data.md describes the formats with samples read back by the real perf.
export * from './perf-event.constants';
export * from './perf-record.types';
export { writePerfData, DEFAULT_KERNEL_TEXT } from './perf-data.writer';
export { formatPerfMap, perfMapPath, type PerfMapSymbol } from './perf-map.format';
export { toU64, type U64 } from './byte.writer';
export {
  formatPerfStat,
  formatPerfStatLine,
  formatPerfStatCsv,
  formatPerfStatCsvLine,
  parsePerfStatCsv,
  PERF_STAT_CSV_COLUMNS,
  type PerfStatCounter,
  type PerfStatMetric,
  type PerfStatRun,
  type PerfStatTarget,
  type PerfStatTextOptions,
  type PerfStatCsvRow,
} from './perf-stat.format';
