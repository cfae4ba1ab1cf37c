// `vpmu export REC --format perf-data --out DIR`: every guest perf session of every VM in perf's
// own formats, from a recording (no re-simulation). Per VM directory:
//   <session>.perf.data        a `perf record` session (perf script / perf report read it)
//   perf-<pid>.map             the workload's symbols; perf looks for it at /tmp/perf-<pid>.map
//   <session>.perf-stat.txt    a `perf stat` session as perf prints it
//   <session>.perf-stat.csv    the same as `perf stat -x,` prints it
// The files are written under DIR.partial and renamed to DIR once all are complete.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildGuestPerfFiles, GuestEventsCollector, type GuestPerfFileKind } from '@vpmu/guest-perf-output';
import { CliError } from '../cli-error';
import { prepareStream, streamRecording } from '../replay/stream';
import { checkToolVersion, toolVersionWarning } from '../replay/recording-input';

export interface PerfDataFile {
  vm: string;
  session: string;
  kind: GuestPerfFileKind;
  /** Path relative to DIR. */
  file: string;
  /** perf.data: samples per event (spec order), lost samples. */
  samplesPerEvent?: number[];
  lostSamples?: number;
  /** perf.data: THROTTLE / UNTHROTTLE records. */
  throttles?: number;
  unthrottles?: number;
  /** perf map: where perf looks for it. */
  perfMapTarget?: string;
}

export interface PerfDataExportResult {
  dir: string;
  epochs: number;
  events: number;
  files: PerfDataFile[];
  /** VM → guest PMIs outside every record session (not written). */
  unattributedPmis: Map<string, number>;
  warning: string | null;
}

function checkOutDir(given: string, target: string): void {
  let st: fs.Stats | null = null;
  try {
    st = fs.statSync(target);
  } catch {
    // does not exist yet: fine
  }
  if (st && !st.isDirectory()) throw new CliError(`--out ${given} is a file; --format perf-data writes a directory, give a new directory name.`);
  if (st && fs.readdirSync(target).length > 0) throw new CliError(`--out ${given} is a directory that is not empty; give a new or empty directory.`);
  const parent = path.dirname(target);
  if (!fs.existsSync(parent)) throw new CliError(`the directory of --out ${given} (${parent}) does not exist; create it or choose another --out.`);
}

export async function exportPerfData(file: string, outDir: string): Promise<PerfDataExportResult> {
  const { header, scenario } = prepareStream(file);
  const target = path.resolve(outDir);
  checkOutDir(outDir, target);
  const collector = new GuestEventsCollector();
  const streamed = await streamRecording(file, [{ onEvents: (_epoch, _node, events) => collector.onEvents(events) }]);

  const outputs: { rel: string; bytes: Uint8Array; entry: PerfDataFile }[] = [];
  const unattributed = new Map<string, number>();
  for (const vm of scenario.vms) {
    const set = buildGuestPerfFiles(scenario, vm, collector.forVm(vm.id));
    if (set.unattributedPmis > 0) unattributed.set(vm.id, set.unattributedPmis);
    for (const f of set.files) {
      const rel = path.join(vm.id, f.name);
      const entry: PerfDataFile = { vm: vm.id, session: f.session, kind: f.kind, file: rel };
      if (f.samplesPerEvent) entry.samplesPerEvent = f.samplesPerEvent;
      if (f.lostSamples !== undefined) entry.lostSamples = f.lostSamples;
      if (f.throttles !== undefined) entry.throttles = f.throttles;
      if (f.unthrottles !== undefined) entry.unthrottles = f.unthrottles;
      if (f.perfMapTarget) entry.perfMapTarget = f.perfMapTarget;
      outputs.push({ rel, bytes: f.bytes, entry });
    }
  }

  const partial = `${target}.partial`;
  try {
    fs.rmSync(partial, { recursive: true, force: true });
    fs.mkdirSync(partial);
    for (const o of outputs) {
      fs.mkdirSync(path.dirname(path.join(partial, o.rel)), { recursive: true });
      fs.writeFileSync(path.join(partial, o.rel), o.bytes);
    }
    if (fs.existsSync(target)) fs.rmdirSync(target); // checked empty above
    fs.renameSync(partial, target);
  } catch (err) {
    fs.rmSync(partial, { recursive: true, force: true });
    throw new CliError(`cannot write ${outDir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); choose another --out.`);
  }
  return {
    dir: target,
    epochs: streamed.epochs,
    events: streamed.events,
    files: outputs.map((o) => o.entry),
    unattributedPmis: unattributed,
    warning: toolVersionWarning(checkToolVersion(header)),
  };
}

/** What `vpmu export --format perf-data` prints: the files and how to read them with perf. */
export function describePerfDataExport(r: PerfDataExportResult, shownDir: string): string[] {
  const lines: string[] = [];
  const perfData = r.files.filter((f) => f.kind === 'perf.data');
  const stats = r.files.filter((f) => f.kind === 'perf stat');
  lines.push(`exported ${r.events} events (${r.epochs} epochs) as perf-data to ${shownDir}: ${perfData.length} perf record session(s), ${stats.length} perf stat session(s).`);
  if (r.files.length === 0) {
    lines.push('no VM of this run has a guest perf session (vms[].guestPerf): nothing to write.');
    return lines;
  }
  for (const f of r.files) {
    const p = path.join(shownDir, f.file);
    if (f.kind === 'perf.data') {
      const samples = f.samplesPerEvent!.reduce((s, n) => s + n, 0);
      const throttled = f.throttles ? `, throttled ${f.throttles} time(s)` : '';
      lines.push(`  ${p}  (${samples} samples, ${f.lostSamples} lost${throttled})`);
    } else if (f.kind === 'perf map') {
      lines.push(`  ${p}  (symbols: perf reads them from ${f.perfMapTarget})`);
    } else {
      lines.push(`  ${p}`);
    }
  }
  for (const [vm, n] of r.unattributedPmis) lines.push(`${vm}: ${n} guest PMI(s) outside every perf record session were not written.`);
  if (perfData.length > 0) {
    const first = path.join(shownDir, perfData[0]!.file);
    const maps = r.files.filter((f) => f.kind === 'perf map');
    lines.push('read them with perf (the map file must be at /tmp/perf-<pid>.map, owned by the user running perf):');
    for (const m of maps) {
      if (maps.findIndex((x) => x.perfMapTarget === m.perfMapTarget) !== maps.indexOf(m)) continue;
      lines.push(`  cp ${path.join(shownDir, m.file)} ${m.perfMapTarget}`);
    }
    lines.push(`  perf script -i ${first}`);
    lines.push(`  perf report --stdio -i ${first}`);
  }
  if (stats.length > 0) lines.push(`perf stat output: cat ${path.join(shownDir, stats[0]!.file)} (the .csv is perf stat -x, output)`);
  return lines;
}
