// report.html of a real run (scenarios/live-migration-tour.yaml: one VM per vPMU mode, including
// vpmu none, and a migration of each) opened in a real headless Chromium (Debian `chromium` via
// playwright-core): the counter table, fidelity verdicts, plot axes and migration phases must
// not mislead. Screenshots of the checked sections land in test-output/report/.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import type { RunSummary } from '@vpmu/summary';
import { runScenarioFile, tempDir } from '../support/run-scenario';
import { CHROMIUM, openInChromium, type OpenedPage } from '../support/chromium';

// Runs inside the page (the tsconfig has no DOM lib).
declare function getComputedStyle(e: unknown): { fill: string; backgroundColor: string; stroke: string };

const OUT_DIR = resolve(__dirname, '../../test-output/report');

describe('report.html of live-migration-tour in headless Chromium', () => {
  let opened: OpenedPage | undefined;
  let page: Page;
  let summary: RunSummary;
  let outDir: string;
  let problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium, or set VPMU_CHROMIUM`);
    mkdirSync(OUT_DIR, { recursive: true });
    const run = await runScenarioFile('live-migration-tour.yaml', { outDir: tempDir('report') });
    summary = run.summary;
    outDir = run.outDir;
    opened = await openInChromium(join(run.outDir, 'report.html'));
    page = opened.page;
    problems = opened.problems;
  }, 120_000);

  afterAll(async () => {
    await opened?.close();
  });

  it('shows n/a, with the reason as a tooltip, for the error of a vpmu none VM', async () => {
    expect(summary.vms['vm-none'].vpmu).toBe('none');
    const cells = page.locator('#counters td.na');
    expect(await cells.count()).toBe(Object.keys(summary.vms['vm-none'].counters).length);
    for (const t of await cells.allInnerTexts()) expect(t).toBe('n/a');
    expect(await cells.first().getAttribute('title')).toContain('no PMU');
    const counters = await page.locator('#counters').innerText();
    expect(counters).not.toContain('-100.00%');
    expect(await page.locator('#plots figcaption .na').count()).toBeGreaterThan(0);
    await page.locator('section#counters').screenshot({ path: join(OUT_DIR, 'counters.png') });
  });

  it('prints error percentages as fixed decimals, never in exponent notation', async () => {
    const texts = [...(await page.locator('#counters td.num').allInnerTexts()), ...(await page.locator('#plots figcaption').allInnerTexts())];
    const pcts = texts.join(' ').match(/[-+]?[\d.e+-]+%/g) ?? [];
    expect(pcts.length).toBeGreaterThan(5);
    for (const p of pcts) expect(p).toMatch(/^[-+]?\d+\.\d{2}%$/);
  });

  it('says "not measured" where no check backs a fidelity verdict, and shows the check counts', async () => {
    const row = (vm: string) => page.locator('#fidelity tbody tr', { hasText: vm }).first();
    const none = row('vm-none');
    expect(await none.locator('.nm').count()).toBe(4);
    expect(await none.locator('.good').count()).toBe(0);
    expect(await none.innerText()).not.toMatch(/exact|deterministic|no leak|precise/);
    const pt = summary.vms['vm-pt'].fidelity!;
    const ptText = await row('vm-pt').innerText();
    expect(ptText).toContain(`${pt.counts.checks.toLocaleString('en-US')} checks`);
    expect(ptText).toContain(`${pt.isolation.checks.toLocaleString('en-US')} checks`);
    // Every green verdict has a non-zero count beside it.
    for (const vm of Object.keys(summary.vms)) {
      const goods = row(vm).locator('span.good + span.checks');
      for (const t of await goods.allInnerTexts()) expect(t).not.toMatch(/^0 /);
      expect(await row(vm).locator('span.good').count()).toBe(await goods.count());
    }
    await page.locator('section#fidelity').screenshot({ path: join(OUT_DIR, 'fidelity.png') });
  });

  it('draws plot labels inside their box, on round 1-2-5 ticks with units: the rate per ms and the error panel', async () => {
    const labels = await page.$$eval('#plots figure.plot svg', (svgs) =>
      svgs.flatMap((svg) => {
        const w = (svg as unknown as { viewBox: { baseVal: { width: number } } }).viewBox.baseVal.width;
        return [...svg.querySelectorAll('text.ylab, text.elab, text.xlab, text.unit')].map((t) => {
          const b = (t as unknown as { getBBox(): { x: number; width: number } }).getBBox();
          return { cls: t.getAttribute('class') ?? '', text: t.textContent ?? '', x0: b.x, x1: b.x + b.width, w };
        });
      }),
    );
    expect(labels.length).toBeGreaterThan(20);
    for (const l of labels) {
      expect(l.x0).toBeGreaterThanOrEqual(0);
      expect(l.x1).toBeLessThanOrEqual(l.w);
    }
    const ys = labels.filter((l) => l.cls.includes('ylab')).map((l) => l.text);
    expect(ys).toContain('0');
    // Per plot, the y ticks are 0, s, 2s, ... with s = 1, 2 or 5 × 10^k (SI suffix k/M/G/T).
    const scale: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
    const perPlot = await page.$$eval('#plots figure.plot svg', (svgs) => svgs.map((svg) => [...svg.querySelectorAll('text.ylab')].map((t) => t.textContent ?? '')));
    for (const plot of perPlot) {
      const values = plot.map((t) => {
        const m = /^(\d+(?:\.\d+)?)([kMGT]?)$/.exec(t);
        expect(m).not.toBeNull();
        return Number(m![1]) * scale[m![2]];
      });
      expect(values[0]).toBe(0);
      const step = values[1];
      const mant = step / Math.pow(10, Math.floor(Math.log10(step)));
      expect([1, 2, 5]).toContain(Math.round(mant * 1000) / 1000);
      values.forEach((v, i) => expect(Math.abs(v - i * step)).toBeLessThan(step * 1e-6));
    }
    expect(new Set(labels.filter((l) => l.cls.includes('unit')).map((l) => l.text))).toEqual(new Set(['events/ms', 'observed − actual (events)']));
    // The error panel: symmetric round ticks around a zero line.
    const errTicks = await page.$$eval('#plots figure.plot svg', (svgs) => svgs.map((svg) => [...svg.querySelectorAll('text.elab')].map((t) => t.textContent ?? '')));
    for (const ticks of errTicks) {
      expect(ticks).toHaveLength(3);
      expect(ticks[1]).toBe('0');
      expect(ticks[0]!.slice(1)).toBe(ticks[2]!.slice(1));
      expect(ticks[0]!.startsWith('−') && ticks[2]!.startsWith('+')).toBe(true);
    }
    for (const t of labels.filter((l) => l.cls.includes('xlab')).map((l) => l.text)) expect(t).toMatch(/^\d+(\.\d+)?(ns|µs|ms|s)$/);
    await page.locator('section#plots').screenshot({ path: join(OUT_DIR, 'plots.png') });
  });

  it('marks a VM\'s migrations and its findings on its counter plots, and its error panel shows the drift', async () => {
    const migrated = Object.entries(summary.vms).filter(([, v]) => v.migrations.some((m) => m.result === 'completed')).map(([id]) => id);
    const figures = page.locator('#plots figure.plot');
    let marked = 0;
    for (let i = 0; i < (await figures.count()); i++) {
      const f = figures.nth(i);
      const owner = await f.locator('figcaption b').innerText();
      const guest = (await f.locator('figcaption').innerText()).includes('guest view');
      const marks = await f.locator('line.migmark').count();
      if (guest && migrated.includes(owner)) {
        expect({ owner, marks: marks > 0 }).toEqual({ owner, marks: true });
        marked++;
      } else if (!guest) {
        expect({ owner, marks }).toEqual({ owner, marks: 0 });
      }
      expect(await f.locator('polyline.err').count()).toBeGreaterThan(0);
    }
    expect(marked).toBeGreaterThan(0);
  });

  it('gives migration phases their own colours (not the finding red) and a legend', async () => {
    const fills = await page.$$eval('#tl rect.ph, #migrations rect.ph', (rs) => rs.map((r) => getComputedStyle(r).fill));
    const findingRed = await page.$eval('#tl path.fmark', (p) => getComputedStyle(p).fill);
    expect(fills.length).toBeGreaterThan(5);
    expect(fills).not.toContain(findingRed);
    for (const sel of ['#timeline .legend.phases', '#migrations .legend.phases']) {
      const legend = await page.locator(sel).innerText();
      for (const ph of ['setup', 'precopy', 'stop-and-copy']) expect(legend).toContain(ph);
    }
    const swatch = await page.$eval('#timeline .legend.phases i.ph-precopy', (i) => getComputedStyle(i).backgroundColor);
    const bar = await page.$eval('#tl rect.ph-precopy', (r) => getComputedStyle(r).fill);
    expect(swatch).toBe(bar);
    await page.locator('section#timeline').screenshot({ path: join(OUT_DIR, 'timeline.png') });
    expect(problems).toEqual([]);
  });

  it('colours run slices by host (a legend of hosts, the pCPU as label), so colours do not repeat within a host', async () => {
    const slices = await page.$$eval('#tl rect.sl', (rs) => rs.map((r) => ({ fill: r.getAttribute('fill'), tip: r.querySelector('title')?.textContent ?? '' })));
    expect(slices.length).toBeGreaterThan(10);
    const colourOfHost = new Map<string, string>();
    for (const sl of slices) {
      const host = / on ([^/]+)\/cpu\d+/.exec(sl.tip)![1]!;
      expect({ host, fill: sl.fill }).toEqual({ host, fill: colourOfHost.get(host) ?? sl.fill });
      colourOfHost.set(host, sl.fill!);
    }
    expect(new Set(colourOfHost.values()).size).toBe(colourOfHost.size);
    const legend = await page.locator('#timeline .legend').first().innerText();
    for (const host of colourOfHost.keys()) expect(legend).toContain(`host ${host}`);
    expect(legend).not.toMatch(/cpu\d/);
  });

  it('numbers finding marks like the findings table and marks a refused migration visibly', async () => {
    const labels = await page.$$eval('#tl text.flabel', (ts) => ts.map((t) => t.textContent));
    expect(labels[0]).toBe('1');
    for (const l of labels) expect(Number(l)).toBeLessThanOrEqual(summary.findings.length);
    const refused = page.locator('#tl g.refused');
    expect(await refused.count()).toBe(1);
    expect(await refused.locator('text').textContent()).toBe('refused b→c');
    const box = (await refused.boundingBox())!;
    expect(box.width).toBeGreaterThan(10);
  });

  it('draws migration bars in order of start on one time scale', async () => {
    const heads = await page.$$eval('#migrations .migbar .mighead', (hs) => hs.map((h) => h.textContent ?? ''));
    const starts = heads.map((h) => /(\d+(?:\.\d+)?) ?(ns|us|µs|ms|s) –/.exec(h)).map((m) => Number(m![1]) * ({ ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 } as Record<string, number>)[m![2]!]!);
    expect(starts.length).toBeGreaterThan(3);
    for (let i = 1; i < starts.length; i++) expect(starts[i]!).toBeGreaterThanOrEqual(starts[i - 1]!);
    // One scale: a later migration's first phase starts further right.
    const firstX = await page.$$eval('#migrations svg.mig', (svgs) => svgs.map((g) => Number(g.querySelector('rect.ph')?.getAttribute('x') ?? 'NaN')));
    const completed = firstX.filter((x) => !Number.isNaN(x));
    expect(completed[completed.length - 1]!).toBeGreaterThan(completed[0]!);
  });

  it('folds host perf events into one row per host and session, with the events one click away', async () => {
    const rows = page.locator('#perf tr.perf-session');
    const events = Object.values(summary.hosts).reduce((n, h) => n + h.perfEvents.length, 0);
    expect(events).toBeGreaterThan(30);
    const n = await rows.count();
    expect(n).toBeLessThan(events / 2);
    const sessions = await page.$$eval('#perf tr.perf-session summary code', (cs) => cs.map((c) => c.textContent));
    expect(sessions).toEqual(expect.arrayContaining(['nmi-watchdog', 'kvm/vm-emu']));
    const first = rows.first();
    await first.locator('summary').click();
    expect(await first.locator('table.inner tbody tr').count()).toBeGreaterThan(1);
    await page.locator('section#perf').screenshot({ path: join(OUT_DIR, 'host-perf.png') });
    expect(problems).toEqual([]);
  });

  it('links every guest perf file the run wrote, and lists each record session\'s top functions', async () => {
    const files = summary.guestPerfFiles!;
    expect(files.length).toBeGreaterThan(0);
    const hrefs = await page.$$eval('#guest-perf a.file', (as) => as.map((a) => (a as unknown as { href: string }).href));
    expect(hrefs.map((h) => decodeURI(h)).sort()).toEqual(files.map((f) => pathToFileURL(join(outDir, f.path)).href).map((h) => decodeURI(h)).sort());
    for (const f of files) expect(existsSync(join(outDir, f.path))).toBe(true);
    const record = files.find((f) => f.kind === 'perf.data')!;
    const row = page.locator('#guest-perf tr', { hasText: record.session });
    for (const t of record.topFunctions!) expect(await row.innerText()).toContain(`${t.name} ${t.overheadPct.toFixed(2)}%`);
    expect(await page.locator('nav.top a[href="#guest-perf"]').count()).toBe(1);
    await page.locator('section#guest-perf').screenshot({ path: join(OUT_DIR, 'guest-perf.png') });
    expect(problems).toEqual([]);
  });
});
