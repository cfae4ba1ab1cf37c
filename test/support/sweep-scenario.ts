// The tiny world the sweep tests vary: one 1-vCPU passthrough VM on SPECint recording
// instructions, on a 2-pCPU host, for a few milliseconds, so each of a sweep's runs is short.

export interface TinySweepWorld {
  name: string;
  seed: number;
  duration: string;
  sampleFreqHz: number;
  /** A host noise entry (YAML flow mapping), e.g. a kworker. */
  noise?: string;
}

export function tinySweepScenario(w: TinySweepWorld): string {
  return `version: 1
name: ${w.name}
seed: ${w.seed}
duration: ${w.duration}
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
${w.noise ? `    noise: [${w.noise}]\n` : ''}vms:
  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: passthrough }
    workload: specint
    guestPerf:
      - id: rec
        command: record
        events: [instructions]
        sample: { freq: ${w.sampleFreqHz} }
`;
}
