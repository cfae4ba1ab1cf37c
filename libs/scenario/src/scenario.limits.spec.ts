// The physical bounds of scenario.limits.ts (docs/scenario.md "Limits"): each refused with its
// path and reason at parse time, the value at the bound accepted; reserved keys and nesting depth.

import { parseScenario } from './scenario.parser';
import { MAX_NESTING_DEPTH } from './yaml-node.reader';
import { base, errors, expectError, host, MINIMAL, ok, okWithWarnings, withVm } from './testing/parse-scenario.fixture';

const overrides = (o: Record<string, unknown>) => withVm({ workload: { profile: 'specint', overrides: o } });
const fault = (f: Record<string, unknown>) => withVm({}, { timeline: [{ at: '1ms', fault: { target: 'vm1', ...f } }] });

describe('scenario limits: workload overrides within physical range', () => {
  it.each([
    ['ipc', 100, 'must be at most 8 (no shipping core retires more than 8 instructions per cycle)'],
    ['cpuGhz', 200, 'must be at most 10 (real cores run between 0.1 and about 9 GHz)'],
    ['cpuGhz', 0, 'must be at least 0.1'],
    ['refGhz', 0.01, 'must be at least 0.1'],
    ['llcRefsPerKiloInstr', 5000, 'must be at most 1000'],
    ['ioExitsPerSec', 1e9, 'must be at most 10000000'],
    ['hltExitsPerSec', 1e8, 'must be at most 10000000'],
    ['dirtyRate', '10TB/s', 'must be at most'],
    ['guestTimeslice', '1ns', 'must be at least 1us'],
  ])('%s: %j is refused', (key, value, message) => {
    expectError(overrides({ [key]: value }), `vms[0].workload.overrides.${key}`, message);
  });

  it('accepts the bounds themselves', () => {
    const w = ok(overrides({ ipc: 8, cpuGhz: 10, refGhz: 0.1, guestTimeslice: '1us' })).vms[0].workload.overrides;
    expect(w).toEqual({ ipc: 8, cpuGhz: 10, refGhz: 0.1, guestTimesliceNs: 1000 });
  });
});

describe('scenario limits: floors on tiny periods', () => {
  it('host timeslice at least 1us', () => {
    expectError(base({ hosts: [host({ timeslice: '1ns' })] }), 'hosts[0].timeslice', 'must be at least 1us (a context switch');
    expect(ok(base({ hosts: [host({ timeslice: '1us' })] })).hosts[0].timesliceNs).toBe(1000);
  });

  it('noise period at least 50us (timer slack)', () => {
    const noise = (period: string) => base({ hosts: [host({ noise: [{ period, runtime: '1ns' }] })] });
    expectError(noise('1ns'), 'hosts[0].noise[0].period', 'must be at least 50us (a sleeping task gets 50us of timer slack');
    expect(ok(noise('50us')).hosts[0].noise[0].periodNs).toBe(50_000);
  });
});

describe('scenario limits: paravirt event limit', () => {
  it('pvEventLimit at most 1024, the design\'s own KVM_MAX_PARAVIRT_PERF_EVENT', () => {
    expectError(withVm({ vpmu: { mode: 'paravirt', pvEventLimit: 1025 } }), 'vms[0].vpmu.pvEventLimit', 'must be at most 1024 (KVM_MAX_PARAVIRT_PERF_EVENT');
    expect(ok(withVm({ vpmu: { mode: 'paravirt', pvEventLimit: 1024 } })).vms[0].vpmu.pvEventLimit).toBe(1024);
    expect(ok(withVm({ vpmu: { mode: 'paravirt', pvEventLimit: 8 } })).vms[0].vpmu.pvEventLimit).toBe(8);
  });
});

