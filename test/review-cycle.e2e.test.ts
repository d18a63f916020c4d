// The VHT review cycle end to end (issue 19): Debian's Chromium (playwright-core) as the trainer's
// phone and as the family's TV, against the real kit (bin/vht-kit serve, sim profile, low
// resolution) and the real S3 server (OpenStack Swift). Build first:
// `npx tsc -p tsconfig.build.json && npx vite build --config src/web/ui/vite.config.ts`.
//
// Two visits of one case; three fragments (one from a marker with its lead-in) and a captioned
// still; a review; dock and sync with the raw-clip retention at 0 → the raw clips are gone, the
// fragments play, the library says so; the review on a paired TV: order, loop inside the range at
// ½×, next/previous from the phone and from the TV's keys with the phone following, 403 for raw
// footage outside the fragment; the review talk recorded with its markers; the review held → after
// its retention (0 days here) nothing left on the kit decrypts a copy of the fragments taken before.
// Screenshots of the review screens: review-*.png in test-artifacts/screenshots (scripts/screenshots
// puts them in docs/screenshots).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, newPage, PHONE, TV } from './helpers/browser.js';
import { everythingLeftOnTheKit, opensWithAny } from './helpers/kit-keys.js';
import { Service, TEST_CAPTURE } from './helpers/service.js';
import type { SwiftServer } from './helpers/swift.js';
import { startSwiftRetrying, until } from './helpers/two-kits.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin', 'vht-kit');
/** test-artifacts/screenshots, or docs/screenshots when scripts/screenshots refreshes them. */
const SHOTS = path.resolve(ROOT, process.env.VHT_SCREENSHOTS_DIR ?? path.join('test-artifacts', 'screenshots'));
const CASE = 'GZ-0042';
const BUCKET = 'vht-review';
const DAY_MS = 86_400_000;
/** Free text of the trainer that must never reach the disk, the config or the logs in plaintext. */
const NOTE = 'Wat ziet u hier, als Sam naar de bal wijst?';
const CAPTION = 'Sam lacht terug naar papa';
/** Parts of them that appear nowhere else. */
const NEEDLES = ['Sam naar de bal wijst', 'lacht terug naar papa'];

interface Side {
  context: BrowserContext;
  page: Page;
  errors: string[];
}
interface Frag {
  id: string;
  clipId: string;
  inMs: number;
  outMs: number;
  label: string | null;
  playlistStartMs: number;
}

let swift: SwiftServer;
let svc: Service;
let browser: Browser;
let phone: Side;
let tv: Side;
const clips: string[] = [];
let markerOffsetMs = 0;
const frags: Frag[] = [];
let keptStillId = '';
let reviewId = '';
let order: string[] = [];
let talkClipId = '';
/** playback.markerLeadInMs (its default). */
const leadInMs = 3000;

const shot = (page: Page, name: string, fullPage = false) =>
  page.screenshot({ path: path.join(SHOTS, `${name}.png`), animations: 'disabled', caret: 'hide', fullPage });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A video element's state, by CSS selector. */
function media(page: Page, sel: string) {
  return page.$eval(sel, (el) => {
    const v = el as HTMLVideoElement;
    return { t: v.currentTime, paused: v.paused, rate: v.playbackRate, ready: v.readyState, seeking: v.seeking };
  });
}

