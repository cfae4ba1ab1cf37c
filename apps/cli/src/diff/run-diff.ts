// The comparison behind `vpmu diff A B`: two run summaries side by side, reduced to what a
// hypervisor developer reads first: per-VM counters and their error, VM exits by reason, PMIs,
// migrations, the guest perf overhead table when a run has one, and the findings one run has and
// the other does not. Pure: summaries in, a plain object out (the command adds the first diverging
// event when both recordings exist).
import type { FindingSummary, MigrationSummary, OverheadTable, RunSummary, VmSummary } from '@vpmu/summary';

/** A figure of run A next to the same figure of run B (null: the run has no such figure). */
export interface Pair {
  a: number | null;
  b: number | null;
}

export interface VmDiff {
  id: string;
  /** Where the VM exists: in both runs or only in one. */
  in: 'both' | 'a' | 'b';
  host: [string | null, string | null];
  vpmu: [string | null, string | null];
  workloadScore: Pair;
  /** Per counted event: the guest's error against ground truth, in %. */
  counterErrorPct: Record<string, Pair>;
  /** Per event: the guest-observed count. */
  counterObserved: Record<string, Pair>;
  vmExits: Record<string, Pair>;
  vmExitsTotal: Pair;
  pmisDelivered: Pair;
  pmisLost: Pair;
  migrations: { a: string[]; b: string[] };
}

/** A finding's identity across runs: its kind and where it happened (counts and times may move). */
export interface FindingKey {
  kind: string;
  host: string | null;
  vm: string | null;
  vcpu: number | null;
  detail: string;
}

export interface RunDiff {
  sameScenario: boolean;
  sameSeed: boolean;
  sameToolVersion: boolean;
  /** Content digests equal: the simulated events are the same. */
  identicalEvents: boolean;
  vms: VmDiff[];
  overhead: { a: OverheadTable | null; b: OverheadTable | null };
  findings: {
    added: FindingKey[];
    gone: FindingKey[];
    /** Found in both, a different number of times. */
    countChanged: (FindingKey & { countA: number; countB: number })[];
  };
  /** VMs, figures or findings that differ: 0 when the runs agree on everything compared. */
  differences: number;
}

export function diffSummaries(a: RunSummary, b: RunSummary, sameScenarioText: boolean): RunDiff {
  const ids = [...Object.keys(a.vms), ...Object.keys(b.vms).filter((id) => !Object.hasOwn(a.vms, id))];
  const vms = ids.map((id) => diffVm(id, a.vms[id] ?? null, b.vms[id] ?? null));
  const findings = diffFindings(a.findings, b.findings);
  const overhead = { a: a.overhead ?? null, b: b.overhead ?? null };
  const differences =
    vms.reduce((n, v) => n + vmDifferences(v), 0) +
    findings.added.length +
    findings.gone.length +
    findings.countChanged.length +
    (JSON.stringify(overhead.a) === JSON.stringify(overhead.b) ? 0 : 1);
  return {
    sameScenario: sameScenarioText,
    sameSeed: a.run.seed === b.run.seed,
    sameToolVersion: a.run.toolVersion === b.run.toolVersion,
    identicalEvents: a.contentDigest !== '' && a.contentDigest === b.contentDigest,
    vms,
    overhead,
    findings,
    differences,
  };
}

function diffVm(id: string, a: VmSummary | null, b: VmSummary | null): VmDiff {
  const pair = (f: (v: VmSummary) => number | undefined): Pair => ({ a: a ? (f(a) ?? null) : null, b: b ? (f(b) ?? null) : null });
  const keyed = (f: (v: VmSummary) => Record<string, number>): Record<string, Pair> => {
    const ka = a ? f(a) : {};
    const kb = b ? f(b) : {};
    const keys = [...Object.keys(ka), ...Object.keys(kb).filter((k) => !Object.hasOwn(ka, k))].sort();
    return Object.fromEntries(keys.map((k) => [k, { a: a ? (ka[k] ?? 0) : null, b: b ? (kb[k] ?? 0) : null }]));
  };
  const errors = (v: VmSummary): Record<string, number> => Object.fromEntries(Object.entries(v.counters).map(([e, c]) => [e, c.errorPct]));
  const observed = (v: VmSummary): Record<string, number> => Object.fromEntries(Object.entries(v.counters).map(([e, c]) => [e, c.guestObserved]));
  return {
    id,
    in: a && b ? 'both' : a ? 'a' : 'b',
    host: [a?.host ?? null, b?.host ?? null],
    vpmu: [a?.vpmu ?? null, b?.vpmu ?? null],
    workloadScore: pair((v) => v.workloadScore),
    counterErrorPct: keyed(errors),
    counterObserved: keyed(observed),
    vmExits: keyed((v) => v.vmExits),
    vmExitsTotal: pair((v) => Object.values(v.vmExits).reduce((s, n) => s + n, 0)),
    pmisDelivered: pair((v) => v.pmis.delivered),
    pmisLost: pair((v) => v.pmis.lost),
    migrations: { a: (a?.migrations ?? []).map(describeMigration), b: (b?.migrations ?? []).map(describeMigration) },
  };
}

function describeMigration(m: MigrationSummary): string {
  return `${m.from}->${m.to} ${m.result}, downtime ${m.downtimeNs} ns`;
}

