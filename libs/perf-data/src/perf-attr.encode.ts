// struct perf_event_attr as the kernel ABI lays it out (include/uapi/linux/perf_event.h), 128
// bytes (PERF_ATTR_SIZE_VER7). perf.data stores it twice: in the attribute section (what perf
// uses to parse samples) and in the EVENT_DESC feature (where the event names live).
import { ByteWriter } from './byte.writer';
import { PERF_ATTR_FLAG_BITS, PERF_ATTR_SIZE_VER7 } from './perf-event.constants';
import type { PerfEventSpec } from './perf-record.types';

type FlagName = keyof typeof PERF_ATTR_FLAG_BITS;

/** The attr's bit-field word, built from the spec's booleans. */
export function attrFlagsWord(event: PerfEventSpec): bigint {
  const ex = event.exclude ?? {};
  const set: Partial<Record<FlagName, boolean | undefined>> = {
    disabled: event.disabled,
    inherit: event.inherit,
    pinned: event.pinned,
    exclusive: event.exclusive,
    exclude_user: ex.user,
    exclude_kernel: ex.kernel,
    exclude_hv: ex.hv,
    exclude_idle: ex.idle,
    mmap: event.mmap,
    comm: event.comm,
    freq: event.sampleFreqHz !== undefined,
    enable_on_exec: event.enableOnExec,
    task: event.task,
    sample_id_all: event.sampleIdAll,
    exclude_host: ex.host,
    exclude_guest: ex.guest,
    exclude_callchain_kernel: ex.callchainKernel,
    exclude_callchain_user: ex.callchainUser,
    mmap2: event.mmap2,
    comm_exec: event.commExec,
  };
  let word = 0n;
  for (const [name, on] of Object.entries(set) as [FlagName, boolean | undefined][]) {
    if (on) word |= 1n << BigInt(PERF_ATTR_FLAG_BITS[name]);
  }
  const precise = event.preciseIp ?? 0;
  if (!Number.isInteger(precise) || precise < 0 || precise > 3) {
    throw new RangeError(`event ${event.name}: precise_ip ${precise} is not 0..3`);
  }
  word |= BigInt(precise) << BigInt(PERF_ATTR_FLAG_BITS.precise_ip);
  return word;
}

/** Appends one perf_event_attr (PERF_ATTR_SIZE_VER7 bytes) to `w`. */
export function writePerfEventAttr(w: ByteWriter, event: PerfEventSpec): void {
  const byPeriod = event.samplePeriodEvents !== undefined;
  const byFreq = event.sampleFreqHz !== undefined;
  if (byPeriod === byFreq) {
    throw new RangeError(`event ${event.name}: give exactly one of samplePeriodEvents and sampleFreqHz`);
  }
  const start = w.length;
  w.u32(event.type);
  w.u32(PERF_ATTR_SIZE_VER7);
  w.u64(event.config, 'config');
  // sample_period and sample_freq share this u64; the freq bit says which one it is.
  w.u64((byPeriod ? event.samplePeriodEvents : event.sampleFreqHz)!, 'sample_period/sample_freq');
  w.u64(event.sampleType, 'sample_type');
  w.u64(event.readFormat ?? 0n, 'read_format');
  w.u64(attrFlagsWord(event), 'flags');
  w.u32(0); // wakeup_events / wakeup_watermark
  w.u32(0); // bp_type
  w.u64(event.config1 ?? 0n, 'config1'); // config1 / bp_addr
  w.u64(event.config2 ?? 0n, 'config2'); // config2 / bp_len
  w.u64(0n); // branch_sample_type
  w.u64(0n); // sample_regs_user
  w.u32(0); // sample_stack_user
  w.i32(0); // clockid
  w.u64(0n); // sample_regs_intr
  w.u32(0); // aux_watermark
  w.u16(0); // sample_max_stack
  w.u16(0); // __reserved_2
  w.u32(0); // aux_sample_size
  w.u32(0); // __reserved_3
  w.u64(0n); // sig_data
  if (w.length - start !== PERF_ATTR_SIZE_VER7) {
    throw new Error(`perf_event_attr came out ${w.length - start} bytes, expected ${PERF_ATTR_SIZE_VER7}`);
  }
}
