// Bad input on the command line: every case exits 2 with one clear sentence, no stack trace,
// and nothing half-written left behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasStackTrace, vpmu } from '../support/cli';
import { tempDir, tinyScenarioText } from '../support/run-scenario';

const dir = tempDir('badinput');
const write = (name: string, content: string | Buffer): string => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
};

const VALID = tinyScenarioText('tiny');

const cases: { name: string; file: () => string; message: RegExp }[] = [
  { name: 'a missing file', file: () => path.join(dir, 'nope.yaml'), message: /does not exist/ },
  { name: 'an empty file', file: () => write('empty.yaml', ''), message: /empty/i },
  { name: 'a binary file', file: () => write('binary.yaml', Buffer.from([0, 1, 2, 0xff, 0xfe, 0, 0x80])), message: /binary|not.*text|NUL/i },
  { name: 'invalid YAML', file: () => write('bad.yaml', 'version: 1\nhosts: [\n  - id: h1\n'), message: /YAML|line/i },
  { name: 'a schema error', file: () => write('schema.yaml', VALID.replace('cpu: intel-spr', 'cpu: pentium-4')), message: /hosts\[0\]\.cpu/ },
  { name: 'an unknown key', file: () => write('unknown.yaml', VALID.replace('pcpus: 2', 'pcpus: 2\n    pcpu: 3')), message: /hosts\[0\]\.pcpu.*unknown key/ },
  { name: 'a wrong vpmu mode', file: () => write('mode.yaml', VALID + '    vpmu:\n      mode: fast\n'), message: /vms\[0\]\.vpmu\.mode: expected one of none\|emulated\|passthrough\|paravirt/ },
  { name: 'a directory', file: () => dir, message: /directory/ },
  { name: 'a wrong type', file: () => write('type.yaml', VALID.replace('pcpus: 2', 'pcpus: many')), message: /hosts\[0\]\.pcpus/ },
  { name: 'a negative duration', file: () => write('neg.yaml', VALID.replace('duration: 5ms', 'duration: -5ms')), message: /duration/ },
  { name: 'a unit-less duration', file: () => write('unitless.yaml', VALID.replace('duration: 5ms', 'duration: "100"')), message: /duration.*unit/i },
  { name: 'a reference to a missing host', file: () => write('nohost.yaml', VALID.replace('    host: h1', '    host: h9')), message: /vms\[0\]\.host.*h9/ },
  {
    name: 'a reference to a missing VM',
    file: () => write('novm.yaml', VALID + 'timeline:\n  - at: 1ms\n    migrate: { vm: vm7, to: h1 }\n'),
    message: /timeline\[0\]\.migrate\.vm.*vm7/,
  },
  { name: 'an impossible affinity', file: () => write('aff.yaml', VALID + '    affinity: [5]\n'), message: /vms\[0\]\.affinity.*pCPU 5 does not exist/ },
  { name: 'more vCPUs than pCPUs', file: () => write('vcpus.yaml', VALID + '    vcpus: 3\n'), message: /vms\[0\]\.vcpus.*3 vCPUs exceed host h1's 2 pCPUs/ },
  // Names and values the models would otherwise meet only at run time (docs/scenario.md "Limits").
  { name: 'an unknown cost parameter', file: () => write('cost-name.yaml', VALID + 'costs:\n  msrTrapCycle: 1\n'), message: /costs\.msrTrapCycle: unknown cost parameter \(did you mean "msrTrapCycles"\?\)/ },
  { name: 'a cost out of range', file: () => write('cost-range.yaml', VALID + 'costs:\n  perfEventCreateNs: 5e9\n'), message: /costs\.perfEventCreateNs: must be at most 1000000000/ },
  { name: 'an IPC above any core', file: () => write('ipc.yaml', VALID + '    workload: { profile: specint, overrides: { ipc: 100 } }\n'), message: /overrides\.ipc: must be at most 8 \(.*retires/ },
  { name: 'a clock no silicon reaches', file: () => write('ghz.yaml', VALID + '    workload: { overrides: { cpuGhz: 200 } }\n'), message: /overrides\.cpuGhz: must be at most 10 / },
  { name: 'a zero clock', file: () => write('ghz0.yaml', VALID + '    workload: { overrides: { refGhz: 0 } }\n'), message: /overrides\.refGhz: must be at least 0\.1 / },
  {
    name: 'a fractional event count in a fault',
    file: () => write('fault-int.yaml', VALID + 'timeline:\n  - at: 1ms\n    fault: { kind: pmi-overcount, target: vm1, params: { events: 1.5 } }\n'),
    message: /timeline\[0\]\.fault\.params\.events: expected a whole number, got 1\.5/,
  },
  {
    name: 'a __proto__ key',
    file: () => write('proto.yaml', VALID + 'timeline:\n  - at: 1ms\n    fault: { kind: pmi-skid, target: vm1, params: { __proto__: 1 } }\n'),
    message: /timeline\[0\]\.fault\.params\.__proto__: "__proto__" is a reserved name/,
  },
  { name: 'a constructor key', file: () => write('ctor.yaml', VALID + 'costs:\n  constructor: 1\n'), message: /costs\.constructor: "constructor" is a reserved name/ },
  { name: 'YAML nested 5000 deep', file: () => write('deep.yaml', VALID + 'x-deep: ' + '['.repeat(5000) + ']'.repeat(5000) + '\n'), message: /:11: mappings and lists are nested more than 64 levels deep/ },
  { name: 'an epoch of 1ns', file: () => write('epoch.yaml', VALID.replace('duration: 5ms', 'duration: 5ms\nepoch: 1ns')), message: /epoch: must be at least 1us \(/ },
  { name: 'a sample interval of 1ns', file: () => write('si.yaml', VALID.replace('duration: 5ms', 'duration: 5ms\nsampleInterval: 1ns')), message: /sampleInterval: must be at least 10us \(.*perf_event_max_sample_rate/ },
  { name: 'a timeslice of 1ns', file: () => write('ts.yaml', VALID.replace('pcpus: 2', 'pcpus: 2\n    timeslice: 1ns')), message: /hosts\[0\]\.timeslice: must be at least 1us/ },
  {
    name: 'a noise period of 1ns',
    file: () => write('noise.yaml', VALID.replace('pcpus: 2', 'pcpus: 2\n    noise: [{ period: 1ns, runtime: 1ns }]')),
    message: /hosts\[0\]\.noise\[0\]\.period: must be at least 50us \(.*timer_slack_ns/,
  },
  { name: 'an unbounded pvEventLimit', file: () => write('pvlimit.yaml', VALID + '    vpmu: { mode: paravirt, pvEventLimit: 100000 }\n'), message: /vms\[0\]\.vpmu\.pvEventLimit: must be at most 1024 \(KVM_MAX_PARAVIRT_PERF_EVENT/ },
];

describe.each(['validate', 'run'])('vpmu %s on bad input', (command) => {
  it.each(cases)('$name → exit 2, one clear sentence, no stack trace', ({ file, message }) => {
    const out = tempDir('out');
    const args = command === 'run' ? ['run', file(), '--out', out] : ['validate', file()];
    const r = vpmu(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).toMatch(message);
    expect(hasStackTrace(r.stderr)).toBe(false);
    if (command === 'run') expect(fs.readdirSync(out)).toEqual([]);
  });
});

describe('vpmu command line', () => {
  it('accepts a valid scenario', () => {
    const r = vpmu(['validate', write('ok.yaml', VALID)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/valid scenario "tiny" \(1 host, 1 VM/);
  });

  it('refuses an unwritable --out before simulating anything', () => {
    const file = write('ok2.yaml', VALID);
    const notADir = write('plain-file', 'x');
    const r = vpmu(['run', file, '--out', path.join(notADir, 'sub')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: cannot write to the output directory .* choose another --out\./);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it('refuses an --out under procfs at once (recursive mkdir there never returns)', () => {
    const r = vpmu(['run', write('ok-proc.yaml', VALID), '--out', '/proc/vpmu-x/y'], { timeoutMs: 20_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: cannot write to the output directory \/proc\/vpmu-x\/y \(ENOENT\); choose another --out\./);
  });

  it('warns about a merely large run with its projected size, and still accepts it', () => {
    const r = vpmu(['validate', write('large.yaml', VALID.replace('duration: 5ms', 'duration: 1000s'))]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning: a large run: about 1\.00 million epochs \(duration 1000s \/ epoch 1ms\); .* more than 800 MB/);
  });

  it('warns at validate about a fault kind the run will refuse', () => {
    const r = vpmu(['validate', write('fault-kind.yaml', VALID + 'timeline:\n  - at: 1ms\n    fault: { kind: pmi-skidd, target: vm1 }\n')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: timeline\[0\]\.fault\.kind: unknown fault kind "pmi-skidd" \(did you mean "pmi-skid"\?\); the run refuses this action with EINVAL/);
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['run'], /missing FILE/],
    [['run', 'a.yaml', '--sead', '3'], /unknown option --sead/],
    [['run', 'a.yaml', '--seed', 'abc'], /--seed must be a non-negative integer/],
    [['run', 'a.yaml', '--seed'], /--seed needs a value/],
    [['validate', 'a.yaml', 'b.yaml'], /unexpected argument "b.yaml"/],
  ])('%j → exit 2 with a clear sentence', (args, message) => {
    const r = vpmu(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it('prints usage for help and exit 2 with usage when no command is given', () => {
    expect(vpmu(['help']).stdout).toMatch(/usage: vpmu <command>/);
    expect(vpmu([]).code).toBe(2);
  });

  it('runs a scenario: progress lines, the summary table and the paths it wrote', () => {
    const out = tempDir('cli-run');
    const r = vpmu(['run', write('ok3.yaml', VALID), '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/running tiny 100% \(epoch 5\/5/);
    expect(r.stdout).toMatch(/^run tiny-s1-/);
    expect(r.stdout).toMatch(/vm1\s+h1\s+emulated/);
    expect(r.stdout).toMatch(/digest: [0-9a-f]{64}/);
    expect(r.stdout).toContain(path.join(out, 'summary.json').replace(process.cwd() + path.sep, ''));
    expect(fs.existsSync(path.join(out, 'recording.vpmurec'))).toBe(true);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(Object.keys(summary)).toEqual(expect.arrayContaining(['schema', 'run', 'digest', 'events', 'vms', 'hosts', 'findings']));
  });
});
