// Generated fleet worlds for the scale matrix: N identical hosts, each with 8 pCPUs and 4 VMs of
// 2 vCPUs pinned to their own pCPU pair, vPMU designs and workloads alternating
// (emulated/specint, passthrough/fio, ...), every VM counting instructions and cycles with guest
// `perf stat`, and one kworker noise thread per host. Written as scenario YAML text so the bench
// goes through the same parser, run id and recording as `vpmu run`.

export const PCPUS_PER_HOST = 8;
export const VMS_PER_HOST = 4;
export const VCPUS_PER_VM = 2;

export interface FleetShape {
  hosts: number;
  /** Virtual time to simulate, in ms. */
  durationMs: number;
}

/** The number of simulated vCPUs in a fleet of this shape. */
export function fleetVcpus(shape: FleetShape): number {
  return shape.hosts * VMS_PER_HOST * VCPUS_PER_VM;
}

export function fleetScenarioYaml(shape: FleetShape): string {
  const lines: string[] = [
    'version: 1',
    `name: fleet-${shape.hosts}h`,
    'seed: 42',
    `duration: ${shape.durationMs}ms`,
    'epoch: 1ms',
    '',
    'hosts:',
  ];
  for (let h = 0; h < shape.hosts; h++) {
    lines.push(
      `  - id: h${h + 1}`,
      '    cpu: intel-spr',
      `    pcpus: ${PCPUS_PER_HOST}`,
      '    noise:',
      '      - id: kworker',
      '        cpus: all',
      '        period: 5ms',
      '        runtime: 200us',
    );
  }
  lines.push('', 'vms:');
  for (let h = 0; h < shape.hosts; h++) {
    for (let v = 0; v < VMS_PER_HOST; v++) {
      const emulated = v % 2 === 0;
      const firstPcpu = v * VCPUS_PER_VM;
      const affinity = Array.from({ length: VCPUS_PER_VM }, (_, i) => firstPcpu + i);
      lines.push(
        `  - id: h${h + 1}-vm${v + 1}`,
        `    host: h${h + 1}`,
        `    vcpus: ${VCPUS_PER_VM}`,
        `    affinity: [${affinity.join(', ')}]`,
        '    vpmu:',
        `      mode: ${emulated ? 'emulated' : 'passthrough'}`,
        '    workload:',
        `      profile: ${emulated ? 'specint' : 'fio'}`,
        '    guestPerf:',
        '      - id: stat',
        '        command: stat',
        '        events: [instructions, cycles]',
      );
    }
  }
  return lines.join('\n') + '\n';
}
