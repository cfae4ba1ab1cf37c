// The input of the perf.data writer: what the guest configured (its events) and what the guest
// kernel would have written into the ring buffer (its records), in the simulation's own units.
// Field names follow the kernel's where a reader of perf_event.h would look for them; units are
// in the names (timeNs, periodEvents, lengthBytes).
import type { U64 } from './byte.writer';

/** The exclude_* bits of perf_event_attr, as the guest's perf set them. */
export interface PerfExcludeBits {
  user?: boolean;
  kernel?: boolean;
  hv?: boolean;
  idle?: boolean;
  host?: boolean;
  guest?: boolean;
  callchainKernel?: boolean;
  callchainUser?: boolean;
}

/** One event of the session: a perf_event_attr plus the name and ids perf shows for it. */
export interface PerfEventSpec {
  /** The name `perf report`/`perf script` print (EVENT_DESC), e.g. "cycles", "instructions:u". */
  name: string;
  /** PERF_TYPE_* */
  type: number;
  config: U64;
  config1?: U64;
  config2?: U64;
  /** Sampling by count: one sample every this many events (attr.sample_period, freq bit clear). */
  samplePeriodEvents?: U64;
  /** Sampling by frequency (attr.sample_freq, freq bit set). Exactly one of the two is required. */
  sampleFreqHz?: U64;
  /** PERF_SAMPLE_* bits; every event of a session must have the same value (perf requires it). */
  sampleType: bigint;
  /** PERF_FORMAT_* bits. */
  readFormat?: bigint;
  /** attr.sample_id_all: non-sample records carry the sample_id trailer. Same for all events. */
  sampleIdAll: boolean;
  exclude?: PerfExcludeBits;
  disabled?: boolean;
  inherit?: boolean;
  pinned?: boolean;
  exclusive?: boolean;
  /** attr.mmap / comm / task: the event asked for those side records. */
  mmap?: boolean;
  mmap2?: boolean;
  comm?: boolean;
  commExec?: boolean;
  task?: boolean;
  enableOnExec?: boolean;
  /** 0..3, the `:p` modifiers. */
  preciseIp?: number;
  /**
   * The sample ids the kernel gave this event, one per opened fd (typically one per CPU). A
   * sample's id tells perf which event it belongs to, so ids must be unique across the session.
   */
  ids: bigint[];
}

/** Where a non-sample record happened; becomes the sample_id trailer when sampleIdAll is set. */
export interface PerfSampleIdFields {
  timeNs: U64;
  cpu: number;
  /** The event id the kernel stamps on side records; defaults to the first event's first id. */
  id?: bigint;
}

export interface PerfCommRecord extends PerfSampleIdFields {
  kind: 'comm';
  pid: number;
  tid: number;
  /** At most 15 bytes are kept by the kernel (TASK_COMM_LEN 16 with the NUL); longer is refused. */
  comm: string;
  /** PERF_RECORD_MISC_COMM_EXEC: the name changed because of exec. */
  exec?: boolean;
}

export interface PerfMmapRecord extends PerfSampleIdFields {
  kind: 'mmap';
  pid: number;
  tid: number;
  startAddr: U64;
  lengthBytes: U64;
  pgoffBytes: U64;
  /** "//anon" makes perf look for /tmp/perf-<pid>.map (see perf-map.format.ts). */
  filename: string;
  /** Clear for a data mapping (PERF_RECORD_MISC_MMAP_DATA); default true. */
  executable?: boolean;
  cpumode?: number;
}

export interface PerfMmap2Record extends Omit<PerfMmapRecord, 'kind'> {
  kind: 'mmap2';
  maj?: number;
  min?: number;
  ino?: U64;
  inoGeneration?: U64;
  /** PROT_* bits; default PROT_READ|PROT_EXEC (5). */
  prot?: number;
  /** MAP_* bits; default MAP_PRIVATE (2). */
  flags?: number;
}

export interface PerfSampleRecord {
  kind: 'sample';
  /** One of the ids of the event this sample belongs to. */
  id: bigint;
  ip: U64;
  pid: number;
  tid: number;
  timeNs: U64;
  cpu: number;
  periodEvents: U64;
  addr?: U64;
  streamId?: bigint;
  /** PERF_RECORD_MISC_* cpumode; default PERF_RECORD_MISC_USER. */
  cpumode?: number;
  /** With PERF_SAMPLE_CALLCHAIN: the stack, leaf first, split by context as the kernel does. */
  callchain?: PerfCallchain;
}

/**
 * A sample's call chain. The writer emits the kernel part then the user part, each behind its
 * PERF_CONTEXT_* marker, as the kernel's perf_callchain() does; the leaf (usually the sample ip)
 * comes first in each part.
 */
export interface PerfCallchain {
  kernel?: U64[];
  user?: U64[];
}

export interface PerfLostRecord extends PerfSampleIdFields {
  kind: 'lost';
  pid: number;
  tid: number;
  /** Number of records the ring buffer dropped. */
  lostRecords: U64;
}

/**
 * Samples the kernel could not write (PERF_RECORD_LOST_SAMPLES); perf report sums them into its
 * "# Total Lost Samples:" line, while PERF_RECORD_LOST (whole records dropped by a full ring
 * buffer) only shows as a warning and in --stats.
 */
export interface PerfLostSamplesRecord extends PerfSampleIdFields {
  kind: 'lost_samples';
  pid: number;
  tid: number;
  lostSamples: U64;
}

export interface PerfThrottleRecord extends PerfSampleIdFields {
  kind: 'throttle' | 'unthrottle';
  pid: number;
  tid: number;
  streamId?: bigint;
}

export type PerfDataRecord =
  | PerfCommRecord
  | PerfMmapRecord
  | PerfMmap2Record
  | PerfSampleRecord
  | PerfLostRecord
  | PerfLostSamplesRecord
  | PerfThrottleRecord;

/** What `perf report --header` shows about the machine: here the simulated guest, never the host. */
export interface PerfHostInfo {
  hostname: string;
  osRelease: string;
  /** The perf version the file claims to come from, e.g. "6.1.0". */
  perfVersion: string;
  arch: string;
  nrCpusOnline: number;
  nrCpusAvailable: number;
  cpuDesc: string;
  /** x86: "vendor,family,model,stepping", e.g. "GenuineIntel,6,85,7". */
  cpuId: string;
  totalMemKb: U64;
  /** The perf command line, argv[0] first. */
  cmdline: string[];
}

/** Where the guest kernel's text sits (what perf record reads from /proc/kallsyms' _text). */
export interface PerfKernelText {
  startAddr: U64;
  lengthBytes: U64;
}

export interface PerfDataSession {
  host: PerfHostInfo;
  /**
   * The kernel text mapping. The writer always puts a kernel MMAP record first, as perf record
   * does: without one, `perf report` warns that the kernel address maps were restricted.
   * Default: 16 MiB at 0xffffffff81000000 (x86-64 without KASLR).
   */
  kernelText?: PerfKernelText;
  events: PerfEventSpec[];
  /** In the order perf should read them (perf sorts by time only within its ordering window). */
  records: PerfDataRecord[];
}
