// `vpmu inspect REC --at TIME [--vm ID] [--host ID] [--json]`: the scheduler, vPMU and perf
// state at a virtual time, restored from the nearest checkpoint and simulated forward.
import type { HostInspection } from '@vpmu/host';
import { parseDurationNs } from '@vpmu/scenario';
import { parseArgs, usageOf, type CommandSpec } from '../args';
import { CliError } from '../cli-error';
import { formatNs, inspectRecording, type InspectResult } from '../replay/inspect';
import { resolveRecordingPath, toolVersionWarning } from '../replay/recording-input';
import type { CommandIo } from './command-io';

export const INSPECT_SPEC: CommandSpec = {
  name: 'inspect',
  positionals: [{ name: 'REC', required: true, help: 'the recording (recording.vpmurec, or the run directory holding it)' }],
  flags: { at: 'string', vm: 'string', host: 'string', json: 'bool', debug: 'bool' },
  help: {
    at: { value: 'TIME', text: 'the virtual time to show, e.g. 150ms (a plain integer is nanoseconds)' },
    vm: { value: 'ID', text: 'show only this VM' },
    host: { value: 'ID', text: 'show only this host' },
    json: { text: 'print the state as JSON on stdout' },
  },
};

export async function inspectCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(INSPECT_SPEC, argv);
  const at = args.flags.at as string | undefined;
  if (at === undefined) throw new CliError(`vpmu inspect: --at TIME is required, e.g. --at 150ms (usage: vpmu inspect ${usageOf(INSPECT_SPEC)}).`);
  // On a command line every value is a string: a plain integer is nanoseconds, as in a scenario.
  const parsed = parseDurationNs(/^\d+$/.test(at) ? Number(at) : at);
  if (!parsed.ok) throw new CliError(`vpmu inspect: --at ${at} is not a virtual time: ${parsed.message}.`);
  const file = resolveRecordingPath(args.positionals[0]);
  const result = inspectRecording(file, parsed.value, { vm: args.flags.vm as string | undefined, host: args.flags.host as string | undefined });
  const warning = toolVersionWarning(result.toolVersion);
  if (warning) io.err(warning);
  if (!result.matchesRecording) {
    io.err(`warning: even a simulation from time 0 does not reproduce the recording (${result.mismatch}); the state shown is this tool's, not necessarily the recorded run's.`);
  }
  if (args.flags.json) {
    io.out(JSON.stringify(result, null, 2));
    return 0;
  }
  for (const line of renderInspection(result)) io.out(line);
  return 0;
}

const KNOWN_HOST_KEYS = new Set(['host', 'atNs', 'pcpus', 'vcpus', 'noise', 'perfEvents']);
const KNOWN_VCPU_KEYS = new Set(['vm', 'vcpu', 'vpmu', 'state', 'pcpu', 'guestTask', 'guestRunNs', 'counters']);

export function renderInspection(r: InspectResult): string[] {
  const from = r.restoredFromEpoch === null ? 'the start (built fresh at time 0)' : `the checkpoint at epoch ${r.restoredFromEpoch}`;
  const lines = [
    `state at ${formatNs(r.atNs)} (epoch ${r.epoch}) of run ${r.runId}, seed ${r.seed}`,
    `restored from ${from}; simulated ${r.simulatedEpochs} epoch${r.simulatedEpochs === 1 ? '' : 's'} forward${r.partialWindowNs > 0 ? ` (the last one partly, ${formatNs(r.partialWindowNs)})` : ''}`,
  ];
  for (const c of r.rejectedCheckpoints) lines.push(`(the checkpoint at epoch ${c.epoch} was set aside: ${c.reason})`);
  for (const h of r.hosts) lines.push('', ...renderHost(h));
  return lines;
}

function renderHost(h: HostInspection): string[] {
  const out = [`host ${h.host}`, '  pCPUs:'];
  for (const c of h.pcpus) out.push(`    cpu${c.pcpu}  running ${c.running.padEnd(22)}  runqueue: ${c.runqueue.length ? c.runqueue.join(', ') : '-'}`);
  if (h.vcpus.length > 0) out.push('  vCPUs:');
  for (const v of h.vcpus) {
    out.push(`    ${`${v.vm}/${v.vcpu}`.padEnd(20)} vpmu ${v.vpmu.padEnd(11)} ${v.state.padEnd(8)} on cpu${v.pcpu}  task ${v.guestTask}  guest run ${formatMs(v.guestRunNs)}`);
    const counters = Object.entries(v.counters);
    const w = Math.max(0, ...counters.map(([e]) => e.length));
    for (const [event, c] of counters) out.push(`        ${event.padEnd(w)}  actual ${String(c.actual).padStart(14)}  observed ${String(c.observed).padStart(14)}`);
    for (const [k, val] of Object.entries(v)) if (!KNOWN_VCPU_KEYS.has(k)) out.push(`        ${k}: ${JSON.stringify(val)}`);
  }
  if (h.noise.length > 0) out.push('  noise threads:');
  for (const n of h.noise) out.push(`    ${n.thread.padEnd(20)} ${n.runnable ? 'runnable' : 'sleeping'}  cpu${n.pcpu}`);
  if (h.perfEvents.length > 0) out.push('  host perf events:');
  const iw = Math.max(0, ...h.perfEvents.map((e) => e.id.length));
  for (const e of h.perfEvents) {
    const ratio = e.timeEnabledNs > 0 ? ` running ${((e.timeRunningNs / e.timeEnabledNs) * 100).toFixed(1)}% of enabled` : '';
    out.push(`    ${e.id.padEnd(iw)}  ${e.state.padEnd(8)} count ${String(e.count).padStart(14)}${ratio}`);
  }
  // State the models add later is shown as it comes.
  for (const [k, val] of Object.entries(h)) if (!KNOWN_HOST_KEYS.has(k)) out.push(`  ${k}: ${JSON.stringify(val)}`);
  return out;
}

function formatMs(ns: number): string {
  return `${(ns / 1e6).toFixed(3)}ms`;
}
