// `vpmu validate` on fleet templates: it prints the size of the expanded world, and a bad
// template is exit 2 with the file, line and path of the template.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasStackTrace, vpmu } from '../support/cli';
import { tempDir } from '../support/run-scenario';

const dir = tempDir('validate-fleet');
const write = (name: string, content: string): string => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
};

const FLEET = `version: 1
name: fleet-16
duration: 2ms
hosts:
  - id: "h{i:02}"
    count: 16
    cpu: intel-spr
    pcpus: 8
vms:
  - id: "{host}-vm{j}"
    placement: { perHost: 4, pinning: disjoint }
    vcpus: 2
    cycle: { vpmu.mode: [emulated, passthrough] }
`;

describe('vpmu validate with fleet templates', () => {
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints the expanded size: hosts, VMs and vCPUs', () => {
    const r = vpmu(['validate', write('fleet.yaml', FLEET)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/valid scenario "fleet-16" \(16 hosts, 64 VMs, 128 vCPUs, 0 timeline actions, seed 1\)/);
    const j = vpmu(['validate', write('fleet-json.yaml', FLEET), '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({ valid: true, hosts: 16, vms: 64, vcpus: 128 });
  });

  it('refuses a placement that cannot hold the VMs: exit 2, file, line and path', () => {
    const file = write('too-many.yaml', FLEET.replace('placement: { perHost: 4,', 'count: 80\n    placement: { perHost: 4,'));
    const r = vpmu(['validate', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:12: vms[0].placement.perHost: placement impossible: 80 VMs do not fit on 16 hosts x 4 per host (64)`);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it('refuses a bad id pattern and a zero count: exit 2, each with its line', () => {
    const file = write('bad.yaml', FLEET.replace('"h{i:02}"', '"h{n}"').replace('count: 16', 'count: 0'));
    const r = vpmu(['validate', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:5: hosts[0].id: unknown placeholder {n} in id pattern "h{n}" (use {i})`);
    expect(r.stderr).toContain(`${file}:6: hosts[0].count: must be at least 1, got 0`);
  });
});
