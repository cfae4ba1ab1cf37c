// Every ready-to-run scenario in scenarios/ must parse: a broken starting point is the worst
// first impression. (Test code may read files; the library itself does not.)
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { formatScenarioErrors } from './scenario.errors';
import { parseScenario } from './scenario.parser';

const dir = join(__dirname, '..', '..', '..', 'scenarios');
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();

describe('scenarios/', () => {
  it('has quickstart.yaml', () => {
    expect(files).toContain('quickstart.yaml');
  });

  it.each(files)('%s parses without errors', (file) => {
    const r = parseScenario(readFileSync(join(dir, file), 'utf8'));
    if (!r.ok) throw new Error(`scenarios/${file} is invalid:\n${formatScenarioErrors(r.errors, `scenarios/${file}`)}`);
    expect(r.scenario.hosts.length).toBeGreaterThan(0);
  });

  it('quickstart.yaml is the small, fast run npm start promises', () => {
    const r = parseScenario(readFileSync(join(dir, 'quickstart.yaml'), 'utf8'));
    if (!r.ok) throw new Error(formatScenarioErrors(r.errors));
    const s = r.scenario;
    expect(r.warnings).toEqual([]);
    expect(s.seed).toBe(42);
    expect(s.durationNs).toBe(200_000_000);
    expect(s.hosts).toHaveLength(1);
    expect(s.hosts[0]).toMatchObject({ cpu: 'intel-spr', pcpus: 4 });
    expect(s.hosts[0].noise).toHaveLength(1);
    // Like for like: the same workload on both VMs, so the table compares the vPMU designs.
    expect(s.vms.map((v) => [v.vcpus, v.vpmu.mode, v.workload.profile])).toEqual([
      [2, 'emulated', 'specint'],
      [2, 'passthrough', 'specint'],
    ]);
    for (const vm of s.vms) {
      expect(vm.guestPerf).toEqual([expect.objectContaining({ command: 'stat', events: ['instructions', 'cycles'] })]);
    }
  });
});

describe('docs/scenario.md', () => {
  const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'scenario.md'), 'utf8');
  const blocks = [...doc.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], body: m[2] }));

  it('the full example parses', () => {
    const full = doc.slice(doc.indexOf('## A full example'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(full)?.[1] ?? '';
    const r = parseScenario(yaml);
    if (!r.ok) throw new Error(formatScenarioErrors(r.errors, 'docs/scenario.md (full example)'));
    expect(r.warnings).toEqual([]);
  });

  it('the fleet template example expands to 64 hosts and 256 VMs of 2 vCPUs', () => {
    const i = blocks.findIndex((b) => b.body.startsWith('version: 1\nname: fleet-64\n'));
    expect(i).toBeGreaterThanOrEqual(0);
    const r = parseScenario(blocks[i].body);
    if (!r.ok) throw new Error(formatScenarioErrors(r.errors, 'docs/scenario.md (fleet templates)'));
    expect(r.warnings).toEqual([]);
    const s = r.scenario;
    expect([s.hosts.length, s.vms.length, s.vms.reduce((n, v) => n + v.vcpus, 0)]).toEqual([64, 256, 512]);
    expect([s.hosts[0].id, s.hosts[63].id, s.vms[0].id, s.vms[255].id]).toEqual(['h01', 'h64', 'h01-vm1', 'h64-vm4']);
    expect(s.vms.slice(0, 4).map((v) => [v.vpmu.mode, v.workload.profile, v.affinity[0]])).toEqual([
      ['emulated', 'specint', [0, 1]],
      ['passthrough', 'fio', [2, 3]],
      ['emulated', 'specint', [4, 5]],
      ['passthrough', 'fio', [6, 7]],
    ]);
  });

  it('the error example prints exactly what the docs show', () => {
    const i = blocks.findIndex((b) => b.body.startsWith('version: 1\nname: bad\n'));
    expect(i).toBeGreaterThanOrEqual(0);
    const r = parseScenario(blocks[i].body);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      // The docs show what `vpmu validate /tmp/bad.yaml` prints: a header line, then each error indented.
      const [header, ...shown] = blocks[i + 1].body.split('\n');
      expect(header).toBe(`error: /tmp/bad.yaml is not a valid scenario (${r.errors.length} errors); fix them and try again:`);
      expect(shown.map((l) => l.replace(/^ {2}/, '')).join('\n')).toBe(formatScenarioErrors(r.errors, '/tmp/bad.yaml') + '\n');
    }
  });
});
