import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesUnder } from './helpers/media.js';
import { Service, TEST_CAPTURE } from './helpers/service.js';
import { asViewer, EventStream, pairTv, testJpeg, type Viewer } from './helpers/tv-viewer.js';

/**
 * The review cycle's API (issue 19) against the real service: real GStreamer takes, the real
 * catalogue and keys. Fragments and kept stills, reviews, presenting items on a paired TV (which
 * may fetch only the presented item's footage), the TV's keys with the phone following, the
 * recorded review talk with its markers, and notes/captions never in plaintext on the card or in
 * the logs.
 */

const CASE = 'GZ-1901';
const OTHER = 'GZ-1902';
const NO_SUPERVISION = 'GZ-1903';
const NOTE = 'Wat ziet u hier? Noortje kijkt naar mama';
const CAPTION = 'Een blik van Noortje naar papa';

/** Waits until a take is finished (its last segment persisted). */
async function finished(svc: Service, clipId: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if ((await svc.request('GET', `/api/clips/${clipId}`)).json?.state !== 'recording') return;
    await sleep(100);
  }
  throw new Error(`clip ${clipId} still recording after 20 s`);
}

describe('the review cycle API: fragments, kept stills, reviews, presenting on the TV, the review talk', () => {
  // Lead-in and lead-out of a fragment from a marker other than their defaults (3000 / 7000): they come from the config.
  const svc = new Service({ config: `${TEST_CAPTURE}\nplayback:\n  markerLeadInMs: 2000\n  fragmentLeadOutMs: 6000\n` });
  let clip1 = '';
  let clip2 = '';
  let clipOther = '';
  let marker1 = 0;
  let stillN = 0;
  let jpeg: Buffer = Buffer.alloc(0);
  const frag: string[] = [];
  let keptStill = '';
  let review = '';
  let viewer: Viewer = { cookie: '', csrf: '' };

  const take = async (caseCode: string, ms: number): Promise<string> => {
    const start = await svc.request('POST', '/api/recording/start', { caseCode });
    expect(start.status, start.text).toBe(200);
    await sleep(ms / 2);
    expect((await svc.request('POST', '/api/markers', { label: 'beurt' })).status).toBe(200);
    await sleep(ms / 2);
    expect((await svc.request('POST', '/api/recording/stop', {})).status).toBe(200);
    const id = start.json.clipId as string;
    await finished(svc, id);
    return id;
  };

  beforeAll(async () => {
    await svc.start();
    const consent = { recording: true, review: true, supervision: true, training: false };
    for (const [code, c] of [
      [CASE, consent],
      [OTHER, consent],
      [NO_SUPERVISION, { ...consent, supervision: false }],
    ] as const) {
      const r = await svc.request('POST', '/api/cases', { code, trajectory: 'k-vht', consent: c });
      expect(r.status, r.text).toBe(200);
    }
    await svc.waitArmed();
    await sleep(1500);
    clip1 = await take(CASE, 5000);
    clip2 = await take(CASE, 3000);
    clipOther = await take(OTHER, 2000);
    marker1 = (await svc.request('GET', `/api/clips/${clip1}`)).json.markers[0].id;
    jpeg = await testJpeg();
    const r = await fetch(`${svc.url}/api/clips/${clip2}/stills?t=1000`, {
      method: 'POST',
      headers: { cookie: svc.cookie, 'x-csrf-token': svc.csrf, 'content-type': 'image/jpeg' },
      body: new Uint8Array(jpeg),
    });
    expect(r.status).toBe(200);
    stillN = ((await r.json()) as { id: number }).id;
  }, 120_000);
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('refuses bad fragment input with a 4xx naming the field', async () => {
    const post = (body: unknown, clip = clip1) => svc.request('POST', `/api/clips/${clip}/fragments`, body);
    const cases: [unknown, string][] = [
      [{}, 'body.inMs'],
      [{ inMs: 1000 }, 'body.outMs'],
      [{ inMs: 3000, outMs: 1000 }, 'body.outMs'],
      [{ inMs: 0, outMs: 1000, label: 'nice moment' }, 'body.label'],
      [{ inMs: 0, outMs: 1000, markerId: 1 }, 'body.markerId'],
      [{ inMs: 0, outMs: 1000, note: 'x'.repeat(1001) }, 'body.note'],
      [{ inMs: -5, outMs: 1000 }, 'body.inMs'],
      [{ inMs: 0, outMs: 1000, extra: 1 }, 'body'],
    ];
    for (const [body, field] of cases) {
      const r = await post(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error.field, JSON.stringify(body)).toBe(field);
    }
    const past = await post({ inMs: 0, outMs: 600_000 });
    expect(past.status).toBe(400);
    expect(past.json.error.field).toBe('body.outMs');
    const noMarker = await post({ markerId: 999_999 });
    expect(noMarker.status).toBe(404);
    expect(noMarker.json.error.field).toBe('body.markerId');
    const badId = await svc.request('GET', '/api/fragments/NOT-AN-ID');
    expect(badId.status).toBe(400);
    expect(badId.json.error.field).toBe('params.id');
    expect((await svc.request('GET', '/api/fragments/abcdefghij12')).status).toBe(404);
  });

  it('saves fragments from in/out and from a marker (lead-in and lead-out from playback.*, here 2 s and 6 s, clamped to the clip), with labels and an encrypted note', async () => {
    const a = await svc.request('POST', `/api/clips/${clip1}/fragments`, { inMs: 1200, outMs: 3400, label: 'child-initiative', note: NOTE });
    expect(a.status, a.text).toBe(200);
    expect(a.json).toMatchObject({ clipId: clip1, caseCode: CASE, inMs: 1200, outMs: 3400, label: 'child-initiative', note: NOTE, confirmedAt: null });
    // The playlist covers the overlapping segments: it starts at or before in and ends at or after out.
    expect(a.json.playlistStartMs).toBeLessThanOrEqual(1200);
    expect(a.json.playlistStartMs + a.json.playlistDurationMs).toBeGreaterThanOrEqual(3400);
    frag.push(a.json.id);

    const detail = (await svc.request('GET', `/api/clips/${clip1}`)).json;
    const markerOffset = detail.markers.find((m: any) => m.id === marker1).offsetMs as number;
    const b = await svc.request('POST', `/api/clips/${clip1}/fragments`, { markerId: marker1, label: 'receiving' });
    expect(b.status, b.text).toBe(200);
    expect(b.json.inMs).toBe(Math.max(0, markerOffset - 2000));
    expect(b.json.outMs).toBe(Math.min(detail.durationMs, markerOffset + 6000));
    expect(b.json.note).toBeNull();
    frag.push(b.json.id);

    const c = await svc.request('POST', `/api/clips/${clip2}/fragments`, { inMs: 500, outMs: 2000, label: 'naming' });
    expect(c.status, c.text).toBe(200);
    frag.push(c.json.id);

    const list = await svc.request('GET', `/api/clips/${clip1}/fragments`);
    expect(list.json.fragments.map((f: any) => f.id).sort()).toEqual([frag[0], frag[1]].sort());
    const patched = await svc.request('PATCH', `/api/fragments/${frag[1]}`, { note: 'Wat doet papa?' });
    expect(patched.json).toMatchObject({ note: 'Wat doet papa?', label: 'receiving' });
    const none = await svc.request('PATCH', `/api/fragments/${frag[1]}`, {});
    expect(none.status).toBe(400);
    const cleared = await svc.request('PATCH', `/api/fragments/${frag[1]}`, { note: null, label: null });
    expect(cleared.json).toMatchObject({ note: null, label: null });

    // The library says per clip how many fragments are kept.
    const clips = (await svc.request('GET', '/api/clips')).json;
    const row = clips.clips.find((c: any) => c.id === clip1);
    expect(row.place).toEqual({ onKit: true, atOrganisation: false, fragments: 2, keptStills: 0 });
    expect(clips.removed).toEqual([]);
  });

  it('plays a fragment: its playlist lists only the copied segments, which decrypt to MPEG-TS', async () => {
    const f = (await svc.request('GET', `/api/fragments/${frag[0]}`)).json;
    const pl = await svc.request('GET', `/api/fragments/${frag[0]}/index.m3u8`);
    expect(pl.status).toBe(200);
    const names = [...pl.text.matchAll(/^segments\/(\d+)\.ts$/gm)].map((m) => Number(m[1]));
    const clipSegs = (await svc.request('GET', `/api/clips/${clip1}`)).json.segments as { seq: number; startMs: number; durationMs: number }[];
    expect(names.length).toBeGreaterThan(0);
    expect(names.length).toBeLessThan(clipSegs.length);
    const total = pl.text.match(/#EXTINF:([\d.]+)/g)!.reduce((n, l) => n + Number(l.slice(8)) * 1000, 0);
    expect(Math.abs(total - f.playlistDurationMs)).toBeLessThan(5);
    const seg = await fetch(`${svc.url}/api/fragments/${frag[0]}/segments/${names[0]}.ts`, { headers: { cookie: svc.cookie } });
    expect(seg.status).toBe(200);
    const bytes = Buffer.from(await seg.arrayBuffer());
    expect(bytes[0]).toBe(0x47);
    const outside = clipSegs.map((s) => s.seq).find((s) => !names.includes(s))!;
    expect((await svc.request('GET', `/api/fragments/${frag[0]}/segments/${outside}.ts`)).status).toBe(404);
  });

  it('keeps a still with a caption; refuses an unknown still naming the field', async () => {
    const bad = await svc.request('POST', `/api/clips/${clip2}/kept-stills`, { stillId: 99 });
    expect(bad.status).toBe(404);
    expect(bad.json.error.field).toBe('body.stillId');
    const noField = await svc.request('POST', `/api/clips/${clip2}/kept-stills`, { caption: CAPTION });
    expect(noField.status).toBe(400);
    expect(noField.json.error.field).toBe('body.stillId');
    const k = await svc.request('POST', `/api/clips/${clip2}/kept-stills`, { stillId: stillN, caption: CAPTION });
    expect(k.status, k.text).toBe(200);
    expect(k.json).toMatchObject({ clipId: clip2, stillId: stillN, caseCode: CASE, timeMs: 1000, caption: CAPTION });
    keptStill = k.json.id;
    const img = await fetch(`${svc.url}/api/stills/${keptStill}/image.jpg`, { headers: { cookie: svc.cookie } });
    expect(Buffer.from(await img.arrayBuffer()).equals(jpeg)).toBe(true);
    expect((await svc.request('GET', `/api/clips/${clip2}/kept-stills`)).json.stills.map((s: any) => s.id)).toEqual([keptStill]);
  });

  it('makes a review of fragments and stills of any clip of the case; reorders; refuses items of another case', async () => {
    const otherFrag = await svc.request('POST', `/api/clips/${clipOther}/fragments`, { inMs: 0, outMs: 1000 });
    expect(otherFrag.status).toBe(200);
    const wrong = await svc.request('POST', '/api/reviews', { caseCode: CASE, items: [{ kind: 'fragment', id: otherFrag.json.id }] });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.field).toBe('body.items.0.id');
    const missing = await svc.request('POST', '/api/reviews', { caseCode: CASE, items: [{ kind: 'still', id: 'abcdefghij12' }] });
    expect(missing.status).toBe(404);
    expect(missing.json.error.field).toBe('body.items.0.id');
    const badCase = await svc.request('POST', '/api/reviews', { caseCode: 'Jan de Vries', items: [] });
    expect(badCase.status).toBe(400);
    expect(badCase.json.error.field).toBe('body.caseCode');
    const twice = await svc.request('POST', '/api/reviews', {
      caseCode: CASE,
      items: [
        { kind: 'fragment', id: frag[0] },
        { kind: 'fragment', id: frag[0] },
      ],
    });
    expect(twice.status).toBe(400);
    expect(twice.json.error.field).toBe('body.items.1.id');

    const r = await svc.request('POST', '/api/reviews', {
      caseCode: CASE,
      plannedFor: '2026-12-14',
      items: [
        { kind: 'fragment', id: frag[2] },
        { kind: 'fragment', id: frag[0] },
        { kind: 'still', id: keptStill },
      ],
    });
    expect(r.status, r.text).toBe(200);
    review = r.json.id;
    expect(r.json.items.map((i: any) => i.id)).toEqual([frag[2], frag[0], keptStill]);
    expect(r.json.items.map((i: any) => i.clipId)).toEqual([clip2, clip1, clip2]);
    const re = await svc.request('PATCH', `/api/reviews/${review}`, {
      items: [
        { kind: 'fragment', id: frag[0] },
        { kind: 'still', id: keptStill },
        { kind: 'fragment', id: frag[2] },
      ],
    });
    expect(re.json.items.map((i: any) => [i.position, i.id])).toEqual([
      [0, frag[0]],
      [1, keptStill],
      [2, frag[2]],
    ]);
    expect(re.json.plannedFor).toBe('2026-12-14');
    expect((await svc.request('GET', `/api/reviews?caseCode=${CASE}`)).json.reviews.map((x: any) => x.id)).toEqual([review]);
    expect((await svc.request('GET', `/api/reviews?caseCode=${OTHER}`)).json.reviews).toEqual([]);
    expect((await svc.request('GET', `/api/fragments/${frag[0]}`)).json.reviews).toEqual([review]);
    const badDay = await svc.request('PATCH', `/api/reviews/${review}`, { plannedFor: 'next week' });
    expect(badDay.status).toBe(400);
    expect(badDay.json.error.field).toBe('body.plannedFor');
  });

  it('presents review items on a paired TV, which may fetch only the presented item; TV keys step items and the phone follows', async () => {
    const paired = await pairTv(svc, (await svc.request('POST', '/api/tv/pairing', {})).json.code);
    expect(paired.status).toBe(200);
    viewer = paired.viewer;
    const tv = new EventStream();
    const phone = new EventStream();
    try {
      expect(await tv.open(`${svc.url}/api/tv/events`, viewer.cookie)).toBe(200);
      expect(await phone.open(`${svc.url}/api/events`, svc.cookie)).toBe(200);

      for (const [body, field] of [
        [{ reviewId: review }, 'body.item'],
        [{ clipId: clip1, reviewId: review, item: 0 }, 'body.clipId'],
        [{ item: 0 }, 'body.reviewId'],
        [{}, 'body.clipId'],
      ] as const) {
        const r = await svc.request('POST', '/api/present', body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.json.error.field).toBe(field);
      }
      const out = await svc.request('POST', '/api/present', { reviewId: review, item: 3 });
      expect(out.status).toBe(404);
      expect(out.json.error.field).toBe('body.item');

      const f0 = (await svc.request('GET', `/api/fragments/${frag[0]}`)).json;
      const first = await svc.request('POST', '/api/present', { reviewId: review, item: 0 });
      expect(first.status, first.text).toBe(200);
      const range = [(f0.inMs - f0.playlistStartMs) / 1000, (f0.outMs - f0.playlistStartMs) / 1000];
      expect(first.json).toMatchObject({ clipId: null, review: { reviewId: review, item: 0, count: 3, kind: 'fragment', refId: frag[0], range } });
      expect(first.json.player).toEqual({ playing: true, rate: 1, positionS: range[0], loop: range });
      await tv.waitFor(new RegExp(`event: present\\ndata: \\{"clipId":null,"review":\\{"reviewId":"${review}","item":0`));
      expect(tv.text).not.toContain(NOTE);

      // The TV: the presented fragment only; never the raw clip, nor an item not yet presented.
      expect((await asViewer(svc, viewer, 'GET', `/api/fragments/${frag[0]}/index.m3u8`)).status).toBe(200);
      const seq = (await svc.request('GET', `/api/fragments/${frag[0]}/index.m3u8`)).text.match(/segments\/(\d+)\.ts/)![1];
      expect((await asViewer(svc, viewer, 'GET', `/api/fragments/${frag[0]}/segments/${seq}.ts`)).status).toBe(200);
      const raw = await asViewer(svc, viewer, 'GET', `/api/clips/${clip1}/segments/0.ts`);
      expect(raw.status).toBe(403);
      expect((await asViewer(svc, viewer, 'GET', `/api/clips/${clip1}/index.m3u8`)).status).toBe(403);
      expect((await asViewer(svc, viewer, 'GET', `/api/stills/${keptStill}/image.jpg`)).status).toBe(403);
      expect((await asViewer(svc, viewer, 'GET', `/api/fragments/${frag[2]}/index.m3u8`)).status).toBe(403);
      expect((await asViewer(svc, viewer, 'GET', `/api/fragments/${frag[0]}`)).status).toBe(403);
      const state = await asViewer(svc, viewer, 'GET', '/api/tv/state');
      expect(state.json.review).toMatchObject({ item: 0, refId: frag[0] });
      expect(JSON.stringify(state.json)).not.toContain(NOTE);

      // The phone: rate ½ and loop reach the TV and the player state.
      expect((await svc.request('POST', '/api/present/control', { action: 'rate', rate: 0.5 })).status).toBe(200);
      expect((await svc.request('GET', '/api/present')).json.player.rate).toBe(0.5);

      const next = await svc.request('POST', '/api/present/next', {});
      expect(next.json.review).toMatchObject({ item: 1, kind: 'still', refId: keptStill, range: null });
      expect(next.json.player.rate).toBe(0.5);
      expect((await asViewer(svc, viewer, 'GET', `/api/stills/${keptStill}/image.jpg`)).bytes.equals(jpeg)).toBe(true);
      expect((await asViewer(svc, viewer, 'GET', `/api/fragments/${frag[0]}/index.m3u8`)).status).toBe(403);

      // The TV's keys: previous item; the phone follows (its event stream).
      const back = await asViewer(svc, viewer, 'POST', '/api/tv/keys', { action: 'marker', direction: -1 });
      expect(back.status, JSON.stringify(back.json)).toBe(200);
      expect(back.json.review.item).toBe(0);
      await phone.waitFor(/event: present\ndata: \{"clipId":null,"review":\{[^}]*"item":0[^}]*\}/);
      const slow = await asViewer(svc, viewer, 'POST', '/api/tv/keys', { action: 'rate', rate: 0.25 });
      expect(slow.status).toBe(200);
      await phone.waitFor(/event: tv.control\ndata: \{"action":"rate","source":"keys"[^\n]*"rate":0.25/);
      const missing = await asViewer(svc, viewer, 'POST', '/api/tv/keys', { action: 'rate' });
      expect(missing.status).toBe(400);
      expect(missing.json.error.field).toBe('body.rate');
      const before = await asViewer(svc, viewer, 'POST', '/api/tv/keys', { action: 'marker', direction: -1 });
      expect(before.status).toBe(409);
      expect(before.json.error.reason).toBe('no_previous_item');

      // A whole clip again: the fragment is no longer the TV's; the TV keys stop working.
      expect((await svc.request('POST', '/api/present', { clipId: clip1 })).status).toBe(200);
      expect((await asViewer(svc, viewer, 'GET', `/api/fragments/${frag[0]}/index.m3u8`)).status).toBe(403);
      const noReview = await asViewer(svc, viewer, 'POST', '/api/tv/keys', { action: 'marker', direction: 1 });
      expect(noReview.status).toBe(403);
      expect(noReview.json.error.reason).toBe('no_live_review');
    } finally {
      await tv.close();
      await phone.close();
    }
  });

  it('records the review talk with supervision consent only, its markers saying what was on the TV', async () => {
    const otherReview = await svc.request('POST', '/api/reviews', { caseCode: NO_SUPERVISION, items: [] });
    expect(otherReview.status).toBe(200);
    const refused = await svc.request('POST', '/api/recording/start', { caseCode: NO_SUPERVISION, reviewId: otherReview.json.id });
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatchObject({ field: 'consent.supervision', reason: 'review_talk_needs_supervision' });
    const mismatch = await svc.request('POST', '/api/recording/start', { caseCode: OTHER, reviewId: review });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json.error.field).toBe('body.reviewId');

    expect((await svc.request('POST', '/api/present', { reviewId: review, item: 0 })).status).toBe(200);
    const start = await svc.request('POST', '/api/recording/start', { caseCode: CASE, reviewId: review });
    expect(start.status, start.text).toBe(200);
    const talk = start.json.clipId as string;
    await sleep(400);
    expect((await svc.request('POST', '/api/present/control', { action: 'pause' })).status).toBe(200);
    await sleep(300);
    expect((await svc.request('POST', '/api/present/control', { action: 'rate', rate: 0.5 })).status).toBe(200);
    await sleep(300);
    expect((await svc.request('POST', '/api/present/next', {})).status).toBe(200);
    await sleep(300);
    expect((await svc.request('POST', '/api/present/next', {})).status).toBe(200);
    await sleep(500);
    expect((await svc.request('POST', '/api/recording/stop', {})).status).toBe(200);
    await finished(svc, talk);
    const detail = (await svc.request('GET', `/api/clips/${talk}`)).json;
    expect(detail.purposes).toEqual(['supervision']);
    expect(detail.caseCode).toBe(CASE);
    const labels = detail.markers.map((m: any) => m.label);
    expect(labels).toEqual(['fragment 1 · initiatief kind', 'pauze', 'snelheid ½×', 'still 2', 'fragment 3 · benoemen']);
    const offsets = detail.markers.map((m: any) => m.offsetMs as number);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
    await svc.request('DELETE', '/api/present');
  });

  it('marks a review held; its items can no longer change', async () => {
    const held = await svc.request('POST', `/api/reviews/${review}/held`, {});
    expect(held.status).toBe(200);
    expect(held.json.heldAt).toEqual(expect.any(Number));
    const change = await svc.request('PATCH', `/api/reviews/${review}`, { items: [] });
    expect(change.status).toBe(409);
    expect(change.json.error.reason).toBe('review_already_held');
  });

  it('deletes a fragment only once the organisation has it (no sync here: it waits)', async () => {
    const d = await svc.request('DELETE', `/api/fragments/${frag[1]}`);
    expect(d.status).toBe(200);
    expect(d.json.deleted).toBe(false);
    expect((await svc.request('GET', `/api/fragments/${frag[1]}`)).json.deleteRequested).toBe(true);
    const again = await svc.request('POST', '/api/reviews', { caseCode: CASE, items: [{ kind: 'fragment', id: frag[1] }] });
    expect(again.status).toBe(409);
    expect(again.json.error.field).toBe('body.items.0.id');
  });

  it('never writes a note or caption in plaintext: not in the data dir, the config or the logs', async () => {
    const needles = [NOTE, CAPTION, 'Wat doet papa?', 'Noortje'].map((n) => Buffer.from(n));
    const files = [...filesUnder(svc.dataDir), path.join(svc.dir, 'config.yaml')];
    expect(files.some((f) => f.endsWith('note.json.age'))).toBe(true);
    expect(files.some((f) => f.endsWith('.caption.json.age'))).toBe(true);
    for (const f of files) {
      const data = readFileSync(f);
      for (const n of needles) expect(data.includes(n), `${n.toString()} in ${f}`).toBe(false);
    }
    for (const n of needles) expect(svc.output).not.toContain(n.toString());
  });
});
