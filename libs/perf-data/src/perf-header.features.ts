// The feature sections after the data section of a perf.data file
// (tools/perf/Documentation/perf.data-file-format.txt, "Flags section"; tools/perf/util/header.c
// for what perf 6.1 actually writes and reads). Each set bit of the header's 256-bit bitmap owns
// one perf_file_section, in bit order, pointing at its payload.
import { ByteWriter, paddedCString, type U64 } from './byte.writer';
import {
  HEADER_ARCH,
  HEADER_CMDLINE,
  HEADER_CPUDESC,
  HEADER_CPUID,
  HEADER_EVENT_DESC,
  HEADER_HOSTNAME,
  HEADER_NRCPUS,
  HEADER_OSRELEASE,
  HEADER_SAMPLE_TIME,
  HEADER_TOTAL_MEM,
  HEADER_VERSION,
  NAME_ALIGN,
  PERF_ATTR_SIZE_VER7,
} from './perf-event.constants';
import { writePerfEventAttr } from './perf-attr.encode';
import type { PerfEventSpec, PerfHostInfo } from './perf-record.types';

/** One feature: its HEADER_* bit and its payload. */
export interface PerfFeature {
  bit: number;
  payload: Buffer;
}

/** struct perf_header_string: u32 len (padded, NUL included), then the padded bytes. */
function headerString(w: ByteWriter, text: string): void {
  const padded = paddedCString(text, NAME_ALIGN);
  w.u32(padded.length).bytes(padded);
}

function stringFeature(bit: number, text: string): PerfFeature {
  const w = new ByteWriter(128);
  headerString(w, text);
  return { bit, payload: w.toBuffer() };
}

/**
 * HEADER_NRCPUS. The format document lists online first, but perf's writer and reader
 * (header.c: write_nrcpus / process_nrcpus) put the available (present) count first; the
 * reader is what matters.
 */
function nrCpus(host: PerfHostInfo): PerfFeature {
  const w = new ByteWriter(8);
  w.u32(host.nrCpusAvailable).u32(host.nrCpusOnline);
  return { bit: HEADER_NRCPUS, payload: w.toBuffer() };
}

/** HEADER_TOTAL_MEM: a u64 in kB (perf copies MemTotal from /proc/meminfo; the doc's "bytes" is wrong). */
function totalMem(host: PerfHostInfo): PerfFeature {
  const w = new ByteWriter(8);
  w.u64(host.totalMemKb, 'totalMemKb');
  return { bit: HEADER_TOTAL_MEM, payload: w.toBuffer() };
}

/** HEADER_CMDLINE: a perf_header_string_list (u32 nr, then the strings), argv[0] first. */
function cmdline(host: PerfHostInfo): PerfFeature {
  const w = new ByteWriter(256);
  w.u32(host.cmdline.length);
  for (const arg of host.cmdline) headerString(w, arg);
  return { bit: HEADER_CMDLINE, payload: w.toBuffer() };
}

/** HEADER_EVENT_DESC: u32 nr, u32 attr_size, then per event attr, u32 nr_ids, name, ids[]. */
function eventDesc(events: PerfEventSpec[]): PerfFeature {
  const w = new ByteWriter(512);
  w.u32(events.length).u32(PERF_ATTR_SIZE_VER7);
  for (const event of events) {
    writePerfEventAttr(w, event);
    w.u32(event.ids.length);
    headerString(w, event.name);
    for (const id of event.ids) w.u64(id, 'id');
  }
  return { bit: HEADER_EVENT_DESC, payload: w.toBuffer() };
}

/** HEADER_SAMPLE_TIME: first and last sample time, what `perf report --header` prints as duration. */
function sampleTime(firstNs: U64, lastNs: U64): PerfFeature {
  const w = new ByteWriter(16);
  w.u64(firstNs, 'first sample time').u64(lastNs, 'last sample time');
  return { bit: HEADER_SAMPLE_TIME, payload: w.toBuffer() };
}

/**
 * The features this writer emits, in bit order. These are the ones perf 6.1 reads to describe the
 * recording machine (`perf report --header`) and to name the events; the others (CPU/NUMA
 * topology, caches, PMU mappings, build ids) are optional and listed by perf as "missing" without
 * any warning.
 */
export function perfFeatures(
  host: PerfHostInfo,
  events: PerfEventSpec[],
  sampleTimeRangeNs: { firstNs: U64; lastNs: U64 } | undefined,
): PerfFeature[] {
  const features: PerfFeature[] = [
    stringFeature(HEADER_HOSTNAME, host.hostname),
    stringFeature(HEADER_OSRELEASE, host.osRelease),
    stringFeature(HEADER_VERSION, host.perfVersion),
    stringFeature(HEADER_ARCH, host.arch),
    nrCpus(host),
    stringFeature(HEADER_CPUDESC, host.cpuDesc),
    stringFeature(HEADER_CPUID, host.cpuId),
    totalMem(host),
    cmdline(host),
    eventDesc(events),
  ];
  if (sampleTimeRangeNs) features.push(sampleTime(sampleTimeRangeNs.firstNs, sampleTimeRangeNs.lastNs));
  return features.sort((a, b) => a.bit - b.bit);
}
