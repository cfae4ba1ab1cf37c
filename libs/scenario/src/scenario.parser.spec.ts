import { CPU_PRESET_NAMES } from '@vpmu/pmu';
import { stringify } from 'yaml';

import { formatScenarioErrors, ScenarioError } from './scenario.errors';
import { EVENT_NAMES } from './perf-session.parser';
import { SCENARIO_DEFAULTS } from './scenario.defaults';
import { parseScenario } from './scenario.parser';
import type { Scenario } from '@vpmu/world-spec';

// ---- helpers ---------------------------------------------------------------------------------------

type Obj = Record<string, unknown>;

const host = (extra: Obj = {}): Obj => ({ id: 'h1', cpu: 'intel-spr', pcpus: 4, ...extra });
const base = (extra: Obj = {}): Obj => ({ version: 1, duration: '10ms', hosts: [host()], ...extra });
const withVm = (vm: Obj, extra: Obj = {}): Obj => base({ vms: [{ id: 'vm1', host: 'h1', ...vm }], ...extra });

function ok(input: string | Obj): Scenario {
  const r = parseScenario(typeof input === 'string' ? input : stringify(input));
  if (!r.ok) throw new Error(`expected a valid scenario, got:\n${formatScenarioErrors(r.errors)}`);
  return r.scenario;
}

function okWithWarnings(input: string | Obj): { scenario: Scenario; warnings: string[] } {
  const r = parseScenario(typeof input === 'string' ? input : stringify(input));
  if (!r.ok) throw new Error(`expected a valid scenario, got:\n${formatScenarioErrors(r.errors)}`);
  return r;
}

function errors(input: string | Obj): ScenarioError[] {
  const r = parseScenario(typeof input === 'string' ? input : stringify(input));
  if (r.ok) throw new Error('expected errors, the scenario was accepted');
  return r.errors;
}

/** Asserts the scenario fails with (at least) an error at `path` whose message contains `fragment`. */
function expectError(input: string | Obj, path: string, fragment: string): ScenarioError {
  const errs = errors(input);
  const hit = errs.find((e) => e.path === path && e.message.includes(fragment));
  if (!hit) {
    throw new Error(`no error at ${JSON.stringify(path)} containing ${JSON.stringify(fragment)}; got:\n${formatScenarioErrors(errs)}`);
  }
  return hit;
}

const MINIMAL = `version: 1
duration: 10ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 4
`;

// ---- valid files and defaults -----------------------------------------------------------------------

