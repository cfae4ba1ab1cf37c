// The perf.data writer checked by the real perf (Debian's linux-perf, 6.1; scripts/test-deps.sh
// installs it): a synthetic guest session is written to a temp dir with its perf map, then
// `perf script`, `perf report` and `perf report --stats/--header-only` must read it back exactly.
// Set PERF_DATA_SAMPLE_DIR to keep the file and perf's outputs (docs/perf-data.md quotes them).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPerfMap, perfMapPath, writePerfData } from './index';
import {
  PERF_ATTR_SIZE_VER7,
  PERF_COUNT_HW_CPU_CYCLES,
  PERF_FILE_HEADER_SIZE,
  PERF_SAMPLE_CALLCHAIN,
  PERF_SAMPLE_CPU,
  PERF_SAMPLE_IDENTIFIER,
  PERF_SAMPLE_IP,
  PERF_SAMPLE_PERIOD,
  PERF_SAMPLE_READ,
  PERF_SAMPLE_TID,
  PERF_SAMPLE_TIME,
  PERF_TYPE_HARDWARE,
} from './perf-event.constants';
import type { PerfDataSession, PerfSampleRecord } from './perf-record.types';
import {
  SYNTHETIC_EVENTS,
  SYNTHETIC_LOST_RECORDS,
  SYNTHETIC_LOST_SAMPLES,
  SYNTHETIC_PID,
  type SyntheticThread,
  SYNTHETIC_SAMPLE_COUNT,
  SYNTHETIC_SYMBOLS,
  syntheticSession,
} from './testing/synthetic-session.fixture';

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

/** The one warning perf prints for a file with PERF_RECORD_LOST (ui__warning in session.c). */
const lostWarning = (): RegExp => /Warning:\nProcessed \d+ events and lost (\d+) chunks!\n\nCheck IO\/CPU overload!\n\n/g;

/** stderr may hold perf's report of the one LOST record, and nothing else (no warning about the file). */
function expectOnlyLostWarning(stderr: string): void {
  for (const m of stderr.matchAll(lostWarning())) expect(m[1]).toBe('1');
  expect(stderr.replace(lostWarning(), '')).toBe('');
}

function symbolAt(ip: bigint): string {
  const sym = SYNTHETIC_SYMBOLS.find((s) => ip >= BigInt(s.startAddr) && ip < BigInt(s.startAddr) + BigInt(s.sizeBytes));
  if (!sym) throw new Error(`fixture ip 0x${ip.toString(16)} outside every symbol`);
  return sym.name;
}

function eventNameOf(id: bigint): string {
  return SYNTHETIC_EVENTS.find((e) => e.ids.includes(id))!.name;
}

const keepDir = process.env.PERF_DATA_SAMPLE_DIR;
/**
 * perf reads the symbols from the shared path /tmp/perf-<pid>.map: each jest process uses its own
 * pids (still above PID_MAX_LIMIT) so that concurrent runs never remove each other's map; the
 * docs samples (PERF_DATA_SAMPLE_DIR) use the fixture's fixed pids.
 */
const PID = keepDir ? SYNTHETIC_PID : SYNTHETIC_PID + 4 * process.pid;
const EXAMPLE_PID = keepDir ? 4_200_100 : PID + 2;
let threads: SyntheticThread[] = [];

function commOf(tid: number): string {
  return threads.find((t) => t.tid === tid)!.comm;
}

