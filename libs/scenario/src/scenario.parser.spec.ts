// parseScenario as a whole: defaults, whole-file problems, the top level, error reporting and
// hostile input. Each section of the document has its own spec beside its reader.

import type { Scenario } from '@vpmu/world-spec';

import { EVENT_NAMES } from './perf-session.parser';
import { SCENARIO_DEFAULTS } from './scenario.defaults';
import { formatScenarioErrors, type ScenarioError } from './scenario.errors';
import { parseScenario } from './scenario.parser';
import { base, errors, expectError, host, MINIMAL, ok, okWithWarnings, withVm } from './testing/parse-scenario.fixture';

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
          vpmuModes: ['none', 'emulated', 'passthrough', 'paravirt', 'mediated'],
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
  vmExitRoundTripCycles: 1100
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
    expect(s.costs).toEqual({ vmExitRoundTripCycles: 1100, pmuContextSwitchCycles: 4000.5 });
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

  it('checks duplicate keys in one pass: 50k keys in a mapping are read (the library check compared every pair), a repeat deep inside is found with its line', () => {
    const keys = Array.from({ length: 50_000 }, (_, i) => `x-k${i}: ${i}\n`).join('');
    expect(parseScenario(`${MINIMAL}${keys}`)).toMatchObject({ ok: true });
    const nested = `${MINIMAL}x-extra:\n  list:\n    - { a: 1, b: 2, a: 3 }\n`;
    const line = nested.split('\n').findIndex((l) => l.includes('a: 3')) + 1;
    expect(errors(nested)[0]).toMatchObject({ message: expect.stringContaining('appears twice'), line });
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
    expectError(base({ epoch: 0 }), 'epoch', 'must be at least 1us');
    expectError(base({ epoch: '999ns' }), 'epoch', 'must be at least 1us (each epoch is a barrier');
    expect(ok(base({ epoch: '1us' })).epochNs).toBe(1000);
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
    expectError(base({ sampleInterval: '0ms' }), 'sampleInterval', 'must be at least 10us');
    expectError(base({ sampleInterval: '1ns' }), 'sampleInterval', 'perf_event_max_sample_rate');
    expect(ok(base({ sampleInterval: '10us' })).sampleIntervalNs).toBe(10_000);
  });

  it('reads costs: names from the cost model, values as bounded non-negative numbers', () => {
    expect(ok(base({ costs: { msrTrapCycles: 1000, pvEventSyncNs: 0 } })).costs).toEqual({ msrTrapCycles: 1000, pvEventSyncNs: 0 });
    expectError(base({ costs: { msrTrapCycles: -1 } }), 'costs.msrTrapCycles', 'must not be negative');
    expectError(base({ costs: { msrTrapCycles: '1000' } }), 'costs.msrTrapCycles', 'expected a number');
    expectError(base({ costs: { msrTrapCycles: 2e10 } }), 'costs.msrTrapCycles', 'must be at most 10000000000 (no modelled action costs more than 1s)');
    expectError(base({ costs: { perfEventCreateNs: 2e9 } }), 'costs.perfEventCreateNs', 'must be at most 1000000000');
    expectError(base({ costs: { msrTrapCycle: 1 } }), 'costs.msrTrapCycle', 'unknown cost parameter (did you mean "msrTrapCycles"?)');
    expectError(base({ costs: { vmExitCycles: 1 } }), 'costs.vmExitCycles', 'unknown cost parameter (known: vmExitRoundTripCycles,');
    expectError(base({ costs: { 'bad name': 1 } }), 'costs.bad name', 'unknown cost parameter');
    expectError(base({ costs: [1] }), 'costs', 'expected a mapping, got a list');
  });

  it('warns about a merely large run with the number of epochs and a size bound', () => {
    const r = okWithWarnings(base({ duration: '200s' }));
    expect(r.warnings).toEqual([expect.stringMatching(/^a large run: about 200,000 epochs \(duration 200s \/ epoch 1ms\); .* more than 160 MB/)]);
    expect(okWithWarnings(base({ duration: '100s' })).warnings).toEqual([]);
    const samples = okWithWarnings(withVm({ vcpus: 4 }, { duration: '30s', epoch: '10ms', sampleInterval: '10us' }));
    expect(samples.warnings).toEqual([expect.stringMatching(/^a large run: about 12\.0 million counter samples/)]);
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
      { path: 'vms[1].vpmu.mode', message: expect.stringContaining('expected one of none|emulated|passthrough|paravirt|mediated, got "passthru"'), line: 14 },
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
