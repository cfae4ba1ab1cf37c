// Fixtures for the perf specs: a PerfCore over one host's PMUs that records what it emits, a
// workload's event rates and a way to advance every CPU. Specs import it by path; the lib's
// index does not export it.
import { EventRates, MODE_HOST, createPmuForCpu, type ExecMode } from '@vpmu/pmu';
import type { SimEvent } from '@vpmu/sim';
import { PerfCore, type PerfCoreOptions } from '../perf-core';

export const MS = 1_000_000;

export function host(preset = 'intel-skx', pcpus = 2, over: Partial<PerfCoreOptions> = {}, pmuOver: { pmiSkidNs?: number; gpCounters?: number } = {}) {
  const records: SimEvent[] = [];
  const core = new PerfCore({
    hostId: 'h1',
    pmus: Array.from({ length: pcpus }, (_, c) => createPmuForCpu(preset, c, pcpus, pmuOver)),
    sink: { emit: (e) => records.push(e) },
    ...over,
  });
  return { core, records, findings: (kind: string) => records.filter((r) => r.kind === 'finding' && r.findingKind === kind) };
}

/** Workload: instructions 2/ns, cycles 1/ns, branches 0.5/ns; 25% of it in kernel mode. */
export const RATES = EventRates.split({ instructions: 2, cycles: 1, 'ref-cycles': 1, branches: 0.5, 'branch-misses': 0.01, 'cache-references': 0.02, 'cache-misses': 0.005 }, 0.25);

/** Advances every CPU to `toNs` under one rate/mode, as the world would. */
export function runAll(core: PerfCore, toNs: number, rates = RATES, mode: ExecMode = MODE_HOST): void {
  for (const c of core.cpus) c.advanceTo(toNs, rates, mode);
}
