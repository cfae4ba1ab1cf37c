// The selftest tier's one scenario shape: one host, one VM, no workload, a guest program. Each
// test translates checks of an upstream KVM selftest (tools/testing/selftests/kvm) or of
// kvm-unit-tests into program steps; the expectations come from those sources, never from the
// tool's output (test/selftests/README.md lists what the format cannot express).
import { runScenarioText } from '../support/run-scenario';

export interface SelftestVm {
  name: string;
  cpu?: string;
  vpmu: string;
  program: string[];
}

export async function runSelftest(o: SelftestVm) {
  const text = `version: 1
name: ${o.name}
seed: 1
duration: 2ms
hosts:
  - id: h1
    cpu: ${o.cpu ?? 'intel-spr'}
    pcpus: 2
vms:
  - id: vm1
    host: h1
    vcpus: 1
    vpmu: ${o.vpmu}
    workload: idle
    program:
${o.program.map((s) => `      - ${s}`).join('\n')}
`;
  const run = await runScenarioText(text);
  return run.summary.vms.vm1.program;
}