describe('parseScenario: defaults', () => {
  it('fills every default of a minimal file', () => {
    expect(ok(MINIMAL)).toEqual<Scenario>({
      version: 1,
      name: 'unnamed',
      seed: 1,
      durationNs: 10_000_000,
      epochNs: 1_000_000,
      checkpointEveryEpochs: 50,
      sampleIntervalNs: 1_000_000,
      hosts: [
        {
          id: 'h1',
          cpu: 'intel-spr',
          pcpus: 4,
          vpmuModes: ['none', 'emulated', 'passthrough', 'paravirt'],
          nmiWatchdog: true,
          timesliceNs: 3_000_000,
          perf: [],
          noise: [],
        },
      ],
      vms: [],
      timeline: [],
      costs: {},
    });
  });

  it('fills every default of a VM', () => {
    const s = ok(withVm({}));
    expect(s.vms[0]).toEqual({
      id: 'vm1',
      host: 'h1',
      vcpus: 1,
      affinity: [[0, 1, 2, 3]],
      memoryBytes: 1024 ** 3,
      vpmu: {
        mode: 'emulated',
        interceptEventSelect: true,
        lbr: 'none',
        lazyLbrReleaseNs: 10_000_000,
        pvEventLimit: 1024,
        pmiVector: 'dedicated',
      },
      workload: { profile: 'specint', tasksPerVcpu: 2, overrides: {} },
      guestPerf: [],
      program: [],
    });
  });

  it('fills defaults of host perf sessions, noise threads and guest perf sessions', () => {
    const s = ok(
      base({
        hosts: [host({ perf: [{ id: 'p1', events: ['cycles'] }], noise: [{ period: '10ms', runtime: '1ms' }] })],
        vms: [{ id: 'vm1', host: 'h1', guestPerf: [{ id: 's', events: ['instructions'] }, { id: 'r', command: 'record', events: ['cycles'] }] }],
      }),
    );
    expect(s.hosts[0].perf[0]).toEqual({
      id: 'p1',
      events: ['cycles'],
      group: false,
      excludeGuest: false,
      excludeHost: false,
      excludeUser: false,
      excludeKernel: false,
      pinned: false,
      cpus: 'all',
      startNs: 0,
    });
    expect(s.hosts[0].noise[0]).toEqual({ id: 'noise0', cpus: 'all', periodNs: 10_000_000, runtimeNs: 1_000_000, lbr: false, priority: 'normal' });
    expect(s.vms[0].guestPerf[0]).toEqual({ id: 's', command: 'stat', events: ['instructions'], allCpus: false, callGraph: 'none', startNs: 0 });
    expect(s.vms[0].guestPerf[1].sample).toEqual({ freqHz: SCENARIO_DEFAULTS.guestRecordFreqHz });
  });

  it('fills defaults of timeline actions', () => {
    const s = ok(
      base({
        hosts: [host(), host({ id: 'h2' })],
        vms: [{ id: 'vm1', host: 'h1' }],
        timeline: [{ at: '5ms', migrate: { vm: 'vm1', to: 'h2' } }, { at: '6ms', fault: { kind: 'pmi-drop', target: 'vm1' } }],
      }),
    );
    expect(s.timeline).toEqual([
      { atNs: 5_000_000, action: { kind: 'migrate', vm: 'vm1', to: 'h2', bandwidthBytesPerSec: 1_250_000_000, maxDowntimeNs: 300_000_000 } },
      { atNs: 6_000_000, action: { kind: 'fault', fault: 'pmi-drop', target: 'vm1', durationNs: 0, params: {} } },
    ]);
  });

  it('treats a key with no value (null) as absent', () => {
    const s = ok(`${MINIMAL}vms:\ntimeline: ~\nname:\n`);
    expect(s.vms).toEqual([]);
    expect(s.timeline).toEqual([]);
    expect(s.name).toBe('unnamed');
  });

  it('reads a full scenario with every field set', () => {
    const s = ok(`
version: 1
name: full
seed: 7
duration: 1s
epoch: 500us
checkpointEvery: 10
sampleInterval: 2ms
hosts:
  - id: h1
    cpu: arm-a76-a55
    pcpus: 8
    pmu: { gpCounters: 6, fixedCounters: 0, counterWidth: 64, lbrDepth: 0, pmiSkid: 50ns }
    vpmuModes: [emulated, passthrough]
    nmiWatchdog: false
    timeslice: 4ms
    armPmuProbeOrder: [armv8_cortex_a55, armv8_cortex_a76]
    perf:
      - { id: p1, events: [cycles, instructions], group: true, excludeGuest: true, pinned: true, cpus: [0, 2], sample: { period: 100000 }, start: 10ms, stop: 20ms }
    noise:
      - { id: n1, cpus: [1], period: 10ms, runtime: 2ms, lbr: true, priority: high }
  - id: h2
    cpu: arm-a76-a55
    pcpus: 8
vms:
  - id: vm1
    host: h1
    vcpus: 2
    affinity: [[0, 1], [3, 2, 3]]
    memory: 512MiB
    vpmu:
      mode: passthrough
      interceptEventSelect: false
      filter: { action: deny, events: [{ event: 0xc0, umask: 0 }], fixedCounterBitmap: 0x1, masked: [{ event: 0x3c, mask: 0xff, match: 0x01, exclude: true }] }
      lbr: lazy
      lazyLbrRelease: 5ms
      armPmu: armv8_cortex_a76
      nrCounters: 4
      pvEventLimit: 16
      pmiVector: shared
    workload:
      profile: branchy
      tasksPerVcpu: 3
      overrides: { ipc: 1.5, branchFraction: 0.2, guestTimeslice: 2ms, dirtyRate: 1GB/s, ioExitsPerSec: 100 }
    guestPerf:
      - { id: rec, command: record, events: [cycles], sample: { freq: 1000 }, allCpus: true, callGraph: lbr, start: 1ms, stop: 900ms }
    program:
      - setPmu: { pmu: armv8_cortex_a76 }
      - setNrCounters: { n: 2 }
      - wrmsr: { msr: 0x186, value: 0x4300c0, vcpu: 1 }
      - loop: { instructions: 1000000, branches: 100000 }
      - rdpmc: { index: 0 }
      - expect: { step: 4, atLeast: 1000000, atMost: 1100000 }
      - rdmsr: { msr: "0xc1" }
      - expect: { step: 2, fault: none }
timeline:
  - at: 500ms
    migrate: { vm: vm1, to: h2, bandwidth: 25Gbps, maxDowntime: 50ms }
  - at: 100ms
    hostPerf: { host: h1, session: p1, action: start }
  - at: 100ms
    guestPerf: { vm: vm1, session: rec, action: stop }
  - at: 200ms
    setPmu: { vm: vm1, pmu: armv8_cortex_a55 }
  - at: 300ms
    fault: { kind: host-node-crash, target: h1, duration: 10ms, params: { replica: 2, mode: hard, now: true } }
costs:
  vmExitCycles: 1100
  pmuContextSwitchCycles: 4000.5
`);
    expect(s).toMatchObject({ name: 'full', seed: 7, durationNs: 1e9, epochNs: 500_000, checkpointEveryEpochs: 10, sampleIntervalNs: 2e6 });
    const h = s.hosts[0];
    expect(h.pmu).toEqual({ gpCounters: 6, fixedCounters: 0, counterWidth: 64, lbrDepth: 0, pmiSkidNs: 50 });
    expect(h.vpmuModes).toEqual(['emulated', 'passthrough']);
    expect(h.nmiWatchdog).toBe(false);
    expect(h.timesliceNs).toBe(4e6);
    expect(h.armPmuProbeOrder).toEqual(['armv8_cortex_a55', 'armv8_cortex_a76']);
    expect(h.perf[0]).toMatchObject({ group: true, excludeGuest: true, pinned: true, cpus: [0, 2], sample: { periodEvents: 100000 }, startNs: 10e6, stopNs: 20e6 });
    expect(h.noise[0]).toEqual({ id: 'n1', cpus: [1], periodNs: 10e6, runtimeNs: 2e6, lbr: true, priority: 'high' });
    const vm = s.vms[0];
    expect(vm.affinity).toEqual([[0, 1], [2, 3]]);
    expect(vm.memoryBytes).toBe(512 * 1024 * 1024);
    expect(vm.vpmu).toEqual({
      mode: 'passthrough',
      interceptEventSelect: false,
      filter: { action: 'deny', events: [{ eventSelect: 0xc0, umask: 0 }], fixedCounterBitmap: 1, masked: [{ eventSelect: 0x3c, mask: 0xff, match: 1, exclude: true }] },
      lbr: 'lazy',
      lazyLbrReleaseNs: 5e6,
      armPmu: 'armv8_cortex_a76',
      nrCounters: 4,
      pvEventLimit: 16,
      pmiVector: 'shared',
    });
    expect(vm.workload).toEqual({
      profile: 'branchy',
      tasksPerVcpu: 3,
      overrides: { ipc: 1.5, branchFraction: 0.2, guestTimesliceNs: 2e6, dirtyBytesPerSec: 1e9, ioExitsPerSec: 100 },
    });
    expect(vm.guestPerf[0]).toEqual({ id: 'rec', command: 'record', events: ['cycles'], sample: { freqHz: 1000 }, allCpus: true, callGraph: 'lbr', startNs: 1e6, stopNs: 900e6 });
    expect(vm.program).toEqual([
      { op: 'setPmu', pmu: 'armv8_cortex_a76' },
      { op: 'setNrCounters', n: 2 },
      { op: 'wrmsr', msr: 0x186, value: 0x4300c0, vcpu: 1 },
      { op: 'loop', instructions: 1_000_000, branches: 100_000, vcpu: 0 },
      { op: 'rdpmc', index: 0, vcpu: 0 },
      { op: 'expect', step: 4, atLeast: 1_000_000, atMost: 1_100_000 },
      { op: 'rdmsr', msr: 0xc1, vcpu: 0 },
      { op: 'expect', step: 2, fault: 'none' },
    ]);
    // sorted by time, stable for equal times (hostPerf before guestPerf as in the file)
    expect(s.timeline.map((e) => [e.atNs, e.action.kind])).toEqual([
      [100e6, 'hostPerf'],
      [100e6, 'guestPerf'],
      [200e6, 'setPmu'],
      [300e6, 'fault'],
      [500e6, 'migrate'],
    ]);
    expect(s.timeline[4].action).toEqual({ kind: 'migrate', vm: 'vm1', to: 'h2', bandwidthBytesPerSec: 25e9 / 8, maxDowntimeNs: 50e6 });
    expect(s.timeline[3].action).toEqual({ kind: 'fault', fault: 'host-node-crash', target: 'h1', durationNs: 10e6, params: { replica: '2', mode: 'hard', now: 'true' } });
    expect(s.costs).toEqual({ vmExitCycles: 1100, pmuContextSwitchCycles: 4000.5 });
  });

  it('accepts YAML anchors, merge keys and top-level x- keys', () => {
    const s = ok(`
version: 1
duration: 10ms
x-vm: &vm
  host: h1
  vcpus: 2
  vpmu: { mode: passthrough }
hosts:
  - { id: h1, cpu: intel-icx, pcpus: 4 }
vms:
  - <<: *vm
    id: a
  - <<: *vm
    id: b
    vcpus: 1
`);
    expect(s.vms.map((v) => [v.id, v.vcpus, v.vpmu.mode])).toEqual([
      ['a', 2, 'passthrough'],
      ['b', 1, 'passthrough'],
    ]);
  });

  it('accepts `workload: <profile>` as a short form', () => {
    expect(ok(withVm({ workload: 'fio' })).vms[0].workload).toEqual({ profile: 'fio', tasksPerVcpu: 2, overrides: {} });
  });

  it('exports the perf event names', () => {
    expect(EVENT_NAMES).toEqual(['instructions', 'cycles', 'ref-cycles', 'branches', 'branch-misses', 'cache-references', 'cache-misses', 'topdown-slots']);
  });
});

// ---- whole-file problems -----------------------------------------------------------------------------

