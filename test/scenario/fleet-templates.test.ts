// Fleet templates run the world they stand for: the bench's templated fleet (bench/fleet-scenario.ts)
// and the same fleet written out host by host and VM by VM (as the bench wrote it before it used
// templates) simulate exactly the same events: same normalized scenario, same content digest.
import * as fs from 'node:fs';
import { fleetScenarioYaml } from '../../bench/fleet-scenario';
import { loadScenarioText, runScenarioText } from '../support/run-scenario';

/** Two hosts of 8 pCPUs, 4 VMs of 2 vCPUs each, every field written out. */
function explicitFleetYaml(hosts: number, durationMs: number): string {
  const lines = ['version: 1', `name: fleet-${hosts}h`, 'seed: 42', `duration: ${durationMs}ms`, 'epoch: 1ms', '', 'hosts:'];
  for (let h = 1; h <= hosts; h++) {
    lines.push(`  - id: h${h}`, '    cpu: intel-spr', '    pcpus: 8', '    noise:', '      - id: kworker', '        cpus: all', '        period: 5ms', '        runtime: 200us');
  }
  lines.push('', 'vms:');
  for (let h = 1; h <= hosts; h++) {
    for (let v = 0; v < 4; v++) {
      const emulated = v % 2 === 0;
      lines.push(
        `  - id: h${h}-vm${v + 1}`,
        `    host: h${h}`,
        '    vcpus: 2',
        `    affinity: [${2 * v}, ${2 * v + 1}]`,
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

describe('fleet templates: a templated world runs exactly as the world written out', () => {
  it.each([1, 4, 16, 64])('bench fleet of %i hosts: the same normalized scenario as written out', (hosts) => {
    expect(loadScenarioText(fleetScenarioYaml({ hosts, durationMs: 5 }))).toEqual(loadScenarioText(explicitFleetYaml(hosts, 5)));
  });

  it('bench fleet of 2 hosts: same normalized scenario and same content digest', async () => {
    const templated = fleetScenarioYaml({ hosts: 2, durationMs: 5 });
    const explicit = explicitFleetYaml(2, 5);
    expect(loadScenarioText(templated)).toEqual(loadScenarioText(explicit));
    const a = await runScenarioText(templated);
    const b = await runScenarioText(explicit);
    try {
      expect(a.summary.events.total).toBeGreaterThan(0);
      expect(a.summary.contentDigest).toBe(b.summary.contentDigest);
    } finally {
      fs.rmSync(a.outDir, { recursive: true, force: true });
      fs.rmSync(b.outDir, { recursive: true, force: true });
    }
  }, 120_000);
});
