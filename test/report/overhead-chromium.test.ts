// `vpmu run FILE --overhead` (docs/cli/run.md): the run's guest perf overhead comparison lands in
// summary.json and in report.html's Overhead section, opened in a real headless Chromium (Debian
// `chromium` via playwright-core, launched as report-chromium.test.ts does). The figures must be
// the ones `vpmu overhead FILE --json` prints for the same scenario (one table, two places), and
// survive a re-render with `vpmu export --format html`. A tiny scenario (10 ms, one host) keeps it
// cheap. A screenshot of the section lands in test-output/report/.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import type { OverheadTable, RunSummary } from '@vpmu/summary';
import { vpmu } from '../support/cli';
import { tempDir } from '../support/run-scenario';
import { CHROMIUM, openInChromium, type OpenedPage } from '../support/chromium';

const OUT_DIR = resolve(__dirname, '../../test-output/report');

const SCENARIO = `version: 1
name: overhead-report
seed: 11
duration: 10ms
hosts:
  - id: h1
    cpu: intel-spr
    pcpus: 2
    nmiWatchdog: true
vms:
  - id: vm1
    host: h1
    vcpus: 2
    vpmu: { mode: passthrough }
    workload: specint
    guestPerf:
      - id: stat
        command: stat
        events: [instructions, cycles]
      - id: rec
        command: record
        events: [instructions, instructions, instructions]
        sample: { freq: 1000 }
        allCpus: true
`;

/** The renderer's percentage format: two decimals, a sign when positive. */
function shown(p: number): string {
  if (Math.abs(p) < 0.005) return '0.00%';
  return `${p > 0 ? '+' : ''}${p.toFixed(2)}%`;
}

describe('vpmu run --overhead: the overhead table in summary.json and report.html (headless Chromium)', () => {
  let opened: OpenedPage | undefined;
  let page: Page;
  let dir: string;
  let outDir: string;
  let summary: RunSummary;
  let table: OverheadTable;
  let problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium, or set VPMU_CHROMIUM`);
    mkdirSync(OUT_DIR, { recursive: true });
    dir = tempDir('overhead-report');
    writeFileSync(join(dir, 'overhead.yaml'), SCENARIO);
    outDir = join(dir, 'out');
    const run = vpmu(['run', 'overhead.yaml', '--overhead', '--out', outDir, '--quiet'], { cwd: dir, timeoutMs: 180_000 });
    if (run.code !== 0) throw new Error(`vpmu run --overhead exited ${run.code}: ${run.stderr}`);
    expect(run.stdout).toContain('guest perf overhead for VM vm1');
    summary = JSON.parse(readFileSync(join(outDir, 'summary.json'), 'utf8')) as RunSummary;
    const alone = vpmu(['overhead', 'overhead.yaml', '--json'], { cwd: dir, timeoutMs: 180_000 });
    if (alone.code !== 0) throw new Error(`vpmu overhead exited ${alone.code}: ${alone.stderr}`);
    table = JSON.parse(alone.stdout) as OverheadTable;
    opened = await openInChromium(join(outDir, 'report.html'));
    page = opened.page;
    problems = opened.problems;
  }, 300_000);

  afterAll(async () => {
    await opened?.close();
  });

  it('keeps in summary.json the same table vpmu overhead prints', () => {
    expect(summary.overhead).toEqual({ baselineScore: table.baselineScore, columns: table.columns, rows: table.rows });
    expect(summary.overhead!.columns).toEqual(['emulated', 'passthrough', 'passthrough+filter', 'mediated']);
    expect(summary.overhead!.rows.map((r) => r.command.split(':')[0])).toEqual(['stat', 'rec']);
  });

  it('shows an Overhead section, linked from the navigation, with one row per guest perf command', async () => {
    expect(await page.locator('nav.top a[href="#overhead"]').innerText()).toBe('Overhead');
    const heads = await page.locator('#overhead thead th').allTextContents();
    expect(heads.map((h) => h.trim())).toEqual(['command', ...table.columns]);
    const rows = page.locator('#overhead tbody tr');
    expect(await rows.count()).toBe(table.rows.length);
    for (let i = 0; i < table.rows.length; i++) {
      const cells = (await rows.nth(i).locator('td').allInnerTexts()).map((t) => t.trim());
      expect(cells).toEqual([table.rows[i].command, ...table.rows[i].overheadPct.map(shown)]);
    }
    expect(await page.locator('#overhead').innerText()).toContain('baseline score');
    await page.locator('section#overhead').screenshot({ path: join(OUT_DIR, 'overhead.png') });
    expect(problems).toEqual([]);
  });

  it('keeps the section when the report is rendered again from the recording (vpmu export --format html)', () => {
    const again = join(dir, 'again.html');
    const r = vpmu(['export', outDir, '--format', 'html', '--out', again], { cwd: dir });
    expect(r.code).toBe(0);
    const html = readFileSync(again, 'utf8');
    expect(html).toContain('id="overhead"');
    for (const row of table.rows) expect(html).toContain(row.command);
  });

  it('refuses --overhead for a scenario without guest perf (exit 2) before writing anything', () => {
    writeFileSync(join(dir, 'noperf.yaml'), SCENARIO.slice(0, SCENARIO.indexOf('    guestPerf:')));
    const r = vpmu(['run', 'noperf.yaml', '--overhead', '--out', 'noperf-out'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no VM with guestPerf sessions/);
    expect(existsSync(join(dir, 'noperf-out'))).toBe(false);
  });
});
