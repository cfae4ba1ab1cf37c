// Fleet templates (`count`, id patterns, placement, cycle): what they expand to, that the
// expansion is the world written out by hand, that it is deterministic, and the error (with path
// and line) of every kind of bad template.

import fc from 'fast-check';

import { errors, expectError, ok } from './testing/parse-scenario.fixture';

const FLEET = `version: 1
name: fleet
duration: 5ms
hosts:
  - id: "h{i}"
    count: 3
    cpu: intel-spr
    pcpus: 8
    noise:
      - { id: kworker, period: 5ms, runtime: 200us }
vms:
  - id: "{host}-vm{j}"
    placement: { perHost: 4, pinning: disjoint }
    vcpus: 2
    cycle:
      vpmu.mode: [emulated, passthrough]
      workload: [specint, fio]
    guestPerf:
      - { id: stat, command: stat, events: [instructions, cycles] }
`;

/** The same world as FLEET, written out entry by entry. */
function explicitFleet(hosts: number): string {
  const lines = ['version: 1', 'name: fleet', 'duration: 5ms', 'hosts:'];
  for (let h = 1; h <= hosts; h++) {
    lines.push(`  - id: h${h}`, '    cpu: intel-spr', '    pcpus: 8', '    noise:', '      - { id: kworker, period: 5ms, runtime: 200us }');
  }
  lines.push('vms:');
  for (let h = 1; h <= hosts; h++) {
    for (let v = 1; v <= 4; v++) {
      const emulated = v % 2 === 1;
      lines.push(
        `  - id: h${h}-vm${v}`,
        `    host: h${h}`,
        '    vcpus: 2',
        `    affinity: [${(v - 1) * 2}, ${(v - 1) * 2 + 1}]`,
        `    vpmu: { mode: ${emulated ? 'emulated' : 'passthrough'} }`,
        `    workload: ${emulated ? 'specint' : 'fio'}`,
        '    guestPerf:',
        '      - { id: stat, command: stat, events: [instructions, cycles] }',
      );
    }
  }
  return lines.join('\n') + '\n';
}