/** Seeks the video to `t` seconds and waits until the seek is done and a frame of it is on screen. */
async function seekTo(page: Page, sel: string, t: number): Promise<void> {
  await page.$eval(sel, (el, time) => ((el as HTMLVideoElement).currentTime = time), t);
  await page.waitForFunction(
    ([s, time]) => {
      const v = document.querySelector(s as string) as HTMLVideoElement | null;
      return !!v && !v.seeking && v.readyState >= 2 && Math.abs(v.currentTime - (time as number)) < 0.05;
    },
    [sel, t] as const,
    { timeout: 20_000 },
  );
  // the frame itself (a paused video presents it at the next frame callback; 1 s at most)
  await page.$eval(
    sel,
    (el) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        (el as HTMLVideoElement).requestVideoFrameCallback(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  );
}

/** Samples a playing video's time for `ms`; the samples in order. */
async function sample(page: Page, sel: string, ms: number): Promise<number[]> {
  return page.$eval(
    sel,
    (el, dur) =>
      new Promise<number[]>((resolve) => {
        const v = el as HTMLVideoElement;
        const out: number[] = [];
        const end = performance.now() + dur;
        const tick = () => {
          out.push(v.currentTime);
          if (performance.now() < end) setTimeout(tick, 50);
          else resolve(out);
        };
        tick();
      }),
    ms,
  );
}

async function waitSync(pred: (s: any) => boolean, timeoutMs = 60_000): Promise<any> {
  return until(
    'sync',
    async () => {
      const s = (await svc.request('GET', '/api/sync')).json;
      return pred(s) ? s : undefined;
    },
    timeoutMs,
  );
}

/** Files under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

/** Records a take of about `seconds` for the case; a marker `markAfter` s in. */
async function take(seconds: number, markAfter?: number): Promise<string> {
  const start = await svc.request('POST', '/api/recording/start', { caseCode: CASE });
  expect(start.status, start.text).toBe(200);
  if (markAfter !== undefined) {
    await sleep(markAfter * 1000);
    const m = await svc.request('POST', '/api/markers', { label: null });
    expect(m.status, m.text).toBe(200);
    markerOffsetMs = m.json.offsetMs;
  }
  await sleep((seconds - (markAfter ?? 0)) * 1000);
  const stop = await svc.request('POST', '/api/recording/stop', {});
  expect(stop.status, stop.text).toBe(200);
  return start.json.clipId;
}

/** Opens a clip in the phone's player and waits until its video can show frames. */
async function openClip(clipId: string): Promise<void> {
  await phone.page.goto(`/#/clip/${clipId}`);
  await phone.page.waitForFunction(
    () => {
      const v = document.querySelector('[data-testid="player-video"]') as HTMLVideoElement | null;
      return !!v && v.readyState >= 2 && Number.isFinite(v.duration) && v.duration > 1;
    },
    undefined,
    { timeout: 20_000 },
  );
}

async function fragmentsOf(clipId: string): Promise<Frag[]> {
  const r = await svc.request('GET', `/api/clips/${clipId}/fragments`);
  expect(r.status, r.text).toBe(200);
  return r.json.fragments;
}

/** What the phone's review page says is on the TV (0-based item, '' = nothing). */
const phoneItem = () => phone.page.getAttribute('[data-testid=present-status]', 'data-item');

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist', 'ui', 'index.html')))
    throw new Error('dist/ui is missing: run `npx vite build --config src/web/ui/vite.config.ts` first');
  mkdirSync(SHOTS, { recursive: true });
  svc = new Service({ config: '' });
  swift = await startSwiftRetrying(svc.dir);
  await swift.createBucket(BUCKET, { writer: true });
  svc.configure({
    config: `${TEST_CAPTURE}
sync:
  target: s3
  s3:
    endpoint: ${swift.endpoint}
    bucket: ${BUCKET}
    accessKeyId: "${swift.writer.accessKeyId}"
    secretAccessKey: "${swift.writer.secretAccessKey}"
  dock:
    allowInsecure: true
  intervalSeconds: 3600
privacy:
  deleteAfterUploadHours: 0
  afterReviewHeldDays: 0
  retentionIntervalMinutes: 0.01
`,
  });
  await svc.start();
  await svc.waitArmed();
  browser = await launchChromium();
  phone = await newPage(browser, svc.url, PHONE);
  tv = await newPage(browser, svc.url, TV);
}, 180_000);

afterAll(async () => {
  // what the pages said, for a failure's report
  if (phone?.errors.length || tv?.errors.length) console.log('page errors:', [...phone.errors, ...tv.errors].join('\n'));
  await browser?.close();
  await svc?.stop();
  await swift?.stop();
  svc?.cleanup();
}, 60_000);

