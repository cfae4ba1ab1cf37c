// libs/perf-data (@vpmu/perf-data): the guest's own view in perf's own formats.
//
// Pure producers of bytes and text; no I/O, no clock, no host name, little endian always (the
// caller writes the files). docs/perf-data.md has samples read back by the real perf 6.1.
//
//  - writePerfData(session): the bytes of a perf.data file (perf_file_header, the events' attrs,
//    the data records COMM/MMAP/MMAP2/SAMPLE/LOST/LOST_SAMPLES/THROTTLE/UNTHROTTLE after a
//    kernel text MMAP, and the HOSTNAME..EVENT_DESC, SAMPLE_TIME feature sections) that
//    `perf script -i FILE` and `perf report -i FILE` open without a warning.
//  - formatPerfMap(symbols) / perfMapPath(pid): the symbol source. Map the workload's code with
//    an executable MMAP/MMAP2 record whose filename is "//anon"; perf then resolves its samples
//    against /tmp/perf-<pid>.map on the machine where perf runs. To point perf at the symbols:
//        write formatPerfMap(functions) to perfMapPath(pid)   (pid of the mmap record;
//        the file owned by the user running perf, or root)
//        perf report -i guest.perf.data   /   perf script -i guest.perf.data
//    Use guest pids that no live process on the reading machine has (perf consults its /proc).
//  - formatPerfStat(run) / formatPerfStatCsv(run): `perf stat` output, the default table and the
//    `-x,` CSV, laid out as perf 6.1 prints them; parsePerfStatCsv reads the CSV back by column.
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
