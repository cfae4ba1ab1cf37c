// sweep.html: one self-contained page (inline SVG and CSS, no script, no network) with one plot
// per measured figure against each varied axis. Each plot has one line per combination of the
// other axes' values; a marker is the mean over seeds and its bar the spread (min to max).
// x positions are the axis values in the order given (equally spaced: frequencies and event
// counts are chosen by the experimenter, and equal spacing keeps 100 Hz and 10 kHz both readable).
import { SWEEP_FIGURES, type SweepRow } from './sweep-rows';
import type { VaryAxis, VaryValue } from './vary-path';

export interface SweepDoc {
  scenario: string;
  toolVersion: string;
  axes: VaryAxis[];
  seeds: number[];
  rows: SweepRow[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
/** Past the palette, lines repeat its colours with another dash pattern. */
const DASHES = ['', '7 4', '2 3', '10 3 2 3'];
const W = 460;
const H = 260;
const M = { left: 64, right: 16, top: 14, bottom: 40 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function fmt(x: number): string {
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 0.01)) return x.toPrecision(3);
  return String(Math.round(x * 100) / 100);
}

export interface PlotLine {
  label: string;
  /** Per x value: mean and spread over seeds, or null where no row has the figure. */
  points: ({ mean: number; min: number; max: number; n: number } | null)[];
}

/** The lines of one plot: figure `of` against `axis`, one line per combination of the other axes. */
export function plotLines(doc: SweepDoc, axisIndex: number, of: (r: SweepRow) => number | null): PlotLine[] {
  const axis = doc.axes[axisIndex];
  const others = doc.axes.filter((_, i) => i !== axisIndex);
  const lines = new Map<string, { label: string; byX: number[][] }>();
  for (const r of doc.rows) {
    const label = others.map((a) => `${shortPath(a.path)}=${r.values[a.path]}`).join(', ') || 'all';
    let line = lines.get(label);
    if (!line) lines.set(label, (line = { label, byX: axis.values.map(() => []) }));
    const x = axis.values.findIndex((v) => v === r.values[axis.path]);
    const y = of(r);
    if (x >= 0 && y !== null) line.byX[x].push(y);
  }
  return [...lines.values()].map((l) => ({
    label: l.label,
    points: l.byX.map((ys) => (ys.length === 0 ? null : { mean: ys.reduce((a, b) => a + b, 0) / ys.length, min: Math.min(...ys), max: Math.max(...ys), n: ys.length })),
  }));
}

function shortPath(p: string): string {
  return p.split('.').slice(-2).join('.');
}

function renderPlot(doc: SweepDoc, figure: (typeof SWEEP_FIGURES)[number], axisIndex: number): string {
  const axis = doc.axes[axisIndex];
  const lines = plotLines(doc, axisIndex, figure.of);
  const ys = lines.flatMap((l) => l.points.flatMap((p) => (p ? [p.min, p.max] : [])));
  if (ys.length === 0) return '';
  // Round tick steps (1, 2, 2.5 or 5 times a power of ten) and a range that starts at 0 when all is positive.
  const rawLo = Math.min(0, ...ys);
  const rawHi = Math.max(...ys);
  const step = niceStep((rawHi - rawLo || Math.abs(rawHi) || 1) / 4);
  const lo = Math.floor(rawLo / step) * step;
  const hi = Math.max(lo + step, Math.ceil(rawHi / step) * step);
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const n = axis.values.length;
  const inset = 36; // room for the first and last x labels
  const xAt = (i: number): number => M.left + inset + (n === 1 ? (iw - 2 * inset) / 2 : (i * (iw - 2 * inset)) / (n - 1));
  const yAt = (v: number): number => M.top + ih - ((v - lo) / (hi - lo)) * ih;
  const parts: string[] = [];
  for (let v = lo; v <= hi + step / 2; v += step) {
    const y = yAt(v);
    parts.push(`<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}"/><text class="tick" x="${M.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`);
  }
  axis.values.forEach((v: VaryValue, i) => {
    parts.push(`<text class="tick xtick" x="${xAt(i).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle">${esc(String(v))}</text>`);
  });
  parts.push(`<text class="axis-label" x="${M.left + iw / 2}" y="${H - 6}" text-anchor="middle">${esc(axis.path)}</text>`);
  lines.forEach((l, li) => {
    const color = COLORS[li % COLORS.length];
    const dash = DASHES[Math.floor(li / COLORS.length) % DASHES.length];
    const pts = l.points.map((p, i) => (p ? [xAt(i), yAt(p.mean)] : null));
    const d = pts
      .map((p, i) => (p ? `${i === 0 || !pts[i - 1] ? 'M' : 'L'}${p[0].toFixed(1)},${p[1].toFixed(1)}` : ''))
      .filter(Boolean)
      .join(' ');
    parts.push(`<g class="series" data-label="${esc(l.label)}"><path class="line" d="${d}" stroke="${color}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    l.points.forEach((p, i) => {
      if (!p) return;
      const x = xAt(i).toFixed(1);
      if (p.max > p.min) parts.push(`<line class="spread" x1="${x}" x2="${x}" y1="${yAt(p.min).toFixed(1)}" y2="${yAt(p.max).toFixed(1)}" stroke="${color}"/>`);
      parts.push(
        `<circle class="mean" cx="${x}" cy="${yAt(p.mean).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(l.label)} ${esc(axis.path)}=${esc(String(axis.values[i]))}: mean ${fmt(p.mean)} over ${p.n} seed(s), min ${fmt(p.min)}, max ${fmt(p.max)}</title></circle>`,
      );
    });
    parts.push('</g>');
  });
  const legend = lines
    .map((l, li) => {
      const dash = DASHES[Math.floor(li / COLORS.length) % DASHES.length];
      return `<li><svg class="swatch" width="22" height="10"><line x1="0" x2="22" y1="5" y2="5" stroke="${COLORS[li % COLORS.length]}" stroke-width="3"${dash ? ` stroke-dasharray="${dash}"` : ''}/></svg>${esc(l.label)}</li>`;
    })
    .join('');
  return `<figure class="plot" data-figure="${figure.name}" data-axis="${esc(axis.path)}">
<figcaption>${esc(figure.label)} against <code>${esc(axis.path)}</code></figcaption>
<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(figure.label)} against ${esc(axis.path)}">${parts.join('')}</svg>
<ul class="legend">${legend}</ul>
</figure>`;
}

