// Issue 20 end to end, two kits of one team: two real services (bin/vht-kit serve, sim profile at
// 320×240, their own data dirs and buckets), the real S3 server (OpenStack Swift, one bucket per kit
// with container ACLs, the office bucket with the directory) and Debian's Chromium (playwright-core).
// T-017 records a case on kit A, makes a review of a fragment of it and docks; on kit B (docked,
// T-017 enrolled) T-017 signs in and the clip, the fragment and the review arrive, verified, play in
// the browser and are presented; T-018 on kit B cannot see or fetch them (403; no key on the card
// that decrypts them); the audit of both kits names T-017 for every view and presentation.
// Build first: `npx tsc -p tsconfig.build.json && npx vite build --config src/web/ui/vite.config.ts`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, newPage, PHONE, screenshot } from './helpers/browser.js';
import { everythingLeftOnTheKit, opensWithAny } from './helpers/kit-keys.js';
import type { SwiftServer } from './helpers/swift.js';
import { opens, setContainerAcl, startSwiftRetrying, TeamKit, until, vhtKit, type Org } from './helpers/two-kits.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const OFFICE = 'vht-org-office';
const TEAM = 'team-noord';
const CASE = 'GZ-1701';
const T17 = 'T-017';
const T18 = 'T-018';

let root: string;
let swift: SwiftServer;
let org: Org;
let browser: Browser;
let phoneB: { context: BrowserContext; page: Page; errors: string[] };
const kitA = new TeamKit('kit-a', 'vht-org-kit-a');
const kitB = new TeamKit('kit-b', 'vht-org-kit-b');
let clipId = '';
let fragmentId = '';
let reviewId = '';

/** SHA-256 (hex) of every segment file of a clip on a kit, by file name. */
function segmentHashes(kit: TeamKit, id: string): Record<string, string> {
  const dir = path.join(kit.svc.dataDir, 'clips', id);
  return Object.fromEntries(
    readdirSync(dir)
      .filter((n) => n.endsWith('.ts.age'))
      .map((n) => [
        n,
        createHash('sha256')
          .update(readFileSync(path.join(dir, n)))
          .digest('hex'),
      ]),
  );
}

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist', 'ui', 'index.html')))
    throw new Error('dist/ui is missing: run `npx vite build --config src/web/ui/vite.config.ts` first');
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-two-kits-'));
  const swiftStarted = startSwiftRetrying(root);
  // the office: the organisation's identity (and case-tag key), each kit enrolled with its recipient
  const keyFile = path.join(root, 'org.key');
  const made = await vhtKit(['keygen', '--out', keyFile], {});
  expect(made.code, made.err).toBe(0);
  org = { keyFile, recipient: made.out.trim() };
  swift = await swiftStarted;
  const store = { swift, officeBucket: OFFICE, org };
  await Promise.all([kitA.enrol(store, '111001'), kitB.enrol(store, '222001')]);
  await kitA.addTrainer(T17, '170017', org);
  await kitB.addTrainer(T17, '171717', org);
  await kitB.addTrainer(T18, '180018', org);
  // a bucket per kit: the team's credential writes and reads the team's kit buckets, reads the office bucket
  for (const b of [kitA.bucket, kitB.bucket]) {
    await swift.createBucket(b);
    await setContainerAcl(swift, b, { read: swift.writer.accessKeyId, write: swift.writer.accessKeyId });
  }
  await swift.createBucket(OFFICE);
  await setContainerAcl(swift, OFFICE, { read: swift.writer.accessKeyId });
  for (const k of [kitA, kitB]) await swift.put(OFFICE, `directory/kits/${k.kitId}.json`, Buffer.from(k.directoryEntry(TEAM)));
  await Promise.all([kitA.svc.start(), kitB.svc.start()]);
  browser = await launchChromium();
  phoneB = await newPage(browser, kitB.svc.url, PHONE);
}, 240_000);

