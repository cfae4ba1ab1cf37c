// Assembles a whole perf.data file (tools/perf/Documentation/perf.data-file-format.txt):
//
//   perf_file_header (104 bytes)
//   ids of every event (u64 arrays the attribute entries point at)
//   attribute section: per event, perf_event_attr + perf_file_section of its ids
//   data section: the records, as the kernel would have written them
//   feature section table (one perf_file_section per set feature bit), then the payloads
//
// The same layout as `perf record` writes, so perf reads it on the normal (non-pipe) path.
// Pure: returns the bytes, the caller writes the file. Deterministic: nothing here reads a
// clock, the host name or the environment; the same session gives the same bytes.
import { ByteWriter, toU64 } from './byte.writer';
import {
  HEADER_FEAT_BITS,
  PERF_ATTR_SIZE_VER7,
  PERF_FILE_HEADER_SIZE,
  PERF_FILE_SECTION_SIZE,
  PERF_MAGIC2,
  PERF_SAMPLE_ID,
  PERF_SAMPLE_IDENTIFIER,
  PERF_SAMPLE_TIME,
} from './perf-event.constants';
import { writePerfEventAttr } from './perf-attr.encode';
import { perfFeatures } from './perf-header.features';
import { SUPPORTED_SAMPLE_TYPE, writeKernelMmap, writePerfRecord, type RecordContext } from './perf-record.encode';
import type { PerfDataSession, PerfEventSpec, PerfKernelText } from './perf-record.types';

/** Bytes of one entry of the attribute section: the attr and the file section of its ids. */
const ATTR_ENTRY_SIZE = PERF_ATTR_SIZE_VER7 + PERF_FILE_SECTION_SIZE;

/** x86-64 kernel text without KASLR; the guest's own address if the session gives one. */
export const DEFAULT_KERNEL_TEXT: PerfKernelText = { startAddr: 0xffffffff81000000n, lengthBytes: 0x1000000n };

/** Checks what perf would otherwise reject or misread, with a message naming the culprit. */
function validate(session: PerfDataSession): RecordContext {
  const { events } = session;
  if (events.length === 0) throw new RangeError('a perf.data session needs at least one event');
  const first = events[0]!;
  const seen = new Set<bigint>();
  for (const event of events) {
    // perf finds a record's event by its id at one fixed position for all events
    // (tools/perf/util/evlist.c, evlist__valid_sample_type), and side records carry a single
    // sample_id trailer layout: one sample_type for the whole session keeps both true.
    if (event.sampleType !== first.sampleType) {
      throw new RangeError(`event ${event.name}: sample_type differs from ${first.name}'s; a session has one layout`);
    }
    if (event.sampleIdAll !== first.sampleIdAll) {
      throw new RangeError(`event ${event.name}: sample_id_all differs from ${first.name}'s`);
    }
    const unsupported = event.sampleType & ~SUPPORTED_SAMPLE_TYPE;
    if (unsupported !== 0n) {
      throw new RangeError(`event ${event.name}: sample_type bits 0x${unsupported.toString(16)} are not supported`);
    }
    if (event.ids.length === 0) throw new RangeError(`event ${event.name} has no ids`);
    for (const id of event.ids) {
      if (seen.has(id)) throw new RangeError(`id ${id} is used twice; ids must be unique in a session`);
      seen.add(id);
    }
  }
  if (events.length > 1 && (first.sampleType & (PERF_SAMPLE_ID | PERF_SAMPLE_IDENTIFIER)) === 0n) {
    throw new RangeError('with several events, sample_type needs PERF_SAMPLE_ID or PERF_SAMPLE_IDENTIFIER');
  }
  for (const r of session.records) {
    const id = r.id;
    if (id !== undefined && !seen.has(id)) throw new RangeError(`${r.kind} record names unknown id ${id}`);
  }
  return { sampleType: first.sampleType, sampleIdAll: first.sampleIdAll, defaultId: first.ids[0]! };
}

function sampleTimeRange(session: PerfDataSession): { firstNs: bigint; lastNs: bigint } | undefined {
  if ((session.events[0]!.sampleType & PERF_SAMPLE_TIME) === 0n) return undefined;
  let firstNs: bigint | undefined;
  let lastNs: bigint | undefined;
  for (const r of session.records) {
    if (r.kind !== 'sample') continue;
    const t = toU64(r.timeNs, 'timeNs');
    if (firstNs === undefined || t < firstNs) firstNs = t;
    if (lastNs === undefined || t > lastNs) lastNs = t;
  }
  return firstNs === undefined ? undefined : { firstNs, lastNs: lastNs! };
}

function writeFileHeader(
  w: ByteWriter,
  attrs: { offset: number; size: number },
  data: { offset: number; size: number },
  featureBits: number[],
): void {
  w.bytes(Buffer.from(PERF_MAGIC2, 'latin1'));
  w.u64(PERF_FILE_HEADER_SIZE);
  w.u64(ATTR_ENTRY_SIZE);
  w.u64(attrs.offset).u64(attrs.size);
  w.u64(data.offset).u64(data.size);
  w.u64(0).u64(0); // event_types: unused since perf 3.x
  const bitmap = Buffer.alloc(HEADER_FEAT_BITS / 8);
  for (const bit of featureBits) bitmap[bit >> 3]! |= 1 << (bit & 7);
  w.bytes(bitmap);
}

/** The bytes of a perf.data file holding `session`. */
export function writePerfData(session: PerfDataSession): Buffer {
  const ctx = validate(session);
  const { events } = session;

  // Body first (ids, attrs, data), header last: the header needs the offsets.
  const body = new ByteWriter(64 * 1024);
  const idSections: { offset: number; size: number }[] = [];
  for (const event of events) {
    idSections.push({ offset: PERF_FILE_HEADER_SIZE + body.length, size: event.ids.length * 8 });
    for (const id of event.ids) body.u64(id, 'id');
  }
  const attrsOffset = PERF_FILE_HEADER_SIZE + body.length;
  events.forEach((event: PerfEventSpec, i) => {
    writePerfEventAttr(body, event);
    body.u64(idSections[i]!.offset).u64(idSections[i]!.size);
  });
  body.align(8);
  const dataOffset = PERF_FILE_HEADER_SIZE + body.length;
  writeKernelMmap(body, ctx, session.kernelText ?? DEFAULT_KERNEL_TEXT);
  for (const record of session.records) writePerfRecord(body, ctx, record);
  const dataSize = PERF_FILE_HEADER_SIZE + body.length - dataOffset;

  const features = perfFeatures(session.host, events, sampleTimeRange(session));
  const tableOffset = PERF_FILE_HEADER_SIZE + body.length;
  let payloadOffset = tableOffset + features.length * PERF_FILE_SECTION_SIZE;
  for (const f of features) {
    body.u64(payloadOffset).u64(f.payload.length);
    payloadOffset += f.payload.length;
  }
  for (const f of features) body.bytes(f.payload);

  const out = new ByteWriter(PERF_FILE_HEADER_SIZE + body.length);
  writeFileHeader(
    out,
    { offset: attrsOffset, size: events.length * ATTR_ENTRY_SIZE },
    { offset: dataOffset, size: dataSize },
    features.map((f) => f.bit),
  );
  out.bytes(body.toBuffer());
  return out.toBuffer();
}