describe('the VHT review cycle (Chromium as phone and TV, the real kit, Swift)', () => {
  it('records two visits of one case', async () => {
    const made = await svc.request('POST', '/api/cases', {
      code: CASE,
      trajectory: 'k-vht',
      consent: { recording: true, review: true, supervision: true, training: false },
    });
    expect(made.status, made.text).toBe(200);
    // Visit 1: a take with a marker well after the lead-in.
    clips.push(await take(6, 3));
    // Visit 1 was a week ago: its visit moves to that day (waiting a week is not an option here).
    const db = new Database(path.join(svc.dataDir, 'catalogue.db'));
    try {
      const { visitId } = db.prepare('SELECT visit_id AS visitId FROM clips WHERE id = ?').get(clips[0]) as { visitId: number };
      const weekAgo = Date.now() - 7 * DAY_MS;
      db.prepare('UPDATE visits SET day = ?, started_at = ? WHERE id = ?').run(new Date(weekAgo).toISOString().slice(0, 10), weekAgo, visitId);
      db.prepare('UPDATE clips SET created_at = created_at - ? WHERE id = ?').run(7 * DAY_MS, clips[0]);
    } finally {
      db.close();
    }
    // Visit 2 (today): another take.
    clips.push(await take(4));
    const [c1, c2] = await Promise.all(clips.map(async (id) => (await svc.request('GET', `/api/clips/${id}`)).json));
    expect(c1.caseCode).toBe(CASE);
    expect(c2.visitId).not.toBe(c1.visitId);
    expect(markerOffsetMs).toBeGreaterThan(leadInMs);

    await phone.page.goto('/');
    await phone.page.fill('#pin', '1234');
    await phone.page.click('form.login button[type=submit]');
    await phone.page.waitForSelector('[data-testid=start]', { timeout: 15_000 });
  }, 90_000);

  it('keeps a fragment set frame by frame, one from a marker with its lead-in, and a captioned still', async () => {
    const { page } = phone;
    const sel = '[data-testid="player-video"]';
    await openClip(clips[0]!);
    // in at 1.0 s; out at 2.0 s plus two frame steps
    await seekTo(page, sel, 1.0);
    await page.click('[data-testid=fragment-in]');
    await seekTo(page, sel, 2.0);
    await page.click('[data-testid=frame-forward]');
    await page.click('[data-testid=frame-forward]');
    await until('two frames on', async () => ((await media(page, sel)).t > 2.07 ? true : undefined));
    await page.waitForFunction(() => !(document.querySelector('[data-testid="player-video"]') as HTMLVideoElement).seeking);
    await page.click('[data-testid=fragment-out]');
    await page.selectOption('#fragment-label', 'child-initiative');
    await page.fill('#fragment-note', NOTE);
    await page.locator('.fragment-maker').scrollIntoViewIfNeeded();
    await shot(page, 'review-fragment-maker');
    await page.click('[data-testid=fragment-save]');
    await page.waitForSelector('[data-testid=fragments] li', { timeout: 15_000 });
    // from the marker: the kit's lead-in before it
    await page.selectOption('#fragment-label', 'receiving');
    await page.click('[data-testid=fragment-from-marker]');
    await until('two fragments listed', async () => ((await page.locator('[data-testid=fragments] li').count()) === 2 ? true : undefined));
    // a still at 3 s, kept with a caption
    await seekTo(page, sel, 3.0);
    await page.click('[data-testid=still]');
    await page.waitForSelector('[data-testid=still-caption]', { timeout: 15_000 });
    await page.fill('[data-testid=still-caption]', CAPTION);
    await page.click('[data-testid=still-keep-button]');
    await page.waitForSelector('[data-testid=still-keep] .badge.ok', { timeout: 15_000 });

    const f = await fragmentsOf(clips[0]!);
    expect(f).toHaveLength(2);
    const manual = f.find((x) => x.label === 'child-initiative')!;
    const fromMarker = f.find((x) => x.label === 'receiving')!;
    const frame = 40;
    expect(Math.abs(manual.inMs - 1000)).toBeLessThanOrEqual(frame);
    // two frame steps past 2.0 s: frame precise, not rounded to a second
    expect(manual.outMs - 2000).toBeGreaterThanOrEqual(frame);
    expect(manual.outMs - 2000).toBeLessThanOrEqual(3 * frame);
    expect(fromMarker.inMs).toBe(markerOffsetMs - leadInMs);
    expect(fromMarker.outMs).toBeGreaterThan(markerOffsetMs);
    frags.push(manual, fromMarker);
    const kept = (await svc.request('GET', `/api/clips/${clips[0]}/kept-stills`)).json.stills;
    expect(kept).toHaveLength(1);
    expect(kept[0].caption).toBe(CAPTION);
    keptStillId = kept[0].id;

    // visit 2: a third fragment
    await openClip(clips[1]!);
    await seekTo(page, sel, 0.5);
    await page.click('[data-testid=fragment-in]');
    await seekTo(page, sel, 2.0);
    await page.click('[data-testid=fragment-out]');
    await page.selectOption('#fragment-label', 'turn-taking');
    await page.click('[data-testid=fragment-save]');
    await page.waitForSelector('[data-testid=fragments] li', { timeout: 15_000 });
    const f3 = await fragmentsOf(clips[1]!);
    expect(f3).toHaveLength(1);
    frags.push(f3[0]!);
  }, 120_000);

  it('makes a review of both visits: adds, reorders by keyboard, plans it', async () => {
    const { page } = phone;
    await page.goto('/#/reviews');
    await page.click(`[data-case="${CASE}"] [data-testid=review-new]`);
    await page.waitForURL(/#\/review\/[a-z0-9]+/);
    reviewId = /#\/review\/([a-z0-9]+)/.exec(page.url())![1]!;
    for (const fr of frags) await page.click(`[data-testid=addable] [data-fragment="${fr.id}"] button`);
    await page.click(`[data-testid=addable] [data-still="${keptStillId}"] button`);
    await until('four items', async () => ((await page.locator('[data-testid=review-items] > li').count()) === 4 ? true : undefined));
    // the still one up, by keyboard: focus its button and press Enter; the focus stays on it
    await page.focus(`[data-item="${keptStillId}"] [data-testid=item-up]`);
    await page.keyboard.press('Enter');
    const want = [frags[0]!.id, frags[1]!.id, keptStillId, frags[2]!.id];
    await until('reordered', async () => {
      const ids = await page.$$eval('[data-testid=review-items] > li', (els) => els.map((e) => e.getAttribute('data-item')));
      return JSON.stringify(ids) === JSON.stringify(want) ? true : undefined;
    });
    await until('focus kept on the moved item', () => page.evaluate((id) => document.activeElement?.id === `up-${id}` || undefined, keptStillId));
    // buttons for thumbs: at least 44 × 44 px
    for (const b of await page.locator('[data-testid=review-items] button').all()) {
      const box = (await b.boundingBox())!;
      expect(box.height).toBeGreaterThanOrEqual(44);
      expect(box.width).toBeGreaterThanOrEqual(44);
    }
    const day = new Date(Date.now() + 7 * DAY_MS).toISOString().slice(0, 10);
    await page.fill('#review-day', day);
    await page.locator('#review-day').dispatchEvent('change');
    await page.locator('#review-day').blur();
    const r = await until('planned', async () => {
      const x = (await svc.request('GET', `/api/reviews/${reviewId}`)).json;
      return x.plannedFor === day ? x : undefined;
    });
    order = r.items.map((i: { id: string }) => i.id);
    expect(order).toEqual(want);
    // the note is on the phone, with its item
    expect(await page.textContent(`[data-item="${frags[0]!.id}"]`)).toContain(NOTE);
    await shot(page, 'review-editor', true);
    // English second: the same page in English, then back to Dutch
    await page.click('[data-testid=lang]');
    await until('English', async () => ((await page.textContent('h1'))?.includes('Review for') ? true : undefined));
    expect(await page.textContent('[data-testid=review-present]')).toBe('Show on the TV from the start');
    expect(await page.textContent('[data-testid=talk]')).toBe('Record the review talk');
    await page.click('[data-testid=lang]');
    await until('Dutch', async () => ((await page.textContent('h1'))?.includes('Nabespreking voor') ? true : undefined));
    await page.goto('/#/reviews');
    await page.waitForSelector(`[data-review="${reviewId}"]`);
    await shot(page, 'review-list');
  }, 60_000);

  it('docks: raw clips uploaded and gone (retention 0), fragments kept and playing, the library says where each clip is', async () => {
    execFileSync(process.execPath, [BIN, 'dock', 'on'], { env: { ...process.env, VHT_KIT_DATA_DIR: svc.dataDir } });
    await waitSync((s) => s.state === 'done' && s.pending === 0, 90_000);
    for (const id of clips) await until(`raw clip ${id} erased`, () => !existsSync(path.join(svc.dataDir, 'clips', id)) || undefined, 20_000);
    // the organisation got each fragment's metadata, not its footage again
    const keys = (await swift.list(BUCKET)).map((o) => o.key);
    for (const fr of frags) expect(keys.some((k) => k.endsWith(`fragments/${fr.id}.json.age`))).toBe(true);
    expect(keys.filter((k) => k.includes('/fragments/') && k.endsWith('.ts.age'))).toEqual([]);

    const { page } = phone;
    await page.goto('/#/library');
    const removed = page.getByTestId('removed-clips');
    await removed.waitFor({ timeout: 15_000 });
    const c1 = await removed.locator(`[data-clip="${clips[0]}"]`).textContent();
    expect(c1).toContain('bij de organisatie, van de kit verwijderd');
    expect(c1).toContain('2 fragmenten bewaard');
    expect(await removed.locator(`[data-clip="${clips[1]}"]`).textContent()).toContain('1 fragment bewaard');
    await shot(page, 'review-library');

    // a fragment plays on the phone and loops inside its range
    const fr = frags[0]!;
    const [a, b] = [(fr.inMs - fr.playlistStartMs) / 1000, (fr.outMs - fr.playlistStartMs) / 1000];
    await page.goto(`/#/fragment/${fr.id}`);
    const sel = '[data-testid="fragment-video"]';
    await page.waitForFunction((s) => ((document.querySelector(s) as HTMLVideoElement | null)?.readyState ?? 0) >= 2, sel, { timeout: 20_000 });
    await page.click('[data-testid=play]');
    const times = await sample(page, sel, (b - a) * 1000 * 2 + 1500);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(a - 0.1);
    expect(Math.max(...times)).toBeLessThanOrEqual(b + 0.15);
    expect(times.some((t, i) => i > 0 && t < times[i - 1]! - 0.3)).toBe(true);
    await page.click('[data-testid=play]');
  }, 180_000);

  it('presents the review on a paired TV: order, loop at ½×, next/previous from the phone and the TV keys, the phone follows; the review talk is recorded', async () => {
    const pairing = await svc.request('POST', '/api/tv/pairing', {});
    await tv.page.goto('/tv');
    await tv.page.fill('#tv-code', pairing.json.code);
    await tv.page.click('form.tv-pair button[type=submit]');
    await tv.page.waitForSelector('[data-testid=tv-idle]', { timeout: 15_000 });

    const { page } = phone;
    await page.goto(`/#/review/${reviewId}`);
    await page.waitForSelector('[data-testid=review-present]');
    // the review talk: refused without supervision consent, with the reason in Dutch at the button
    await svc.request('PATCH', `/api/cases/${CASE}`, { consent: { supervision: false } });
    await page.click('[data-testid=talk]');
    const refusal = await until('refusal', async () => (await page.textContent('[data-testid=talk-refusal]')) || undefined);
    expect(refusal).toMatch(/supervisie/);
    await svc.request('PATCH', `/api/cases/${CASE}`, { consent: { supervision: true } });
    await page.click('[data-testid=talk]');
    await page.waitForSelector('[data-testid=talk-running]', { timeout: 15_000 });
    talkClipId = (await svc.status()).clipId;

    // item 1 on the TV: from its in point, looping its range at ½×
    await page.click('[data-testid=review-present]');
    const tvVideo = (id: string) => `video.tv-video[data-fragment="${id}"]`;
    const f1 = frags[0]!;
    await tv.page.waitForFunction((s) => ((document.querySelector(s) as HTMLVideoElement | null)?.readyState ?? 0) >= 2, tvVideo(f1.id), {
      timeout: 20_000,
      polling: 250,
    });
    const state = await (await tv.context.request.get('/api/tv/state')).json();
    const range = state.review.range as [number, number];
    expect(JSON.stringify(state)).not.toContain(NEEDLES[0]);
    await page.click('[data-testid="review-rate-0.5"]');
    await until('TV at ½×', async () => ((await media(tv.page, tvVideo(f1.id))).rate === 0.5 ? true : undefined));
    const times = await sample(tv.page, tvVideo(f1.id), (range[1] - range[0]) * 2 * 1000 + 2000);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(range[0] - 0.1);
    expect(Math.max(...times)).toBeLessThanOrEqual(range[1] + 0.15);
    expect(times.some((t, i) => i > 0 && t < times[i - 1]! - 0.3)).toBe(true);
    expect(await page.textContent('[data-testid=present-note]')).toContain(NOTE);
    expect(await tv.page.textContent('body')).not.toContain('Sam');
    await shot(page, 'review-present-phone', true);
    await shot(tv.page, 'review-tv-fragment');

    // the TV may fetch only the presented item's footage
    const f2 = frags[1]!;
    const f3 = frags[2]!;
    expect((await tv.context.request.get(`/api/fragments/${f1.id}/index.m3u8`)).status()).toBe(200);
    expect((await tv.context.request.get(`/api/fragments/${f3.id}/index.m3u8`)).status()).toBe(403);
    expect((await tv.context.request.get(`/api/clips/${f1.clipId}/0.ts`)).status()).toBe(403);
    expect((await tv.context.request.get(`/api/clips/${f1.clipId}/index.m3u8`)).status()).toBe(403);

    // next from the phone
    await page.click('[data-testid=review-next]');
    await tv.page.waitForSelector(tvVideo(f2.id), { timeout: 15_000 });
    await until('phone on item 2', async () => ((await phoneItem()) === '1' ? true : undefined));
    // the TV's keys: → next (the still), the phone follows; ← back
    await tv.page.keyboard.press('ArrowRight');
    await tv.page.waitForSelector(`[data-testid=tv-still][data-still="${keptStillId}"]`, { timeout: 15_000 });
    await until('phone follows the TV to item 3', async () => ((await phoneItem()) === '2' ? true : undefined));
    expect(await tv.page.textContent('body')).not.toContain('Sam');
    await shot(tv.page, 'review-tv-still');
    await tv.page.keyboard.press('ArrowLeft');
    await tv.page.waitForSelector(tvVideo(f2.id), { timeout: 15_000 });
    await until('phone follows the TV back to item 2', async () => ((await phoneItem()) === '1' ? true : undefined));
    // the TV's ↓ slows down; the phone shows the new speed
    // (polled by time, not by animation frame: the TV page's frames may be throttled while the phone acts;
    // on a timeout the video's state goes to the log)
    await tv.page
      .waitForFunction((s) => ((document.querySelector(s) as HTMLVideoElement | null)?.readyState ?? 0) >= 2, tvVideo(f2.id), { timeout: 45_000, polling: 250 })
      .catch(async (e: unknown) => {
        const st = await tv.page.evaluate((s) => {
          const v = document.querySelector(s) as HTMLVideoElement | null;
          if (!v) return 'no video';
          const b = [];
          for (let i = 0; i < v.buffered.length; i++) b.push([v.buffered.start(i), v.buffered.end(i)]);
          return JSON.stringify({
            rs: v.readyState,
            ns: v.networkState,
            err: v.error?.message,
            t: v.currentTime,
            paused: v.paused,
            rate: v.playbackRate,
            b,
            src: v.currentSrc,
            n: document.querySelectorAll('video').length,
          });
        }, tvVideo(f2.id));
        console.log('TVSTATE', st, JSON.stringify(await (await tv.context.request.get('/api/tv/state')).json()));
        throw e;
      });
    const before = (await media(tv.page, tvVideo(f2.id))).rate;
    await tv.page.keyboard.press('ArrowDown');
    const slower = before === 1 ? 0.5 : 0.25;
    await until('TV slower', async () => ((await media(tv.page, tvVideo(f2.id))).rate === slower ? true : undefined));
    await until('phone follows the speed', async () =>
      (await page.getAttribute(`[data-testid="review-rate-${slower}"]`, 'aria-pressed')) === 'true' ? true : undefined,
    );
    // pause from the phone
    await page.click('[data-testid=review-play]');
    await until('TV paused', async () => ((await media(tv.page, tvVideo(f2.id))).paused ? true : undefined));

    // the review talk stops; its markers say what was on the screen
    await page.click('[data-testid=talk]');
    await until('talk stopped', async () => ((await page.locator('[data-testid=talk-running]').count()) === 0 ? true : undefined));
    const talk = await until('talk clip complete', async () => {
      const c = (await svc.request('GET', `/api/clips/${talkClipId}`)).json;
      return c?.state === 'complete' ? c : undefined;
    });
    expect(talk.caseCode).toBe(CASE);
    const labels: string[] = talk.markers.map((m: { label: string | null }) => m.label ?? '');
    expect(labels.some((l) => /fragment 1/.test(l))).toBe(true);
    expect(labels.some((l) => /fragment 2/.test(l))).toBe(true);
    expect(labels.some((l) => /pauze/.test(l))).toBe(true);
    expect(labels.length).toBeGreaterThanOrEqual(5);
    await page.click('[data-testid=review-present-stop]');
    await tv.page.waitForSelector('[data-testid=tv-idle]', { timeout: 15_000 });
  }, 180_000);

  it('the review held: after its retention nothing left on the kit decrypts a copy of the fragments taken before', async () => {
    const copy = path.join(svc.dir, 'copy-before-held');
    cpSync(svc.dataDir, copy, { recursive: true, filter: (p) => !statSync(p).isSocket() });
    const segs = frags.flatMap((fr) =>
      readdirSync(path.join(copy, 'fragments', fr.id))
        .filter((n) => n.endsWith('.ts.age'))
        .map((n) => path.join(copy, 'fragments', fr.id, n)),
    );
    const stillFile = path.join(copy, 'stills', `${keptStillId}.jpg.age`);
    expect(segs.length).toBeGreaterThanOrEqual(3);
    // the copy's own keys open them (so the check below can fail)
    const then = await everythingLeftOnTheKit(copy, '1234');
    expect(await opensWithAny(then, readFileSync(segs[0]!))).toBe(true);

    const { page } = phone;
    await page.goto(`/#/review/${reviewId}`);
    await page.click('[data-testid=review-held-button]');
    await page.click('[data-testid=review-held-yes]');
    await page.waitForSelector('[data-testid=review-held]', { timeout: 15_000 });
    for (const fr of frags) await until(`fragment ${fr.id} erased`, () => !existsSync(path.join(svc.dataDir, 'fragments', fr.id)) || undefined, 30_000);
    const left = await everythingLeftOnTheKit(svc.dataDir, '1234');
    for (const s of segs) expect(await opensWithAny(left, readFileSync(s)), s).toBe(false);
    expect(await opensWithAny(left, readFileSync(stillFile))).toBe(false);
  }, 120_000);

  it('never wrote the note or the caption in plaintext: data dir, config, logs', () => {
    for (const needle of NEEDLES) {
      expect(filesContaining(svc.dir, needle)).toEqual([]);
      expect(svc.output).not.toContain(needle);
    }
    expect([...phone.errors, ...tv.errors].filter((e) => !/status of (401|403|423)\b/.test(e))).toEqual([]);
  });
});