/** How many of a VM's compared figures differ (a VM present in one run only counts once). */
export function vmDifferences(v: VmDiff): number {
  if (v.in !== 'both') return 1;
  const differs = (p: Pair): number => (p.a === p.b ? 0 : 1);
  let n = (v.host[0] === v.host[1] ? 0 : 1) + (v.vpmu[0] === v.vpmu[1] ? 0 : 1);
  n += differs(v.workloadScore) + differs(v.pmisDelivered) + differs(v.pmisLost);
  for (const p of Object.values(v.counterErrorPct)) n += differs(p);
  for (const p of Object.values(v.counterObserved)) n += differs(p);
  for (const p of Object.values(v.vmExits)) n += differs(p);
  n += v.migrations.a.join('\n') === v.migrations.b.join('\n') ? 0 : 1;
  return n;
}

function findingKey(f: FindingSummary): FindingKey {
  // The detail keeps its words and drops its numbers, as the summary groups repeats (summary.types.ts).
  return { kind: f.kind, host: f.host, vm: f.vm, vcpu: f.vcpu, detail: f.detail.replace(/\b\d+(\.\d+)?\b/g, '#') };
}

function keyString(k: FindingKey): string {
  return JSON.stringify([k.kind, k.host, k.vm, k.vcpu, k.detail]);
}

function diffFindings(a: readonly FindingSummary[], b: readonly FindingSummary[]): RunDiff['findings'] {
  const count = (list: readonly FindingSummary[]): Map<string, { key: FindingKey; count: number }> => {
    const m = new Map<string, { key: FindingKey; count: number }>();
    for (const f of list) {
      const key = findingKey(f);
      const s = keyString(key);
      const e = m.get(s);
      if (e) e.count += f.count;
      else m.set(s, { key, count: f.count });
    }
    return m;
  };
  const ca = count(a);
  const cb = count(b);
  const added = [...cb].filter(([k]) => !ca.has(k)).map(([, v]) => v.key);
  const gone = [...ca].filter(([k]) => !cb.has(k)).map(([, v]) => v.key);
  const countChanged = [...ca]
    .filter(([k, v]) => cb.has(k) && cb.get(k)!.count !== v.count)
    .map(([k, v]) => ({ ...v.key, countA: v.count, countB: cb.get(k)!.count }));
  return { added, gone, countChanged };
}

/** The text `vpmu diff` prints: every VM's figures side by side, `*` marking the ones that differ. */
export function renderRunDiff(d: RunDiff, labels: [string, string]): string[] {
  const rows: [string, string, string, string][] = [[' ', 'figure', labels[0], labels[1]]];
  const fmt = (x: number | string | null): string => (x === null ? '-' : typeof x === 'number' ? String(Math.round(x * 1000) / 1000) : x);
  const row = (name: string, a: number | string | null, b: number | string | null): void => {
    rows.push([a === b ? ' ' : '*', name, fmt(a), fmt(b)]);
  };
  for (const v of d.vms) {
    const p = `vm ${v.id}`;
    if (v.in !== 'both') {
      rows.push(['*', p, v.in === 'a' ? 'present' : '-', v.in === 'b' ? 'present' : '-']);
      continue;
    }
    row(`${p} host`, v.host[0], v.host[1]);
    row(`${p} vpmu`, v.vpmu[0], v.vpmu[1]);
    row(`${p} score`, v.workloadScore.a, v.workloadScore.b);
    for (const [e, pr] of Object.entries(v.counterObserved)) row(`${p} ${e} observed`, pr.a, pr.b);
    for (const [e, pr] of Object.entries(v.counterErrorPct)) row(`${p} ${e} err%`, pr.a, pr.b);
    row(`${p} exits`, v.vmExitsTotal.a, v.vmExitsTotal.b);
    for (const [r, pr] of Object.entries(v.vmExits)) row(`${p} exits ${r}`, pr.a, pr.b);
    row(`${p} pmis delivered`, v.pmisDelivered.a, v.pmisDelivered.b);
    row(`${p} pmis lost`, v.pmisLost.a, v.pmisLost.b);
    row(`${p} migrations`, v.migrations.a.join('; ') || 'none', v.migrations.b.join('; ') || 'none');
  }
  if (d.overhead.a || d.overhead.b) {
    const cols = d.overhead.a?.columns ?? d.overhead.b!.columns;
    const commands = [...new Set([...(d.overhead.a?.rows ?? []), ...(d.overhead.b?.rows ?? [])].map((r) => r.command))];
    for (const c of commands) {
      for (let i = 0; i < cols.length; i++) {
        const va = d.overhead.a?.rows.find((r) => r.command === c)?.overheadPct[i] ?? null;
        const vb = d.overhead.b?.rows.find((r) => r.command === c)?.overheadPct[i] ?? null;
        row(`overhead% ${cols[i]} ${c}`, va, vb);
      }
    }
  }
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const w2 = Math.max(...rows.map((r) => r[2].length));
  const out = rows.map(([m, n, a, b]) => `${m} ${n.padEnd(w1)}  ${a.padEnd(w2)}  ${b}`.trimEnd());
  const place = (k: FindingKey): string => [k.host, k.vm, k.vcpu === null ? null : `vcpu${k.vcpu}`].filter((x) => x !== null).join('/') || 'run';
  for (const f of d.findings.added) out.push(`+ finding ${f.kind} at ${place(f)}: ${f.detail}`);
  for (const f of d.findings.gone) out.push(`- finding ${f.kind} at ${place(f)}: ${f.detail}`);
  for (const f of d.findings.countChanged) out.push(`~ finding ${f.kind} at ${place(f)}: ${f.countA} -> ${f.countB} times`);
  return out;
}
