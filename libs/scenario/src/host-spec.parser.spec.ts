// `hosts[]`: fields, PMU overrides, vPMU modes, ids, perf sessions and noise threads.

import { CPU_PRESET_NAMES } from '@vpmu/pmu';
import { base, errors, expectError, host, ok, okWithWarnings, type Obj } from './testing/parse-scenario.fixture';

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
    expectError(base({ hosts: [host({ vpmuModes: ['emulated', 'mediate'] })] }), 'hosts[0].vpmuModes[1]', 'expected one of none|emulated|passthrough|paravirt|mediated');
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

