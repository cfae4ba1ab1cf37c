// `vpmu overhead FILE [--json]`: the guest perf overhead table of a scenario's workload, measured
// as the kernel folks do (the RFC cover letter "[RFC PATCH 00/41] KVM: x86/pmu: Introduce passthrough vPMU" (X. Zhang, Jan 2024)): run the workload without guest
// perf, then with each guest perf command of the scenario under four vPMU designs — emulated,
// passthrough with interceptEventSelect: false ("all passthrough"), passthrough with
// interceptEventSelect: true ("passthrough with event filters"), and the mediated vPMU as merged
// (its host switched to kernel: mainline with kvm.enableMediatedPmu and nmiWatchdog: false, as
// KVM's "disable system wide perf events and nmi_watchdog" demands) — and report
// overhead = (base - with) / base of the workload score (guest instructions retired on the
// workload). Runs the VM's host in-process with the engine's lock-step driver (@vpmu/engine):
// the result is the same pure function of (scenario, seed) as a full run's.
import { freshHostWorlds, runLockStep } from '@vpmu/engine';
import type { HostSpec, Scenario, VmSpec } from '@vpmu/scenario';
import type { OverheadTable } from '@vpmu/summary';
import { parseArgs, type CommandSpec } from '../args';
import { CliError } from '../cli-error';
import { loadScenarioFile } from '../scenario-file';
import type { CommandIo } from './command-io';
import { renderOverheadLines } from './overhead-report';

export const OVERHEAD_SPEC: CommandSpec = {
  name: 'overhead',
  positionals: [{ name: 'FILE', required: true, help: 'the scenario file whose VMs run guest perf commands' }],
  flags: { json: 'bool', debug: 'bool' },
  help: { json: { text: 'print the overhead table as JSON on stdout' } },
};

export const OVERHEAD_MODES: { label: string; vpmu: Partial<VmSpec['vpmu']>; host?: Partial<HostSpec> }[] = [
  { label: 'emulated', vpmu: { mode: 'emulated', interceptEventSelect: false } },
  { label: 'passthrough', vpmu: { mode: 'passthrough', interceptEventSelect: false } },
  { label: 'passthrough+filter', vpmu: { mode: 'passthrough', interceptEventSelect: true } },
  {
    label: 'mediated',
    vpmu: { mode: 'mediated', interceptEventSelect: true },
    host: { kernel: 'mainline', kvm: { enablePmu: true, enableMediatedPmu: true }, nmiWatchdog: false },
  },
];

/** Workload score of `vmId` (guest instructions retired on the workload) over the whole run. */
export function workloadScore(scenario: Scenario, vmId: string): number {
  const vm = scenario.vms.find((v) => v.id === vmId)!;
  let units = 0;
  // Only the VM's host: the scenarios overheadTable builds have no timeline, so nothing moves.
  runLockStep(scenario, freshHostWorlds(scenario, [vm.host]), {
    onEpoch: (frame) => {
      for (const h of frame.hosts) for (const g of h.guestOutputs) if (g.vm === vmId) units += g.workloadUnits;
    },
  });
  return units;
}

export function overheadTable(scenario: Scenario): OverheadTable & { vm: string; commands: string[] } {
  const vm = scenario.vms.find((v) => v.guestPerf.length > 0);
  if (!vm) throw new CliError('the scenario has no VM with guestPerf sessions: add a guest perf command to measure its overhead');
  // Only this VM's host matters; other VMs, migrations and timeline actions are left out so the
  // workload's score is the only variable.
  const only = (patch: Partial<VmSpec>, hostPatch: Partial<HostSpec> = {}): Scenario => ({
    ...scenario,
    hosts: scenario.hosts.map((h) => (h.id === vm.host ? { ...h, ...hostPatch } : h)),
    vms: [{ ...vm, program: [], ...patch }],
    timeline: [],
  });
  const base = workloadScore(only({ guestPerf: [], vpmu: { ...vm.vpmu, mode: 'passthrough' } }), vm.id);
  const rows = vm.guestPerf.map((g) => ({
    command: describeCommand(g),
    overheadPct: OVERHEAD_MODES.map((m) => {
      const withPerf = workloadScore(only({ guestPerf: [{ ...g, startNs: 0, stopNs: undefined }], vpmu: { ...vm.vpmu, ...m.vpmu } }, m.host), vm.id);
      return Math.round(((base - withPerf) / base) * 10000) / 100;
    }),
  }));
  return { vm: vm.id, baselineScore: Math.round(base / 1000) / 1000, columns: OVERHEAD_MODES.map((m) => m.label), rows, commands: vm.guestPerf.map((g) => g.id) };
}

function describeCommand(g: VmSpec['guestPerf'][number]): string {
  const counts = new Map<string, number>();
  for (const e of g.events) counts.set(e, (counts.get(e) ?? 0) + 1);
  const events = [...counts].map(([e, n]) => (n > 1 ? `${n}x${e}` : e)).join(',');
  const sample = g.command === 'record' && g.sample ? (g.sample.freqHz !== undefined ? ` -F ${g.sample.freqHz}` : ` -c ${g.sample.periodEvents}`) : '';
  return `${g.id}: perf ${g.command}${sample} -e ${events}${g.allCpus ? ' -a' : ''}`;
}

export async function overheadCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(OVERHEAD_SPEC, argv);
  const loaded = loadScenarioFile(args.positionals[0]);
  const t = overheadTable(loaded.scenario);
  if (args.flags.json) {
    io.out(JSON.stringify(t, null, 2));
    return 0;
  }
  for (const line of renderOverheadLines(t, loaded.scenario.name)) io.out(line);
  return 0;
}