describe('parseScenario: whole-file problems', () => {
  it.each([
    ['empty text', ''],
    ['whitespace only', '  \n\t\n   '],
  ])('rejects %s', (_, text) => {
    const [e] = errors(text);
    expect(e.path).toBe('');
    expect(e.message).toContain('empty');
  });

  it('rejects a file with only comments', () => {
    expect(errors('# nothing here\n')[0].message).toContain('no content');
  });

  it('rejects binary garbage (NUL bytes) with its line', () => {
    const [e] = errors('version: 1\n\u0000\u0001\u0002garbage');
    expect(e).toEqual({ path: '', message: expect.stringContaining('NUL bytes'), line: 2 });
  });

  it('rejects invalid UTF-8 (replacement characters)', () => {
    const text = Buffer.from([0x76, 0x3a, 0x20, 0xff, 0xfe, 0x0a]).toString('utf8');
    expect(errors(text)[0].message).toContain('invalid UTF-8');
  });

  it('rejects other control characters but accepts CRLF line ends and a byte order mark', () => {
    expect(errors('version: 1\n\u0007\n')[0]).toMatchObject({ message: expect.stringContaining('control characters'), line: 2 });
    expect(ok(MINIMAL.replace(/\n/g, '\r\n')).hosts[0].pcpus).toBe(4);
    expect(ok('\ufeff' + MINIMAL).durationNs).toBe(10e6);
  });

  it('reports a YAML syntax error with its line', () => {
    const [e] = errors('version: 1\nduration: 10ms\nhosts: [a, b\nvms: []\n');
    expect(e.path).toBe('');
    expect(e.message).toContain('invalid YAML');
    expect(e.line).toBeGreaterThanOrEqual(3);
  });

  it('reports an unterminated quote', () => {
    expect(errors('version: 1\nname: "oops\n')[0].message).toContain('invalid YAML');
  });

  it('reports a duplicate key with its line', () => {
    expect(errors('version: 1\nduration: 1ms\nduration: 2ms\n')[0]).toMatchObject({ message: expect.stringContaining('appears twice'), line: 3 });
  });

  it('reports a second YAML document', () => {
    expect(errors(`${MINIMAL}---\nversion: 1\n`)[0].message).toContain('one YAML document');
  });

  it('reports tab indentation', () => {
    expect(errors('hosts:\n\t- id: h1\n')[0].message).toMatch(/tab|invalid YAML/i);
  });

  it.each([
    ['a list', '- version: 1\n', 'a list'],
    ['a scalar', 'just some words\n', '"just some words"'],
    ['a number', '42\n', '42'],
  ])('rejects a top level that is %s', (_, text, got) => {
    const [e] = errors(text);
    expect(e.path).toBe('');
    expect(e.message).toBe(`expected a mapping, got ${got}`);
  });

  it('never throws on odd input', () => {
    for (const text of ['{', '[', ']', ':', '- - -', '&a *a', '*nope', '? ', '"\\u', '!!int abc', 'version: !!binary AAAA', '%YAML 9.9\n---\na: 1']) {
      expect(() => parseScenario(text)).not.toThrow();
      expect(parseScenario(text).ok).toBe(false);
    }
  });

  it('rejects an alias to an unknown anchor', () => {
    expectError(`${MINIMAL}name: *nope\n`, 'name', 'unknown anchor');
  });
});

// ---- top level ----------------------------------------------------------------------------------------

describe('parseScenario: top level', () => {
  it('requires version', () => {
    expectError({ duration: '1ms', hosts: [host()] }, 'version', 'required');
  });

  it.each([2, 0, '1', 1.5])('rejects version %p', (v) => {
    expectError(base({ version: v }), 'version', 'this tool reads version 1');
  });

  it('requires duration and hosts', () => {
    const errs = errors('version: 1\n');
    expect(errs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'duration', message: expect.stringContaining('required') }),
        expect.objectContaining({ path: 'hosts', message: expect.stringContaining('required') }),
      ]),
    );
  });

  it('rejects an empty host list', () => {
    expectError(base({ hosts: [] }), 'hosts', 'at least one host');
  });

  it('rejects unknown top-level keys with a suggestion', () => {
    expectError(base({ durations: '1ms' }), 'durations', 'unknown key (did you mean "duration"?)');
    expectError(base({ durationNs: 5 }), 'durationNs', 'did you mean "duration"?');
    expectError(base({ frobnicate: 1 }), 'frobnicate', 'unknown key');
  });

  it('reads seed and rejects bad seeds', () => {
    expect(ok(base({ seed: 0 })).seed).toBe(0);
    expect(ok(base({ seed: 2 ** 53 - 1 })).seed).toBe(2 ** 53 - 1);
    expectError(base({ seed: -1 }), 'seed', 'must not be negative');
    expectError(base({ seed: 1.5 }), 'seed', 'expected a whole number');
    expectError(base({ seed: 'abc' }), 'seed', 'expected a whole number, got "abc"');
  });

  it('rejects a non-string or empty name', () => {
    expectError(base({ name: 42 }), 'name', 'expected a string, got 42');
    expectError(base({ name: ' ' }), 'name', 'must not be empty');
  });

  it('checks epoch: > 0 and <= duration', () => {
    expectError(base({ epoch: 0 }), 'epoch', 'must be at least 1ns');
    expectError(base({ epoch: '20ms' }), 'epoch', 'epoch 20ms is longer than the run (duration 10ms)');
    expect(ok(base({ epoch: '10ms' })).epochNs).toBe(10e6);
    expect(ok(base({ epoch: '3ms' })).epochNs).toBe(3e6); // need not divide the duration
  });

  it('shortens the default epoch to a run shorter than 1ms', () => {
    expect(ok(base({ duration: '500us' })).epochNs).toBe(500_000);
    expect(ok(base({ duration: '500us', epoch: '100us' })).epochNs).toBe(100_000);
  });

  it('checks checkpointEvery and sampleInterval', () => {
    expectError(base({ checkpointEvery: 0 }), 'checkpointEvery', 'must be at least 1');
    expectError(base({ sampleInterval: '0ms' }), 'sampleInterval', 'must be at least 1ns');
  });

  it('reads costs as non-negative numbers', () => {
    expect(ok(base({ costs: { vmExitCycles: 1000, x_y2: 0 } })).costs).toEqual({ vmExitCycles: 1000, x_y2: 0 });
    expectError(base({ costs: { vmExitCycles: -1 } }), 'costs.vmExitCycles', 'must not be negative');
    expectError(base({ costs: { vmExitCycles: '1000' } }), 'costs.vmExitCycles', 'expected a number');
    expectError(base({ costs: { 'bad name': 1 } }), 'costs.bad name', 'not a cost parameter name');
    expectError(base({ costs: [1] }), 'costs', 'expected a mapping, got a list');
  });
});

// ---- durations, sizes, bandwidths, hex ------------------------------------------------------------

