#!/usr/bin/env node
// Regenerates the report screenshots in docs/img from a real run of the quickstart, so the docs
// show what `npm start` writes today. Needs a build (`npm run build`) and Debian's chromium.
//   node scripts/docs-screenshots.js
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const root = path.resolve(__dirname, '..');
const chromiumPath = process.env.VPMU_CHROMIUM ?? '/usr/bin/chromium';

async function main() {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vpmu-docs-'));
  execFileSync(process.execPath, [path.join(root, 'dist/apps/cli/main.js'), 'run', path.join(root, 'scenarios/quickstart.yaml'), '--out', out, '--quiet'], { stdio: 'ignore' });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vpmu-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto('file://' + path.join(out, 'report.html'));
    const img = path.join(root, 'docs', 'img');
    await page.screenshot({ path: path.join(img, 'report-quickstart.png'), fullPage: true });
    await page.screenshot({ path: path.join(img, 'report-overview.png') });
    await page.locator('section#timeline').screenshot({ path: path.join(img, 'report-timeline.png') });
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`docs-screenshots: ${err.message}\n`);
  process.exit(1);
});
