// Generated fleet worlds for the scale matrix: N identical hosts, each with 8 pCPUs and 4 VMs of
// 2 vCPUs pinned to their own pCPU pair, vPMU designs and workloads alternating
// (emulated/specint, passthrough/fio, ...), every VM counting instructions and cycles with guest
// `perf stat`, and one kworker noise thread per host. Written as scenario YAML text (a dozen lines
// of fleet templates) so the bench goes through the same parser, run id and recording as `vpmu run`.

export const PCPUS_PER_HOST = 8;
export const VMS_PER_HOST = 4;
export const VCPUS_PER_VM = 2;

export interface FleetShape {
  hosts: number;
  /** Virtual time to simulate, in ms. */
  durationMs: number;
  /** The scenario's trace level (full when absent). */
  trace?: 'full' | 'summary';
}

/** The number of simulated vCPUs in a fleet of this shape. */
export function fleetVcpus(shape: FleetShape): number {
  return shape.hosts * VMS_PER_HOST * VCPUS_PER_VM;
}

export function fleetScenarioYaml(shape: FleetShape): string {
  // Fleet templates (docs/scenario.md): the same world as one entry per host and per VM,
  // whatever the number of hosts.
  return [
    'version: 1',
    `name: fleet-${shape.hosts}h`,
    'seed: 42',
    `duration: ${shape.durationMs}ms`,
    'epoch: 1ms',
    ...(shape.trace === 'summary' ? ['trace: summary'] : []),
    '',
    'hosts:',
    '  - id: "h{i}"',
    `    count: ${shape.hosts}`,
    '    cpu: intel-spr',
    `    pcpus: ${PCPUS_PER_HOST}`,
    '    noise:',
    '      - { id: kworker, cpus: all, period: 5ms, runtime: 200us }',
    '',
    'vms:',
    '  - id: "{host}-vm{j}"',
    `    placement: { perHost: ${VMS_PER_HOST}, pinning: disjoint }`,
    `    vcpus: ${VCPUS_PER_VM}`,
    '    cycle:',
    '      vpmu.mode: [emulated, passthrough]',
    '      workload: [specint, fio]',
    '    guestPerf:',
    '      - { id: stat, command: stat, events: [instructions, cycles] }',
    '',
  ].join('\n');
}