describe('parseScenario: quantities', () => {
  it.each([
    ['2s', 2e9],
    ['500ms', 500e6],
    ['250us', 250e3],
    ['1.5ms', 1.5e6],
    ['0.3s', 300e6],
    ['100ns', 100],
    [12345, 12345],
  ])('reads duration %p', (text, ns) => {
    expect(ok(base({ duration: text })).durationNs).toBe(ns);
  });

  it.each([
    ['100', 'has no unit'],
    ['-5ms', 'must not be negative'],
    [-5, 'must not be negative'],
    ['5min', 'unknown duration unit "min"'],
    ['1.5ns', 'not a whole number of nanoseconds'],
    [1.5, 'not a whole number of nanoseconds'],
    ['NaNms', 'is not a duration'],
    ['fast', 'is not a duration'],
    ['', 'is not a duration'],
    [0, 'must be at least 1ns'],
    [true, 'expected a duration'],
    [[1], 'expected a duration'],
  ])('rejects duration %p', (value, fragment) => {
    expectError(base({ duration: value }), 'duration', fragment);
  });

  it('rejects .nan and .inf durations', () => {
    expectError(MINIMAL.replace('10ms', '.nan'), 'duration', 'NaN');
    expectError(MINIMAL.replace('10ms', '.inf'), 'duration', 'Infinity');
  });

  it.each([
    ['4GiB', 4 * 1024 ** 3],
    ['512MiB', 512 * 1024 ** 2],
    ['1GB', 1e9],
    ['64KiB', 65536],
    [1048576, 1048576],
  ])('reads size %p', (text, bytes) => {
    expect(ok(withVm({ memory: text })).vms[0].memoryBytes).toBe(bytes);
  });

  it.each([
    ['4 Gigs', 'unknown size unit'],
    ['4096', 'has no unit'],
    ['0.5B', 'not a whole number of bytes'],
    ['0B', 'must be at least 1 bytes'],
  ])('rejects size %p', (text, fragment) => {
    expectError(withVm({ memory: text }), 'vms[0].memory', fragment);
  });

  const migrate = (bandwidth: unknown): Obj =>
    base({ hosts: [host(), host({ id: 'h2' })], vms: [{ id: 'vm1', host: 'h1' }], timeline: [{ at: '1ms', migrate: { vm: 'vm1', to: 'h2', bandwidth } }] });

  it.each([
    ['10Gbps', 1.25e9],
    ['1GB/s', 1e9],
    ['100MiB/s', 100 * 1024 ** 2],
    [500000, 500000],
  ])('reads bandwidth %p', (text, bytesPerSec) => {
    const a = ok(migrate(text)).timeline[0].action;
    expect(a.kind === 'migrate' && a.bandwidthBytesPerSec).toBe(bytesPerSec);
  });

  it.each([
    ['10Gb', 'unknown bandwidth unit'],
    ['1bps', 'not a whole number of bytes per second'],
    [0, 'must be at least 1'],
  ])('rejects bandwidth %p', (text, fragment) => {
    expectError(migrate(text), 'timeline[0].migrate.bandwidth', fragment);
  });

  const program = (ops: unknown[]): Obj => withVm({ program: ops });

  it('reads MSR numbers and values as YAML integers or hex strings', () => {
    const s = ok(`${MINIMAL}vms:\n  - id: v\n    host: h1\n    program:\n      - wrmsr: { msr: 0x186, value: "0x4300C0" }\n      - rdmsr: { msr: 390 }\n`);
    expect(s.vms[0].program).toEqual([
      { op: 'wrmsr', msr: 0x186, value: 0x4300c0, vcpu: 0 },
      { op: 'rdmsr', msr: 390, vcpu: 0 },
    ]);
  });

  it.each([
    ['0xZZ', 'hex string'],
    ['390', 'hex string'],
    ['0x20000000000000', 'larger than 2^53 - 1'],
    [-1, 'must not be negative'],
  ])('rejects value %p', (value, fragment) => {
    expectError(program([{ wrmsr: { msr: 0x186, value } }]), 'vms[0].program[0].wrmsr.value', fragment);
  });

  it('rejects a YAML integer beyond 2^53', () => {
    const text = `${MINIMAL}vms:\n  - id: v\n    host: h1\n    program:\n      - wrmsr: { msr: 0x186, value: 0xFFFFFFFFFFFFFFFF }\n`;
    expectError(text, 'vms[0].program[0].wrmsr.value', 'larger than 2^53 - 1');
  });

  it('rejects an MSR number beyond 32 bits', () => {
    expectError(program([{ rdmsr: { msr: '0x100000000' } }]), 'vms[0].program[0].rdmsr.msr', 'must be at most 0xffffffff');
  });
});

// ---- hosts -------------------------------------------------------------------------------------------

