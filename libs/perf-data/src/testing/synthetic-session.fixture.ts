// A synthetic guest `perf record` session for the specs and the docs samples: two events (cycles
// and instructions, one id per vCPU), two threads of one process on two vCPUs, samples over five
// functions of an anonymous executable mapping, one LOST, one LOST_SAMPLES and one
// THROTTLE/UNTHROTTLE pair.
// Deterministic (a fixed LCG), so the file and the docs samples come out the same on every run.
import {
  PERF_COUNT_HW_CPU_CYCLES,
  PERF_COUNT_HW_INSTRUCTIONS,
  PERF_SAMPLE_CPU,
  PERF_SAMPLE_IDENTIFIER,
  PERF_SAMPLE_IP,
  PERF_SAMPLE_PERIOD,
  PERF_SAMPLE_TID,
  PERF_SAMPLE_TIME,
  PERF_TYPE_HARDWARE,
} from '../perf-event.constants';
import type { PerfMapSymbol } from '../perf-map.format';
import type { PerfDataRecord, PerfDataSession, PerfEventSpec, PerfSampleRecord } from '../perf-record.types';

/**
 * Above PID_MAX_LIMIT (4194304 on 64-bit, include/linux/threads.h), so no process on the machine
 * reading the file can have it: perf consults /proc/<pid> of the reading machine to find the
 * perf map (namespace, thread group), and a live process there would send it elsewhere.
 */
export const SYNTHETIC_PID = 4_200_042;

export interface SyntheticThread {
  tid: number;
  comm: string;
  homeCpu: number;
  /** Relative weight of each SYNTHETIC_SYMBOLS entry: the io thread lives in io_submit_batch. */
  weights: number[];
}

/** The process's two threads: the main one (tid = pid) and an io thread (pid + 1). */
export function syntheticThreads(pid: number): SyntheticThread[] {
  return [
    { tid: pid, comm: 'vpmu-bench', homeCpu: 0, weights: [2, 5, 3, 2, 0] },
    { tid: pid + 1, comm: 'vpmu-io', homeCpu: 1, weights: [1, 0, 1, 2, 6] },
  ];
}
export const SYNTHETIC_MAPPING = { startAddr: 0x400000n, lengthBytes: 0x10000n };
export const SYNTHETIC_SYMBOLS: PerfMapSymbol[] = [
  { startAddr: 0x401000n, sizeBytes: 0x200n, name: 'main_loop' },
  { startAddr: 0x401200n, sizeBytes: 0x300n, name: 'hash_block' },
  { startAddr: 0x401500n, sizeBytes: 0x180n, name: 'crc32_update' },
  { startAddr: 0x401680n, sizeBytes: 0x100n, name: 'memcpy_fast' },
  { startAddr: 0x401780n, sizeBytes: 0x280n, name: 'io_submit_batch' },
];

const SAMPLE_TYPE = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD;

export const SYNTHETIC_EVENTS: PerfEventSpec[] = [
  {
    name: 'cycles',
    type: PERF_TYPE_HARDWARE,
    config: PERF_COUNT_HW_CPU_CYCLES,
    samplePeriodEvents: 100_000,
    sampleType: SAMPLE_TYPE,
    sampleIdAll: true,
    exclude: { hv: true },
    disabled: true,
    inherit: true,
    mmap: true,
    comm: true,
    task: true,
    enableOnExec: true,
    ids: [101n, 102n],
  },
  {
    name: 'instructions',
    type: PERF_TYPE_HARDWARE,
    config: PERF_COUNT_HW_INSTRUCTIONS,
    samplePeriodEvents: 200_000,
    sampleType: SAMPLE_TYPE,
    sampleIdAll: true,
    exclude: { hv: true },
    disabled: true,
    inherit: true,
    enableOnExec: true,
    ids: [201n, 202n],
  },
];

/** Start of the session on the guest's clock (perf script prints it as seconds). */
export const SYNTHETIC_START_NS = 5_000_000_000n;
export const SYNTHETIC_SAMPLE_COUNT = 300;
export const SYNTHETIC_LOST_RECORDS = 7n;
export const SYNTHETIC_LOST_SAMPLES = 3n;

