// What `--json` prints: figures rounded to what they mean. A wall-clock time is known to the
// microsecond at best, so milliseconds keep 3 decimals (no 8487.395872000001); a percentage
// error keeps 3 decimals (the table shows 2); counts are integers already.
import type { RunSummary } from '@vpmu/summary';

/** `x` rounded to at most `decimals` decimals (trailing zeros dropped by JSON). */
export function roundTo(x: number, decimals = 3): number {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
}

/** The key figures of a run's summary, as `vpmu run --json` prints them (summary.json has all). */
export function summaryFigures(s: RunSummary): Record<string, unknown> {
  const byKind: Record<string, number> = {};
  for (const f of s.findings) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
  const vms = Object.fromEntries(
    Object.entries(s.vms).map(([id, vm]) => [
      id,
      {
        host: vm.host,
        vpmu: vm.vpmu,
        workloadScore: roundTo(vm.workloadScore),
        errorPct: Object.fromEntries(Object.entries(vm.counters).map(([event, c]) => [event, roundTo(c.errorPct)])),
        vmExits: Object.values(vm.vmExits).reduce((a, b) => a + b, 0),
        pmis: { delivered: vm.pmis.delivered, lost: vm.pmis.lost },
        migrations: vm.migrations.length,
      },
    ]),
  );
  return {
    runId: s.run.id,
    scenario: s.run.scenario,
    seed: s.run.seed,
    durationNs: s.run.durationNs,
    epochs: s.run.epochs,
    toolVersion: s.run.toolVersion,
    events: { total: s.events.total, byKind: s.events.byKind },
    vms,
    findings: { total: s.findings.length, byKind },
    deadLetters: s.deadLetters,
    digest: s.digest,
    contentDigest: s.contentDigest,
  };
}