describe('scenario limits: fault parameters checked against the fault injector', () => {
  it('refuses a fractional event count, a probability above 1 and a bad duration', () => {
    expectError(fault({ kind: 'pmi-overcount', params: { events: 1.5 } }), 'timeline[0].fault.params.events', 'expected a whole number, got 1.5');
    expectError(fault({ kind: 'drop-pmi', params: { probability: 2 } }), 'timeline[0].fault.params.probability', 'must be at most 1');
    expectError(fault({ kind: 'late-pmi', params: { delayNs: 'soon' } }), 'timeline[0].fault.params.delayNs', '');
    expectError(fault({ kind: 'counter-stuck-zero', params: { event: 'cycels' } }), 'timeline[0].fault.params.event', 'did you mean "cycles"');
  });

  it('accepts good values, and keeps them as the strings the injector reads', () => {
    const s = ok(fault({ kind: 'pmi-skid', params: { meanNs: '1us', maxNs: 5000, probability: 0.5 } }));
    expect(s.timeline[0].action).toMatchObject({ fault: 'pmi-skid', params: { meanNs: '1us', maxNs: '5000', probability: '0.5' } });
  });

  it('warns (the run refuses with EINVAL) about an unknown kind or parameter', () => {
    expect(okWithWarnings(fault({ kind: 'pmi-skidd' })).warnings).toEqual([expect.stringMatching(/^timeline\[0\]\.fault\.kind: unknown fault kind "pmi-skidd" \(did you mean "pmi-skid"\?\)/)]);
    expect(okWithWarnings(fault({ kind: 'pmi-skid', params: { mean: 1 } })).warnings).toEqual([
      expect.stringMatching(/^timeline\[0\]\.fault\.params\.mean: fault pmi-skid has no parameter "mean" \(did you mean "meanNs"\?\)/),
    ]);
    expect(okWithWarnings(fault({ kind: 'test-migration-drop-state', params: { drop: 'counters,stack' } })).warnings).toEqual([
      expect.stringMatching(/^timeline\[0\]\.fault\.params\.drop: drop takes a comma list of counters, pmis, period; got "stack"; the run refuses/),
    ]);
  });
});

describe('scenario limits: reserved keys', () => {
  it.each(['__proto__', 'constructor', 'prototype'])('refuses %s as a key anywhere, with its path and line', (key) => {
    const inParams = `${MINIMAL}vms:\n  - id: vm1\n    host: h1\ntimeline:\n  - at: 1ms\n    fault:\n      kind: pmi-skid\n      target: vm1\n      params:\n        ${key}: 1\n`;
    expect(expectError(inParams, `timeline[0].fault.params.${key}`, `"${key}" is a reserved name`).line).toBe(16);
    expectError(`${MINIMAL}costs:\n  ${key}: 1\n`, `costs.${key}`, 'reserved name');
    expectError(`${MINIMAL}${key}: 1\n`, key, 'reserved name');
    expectError(MINIMAL.replace('pcpus: 4', `pcpus: 4\n    ${key}: {}`), `hosts[0].${key}`, 'reserved name');
  });

  it('does not let __proto__ replace the prototype of fault params', () => {
    const r = parseScenario(`${MINIMAL}vms:\n  - id: vm1\n    host: h1\ntimeline:\n  - at: 1ms\n    fault: { kind: pmi-skid, target: vm1, params: { __proto__: { probability: 0 } } }\n`);
    expect(r.ok).toBe(false);
  });
});

describe('scenario limits: nesting depth', () => {
  const nested = (depth: number) => `${MINIMAL}x-deep: ${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}\n`;

  it(`accepts ${MAX_NESTING_DEPTH} levels and refuses one more, with the line`, () => {
    expect(ok(nested(MAX_NESTING_DEPTH)).name).toBe('unnamed');
    const errs = errors(nested(MAX_NESTING_DEPTH + 1));
    expect(errs).toEqual([{ path: '', line: 7, message: expect.stringContaining(`nested more than ${MAX_NESTING_DEPTH} levels deep`) }]);
  });

  it.each([
    ['flow lists', (n: number) => `${MINIMAL}x-deep: ${'['.repeat(n)}${']'.repeat(n)}\n`],
    ['block lists', (n: number) => `${MINIMAL}x-deep:\n  ${'- '.repeat(n)}x\n`],
    ['block mappings', (n: number) => `${MINIMAL}x-deep:\n${Array.from({ length: n }, (_, i) => `${' '.repeat(i + 1)}k:\n`).join('')}${' '.repeat(n + 1)}v\n`],
  ])('refuses %s 5000+ deep as nesting, not a stack overflow', (_, make) => {
    const errs = errors(make(6000));
    expect(errs).toHaveLength(1);
    expect(errs[0].message).toMatch(/nested more than 64 levels deep/);
    expect(errs[0].message).not.toMatch(/call stack/);
  });
});
