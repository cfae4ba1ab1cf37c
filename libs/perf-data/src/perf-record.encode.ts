// The records of the data section, laid out as the kernel writes them into the ring buffer
// (include/uapi/linux/perf_event.h, enum perf_event_type, and kernel/events/core.c for the field
// order of a sample and of the sample_id trailer).
import { ByteWriter, paddedCString } from './byte.writer';
import {
  PERF_RECORD_COMM,
  PERF_RECORD_LOST,
  PERF_RECORD_LOST_SAMPLES,
  PERF_RECORD_MISC_COMM_EXEC,
  PERF_RECORD_MISC_KERNEL,
  PERF_RECORD_MISC_MMAP_DATA,
  PERF_RECORD_MISC_USER,
  PERF_RECORD_MMAP,
  PERF_RECORD_MMAP2,
  PERF_RECORD_SAMPLE,
  PERF_RECORD_THROTTLE,
  PERF_RECORD_UNTHROTTLE,
  PERF_CONTEXT_KERNEL,
  PERF_CONTEXT_USER,
  PERF_SAMPLE_ADDR,
  PERF_SAMPLE_CALLCHAIN,
  PERF_SAMPLE_CPU,
  PERF_SAMPLE_ID,
  PERF_SAMPLE_IDENTIFIER,
  PERF_SAMPLE_IP,
  PERF_SAMPLE_PERIOD,
  PERF_SAMPLE_STREAM_ID,
  PERF_SAMPLE_TID,
  PERF_SAMPLE_TIME,
} from './perf-event.constants';
import type {
  PerfKernelText,
  PerfCommRecord,
  PerfDataRecord,
  PerfLostRecord,
  PerfLostSamplesRecord,
  PerfMmap2Record,
  PerfMmapRecord,
  PerfSampleRecord,
  PerfThrottleRecord,
} from './perf-record.types';

/** The sample_type bits this encoder can lay out; the others need payloads we do not model yet. */
export const SUPPORTED_SAMPLE_TYPE =
  PERF_SAMPLE_IDENTIFIER |
  PERF_SAMPLE_IP |
  PERF_SAMPLE_TID |
  PERF_SAMPLE_TIME |
  PERF_SAMPLE_ADDR |
  PERF_SAMPLE_ID |
  PERF_SAMPLE_STREAM_ID |
  PERF_SAMPLE_CPU |
  PERF_SAMPLE_PERIOD |
  PERF_SAMPLE_CALLCHAIN;

/** perf_event_header.size is a u16: no record may be larger. */
const MAX_RECORD_BYTES = 0xffff;
/** TASK_COMM_LEN (include/linux/sched.h) is 16 with the NUL: the kernel never reports longer. */
const TASK_COMM_LEN = 16;
const PROT_READ = 1;
const PROT_EXEC = 4;
const MAP_PRIVATE = 2;

export interface RecordContext {
  sampleType: bigint;
  sampleIdAll: boolean;
  /** The id stamped on side records that do not name one. */
  defaultId: bigint;
}

/** Where a record's fields come from for the sample_id trailer. */
interface TrailerFields {
  pid: number;
  tid: number;
  timeNs: number | bigint;
  cpu: number;
  id: bigint;
  streamId?: bigint;
}

function header(w: ByteWriter, type: number, misc: number): number {
  const start = w.length;
  w.u32(type).u16(misc).u16(0); // size patched by finish()
  return start;
}

function finish(w: ByteWriter, start: number): void {
  const size = w.length - start;
  // Records are u64-aligned in the ring buffer; perf rejects a misaligned stream.
  if (size % 8 !== 0) throw new Error(`record of ${size} bytes is not 8-byte aligned`);
  if (size > MAX_RECORD_BYTES) throw new RangeError(`record of ${size} bytes exceeds the u16 size field`);
  w.patchU16(start + 6, size);
}

/**
 * The trailer the kernel appends to non-sample records when sample_id_all is set
 * (kernel/events/core.c, __perf_event_header__init_id): TID, TIME, ID, STREAM_ID, CPU and
 * IDENTIFIER last, so that perf finds the id at a fixed distance from the record's end.
 */
