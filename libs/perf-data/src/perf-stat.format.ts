// `perf stat` output as perf 6.1 prints it (tools/perf/util/stat-display.c and the perf-stat man
// page, checked against the real perf 6.1 binary): the default table and the `-x<sep>` CSV form.
//
// Layout facts this module reproduces (6.1; later versions widened some columns):
//  - a counted line: value right-aligned in 18 columns ("%'18.0f", or "%'18.2f" when the event
//    has a fractional scale such as task-clock's ns -> msec), a space, the unit left-aligned in
//    the unit width (4, "unit", or the longest unit) and a space, the name left-aligned in 32,
//    then the metric column (" # <value> <unit>" padded to 35, or 35 blanks), then
//    "  (xx.xx%)" when the counter ran for only part of the time it was enabled (multiplexing);
//  - a line for a counter that did not count: "<not counted>" (supported, never ran) or
//    "<not supported>" right-aligned in 18, the unit column, the name in only 25 columns (6.1
//    prints those lines through a separate path) and the 35 blank metric columns;
//  - CSV: value, unit, event name, run time (ns), percentage of enabled time, metric value,
//    metric unit. The percentage is perf's integer `100 * run / ena` printed as %.2f (so 66.00,
//    never 66.67) and 100.00 when run == ena (also for <not supported>: 0 == 0).
//  - counts are scaled as perf does when run < ena: value * ena / run (then truncated).
//
// The thousands separator is the one of the user's LC_NUMERIC: perf uses printf's ' flag, so in
// the C/POSIX locale there is none. Default here is ',' (en_US); pass '' to get the C locale.
import { toU64, type U64 } from './byte.writer';

/** One counter of a `perf stat` run, as read at the end of the run. */
export interface PerfStatCounter {
  /** The name perf prints, e.g. "instructions", "task-clock", "cycles:u". */
  name: string;
  /** The raw count read from the counter (before multiplexing scaling). */
  count: U64;
  timeEnabledNs: U64;
  timeRunningNs: U64;
  /** false: the PMU refused the event (prints <not supported>). */
  supported: boolean;
  /** Printed unit, e.g. "msec" for task-clock; default "". */
  unit?: string;
  /** Multiplier from count to printed value, e.g. 1e-6 for task-clock (ns -> msec); default 1. */
  scale?: number;
  /** The shadow metric perf would print after '#', e.g. { value: 1.23, unit: 'insn per cycle' }. */
  metric?: PerfStatMetric;
}

export interface PerfStatMetric {
  value: number;
  unit: string;
  /** printf width and precision of the value; perf mostly uses %8.3f ("CPUs utilized", "K/sec"). */
  width?: number;
  decimals?: number;
}

/** What the header names, as perf stat's target options do. */
export type PerfStatTarget =
  | { command: string[] }
  | { systemWide: true }
  | { cpuList: string }
  | { pid: string }
  | { tid: string };

export interface PerfStatRun {
  target: PerfStatTarget;
  counters: PerfStatCounter[];
  /** Wall time of the measured run on the guest's clock ("seconds time elapsed"). */
  elapsedNs: U64;
  /** rusage of the command; both or neither (perf prints them only for a forked command). */
  userTimeNs?: U64;
  sysTimeNs?: U64;
}

export interface PerfStatTextOptions {
  /** Thousands separator of the user's locale; '' is perf in the C locale. Default ','. */
  thousandsSeparator?: string;
  /** perf's --no-big-num: no separators at all. */
  bigNum?: boolean;
}

const COUNTS_LEN = 18;
const EVNAME_LEN = 32;
/** The name column of <not counted>/<not supported> lines in perf 6.1. */
const BAD_EVNAME_LEN = 25;
const METRIC_LEN = 35;
const MIN_UNIT_WIDTH = 4; // strlen("unit")
const CNTR_NOT_SUPPORTED = '<not supported>';
const CNTR_NOT_COUNTED = '<not counted>';

/** A counter's numbers after perf's multiplexing scaling. */
interface ScaledCounter {
  ok: boolean;
  value: number;
  /** The value as an exact integer string when no scale applies (no float rounding on big counts). */
  exactInteger?: string;
  fractional: boolean;
  runNs: bigint;
  enaNs: bigint;
}

function scaleCounter(c: PerfStatCounter): ScaledCounter {
  const runNs = toU64(c.timeRunningNs, `${c.name} timeRunningNs`);
  const enaNs = toU64(c.timeEnabledNs, `${c.name} timeEnabledNs`);
  let raw = toU64(c.count, `${c.name} count`);
  if (runNs !== 0n && runNs < enaNs) raw = (raw * enaNs) / runNs;
  const scale = c.scale ?? 1;
  const fractional = Math.floor(scale) !== scale;
  const ok = c.supported && runNs !== 0n && enaNs !== 0n;
  return {
    ok,
    value: Number(raw) * scale,
    exactInteger: scale === 1 ? raw.toString() : undefined,
    fractional,
    runNs,
    enaNs,
  };
}

function group(integerDigits: string, separator: string): string {
  if (separator === '') return integerDigits;
  return integerDigits.replace(/\B(?=(\d{3})+(?!\d))/g, separator);
}

/** printf("%'.Nf") with the given separator. */
function fixed(value: number, decimals: number, separator: string): string {
  const text = value.toFixed(decimals);
  const negative = text.startsWith('-');
  const [intPart, frac] = (negative ? text.slice(1) : text).split('.');
  return (negative ? '-' : '') + group(intPart!, separator) + (frac === undefined ? '' : `.${frac}`);
}

function counterValueText(s: ScaledCounter, separator: string): string {
  if (s.exactInteger !== undefined) return group(s.exactInteger, separator);
  return fixed(s.value, s.fractional ? 2 : 0, separator);
}

