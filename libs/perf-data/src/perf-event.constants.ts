// Constants of the perf ABI, named as in the kernel sources so that a reader can grep for them.
// Values are fixed by the ABI (they are what perf reads back), so they live here once and every
// encoder uses the names, never the numbers.

// --- include/uapi/linux/perf_event.h: enum perf_type_id (perf_event_attr.type) ---
export const PERF_TYPE_HARDWARE = 0;
export const PERF_TYPE_SOFTWARE = 1;
export const PERF_TYPE_TRACEPOINT = 2;
export const PERF_TYPE_HW_CACHE = 3;
export const PERF_TYPE_RAW = 4;
export const PERF_TYPE_BREAKPOINT = 5;

// --- include/uapi/linux/perf_event.h: enum perf_hw_id (config of PERF_TYPE_HARDWARE) ---
export const PERF_COUNT_HW_CPU_CYCLES = 0;
export const PERF_COUNT_HW_INSTRUCTIONS = 1;
export const PERF_COUNT_HW_CACHE_REFERENCES = 2;
export const PERF_COUNT_HW_CACHE_MISSES = 3;
export const PERF_COUNT_HW_BRANCH_INSTRUCTIONS = 4;
export const PERF_COUNT_HW_BRANCH_MISSES = 5;
export const PERF_COUNT_HW_BUS_CYCLES = 6;
export const PERF_COUNT_HW_STALLED_CYCLES_FRONTEND = 7;
export const PERF_COUNT_HW_STALLED_CYCLES_BACKEND = 8;
export const PERF_COUNT_HW_REF_CPU_CYCLES = 9;

// --- include/uapi/linux/perf_event.h: enum perf_sw_ids (config of PERF_TYPE_SOFTWARE) ---
export const PERF_COUNT_SW_CPU_CLOCK = 0;
export const PERF_COUNT_SW_TASK_CLOCK = 1;
export const PERF_COUNT_SW_PAGE_FAULTS = 2;
export const PERF_COUNT_SW_CONTEXT_SWITCHES = 3;
export const PERF_COUNT_SW_CPU_MIGRATIONS = 4;

// --- include/uapi/linux/perf_event.h: enum perf_event_sample_format (attr.sample_type bits) ---
// The order of the bits is also the order of the fields inside a PERF_RECORD_SAMPLE body.
export const PERF_SAMPLE_IP = 1n << 0n;
export const PERF_SAMPLE_TID = 1n << 1n;
export const PERF_SAMPLE_TIME = 1n << 2n;
export const PERF_SAMPLE_ADDR = 1n << 3n;
export const PERF_SAMPLE_READ = 1n << 4n;
export const PERF_SAMPLE_CALLCHAIN = 1n << 5n;
export const PERF_SAMPLE_ID = 1n << 6n;
export const PERF_SAMPLE_CPU = 1n << 7n;
export const PERF_SAMPLE_PERIOD = 1n << 8n;
export const PERF_SAMPLE_STREAM_ID = 1n << 9n;
export const PERF_SAMPLE_RAW = 1n << 10n;
export const PERF_SAMPLE_BRANCH_STACK = 1n << 11n;
export const PERF_SAMPLE_REGS_USER = 1n << 12n;
export const PERF_SAMPLE_STACK_USER = 1n << 13n;
export const PERF_SAMPLE_WEIGHT = 1n << 14n;
export const PERF_SAMPLE_DATA_SRC = 1n << 15n;
export const PERF_SAMPLE_IDENTIFIER = 1n << 16n;

// --- include/uapi/linux/perf_event.h: enum perf_callchain_context ---
// Markers inside a PERF_SAMPLE_CALLCHAIN: the frames after one belong to that context. They are
// the top of the u64 range ((u64)-512 etc.).
export const PERF_CONTEXT_HV = (1n << 64n) - 32n;
export const PERF_CONTEXT_KERNEL = (1n << 64n) - 128n;
export const PERF_CONTEXT_USER = (1n << 64n) - 512n;
export const PERF_CONTEXT_GUEST = (1n << 64n) - 2048n;
export const PERF_CONTEXT_GUEST_KERNEL = (1n << 64n) - 2176n;
export const PERF_CONTEXT_GUEST_USER = (1n << 64n) - 2560n;
export const PERF_CONTEXT_MAX = (1n << 64n) - 4095n;

// --- include/uapi/linux/perf_event.h: enum perf_event_read_format (attr.read_format bits) ---
export const PERF_FORMAT_TOTAL_TIME_ENABLED = 1n << 0n;
export const PERF_FORMAT_TOTAL_TIME_RUNNING = 1n << 1n;
export const PERF_FORMAT_ID = 1n << 2n;
export const PERF_FORMAT_GROUP = 1n << 3n;
export const PERF_FORMAT_LOST = 1n << 4n;

