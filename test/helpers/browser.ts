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
