// report.html checked in a real headless Chromium (Debian `chromium`, driven by playwright-core
// without any browser download): no console errors, no network request, the key sections
// present, finding links move the timeline cursor; screenshots land in test-output/telemetry/.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ReportCollector } from './report.collector';
import { perfSessionOf, renderHtmlReport } from './html-report.renderer';
import { makeSyntheticRun } from './testing/synthetic-run.fixture';

const CHROMIUM = process.env.VPMU_CHROMIUM ?? '/usr/bin/chromium';
const OUT_DIR = resolve(__dirname, '../../../test-output/telemetry');

function buildReport(durationMs = 20) {
  const run = makeSyntheticRun({ durationMs });
  const collector = new ReportCollector();
  for (const b of run.batches) collector.onEvents(b);
  const data = collector.finish(run.summary);
  return { run, data, html: renderHtmlReport(run.summary, data) };
}

describe('report.html (static checks)', () => {
  it('is self-contained: no external URL, script or stylesheet', () => {
    const { html } = buildReport();
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["'](?:https?:)?\/\//i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/@import|url\(/i);
    expect(html).toContain("default-src 'none'");
  });

  it('escapes text coming from the run', () => {
    const { run, data } = buildReport();
    run.summary.findings.push({ kind: 'counter-leak', atNs: 1000, lastAtNs: 1000, count: 1, host: 'h1', vm: '<script>alert(1)</script>', vcpu: 0, detail: 'a & b <i>' });
    const html = renderHtmlReport(run.summary, data);
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('a &amp; b &lt;i&gt;');
  });

  it('lists each guest record session with its samples and the times the guest kernel throttled it', () => {
    const { run, data } = buildReport();
    run.summary.guestPerfFiles = [
      { vm: 'vm1', session: 'rec', kind: 'perf.data', path: 'guest/vm1/rec.perf.data', bytes: 4096, samplesPerEvent: [1604, 1408], lostSamples: 0, throttles: 7, unthrottles: 6, topFunctions: [] },
      { vm: 'vm1', session: 'stat', kind: 'perf stat', path: 'guest/vm1/stat.perf-stat.txt', bytes: 100 },
    ];
    const html = renderHtmlReport(run.summary, data);
    const section = html.slice(html.indexOf('id="guest-perf"'));
    expect(section).toContain('<th class="num" title="PERF_RECORD_THROTTLE records');
    expect(section).toMatch(/<code>rec<\/code><\/td><td>.*?<\/td><td class="num">3,012<\/td><td class="num">7<\/td>/);
    expect(section).toMatch(/<code>stat<\/code><\/td><td>.*?<\/td><td class="num"><span class="muted">counting<\/span><\/td><td class="num"><span class="muted">—<\/span><\/td>/);
  });

  it('renders the fidelity verdict of each VM with its reasons', () => {
    const { run, data } = buildReport();
    const vmId = Object.keys(run.summary.vms)[0];
    run.summary.vms[vmId].fidelity = {
      counts: { exact: false, maxAbsError: 42, checks: 10, toleranceEvents: 1 },
      pmis: { precise: false, raised: 5, delivered: 4, lost: 1, late: 0, imprecise: 0, skidP50Ns: 100, skidMaxNs: 100, skidToleranceNs: 800 },
      branches: { deterministic: true, maxAbsError: 0, checks: 3, exits: 7 },
      isolation: { checks: 20, leaks: 0 },
      replayDebuggerUsable: false,
      verdict: 'not usable',
      reasons: ['pmi-lost: PMIs are lost <b>'],
      unmeasured: [],
    };
    const html = renderHtmlReport(run.summary, data);
    expect(html).toContain('id="fidelity"');
    expect(html).toContain('not usable');
    expect(html).toContain('pmi-lost: PMIs are lost &lt;b&gt;');
  });

  it('a verdict without evidence reads "not measured" with what is missing, never "usable"', () => {
    const { run, data } = buildReport();
    const vmId = Object.keys(run.summary.vms)[0];
    run.summary.vms[vmId].fidelity = {
      counts: { exact: true, maxAbsError: 0, checks: 10, toleranceEvents: 1 },
      pmis: { precise: true, raised: 0, delivered: 0, lost: 0, late: 0, imprecise: 0, skidP50Ns: 0, skidMaxNs: 0, skidToleranceNs: 800 },
      branches: { deterministic: true, maxAbsError: 0, checks: 0, exits: 7 },
      isolation: { checks: 20, leaks: 0 },
      replayDebuggerUsable: false,
      verdict: 'not measured',
      reasons: [],
      unmeasured: ['no retired-branch counter was checked'],
    };
    const fidelity = renderHtmlReport(run.summary, data).split('id="fidelity"')[1];
    expect(fidelity).toContain('<b class="muted nm">not measured</b>');
    expect(fidelity).toContain('<li>no retired-branch counter was checked</li>');
    expect(fidelity).not.toContain('class="good">usable');
  });

  it('reads n/a for a vpmu none VM, fixed-decimal errors, "not measured" without checks', () => {
    const { run, data } = buildReport();
    const [a, b] = Object.keys(run.summary.vms);
    run.summary.vms[a].vpmu = 'none';
    for (const c of Object.values(run.summary.vms[a].counters)) Object.assign(c, { guestObserved: 0, errorPct: -100 });
    for (const c of Object.values(run.summary.vms[b].counters)) c.errorPct = -7.1e-7;
    run.summary.vms[b].fidelity = {
      counts: { exact: true, maxAbsError: 0, checks: 0, toleranceEvents: 1 },
      pmis: { precise: true, raised: 0, delivered: 0, lost: 0, late: 0, imprecise: 0, skidP50Ns: 0, skidMaxNs: 0, skidToleranceNs: 800 },
      branches: { deterministic: true, maxAbsError: 0, checks: 0, exits: 0 },
      isolation: { checks: 12, leaks: 0 },
      replayDebuggerUsable: false,
      verdict: 'not usable',
      reasons: ['fidelity not measured'],
      unmeasured: [],
    };
    const html = renderHtmlReport(run.summary, data);
    const counters = html.slice(html.indexOf('id="counters"'), html.indexOf('id="fidelity"'));
    expect(counters).not.toContain('-100.00%');
    expect(counters).toContain('>n/a</td>');
    expect(html).not.toMatch(/\de-\d+%/);
    expect(counters).toContain('0.00%');
    const fidelity = html.slice(html.indexOf('id="fidelity"'), html.indexOf('id="overhead"'));
    expect(fidelity.match(/>not measured</g)).toHaveLength(3);
    expect(fidelity).toContain('<span class="good">no leak</span> <span class="checks">12 checks</span>');
  });

  it('renders a run without overhead, findings, migrations or samples', () => {
    const { run } = buildReport();
    delete run.summary.overhead;
    run.summary.findings = [];
    const empty = new ReportCollector().finish(run.summary);
    const html = renderHtmlReport(run.summary, empty);
    expect(html).not.toContain('id="overhead"');
    expect(html).toContain('No semantic hazard observed');
    expect(html).toContain('No counter samples');
  });
});

describe('report.html in headless Chromium', () => {
  let context: BrowserContext;
  let page: Page;
  let profileDir: string;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}. The report test needs Debian's chromium: run \`apt-get install -y chromium\` ` +
          '(the project test command installs it), or point VPMU_CHROMIUM at a Chromium binary.',
      );
    }
    mkdirSync(OUT_DIR, { recursive: true });
    profileDir = mkdtempSync(join(tmpdir(), 'vpmu-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1440, height: 900 },
      deviceScaleFactor: 1,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) problems.push(`network request: ${r.url()}`);
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  it('opens with no console error, shows every section, links findings to the timeline', async () => {
    const { run, html } = buildReport();
    const file = join(OUT_DIR, 'report.html');
    writeFileSync(file, html);
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    for (const id of ['topology', 'counters', 'fidelity', 'overhead', 'findings', 'timeline', 'plots', 'migrations', 'perf', 'events']) {
      expect(await page.locator(`section#${id}`).isVisible()).toBe(true);
    }
    const header = await page.locator('header.run').innerText();
    expect(header).toContain(run.summary.run.id);
    expect(header).toContain(String(run.summary.run.seed));
    expect(await page.locator('code.digest').getAttribute('title')).toBe(run.summary.digest);

    expect(await page.locator('#findings tbody tr').count()).toBe(run.summary.findings.length);
    expect(await page.locator('#counters tbody tr').first().innerText()).toContain('vm1');
    expect(await page.locator('#overhead tbody tr').count()).toBe(run.summary.overhead!.rows.length);
    expect(await page.locator('#tl rect.sl').count()).toBeGreaterThan(20);
    expect(await page.locator('#tl line.pmi').count()).toBeGreaterThan(50);
    expect(await page.locator('#tl line.pmi.lost').count()).toBe(1);
    expect(await page.locator('#tl path.fmark').count()).toBe(run.summary.findings.length);
    expect(await page.locator('#plots figure.plot').count()).toBe(6);
    expect(await page.locator('#migrations rect.ph').count()).toBe(5);
    expect(await page.locator('#topology .card.host').count()).toBe(2);

    // A finding link puts the cursor at its time and highlights the row.
    expect(await page.locator('#cursor').getAttribute('visibility')).toBe('hidden');
    await page.locator('a.jump').nth(1).click();
    expect(await page.locator('#cursor').getAttribute('visibility')).toBe('visible');
    expect(await page.locator('#tl-read').innerText()).toContain('finding at');
    expect(await page.locator('#findings tr.hl').count()).toBe(1);

    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: join(OUT_DIR, 'report.png'), fullPage: true });
    await page.screenshot({ path: join(OUT_DIR, 'report-top.png') });
    await page.locator('section#timeline').screenshot({ path: join(OUT_DIR, 'report-timeline.png') });
    expect(problems).toEqual([]);
  }, 60_000);

  it('stays readable for a long run (downsampled), still without errors', async () => {
    const { html, data } = buildReport(400);
    for (const t of data.vcpus) {
      expect(t.slices.length).toBeLessThanOrEqual(data.limits.maxSlicesPerVcpu);
      expect(t.pmis.length).toBeLessThanOrEqual(data.limits.maxMarksPerVcpu + t.pmiLostTotal);
    }
    for (const s of data.counters) expect(s.points.length).toBeLessThanOrEqual(data.limits.maxPointsPerSeries + 1);
    const file = join(OUT_DIR, 'report-long.html');
    writeFileSync(file, html);
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    expect(await page.locator('section#timeline').isVisible()).toBe(true);
    await page.locator('section#timeline').screenshot({ path: join(OUT_DIR, 'report-long-timeline.png') });
    expect(problems).toEqual([]);
  }, 60_000);
});

describe('host perf sessions in the report', () => {
  it.each([
    ['nmi-watchdog/cpu3', 'nmi-watchdog'],
    ['load/cycles@cpu0', 'load'],
    ['kvm/vm-emu/vcpu0/1', 'kvm/vm-emu'],
    ['kvm/pv/vm-pv/4', 'kvm/pv/vm-pv'],
    ['session', 'session'],
  ])('%s belongs to %s', (id, session) => {
    expect(perfSessionOf(id)).toBe(session);
  });
});