describe('fleet templates: expansion', () => {
  it('expands hosts and VMs into the same normalized world as the entries written out', () => {
    const s = ok(FLEET);
    expect(s.hosts.map((h) => h.id)).toEqual(['h1', 'h2', 'h3']);
    expect(s.vms.map((v) => v.id)).toEqual(['h1-vm1', 'h1-vm2', 'h1-vm3', 'h1-vm4', 'h2-vm1', 'h2-vm2', 'h2-vm3', 'h2-vm4', 'h3-vm1', 'h3-vm2', 'h3-vm3', 'h3-vm4']);
    expect(s).toEqual(ok(explicitFleet(3)));
  });

  it('mixes templated and explicit entries, in list order', () => {
    const s = ok(`version: 1
duration: 5ms
hosts:
  - { id: edge, cpu: intel-icx, pcpus: 4 }
  - { id: "n{i:02}", count: 2, firstIndex: 0, cpu: intel-spr, pcpus: 4 }
vms:
  - { id: pinned, host: edge }
  - { id: "w{i:3}", count: 3, placement: { hosts: "n*", order: spread } }
  - { id: "e{i}", count: 2, host: edge }
`);
    expect(s.hosts.map((h) => h.id)).toEqual(['edge', 'n00', 'n01']);
    expect(s.vms.map((v) => `${v.id}@${v.host}`)).toEqual(['pinned@edge', 'w001@n00', 'w002@n01', 'w003@n00', 'e1@edge', 'e2@edge']);
  });

  it('a null item in a cycle list leaves the field at its default for that copy', () => {
    const s = ok(`version: 1
duration: 5ms
hosts: [{ id: h1, cpu: intel-spr, pcpus: 4 }]
vms:
  - id: "vm{i}"
    count: 2
    host: h1
    vpmu: { mode: passthrough }
    cycle: { vpmu.lbr: [lazy, ~] }
`);
    expect(s.vms.map((v) => [v.vpmu.mode, v.vpmu.lbr])).toEqual([
      ['passthrough', 'lazy'],
      ['passthrough', 'none'],
    ]);
  });

  it('counts the aliases of a template once, not once per copy', () => {
    const s = ok(`version: 1
duration: 5ms
x-stat: &stat { id: stat, events: [instructions] }
x-rec: &rec { id: rec, command: record, events: [cycles] }
hosts: [{ id: "h{i}", count: 150, cpu: intel-spr, pcpus: 8 }]
vms:
  - id: "v{i}"
    placement: { perHost: 4 }
    guestPerf: [*stat, *rec]
`);
    expect(s.vms).toHaveLength(600); // 1200 alias hops if each copy counted them
    expect(s.vms[599].guestPerf.map((g) => g.id)).toEqual(['stat', 'rec']);
  });

  it('is deterministic: any shape parses to the same world twice, with unique ids and every VM placed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom('fill', 'spread'),
        fc.boolean(),
        (hosts, perHost, order, withCount) => {
          const count = withCount ? Math.max(1, hosts * perHost - 1) : undefined;
          const text = `version: 1
duration: 1ms
hosts: [{ id: "h{i}", count: ${hosts}, cpu: intel-spr, pcpus: 8 }]
vms:
  - id: "v{i}"
    ${count === undefined ? '' : `count: ${count}`}
    vcpus: 2
    placement: { perHost: ${perHost}, order: ${order}, pinning: disjoint }
    cycle: { vpmu.mode: [emulated, passthrough, paravirt] }
`;
          const a = ok(text);
          expect(ok(text)).toEqual(a);
          expect(a.vms).toHaveLength(count ?? hosts * perHost);
          expect(new Set(a.vms.map((v) => v.id)).size).toBe(a.vms.length);
          for (const h of a.hosts) {
            const on = a.vms.filter((v) => v.host === h.id);
            expect(on.length).toBeLessThanOrEqual(perHost);
            // Disjoint pinning: no two VMs of a host share a pCPU.
            const pcpus = on.flatMap((v) => v.affinity[0]);
            expect(new Set(pcpus).size).toBe(pcpus.length);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('fleet templates: bad templates get an error with path and line', () => {
  const hostTemplate = (extra: string): string => `version: 1
duration: 5ms
hosts:
  - id: "h{i}"
    cpu: intel-spr
    pcpus: 4
${extra}`;

  it.each([
    ['count: 0', 'must be at least 1'],
    ['count: -3', 'must be at least 1'],
    ['count: 1000000', 'must be at most 10000'],
    ['count: lots', 'expected a whole number'],
  ])('refuses %s', (count, fragment) => {
    const e = expectError(hostTemplate(`    ${count}\n`), 'hosts[0].count', fragment);
    expect(e.line).toBe(7);
  });

  it('refuses an unknown placeholder and a stray brace in the id pattern', () => {
    expect(expectError(hostTemplate('    count: 2\n').replace('h{i}', 'h{n}'), 'hosts[0].id', 'unknown placeholder {n}').line).toBe(4);
    expectError(hostTemplate('    count: 2\n').replace('h{i}', 'h{i}}'), 'hosts[0].id', 'a brace that is not a placeholder');
    expectError(hostTemplate('    count: 2\n').replace('h{i}', 'h{i:0}'), 'hosts[0].id', 'width must be 1..16');
  });

  it('refuses a pattern that makes one id twice, or an id that is not valid', () => {
    expectError(hostTemplate('    count: 2\n').replace('h{i}', 'h'), 'hosts[0].id', 'the same id "h" for copies 1 and 2');
    expectError(hostTemplate('    count: 2\n').replace('h{i}', 'h {i}'), 'hosts[0].id', 'makes "h 1" for copy 1, which is not a valid id');
  });

  it('names both definitions when a generated id is already taken', () => {
    const text = `version: 1
duration: 5ms
hosts:
  - { id: h2, cpu: intel-spr, pcpus: 4 }
  - id: "h{i}"
    count: 3
    cpu: intel-spr
    pcpus: 4
`;
    const e = expectError(text, 'hosts[1].id', 'duplicate id "h2" (already used by hosts[0]');
    expect(e.line).toBe(5);
  });

  it('reports a problem of the template once, not once per copy', () => {
    const errs = errors(hostTemplate('    count: 50\n').replace('intel-spr', 'intel-sprr'));
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ path: 'hosts[0].cpu', line: 5 });
  });

  it('keeps the error of a cycled value even when another field of the template has one too', () => {
    const errs = errors(`version: 1
duration: 5ms
hosts: [{ id: h1, cpu: intel-spr, pcpus: 4 }]
vms:
  - id: "v{i}"
    count: 4
    host: h1
    memory: lots
    cycle:
      vpmu.mode:
        - emulated
        - passthru
`);
    expect(errs.map((e) => [e.path, e.line])).toEqual([
      ['vms[0].memory', 8],
      ['vms[0].vpmu.mode', 12],
    ]);
  });

  const vmTemplate = (vm: string): string => `version: 1
duration: 5ms
hosts:
  - { id: "h{i}", count: 2, cpu: intel-spr, pcpus: 4 }
vms:
  - id: "v{i}"
${vm}`;

  it('refuses a placement that cannot hold the VMs', () => {
    expect(expectError(vmTemplate('    count: 5\n    placement: { perHost: 2 }\n'), 'vms[0].placement.perHost', 'placement impossible: 5 VMs do not fit on 2 hosts x 2 per host (4)').line).toBe(8);
    expectError(vmTemplate('    vcpus: 2\n    placement: { perHost: 3, pinning: disjoint }\n'), 'vms[0].placement', 'placement impossible: pinning disjoint gives 3 VMs of 2 vCPUs on host h1 6 pCPUs of their own, and it has 4');
    expectError(vmTemplate('    count: 2\n    placement: { hosts: "x*" }\n'), 'vms[0].placement.hosts', '"x*" matches no host');
    expectError(vmTemplate('    placement: { order: spread }\n'), 'vms[0].count', 'required');
    expectError(vmTemplate('    count: 2\n'), 'vms[0].placement', 'needs placement');
    expectError(vmTemplate('    count: 2\n    host: h1\n    placement: { perHost: 2 }\n'), 'vms[0].placement', 'either host');
  });

  it('refuses a cycle over a field the entry does not have, or over the id', () => {
    expectError(vmTemplate('    count: 2\n    host: h1\n    cycle: { vpmus.mode: [emulated] }\n'), 'vms[0].cycle.vpmus.mode', 'cannot cycle vpmus.mode');
    expectError(vmTemplate('    count: 2\n    host: h1\n    cycle: { id: [a, b] }\n'), 'vms[0].cycle.id', 'id comes from the id pattern');
    expectError(vmTemplate('    count: 2\n    host: h1\n    workload: fio\n    cycle: { workload.profile: [fio] }\n'), 'vms[0].cycle.workload.profile', "the template's workload is not a mapping");
    expectError(vmTemplate('    count: 2\n    host: h1\n    cycle: { vpmu.mode: [emulated, passthru] }\n'), 'vms[0].vpmu.mode', 'did you mean "passthrough"');
  });
});