afterAll(async () => {
  if (phoneB?.errors.length) console.log('page errors (kit B):', phoneB.errors.join('\n'));
  await browser?.close();
  await Promise.all([kitA.svc.stop(), kitB.svc.stop()]);
  await swift?.stop();
  kitA.svc.cleanup();
  kitB.svc.cleanup();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe("a trainer's footage follows them to another kit of the team (two kits, Swift, Chromium)", () => {
  it('kit A: T-017 records a case, views and presents it, makes a review of a fragment; docked, it uploads them and their keys for T-017 on kit B', async () => {
    await kitA.signIn(T17);
    await kitA.dock();
    // the first dock reads the team's directory: from now on a new key of T-017's also goes to kit B
    await kitA.syncRun('the directory read', () => existsSync(path.join(kitA.svc.dataDir, 'directory.json')));
    await kitA.svc.waitArmed();
    const made = await kitA.svc.request('POST', '/api/cases', {
      code: CASE,
      trajectory: 'k-vht',
      consent: { recording: true, review: true, supervision: false, training: false },
    });
    expect(made.status, made.text).toBe(200);
    const start = await kitA.svc.request('POST', '/api/recording/start', { caseCode: CASE });
    expect(start.status, start.text).toBe(200);
    clipId = start.json.clipId;
    await sleep(2500);
    expect((await kitA.svc.request('POST', '/api/recording/stop', {})).status).toBe(200);
    await until('the take complete on kit A', async () => (await kitA.svc.request('GET', `/api/clips/${clipId}`)).json.state === 'complete');
    expect((await kitA.svc.request('GET', `/api/clips/${clipId}/index.m3u8`)).status).toBe(200);
    const shownA = await kitA.svc.request('POST', '/api/present', { clipId });
    expect(shownA.status, shownA.text).toBe(200);
    expect(shownA.json.clipId).toBe(clipId);
    expect((await kitA.svc.request('DELETE', '/api/present')).status).toBe(200);
    // the review: a fragment of the take, presented as the review's first item
    const frag = await kitA.svc.request('POST', `/api/clips/${clipId}/fragments`, { inMs: 1000, outMs: 3000, label: null });
    expect(frag.status, frag.text).toBe(200);
    fragmentId = frag.json.id;
    const review = await kitA.svc.request('POST', '/api/reviews', { caseCode: CASE, items: [{ kind: 'fragment', id: fragmentId }] });
    expect(review.status, review.text).toBe(200);
    reviewId = review.json.id;
    const item = await kitA.svc.request('POST', '/api/present', { reviewId, item: 0 });
    expect(item.status, item.text).toBe(200);
    expect((await kitA.svc.request('DELETE', '/api/present')).status).toBe(200);

    await kitA.syncRun('the take uploaded', (s) => s.pending === 0);
    const objects = (await swift.list(kitA.bucket)).map((o) => o.key);
    expect(objects).toContain(`kit-a/clips/${clipId}/manifest.json.age`);
    // the keys of the clip, the fragment and the review went to T-017's inbox on kit B, and to nobody else
    expect(objects.filter((k) => k.includes('/outbox/')).sort()).toEqual(
      [`clip-${clipId}`, `fragment-${fragmentId}`, `review-${reviewId}`].map((n) => `kit-a/outbox/${T17}/kit-b/${n}.key.age`).sort(),
    );
  }, 120_000);

  it('kit B docks with T-018 signed in: nothing is fetched for them', async () => {
    await kitB.signIn(T18);
    await kitB.dock();
    const s = await kitB.syncRun('the fetch for T-018', (x) => x.fetch?.trainerId === T18 && x.fetch.state === 'done');
    expect(s.fetch).toMatchObject({ clipsReady: 0, clipsWaiting: 0, bytesTotal: 0, onKit: { clips: 0, reviews: 0, fragments: 0, stills: 0 } });
    expect(existsSync(path.join(kitB.svc.dataDir, 'clips', clipId))).toBe(false);
    expect((await kitB.svc.request('GET', `/api/clips/${clipId}`)).status).toBe(404);
  }, 120_000);

  it('kit B, docked: T-017 signs in in the browser and the clip, fragment and review arrive verified; the remote says so; they play and are presented', async () => {
    const { page } = phoneB;
    await page.goto('/');
    await page.fill('#trainer-id', 't-017');
    await page.fill('#pin', '171717');
    await screenshot(page, 'team-sign-in-phone');
    await page.click('form.login button[type=submit]');
    await page.waitForSelector('[data-testid=signed-in]', { timeout: 20_000 });
    expect(await page.textContent('[data-testid=signed-in]')).toContain(`Ingelogd als ${T17}`);

    // a sign-in on a docked kit fetches at once (read with the browser's own session)
    const s = await until(
      'the sign-in fetch for T-017',
      async () => {
        const x = await (await page.context().request.get('/api/sync')).json();
        return x.fetch?.trainerId === T17 && x.fetch.state === 'done' && x.fetch.clipsReady === 1 && x.fetch.reviewsReady === 1 ? x : undefined;
      },
      120_000,
    );
    expect(s.fetch).toMatchObject({ clipsWaiting: 0, keptReady: 1, onKit: { clips: 1, reviews: 1, fragments: 1, stills: 0 } });
    expect(s.fetch.bytesDone).toBe(s.fetch.bytesTotal);
    // the remote's line: what is ready for the next visit
    await page.reload();
    await until('the fetch line', async () => (await page.textContent('[data-testid=fetch-line]').catch(() => null)) || undefined);
    expect(await page.locator('[data-testid=fetch-line] > div').allTextContents()).toEqual([
      'Op deze kit: opnamen 1 · nabesprekingen 1 · fragmenten en stills 1',
      'Net opgehaald: opnamen 1 · nabesprekingen 1 · fragmenten en stills 1',
    ]);
    await page.locator('[data-testid=fetch-line]').scrollIntoViewIfNeeded();
    await screenshot(page, 'team-fetch-line-phone');
    await kitB.signIn(T17);

    // verified: every segment byte for byte the one kit A recorded (the manifest's SHA-256 checked on the way)
    expect(segmentHashes(kitB, clipId)).toEqual(segmentHashes(kitA, clipId));
    expect(readdirSync(path.join(kitB.svc.dataDir, 'clips', clipId)).filter((n) => n.startsWith('.fetch-'))).toEqual([]);
    const clip = (await kitB.svc.request('GET', `/api/clips/${clipId}`)).json;
    expect(clip).toMatchObject({ id: clipId, caseCode: CASE, state: 'complete' });
    expect((await kitB.svc.request('GET', '/api/cases')).json.cases.map((c: { code: string }) => c.code)).toEqual([CASE]);

    // the clip plays in the browser on kit B
    await page.goto(`/#/clip/${clipId}`);
    const sel = '[data-testid="player-video"]';
    await page.waitForFunction(
      (q) => {
        const v = document.querySelector(q) as HTMLVideoElement | null;
        return !!v && v.readyState >= 2 && Number.isFinite(v.duration) && v.duration > 1;
      },
      sel,
      { timeout: 30_000 },
    );
    await page.$eval(sel, (el) => (el as HTMLVideoElement).play());
    await page.waitForFunction((q) => (document.querySelector(q) as HTMLVideoElement).currentTime > 0.5, sel, { timeout: 20_000 });
    const shownB = await kitB.svc.request('POST', '/api/present', { clipId });
    expect(shownB.status, shownB.text).toBe(200);
    expect(shownB.json.clipId).toBe(clipId);
    expect((await kitB.svc.request('DELETE', '/api/present')).status).toBe(200);

    // the review is T-017's on kit B: its fragment plays, and it is presented
    expect((await kitB.svc.request('GET', '/api/reviews')).json.reviews.map((r: { id: string }) => r.id)).toEqual([reviewId]);
    expect((await kitB.svc.request('GET', `/api/reviews/${reviewId}`)).json.items.map((i: { id: string }) => i.id)).toEqual([fragmentId]);
    await page.goto(`/#/fragment/${fragmentId}`);
    await page.waitForFunction((q) => ((document.querySelector(q) as HTMLVideoElement | null)?.readyState ?? 0) >= 2, '[data-testid="fragment-video"]', {
      timeout: 30_000,
    });
    const item = await kitB.svc.request('POST', '/api/present', { reviewId, item: 0 });
    expect(item.status, item.text).toBe(200);
    expect(item.json.review).toMatchObject({ reviewId, item: 0, kind: 'fragment', refId: fragmentId });
    expect((await kitB.svc.request('DELETE', '/api/present')).status).toBe(200);
  }, 180_000);

  it('T-018 on kit B: 403 for the clip, the fragment and the review, and no key on the card that decrypts them', async () => {
    await kitB.signIn(T18);
    expect((await kitB.svc.request('GET', '/api/clips')).json.clips).toEqual([]);
    expect((await kitB.svc.request('GET', '/api/cases')).json.cases).toEqual([]);
    for (const p of [`/api/clips/${clipId}`, `/api/clips/${clipId}/index.m3u8`, `/api/clips/${clipId}/segments/0.ts`]) {
      const r = await kitB.svc.request('GET', p);
      expect(r.status, p).toBe(403);
      expect(r.json.error.message).toMatch(/not of a case of trainer T-018/);
    }
    expect((await kitB.svc.request('POST', '/api/present', { clipId })).status).toBe(403);
    expect((await kitB.svc.request('GET', '/api/reviews')).json.reviews).toEqual([]);
    for (const p of [`/api/reviews/${reviewId}`, `/api/fragments/${fragmentId}`, `/api/fragments/${fragmentId}/index.m3u8`])
      expect((await kitB.svc.request('GET', p)).status, p).toBe(403);
    expect((await kitB.svc.request('POST', '/api/present', { reviewId, item: 0 })).status).toBe(403);

    // the files: what T-018's PIN opens on kit B does not decrypt the clip; T-017's does (the control)
    const segment = readFileSync(path.join(kitB.svc.dataDir, 'clips', clipId, '0.ts.age'));
    const fragDir = path.join(kitB.svc.dataDir, 'fragments', fragmentId);
    const fragSegment = readFileSync(
      path.join(
        fragDir,
        readdirSync(fragDir).find((n) => n.endsWith('.ts.age'))!,
      ),
    );
    const t17 = await everythingLeftOnTheKit(kitB.svc.dataDir, '171717');
    const t18 = await everythingLeftOnTheKit(kitB.svc.dataDir, '180018');
    for (const [what, data] of [
      ['clip', segment],
      ['fragment', fragSegment],
    ] as const) {
      expect(await opensWithAny(t17, data), what).toBe(true);
      expect(await opensWithAny(t18, data), what).toBe(false);
    }
    expect(Object.keys(JSON.parse(readFileSync(path.join(kitB.svc.dataDir, 'keys', 'clips', `${clipId}.json`), 'utf8')).wraps)).toEqual([T17]);
    // nor does T-018's inbox open the key kit A sent (T-017's inbox does)
    const sent = await swift.get(kitA.bucket, `kit-a/outbox/${T17}/kit-b/clip-${clipId}.key.age`);
    expect(await opens((await kitB.inboxIdentity(T17))!, sent)).toBe(true);
    expect(await opens((await kitB.inboxIdentity(T18))!, sent)).toBe(false);
  }, 120_000);

  it('the audit of both kits names T-017 for each view and presentation of the clip and the review (and on kit B for each fetch); the chains are whole', async () => {
    const USES = ['clip.viewed', 'clip.presented', 'review.item.presented', 'clip.fetched', 'fragment.fetched', 'review.fetched'];
    for (const [kit, want] of [
      [kitA, ['clip.viewed', 'clip.presented', 'review.item.presented']],
      [kitB, ['clip.fetched', 'fragment.fetched', 'review.fetched', 'clip.viewed', 'clip.presented', 'review.item.presented']],
    ] as const) {
      const rows = [...kit.auditOf(clipId), ...kit.auditOf(reviewId)];
      for (const type of want) expect(rows.filter((r) => r.type === type).length, `${kit.kitId} ${type}`).toBeGreaterThan(0);
      const uses = rows.filter((r) => USES.includes(r.type));
      expect([...new Set(uses.map((r) => r.trainer))], kit.kitId).toEqual([T17]);
      const verify = await vhtKit(['audit', 'verify'], kit.env);
      expect(verify.out, kit.kitId).toMatch(/audit log whole/);
    }
    expect(phoneB.errors.filter((e) => !/status of (401|403|423)\b/.test(e))).toEqual([]);
    // the organisation reads the copy on kit B too (age CLI)
    const seg = path.join(kitB.svc.dataDir, 'clips', clipId, '0.ts.age');
    expect(execFileSync('age', ['-d', '-i', org.keyFile, seg]).length).toBeGreaterThan(1000);
  });
});