export function renderSweepHtml(doc: SweepDoc): string {
  const sections = SWEEP_FIGURES.map((f) => {
    const plots = doc.axes.map((_, i) => renderPlot(doc, f, i)).filter(Boolean);
    if (plots.length === 0) return '';
    return `<section class="figure" id="fig-${f.name}"><h2>${esc(f.label)}</h2><div class="plots">${plots.join('\n')}</div></section>`;
  }).join('\n');
  const axes = doc.axes.map((a) => `<li><code>${esc(a.path)}</code>: ${a.values.map((v) => esc(String(v))).join(', ')}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sweep ${esc(doc.scenario)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px}h2{font-size:16px;margin:24px 0 8px}
.plots{display:flex;flex-wrap:wrap;gap:16px}
figure.plot{margin:0;border:1px solid #ddd;border-radius:4px;padding:8px;background:#fcfcfc}
figcaption{font-weight:600;margin-bottom:4px}
svg .grid{stroke:#e4e4e4}svg .tick{font-size:11px;fill:#555}svg .axis-label{font-size:12px;fill:#333}
svg .line{fill:none;stroke-width:2}svg .spread{stroke-width:1.5;opacity:.6}
ul.legend{list-style:none;padding:0;margin:4px 0 0;font-size:12px;columns:2}
.swatch{display:inline-block;vertical-align:middle;margin-right:6px}
</style></head>
<body>
<h1>Sweep of ${esc(doc.scenario)}</h1>
<p>${doc.rows.length} rows: ${doc.rows.length / Math.max(1, doc.seeds.length)} points x ${doc.seeds.length} seed(s) (${doc.seeds.join(', ')}); tool ${esc(doc.toolVersion)}.
Markers are means over the seeds, bars the spread (min to max); one line per combination of the other axes.
Overhead = (baseline - score) / baseline, the baseline being the same point without guest perf.</p>
<ul class="axes">${axes}</ul>
${sections}
</body></html>
`;
}
