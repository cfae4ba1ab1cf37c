// perf stat formatting checked against the real perf 6.1 of this machine: the same counts, fed
// to the formatter, must give perf's exact text and CSV (columns, padding, separators), for a
// supported event with a unit (task-clock), one without (page-faults) and one the PMU refuses
// (instructions: no vPMU here, so perf prints <not supported>). Multiplexing cannot happen with
// software events, so the scaled and not-counted cases are checked against stat-display.c's rules.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  formatPerfStat,
  formatPerfStatCsv,
  formatPerfStatCsvLine,
  formatPerfStatLine,
  parsePerfStatCsv,
  type PerfStatCounter,
  type PerfStatRun,
} from './perf-stat.format';

const EVENTS = 'task-clock,instructions,page-faults';

function realPerfStat(extra: string[]): string {
  const r = spawnSync('perf', ['stat', ...extra, '-e', EVENTS, 'true'], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (r.error) throw new Error(`perf could not run (${r.error.message}); scripts/test-deps.sh installs linux-perf`);
  expect(r.status).toBe(0);
  return r.stderr; // perf stat reports on stderr
}

/** "0.001219525" seconds -> ns, exactly. */
function secondsToNs(text: string): bigint {
  const [s, frac = ''] = text.split('.');
  return BigInt(s!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
}

const keepDir = process.env.PERF_DATA_SAMPLE_DIR;
const keep = (name: string, text: string): void => {
  if (keepDir) writeFileSync(join(keepDir, name), text);
};

describe('perf stat text output', () => {
  it('is byte-identical to real perf stat for the same counts (supported, unit, not supported)', () => {
    const real = realPerfStat([]);
    const num = (re: RegExp): string => {
      const m = re.exec(real);
      if (!m) throw new Error(`real perf output did not match ${re}:\n${real}`);
      return m[1]!;
    };
    const taskMsec = num(/^\s*([\d.]+) msec task-clock/m);
    const cpus = num(/task-clock\s+#\s+([\d.]+) CPUs utilized/);
    const faults = num(/^\s*(\d+)\s+page-faults/m);
    const faultRate = num(/page-faults\s+#\s+([\d.]+) [KMG]?\/sec/);
    const faultRateUnit = num(/page-faults\s+#\s+[\d.]+ ([KMG]?\/sec)/);
    const run: PerfStatRun = {
      target: { command: ['true'] },
      counters: [
        // task-clock counts ns and prints msec: scale 1e-6 makes perf use two decimals.
        { name: 'task-clock', count: Math.round(Number(taskMsec) * 1e6), timeEnabledNs: 1000, timeRunningNs: 1000, supported: true, unit: 'msec', scale: 1e-6, metric: { value: Number(cpus), unit: 'CPUs utilized' } },
        { name: 'instructions', count: 0, timeEnabledNs: 0, timeRunningNs: 0, supported: false },
        { name: 'page-faults', count: Number(faults), timeEnabledNs: 1000, timeRunningNs: 1000, supported: true, metric: { value: Number(faultRate), unit: faultRateUnit } },
      ],
      elapsedNs: secondsToNs(num(/([\d.]+) seconds time elapsed/)),
      userTimeNs: secondsToNs(num(/([\d.]+) seconds user/)),
      sysTimeNs: secondsToNs(num(/([\d.]+) seconds sys/)),
    };
    // The C locale has no thousands separator.
    const mine = formatPerfStat(run, { thousandsSeparator: '' });
    keep('perf-stat-real.txt', real);
    keep('perf-stat-mine.txt', mine);
    expect(mine).toBe(real);
  });

  it('prints thousands separators, <not counted>, and the running percentage under multiplexing', () => {
    const cycles: PerfStatCounter = { name: 'cycles', count: 1_000_000, timeEnabledNs: 3_000_000, timeRunningNs: 2_000_000, supported: true };
    // Scaled to 1,500,000 (count * enabled / running) and marked with the running share.
    expect(formatPerfStatLine(cycles)).toBe(`${' '.repeat(9)}1,500,000      ${'cycles'.padEnd(32)}${' '.repeat(35)}  (66.67%)`);
    const insn: PerfStatCounter = {
      name: 'instructions',
      count: 2_468_000_000n,
      timeEnabledNs: 10,
      timeRunningNs: 10,
      supported: true,
      metric: { value: 1.64, unit: 'insn per cycle', width: 7, decimals: 2 },
    };
    expect(formatPerfStatLine(insn)).toBe(`     2,468,000,000      instructions                     #    1.64 insn per cycle          `);
    const idle: PerfStatCounter = { name: 'branch-misses', count: 0, timeEnabledNs: 5_000_000, timeRunningNs: 0, supported: true };
    expect(formatPerfStatLine(idle)).toBe(`     <not counted>      ${'branch-misses'.padEnd(25)}${' '.repeat(35)}  (0.00%)`);
    expect(formatPerfStatLine(cycles, { bigNum: false })).toContain(' 1500000      cycles');
    expect(formatPerfStatLine(cycles, { thousandsSeparator: '.' })).toContain(' 1.500.000      cycles');
  });

  it('names the target and prints no rusage lines when none are given', () => {
    const counters: PerfStatCounter[] = [{ name: 'cycles', count: 5, timeEnabledNs: 1, timeRunningNs: 1, supported: true }];
    const text = formatPerfStat({ target: { systemWide: true }, counters, elapsedNs: 1_500_000_000 });
    expect(text.split('\n')).toEqual([
      '',
      " Performance counter stats for 'system wide':",
      '',
      `                 5      ${'cycles'.padEnd(32)}${' '.repeat(35)}`,
      '',
      '       1.500000000 seconds time elapsed',
      '',
      '',
    ]);
    expect(formatPerfStat({ target: { pid: '4242' }, counters, elapsedNs: 0 })).toContain(" Performance counter stats for process id '4242':");
    expect(formatPerfStat({ target: { cpuList: '0-1' }, counters, elapsedNs: 0 })).toContain("for 'CPU(s) 0-1':");
  });
});

describe('a simulated guest perf stat (docs sample)', () => {
  // Four hardware events on a guest vPMU with two general-purpose counters: perf multiplexes, so
  // cycles and instructions ran half of the time, branch-misses never got a counter.
  const run: PerfStatRun = {
    target: { command: ['./vpmu-bench', '--iterations', '1000'] },
    counters: [
      { name: 'task-clock', count: 2_003_117_512, timeEnabledNs: 2_003_117_512, timeRunningNs: 2_003_117_512, supported: true, unit: 'msec', scale: 1e-6, metric: { value: 0.998, unit: 'CPUs utilized' } },
      { name: 'cycles', count: 2_905_000_000, timeEnabledNs: 2_003_117_512, timeRunningNs: 1_001_558_756, supported: true, metric: { value: 2.901, unit: 'GHz' } },
      { name: 'instructions', count: 3_631_250_000, timeEnabledNs: 2_003_117_512, timeRunningNs: 1_001_558_756, supported: true, metric: { value: 1.25, unit: 'insn per cycle', width: 7, decimals: 2 } },
      { name: 'branch-misses', count: 0, timeEnabledNs: 2_003_117_512, timeRunningNs: 0, supported: true },
      { name: 'topdown-retiring', count: 0, timeEnabledNs: 0, timeRunningNs: 0, supported: false },
    ],
    elapsedNs: 2_006_402_113,
    userTimeNs: 1_996_000_000,
    sysTimeNs: 8_000_000,
  };

  it('formats multiplexed, not counted and not supported events; the CSV parses back by perf column order', () => {
    const text = formatPerfStat(run);
    const csv = formatPerfStatCsv(run);
    keep('perf-stat-guest.txt', text);
    keep('perf-stat-guest.csv', csv);
    const col = (value: string, unit: string, name: string, nameWidth: number): string => `${value.padStart(18)} ${unit.padEnd(4)} ${name.padEnd(nameWidth)}`;
    expect(text).toContain(`${col('2,003.12', 'msec', 'task-clock', 32)} #    0.998 ${'CPUs utilized'.padEnd(23)}\n`);
    // Scaled to the enabled time: count * 2 (ran half the time).
    expect(text).toContain(`${col('5,810,000,000', '', 'cycles', 32)} #    2.901 ${'GHz'.padEnd(23)}  (50.00%)\n`);
    expect(text).toContain(`${col('<not counted>', '', 'branch-misses', 25)}${' '.repeat(35)}  (0.00%)\n`);
    expect(text).toContain(`${col('<not supported>', '', 'topdown-retiring', 25)}${' '.repeat(35)}\n`);
    const rows = parsePerfStatCsv(csv);
    expect(rows.map((r) => [r.counterValue, r.eventName, r.enabledPercent])).toEqual([
      ['2003.12', 'task-clock', '100.00'],
      ['5810000000', 'cycles', '50.00'],
      ['7262500000', 'instructions', '50.00'],
      ['<not counted>', 'branch-misses', '0.00'],
      ['<not supported>', 'topdown-retiring', '100.00'],
    ]);
    expect(rows[2]).toMatchObject({ runTimeNs: '1001558756', metricValue: '1.25', metricUnit: 'insn per cycle' });
  });
});

describe('perf stat -x, output', () => {
  it('is line-identical to real perf stat -x, for the same counts', () => {
    const real = realPerfStat(['-x,']);
    const rows = parsePerfStatCsv(real);
    expect(rows.map((r) => r.eventName)).toEqual(EVENTS.split(','));
    const counters: PerfStatCounter[] = rows.map((r) => {
      const supported = r.counterValue !== '<not supported>';
      const runNs = BigInt(r.runTimeNs);
      const isTaskClock = r.eventName === 'task-clock';
      return {
        name: r.eventName,
        count: supported ? Math.round(Number(r.counterValue) * (isTaskClock ? 1e6 : 1)) : 0,
        timeEnabledNs: runNs,
        timeRunningNs: runNs,
        supported,
        unit: r.unit,
        scale: isTaskClock ? 1e-6 : 1,
        metric: r.metricUnit ? { value: Number(r.metricValue), unit: r.metricUnit } : undefined,
      };
    });
    const mine = formatPerfStatCsv({ counters });
    keep('perf-stat-real.csv', real);
    keep('perf-stat-mine.csv', mine);
    expect(mine).toBe(real);
  });

  it('puts the columns in perf order: value, unit, name, run time, enabled %, metric value, metric unit', () => {
    const line = formatPerfStatCsvLine({
      name: 'cycles',
      count: 1_000_000,
      timeEnabledNs: 3_000_000,
      timeRunningNs: 2_000_000,
      supported: true,
      metric: { value: 1.5, unit: 'GHz' },
    });
    // perf computes the percentage in u64 arithmetic: 66, not 66.67.
    expect(line).toBe('1500000,,cycles,2000000,66.00,1.500,GHz');
    expect(parsePerfStatCsv(`${line}\n`)).toEqual([
      { counterValue: '1500000', unit: '', eventName: 'cycles', runTimeNs: '2000000', enabledPercent: '66.00', metricValue: '1.500', metricUnit: 'GHz' },
    ]);
    expect(formatPerfStatCsvLine({ name: 'cycles', count: 0, timeEnabledNs: 10, timeRunningNs: 0, supported: true }, ';')).toBe('<not counted>;;cycles;0;0.00;;');
    expect(formatPerfStatCsvLine({ name: 'instructions', count: 0, timeEnabledNs: 0, timeRunningNs: 0, supported: false })).toBe('<not supported>,,instructions,0,100.00,,');
  });
});
