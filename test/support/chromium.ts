// Headless Chromium for the HTML tests (the report, the sweep page): one persistent profile per
// test file, the page's console errors, warnings and exceptions collected for the test to assert.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.VPMU_CHROMIUM ?? '/usr/bin/chromium';

export interface OpenedPage {
  page: Page;
  /** Console errors and warnings, and uncaught page errors, as they happen. */
  problems: string[];
  close(): Promise<void>;
}

/** Opens `file` in headless Chromium at 1440x900; `beforeLoad` may attach listeners first. */
export async function openInChromium(file: string, beforeLoad?: (page: Page) => void): Promise<OpenedPage> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium, or set VPMU_CHROMIUM`);
  const profileDir = mkdtempSync(join(tmpdir(), 'vpmu-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  beforeLoad?.(page);
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return {
    page,
    problems,
    close: async () => {
      await context.close();
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}