describe('parseScenario: hosts', () => {
  it('rejects unknown host keys with a suggestion', () => {
    expectError(base({ hosts: [{ id: 'h1', cpu: 'intel-spr', pcpu: 4 }] }), 'hosts[0].pcpu', 'unknown key (did you mean "pcpus"?)');
  });

  it('requires id, cpu and pcpus', () => {
    const errs = errors(base({ hosts: [{}] }));
    expect(errs.map((e) => e.path)).toEqual(expect.arrayContaining(['hosts[0].id', 'hosts[0].cpu', 'hosts[0].pcpus']));
  });

  it('checks the CPU preset name', () => {
    expectError(base({ hosts: [host({ cpu: 'intel-sprr' })] }), 'hosts[0].cpu', `expected one of ${CPU_PRESET_NAMES.join('|')}, got "intel-sprr" (did you mean "intel-spr"?)`);
  });

  it('checks pcpus', () => {
    expectError(base({ hosts: [host({ pcpus: 0 })] }), 'hosts[0].pcpus', 'must be at least 1');
    expectError(base({ hosts: [host({ pcpus: 'four' })] }), 'hosts[0].pcpus', 'expected a whole number, got "four"');
    expectError(base({ hosts: [host({ pcpus: 2.5 })] }), 'hosts[0].pcpus', 'expected a whole number, got 2.5');
  });

  it('checks types of host fields', () => {
    expectError(base({ hosts: [host({ nmiWatchdog: 'yes' })] }), 'hosts[0].nmiWatchdog', 'expected true or false, got "yes"');
    expectError(base({ hosts: [host({ timeslice: '3' })] }), 'hosts[0].timeslice', 'has no unit');
    expectError(base({ hosts: ['h1'] }), 'hosts[0]', 'expected a mapping, got "h1"');
    expectError(base({ hosts: { id: 'h1' } }), 'hosts', 'expected a list, got a mapping');
  });

  it('checks PMU overrides', () => {
    expectError(base({ hosts: [host({ pmu: { gpCounter: 4 } })] }), 'hosts[0].pmu.gpCounter', 'did you mean "gpCounters"?');
    expectError(base({ hosts: [host({ pmu: { counterWidth: 128 } })] }), 'hosts[0].pmu.counterWidth', 'must be at most 64');
    expectError(base({ hosts: [host({ pmu: { pmiSkid: '-1ns' } })] }), 'hosts[0].pmu.pmiSkid', 'negative');
  });

  it('checks vpmuModes', () => {
    expectError(base({ hosts: [host({ vpmuModes: [] })] }), 'hosts[0].vpmuModes', 'empty list');
    expectError(base({ hosts: [host({ vpmuModes: ['emulated', 'mediated'] })] }), 'hosts[0].vpmuModes[1]', 'expected one of none|emulated|passthrough|paravirt');
  });

  it('rejects armPmuProbeOrder on an x86 host', () => {
    expectError(base({ hosts: [host({ armPmuProbeOrder: ['a'] })] }), 'hosts[0].armPmuProbeOrder', 'only arm64 hosts');
  });

  it('rejects duplicate host ids', () => {
    expectError(base({ hosts: [host(), host()] }), 'hosts[1].id', 'duplicate id "h1" (already used by hosts[0]');
  });

  it('rejects ids that are not names', () => {
    expectError(base({ hosts: [host({ id: 'my host' })] }), 'hosts[0].id', 'not a valid id');
  });

  describe('perf sessions', () => {
    const perf = (session: Obj): Obj => base({ hosts: [host({ perf: [{ id: 'p', events: ['cycles'], ...session }] })] });

    it('checks event names', () => {
      expectError(perf({ events: ['cycle'] }), 'hosts[0].perf[0].events[0]', 'got "cycle" (did you mean "cycles"?)');
      expectError(perf({ events: [] }), 'hosts[0].perf[0].events', 'empty event list');
      expectError(perf({ events: 'cycles' }), 'hosts[0].perf[0].events', 'expected a list, got "cycles"');
    });

    it('requires an id and rejects duplicates', () => {
      expectError(base({ hosts: [host({ perf: [{ events: ['cycles'] }] })] }), 'hosts[0].perf[0].id', 'required');
      expectError(
        base({ hosts: [host({ perf: [{ id: 'p', events: ['cycles'] }, { id: 'p', events: ['cycles'] }] })] }),
        'hosts[0].perf[1].id',
        'duplicate perf session on host h1 "p"',
      );
    });

    it('checks cpus against the host', () => {
      expect(ok(perf({ cpus: [3, 0] })).hosts[0].perf[0].cpus).toEqual([0, 3]);
      expectError(perf({ cpus: [0, 4] }), 'hosts[0].perf[0].cpus[1]', 'pCPU 4 does not exist on host h1 (it has 4)');
      expectError(perf({ cpus: [] }), 'hosts[0].perf[0].cpus', 'empty CPU list');
      expectError(perf({ cpus: 'some' }), 'hosts[0].perf[0].cpus', 'expected all or a list of pCPU numbers');
    });

    it('reads sample as freq or period, exactly one', () => {
      expect(ok(perf({ sample: { freq: 1000 } })).hosts[0].perf[0].sample).toEqual({ freqHz: 1000 });
      expect(ok(perf({ sample: { period: 100000 } })).hosts[0].perf[0].sample).toEqual({ periodEvents: 100000 });
      expectError(perf({ sample: { freq: 1000, period: 10 } }), 'hosts[0].perf[0].sample', 'exactly one of freq');
      expectError(perf({ sample: {} }), 'hosts[0].perf[0].sample', 'exactly one of freq');
      expectError(perf({ sample: { freq: 0 } }), 'hosts[0].perf[0].sample.freq', 'must be at least 1');
      expectError(perf({ sample: { frequency: 10 } }), 'hosts[0].perf[0].sample.frequency', 'unknown key');
    });

    it('warns about a sample rate the kernel refuses', () => {
      expect(okWithWarnings(perf({ sample: { freq: 200000 } })).warnings.join('\n')).toContain('perf_event_max_sample_rate');
    });

    it('checks start and stop', () => {
      expectError(perf({ start: '5ms', stop: '5ms' }), 'hosts[0].perf[0].stop', 'stop 5ms must be after start 5ms');
      expectError(perf({ stop: '11ms' }), 'hosts[0].perf[0].stop', 'beyond the end of the run (duration 10ms)');
      expectError(perf({ start: '1s' }), 'hosts[0].perf[0].start', 'beyond the end of the run');
    });

    it('rejects unknown session keys', () => {
      expectError(perf({ exclude_guest: true }), 'hosts[0].perf[0].exclude_guest', 'did you mean "excludeGuest"?');
    });
  });

  describe('noise threads', () => {
    const noise = (n: Obj): Obj => base({ hosts: [host({ noise: [{ period: '10ms', runtime: '1ms', ...n }] })] });

    it('requires period and runtime', () => {
      expectError(base({ hosts: [host({ noise: [{}] })] }), 'hosts[0].noise[0].period', 'required');
      expectError(base({ hosts: [host({ noise: [{}] })] }), 'hosts[0].noise[0].runtime', 'required');
    });

    it('names unnamed threads noise<i> and keeps ids unique', () => {
      const s = ok(base({ hosts: [host({ noise: [{ period: '1ms', runtime: '1ms' }, { id: 'x', period: '1ms', runtime: '1ms' }] })] }));
      expect(s.hosts[0].noise.map((n) => n.id)).toEqual(['noise0', 'x']);
      expectError(
        base({ hosts: [host({ noise: [{ id: 'noise1', period: '1ms', runtime: '1ms' }, { period: '1ms', runtime: '1ms' }] })] }),
        'hosts[0].noise[1].id',
        'the default id noise1 is already taken',
      );
    });

    it('rejects a runtime longer than the period', () => {
      expectError(noise({ runtime: '20ms' }), 'hosts[0].noise[0].runtime', 'runtime 20ms exceeds period 10ms');
    });

    it('checks cpus and priority', () => {
      expectError(noise({ cpus: [7] }), 'hosts[0].noise[0].cpus[0]', 'pCPU 7 does not exist on host h1 (it has 4)');
      expectError(noise({ priority: 'urgent' }), 'hosts[0].noise[0].priority', 'expected one of normal|high');
    });
  });
});

// ---- VMs --------------------------------------------------------------------------------------------

