import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../src/core/clock.js';
import { TvPairing } from '../src/web/security.js';
import { rawRequest, Service, TEST_CAPTURE } from './helpers/service.js';
import { asViewer, EventStream, pairTv, testJpeg, type Viewer } from './helpers/tv-viewer.js';

const CASE = 'GZ-0042';

describe('the TV: pairing, a viewer limited to the presented clip, phone → TV control', () => {
  const svc = new Service({ config: `${TEST_CAPTURE}\ntv:\n  pairingCodeMinutes: 2\n` });
  let clipA = '';
  let clipB = '';
  let viewer: Viewer = { cookie: '', csrf: '' };

  const take = async (ms: number, caseCode: string | null) => {
    const start = await svc.request('POST', '/api/recording/start', caseCode ? { caseCode } : {});
    expect(start.status).toBe(200);
    await sleep(ms);
    if (caseCode) expect((await svc.request('POST', '/api/markers', { label: 'beurt' })).status).toBe(200);
    await sleep(500);
    const stop = await svc.request('POST', '/api/recording/stop', {});
    expect(stop.status).toBe(200);
    return start.json.clipId as string;
  };

  beforeAll(async () => {
    await svc.start();
    const c = await svc.request('POST', '/api/cases', {
      code: CASE,
      trajectory: 'k-vht',
      consent: { recording: true, review: true, supervision: false, training: false },
    });
    expect(c.status).toBe(200);
    await svc.waitArmed();
    await sleep(1500);
    clipA = await take(1500, CASE);
    clipB = await take(1000, null);
  });
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('pairs a TV with a single-use 6-digit code; wrong and reused codes fail; attempts are limited', async () => {
    expect((await rawRequest({ port: svc.port, path: '/api/tv/state' })).status).toBe(401);
    const made = await svc.request('POST', '/api/tv/pairing', {});
    expect(made.status).toBe(200);
    expect(made.json.code).toMatch(/^[0-9]{6}$/);
    expect(made.json.expiresAt).toBeGreaterThan(Date.now() + 110_000);
    expect(made.json.expiresAt).toBeLessThan(Date.now() + 121_000);
    const code: string = made.json.code;
    const wrongCode = code === '000000' ? '000001' : '000000';

    const bad = await pairTv(svc, '12345');
    expect(bad.status).toBe(400);
    expect(bad.json.error.field).toBe('body.code');
    const wrong = await pairTv(svc, wrongCode);
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toMatchObject({ code: 'UNAUTHORIZED', field: 'body.code' });
    expect(wrong.json.error.message).toMatch(/wrong pairing code/);
    expect(wrong.setCookie).toEqual([]);

    const ok = await pairTv(svc, code);
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ role: 'viewer', csrf: ok.viewer.csrf });
    const viewerCookie = ok.setCookie.find((c) => c.startsWith('vht_viewer='))!;
    expect(viewerCookie).toMatch(/; HttpOnly/);
    expect(viewerCookie).toMatch(/; SameSite=Strict/);
    viewer = ok.viewer;
    expect((await asViewer(svc, viewer, 'GET', '/api/session')).json).toMatchObject({ role: 'viewer', csrf: viewer.csrf });

    const reused = await pairTv(svc, code);
    expect(reused.status).toBe(401);
    expect(reused.json.error.message).toMatch(/no pairing code is waiting/);

    // Five wrong tries burn a code: the right one no longer works.
    const next = (await svc.request('POST', '/api/tv/pairing', {})).json.code as string;
    const other = next === '000000' ? '000001' : '000000';
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await pairTv(svc, other)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
    expect((await pairTv(svc, next)).status).toBe(401);
    // Only the trainer makes codes.
    expect((await asViewer(svc, viewer, 'POST', '/api/tv/pairing', {})).status).toBe(403);
  });

  it('lets a viewer play only the presented clip, and nothing else', async () => {
    const before = await asViewer(svc, viewer, 'GET', '/api/tv/state');
    expect(before.status).toBe(200);
    expect(before.json.clipId).toBeNull();
    expect((await asViewer(svc, viewer, 'GET', `/api/clips/${clipA}/index.m3u8`)).status).toBe(403);

    expect((await svc.request('POST', '/api/present', { clipId: clipA })).status).toBe(200);
    const state = await asViewer(svc, viewer, 'GET', '/api/tv/state');
    expect(state.status).toBe(200);
    expect(Object.keys(state.json).sort()).toEqual(['clipId', 'durationMs', 'fps', 'markers']);
    expect(state.json).toMatchObject({ clipId: clipA, fps: 25, durationMs: expect.any(Number) });
    expect(state.json.durationMs).toBeGreaterThan(1500);
    expect(state.json.markers).toEqual([{ offsetMs: expect.any(Number), label: 'beurt' }]);
    expect(state.bytes.toString()).not.toContain(CASE);
    expect(state.bytes.toString()).not.toContain(clipB);

    const playlist = await asViewer(svc, viewer, 'GET', `/api/clips/${clipA}/index.m3u8`);
    expect(playlist.status).toBe(200);
    expect(playlist.bytes.toString()).toMatch(/#EXT-X-ENDLIST/);
    const seg = await asViewer(svc, viewer, 'GET', `/api/clips/${clipA}/segments/0.ts`);
    expect(seg.status).toBe(200);
    expect(seg.bytes[0]).toBe(0x47); // MPEG-TS sync byte: decrypted footage

    const refused: [string, string, unknown?][] = [
      ['GET', '/api/clips'],
      ['GET', `/api/clips/${clipA}`],
      ['GET', '/api/cases'],
      ['GET', '/api/status'],
      ['GET', '/api/events'],
      ['GET', '/api/present'],
      ['GET', '/api/sync'],
      ['GET', '/api/live.m3u8'],
      ['GET', '/api/config/ui'],
      ['GET', `/api/clips/${clipB}/index.m3u8`],
      ['GET', `/api/clips/${clipB}/segments/0.ts`],
      ['POST', '/api/recording/start', {}],
      ['POST', '/api/present', { clipId: clipB }],
      ['POST', '/api/present/control', { action: 'play' }],
      ['POST', '/api/logout', {}],
      ['DELETE', '/api/present'],
      ['PATCH', `/api/clips/${clipB}`, { caseCode: CASE }],
    ];
    for (const [method, url, body] of refused) {
      const r = await asViewer(svc, viewer, method, url, body);
      expect({ method, url, status: r.status, code: r.json?.error?.code }).toEqual({ method, url, status: 403, code: 'FORBIDDEN' });
    }
    expect((await svc.request('GET', '/api/present')).json.clipId).toBe(clipA);

    // Presentation ends: the clip is closed to the TV again.
    expect((await svc.request('DELETE', '/api/present')).status).toBe(200);
    expect((await asViewer(svc, viewer, 'GET', `/api/clips/${clipA}/segments/0.ts`)).status).toBe(403);
    // Without any session: 401.
    expect((await rawRequest({ port: svc.port, path: `/api/clips/${clipA}/index.m3u8` })).status).toBe(401);
  });

  it('streams present and tv.control to the TV (ids match, no case code), and tv.ack to the trainer', async () => {
    const tv = new EventStream();
    const trainer = new EventStream();
    try {
      expect(await tv.open(`${svc.url}/api/tv/events`, viewer.cookie)).toBe(200);
      expect(await trainer.open(`${svc.url}/api/events`, svc.cookie)).toBe(200);
      await tv.waitFor(/event: present\ndata: \{"clipId":null\}/);

      const none = await svc.request('POST', '/api/present/control', { action: 'play' });
      expect(none.status).toBe(409);
      expect((await svc.request('POST', '/api/present', { clipId: clipA })).status).toBe(200);
      await tv.waitFor(new RegExp(`event: present\\ndata: \\{"clipId":"${clipA}"\\}`));

      const missing = await svc.request('POST', '/api/present/control', { action: 'rate' });
      expect(missing.status).toBe(400);
      expect(missing.json.error.field).toBe('body.rate');
      const rate = await svc.request('POST', '/api/present/control', { action: 'rate', rate: 0.25 });
      expect(rate.status).toBe(200);
      const step = await svc.request('POST', '/api/present/control', { action: 'step', direction: -1 });
      expect(step.json.id).toBeGreaterThan(rate.json.id);
      await tv.waitFor(new RegExp(`event: tv.control\\ndata: .*"id":${step.json.id}`));
      const controls = [...tv.text.matchAll(/event: tv.control\ndata: (.+)/g)].map((m) => JSON.parse(m[1]!));
      expect(controls).toEqual([
        { action: 'rate', rate: 0.25, source: 'phone', id: rate.json.id },
        { action: 'step', direction: -1, source: 'phone', id: step.json.id },
      ]);

      // Other kit events (a clip assigned to the case) reach the trainer, never the TV.
      expect((await svc.request('PATCH', `/api/clips/${clipB}`, { caseCode: CASE })).status).toBe(200);
      await trainer.waitFor(new RegExp(`event: clip.updated\\ndata: \\{"clipId":"${clipB}"\\}`));

      const ack = await asViewer(svc, viewer, 'POST', '/api/tv/ack', { id: step.json.id });
      expect(ack.status).toBe(204);
      await trainer.waitFor(new RegExp(`event: tv.ack\\ndata: \\{"id":${step.json.id}\\}`));
      await trainer.waitFor(new RegExp(`event: tv.control\\ndata: .*"id":${step.json.id}`));
      await trainer.waitFor(new RegExp(`event: present\\ndata: \\{"clipId":"${clipA}"\\}`));

      await sleep(200);
      expect(new Set(tv.events())).toEqual(new Set(['present', 'tv.control']));
      expect(tv.text).not.toContain(CASE);
      expect(tv.text).not.toContain(clipB);
      // An ack needs the viewer's CSRF token.
      const forged = await fetch(`${svc.url}/api/tv/ack`, {
        method: 'POST',
        headers: { cookie: viewer.cookie, 'content-type': 'application/json' },
        body: '{"id":1}',
      });
      expect(forged.status).toBe(403);
    } finally {
      await tv.close();
      await trainer.close();
    }
  });

  it('adds a marker and a still while reviewing; the still comes back decrypted and is listed', async () => {
    const unknown = await svc.request('POST', `/api/clips/${clipB}/markers`, { offsetMs: 500, label: 'not-a-configured-label' });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.field).toBe('body.label');
    const labels: string[] = (await svc.request('GET', '/api/config/ui')).json.markerLabels;
    const label = labels[0]!;
    const m = await svc.request('POST', `/api/clips/${clipB}/markers`, { offsetMs: 500, label });
    expect(m.status).toBe(200);
    expect(m.json).toEqual({ markerId: expect.any(Number), offsetMs: 500 });
    const past = await svc.request('POST', `/api/clips/${clipB}/markers`, { offsetMs: 10 * 60_000, label: null });
    expect(past.status).toBe(400);
    expect(past.json.error.field).toBe('body.offsetMs');

    const jpeg = await testJpeg();
    const post = (body: Buffer, type = 'image/jpeg', t = '400') =>
      fetch(`${svc.url}/api/clips/${clipB}/stills?t=${t}`, {
        method: 'POST',
        headers: { cookie: svc.cookie, 'x-csrf-token': svc.csrf, 'content-type': type },
        body: new Uint8Array(body),
      });
    const r = await post(jpeg);
    expect(r.status).toBe(200);
    const still = (await r.json()) as { id: number; timeMs: number; createdAt: number };
    expect(still).toEqual({ id: expect.any(Number), timeMs: 400, createdAt: expect.any(Number) });
    const notJpeg = await post(Buffer.from('GIF89a....'));
    expect(notJpeg.status).toBe(400);
    expect(((await notJpeg.json()) as any).error.message).toMatch(/JPEG/);
    const tooBig = await post(Buffer.concat([jpeg, Buffer.alloc(2 * 1024 * 1024)]));
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as any).error.message).toMatch(/2 MiB/);
    const json = await post(Buffer.from('{}'), 'application/json');
    expect(json.status).toBe(400);

    const back = await svc.request('GET', `/api/clips/${clipB}/stills/${still.id}.jpg`);
    expect(back.status).toBe(200);
    const got = Buffer.from(await (await fetch(`${svc.url}/api/clips/${clipB}/stills/${still.id}.jpg`, { headers: { cookie: svc.cookie } })).arrayBuffer());
    expect(got.equals(jpeg)).toBe(true);
    const listed = (await svc.request('GET', `/api/clips/${clipB}`)).json;
    expect(listed.stills).toEqual([{ id: still.id, timeMs: 400, createdAt: still.createdAt, bytes: expect.any(Number) }]);
    expect((await svc.request('GET', `/api/clips/${clipB}/stills/99.jpg`)).status).toBe(404);

    // The TV sees the still only while its clip is presented.
    expect((await asViewer(svc, viewer, 'GET', `/api/clips/${clipB}/stills/${still.id}.jpg`)).status).toBe(403);
    expect((await svc.request('POST', '/api/present', { clipId: clipB })).status).toBe(200);
    const tvStill = await asViewer(svc, viewer, 'GET', `/api/clips/${clipB}/stills/${still.id}.jpg`);
    expect(tvStill.status).toBe(200);
    expect(tvStill.bytes.equals(jpeg)).toBe(true);
  });

  it('serves the live tail of the ring as the camera preview, and the UI config', async () => {
    const cfg = await svc.request('GET', '/api/config/ui');
    expect(cfg.json).toEqual({
      markerLabels: expect.any(Array),
      trajectories: expect.arrayContaining(['k-vht']),
      consentScopes: ['recording', 'review', 'supervision', 'training'],
      kitId: 'kit-dev',
      fps: 25,
      markerLeadInMs: 3000,
      fragmentLeadOutMs: 7000,
    });
    const live = await svc.request('GET', '/api/live.m3u8');
    expect(live.status).toBe(200);
    expect(live.text).toMatch(/^#EXTM3U/);
    expect(live.text).not.toMatch(/ENDLIST/);
    const names = [...live.text.matchAll(/^live\/([0-9]+\.ts)$/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(0);
    const seg = await fetch(`${svc.url}/api/live/${names[names.length - 1]}`, { headers: { cookie: svc.cookie } });
    expect(seg.status).toBe(200);
    expect(Buffer.from(await seg.arrayBuffer())[0]).toBe(0x47);
    expect((await svc.request('GET', '/api/live/99999999.ts')).status).toBe(404);
    expect((await svc.request('GET', '/api/live/abc.ts')).status).toBe(400);
    expect((await svc.request('POST', '/api/recording/disarm', {})).status).toBe(200);
    const off = await svc.request('GET', '/api/live.m3u8');
    expect(off.status).toBe(409);
  });

  it('ends the visit at lock and logout: nothing on the TV, paired TVs must pair again, their streams close', async () => {
    // Lock (the phone handed over): the presentation ends, the TV stays paired.
    expect((await svc.request('POST', '/api/recording/arm', {})).status).toBe(200);
    const code1 = (await svc.request('POST', '/api/tv/pairing', {})).json.code as string;
    const tv = (await pairTv(svc, code1)).viewer;
    expect((await svc.request('POST', '/api/present', { clipId: clipA })).status).toBe(200);
    const stream = new EventStream();
    expect(await stream.open(`${svc.url}/api/tv/events`, tv.cookie)).toBe(200);
    await stream.waitFor(new RegExp(`"clipId":"${clipA}"`));
    expect((await svc.request('POST', '/api/lock', {})).status).toBe(204);
    await stream.waitFor(/event: present\ndata: \{"clipId":null\}/);
    expect((await asViewer(svc, tv, 'GET', '/api/tv/state')).json.clipId).toBeNull();
    expect((await asViewer(svc, tv, 'GET', `/api/clips/${clipA}/index.m3u8`)).status).toBe(403);
    // The locked phone shows no library and no cases (423 naming the route); status and the camera preview go on.
    for (const [method, url, body] of [
      ['GET', '/api/clips'],
      ['GET', `/api/clips/${clipA}`],
      ['GET', '/api/cases'],
      ['GET', `/api/clips/${clipA}/index.m3u8`],
      ['POST', '/api/present', { clipId: clipA }],
      ['POST', '/api/tv/pairing', {}],
    ] as [string, string, unknown?][]) {
      const r = await svc.request(method, url, body);
      expect({ url, status: r.status, code: r.json?.error?.code }).toEqual({ url, status: 423, code: 'LOCKED' });
      expect(r.json.error.message).toContain(`${method} /api/`);
    }
    expect((await svc.request('GET', '/api/status')).json.locked).toBe(true);
    expect((await svc.request('GET', '/api/live.m3u8')).status).toBe(200);

    // Logout of the last trainer: the next visit starts with no paired TV and nothing presented.
    expect((await svc.request('POST', '/api/unlock', { pin: '1234' })).status).toBe(204);
    expect((await svc.request('POST', '/api/present', { clipId: clipA })).status).toBe(200);
    await stream.waitFor(new RegExp(`"clipId":"${clipA}"[\\s\\S]*"clipId":"${clipA}"`));
    expect((await svc.request('POST', '/api/logout', {})).status).toBe(204);
    expect((await asViewer(svc, tv, 'GET', '/api/tv/state')).status).toBe(401);
    await svc.login();
    expect((await svc.request('GET', '/api/present')).json.clipId).toBeNull();
    // The old TV's stream has closed: a new presentation does not reach it.
    const before = stream.text.length;
    expect((await svc.request('POST', '/api/present', { clipId: clipB })).status).toBe(200);
    const deadline = Date.now() + 3000;
    while (!stream.ended && Date.now() < deadline) await sleep(20);
    expect(stream.ended).toBe(true); // the server ended it (its session is gone)
    expect(stream.text.slice(before)).not.toContain(clipB);
    await stream.close();
    expect((await svc.request('DELETE', '/api/present')).status).toBe(200);
  });
});

describe('pairing codes (TvPairing with a driven clock)', () => {
  let t = 1_000_000;
  const clock: Clock = {
    now: () => t,
    monotonic: () => t,
    setTimeout: () => ({}) as TimerHandle,
    clearTimeout: () => undefined,
  };

  it('expires after the configured minutes, is single use, and a new code replaces the old', () => {
    const p = new TvPairing(clock, 10 * 60_000);
    const a = p.create();
    expect(a.expiresAt).toBe(t + 600_000);
    t += 600_001;
    expect(() => p.redeem(a.code)).toThrow(/expired/);
    expect(() => p.redeem(a.code)).toThrow(/no pairing code is waiting/);
    const b = p.create();
    const c = p.create();
    if (b.code !== c.code) expect(() => p.redeem(b.code)).toThrow(/wrong pairing code/);
    p.redeem(c.code);
    expect(() => p.redeem(c.code)).toThrow(/no pairing code is waiting/);
  });

  it('makes uniformly spread codes of six digits', () => {
    const p = new TvPairing(clock, 60_000);
    const codes = Array.from({ length: 2000 }, () => p.create().code);
    expect(codes.every((c) => /^[0-9]{6}$/.test(c))).toBe(true);
    expect(new Set(codes).size).toBeGreaterThan(1990);
    const firstDigits = new Set(codes.map((c) => c[0]));
    expect(firstDigits.size).toBe(10);
  });
});
