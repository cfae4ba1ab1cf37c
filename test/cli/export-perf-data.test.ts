// `vpmu export REC --format perf-data`: the guest's perf sessions read back by the real perf
// (Debian linux-perf, installed by scripts/test-deps.sh): perf script and perf report open every
// perf.data without a warning, one sample per PMI the guest received, in time order, with the
// guest's task names and resolved symbols; perf stat output parses by perf's documented columns;
// a migrated VM's file spans both hosts.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePerfStatCsv, PERF_STAT_CSV_COLUMNS } from '@vpmu/perf-data';
import { decodeEventBatch } from '@vpmu/proto';
import { readRecording, RECORDING_FILE_NAME } from '@vpmu/recording';
import type { GuestThrottleEvent, MigrationPhaseEvent, PmiEvent, SimEvent } from '@vpmu/sim';
import type { RunSummary } from '@vpmu/summary';
import { vpmu } from '../support/cli';
import { runScenarioText, SCENARIOS_DIR, tempDir } from '../support/run-scenario';

interface PerfRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

function perf(args: string[]): PerfRun {
  // C locale: the numbers perf prints do not depend on the machine's locale.
  const r = spawnSync('perf', args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C', PAGER: 'cat' }, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`perf could not run (${r.error.message}); scripts/test-deps.sh installs linux-perf`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under dir (relative path -> bytes), sorted by path; empty when dir does not exist. */
function filesUnder(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!fs.existsSync(dir)) return out;
  for (const rel of (fs.readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const p = path.join(dir, rel);
    if (fs.statSync(p).isFile()) out.set(rel, fs.readFileSync(p));
  }
  return out;
}

interface Recorded {
  dir: string;
  rec: string;
  summary: RunSummary;
  events: SimEvent[];
  out: string;
  stdout: string;
}

function scenario(file: string, edit: (text: string) => string): string {
  const text = edit(fs.readFileSync(path.join(SCENARIOS_DIR, file), 'utf8'));
  return text;
}

/** Records the scenario text, exports it as perf-data with the real CLI, installs the perf maps. */
async function recordAndExport(text: string): Promise<Recorded> {
  const run = await runScenarioText(text);
  const rec = path.join(run.outDir, RECORDING_FILE_NAME);
  const summary = JSON.parse(fs.readFileSync(path.join(run.outDir, 'summary.json'), 'utf8')) as RunSummary;
  const events = readRecording(rec).epochs.flatMap((e) => e.frames.flatMap((f) => decodeEventBatch(f.batch)));
  const out = path.join(tempDir('perfexport'), 'perf');
  const r = vpmu(['export', run.outDir, '--format', 'perf-data', '--out', out]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  // The printed instructions: copy each map to where perf looks for it.
  for (const m of r.stdout.matchAll(/^ {2}cp (\S+) (\/tmp\/perf-\d+\.map)$/gm)) fs.copyFileSync(m[1]!, m[2]!);
  // The run itself wrote the same files (the guest-vm service builds them, the aggregator writes
  // them under DIR/guest/<vm>/), byte for byte, and lists each in summary.json.
  const written = filesUnder(path.join(run.outDir, 'guest'));
  expect([...written.keys()]).toEqual([...filesUnder(out).keys()]);
  for (const [rel, bytes] of written) expect({ rel, same: bytes.equals(fs.readFileSync(path.join(out, rel))) }).toEqual({ rel, same: true });
  expect((summary.guestPerfFiles ?? []).map((f) => path.relative('guest', f.path)).sort()).toEqual([...written.keys()]);
  return { dir: run.outDir, rec, summary, events, out, stdout: r.stdout };
}

interface ScriptSample {
  comm: string;
  tid: number;
  cpu: number;
  timeNs: number;
  event: string;
  ip: string;
  sym: string;
}

function perfScript(file: string): ScriptSample[] {
  const r = perf(['script', '-i', file, '--ns', '-F', 'comm,tid,cpu,time,event,ip,sym']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const m = /^\s*(\S+)\s+(\d+)\s+\[(\d+)\]\s+(\d+)\.(\d{9}):\s+(\S+):\s+([0-9a-f]+)\s+(.+?)\s*$/.exec(line);
      if (!m) throw new Error(`unexpected perf script line: ${line}`);
      return { comm: m[1]!, tid: Number(m[2]), cpu: Number(m[3]), timeNs: Number(m[4]) * 1e9 + Number(m[5]), event: m[6]!, ip: m[7]!, sym: m[8]! };
    });
}

/** perf report --stdio: exit 0, nothing on stderr, the sample count of each event section. */
function perfReportCounts(file: string): { counts: Map<string, number>; stdout: string } {
  const r = perf(['report', '--stdio', '-i', file, '--sort', 'comm,sym']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const counts = new Map<string, number>();
  for (const m of r.stdout.matchAll(/^# Samples: (\d+)\s+of event '([^']+)'$/gm)) counts.set(m[2]!, (counts.get(m[2]!) ?? 0) + Number(m[1]));
  return { counts, stdout: r.stdout };
}

const guestPmis = (events: SimEvent[], vm: string): PmiEvent[] => events.filter((e): e is PmiEvent => e.kind === 'pmi' && e.owner === 'guest' && e.at.vm === vm);

function mapSymbols(out: string, vm: string): Set<string> {
  const map = fs.readdirSync(path.join(out, vm)).find((f) => /^perf-\d+\.map$/.test(f))!;
  return new Set(fs.readFileSync(path.join(out, vm, map), 'utf8').trim().split('\n').map((l) => l.split(' ').slice(2).join(' ')));
}

describe('vpmu export --format perf-data, read by the real perf', () => {
  // The RFC experiment, 30 ms: basic-sampling 0-15 ms, multiplex-sampling 15-30 ms.
  const RFC_MS = 30;
  let rfc: Recorded;
  beforeAll(async () => {
    rfc = await recordAndExport(
      scenario('passthrough-rfc-experiment.yaml', (t) => t.replace('duration: 200ms', `duration: ${RFC_MS}ms`).replace('stop: 100ms', 'stop: 15ms').replace('start: 100ms', 'start: 15ms')),
    );
  });

  it('writes one perf.data per record session and prints how to read it', () => {
    expect(fs.readdirSync(path.join(rfc.out, 'guest')).sort()).toEqual(['basic-sampling.perf.data', 'multiplex-sampling.perf.data', 'perf-4200000.map']);
    expect(rfc.stdout).toContain(`perf script -i ${path.join(rfc.out, 'guest', 'basic-sampling.perf.data')}`);
    expect(rfc.stdout).toContain(`perf report --stdio -i ${path.join(rfc.out, 'guest', 'basic-sampling.perf.data')}`);
    expect(rfc.stdout).toContain('/tmp/perf-4200000.map');
    expect(fs.existsSync(rfc.out + '.partial')).toBe(false);
  });

  it.each([
    ['basic-sampling', 0, 15],
    ['multiplex-sampling', 15, RFC_MS],
  ])('%s: perf script and perf report show one sample per delivered PMI, in time order, named and resolved', (session, fromMs, toMs) => {
    const file = path.join(rfc.out, 'guest', `${session}.perf.data`);
    const samples = perfScript(file);
    const delivered = guestPmis(rfc.events, 'guest').filter((p) => !p.lost && p.overflowNs >= fromMs * 1e6 && p.overflowNs < toMs * 1e6);
    expect(samples.length).toBeGreaterThan(50);
    expect(samples).toHaveLength(delivered.length);
    // Per event: the guest's own sample count (summary guestPerf, record:<session>).
    const reading = rfc.summary.vms['guest']!.guestPerf.find((g) => g.command === `record:${session}` && g.event === 'instructions')!;
    expect(samples.filter((s) => s.event === 'instructions')).toHaveLength(reading.samples);
    const { counts, stdout } = perfReportCounts(file);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(delivered.length);
    expect(stdout).not.toContain('[unknown]');
    // Times: the PMIs' own, monotonic, inside the run.
    expect(samples.map((s) => s.timeNs)).toEqual(delivered.map((p) => p.atNs));
    for (let i = 1; i < samples.length; i++) expect(samples[i]!.timeNs).toBeGreaterThanOrEqual(samples[i - 1]!.timeNs);
    expect(samples[samples.length - 1]!.timeNs).toBeLessThan(RFC_MS * 1e6);
    // CPU = vCPU; comm = the guest task; every IP resolves to a function of the map.
    expect(samples.map((s) => s.cpu)).toEqual(delivered.map((p) => p.at.vcpu));
    const symbols = mapSymbols(rfc.out, 'guest');
    for (const s of samples) {
      expect(s.comm).toMatch(new RegExp(`^specint/${s.cpu}\\.[01]$`));
      expect(symbols.has(s.sym.replace(/\+0x[0-9a-f]+$/, ''))).toBe(true);
    }
  });

  it('summary.json names each record session\'s top functions as perf ranks them by sampled period', () => {
    for (const session of ['basic-sampling', 'multiplex-sampling']) {
      const entry = rfc.summary.guestPerfFiles!.find((f) => f.path === `guest/guest/${session}.perf.data`)!;
      const r = perf(['script', '-i', path.join(rfc.out, 'guest', `${session}.perf.data`), '-F', 'period,ip,sym']);
      expect(r.status).toBe(0);
      const bySym = new Map<string, { period: number; samples: number }>();
      let total = 0;
      for (const line of r.stdout.trim().split('\n')) {
        const m = /^\s*(\d+)\s+[0-9a-f]+\s+(\S+?)(\+0x[0-9a-f]+)?\s*$/.exec(line)!;
        const acc = bySym.get(m[2]!) ?? { period: 0, samples: 0 };
        acc.period += Number(m[1]);
        acc.samples++;
        bySym.set(m[2]!, acc);
        total += Number(m[1]);
      }
      const ranked = [...bySym.entries()].sort(([an, a], [bn, b]) => b.period - a.period || (an < bn ? -1 : 1)).slice(0, 5);
      expect(entry.topFunctions!.map((t) => t.name)).toEqual(ranked.map(([name]) => name));
      for (const [i, [, a]] of ranked.entries()) {
        expect(entry.topFunctions![i]!.samples).toBe(a.samples);
        expect(entry.topFunctions![i]!.overheadPct).toBeCloseTo((100 * a.period) / total, 3);
      }
    }
  });

  it('is deterministic: a second export writes the same bytes', () => {
    const again = path.join(tempDir('perfexport'), 'again');
    expect(vpmu(['export', rfc.dir, '--format', 'perf-data', '--out', again]).code).toBe(0);
    for (const f of ['basic-sampling.perf.data', 'multiplex-sampling.perf.data', 'perf-4200000.map']) {
      expect(fs.readFileSync(path.join(again, 'guest', f)).equals(fs.readFileSync(path.join(rfc.out, 'guest', f)))).toBe(true);
    }
  });

  it.each([
    { name: 'a directory that is not empty', out: () => rfc.out, message: /is a directory that is not empty; give a new or empty directory/ },
    { name: 'a file', out: () => path.join(rfc.dir, 'summary.json'), message: /is a file; --format perf-data writes a directory/ },
    { name: 'the recording itself', out: () => rfc.rec, message: /is the input .*; an output never overwrites an input: choose another --out\./ },
    { name: 'in a directory that does not exist', out: () => '/nonexistent-dir/perf', message: /does not exist; create it/ },
  ])('--out $name → exit 2, one sentence, nothing written', ({ out, message }) => {
    const r = vpmu(['export', rfc.dir, '--format', 'perf-data', '--out', out()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('both sessions together hold every PMI the summary says the VM received', () => {
    const vm = rfc.summary.vms['guest']!;
    const total = ['basic-sampling', 'multiplex-sampling'].reduce((n, s) => n + perfScript(path.join(rfc.out, 'guest', `${s}.perf.data`)).length, 0);
    expect(total).toBe(vm.pmis.delivered);
  });

  it('perf stat sessions: the text table and the -x, CSV by perf’s documented columns, multiplexing shown', async () => {
    const many = `[instructions, cycles, ${Array.from({ length: 10 }, () => 'branches').join(', ')}, ref-cycles]`;
    const r = await recordAndExport(
      scenario('quickstart.yaml', (t) => {
        const short = t.replace(/^duration: .*$/m, 'duration: 40ms');
        const i = short.indexOf('id: vm-passthrough');
        return short.slice(0, i) + short.slice(i).replace('events: [instructions, cycles]', `events: ${many}`);
      }),
    );
    for (const [vmId, vm] of Object.entries(r.summary.vms)) {
      const text = fs.readFileSync(path.join(r.out, vmId, 'stat.perf-stat.txt'), 'utf8');
      expect(text).toContain(' Performance counter stats for ');
      expect(text).toMatch(/seconds time elapsed/);
      const rows = parsePerfStatCsv(fs.readFileSync(path.join(r.out, vmId, 'stat.perf-stat.csv'), 'utf8'));
      const raw = fs.readFileSync(path.join(r.out, vmId, 'stat.perf-stat.csv'), 'utf8').trim().split('\n');
      for (const line of raw) expect(line.split(',')).toHaveLength(PERF_STAT_CSV_COLUMNS.length);
      for (const row of rows) {
        const g = vm.guestPerf.find((x) => x.command === 'stat:stat' && x.event === row.eventName)!;
        expect(g).toBeDefined();
        if (g.timeRunningNs === 0) {
          expect(row.counterValue).toMatch(/^<not (counted|supported)>$/);
          continue;
        }
        // perf's own scaling of the raw count lands on the guest's scaled count (to the truncation).
        expect(Math.abs(Number(row.counterValue) - g.count)).toBeLessThanOrEqual(Math.ceil(g.timeEnabledNs / g.timeRunningNs) + 1);
        expect(Number(row.enabledPercent)).toBe(Math.floor((100 * g.timeRunningNs) / g.timeEnabledNs));
        expect(Number(row.runTimeNs)).toBe(g.timeRunningNs);
      }
    }
    const pt = fs.readFileSync(path.join(r.out, 'vm-passthrough', 'stat.perf-stat.txt'), 'utf8');
    expect(pt).toMatch(/branches\s+\(\d+\.\d\d%\)/);
  });
});

describe('vpmu export --format perf-data of a guest without a vPMU', () => {
  it('perf stat shows every event <not supported>, as perf_event_open fails in the guest', async () => {
    const r = await recordAndExport(
      [
        'version: 1',
        'name: no-vpmu',
        'duration: 5ms',
        'hosts:',
        '  - { id: h1, cpu: intel-spr, pcpus: 2 }',
        'vms:',
        '  - id: vm1',
        '    host: h1',
        '    vpmu: { mode: none }',
        '    guestPerf:',
        '      - { id: stat, command: stat, events: [instructions, cycles] }',
        '',
      ].join('\n'),
    );
    const rows = parsePerfStatCsv(fs.readFileSync(path.join(r.out, 'vm1', 'stat.perf-stat.csv'), 'utf8'));
    expect(rows.map((row) => [row.counterValue, row.eventName])).toEqual([
      ['<not supported>', 'instructions'],
      ['<not supported>', 'cycles'],
    ]);
    expect(fs.readFileSync(path.join(r.out, 'vm1', 'stat.perf-stat.txt'), 'utf8')).toMatch(/^ {3}<not supported> {6}instructions/m);
  });
});

describe('vpmu export --format perf-data of a guest that loses PMIs', () => {
  it('every lost PMI is a lost sample: perf report totals them and warns only about the loss', async () => {
    // The RFC experiment on the shared PMI vector with PMIs skidding past VM exits: the host's
    // perf handler takes some guest PMIs (pmi-misattributed), the guest never sees them.
    const r = await recordAndExport(
      scenario('passthrough-rfc-experiment.yaml', (t) =>
        t
          .replace('duration: 200ms', 'duration: 30ms')
          .replace('stop: 100ms', 'stop: 15ms')
          .replace('start: 100ms', 'start: 15ms')
          .replace('vpmu: { mode: passthrough }', 'vpmu: { mode: passthrough, pmiVector: shared }')
          .concat('timeline:\n  - at: 2ms\n    fault: { kind: pmi-skid, target: guest, duration: 10ms, params: { meanNs: 50us } }\n'),
      ),
    );
    // The fault ends at 12 ms, inside basic-sampling (0-15 ms): every lost PMI is that session's.
    const pmis = r.summary.vms['guest']!.pmis;
    expect(pmis.lost).toBeGreaterThan(0);
    const inSession = guestPmis(r.events, 'guest').filter((p) => p.overflowNs < 15e6);
    expect(inSession.filter((p) => p.lost)).toHaveLength(pmis.lost);
    const delivered = inSession.filter((p) => !p.lost).length;
    const file = path.join(r.out, 'guest', 'basic-sampling.perf.data');
    expect(r.stdout).toContain(`basic-sampling.perf.data  (${delivered} samples, ${pmis.lost} lost)`);
    const rep = perf(['report', '--stdio', '-i', file]);
    expect(rep.status).toBe(0);
    expect(rep.stdout).toContain(`# Total Lost Samples: ${pmis.lost}\n`);
    const total = delivered + pmis.lost;
    const pct = ((100 * pmis.lost) / total).toFixed(2);
    expect(rep.stderr).toBe(`Warning:\nProcessed ${total} samples and lost ${pct}%!\n\n`);
    const samples = perf(['script', '-i', file]);
    expect(samples.status).toBe(0);
    expect(samples.stdout.trim().split('\n')).toHaveLength(delivered);
  });
});

describe('vpmu export --format perf-data of a migrated VM', () => {
  it('one perf.data spans both hosts, every PMI once, no gap beyond the downtime', async () => {
    // live-migration.yaml with a perf record session in place of the perf stat one (a VM runs
    // one guest perf session at a time: the sessions do not share the vPMU's counters).
    const r = await recordAndExport(
      scenario('live-migration.yaml', (t) =>
        t
          .replace('duration: 200ms', 'duration: 140ms')
          .replace('{ id: stat, command: stat, events: [instructions, cycles, branches] }', '{ id: rec, command: record, events: [instructions, cycles], sample: { freq: 1000 }, allCpus: true }'),
      ),
    );
    expect(r.summary.vms['vm1']!.migrations.length).toBeGreaterThanOrEqual(1);
    const file = path.join(r.out, 'vm1', 'rec.perf.data');
    const samples = perfScript(file);
    const pmis = guestPmis(r.events, 'vm1').filter((p) => !p.lost);
    expect(samples).toHaveLength(r.summary.vms['vm1']!.pmis.delivered);
    expect(samples).toHaveLength(pmis.length);
    const resume = r.events.find((e): e is MigrationPhaseEvent => e.kind === 'migrationPhase' && e.phase === 'resume')!;
    const stop = r.events.find((e): e is MigrationPhaseEvent => e.kind === 'migrationPhase' && e.phase === 'stop-and-copy')!;
    const onSrc = pmis.filter((p) => p.at.host === 'src').length;
    const onDst = pmis.filter((p) => p.at.host === 'dst').length;
    expect(onSrc).toBeGreaterThan(0);
    expect(onDst).toBeGreaterThan(0);
    expect(samples.filter((s) => s.timeNs < resume.atNs)).toHaveLength(onSrc);
    expect(samples.filter((s) => s.timeNs >= resume.atNs)).toHaveLength(onDst);
    // No duplicate: one sample per (time, vCPU, event); no gap: the longest silence is the
    // stop-and-copy downtime plus at most one guest tick.
    const keys = new Set(samples.map((s) => `${s.timeNs}/${s.cpu}/${s.event}`));
    expect(keys.size).toBe(samples.length);
    const times = samples.map((s) => s.timeNs);
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
    const maxGapNs = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
    expect(maxGapNs).toBeLessThanOrEqual(stop.durationNs + 4_000_000);
    const { counts } = perfReportCounts(file);
    expect(counts.get('instructions')! + counts.get('cycles')!).toBe(samples.length);
  });
});

describe('vpmu export --format perf-data of a guest that throttles', () => {
  it('THROTTLE / UNTHROTTLE: one record per throttle change of the guest kernel, counted by the real perf (perf_log_throttle, kernel/events/core.c)', async () => {
    // perf record -c 2000 on instructions and cycles through a passthrough vPMU: a PMI every few
    // microseconds, more than max_sample_rate / HZ = 100000 / 250 = 400 per 4 ms tick, so
    // __perf_event_account_interrupt stops the event and the next tick restarts it.
    const r = await recordAndExport(
      [
        'version: 1',
        'name: guest-throttle',
        'seed: 7',
        'duration: 16ms',
        'hosts:',
        '  - { id: h1, cpu: intel-spr, pcpus: 2 }',
        'vms:',
        '  - id: vm1',
        '    host: h1',
        '    vpmu: { mode: passthrough }',
        '    workload: specint',
        '    guestPerf:',
        '      - { id: rec, command: record, events: [instructions, cycles], sample: { period: 2000 } }',
        '',
      ].join('\n'),
    );
    const changes = r.events.filter((e): e is GuestThrottleEvent => e.kind === 'guestThrottle' && e.at.vm === 'vm1');
    const throttles = changes.filter((e) => e.throttled).length;
    const unthrottles = changes.length - throttles;
    expect(throttles).toBeGreaterThan(1);
    expect(unthrottles).toBeGreaterThan(0);
    // Each event passed the limit: the 401st interrupt of a tick is the one that stops it.
    for (const g of r.summary.vms['vm1']!.guestPerf.filter((x) => x.command === 'record:rec')) expect(g.samples).toBeGreaterThan(400);
    const file = path.join(r.out, 'vm1', 'rec.perf.data');
    const stats = perf(['report', '--stats', '-i', file]);
    expect(stats.status).toBe(0);
    const count = (what: string): number => Number(new RegExp(`^\\s*${what} events:\\s+(\\d+)`, 'm').exec(stats.stdout)?.[1] ?? 0);
    expect(count('THROTTLE')).toBe(throttles);
    expect(count('UNTHROTTLE')).toBe(unthrottles);
    expect(count('SAMPLE')).toBe(r.summary.vms['vm1']!.pmis.delivered);
    // perf script -D dumps each record with its timestamp: the model's own times, in order.
    const dump = perf(['script', '-D', '-i', file]);
    expect(dump.status).toBe(0);
    const dumped = [...dump.stdout.matchAll(/^\d+ (\d+) 0x[0-9a-f]+ \[0x[0-9a-f]+\]: PERF_RECORD_(UN)?THROTTLE$/gm)].map((m) => ({ atNs: Number(m[1]), throttled: m[2] === undefined }));
    expect(dumped).toEqual(changes.map((e) => ({ atNs: e.atNs, throttled: e.throttled })));
    // summary.json and the export's listing carry the session's throttle count.
    const entry = r.summary.guestPerfFiles!.find((f) => f.path === 'guest/vm1/rec.perf.data')!;
    expect([entry.throttles, entry.unthrottles]).toEqual([throttles, unthrottles]);
    expect(r.stdout).toMatch(new RegExp(`rec\\.perf\\.data {2}\\(\\d+ samples, 0 lost, throttled ${throttles} time\\(s\\)\\)`));
  });
});
