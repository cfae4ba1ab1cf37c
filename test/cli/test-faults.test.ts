// Test-only faults (libs/host/src/fault-injector.ts TEST_ONLY_FAULT_KINDS) imitate KVM defects to
// prove the isolation checks fire; their findings look like real ones. `run` refuses them without
// --allow-test-faults, `validate` says the scenario needs it, and summary.json and report.html list
// every injected fault beside the findings it causes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasStackTrace, vpmu } from '../support/cli';
import { tempDir } from '../support/run-scenario';

jest.setTimeout(120_000);

// test-leak-host-counter on a passthrough VM that programs one counter: its unused ones leak (counter-leak).
const SCENARIO = `version: 1
name: leaky
seed: 3
duration: 6ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 1
    perf:
      - { id: hp, events: [instructions, branches, cycles, branch-misses], excludeGuest: true, cpus: [0] }
vms:
  - id: vm1
    host: h1
    vcpus: 1
    vpmu: { mode: passthrough }
    workload: specint
    program:
      - wrmsr: { msr: 0x186, value: 0x4300c0 }
timeline:
  - at: 2ms
    fault: { kind: test-leak-host-counter, target: vm1 }
  - at: 1ms
    fault: { kind: drop-pmi, target: vm1, duration: 1ms }
`;

let dir: string;
let file: string;
beforeAll(() => {
  dir = tempDir('test-faults');
  file = path.join(dir, 'leaky.yaml');
  fs.writeFileSync(file, SCENARIO);
});

it('validate accepts the scenario and says run needs --allow-test-faults (text and JSON)', () => {
  const r = vpmu(['validate', file]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('note: it injects the test-only fault test-leak-host-counter on vm1 at 2ms: "vpmu run" needs --allow-test-faults for it.');
  const j = vpmu(['validate', file, '--json']);
  expect(JSON.parse(j.stdout).testOnlyFaults).toEqual(['test-leak-host-counter on vm1 at 2ms']);
});

it('run refuses it without --allow-test-faults: exit 2, one sentence, nothing written', () => {
  const out = path.join(dir, 'refused');
  const r = vpmu(['run', file, '--out', out, '--quiet']);
  expect(r.code).toBe(2);
  expect(r.stderr.trim()).toBe('error: the scenario injects the test-only fault test-leak-host-counter on vm1 at 2ms, which imitate KVM defects to test the checks; pass --allow-test-faults to run it anyway.');
  expect(hasStackTrace(r.stderr)).toBe(false);
  expect(fs.existsSync(out)).toBe(false);
});

it('run --allow-test-faults runs it; summary.json and report.html list every injected fault beside the findings it caused', () => {
  const out = path.join(dir, 'allowed');
  const r = vpmu(['run', file, '--out', out, '--quiet', '--allow-test-faults']);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  const leaks = summary.findings.filter((f: { kind: string }) => f.kind === 'counter-leak').reduce((n: number, f: { count: number }) => n + f.count, 0);
  expect(leaks).toBeGreaterThan(0);
  expect(summary.injectedFaults).toEqual([
    { kind: 'drop-pmi', target: 'vm1', atNs: 1_000_000, durationNs: 1_000_000, testOnly: false, findingKinds: ['pmi-lost'], findings: expect.any(Number) },
    { kind: 'test-leak-host-counter', target: 'vm1', atNs: 2_000_000, durationNs: 0, testOnly: true, findingKinds: ['counter-leak'], findings: leaks },
  ]);
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  expect(html).toContain('<h3>Injected faults</h3>');
  expect(html).toMatch(/<span class="kind">test-leak-host-counter<\/span> <span class="warn small">test-only<\/span>/);
  expect(html).toContain(`counter-leak: ${leaks.toLocaleString('en-US')} finding`);
});
