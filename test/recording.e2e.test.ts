import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faultHarnessUnavailable, TinyFs } from './helpers/faults.js';
import { ageDecrypt, discover, scanForPlaintext } from './helpers/media.js';
import { Service, TEST_CAPTURE } from './helpers/service.js';

const PRE_ROLL_MS = 3000;
const SEGMENT_MS = 1000;

function segmentFiles(svc: Service, clipId: string): string[] {
  return readdirSync(path.join(svc.dataDir, 'clips', clipId))
    .filter((n) => n.endsWith('.ts.age'))
    .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10))
    .map((n) => path.join(svc.dataDir, 'clips', clipId, n));
}

/** Decrypts every segment with the age CLI and joins them into one .ts file. */
function joinDecrypted(svc: Service, clipId: string, out: string): Buffer[] {
  const parts = segmentFiles(svc, clipId).map((f) => ageDecrypt(svc.orgKeyFile, f));
  writeFileSync(out, Buffer.concat(parts));
  return parts;
}

describe('a take on the sim profile (real GStreamer, real SQLite, real age)', () => {
  const svc = new Service();
  let clipId = '';
  let t0 = 0;
  let t1 = 0;
  let tMark = 0;
  let markerOffset = 0;

  beforeAll(async () => {
    await svc.start();
    await svc.waitArmed();
    await sleep(PRE_ROLL_MS + 1500); // the ring fills with the pre-roll
  });
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('records [start − preRoll, stop] whole, with markers at the right offsets', async () => {
    t0 = Date.now();
    const start = await svc.request('POST', '/api/recording/start', {});
    // The kit takes its times when the request arrives: somewhere between the two stamps of the
    // test (which, under load, may be far apart); the bounds below use the side that is safe.
    const t0After = Date.now();
    expect(start.status).toBe(200);
    clipId = start.json.clipId;
    expect(clipId).toMatch(/^[a-z0-9]{10,32}$/);
    const during = await svc.status();
    expect(during.state).toBe('recording');
    expect(during.clipId).toBe(clipId);

    await sleep(1500);
    tMark = Date.now();
    const mark = await svc.request('POST', '/api/markers', { label: 'beurt' });
    const tMarkAfter = Date.now();
    expect(mark.status).toBe(200);
    markerOffset = mark.json.offsetMs;
    await sleep(2500);
    t1 = Date.now();
    const stop = await svc.request('POST', '/api/recording/stop', {});
    const t1After = Date.now();
    expect(stop.status).toBe(200);
    expect(stop.json.clipId).toBe(clipId);

    const clip = (await svc.request('GET', `/api/clips/${clipId}`)).json;
    expect(clip.state).toBe('complete');
    expect(clip.unassigned).toBe(true);
    // the take lasted at least t1 − t0After and at most t1After − t0 on the kit
    const wallMin = t1 - t0After;
    const wallMax = t1After - t0;
    const recorded = clip.segments.reduce((a: number, s: any) => a + s.durationMs, 0);
    expect(clip.durationMs).toBe(recorded);
    expect(stop.json.durationMs).toBe(recorded);
    // Whole: at least the wall time plus the pre-roll …
    expect(recorded).toBeGreaterThanOrEqual(wallMin + PRE_ROLL_MS - 100);
    // … and at most one segment more on each side.
    const first = clip.segments[0];
    const last = clip.segments[clip.segments.length - 1];
    expect(first.startMs).toBeLessThanOrEqual(t0After - PRE_ROLL_MS + 60);
    expect(first.startMs).toBeGreaterThan(t0 - PRE_ROLL_MS - SEGMENT_MS - 100);
    expect(last.startMs + last.durationMs).toBeGreaterThanOrEqual(t1 - 60);
    expect(last.startMs + last.durationMs).toBeLessThanOrEqual(t1After + SEGMENT_MS + 100);
    // N seconds of take give N ± 1 segments plus the pre-roll's.
    expect(clip.segments.length).toBeGreaterThanOrEqual(Math.round(wallMin / 1000) + PRE_ROLL_MS / 1000 - 1);
    expect(clip.segments.length).toBeLessThanOrEqual(Math.round(wallMax / 1000) + PRE_ROLL_MS / 1000 + 2);
    // The marker's offset is its time on the clip's timeline.
    expect(clip.markers).toHaveLength(1);
    expect(clip.markers[0].label).toBe('beurt');
    expect(clip.markers[0].offsetMs).toBe(markerOffset);
    expect(markerOffset).toBeGreaterThanOrEqual(tMark - clip.startedAt - 150);
    expect(markerOffset).toBeLessThanOrEqual(tMarkAfter - clip.startedAt + 150);
    expect(markerOffset).toBeGreaterThan(PRE_ROLL_MS);
    expect((await svc.status()).state).toBe('armed');
  });

  it('serves an HLS VOD playlist with ENDLIST, and decrypted segments to a logged-in trainer', async () => {
    const pl = await svc.request('GET', `/api/clips/${clipId}/index.m3u8`);
    expect(pl.status).toBe(200);
    expect(pl.text).toContain('#EXT-X-PLAYLIST-TYPE:VOD');
    expect(pl.text.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
    const uris = pl.text.split('\n').filter((l) => l.startsWith('segments/'));
    const files = segmentFiles(svc, clipId);
    expect(uris).toHaveLength(files.length);
    const viaApi = await fetch(`${svc.url}/api/clips/${clipId}/${uris[1]}`, { headers: { cookie: svc.cookie } });
    expect(viaApi.status).toBe(200);
    expect(viaApi.headers.get('content-type')).toBe('video/mp2t');
    const bytes = Buffer.from(await viaApi.arrayBuffer());
    expect(bytes.equals(ageDecrypt(svc.orgKeyFile, files[1]!))).toBe(true);
  });

  it('decrypts with the stock age CLI into segments that join into one valid stream of the right length', async () => {
    const clip = (await svc.request('GET', `/api/clips/${clipId}`)).json;
    const joined = path.join(svc.dir, 'joined.ts');
    const parts = joinDecrypted(svc, clipId, joined);
    expect(parts.every((p) => p[0] === 0x47)).toBe(true);
    const d = discover(joined);
    expect(d.hasVideo).toBe(true);
    expect(d.hasAudio).toBe(true);
    expect(Math.abs(d.durationS * 1000 - clip.durationMs)).toBeLessThanOrEqual(250);
    rmSync(joined);
  });

  it('leaves no plaintext media in the data dir', () => {
    expect(existsSync(path.join(svc.dataDir, 'clips', clipId))).toBe(true);
    expect(scanForPlaintext(svc.dataDir)).toEqual([]);
  });

  it('keeps the clip and re-arms when the capture worker is killed mid-take', async () => {
    await sleep(PRE_ROLL_MS + 500); // the ring fills again after the last take
    const start = await svc.request('POST', '/api/recording/start', { caseCode: 'GZ-0042' });
    expect(start.status).toBe(200);
    const id = start.json.clipId;
    await sleep(2000);
    const pid = svc.workerPid();
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');
    await svc.waitFor((s) => s.camera.ok === false || svc.workerPid() !== pid, 5000, 'worker gone');
    const back = await svc.waitFor((s) => s.camera.ok === true && svc.workerPid() !== pid, 20_000, 'camera back');
    expect(back.state).toBe('recording');
    expect(back.clipId).toBe(id);
    await sleep(2500);
    const stop = await svc.request('POST', '/api/recording/stop', {});
    expect(stop.status).toBe(200);
    const clip = (await svc.request('GET', `/api/clips/${id}`)).json;
    expect(clip.state).toBe('complete');
    expect(clip.caseCode).toBe('GZ-0042');
    const disc = clip.segments.filter((s: any) => s.discontinuity);
    expect(disc).toHaveLength(1);
    const before = clip.segments.filter((s: any) => s.seq < disc[0].seq);
    const after = clip.segments.filter((s: any) => s.seq >= disc[0].seq);
    expect(before.length).toBeGreaterThanOrEqual(PRE_ROLL_MS / 1000 + 1);
    expect(after.length).toBeGreaterThanOrEqual(2);
    const pl = await svc.request('GET', `/api/clips/${id}/index.m3u8`);
    expect(pl.text).toContain('#EXT-X-DISCONTINUITY');
    expect((await svc.status()).state).toBe('armed');
  });

  it('answers bad input with a 4xx that names the field and the value', async () => {
    const cases: [string, string, unknown, number, RegExp][] = [
      ['POST', '/api/recording/start', { caseCode: 'Jan de Vries' }, 400, /body\.caseCode.*"Jan de Vries"/],
      ['POST', '/api/recording/start', { caseCode: 42 }, 400, /body\.caseCode/],
      ['POST', '/api/recording/start', { case: 'X1' }, 400, /unknown field.*"case"/],
      ['POST', '/api/recording/start', '{not json', 400, /not valid JSON/],
      ['POST', '/api/markers', { label: 'iets anders' }, 400, /body\.label.*"iets anders"/],
      ['POST', '/api/markers', {}, 409, /no take is running/],
      ['POST', '/api/recording/stop', {}, 409, /no take is running/],
      ['GET', '/api/clips/..%2F..%2Fetc', undefined, 400, /params\.id/],
      ['GET', '/api/clips/abcdefghij12', undefined, 404, /no clip with id "abcdefghij12"/],
      ['GET', `/api/clips/${clipId}/segments/..%2Fclip.json`, undefined, 400, /params\.file/],
      ['GET', `/api/clips/${clipId}/segments/999.ts`, undefined, 404, /no segment 999/],
      ['GET', '/api/clips?limit=abc', undefined, 400, /query\.limit/],
      ['PATCH', `/api/clips/${clipId}`, { caseCode: '' }, 400, /body\.caseCode/],
      ['POST', '/api/login', { pin: '12ab' }, 400, /body\.pin.*"12ab"/],
    ];
    for (const [method, url, body, status, re] of cases) {
      const r = await svc.request(method, url, body);
      expect({ url, status: r.status }).toEqual({ url, status });
      expect(r.json?.error?.message, `${method} ${url}`).toMatch(re);
    }
  });

  it('assigns an unassigned clip to a case, once', async () => {
    const r = await svc.request('PATCH', `/api/clips/${clipId}`, { caseCode: 'VZ-0007' });
    expect(r.status).toBe(200);
    expect(r.json.caseCode).toBe('VZ-0007');
    expect(r.json.unassigned).toBe(false);
    const again = await svc.request('PATCH', `/api/clips/${clipId}`, { caseCode: 'VZ-0008' });
    expect(again.status).toBe(409);
  });

  it('needs a session for every /api route but login, and streams events', async () => {
    for (const url of ['/api/status', '/api/clips', `/api/clips/${clipId}`, `/api/clips/${clipId}/index.m3u8`, '/api/events']) {
      const r = await fetch(`${svc.url}${url}`);
      expect({ url, status: r.status }).toEqual({ url, status: 401 });
    }
    expect(await (await fetch(`${svc.url}/healthz`)).json()).toEqual({ ok: true });
    const ctrl = new AbortController();
    const res = await fetch(`${svc.url}/api/events`, { headers: { cookie: svc.cookie }, signal: ctrl.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    const deadline = Date.now() + 5000;
    while (!text.includes('event: segment.closed') && Date.now() < deadline) {
      const { value } = await reader.read();
      text += Buffer.from(value!).toString();
    }
    ctrl.abort();
    expect(text).toContain('event: status');
    expect(text).toContain('event: segment.closed');
  });

  it('rebuilds the same catalogue from the data dir', async () => {
    const before = (await svc.request('GET', `/api/clips/${clipId}`)).json;
    expect(await svc.stop()).toBe(0);
    for (const f of ['catalogue.db', 'catalogue.db-wal', 'catalogue.db-shm']) rmSync(path.join(svc.dataDir, f), { force: true });
    await svc.start();
    const after = (await svc.request('GET', `/api/clips/${clipId}`)).json;
    const strip = (c: any) => ({ ...c, visitId: null });
    expect(strip(after)).toEqual(strip(before));
    expect(after.segments.length).toBeGreaterThan(4);
    expect(after.markers).toHaveLength(1);
  });
});

describe('crash safety', () => {
  it('loses at most 2 s when the service is SIGKILLed mid-take, and recovers the clip on the next start', async () => {
    const svc = new Service();
    try {
      await svc.start();
      await svc.waitArmed();
      await sleep(PRE_ROLL_MS + 1000);
      const t0 = Date.now();
      const start = await svc.request('POST', '/api/recording/start', {});
      const id = start.json.clipId;
      await sleep(4000);
      const killAt = Date.now();
      await svc.stop('SIGKILL');
      // The RAM ring still holds plaintext from the dead run; the next start discards it.
      // (the running kit's lock file, `.kit.lock`, is no segment: the kernel freed its lock with the process)
      const leftovers = readdirSync(svc.ringDir).filter((n) => n !== '.kit.lock');
      expect(leftovers.length).toBeGreaterThan(0);
      const again = new Service({ dir: svc.dir, port: svc.port });
      await again.start();
      try {
        const clip = (await again.request('GET', `/api/clips/${id}`)).json;
        expect(clip.state).toBe('recovered');
        const recorded = clip.segments.reduce((a: number, s: any) => a + s.durationMs, 0);
        expect(recorded).toBeGreaterThanOrEqual(killAt - t0 + PRE_ROLL_MS - 2000);
        // (the new run writes into the same directory, under names of its own)
        for (const name of leftovers) expect(existsSync(path.join(svc.ringDir, name)), name).toBe(false);
        const joined = path.join(svc.dir, 'recovered.ts');
        joinDecrypted(svc, id, joined);
        const d = discover(joined);
        expect(d.hasVideo).toBe(true);
        expect(Math.abs(d.durationS * 1000 - recorded)).toBeLessThanOrEqual(250);
        const pl = await again.request('GET', `/api/clips/${id}/index.m3u8`);
        expect(pl.text).toContain('#EXT-X-ENDLIST');
        expect(scanForPlaintext(svc.dataDir)).toEqual([]);
      } finally {
        await again.stop();
      }
    } finally {
      await svc.stop('SIGKILL');
      svc.cleanup();
    }
  });
});

describe('a kit that stays disarmed until a visit starts', () => {
  it('arms on request, and a start while disarmed still records', async () => {
    const svc = new Service({ env: { VHT_KIT_ARM_AT_START: 'false' } });
    try {
      await svc.start();
      await sleep(1500);
      expect((await svc.status()).state).toBe('idle');
      expect(readdirSync(svc.ringDir).filter((n) => n !== '.kit.lock')).toEqual([]);
      expect((await svc.request('POST', '/api/recording/arm', {})).status).toBe(200);
      await svc.waitArmed();
      expect((await svc.request('POST', '/api/recording/disarm', {})).json.state).toBe('idle');
      // The button must always work: a start while disarmed arms and records (without pre-roll).
      const start = await svc.request('POST', '/api/recording/start', {});
      expect(start.status).toBe(200);
      // the pipeline starts with the take (no pre-roll): under load that takes a while
      await svc.waitFor((s) => s.state === 'recording' && s.camera.ok, 20_000, 'recording with the camera playing');
      await sleep(2500);
      const stop = await svc.request('POST', '/api/recording/stop', {});
      expect(stop.status).toBe(200);
      expect(stop.json.durationMs).toBeGreaterThan(1000);
      const clip = (await svc.request('GET', `/api/clips/${start.json.clipId}`)).json;
      expect(clip.state).toBe('complete');
      expect(clip.segments.length).toBeGreaterThanOrEqual(2);
    } finally {
      await svc.stop();
      svc.cleanup();
    }
  });
});

describe('storage guard (data dir on its own 96 MB tmpfs: no other writer changes its free space)', () => {
  const why = faultHarnessUnavailable();
  it.skipIf(why)('refuses a take and stops a running one cleanly when free space drops below the reserve', async () => {
    const reserveMB = 32;
    const svc = new Service({ config: `${TEST_CAPTURE}\nstorage:\n  reserveMB: ${reserveMB}\n` });
    const fs = new TinyFs(svc.dataDir, 96);
    const mountProblem = fs.mount();
    if (mountProblem) throw new Error(mountProblem);
    const filler = path.join(svc.dataDir, 'filler.bin');
    try {
      await svc.start();
      await svc.waitArmed();
      const start = await svc.request('POST', '/api/recording/start', {});
      expect(start.status).toBe(200);
      const id = start.json.clipId;
      await svc.waitFor((s) => s.state === 'recording' && s.clipId === id, 10_000, 'recording');
      // Fill the file system past the reserve while the take runs: 8 MiB below it, footage fits no more.
      const fill = fs.freeBytes() - reserveMB * 1024 * 1024 + 8 * 1024 * 1024;
      const fd = openSync(filler, 'w');
      const chunk = Buffer.alloc(1024 * 1024, 1);
      for (let left = fill; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, left));
      closeSync(fd);
      const after = await svc.waitFor((s) => s.state !== 'recording', 10_000, 'take stopped by the guard');
      expect(after.state).toBe('armed');
      const clip = (await svc.request('GET', `/api/clips/${id}`)).json;
      expect(clip.state).toBe('complete');
      expect(clip.stopReason).toBe('storage full');
      expect(clip.segments.length).toBeGreaterThan(0);
      const refused = await svc.request('POST', '/api/recording/start', {});
      expect(refused.status).toBe(507);
      expect(refused.json.error.field).toBe('storage.reserveMB');
      expect(refused.json.error.message).toMatch(/not enough free space/);
      expect(refused.json.error.message).toContain(`storage.reserveMB = ${reserveMB} MB`);
      // The clip that was stopped is whole and decrypts.
      const joined = path.join(svc.dir, 'guarded.ts');
      rmSync(filler);
      joinDecrypted(svc, id, joined);
      expect(discover(joined).hasVideo).toBe(true);
    } finally {
      await svc.stop();
      fs.unmount();
      svc.cleanup();
    }
  });
});

describe('start-up', () => {
  it('doctor passes on the sim profile and says how to fix a missing camera', () => {
    const env = { ...process.env, VHT_KIT_DATA_DIR: '/tmp/vht-kit-doctor/data', VHT_KIT_PIN: '1234' };
    const ok = execFileSync(process.execPath, ['bin/vht-kit', 'doctor'], { env: { ...env, VHT_KIT_PROFILE: 'sim' }, encoding: 'utf8' });
    expect(ok).toMatch(/ok {3}gstreamer elements: all \d+ elements of the sim profile present/);
    expect(ok).toContain('all checks passed');
    let out = '';
    let code = 0;
    try {
      execFileSync(process.execPath, ['bin/vht-kit', 'doctor'], {
        env: { ...env, VHT_KIT_PROFILE: 'pi5', VHT_KIT_CAMERA: '/dev/video-none' },
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (e) {
      out = (e as { stdout: string }).stdout;
      code = (e as { status: number }).status;
    }
    expect(code).toBe(1);
    expect(out).toContain('FAIL camera: /dev/video-none not found');
    expect(out).toContain('FAIL organisation key');
    expect(out).toMatch(/fix: .*VHT_KIT_ORG_RECIPIENT/);
  });

  it('refuses a bad config value with a message naming the key and the value', () => {
    let err: { status: number; stderr: string } | null = null;
    try {
      execFileSync(process.execPath, ['bin/vht-kit', 'serve'], {
        env: { ...process.env, VHT_KIT_PORT: 'achtduizend', VHT_KIT_DATA_DIR: '/tmp/vht-kit-never' },
        stdio: 'pipe',
        encoding: 'utf8',
      });
    } catch (e) {
      err = e as { status: number; stderr: string };
    }
    expect(err).not.toBeNull();
    expect(err!.status).toBe(2);
    expect(err!.stderr).toContain('http.port (from VHT_KIT_PORT)');
    expect(err!.stderr).toContain('"achtduizend"');
    expect(existsSync('/tmp/vht-kit-never')).toBe(false);
  });
});
