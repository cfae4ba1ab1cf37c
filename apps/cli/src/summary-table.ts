// The human summary printed after a run: one row per VM, the findings by kind, the event mix.
import type { RunSummary } from '@vpmu/summary';
import { formatNs } from '@vpmu/sim';
import { formatCount } from './progress';

export function renderSummaryTable(s: RunSummary): string[] {
  const lines: string[] = [];
  lines.push(`run ${s.run.id}  scenario "${s.run.scenario}"  seed ${s.run.seed}  ${formatNs(s.run.durationNs)} virtual in ${s.run.epochs} epochs`);
  const header = ['vm', 'host', 'vpmu', 'score', 'instr err%', 'cycles err%', 'exits', 'pmis', 'migrations'];
  const rows: string[][] = [header];
  for (const [id, vm] of Object.entries(s.vms)) {
    const exits = Object.values(vm.vmExits).reduce((a, b) => a + b, 0);
    const err = (e: string): string => (vm.counters[e] ? vm.counters[e].errorPct.toFixed(2) : '-');
    rows.push([id, vm.host, vm.vpmu, vm.workloadScore.toFixed(1), err('instructions'), err('cycles'), formatCount(exits), `${vm.pmis.delivered}/${vm.pmis.lost} lost`, String(vm.migrations.length)]);
  }
  lines.push(...table(rows));
  const byKind = new Map<string, number>();
  // Repeats are folded into one entry with a count (summary.types.ts FindingSummary): count them all.
  for (const f of s.findings) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + (f.count ?? 1));
  const totalFindings = [...byKind.values()].reduce((a, b) => a + b, 0);
  lines.push(
    s.findings.length === 0
      ? 'findings: none'
      : `findings: ${totalFindings} (${[...byKind.entries()].sort().map(([k, n]) => `${k} ${n}`).join(', ')})`,
  );
  const mix = Object.entries(s.events.byKind).map(([k, n]) => `${k} ${formatCount(n)}`).join(', ');
  lines.push(`events: ${formatCount(s.events.total)} (${mix})${s.deadLetters ? `, dead letters ${s.deadLetters}` : ''}`);
  lines.push(`digest: ${s.digest}`);
  lines.push(`content digest: ${s.contentDigest}`);
  return lines;
}

export function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r, i) => {
    const line = r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
    return i === 0 ? line : line;
  });
}