function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function pick(weights: number[], u: number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let x = u * total;
  for (let i = 0; i < weights.length; i++) {
    x -= weights[i]!;
    if (x < 0) return i;
  }
  return weights.length - 1;
}

/**
 * The session and the samples in it (the specs compare perf's output with these). `pid` defaults
 * to the one of the docs samples; concurrent test runs pass their own, because perf reads the
 * symbols from the shared path /tmp/perf-<pid>.map.
 */
export function syntheticSession(pid = SYNTHETIC_PID): { session: PerfDataSession; samples: PerfSampleRecord[]; threads: SyntheticThread[] } {
  const threads = syntheticThreads(pid);
  const rand = lcg(0x5eed);
  const records: PerfDataRecord[] = [];
  const t0 = SYNTHETIC_START_NS;
  for (const [i, th] of threads.entries()) {
    records.push({ kind: 'comm', pid, tid: th.tid, comm: th.comm, exec: i === 0, timeNs: t0 - 3000n + BigInt(i), cpu: th.homeCpu });
  }
  records.push({
    kind: 'mmap',
    pid,
    tid: pid,
    startAddr: SYNTHETIC_MAPPING.startAddr,
    lengthBytes: SYNTHETIC_MAPPING.lengthBytes,
    pgoffBytes: 0,
    filename: '//anon',
    timeNs: t0 - 1000n,
    cpu: 0,
  });
  const samples: PerfSampleRecord[] = [];
  let timeNs = t0;
  for (let i = 0; i < SYNTHETIC_SAMPLE_COUNT; i++) {
    timeNs += 100_000n + BigInt(Math.floor(rand() * 50_000));
    const th = threads[i % 2]!;
    // One sample in ten runs on the other vCPU: the scheduler moved the thread.
    const cpu = rand() < 0.1 ? 1 - th.homeCpu : th.homeCpu;
    const event = SYNTHETIC_EVENTS[i % 3 === 2 ? 1 : 0]!;
    const sym = SYNTHETIC_SYMBOLS[pick(th.weights, rand())]!;
    const offset = BigInt(Math.floor(rand() * Number(sym.sizeBytes)));
    const sample: PerfSampleRecord = {
      kind: 'sample',
      id: event.ids[cpu]!,
      ip: BigInt(sym.startAddr) + offset,
      pid,
      tid: th.tid,
      timeNs,
      cpu,
      periodEvents: event.samplePeriodEvents!,
    };
    samples.push(sample);
    records.push(sample);
    if (i === 100) {
      records.push({ kind: 'throttle', pid, tid: th.tid, timeNs: timeNs + 1n, cpu, id: SYNTHETIC_EVENTS[0]!.ids[cpu]! });
    }
    if (i === 110) {
      records.push({ kind: 'unthrottle', pid, tid: th.tid, timeNs: timeNs + 1n, cpu, id: SYNTHETIC_EVENTS[0]!.ids[cpu]! });
    }
    if (i === 200) {
      records.push({ kind: 'lost', pid, tid: th.tid, timeNs: timeNs + 1n, cpu, id: SYNTHETIC_EVENTS[0]!.ids[cpu]!, lostRecords: SYNTHETIC_LOST_RECORDS });
    }
    if (i === 250) {
      records.push({ kind: 'lost_samples', pid, tid: th.tid, timeNs: timeNs + 1n, cpu, id: SYNTHETIC_EVENTS[0]!.ids[cpu]!, lostSamples: SYNTHETIC_LOST_SAMPLES });
    }
  }
  return {
    session: {
      host: {
        hostname: 'vpmu-guest-0',
        osRelease: '6.1.0-vpmu-guest',
        perfVersion: '6.1.0',
        arch: 'x86_64',
        nrCpusOnline: 2,
        nrCpusAvailable: 2,
        cpuDesc: 'vPMU-lab simulated Intel(R) Xeon(R) CPU',
        cpuId: 'GenuineIntel,6,85,7',
        totalMemKb: 4_194_304,
        cmdline: ['/usr/bin/perf', 'record', '-e', 'cycles,instructions', '-c', '100000', '-a', '--', './vpmu-bench'],
      },
      events: SYNTHETIC_EVENTS,
      records,
    },
    samples,
    threads,
  };
}