describe('perf.data writer read back by perf 6.1', () => {
  let dir: string;
  let file: string;
  let session: PerfDataSession;
  let samples: PerfSampleRecord[];
  let bytes: Buffer;
  const mapPath = perfMapPath(PID);

  const keep = (name: string, text: string): void => {
    if (keepDir) writeFileSync(join(keepDir, name), text);
  };

  beforeAll(() => {
    const v = perf(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/^perf version \d+\.\d+/);
    ({ session, samples, threads } = syntheticSession(PID));
    bytes = writePerfData(session);
    dir = keepDir ?? mkdtempSync(join(tmpdir(), 'perf-data-spec-'));
    mkdirSync(dir, { recursive: true });
    file = join(dir, 'guest.perf.data');
    writeFileSync(file, bytes);
    // perf looks for the symbols of the "//anon" mapping of pid N at /tmp/perf-N.map.
    writeFileSync(mapPath, formatPerfMap(SYNTHETIC_SYMBOLS));
  });

  afterAll(() => {
    rmSync(mapPath, { force: true });
    if (!keepDir && dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is deterministic and laid out as perf_file_header says', () => {
    const again = writePerfData(syntheticSession(PID).session);
    expect(createHash('sha256').update(again).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(bytes.subarray(0, 8).toString('latin1')).toBe('PERFILE2');
    expect(bytes.readBigUInt64LE(8)).toBe(BigInt(PERF_FILE_HEADER_SIZE));
    expect(bytes.readBigUInt64LE(16)).toBe(BigInt(PERF_ATTR_SIZE_VER7 + 16));
    const attrsOffset = Number(bytes.readBigUInt64LE(24));
    expect(bytes.readBigUInt64LE(32)).toBe(BigInt(2 * (PERF_ATTR_SIZE_VER7 + 16)));
    // The first attr: type, size, config, sample_period, sample_type as the guest configured them.
    expect(bytes.readUInt32LE(attrsOffset)).toBe(SYNTHETIC_EVENTS[0]!.type);
    expect(bytes.readUInt32LE(attrsOffset + 4)).toBe(PERF_ATTR_SIZE_VER7);
    expect(bytes.readBigUInt64LE(attrsOffset + 16)).toBe(100_000n);
    expect(bytes.readBigUInt64LE(attrsOffset + 24) & PERF_SAMPLE_IDENTIFIER).toBe(PERF_SAMPLE_IDENTIFIER);
    const dataOffset = Number(bytes.readBigUInt64LE(40));
    const dataSize = Number(bytes.readBigUInt64LE(48));
    expect(dataOffset % 8).toBe(0);
    expect(dataOffset + dataSize).toBeLessThan(bytes.length);
  });

  it('perf script prints every sample as written: time, comm, tid, cpu, period, event, symbol', () => {
    const r = perf(['script', '-i', file, '--ns', '-F', 'comm,pid,tid,cpu,time,period,event,ip,sym,dso']);
    keep('perf-script.txt', r.stdout);
    expectOnlyLostWarning(r.stderr);
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.trim().length > 0);
    expect(lines).toHaveLength(SYNTHETIC_SAMPLE_COUNT);
    const re = /^\s*(\S+)\s+(\d+)\/(\d+)\s+\[(\d+)\]\s+(\d+)\.(\d{9}):\s+(\d+)\s+(\S+):\s+([0-9a-f]+) (\S+) \((\S+)\)$/;
    let prevTimeNs = -1n;
    const perEvent = new Map<string, number>();
    lines.forEach((line, i) => {
      const m = re.exec(line);
      expect(m).not.toBeNull();
      const [, comm, pid, tid, cpu, sec, nsec, period, event, ip, sym, dso] = m!;
      const s = samples[i]!;
      const timeNs = BigInt(sec!) * 1_000_000_000n + BigInt(nsec!);
      expect(timeNs).toBe(BigInt(s.timeNs));
      expect(timeNs).toBeGreaterThan(prevTimeNs);
      prevTimeNs = timeNs;
      expect(comm).toBe(commOf(s.tid));
      expect(Number(pid)).toBe(s.pid);
      expect(Number(tid)).toBe(s.tid);
      expect(Number(cpu)).toBe(s.cpu);
      expect(BigInt(period!)).toBe(BigInt(s.periodEvents));
      expect(event).toBe(eventNameOf(s.id));
      expect(BigInt(`0x${ip}`)).toBe(BigInt(s.ip));
      expect(sym).toBe(symbolAt(BigInt(s.ip)));
      expect(dso).toBe(mapPath);
      perEvent.set(event!, (perEvent.get(event!) ?? 0) + 1);
    });
    for (const e of SYNTHETIC_EVENTS) {
      expect(perEvent.get(e.name)).toBe(samples.filter((s) => e.ids.includes(s.id)).length);
    }
  });

  it('perf script shows the side records: COMM (exec), MMAP of //anon and the LOST count', () => {
    const r = perf(['script', '-i', file, '--show-task-events', '--show-mmap-events', '--show-lost-events', '-F', 'comm,tid,time,event']);
    keep('perf-script-side.txt', r.stdout);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`PERF_RECORD_COMM exec: vpmu-bench:${PID}/${PID}\n`);
    expect(r.stdout).toContain(`PERF_RECORD_COMM: vpmu-io:${PID}/${PID + 1}\n`);
    expect(r.stdout).toContain(`PERF_RECORD_MMAP ${PID}/${PID}: [0x400000(0x10000) @ 0]: x //anon\n`);
    expect(r.stdout).toMatch(/PERF_RECORD_MMAP -1\/0: \[0xffffffff81000000\(0x1000000\) @ 0xffffffff81000000\]: x \[kernel\.kallsyms\]_text/);
    expect(r.stdout).toMatch(new RegExp(`PERF_RECORD_LOST lost ${SYNTHETIC_LOST_RECORDS}\\b`));
  });

  it('perf report: per-event sample counts, event counts and overheads per command and symbol', () => {
    const r = perf(['report', '--stdio', '-i', file, '--sort', 'comm,dso,sym']);
    keep('perf-report.txt', r.stdout);
    keep('perf-report-stderr.txt', r.stderr);
    expect(r.status).toBe(0);
    // perf report does tell about the LOST record; nothing else may be on stderr.
    expect(r.stderr).toMatch(lostWarning());
    expectOnlyLostWarning(r.stderr);

    expect(r.stdout).toContain(`# Total Lost Samples: ${SYNTHETIC_LOST_SAMPLES}\n`);
    const sections = r.stdout.split(/^# Samples: /m).slice(1);
    expect(sections).toHaveLength(SYNTHETIC_EVENTS.length);
    for (const [i, e] of SYNTHETIC_EVENTS.entries()) {
      const mine = samples.filter((s) => e.ids.includes(s.id));
      const totalPeriod = mine.reduce((a, s) => a + BigInt(s.periodEvents), 0n);
      const section = sections[i]!;
      expect(section).toMatch(new RegExp(`^${mine.length}\\s+of event '${e.name}'`));
      expect(section).toContain(`# Event count (approx.): ${totalPeriod}`);
      const expected = new Map<string, bigint>();
      for (const s of mine) {
        const key = `${commOf(s.tid)} ${symbolAt(BigInt(s.ip))}`;
        expected.set(key, (expected.get(key) ?? 0n) + BigInt(s.periodEvents));
      }
      const rows = [...section.matchAll(new RegExp(`^\\s+(\\d+\\.\\d\\d)%\\s+(\\S+)\\s+\\[JIT\\] tid ${PID}\\s+\\[\\.\\] (\\S+)\\s*$`, 'gm'))];
      expect(rows).toHaveLength(expected.size);
      for (const [, pct, comm, sym] of rows) {
        const period = expected.get(`${comm} ${sym}`);
        expect(period).toBeDefined();
        expect(pct).toBe(((Number(period) * 100) / Number(totalPeriod)).toFixed(2));
      }
    }
  });

  it('perf report --stats counts every record kind written, LOST and THROTTLE/UNTHROTTLE included', () => {
    const r = perf(['report', '--stats', '-i', file]);
    keep('perf-report-stats.txt', r.stdout);
    expect(r.status).toBe(0);
    const count = (what: string): number => Number(new RegExp(`^\\s*${what} events:\\s+(\\d+)`, 'm').exec(r.stdout)?.[1]);
    expect(count('SAMPLE')).toBe(SYNTHETIC_SAMPLE_COUNT);
    expect(count('COMM')).toBe(2);
    expect(count('MMAP')).toBe(2); // the kernel text and the workload's //anon mapping
    expect(count('LOST')).toBe(1);
    expect(count('LOST_SAMPLES')).toBe(1);
    expect(count('THROTTLE')).toBe(1);
    expect(count('UNTHROTTLE')).toBe(1);
    expect(count('TOTAL')).toBe(session.records.length + 1);
  });

  it('perf report --header-only shows the simulated guest and the events as configured, never this host', () => {
    const r = perf(['report', '--header-only', '-i', file]);
    // "captured on" is the file's mtime, not from the bytes: drop it from the kept sample.
    keep('perf-header.txt', r.stdout.replace(/^# captured on .*\n/m, ''));
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const h = session.host;
    expect(r.stdout).toContain(`# hostname : ${h.hostname}\n`);
    expect(r.stdout).toContain(`# os release : ${h.osRelease}\n`);
    expect(r.stdout).toContain(`# perf version : ${h.perfVersion}\n`);
    expect(r.stdout).toContain(`# arch : ${h.arch}\n`);
    expect(r.stdout).toContain(`# nrcpus online : ${h.nrCpusOnline}\n`);
    expect(r.stdout).toContain(`# nrcpus avail : ${h.nrCpusAvailable}\n`);
    expect(r.stdout).toContain(`# cpudesc : ${h.cpuDesc}\n`);
    expect(r.stdout).toContain(`# cpuid : ${h.cpuId}\n`);
    expect(r.stdout).toContain(`# total memory : ${h.totalMemKb} kB\n`);
    expect(r.stdout).toContain(`# cmdline : ${h.cmdline.join(' ')} \n`);
    expect(r.stdout).toMatch(/# event : name = cycles, , id = \{ 101, 102 \}, size = 128, \{ sample_period, sample_freq \} = 100000, sample_type = IP\|TID\|TIME\|CPU\|PERIOD\|IDENTIFIER, disabled = 1, inherit = 1, exclude_hv = 1, mmap = 1, comm = 1, enable_on_exec = 1, task = 1, sample_id_all = 1\n/);
    expect(r.stdout).toMatch(/# event : name = instructions, , id = \{ 201, 202 \}, size = 128, config = 0x1, \{ sample_period, sample_freq \} = 200000,/);
    const first = samples[0]!.timeNs;
    const last = samples[samples.length - 1]!.timeNs;
    // perf prints seconds.microseconds, truncated.
    const usec = (ns: bigint | number): string => `${BigInt(ns) / 1_000_000_000n}.${((BigInt(ns) % 1_000_000_000n) / 1000n).toString().padStart(6, '0')}`;
    expect(r.stdout).toContain(`# time of first sample : ${usec(first)}\n`);
    expect(r.stdout).toContain(`# time of last sample : ${usec(last)}\n`);
    expect(r.stdout).not.toContain(hostname());
  });

  it('writes sample_freq with the freq bit, the exclude bits and read_format as given', () => {
    const { session: base } = syntheticSession(PID);
    const freqSession: PerfDataSession = {
      ...base,
      events: [{ ...base.events[0]!, samplePeriodEvents: undefined, sampleFreqHz: 4000, exclude: { kernel: true, hv: true, guest: true }, readFormat: 0x4n }, base.events[1]!],
    };
    const freqFile = join(dir, 'freq.perf.data');
    writeFileSync(freqFile, writePerfData(freqSession));
    const r = perf(['report', '--header-only', '-i', freqFile]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/name = cycles, , id = \{ 101, 102 \}, size = 128, \{ sample_period, sample_freq \} = 4000, sample_type = IP\|TID\|TIME\|CPU\|PERIOD\|IDENTIFIER, read_format = ID, disabled = 1, inherit = 1, exclude_kernel = 1, exclude_hv = 1, mmap = 1, comm = 1, freq = 1, enable_on_exec = 1, task = 1, sample_id_all = 1, exclude_guest = 1\n/);
  });

  it('MMAP2 for the workload mapping resolves the same symbols as MMAP', () => {
    const { session: base } = syntheticSession(PID);
    const records = base.records.map((r) => (r.kind === 'mmap' ? { ...r, kind: 'mmap2' as const, prot: 5, flags: 2, ino: 0 } : r));
    const events = base.events.map((e) => ({ ...e, mmap2: e.mmap }));
    const mmap2File = join(dir, 'mmap2.perf.data');
    writeFileSync(mmap2File, writePerfData({ ...base, events, records }));
    const side = perf(['script', '-i', mmap2File, '--show-mmap-events', '-F', 'comm,tid,event']);
    expect(side.status).toBe(0);
    expect(side.stdout).toContain(`PERF_RECORD_MMAP2 ${PID}/${PID}: [0x400000(0x10000) @ 0 00:00 0 0]: r-xp //anon\n`);
    const r = perf(['script', '-i', mmap2File, '-F', 'ip,sym']);
    expect(r.status).toBe(0);
    const syms = r.stdout.split('\n').filter((l) => l.trim()).map((l) => l.trim().split(/\s+/)[1]);
    expect(syms).toEqual(samples.map((s) => symbolAt(BigInt(s.ip))));
  });

  it('PERF_SAMPLE_CALLCHAIN: perf script resolves every frame, perf report -g builds the caller tree', () => {
    const { session: base } = syntheticSession(PID);
    // Every function was called from main_loop+0x40 (a return address inside main_loop).
    const callerIp = BigInt(SYNTHETIC_SYMBOLS[0]!.startAddr) + 0x40n;
    const events = base.events.map((e) => ({ ...e, sampleType: e.sampleType | PERF_SAMPLE_CALLCHAIN }));
    const records = base.records.map((r) => (r.kind === 'sample' ? { ...r, callchain: { user: [r.ip, callerIp] } } : r));
    const cgFile = join(dir, 'callchain.perf.data');
    writeFileSync(cgFile, writePerfData({ ...base, events, records }));
    const r = perf(['script', '-i', cgFile, '-F', 'tid,ip,sym']);
    keep('perf-script-callchain.txt', r.stdout);
    expect(r.status).toBe(0);
    expectOnlyLostWarning(r.stderr);
    const blocks = r.stdout.split(/\n\s*\n/).filter((b) => b.trim().length > 0);
    expect(blocks).toHaveLength(SYNTHETIC_SAMPLE_COUNT);
    blocks.forEach((block, i) => {
      const frames = block
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/));
      const s = samples[i]!;
      expect(frames).toEqual([
        [BigInt(s.ip).toString(16), symbolAt(BigInt(s.ip))],
        [callerIp.toString(16), 'main_loop'],
      ]);
    });
    const rep = perf(['report', '--stdio', '-i', cgFile, '--children', '--sort', 'sym']);
    keep('perf-report-callchain.txt', rep.stdout);
    expect(rep.status).toBe(0);
    // With children, main_loop is on every stack: 100% inclusive for each event.
    expect(rep.stdout.match(/^\s+100\.00%\s+\S+%\s+\[\.\] main_loop/gm)).toHaveLength(SYNTHETIC_EVENTS.length);
  });

  it('the minimal example of docs/perf-data.md reads back as the docs say', () => {
    const sampleType = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD;
    const exampleBytes = writePerfData({
      host: {
        hostname: 'guest-0',
        osRelease: '6.1.0-guest',
        perfVersion: '6.1.0',
        arch: 'x86_64',
        nrCpusOnline: 2,
        nrCpusAvailable: 2,
        cpuDesc: 'simulated vCPU',
        cpuId: 'GenuineIntel,6,85,7',
        totalMemKb: 4194304,
        cmdline: ['/usr/bin/perf', 'record', '-e', 'cycles', '--', './app'],
      },
      events: [{ name: 'cycles', type: PERF_TYPE_HARDWARE, config: PERF_COUNT_HW_CPU_CYCLES, samplePeriodEvents: 100_000, sampleType, sampleIdAll: true, ids: [1n, 2n] }],
      records: [
        { kind: 'comm', pid: EXAMPLE_PID, tid: EXAMPLE_PID, comm: 'app', timeNs: 0, cpu: 0 },
        { kind: 'mmap', pid: EXAMPLE_PID, tid: EXAMPLE_PID, startAddr: 0x400000n, lengthBytes: 0x1000, pgoffBytes: 0, filename: '//anon', timeNs: 0, cpu: 0 },
        { kind: 'sample', id: 1n, ip: 0x400010n, pid: EXAMPLE_PID, tid: EXAMPLE_PID, timeNs: 1000, cpu: 0, periodEvents: 100_000 },
      ],
    });
    const exampleFile = join(dir, 'example.perf.data');
    const exampleMap = perfMapPath(EXAMPLE_PID);
    writeFileSync(exampleFile, exampleBytes);
    writeFileSync(exampleMap, formatPerfMap([{ startAddr: 0x400000n, sizeBytes: 0x100, name: 'main' }]));
    try {
      const r = perf(['script', '-i', exampleFile]);
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim().split(/\s+/)).toEqual(['app', `${EXAMPLE_PID}`, '[000]', '0.000001:', '100000', 'cycles:', '400010', 'main+0x10', `(/tmp/perf-${EXAMPLE_PID}.map)`]);
    } finally {
      rmSync(exampleMap, { force: true });
    }
  });

  it('refuses sessions perf would misread', () => {
    const { session: base } = syntheticSession(PID);
    const mixed = { ...base, events: [base.events[0]!, { ...base.events[1]!, sampleType: base.events[1]!.sampleType & ~PERF_SAMPLE_IDENTIFIER }] };
    expect(() => writePerfData(mixed)).toThrow(/one layout/);
    const withRead = { ...base, events: base.events.map((e) => ({ ...e, sampleType: e.sampleType | PERF_SAMPLE_READ })) };
    expect(() => writePerfData(withRead)).toThrow(/bits 0x10 are not supported/);
    const badPid = { ...base, records: [{ ...samples[0]!, pid: 2 ** 32 }] };
    expect(() => writePerfData(badPid)).toThrow(/does not fit in a u32/);
    const dupIds = { ...base, events: [base.events[0]!, { ...base.events[1]!, ids: [101n] }] };
    expect(() => writePerfData(dupIds)).toThrow(/used twice/);
    const both = { ...base, events: [{ ...base.events[0]!, sampleFreqHz: 1000 }, base.events[1]!] };
    expect(() => writePerfData(both)).toThrow(/exactly one/);
    const longComm = { ...base, records: [{ kind: 'comm' as const, pid: 1, tid: 1, comm: 'a-very-long-thread-name', timeNs: 0, cpu: 0 }] };
    expect(() => writePerfData(longComm)).toThrow(/longer than 15/);
    const unknownId = { ...base, records: [{ ...samples[0]!, id: 999n }] };
    expect(() => writePerfData(unknownId)).toThrow(/unknown id 999/);
  });
});