function padLeft(text: string, width: number): string {
  return text.length >= width ? text : ' '.repeat(width - text.length) + text;
}

function padRight(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** perf's integer percentage of enabled time (u64 arithmetic in stat-display.c). */
function enabledPercentCsv(runNs: bigint, enaNs: bigint): string {
  if (runNs === enaNs) return '100.00';
  return `${(100n * runNs) / enaNs}.00`;
}

function metricValueText(m: PerfStatMetric): string {
  return padLeft(m.value.toFixed(m.decimals ?? 3), m.width ?? 8);
}

function metricStd(m: PerfStatMetric | undefined): string {
  if (m === undefined) return ' '.repeat(METRIC_LEN);
  const head = ` # ${metricValueText(m)}`;
  return `${head} ${padRight(m.unit, METRIC_LEN - head.length - 1)}`;
}

function targetText(t: PerfStatTarget): string {
  if ('command' in t) return `'${t.command.join(' ')}'`;
  if ('systemWide' in t) return `'system wide'`;
  if ('cpuList' in t) return `'CPU(s) ${t.cpuList}'`;
  if ('pid' in t) return `process id '${t.pid}'`;
  return `thread id '${t.tid}'`;
}

function secondsText(ns: U64, what: string): string {
  const v = toU64(ns, what);
  const text = `${v / 1_000_000_000n}.${(v % 1_000_000_000n).toString().padStart(9, '0')}`;
  return padLeft(text, 17); // " %17.9f"
}

/** The unit column width: 4 ("unit") or the longest unit. */
function unitWidth(counters: PerfStatCounter[]): number {
  return counters.reduce((w, c) => Math.max(w, (c.unit ?? '').length), MIN_UNIT_WIDTH);
}

/** One line of the default table, without the newline. */
export function formatPerfStatLine(c: PerfStatCounter, options: PerfStatTextOptions = {}, unitColumns = MIN_UNIT_WIDTH): string {
  const separator = options.bigNum === false ? '' : (options.thousandsSeparator ?? ',');
  const s = scaleCounter(c);
  const unit = `${padRight(c.unit ?? '', unitColumns)} `;
  const running = s.runNs !== s.enaNs ? `  (${((100 * Number(s.runNs)) / Number(s.enaNs)).toFixed(2)}%)` : '';
  if (!s.ok) {
    const bad = c.supported ? CNTR_NOT_COUNTED : CNTR_NOT_SUPPORTED;
    return `${padLeft(bad, COUNTS_LEN)} ${unit}${padRight(c.name, BAD_EVNAME_LEN)}${metricStd(undefined)}${running}`;
  }
  const value = padLeft(counterValueText(s, separator), COUNTS_LEN);
  return `${value} ${unit}${padRight(c.name, EVNAME_LEN)}${metricStd(c.metric)}${running}`;
}

/** The whole default `perf stat` output (what perf writes to stderr), header to footer. */
export function formatPerfStat(run: PerfStatRun, options: PerfStatTextOptions = {}): string {
  const width = unitWidth(run.counters);
  const out: string[] = ['', ` Performance counter stats for ${targetText(run.target)}:`, ''];
  for (const c of run.counters) out.push(formatPerfStatLine(c, options, width));
  out.push('', ` ${secondsText(run.elapsedNs, 'elapsedNs')} seconds time elapsed`, '');
  if ((run.userTimeNs === undefined) !== (run.sysTimeNs === undefined)) {
    throw new RangeError('give both userTimeNs and sysTimeNs, or neither');
  }
  if (run.userTimeNs !== undefined) {
    out.push(` ${secondsText(run.userTimeNs, 'userTimeNs')} seconds user`);
    out.push(` ${secondsText(run.sysTimeNs!, 'sysTimeNs')} seconds sys`, '', '');
  }
  return `${out.join('\n')}\n`;
}

/** One `perf stat -x<sep>` line, without the newline. */
export function formatPerfStatCsvLine(c: PerfStatCounter, separator = ','): string {
  const s = scaleCounter(c);
  const value = s.ok
    ? (s.exactInteger ?? s.value.toFixed(s.fractional ? 2 : 0))
    : c.supported
      ? CNTR_NOT_COUNTED
      : CNTR_NOT_SUPPORTED;
  const fields = [value, c.unit ?? '', c.name, s.runNs.toString(), enabledPercentCsv(s.runNs, s.enaNs)];
  // The metric value goes out trimmed (perf strips the padding and any trailing text).
  if (s.ok && c.metric) fields.push(metricValueText(c.metric).trim(), c.metric.unit);
  else fields.push('', '');
  return fields.join(separator);
}

/** The `perf stat -x<sep>` output: one line per counter, no header or footer (as perf). */
export function formatPerfStatCsv(run: Pick<PerfStatRun, 'counters'>, separator = ','): string {
  return run.counters.map((c) => `${formatPerfStatCsvLine(c, separator)}\n`).join('');
}

/** The CSV columns in perf's order (the perf-stat man page, "CSV FORMAT"). */
export const PERF_STAT_CSV_COLUMNS = [
  'counterValue',
  'unit',
  'eventName',
  'runTimeNs',
  'enabledPercent',
  'metricValue',
  'metricUnit',
] as const;

export type PerfStatCsvRow = Record<(typeof PERF_STAT_CSV_COLUMNS)[number], string>;

/** Splits `perf stat -x<sep>` output into rows by perf's documented column order. */
export function parsePerfStatCsv(text: string, separator = ','): PerfStatCsvRow[] {
  return text
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('#'))
    .map((line) => {
      const cells = line.split(separator);
      const row = {} as PerfStatCsvRow;
      PERF_STAT_CSV_COLUMNS.forEach((col, i) => (row[col] = cells[i] ?? ''));
      return row;
    });
}
