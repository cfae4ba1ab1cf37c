// The guest workload's code as perf sees it. A simulated workload profile has no binary, and the
// recording holds no instruction pointers, so each profile gets a small, fixed symbol table: a
// process (one pid per profile), its threads (one per guest task), an anonymous executable
// mapping and the functions in it with a share of the samples each. A sample's IP is drawn from
// that table by a hash of where and when the PMI was taken, so one recording always exports the
// same IPs and perf resolves every one of them through the perf map file (/tmp/perf-<pid>.map).
import type { WorkloadProfile } from '@vpmu/world-spec';
import { WORKLOAD_PROFILES } from '@vpmu/world-spec';

export interface WorkloadFunction {
  name: string;
  startAddr: bigint;
  sizeBytes: number;
  /** Relative share of samples that land in this function. */
  weight: number;
}

export interface WorkloadImage {
  profile: WorkloadProfile;
  /** The guest process' pid as written into perf.data. */
  pid: number;
  /** Process name (COMM of the main thread). */
  comm: string;
  startAddr: bigint;
  lengthBytes: number;
  functions: WorkloadFunction[];
}

/**
 * Above PID_MAX_LIMIT (4194304 on 64-bit Linux, include/linux/threads.h): no live process on the
 * machine reading the file can have these pids, which perf would otherwise consult in /proc
 * before choosing the map file (docs/perf-data.md, "one trap").
 */
export const GUEST_PID_BASE = 4_200_000;
/** Pids per profile: the process and its threads (vCPUs × tasks per vCPU) must fit. */
export const PIDS_PER_PROFILE = 1_000;
const TEXT_START = 0x400000n;
const FUNCTION_ALIGN_BYTES = 0x100;

// Names that read like the workload each profile stands for; weights are a plausible flat
// profile. They are a presentation choice, not a measurement (docs/perf-data.md says so).
const PROFILE_FUNCTIONS: Record<WorkloadProfile, { name: string; sizeBytes: number; weight: number }[]> = {
  specint: [
    { name: 'S_regmatch', sizeBytes: 0x1400, weight: 14 },
    { name: 'df_worklist_dataflow', sizeBytes: 0xc00, weight: 9 },
    { name: 'primal_bea_mpp', sizeBytes: 0x800, weight: 13 },
    { name: 'cMessageHeap_shiftup', sizeBytes: 0x400, weight: 6 },
    { name: 'xercesc_transcode', sizeBytes: 0x900, weight: 7 },
    { name: 'x264_pixel_sad_16x16', sizeBytes: 0x300, weight: 10 },
    { name: 'search_alphabeta', sizeBytes: 0xe00, weight: 12 },
    { name: 'uct_playout', sizeBytes: 0xa00, weight: 9 },
    { name: 'digits_2', sizeBytes: 0x600, weight: 8 },
    { name: 'lzma_match_find', sizeBytes: 0x700, weight: 12 },
  ],
  fio: [
    { name: 'td_io_queue', sizeBytes: 0x600, weight: 18 },
    { name: 'fio_libaio_getevents', sizeBytes: 0x400, weight: 16 },
    { name: 'get_io_u', sizeBytes: 0x500, weight: 14 },
    { name: 'io_u_mark_complete', sizeBytes: 0x300, weight: 10 },
    { name: 'fill_io_buffer', sizeBytes: 0x400, weight: 12 },
    { name: 'verify_io_u_crc32c', sizeBytes: 0x800, weight: 20 },
    { name: 'rand_offset', sizeBytes: 0x200, weight: 10 },
  ],
  idle: [
    { name: 'idle_wait_loop', sizeBytes: 0x200, weight: 70 },
    { name: 'timer_check', sizeBytes: 0x200, weight: 30 },
  ],
  branchy: [
    { name: 'interp_dispatch', sizeBytes: 0xc00, weight: 34 },
    { name: 'hash_probe', sizeBytes: 0x400, weight: 22 },
    { name: 'tree_walk', sizeBytes: 0x600, weight: 26 },
    { name: 'switch_table', sizeBytes: 0x500, weight: 18 },
  ],
};

const imageCache = new Map<WorkloadProfile, WorkloadImage>();

/** The fixed image of a workload profile: same pid, addresses and names in every export. */
export function workloadImage(profile: WorkloadProfile): WorkloadImage {
  const cached = imageCache.get(profile);
  if (cached) return cached;
  let addr = TEXT_START;
  const functions: WorkloadFunction[] = PROFILE_FUNCTIONS[profile].map((f) => {
    const fn = { name: f.name, startAddr: addr, sizeBytes: f.sizeBytes, weight: f.weight };
    addr += BigInt(Math.ceil(f.sizeBytes / FUNCTION_ALIGN_BYTES) * FUNCTION_ALIGN_BYTES);
    return fn;
  });
  const image: WorkloadImage = {
    profile,
    pid: GUEST_PID_BASE + WORKLOAD_PROFILES.indexOf(profile) * PIDS_PER_PROFILE,
    comm: profile,
    startAddr: TEXT_START,
    lengthBytes: Number(addr - TEXT_START),
    functions,
  };
  imageCache.set(profile, image);
  return image;
}

/** The tid of guest task `task` of vCPU `vcpu` (task 0 of vCPU 0 is the main thread: tid = pid). */
export function guestTid(image: WorkloadImage, tasksPerVcpu: number, vcpu: number, task: number): number {
  return image.pid + vcpu * tasksPerVcpu + task;
}

/** FNV-1a, 32 bits: a stable hash of a key (no PRNG state, so exports never depend on order). */
function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // One extra avalanche round (murmur3's fmix32) so near keys spread over the whole range.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** A sample's IP: a function chosen by weight and an offset inside it, both from `key`'s hash. */
export function pickIp(image: WorkloadImage, key: string): bigint {
  const h = fnv1a(key);
  const total = image.functions.reduce((s, f) => s + f.weight, 0);
  let pick = h % total;
  let fn = image.functions[0]!;
  for (const f of image.functions) {
    if (pick < f.weight) {
      fn = f;
      break;
    }
    pick -= f.weight;
  }
  // Skip the prologue; x86 instructions are not aligned, any byte offset is a plausible IP.
  const offset = 0x10 + (fnv1a(`${key}#off`) % (fn.sizeBytes - 0x20));
  return fn.startAddr + BigInt(offset);
}