function sampleIdTrailer(w: ByteWriter, ctx: RecordContext, f: TrailerFields): void {
  if (!ctx.sampleIdAll) return;
  const st = ctx.sampleType;
  if (st & PERF_SAMPLE_TID) w.u32(f.pid).u32(f.tid);
  if (st & PERF_SAMPLE_TIME) w.u64(f.timeNs, 'timeNs');
  if (st & PERF_SAMPLE_ID) w.u64(f.id, 'id');
  if (st & PERF_SAMPLE_STREAM_ID) w.u64(f.streamId ?? f.id, 'stream_id');
  if (st & PERF_SAMPLE_CPU) w.u32(f.cpu).u32(0);
  if (st & PERF_SAMPLE_IDENTIFIER) w.u64(f.id, 'identifier');
}

function comm(w: ByteWriter, ctx: RecordContext, r: PerfCommRecord): void {
  if (Buffer.byteLength(r.comm, 'utf8') >= TASK_COMM_LEN) {
    throw new RangeError(`comm ${JSON.stringify(r.comm)} is longer than ${TASK_COMM_LEN - 1} bytes`);
  }
  const start = header(w, PERF_RECORD_COMM, r.exec ? PERF_RECORD_MISC_COMM_EXEC : 0);
  w.u32(r.pid).u32(r.tid).bytes(paddedCString(r.comm, 8));
  sampleIdTrailer(w, ctx, { ...r, id: r.id ?? ctx.defaultId });
  finish(w, start);
}

function mmapMisc(r: PerfMmapRecord | PerfMmap2Record): number {
  const exec = r.executable ?? true;
  return (r.cpumode ?? PERF_RECORD_MISC_USER) | (exec ? 0 : PERF_RECORD_MISC_MMAP_DATA);
}

function mmap(w: ByteWriter, ctx: RecordContext, r: PerfMmapRecord): void {
  const start = header(w, PERF_RECORD_MMAP, mmapMisc(r));
  w.u32(r.pid).u32(r.tid);
  w.u64(r.startAddr, 'startAddr').u64(r.lengthBytes, 'lengthBytes').u64(r.pgoffBytes, 'pgoffBytes');
  w.bytes(paddedCString(r.filename, 8));
  sampleIdTrailer(w, ctx, { ...r, id: r.id ?? ctx.defaultId });
  finish(w, start);
}

function mmap2(w: ByteWriter, ctx: RecordContext, r: PerfMmap2Record): void {
  const start = header(w, PERF_RECORD_MMAP2, mmapMisc(r));
  const exec = r.executable ?? true;
  w.u32(r.pid).u32(r.tid);
  w.u64(r.startAddr, 'startAddr').u64(r.lengthBytes, 'lengthBytes').u64(r.pgoffBytes, 'pgoffBytes');
  w.u32(r.maj ?? 0).u32(r.min ?? 0);
  w.u64(r.ino ?? 0, 'ino').u64(r.inoGeneration ?? 0, 'ino_generation');
  w.u32(r.prot ?? (exec ? PROT_READ | PROT_EXEC : PROT_READ)).u32(r.flags ?? MAP_PRIVATE);
  w.bytes(paddedCString(r.filename, 8));
  sampleIdTrailer(w, ctx, { ...r, id: r.id ?? ctx.defaultId });
  finish(w, start);
}

/** u64 nr, then nr u64 entries: context markers and the frames after each. */
function callchain(w: ByteWriter, r: PerfSampleRecord): void {
  const entries: (number | bigint)[] = [];
  const kernel = r.callchain?.kernel ?? [];
  const user = r.callchain?.user ?? [];
  if (kernel.length > 0) entries.push(PERF_CONTEXT_KERNEL, ...kernel);
  if (user.length > 0) entries.push(PERF_CONTEXT_USER, ...user);
  w.u64(entries.length);
  for (const e of entries) w.u64(e, 'callchain entry');
}

