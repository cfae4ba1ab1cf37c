// sweep.html of a real sweep (2 vPMU modes x 3 sampling frequencies x 2 seeds of a tiny
// scenario, through the built CLI) opened in a real headless Chromium (Debian `chromium` via
// playwright-core, launched as report-chromium.test.ts does): one plot per figure and axis, one
// line per value of the other axis, a marker per x value, the spread over seeds drawn where the
// seeds differ, nothing fetched and no console error. A screenshot lands in test-output/sweep/.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { vpmu } from '../support/cli';
import { tempDir } from '../support/run-scenario';
import { tinySweepScenario } from '../support/sweep-scenario';
import { CHROMIUM, openInChromium, type OpenedPage } from '../support/chromium';

const OUT_DIR = resolve(__dirname, '../../test-output/sweep');
const MODE = 'vms.vm1.vpmu.mode';
const FREQ = 'vms.vm1.guestPerf.rec.sample.freq';

interface SweepJson {
  rows: { values: Record<string, unknown>; seed: number; overheadPct: number | null; exitsTotal: number }[];
}

describe('sweep.html in headless Chromium', () => {
  let opened: OpenedPage | undefined;
  let page: Page;
  let sweep: SweepJson;
  let problems: string[] = [];
  const requests: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium, or set VPMU_CHROMIUM`);
    mkdirSync(OUT_DIR, { recursive: true });
    const dir = tempDir('sweep-html');
    const file = join(dir, 'tiny.yaml');
    writeFileSync(file, tinySweepScenario({ name: 'sweep-html', seed: 5, duration: '10ms', sampleFreqHz: 1000, noise: '{ id: kworker, cpus: all, period: 3ms, runtime: 200us }' }));
    const out = join(dir, 'out');
    const r = vpmu(['sweep', file, '--vary', `${MODE}=emulated,passthrough`, '--vary', `${FREQ}=500,2000,8000`, '--seeds', '2', '--out', out, '--jobs', '2', '--quiet'], { timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`sweep failed: ${r.stderr}`);
    sweep = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')) as SweepJson;
    opened = await openInChromium(join(out, 'sweep.html'), (p) =>
      p.on('request', (req) => {
        if (!req.url().startsWith('file:')) requests.push(req.url());
      }),
    );
    page = opened.page;
    problems = opened.problems;
  }, 300_000);

  afterAll(async () => {
    await opened?.close();
  });

  it('has 12 rows (2 modes x 3 frequencies x 2 seeds)', () => {
    expect(sweep.rows).toHaveLength(12);
  });

  it('draws overhead against each axis: one line per value of the other axis, one marker per x value', async () => {
    const byFreq = page.locator(`figure.plot[data-figure="overheadPct"][data-axis="${FREQ}"]`);
    expect(await byFreq.count()).toBe(1);
    expect(await byFreq.locator('g.series').count()).toBe(2); // emulated, passthrough
    expect(await byFreq.locator('circle.mean').count()).toBe(6);
    expect(await byFreq.locator('.xtick').allTextContents()).toEqual(['500', '2000', '8000']);
    expect(await byFreq.locator('ul.legend li').allInnerTexts()).toEqual(['vpmu.mode=emulated', 'vpmu.mode=passthrough']);
    const byMode = page.locator(`figure.plot[data-figure="overheadPct"][data-axis="${MODE}"]`);
    expect(await byMode.locator('g.series').count()).toBe(3); // one per frequency
    expect(await byMode.locator('circle.mean').count()).toBe(6);
    const box = await byFreq.locator('svg.chart').boundingBox();
    expect(box!.width).toBeGreaterThan(300);
    expect(box!.height).toBeGreaterThan(150);
    await page.locator('#fig-overheadPct').screenshot({ path: join(OUT_DIR, 'overhead.png') });
  });

  it('has a plot for every figure against both axes, each marker titled with its mean over the 2 seeds', async () => {
    const figures = await page.locator('section.figure').evaluateAll((els) => els.map((e) => (e as unknown as { id: string }).id));
    expect(figures).toEqual(expect.arrayContaining(['fig-overheadPct', 'fig-score', 'fig-exitsTotal', 'fig-pmisDelivered', 'fig-counterErrorPctMax']));
    for (const id of figures) expect(await page.locator(`#${id} figure.plot`).count()).toBe(2);
    const title = await page.locator(`figure.plot[data-figure="exitsTotal"][data-axis="${FREQ}"] circle.mean title`).first().textContent();
    expect(title).toMatch(/mean .* over 2 seed\(s\), min .*, max /);
  });

  it('shows the spread over seeds where the seeds differ (host noise moves the exits)', async () => {
    const differs = sweep.rows.some((r) => sweep.rows.some((o) => o.seed !== r.seed && o.values[MODE] === r.values[MODE] && o.values[FREQ] === r.values[FREQ] && o.exitsTotal !== r.exitsTotal));
    const spreads = await page.locator('figure.plot[data-figure="exitsTotal"] line.spread').count();
    expect(spreads > 0).toBe(differs);
  });

  it('fetches nothing and logs no error', () => {
    expect(requests).toEqual([]);
    expect(problems).toEqual([]);
  });
});
