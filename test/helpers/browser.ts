import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium, headless, with nothing that reaches the network on its own. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

export const PHONE = { width: 390, height: 844 };
export const TV = { width: 1920, height: 1080 };

/** A fresh context (own cookies and storage) with one page; browser console errors are collected. */
export async function newPage(browser: Browser, baseURL: string, viewport = PHONE): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  // TV-sized pages render at half density: the screenshots stay small, the layout is 1920×1080.
  const deviceScaleFactor = viewport.width > 1000 ? 0.5 : 1;
  const context = await browser.newContext({ baseURL, viewport, locale: 'nl-NL', deviceScaleFactor });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // A failed load names its URL in the location, so a failure says which resource it was.
    if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url || 'no url'})`);
  });
  return { context, page, errors };
}

/** test-artifacts/screenshots, or docs/screenshots when scripts/screenshots refreshes them (VHT_SCREENSHOTS_DIR). */
export const SCREENSHOTS = path.resolve(import.meta.dirname, '..', '..', process.env.VHT_SCREENSHOTS_DIR ?? path.join('test-artifacts', 'screenshots'));

/** A screenshot of the page as docs/web-app.md shows it: `<name>.png` in SCREENSHOTS. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), animations: 'disabled', caret: 'hide' });
}