describe('parseScenario: VMs', () => {
  it('rejects a reference to a missing host', () => {
    expectError(withVm({ host: 'h9' }), 'vms[0].host', 'unknown host "h9" (did you mean "h1"?)');
    expectError(withVm({ host: 'zzzzzz' }), 'vms[0].host', 'unknown host "zzzzzz" (defined: h1)');
    expectError(base({ vms: [{ id: 'vm1' }] }), 'vms[0].host', 'required');
  });

  it('rejects duplicate VM ids, also against host ids', () => {
    expectError(base({ vms: [{ id: 'a', host: 'h1' }, { id: 'a', host: 'h1' }] }), 'vms[1].id', 'duplicate id "a" (already used by vms[0]');
    expectError(base({ vms: [{ id: 'h1', host: 'h1' }] }), 'vms[0].id', 'duplicate id "h1" (already used by hosts[0]');
  });

  it('rejects more vCPUs than the host has pCPUs', () => {
    expectError(withVm({ vcpus: 8 }), 'vms[0].vcpus', "8 vCPUs exceed host h1's 4 pCPUs");
    expect(ok(withVm({ vcpus: 4 })).vms[0].affinity).toHaveLength(4);
    expectError(withVm({ vcpus: 0 }), 'vms[0].vcpus', 'must be at least 1');
  });

  describe('affinity', () => {
    it('applies a flat list to every vCPU', () => {
      expect(ok(withVm({ vcpus: 2, affinity: [2, 3] })).vms[0].affinity).toEqual([
        [2, 3],
        [2, 3],
      ]);
    });

    it('reads one list per vCPU', () => {
      expect(ok(withVm({ vcpus: 2, affinity: [[0], [1, 2]] })).vms[0].affinity).toEqual([[0], [1, 2]]);
    });

    it('defaults to every pCPU of the host for every vCPU', () => {
      expect(ok(withVm({ vcpus: 2 })).vms[0].affinity).toEqual([
        [0, 1, 2, 3],
        [0, 1, 2, 3],
      ]);
    });

    it('rejects pCPUs the host does not have', () => {
      expectError(withVm({ affinity: [0, 9] }), 'vms[0].affinity[1]', 'pCPU 9 does not exist on host h1 (it has 4)');
      expectError(withVm({ vcpus: 2, affinity: [[0], [1, 4]] }), 'vms[0].affinity[1][1]', 'pCPU 4 does not exist on host h1 (it has 4)');
    });

    it('rejects an empty affinity', () => {
      expectError(withVm({ affinity: [] }), 'vms[0].affinity', 'empty affinity');
      expectError(withVm({ vcpus: 2, affinity: [[0], []] }), 'vms[0].affinity[1]', 'empty affinity: vCPU 1 needs at least one pCPU');
    });

    it('rejects a per-vCPU list of the wrong length', () => {
      expectError(withVm({ vcpus: 2, affinity: [[0], [1], [2]] }), 'vms[0].affinity', 'has 3 per-vCPU lists for 2 vCPUs');
    });

    it('rejects a mix of numbers and lists', () => {
      expectError(withVm({ vcpus: 2, affinity: [0, [1]] }), 'vms[0].affinity', 'mixes pCPU numbers and lists');
    });

    it('is still checked when vcpus is wrong', () => {
      const errs = errors(withVm({ vcpus: 8, affinity: [0, 9] }));
      expect(errs.map((e) => e.path)).toEqual(['vms[0].vcpus', 'vms[0].affinity[1]']);
    });

    it('warns about and drops a repeated pCPU', () => {
      const r = okWithWarnings(withVm({ affinity: [1, 1, 0] }));
      expect(r.scenario.vms[0].affinity).toEqual([[0, 1]]);
      expect(r.warnings[0]).toContain('vms[0].affinity[1]: pCPU 1 is listed twice');
    });
  });

  describe('vpmu', () => {
    it('checks the mode', () => {
      expectError(withVm({ vpmu: { mode: 'passthru' } }), 'vms[0].vpmu.mode', 'expected one of none|emulated|passthrough|paravirt');
      expectError(withVm({ vpmu: { mdoe: 'emulated' } }), 'vms[0].vpmu.mdoe', 'unknown key (did you mean "mode"?)');
    });

    it('rejects a mode the host does not offer, except none', () => {
      const h = { hosts: [host({ vpmuModes: ['emulated'] })] };
      expectError(withVm({ vpmu: { mode: 'passthrough' } }, h), 'vms[0].vpmu.mode', 'mode passthrough is not offered by host h1');
      expect(ok(withVm({ vpmu: { mode: 'none' } }, h)).vms[0].vpmu.mode).toBe('none');
      expectError(withVm({}, { hosts: [host({ vpmuModes: ['passthrough'] })] }), 'vms[0]', 'the default vpmu.mode emulated is not offered');
    });

    it('checks the other vpmu fields', () => {
      expectError(withVm({ vpmu: { lbr: 'on' } }), 'vms[0].vpmu.lbr', 'expected one of none|pv|lazy');
      expectError(withVm({ vpmu: { pmiVector: 'nmi' } }), 'vms[0].vpmu.pmiVector', 'expected one of dedicated|shared');
      expectError(withVm({ vpmu: { lazyLbrRelease: '-1ms' } }), 'vms[0].vpmu.lazyLbrRelease', 'must not be negative');
      expectError(withVm({ vpmu: { pvEventLimit: -1 } }), 'vms[0].vpmu.pvEventLimit', 'must not be negative');
      expectError(withVm({ vpmu: { interceptEventSelect: 1 } }), 'vms[0].vpmu.interceptEventSelect', 'expected true or false');
      expectError(withVm({ vpmu: 'emulated' }), 'vms[0].vpmu', 'expected a mapping, got "emulated"');
    });

    describe('filter', () => {
      const filter = (f: Obj): Obj => withVm({ vpmu: { mode: 'passthrough', filter: { action: 'allow', ...f } } });

      it('fills filter defaults', () => {
        expect(ok(filter({})).vms[0].vpmu.filter).toEqual({ action: 'allow', events: [], fixedCounterBitmap: 0, masked: [] });
        expect(ok(filter({ events: [{ event: 0xc0 }] })).vms[0].vpmu.filter?.events).toEqual([{ eventSelect: 0xc0, umask: 0 }]);
      });

      it('requires a valid action', () => {
        expectError(withVm({ vpmu: { filter: {} } }), 'vms[0].vpmu.filter.action', 'required');
        expectError(filter({ action: 'block' }), 'vms[0].vpmu.filter.action', 'expected one of allow|deny');
      });

      it('allows 300 events and rejects 301', () => {
        const evs = (n: number): Obj[] => Array.from({ length: n }, (_, i) => ({ event: i % 256, umask: 0 }));
        expect(ok(filter({ events: evs(300) })).vms[0].vpmu.filter?.events).toHaveLength(300);
        expectError(filter({ events: evs(301) }), 'vms[0].vpmu.filter.events', 'at most 300 events (KVM returns E2BIG)');
        expectError(filter({ masked: Array.from({ length: 301 }, () => ({ event: 1, mask: 1, match: 1 })) }), 'vms[0].vpmu.filter.masked', 'at most 300 events');
      });

      it('checks filter entries', () => {
        expectError(filter({ events: [{ event: 0x1000 }] }), 'vms[0].vpmu.filter.events[0].event', 'must be at most 0xfff');
        expectError(filter({ events: [{ umask: 1 }] }), 'vms[0].vpmu.filter.events[0].event', 'required');
        expectError(filter({ events: [{ event: 1, umsk: 1 }] }), 'vms[0].vpmu.filter.events[0].umsk', 'did you mean "umask"?');
        expectError(filter({ masked: [{ event: 1, mask: 0xff }] }), 'vms[0].vpmu.filter.masked[0].match', 'required');
        expectError(filter({ fixedCounterBitmap: -1 }), 'vms[0].vpmu.filter.fixedCounterBitmap', 'must not be negative');
      });
    });
  });

  describe('workload', () => {
    it('checks the profile', () => {
      expectError(withVm({ workload: { profile: 'specjbb' } }), 'vms[0].workload.profile', 'expected one of specint|fio|idle|branchy');
      expectError(withVm({ workload: 'redis' }), 'vms[0].workload', 'expected one of specint|fio|idle|branchy');
    });

    it('reads overrides with their YAML names', () => {
      const w = ok(withVm({ workload: { overrides: { guestTimeslice: '4ms', dirtyRate: '100MB/s', kernelFraction: 0.1, busyFraction: 1 } } })).vms[0].workload;
      expect(w.overrides).toEqual({ guestTimesliceNs: 4e6, dirtyBytesPerSec: 100e6, kernelFraction: 0.1, busyFraction: 1 });
    });

    it('rejects unknown, negative and out-of-range overrides', () => {
      expectError(withVm({ workload: { overrides: { guestTimesliceNs: 5 } } }), 'vms[0].workload.overrides.guestTimesliceNs', 'did you mean "guestTimeslice"?');
      expectError(withVm({ workload: { overrides: { dirtyBytesPerSec: 5 } } }), 'vms[0].workload.overrides.dirtyBytesPerSec', 'unknown key');
      expectError(withVm({ workload: { overrides: { ipcc: 1 } } }), 'vms[0].workload.overrides.ipcc', 'did you mean "ipc"?');
      expectError(withVm({ workload: { overrides: { ipc: -1 } } }), 'vms[0].workload.overrides.ipc', 'must not be negative');
      expectError(withVm({ workload: { overrides: { llcMissRate: 1.5 } } }), 'vms[0].workload.overrides.llcMissRate', 'must be at most 1');
      expectError(withVm({ workload: { overrides: { ipc: 'fast' } } }), 'vms[0].workload.overrides.ipc', 'expected a number');
      expectError(withVm({ workload: { tasksPerVcpu: -1 } }), 'vms[0].workload.tasksPerVcpu', 'must not be negative');
    });
  });

  describe('guestPerf', () => {
    const gp = (s: Obj): Obj => withVm({ guestPerf: [{ id: 's', events: ['cycles'], ...s }] });

    it('checks command, events and sample', () => {
      expectError(gp({ command: 'top' }), 'vms[0].guestPerf[0].command', 'expected one of stat|record');
      expectError(gp({ events: ['cpu-cycles'] }), 'vms[0].guestPerf[0].events[0]', 'expected one of instructions|cycles');
      expectError(gp({ sample: { freq: 1000 } }), 'vms[0].guestPerf[0].sample', 'sample only applies to command record');
      expectError(gp({ command: 'record', sample: { freq: 10, period: 10 } }), 'vms[0].guestPerf[0].sample', 'exactly one of freq');
      expectError(gp({ callGraph: 'lbr' }), 'vms[0].guestPerf[0].callGraph', 'only applies to command record');
      expect(ok(gp({ command: 'record', sample: { period: 5000 } })).vms[0].guestPerf[0].sample).toEqual({ periodEvents: 5000 });
    });

    it('rejects duplicate session ids', () => {
      expectError(withVm({ guestPerf: [{ id: 's', events: ['cycles'] }, { id: 's', events: ['cycles'] }] }), 'vms[0].guestPerf[1].id', 'duplicate');
    });
  });

  describe('program', () => {
    const program = (ops: unknown[], vm: Obj = {}): Obj => withVm({ program: ops, ...vm });

    it('defaults vcpu to 0 and branches to 0', () => {
      expect(ok(program([{ loop: { instructions: 10 } }, { rdpmc: { index: '0x40000000' } }])).vms[0].program).toEqual([
        { op: 'loop', instructions: 10, branches: 0, vcpu: 0 },
        { op: 'rdpmc', index: 0x40000000, vcpu: 0 },
      ]);
    });

    it('rejects an unknown op with a suggestion', () => {
      expectError(program([{ wrmrs: { msr: 1, value: 1 } }]), 'vms[0].program[0].wrmrs', 'unknown key (did you mean "wrmsr"?)');
    });

    it('requires exactly one op per step', () => {
      expectError(program([{ rdmsr: { msr: 1 }, rdpmc: { index: 0 } }]), 'vms[0].program[0]', 'exactly one operation, got rdmsr and rdpmc');
      expectError(program([{}]), 'vms[0].program[0]', 'empty step');
      expectError(program(['rdmsr']), 'vms[0].program[0]', 'expected a mapping, got "rdmsr"');
    });

    it('checks op fields', () => {
      expectError(program([{ wrmsr: { msr: 0x186 } }]), 'vms[0].program[0].wrmsr.value', 'required');
      expectError(program([{ rdmsr: { msr: 1, cpu: 0 } }]), 'vms[0].program[0].rdmsr.cpu', 'unknown key');
      expectError(program([{ loop: { instructions: 10, branches: 11 } }]), 'vms[0].program[0].loop.branches', '11 branches exceed');
      expectError(program([{ loop: { instructions: 0 } }]), 'vms[0].program[0].loop.instructions', 'must be at least');
      expectError(program([{ setPmu: { pmu: '' } }]), 'vms[0].program[0].setPmu.pmu', 'must not be empty');
      expectError(program([{ setNrCounters: { n: 32 } }]), 'vms[0].program[0].setNrCounters.n', 'must be at most 31');
      expectError(program([{ rdmsr: 0x186 }]), 'vms[0].program[0].rdmsr', 'expected a mapping');
    });

    it('checks vcpu against the VM', () => {
      expectError(program([{ rdpmc: { index: 0, vcpu: 2 } }], { vcpus: 2 }), 'vms[0].program[0].rdpmc.vcpu', 'vCPU 2 does not exist (VM vm1 has 2)');
      expect(ok(program([{ rdpmc: { index: 0, vcpu: 1 } }], { vcpus: 2 })).vms[0].program[0]).toEqual({ op: 'rdpmc', index: 0, vcpu: 1 });
    });

    it('reads expect forms', () => {
      expect(ok(program([{ rdpmc: { index: 0 } }, { expect: { step: 0, equals: 0 } }, { wrmsr: { msr: 1, value: 1 } }, { expect: { step: 2, fault: 'gp' } }])).vms[0].program.slice(1)).toEqual([
        { op: 'expect', step: 0, equals: 0 },
        { op: 'wrmsr', msr: 1, value: 1, vcpu: 0 },
        { op: 'expect', step: 2, fault: 'gp' },
      ]);
    });

    it('requires expect.step to name an earlier step', () => {
      expectError(program([{ rdpmc: { index: 0 } }, { expect: { step: 1, equals: 0 } }]), 'vms[0].program[1].expect.step', 'step 1 is not an earlier step (this is step 1');
      expectError(program([{ expect: { step: 0, equals: 0 } }]), 'vms[0].program[0].expect.step', 'not an earlier step');
      expectError(program([{ rdpmc: { index: 0 } }, { expect: { step: 0, equals: 0 } }, { expect: { step: 1, equals: 0 } }]), 'vms[0].program[2].expect.step', 'itself an expect');
      expectError(program([{ rdpmc: { index: 0 } }, { expect: { equals: 0 } }]), 'vms[0].program[1].expect.step', 'required');
    });

    it('checks what expect compares', () => {
      expectError(program([{ rdpmc: { index: 0 } }, { expect: { step: 0 } }]), 'vms[0].program[1].expect', 'at least one of equals, atLeast, atMost or fault');
      expectError(program([{ loop: { instructions: 5 } }, { expect: { step: 0, equals: 5 } }]), 'vms[0].program[1].expect.step', 'step 0 (loop) returns no value');
      expectError(program([{ rdpmc: { index: 0 } }, { expect: { step: 0, fault: 'segv' } }]), 'vms[0].program[1].expect.fault', 'expected one of none|gp|undefined');
      expectError(program([{ rdpmc: { index: 0 } }, { expect: { step: 0, atLeast: 5, atMost: 4 } }]), 'vms[0].program[1].expect.atLeast', 'atLeast 5 is above atMost 4');
    });
  });
});

