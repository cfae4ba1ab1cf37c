// `vpmu export REC --format jsonl|perfetto|otlp-json|html --out FILE` and
// `vpmu export REC --format perf-data --out DIR`: converts a recording without re-simulating.
// The file (directory) is written as FILE.partial and renamed when complete.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, usageOf, type CommandSpec } from '../args';
import { CliError } from '../cli-error';
import { assertNotAnInput, relativeForDisplay } from '../out-dir';
import { checkToolVersion, resolveRecordingPath, toolVersionWarning } from '../replay/recording-input';
import { prepareStream, streamRecording } from '../replay/stream';
import { htmlReportViewer, jsonlViewer, otlpJsonViewer, perfettoViewer, type Viewer } from '../replay/viewers';
import { describePerfDataExport, exportPerfData } from '../perf-export/perf-data.export';
import type { CommandIo } from './command-io';

export const EXPORT_FORMATS = ['jsonl', 'perfetto', 'otlp-json', 'html', 'perf-data'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const EXPORT_SPEC: CommandSpec = {
  name: 'export',
  positionals: [{ name: 'REC', required: true, help: 'the recording (recording.vpmurec, or the run directory holding it)' }],
  flags: { format: 'string', out: 'string', json: 'bool', debug: 'bool' },
  help: {
    format: { value: 'FORMAT', text: `what to write: ${EXPORT_FORMATS.join(', ')}` },
    out: { value: 'FILE', text: 'the file to write (written as FILE.partial, renamed when complete)' },
    json: { text: 'print the files written and the counts as JSON on stdout' },
  },
};

export async function exportCommand(argv: string[], io: CommandIo): Promise<number> {
  const args = parseArgs(EXPORT_SPEC, argv);
  const format = args.flags.format as string | undefined;
  const out = args.flags.out as string | undefined;
  if (format === undefined || out === undefined) {
    throw new CliError(`vpmu export: --format and --out are required (usage: vpmu export ${usageOf(EXPORT_SPEC)}).`);
  }
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new CliError(`vpmu export: unknown --format "${format}" (formats: ${EXPORT_FORMATS.join(', ')}).`);
  }
  const file = resolveRecordingPath(args.positionals[0]);
  assertNotAnInput('--out', out, [file]);
  if (format === 'perf-data') {
    const r = await exportPerfData(file, out);
    if (r.warning) io.err(r.warning);
    if (args.flags.json === true) {
      const files = r.files.map((f) => ({ vm: f.vm, session: f.session, kind: f.kind, file: relativeForDisplay(f.file), ...(f.perfMapTarget && { perfMapTarget: f.perfMapTarget }) }));
      io.out(JSON.stringify({ recording: file, format, epochs: r.epochs, events: r.events, dir: relativeForDisplay(r.dir), files }, null, 2));
      return 0;
    }
    for (const line of describePerfDataExport(r, relativeForDisplay(r.dir))) io.out(line);
    return 0;
  }
  const r = await exportRecording(file, format as Exclude<ExportFormat, 'perf-data'>, out);
  if (r.warning) io.err(r.warning);
  if (args.flags.json === true) {
    io.out(JSON.stringify({ recording: file, format, epochs: r.epochs, events: r.events, files: [relativeForDisplay(r.file)] }, null, 2));
    return 0;
  }
  io.out(`exported ${r.events} events (${r.epochs} epochs) as ${format}${format === 'jsonl' ? ` (${r.events} lines)` : ''} to ${relativeForDisplay(r.file)}.`);
  return 0;
}

export interface ExportResult {
  file: string;
  epochs: number;
  events: number;
  warning: string | null;
}

export async function exportRecording(file: string, format: Exclude<ExportFormat, 'perf-data'>, outFile: string): Promise<ExportResult> {
  // Check the recording and the destination before writing anything.
  const { header, scenario } = prepareStream(file);
  const target = path.resolve(outFile);
  checkWritableTarget(outFile, target);
  let viewer: Viewer;
  try {
    switch (format) {
      case 'jsonl':
        viewer = jsonlViewer(target);
        break;
      case 'perfetto':
        viewer = perfettoViewer(target);
        break;
      case 'html':
        viewer = htmlReportViewer(target);
        break;
      case 'otlp-json': {
        // Anchored at the recording's modification time, so one recording always exports the same bytes.
        const mtimeNs = fs.statSync(file, { bigint: true }).mtimeNs;
        viewer = otlpJsonViewer(target, { runId: header.runId, seed: header.seed, scenario, runStartUnixNs: mtimeNs - (mtimeNs % 1_000_000n), replay: true });
        break;
      }
    }
  } catch (err) {
    throw new CliError(`cannot write ${outFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); choose another --out.`);
  }
  try {
    const result = await streamRecording(file, [viewer]);
    await viewer.finish(result.summary);
    return { file: target, epochs: result.epochs, events: result.events, warning: toolVersionWarning(checkToolVersion(header)) };
  } catch (err) {
    viewer.abort();
    throw err;
  }
}

function checkWritableTarget(given: string, target: string): void {
  let st: fs.Stats | null = null;
  try {
    st = fs.statSync(target);
  } catch {
    // does not exist yet: fine
  }
  if (st?.isDirectory()) throw new CliError(`--out ${given} is a directory; give a file name, e.g. ${path.join(given, 'run.jsonl')}.`);
  const dir = path.dirname(target);
  if (!fs.existsSync(dir)) throw new CliError(`the directory of --out ${given} (${dir}) does not exist; create it or choose another --out.`);
}
