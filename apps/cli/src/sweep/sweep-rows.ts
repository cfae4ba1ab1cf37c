// The rows of sweep.json and sweep.csv: one per point and seed, with the varied values and the
// figures the kernel threads argue with, read from each run's summary.json. Figures over a run
// with several VMs are totals (score, exits, PMIs, findings) or the worst VM (counter error).
import type { RunSummary } from '@vpmu/summary';
import { roundTo } from '../json-figures';
import type { SweepPlan } from './sweep-plan';
import type { VaryValue } from './vary-path';

export interface SweepRow {
  point: number;
  /** Varied value per axis path. */
  values: Record<string, VaryValue>;
  seed: number;
  runId: string;
  contentDigest: string;
  /** Guest instructions retired on the workload, summed over the VMs (millions). */
  score: number;
  /** The same point without guest perf (null: the point runs no guest perf). */
  baselineScore: number | null;
  /** (baseline - score) / baseline, in % (null without a baseline). */
  overheadPct: number | null;
  exitsTotal: number;
  exits: Record<string, number>;
  pmisDelivered: number;
  pmisLost: number;
  /** The largest |guest-observed - actual| / actual over every VM and counted event, in %. */
  counterErrorPctMax: number;
  findings: Record<string, number>;
}

/** The figures plotted and averaged (sweep-html.ts): name → how to read it from a row. */
export const SWEEP_FIGURES: { name: string; label: string; of: (r: SweepRow) => number | null }[] = [
  { name: 'overheadPct', label: 'guest perf overhead (%)', of: (r) => r.overheadPct },
  { name: 'score', label: 'workload score (M instructions)', of: (r) => r.score },
  { name: 'exitsTotal', label: 'VM exits', of: (r) => r.exitsTotal },
  { name: 'pmisDelivered', label: 'PMIs delivered', of: (r) => r.pmisDelivered },
  { name: 'pmisLost', label: 'PMIs lost', of: (r) => r.pmisLost },
  { name: 'counterErrorPctMax', label: 'worst counter error (%)', of: (r) => r.counterErrorPctMax },
  { name: 'findingsTotal', label: 'findings', of: (r) => Object.values(r.findings).reduce((a, b) => a + b, 0) },
];

function scoreOf(s: RunSummary): number {
  return Object.values(s.vms).reduce((n, vm) => n + vm.workloadScore, 0);
}

export function sweepRows(plan: SweepPlan, summaryOf: (key: string) => RunSummary): SweepRow[] {
  return plan.points.map((p) => {
    const s = summaryOf(p.run.key);
    const exits: Record<string, number> = {};
    let pmisDelivered = 0;
    let pmisLost = 0;
    let errMax = 0;
    for (const vm of Object.values(s.vms)) {
      for (const [reason, n] of Object.entries(vm.vmExits)) exits[reason] = (exits[reason] ?? 0) + n;
      pmisDelivered += vm.pmis.delivered;
      pmisLost += vm.pmis.lost;
      for (const c of Object.values(vm.counters)) errMax = Math.max(errMax, Math.abs(c.errorPct));
    }
    const findings: Record<string, number> = {};
    for (const f of s.findings) findings[f.kind] = (findings[f.kind] ?? 0) + f.count;
    const score = scoreOf(s);
    const base = p.baseline ? scoreOf(summaryOf(p.baseline.key)) : null;
    return {
      point: p.index,
      values: Object.fromEntries(plan.axes.map((a, i) => [a.path, p.values[i]])),
      seed: p.seed,
      runId: s.run.id,
      contentDigest: s.contentDigest,
      score: roundTo(score),
      baselineScore: base === null ? null : roundTo(base),
      overheadPct: base === null || base === 0 ? null : roundTo(((base - score) / base) * 100),
      exitsTotal: Object.values(exits).reduce((a, b) => a + b, 0),
      exits: sortKeys(exits),
      pmisDelivered,
      pmisLost,
      counterErrorPctMax: roundTo(errMax),
      findings: sortKeys(findings),
    };
  });
}

function sortKeys(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** sweep.csv: one row per point and seed; exit reasons and finding kinds get a column each (0 where absent). */
export function sweepCsv(plan: SweepPlan, rows: readonly SweepRow[]): string {
  const reasons = [...new Set(rows.flatMap((r) => Object.keys(r.exits)))].sort();
  const kinds = [...new Set(rows.flatMap((r) => Object.keys(r.findings)))].sort();
  const head = [
    'point',
    ...plan.axes.map((a) => a.path),
    'seed',
    'contentDigest',
    'score',
    'baselineScore',
    'overheadPct',
    'exitsTotal',
    ...reasons.map((r) => `exits.${r}`),
    'pmisDelivered',
    'pmisLost',
    'counterErrorPctMax',
    ...kinds.map((k) => `findings.${k}`),
  ];
  const lines = [head.map(csvCell).join(',')];
  for (const r of rows) {
    lines.push(
      [
        r.point,
        ...plan.axes.map((a) => r.values[a.path]),
        r.seed,
        r.contentDigest,
        r.score,
        r.baselineScore ?? '',
        r.overheadPct ?? '',
        r.exitsTotal,
        ...reasons.map((x) => r.exits[x] ?? 0),
        r.pmisDelivered,
        r.pmisLost,
        r.counterErrorPctMax,
        ...kinds.map((k) => r.findings[k] ?? 0),
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return lines.join('\n') + '\n';
}

function csvCell(v: unknown): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
