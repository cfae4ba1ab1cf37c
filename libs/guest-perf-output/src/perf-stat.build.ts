// One guest `perf stat` session of one VM as perf prints it (@vpmu/perf-data's formatters): the
// final readings the recording holds (count, time enabled, time running, summed over the VM's
// vCPUs by the model), one line per event name, in the order the guest asked for them.
import type { PerfStatCounter, PerfStatRun } from '@vpmu/perf-data';
import type { GuestPerfEvent } from '@vpmu/sim';
import type { GuestPerfSpec, Scenario, VmSpec } from '@vpmu/world-spec';
import { sessionWindows, windowsLengthNs } from './session-windows';

/** Events that exist only as fixed counters (perf's pseudo encodings): never scheduled = refused. */
const FIXED_ONLY_EVENTS = new Set(['ref-cycles', 'topdown-slots']);

/**
 * The counter perf stat would print for one event. The recording holds the count already scaled
 * by the model (enabled / running per vCPU); perf scales the raw count itself, so the raw count
 * is taken back as count × running / enabled, and perf's scaling gives the guest's figure again.
 */
function counterOf(name: string, vm: VmSpec, r: GuestPerfEvent | undefined): PerfStatCounter {
  // No reading: the VM has no vPMU for perf to open the event on (perf_event_open fails).
  if (!r || vm.vpmu.mode === 'none') return { name, count: 0, timeEnabledNs: 0, timeRunningNs: 0, supported: false };
  const enabledNs = Math.max(0, Math.round(r.timeEnabledNs));
  const runningNs = Math.max(0, Math.min(enabledNs, Math.round(r.timeRunningNs)));
  // The guest kernel refuses a fixed-only event its vPMU has no fixed counter for: it is never scheduled.
  if (runningNs === 0 && FIXED_ONLY_EVENTS.has(name)) return { name, count: 0, timeEnabledNs: 0, timeRunningNs: 0, supported: false };
  const raw = enabledNs === 0 ? 0 : Math.round((Math.max(0, r.count) * runningNs) / enabledNs);
  return { name, count: BigInt(raw), timeEnabledNs: enabledNs, timeRunningNs: runningNs, supported: true };
}

export function buildStatRun(scenario: Scenario, vm: VmSpec, spec: GuestPerfSpec, readings: readonly GuestPerfEvent[]): PerfStatRun {
  const names = [...new Set(spec.events)];
  const counters = names.map((name) => counterOf(name, vm, readings.find((r) => r.event === name)));
  const insn = counters.find((c) => c.name === 'instructions');
  const cycles = counters.find((c) => c.name === 'cycles');
  if (insn?.supported && cycles?.supported && cycles.timeRunningNs !== 0 && insn.timeRunningNs !== 0) {
    // perf's shadow metric on the instructions line: scaled instructions / scaled cycles.
    const scaled = (c: PerfStatCounter): number => (Number(c.count) * Number(c.timeEnabledNs)) / Number(c.timeRunningNs);
    const cyc = scaled(cycles);
    if (cyc > 0) insn.metric = { value: scaled(insn) / cyc, unit: 'insn per cycle', width: 7, decimals: 2 };
  }
  return {
    target: spec.allCpus ? { systemWide: true } : { command: [vm.workload.profile] },
    counters,
    elapsedNs: windowsLengthNs(sessionWindows(scenario, vm.id, spec)),
  };
}