// --- include/uapi/linux/perf_event.h: struct perf_event_attr sizes ---
// VER7 (128 bytes, up to sig_data) is the size perf 6.1 writes and expects; config3 (VER8) came
// in 6.3, and older readers accept the smaller size too.
export const PERF_ATTR_SIZE_VER7 = 128;

// --- include/uapi/linux/perf_event.h: the bit-field word of struct perf_event_attr ---
// Bit numbers of the single u64 after read_format, in declaration order.
export const PERF_ATTR_FLAG_BITS = {
  disabled: 0,
  inherit: 1,
  pinned: 2,
  exclusive: 3,
  exclude_user: 4,
  exclude_kernel: 5,
  exclude_hv: 6,
  exclude_idle: 7,
  mmap: 8,
  comm: 9,
  freq: 10,
  inherit_stat: 11,
  enable_on_exec: 12,
  task: 13,
  watermark: 14,
  precise_ip: 15, // two bits: 15..16
  mmap_data: 17,
  sample_id_all: 18,
  exclude_host: 19,
  exclude_guest: 20,
  exclude_callchain_kernel: 21,
  exclude_callchain_user: 22,
  mmap2: 23,
  comm_exec: 24,
} as const;

// --- include/uapi/linux/perf_event.h: enum perf_event_type (perf_event_header.type) ---
export const PERF_RECORD_MMAP = 1;
export const PERF_RECORD_LOST = 2;
export const PERF_RECORD_COMM = 3;
export const PERF_RECORD_EXIT = 4;
export const PERF_RECORD_THROTTLE = 5;
export const PERF_RECORD_UNTHROTTLE = 6;
export const PERF_RECORD_FORK = 7;
export const PERF_RECORD_READ = 8;
export const PERF_RECORD_SAMPLE = 9;
export const PERF_RECORD_MMAP2 = 10;
export const PERF_RECORD_LOST_SAMPLES = 13;

// --- include/uapi/linux/perf_event.h: perf_event_header.misc ---
export const PERF_RECORD_MISC_CPUMODE_MASK = 7;
export const PERF_RECORD_MISC_CPUMODE_UNKNOWN = 0;
export const PERF_RECORD_MISC_KERNEL = 1;
export const PERF_RECORD_MISC_USER = 2;
export const PERF_RECORD_MISC_HYPERVISOR = 3;
export const PERF_RECORD_MISC_GUEST_KERNEL = 4;
export const PERF_RECORD_MISC_GUEST_USER = 5;
/** On COMM: the comm changed because of exec (perf shows it as "exec"). Shares bit 13. */
export const PERF_RECORD_MISC_COMM_EXEC = 1 << 13;
/** On MMAP/MMAP2: a data (non-executable) mapping. Shares bit 13. */
export const PERF_RECORD_MISC_MMAP_DATA = 1 << 13;

// --- tools/perf/util/event.h / tools/lib/perf/include/perf/event.h: records perf itself adds ---
export const PERF_RECORD_FINISHED_ROUND = 68;

// --- tools/perf/util/header.h: feature bits of the perf.data header (HEADER_*) ---
export const HEADER_TRACING_DATA = 1;
export const HEADER_BUILD_ID = 2;
export const HEADER_HOSTNAME = 3;
export const HEADER_OSRELEASE = 4;
export const HEADER_VERSION = 5;
export const HEADER_ARCH = 6;
export const HEADER_NRCPUS = 7;
export const HEADER_CPUDESC = 8;
export const HEADER_CPUID = 9;
export const HEADER_TOTAL_MEM = 10;
export const HEADER_CMDLINE = 11;
export const HEADER_EVENT_DESC = 12;
export const HEADER_CPU_TOPOLOGY = 13;
export const HEADER_NUMA_TOPOLOGY = 14;
export const HEADER_BRANCH_STACK = 15;
export const HEADER_PMU_MAPPINGS = 16;
export const HEADER_GROUP_DESC = 17;
export const HEADER_AUXTRACE = 18;
export const HEADER_STAT = 19;
export const HEADER_CACHE = 20;
export const HEADER_SAMPLE_TIME = 21;
/** The feature bitmap is 256 bits: flags (u64) + flags1[3]. */
export const HEADER_FEAT_BITS = 256;

// --- tools/perf/util/header.h: struct perf_file_header ---
/** "PERFILE2" as bytes; read as a native u64 it also tells perf the file's byte order. */
export const PERF_MAGIC2 = 'PERFILE2';
/** magic(8) + size(8) + attr_size(8) + 3 * perf_file_section(16) + 256-bit feature bitmap(32). */
export const PERF_FILE_HEADER_SIZE = 104;
/** struct perf_file_section: u64 offset, u64 size. */
export const PERF_FILE_SECTION_SIZE = 16;
/** Strings in feature sections are padded to this (tools/perf/util/header.c: NAME_ALIGN). */
export const NAME_ALIGN = 64;
