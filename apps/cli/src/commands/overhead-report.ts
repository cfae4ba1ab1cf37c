// `vpmu run FILE --overhead`: the run's guest perf overhead comparison (the table `vpmu overhead`
// prints) kept with the run, so the report a reader opens has it beside the counters it explains
// and `vpmu diff` can compare it between two runs. The table is a pure function of (scenario,
// seed) like the run itself; it is computed before the run (a scenario without guest perf is
// bad input, refused before anything is written) and attached once the run's files exist.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RECORDING_FILE_NAME } from '@vpmu/recording';
import type { OverheadTable, RunSummary } from '@vpmu/summary';
import { exportRecording } from './export.command';

/** The columns and rows of an overhead table as the summary keeps them (no CLI-only fields). */
export function summaryOverhead(t: OverheadTable): OverheadTable {
  return { baselineScore: t.baselineScore, columns: [...t.columns], rows: t.rows.map((r) => ({ command: r.command, overheadPct: [...r.overheadPct] })) };
}

/**
 * Adds `overhead` to DIR/summary.json and renders DIR/report.html again from the recording, which
 * then shows its Overhead section. Returns the summary as written.
 */
export async function attachOverhead(outDir: string, summary: RunSummary, table: OverheadTable): Promise<RunSummary> {
  const withOverhead: RunSummary = { ...summary, overhead: summaryOverhead(table) };
  const summaryPath = path.join(outDir, 'summary.json');
  const partial = `${summaryPath}.partial`;
  fs.writeFileSync(partial, JSON.stringify(withOverhead, null, 2) + '\n');
  fs.renameSync(partial, summaryPath);
  const report = path.join(outDir, 'report.html');
  // The replay stream reads summary.json (digest-matched) as the summary the report renders.
  if (fs.existsSync(report)) await exportRecording(path.join(outDir, RECORDING_FILE_NAME), 'html', report);
  return withOverhead;
}

/** The overhead table as text lines (`vpmu overhead`, and `vpmu run --overhead` after its summary). */
export function renderOverheadLines(t: OverheadTable & { vm: string }, scenarioName: string): string[] {
  const w0 = Math.max(...t.rows.map((r) => r.command.length), 'command'.length);
  const header = ['command'.padEnd(w0), ...t.columns.map((c) => c.padStart(20))].join('  ');
  return [
    `guest perf overhead for VM ${t.vm} (${scenarioName}); baseline score ${t.baselineScore} M instructions; overhead = (base - with) / base`,
    header,
    ...t.rows.map((r) => [r.command.padEnd(w0), ...r.overheadPct.map((p) => `${p.toFixed(2)}%`.padStart(20))].join('  ')),
  ];
}
