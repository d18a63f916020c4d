// Issue 20: the review cycle is scoped to the signed-in trainer, exactly as clips are. Two trainers
// on one kit (the kit's own composition root, real keys, SQLite and age, no camera needed): T-018
// gets 403 `not_your_case` for each fragment, kept still and review of T-017's case by id, lists show
// only their own cases' items, they cannot present or talk about T-017's review, and a co-trainer of
// the case sees it. A paired TV keeps its narrow access (only the presented item).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/core/logger.js';
import { createKit, type Kit } from '../src/main.js';
import { JPEG, segs } from './helpers/review-kit.js';
import { sessionCookies } from './helpers/service.js';

const CONSENT = { recording: true, review: true, supervision: true, training: false };
const NOTE = 'Wat ziet u hier? De blik naar mama';

interface Caller {
  cookie: string;
  csrf: string;
}

describe('the review cycle of a team kit: a trainer reaches only the items of their cases', () => {
  let root: string;
  let kit: Kit;
  const t17 = { clip: '', fragment: '', still: '', review: '' };
  const t18 = { clip: '', fragment: '', review: '' };

  const send = async (who: Caller | null, method: string, url: string, body?: unknown) => {
    const headers: Record<string, string> = { host: 'localhost' };
    if (who) headers.cookie = who.cookie;
    if (who && method !== 'GET') headers['x-csrf-token'] = who.csrf;
    const r = await kit.app.inject({ method: method as 'GET', url, headers, ...(body === undefined ? {} : { payload: body as object }) });
    let json: any;
    try {
      json = r.json();
    } catch {
      json = undefined;
    }
    return { status: r.statusCode, json, headers: r.headers };
  };
  const login = async (trainerId: string, pin: string): Promise<Caller> => {
    const r = await send(null, 'POST', '/api/login', { trainerId, pin });
    expect(r.status).toBe(204);
    const c = sessionCookies([r.headers['set-cookie'] ?? []].flat() as string[]);
    return { cookie: c.header, csrf: c.csrf };
  };
  const ok = async (who: Caller, method: string, url: string, body?: unknown) => {
    const r = await send(who, method, url, body);
    expect(r.status, `${method} ${url}: ${JSON.stringify(r.json)}`).toBe(200);
    return r.json;
  };

  /** A finished clip of the case, recorded as the recorder does (to the signed-in trainer, the kit's holder), with one still. */
  const clipOf = async (caseCode: string): Promise<{ clipId: string; stillId: number }> => {
    const now = Date.now();
    const clipId = kit.clips.createClip({ caseCode, now, requestedAt: now, preRollMs: 0, originMs: now, consent: CONSENT });
    await kit.clips.prepareKey(clipId);
    for (const [seq, s] of segs(4, caseCode).entries())
      await kit.clips.persistSegment(clipId, seq, s.data, { startMs: now + seq * 1000, durationMs: 1000, discontinuity: false });
    kit.clips.finishClip(clipId, 'complete', now + 4000, 'stopped');
    const still = await kit.clips.addStill(clipId, JPEG, 1500, now);
    await new Promise((r) => setTimeout(r, 2)); // clip ids are time-based
    return { clipId, stillId: still.id };
  };

  /** A case of this trainer with a clip, a fragment (with a note), a kept still and a review of both. */
  const caseOf = async (who: Caller, code: string) => {
    await ok(who, 'POST', '/api/cases', { code, trajectory: 'k-vht', consent: CONSENT });
    const { clipId, stillId } = await clipOf(code);
    const fragment = (await ok(who, 'POST', `/api/clips/${clipId}/fragments`, { inMs: 0, outMs: 2000, label: 'child-initiative', note: NOTE })).id as string;
    const still = (await ok(who, 'POST', `/api/clips/${clipId}/kept-stills`, { stillId, caption: 'een blik' })).id as string;
    const items = [
      { kind: 'fragment', id: fragment },
      { kind: 'still', id: still },
    ];
    const review = (await ok(who, 'POST', '/api/reviews', { caseCode: code, items })).id as string;
    return { clip: clipId, fragment, still, review };
  };

  let a: Caller;
  let b: Caller;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'vht-team-scope-'));
    const config = parseConfig({
      kitId: 'kit-scope',
      dataDir: path.join(root, 'data'),
      http: { tls: 'off' },
      auth: { pin: '1234' },
      capture: { profile: 'sim', armAtStart: false, ringDir: path.join('/dev/shm', path.basename(root)), width: 320, height: 240, bitrateKbps: 300 },
    });
    kit = await createKit(config, { logger: createLogger({ level: 'silent' }), timeSynchronised: async () => false });
    await kit.keys.start('1234');
    await kit.keys.addTrainer('T-017', '170017');
    await kit.keys.addTrainer('T-018', '180018');
    a = await login('T-017', '170017');
    Object.assign(t17, await caseOf(a, 'GZ-1701'));
    b = await login('T-018', '180018');
    Object.assign(t18, await caseOf(b, 'GZ-1801'));
  }, 120_000);

  afterAll(async () => {
    await kit?.app.close();
    kit?.catalogue.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("answers 403 not_your_case for each of T-017's fragments, kept stills and reviews by id, and changes nothing", async () => {
    const tries: [string, string, unknown?][] = [
      ['GET', `/api/clips/${t17.clip}/fragments`],
      ['POST', `/api/clips/${t17.clip}/fragments`, { inMs: 0, outMs: 1000 }],
      ['GET', `/api/fragments/${t17.fragment}`],
      ['PATCH', `/api/fragments/${t17.fragment}`, { label: null }],
      ['DELETE', `/api/fragments/${t17.fragment}`],
      ['GET', `/api/fragments/${t17.fragment}/index.m3u8`],
      ['GET', `/api/fragments/${t17.fragment}/segments/0.ts`],
      ['GET', `/api/clips/${t17.clip}/kept-stills`],
      ['POST', `/api/clips/${t17.clip}/kept-stills`, { stillId: 1 }],
      ['GET', `/api/stills/${t17.still}`],
      ['PATCH', `/api/stills/${t17.still}`, { caption: null }],
      ['DELETE', `/api/stills/${t17.still}`],
      ['GET', `/api/stills/${t17.still}/image.jpg`],
      ['GET', `/api/reviews/${t17.review}`],
      ['PATCH', `/api/reviews/${t17.review}`, { plannedFor: '2026-12-24' }],
      ['POST', `/api/reviews/${t17.review}/held`, {}],
      ['DELETE', `/api/reviews/${t17.review}`],
      ['GET', `/api/reviews?caseCode=GZ-1701`],
      ['POST', '/api/reviews', { caseCode: 'GZ-1701', items: [{ kind: 'fragment', id: t17.fragment }] }],
      ['POST', '/api/present', { reviewId: t17.review, item: 0 }],
      ['POST', '/api/recording/start', { caseCode: 'GZ-1701', reviewId: t17.review }],
    ];
    for (const [method, url, body] of tries) {
      const r = await send(b, method, url, body);
      expect(r.status, `${method} ${url}: ${JSON.stringify(r.json)}`).toBe(403);
      expect(r.json.error.reason, `${method} ${url}`).toBe('not_your_case');
      expect(r.json.error.message, `${method} ${url}`).toMatch(/T-018/);
    }
    // nothing changed: T-017 finds everything as it was
    a = await login('T-017', '170017');
    const review = await ok(a, 'GET', `/api/reviews/${t17.review}`);
    expect(review).toMatchObject({ heldAt: null, plannedFor: null });
    expect(review.items.map((i: { id: string }) => i.id)).toEqual([t17.fragment, t17.still]);
    expect(await ok(a, 'GET', `/api/fragments/${t17.fragment}`)).toMatchObject({ note: NOTE, label: 'child-initiative', deleteRequested: false });
    expect(await ok(a, 'GET', `/api/stills/${t17.still}`)).toMatchObject({ caption: 'een blik', deleteRequested: false });
    expect((await ok(a, 'GET', `/api/clips/${t17.clip}/fragments`)).fragments.map((f: { id: string }) => f.id)).toEqual([t17.fragment]);
    expect((await send(a, 'GET', `/api/fragments/${t17.fragment}/segments/0.ts`)).status).toBe(200);
    expect((await send(a, 'GET', `/api/stills/${t17.still}/image.jpg`)).status).toBe(200);
  });

  it('lists only the reviews of the signed-in trainer’s cases', async () => {
    a = await login('T-017', '170017');
    expect((await ok(a, 'GET', '/api/reviews')).reviews.map((r: { id: string }) => r.id)).toEqual([t17.review]);
    b = await login('T-018', '180018');
    expect((await ok(b, 'GET', '/api/reviews')).reviews.map((r: { id: string }) => r.id)).toEqual([t18.review]);
    expect((await ok(b, 'GET', '/api/reviews?caseCode=GZ-1801')).reviews.map((r: { id: string }) => r.id)).toEqual([t18.review]);
    // a review of their case cannot take an item of another case
    const mixed = await send(b, 'PATCH', `/api/reviews/${t18.review}`, { items: [{ kind: 'fragment', id: t17.fragment }] });
    expect(mixed.status).toBe(400);
    expect(mixed.json.error.reason).toBe('review_item_other_case');
  });

  it("a clip erased on the kit whose fragments live on stays T-017's: its fragment list answers 403 to T-018", async () => {
    kit.catalogue.markUploaded(t17.clip, Date.now() - 1000);
    a = await login('T-017', '170017');
    const del = await ok(a, 'DELETE', `/api/clips/${t17.clip}`, { confirm: t17.clip });
    expect(del.deleted).toBe(true);
    expect(kit.catalogue.getClip(t17.clip)).toBeUndefined();
    expect((await ok(a, 'GET', `/api/clips/${t17.clip}/fragments`)).fragments.map((f: { id: string }) => f.id)).toEqual([t17.fragment]);
    b = await login('T-018', '180018');
    for (const url of [`/api/clips/${t17.clip}/fragments`, `/api/clips/${t17.clip}/kept-stills`]) {
      const r = await send(b, 'GET', url);
      expect(r.status, url).toBe(403);
      expect(r.json.error.reason).toBe('not_your_case');
    }
  });

  it('a co-trainer of the case sees its review; the TV plays only the presented item', async () => {
    kit.catalogue.addCaseTrainers('GZ-1701', ['T-018'], Date.now());
    b = await login('T-018', '180018');
    expect((await ok(b, 'GET', '/api/reviews')).reviews.map((r: { id: string }) => r.id).sort()).toEqual([t17.review, t18.review].sort());
    expect((await ok(b, 'GET', `/api/reviews/${t17.review}`)).caseCode).toBe('GZ-1701');

    // T-018 presents item 0 (a fragment) of their own review on a paired TV
    const code = (await ok(b, 'POST', '/api/tv/pairing', {})).code as string;
    const paired = await send(null, 'POST', '/api/tv/pair', { code });
    expect(paired.status).toBe(200);
    const c = sessionCookies([paired.headers['set-cookie'] ?? []].flat() as string[]);
    const tv: Caller = { cookie: c.header, csrf: c.csrf };
    expect((await ok(b, 'POST', '/api/present', { reviewId: t18.review, item: 0 })).review).toMatchObject({ kind: 'fragment', refId: t18.fragment });
    expect((await send(tv, 'GET', `/api/fragments/${t18.fragment}/index.m3u8`)).status).toBe(200);
    for (const url of [`/api/fragments/${t17.fragment}/index.m3u8`, `/api/stills/${t17.still}/image.jpg`, `/api/reviews/${t18.review}`]) {
      const r = await send(tv, 'GET', url);
      expect(r.status, url).toBe(403);
      expect(r.json.error.reason, url).toBe('viewer_not_allowed');
    }
    // the next item of T-018's review is fine; T-017's review is T-018's only as co-trainer now
    expect((await ok(b, 'POST', '/api/present/next', {})).review).toMatchObject({ kind: 'still', item: 1 });
  });
});