// ---- timeline ---------------------------------------------------------------------------------------

describe('parseScenario: timeline', () => {
  const world = (timeline: unknown[], extra: Obj = {}): Obj =>
    base({
      hosts: [host({ perf: [{ id: 'p1', events: ['cycles'] }] }), host({ id: 'h2' })],
      vms: [{ id: 'vm1', host: 'h1', guestPerf: [{ id: 's1', events: ['cycles'] }] }],
      timeline,
      ...extra,
    });

  it('requires at and exactly one action', () => {
    expectError(world([{ setPmu: { vm: 'vm1', pmu: 'x' } }]), 'timeline[0].at', 'required');
    expectError(world([{ at: '1ms' }]), 'timeline[0]', 'give one action: migrate, setPmu, hostPerf, guestPerf, fault');
    expectError(world([{ at: '1ms', setPmu: { vm: 'vm1', pmu: 'x' }, fault: { kind: 'k', target: 'h1' } }]), 'timeline[0]', 'has setPmu and fault; give one action');
    expectError(world([{ at: '1ms', migrat: {} }]), 'timeline[0].migrat', 'did you mean "migrate"?');
  });

  it('rejects at beyond the duration and warns at the very end', () => {
    expectError(world([{ at: '11ms', setPmu: { vm: 'vm1', pmu: 'x' } }]), 'timeline[0].at', '11ms is beyond the end of the run (duration 10ms)');
    expect(okWithWarnings(world([{ at: '10ms', setPmu: { vm: 'vm1', pmu: 'x' } }])).warnings[0]).toContain('no effect');
  });

  it('sorts by at, keeping file order for equal times', () => {
    const s = ok(
      world([
        { at: '3ms', setPmu: { vm: 'vm1', pmu: 'c' } },
        { at: '1ms', setPmu: { vm: 'vm1', pmu: 'a' } },
        { at: '3ms', setPmu: { vm: 'vm1', pmu: 'd' } },
        { at: '1ms', setPmu: { vm: 'vm1', pmu: 'b' } },
      ]),
    );
    expect(s.timeline.map((e) => (e.action.kind === 'setPmu' ? e.action.pmu : ''))).toEqual(['a', 'b', 'c', 'd']);
  });

  it('checks migrate references', () => {
    expectError(world([{ at: '1ms', migrate: { vm: 'vm9', to: 'h2' } }]), 'timeline[0].migrate.vm', 'unknown VM "vm9" (did you mean "vm1"?)');
    expectError(world([{ at: '1ms', migrate: { vm: 'vm1', to: 'h3' } }]), 'timeline[0].migrate.to', 'unknown host "h3"');
    expectError(world([{ at: '1ms', migrate: { vm: 'vm1' } }]), 'timeline[0].migrate.to', 'required');
  });

  it('follows a VM through its migrations', () => {
    expectError(world([{ at: '1ms', migrate: { vm: 'vm1', to: 'h1' } }]), 'timeline[0].migrate.to', 'VM vm1 is already on host h1 at 1ms');
    // listed out of order: sorted by time, h1 → h2 → h1 is fine
    expect(
      ok(
        world([
          { at: '5ms', migrate: { vm: 'vm1', to: 'h1' } },
          { at: '2ms', migrate: { vm: 'vm1', to: 'h2' } },
        ]),
      ).timeline.map((e) => e.atNs),
    ).toEqual([2e6, 5e6]);
  });

  it('rejects a migration to a host with too few pCPUs', () => {
    const s = base({ hosts: [host(), host({ id: 'small', pcpus: 1 })], vms: [{ id: 'vm1', host: 'h1', vcpus: 2 }], timeline: [{ at: '1ms', migrate: { vm: 'vm1', to: 'small' } }] });
    expectError(s, 'timeline[0].migrate.to', "VM vm1's 2 vCPUs exceed host small's 1 pCPUs");
  });

  it('warns (model refuses) when the destination lacks the vPMU mode', () => {
    const s = base({
      hosts: [host(), host({ id: 'h2', vpmuModes: ['emulated'] })],
      vms: [{ id: 'vm1', host: 'h1', vpmu: { mode: 'passthrough' } }],
      timeline: [{ at: '1ms', migrate: { vm: 'vm1', to: 'h2' } }],
    });
    expect(okWithWarnings(s).warnings[0]).toContain('will be refused');
  });

  it('checks setPmu, hostPerf and guestPerf references', () => {
    expectError(world([{ at: '1ms', setPmu: { vm: 'nope', pmu: 'x' } }]), 'timeline[0].setPmu.vm', 'unknown VM "nope"');
    expectError(world([{ at: '1ms', hostPerf: { host: 'hx', session: 'p1', action: 'start' } }]), 'timeline[0].hostPerf.host', 'unknown host "hx"');
    expectError(world([{ at: '1ms', hostPerf: { host: 'h1', session: 'p2', action: 'start' } }]), 'timeline[0].hostPerf.session', 'host h1 has no session "p2" (did you mean "p1"?)');
    expectError(world([{ at: '1ms', hostPerf: { host: 'h2', session: 'p1', action: 'start' } }]), 'timeline[0].hostPerf.session', 'host h2 has no session "p1" (none are defined)');
    expectError(world([{ at: '1ms', hostPerf: { host: 'h1', session: 'p1', action: 'pause' } }]), 'timeline[0].hostPerf.action', 'expected one of start|stop');
    expectError(world([{ at: '1ms', guestPerf: { vm: 'vmx', session: 's1', action: 'stop' } }]), 'timeline[0].guestPerf.vm', 'unknown VM "vmx"');
    expectError(world([{ at: '1ms', guestPerf: { vm: 'vm1', session: 'zz', action: 'stop' } }]), 'timeline[0].guestPerf.session', 'VM vm1 has no session "zz" (defined: s1)');
  });

  it('checks fault targets', () => {
    expect(ok(world([{ at: '1ms', fault: { kind: 'broker-restart', target: 'h2' } }])).timeline[0].action).toMatchObject({ target: 'h2' });
    expectError(world([{ at: '1ms', fault: { kind: 'x', target: 'vm2' } }]), 'timeline[0].fault.target', 'unknown host or VM "vm2" (did you mean "vm1"?)');
    expectError(world([{ at: '1ms', fault: { target: 'h1' } }]), 'timeline[0].fault.kind', 'required');
    expectError(world([{ at: '1ms', fault: { kind: 'x', target: 'h1', params: { a: [1] } } }]), 'timeline[0].fault.params.a', 'expected a string, number or boolean');
  });
});