/** PERF_RECORD_SAMPLE body in the order of the sample_type bits (kernel/events/core.c, perf_output_sample). */
function sample(w: ByteWriter, ctx: RecordContext, r: PerfSampleRecord): void {
  const st = ctx.sampleType;
  const start = header(w, PERF_RECORD_SAMPLE, r.cpumode ?? PERF_RECORD_MISC_USER);
  if (st & PERF_SAMPLE_IDENTIFIER) w.u64(r.id, 'identifier');
  if (st & PERF_SAMPLE_IP) w.u64(r.ip, 'ip');
  if (st & PERF_SAMPLE_TID) w.u32(r.pid).u32(r.tid);
  if (st & PERF_SAMPLE_TIME) w.u64(r.timeNs, 'timeNs');
  if (st & PERF_SAMPLE_ADDR) w.u64(r.addr ?? 0, 'addr');
  if (st & PERF_SAMPLE_ID) w.u64(r.id, 'id');
  if (st & PERF_SAMPLE_STREAM_ID) w.u64(r.streamId ?? r.id, 'stream_id');
  if (st & PERF_SAMPLE_CPU) w.u32(r.cpu).u32(0);
  if (st & PERF_SAMPLE_PERIOD) w.u64(r.periodEvents, 'periodEvents');
  // PERF_SAMPLE_READ would come here; it is refused by SUPPORTED_SAMPLE_TYPE.
  if (st & PERF_SAMPLE_CALLCHAIN) callchain(w, r);
  finish(w, start);
}

function lost(w: ByteWriter, ctx: RecordContext, r: PerfLostRecord): void {
  const id = r.id ?? ctx.defaultId;
  const start = header(w, PERF_RECORD_LOST, 0);
  w.u64(id, 'id').u64(r.lostRecords, 'lostRecords');
  sampleIdTrailer(w, ctx, { ...r, id });
  finish(w, start);
}

function lostSamples(w: ByteWriter, ctx: RecordContext, r: PerfLostSamplesRecord): void {
  const id = r.id ?? ctx.defaultId;
  const start = header(w, PERF_RECORD_LOST_SAMPLES, 0);
  w.u64(r.lostSamples, 'lostSamples');
  sampleIdTrailer(w, ctx, { ...r, id });
  finish(w, start);
}

function throttle(w: ByteWriter, ctx: RecordContext, r: PerfThrottleRecord): void {
  const id = r.id ?? ctx.defaultId;
  const start = header(w, r.kind === 'throttle' ? PERF_RECORD_THROTTLE : PERF_RECORD_UNTHROTTLE, 0);
  w.u64(r.timeNs, 'timeNs').u64(id, 'id').u64(r.streamId ?? id, 'stream_id');
  sampleIdTrailer(w, ctx, { ...r, id });
  finish(w, start);
}

/**
 * The kernel text MMAP that perf record synthesizes before anything else
 * (tools/perf/util/synthetic-events.c, perf_event__synthesize_kernel_mmap): pid -1, cpumode
 * kernel, pgoff = address of the reference symbol named after the "]" of the filename. perf
 * builds its kernel map from it; kernel samples stay unresolved (no kallsyms of the guest).
 */
export function writeKernelMmap(w: ByteWriter, ctx: RecordContext, text: PerfKernelText): void {
  const start = header(w, PERF_RECORD_MMAP, PERF_RECORD_MISC_KERNEL);
  w.u32(-1).u32(0);
  w.u64(text.startAddr, 'kernel startAddr').u64(text.lengthBytes, 'kernel lengthBytes').u64(text.startAddr, 'kernel pgoff');
  w.bytes(paddedCString('[kernel.kallsyms]_text', 8));
  // Synthesized records carry time 0: they describe the state before the first sample.
  sampleIdTrailer(w, ctx, { pid: -1, tid: 0, timeNs: 0, cpu: 0, id: ctx.defaultId });
  finish(w, start);
}

/** Appends one record of the data section to `w`. */
export function writePerfRecord(w: ByteWriter, ctx: RecordContext, record: PerfDataRecord): void {
  switch (record.kind) {
    case 'comm':
      return comm(w, ctx, record);
    case 'mmap':
      return mmap(w, ctx, record);
    case 'mmap2':
      return mmap2(w, ctx, record);
    case 'sample':
      return sample(w, ctx, record);
    case 'lost':
      return lost(w, ctx, record);
    case 'lost_samples':
      return lostSamples(w, ctx, record);
    case 'throttle':
    case 'unthrottle':
      return throttle(w, ctx, record);
  }
}