// ---- error reporting ---------------------------------------------------------------------------------

describe('parseScenario: error reporting', () => {
  const BAD = `version: 1
duration: 10ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpu: 4
vms:
  - id: vm1
    host: h1
    vcpus: 8
  - id: vm2
    host: h1
    vpmu:
      mode: passthru
timeline:
  - at: 1s
    setPmu: { vm: vm3, pmu: x }
`;

  it('collects every error, in file order, with lines', () => {
    const errs = errors(BAD);
    expect(errs).toEqual([
      { path: 'hosts[0].pcpus', message: 'required (the number of physical CPUs)', line: 4 },
      { path: 'hosts[0].pcpu', message: 'unknown key (did you mean "pcpus"?)', line: 6 },
      { path: 'vms[1].vpmu.mode', message: expect.stringContaining('expected one of none|emulated|passthrough|paravirt, got "passthru"'), line: 14 },
      { path: 'timeline[0].at', message: '1s is beyond the end of the run (duration 10ms)', line: 16 },
      { path: 'timeline[0].setPmu.vm', message: 'unknown VM "vm3" (did you mean "vm1"?)', line: 17 },
    ]);
  });

  it('reports vCPU overflow with the host’s real size', () => {
    const text = BAD.replace('pcpu: 4', 'pcpus: 4');
    expect(errors(text)).toContainEqual({ path: 'vms[0].vcpus', message: expect.stringContaining("8 vCPUs exceed host h1's 4 pCPUs"), line: 10 });
  });

  it('formats errors one per line, with and without a file name', () => {
    const errs: ScenarioError[] = [
      { path: 'vms[1].vpmu.mode', message: 'expected one of none|emulated|passthrough|paravirt', line: 14 },
      { path: '', message: 'the scenario is empty' },
      { path: 'hosts', message: 'required' },
    ];
    expect(formatScenarioErrors(errs, 'scenarios/x.yaml')).toBe(
      [
        'scenarios/x.yaml:14: vms[1].vpmu.mode: expected one of none|emulated|passthrough|paravirt',
        'scenarios/x.yaml: the scenario is empty',
        'scenarios/x.yaml: hosts: required',
      ].join('\n'),
    );
    expect(formatScenarioErrors(errs)).toBe(['line 14: vms[1].vpmu.mode: expected one of none|emulated|passthrough|paravirt', 'the scenario is empty', 'hosts: required'].join('\n'));
  });

  it('is deterministic: the same text gives the same result', () => {
    expect(parseScenario(BAD)).toEqual(parseScenario(BAD));
  });
});

describe('parseScenario: hostile input', () => {
  it('refuses an alias bomb quickly instead of walking it', () => {
    const n = 200;
    const list = (name: string, item: string): string => `${name}: &${name} [${Array.from({ length: n }, () => item).join(', ')}]`;
    const text = [
      'version: 1',
      'duration: 10ms',
      `x-${list('ev', 'cycles')}`,
      `x-perf: &perf { id: p, events: *ev }`,
      `x-${list('perfs', '*perf')}`,
      `x-host: &host { id: h1, cpu: intel-spr, pcpus: 4, perf: *perfs }`,
      `hosts: [${Array.from({ length: n }, () => '*host').join(', ')}]`,
    ].join('\n');
    const r = parseScenario(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.some((e) => e.message.includes('aliases'))).toBe(true);
  });
});
