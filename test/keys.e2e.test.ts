import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ageDecrypt, filesUnder, scanForPlaintext } from './helpers/media.js';
import { Service, TEST_CAPTURE } from './helpers/service.js';

const BIN = path.resolve(import.meta.dirname, '../bin/vht-kit');

function cli(args: string[], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  try {
    const out = execFileSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: 'pipe' });
    return { code: 0, out, err: '' };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { code: x.status, out: x.stdout, err: x.stderr };
  }
}

describe('an enrolled kit: organisation keys, PIN-sealed playback, lock, consent, audit', () => {
  const svc = new Service({ pin: null });
  const configFile = path.join(svc.dir, 'kit.yaml');
  const orgKey = path.join(svc.dir, 'org.key');
  const env = { VHT_KIT_CONFIG: configFile, VHT_KIT_DATA_DIR: svc.dataDir };
  let recipient = '';
  let clipId = '';

  beforeAll(async () => {
    const kg = cli(['keygen', '--out', orgKey]);
    expect(kg.code).toBe(0);
    recipient = kg.out.trim();
    expect(recipient).toMatch(/^age1[a-z0-9]{58}$/);
    expect(cli(['keygen', '--out', orgKey]).err).toMatch(/exists already/);
    writeFileSync(configFile, TEST_CAPTURE);
    const en = cli(['enrol', '--org-recipient', recipient, '--kit-id', 'kit-07', '--trainer-pin', '246810'], env);
    expect(en).toMatchObject({ code: 0 });
    const cfg = YAML.parse(readFileSync(configFile, 'utf8'));
    expect(cfg.keys.orgRecipient).toBe(recipient);
    expect(cfg.kitId).toBe('kit-07');
    expect(cfg.capture.preRollSeconds).toBe(3);
    svc.configure({ configFile });
    await svc.start();
    await svc.login('246810');
    await svc.waitArmed();
  });
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('records to the enrolled organisation: the stock age CLI decrypts every segment; no demo key', async () => {
    const c = await svc.request('POST', '/api/cases', {
      code: 'GZ-0042',
      trajectory: 'jeugdhulp-ggz',
      consent: { recording: true, review: false, supervision: false, training: false },
    });
    expect(c.status).toBe(200);
    const start = await svc.request('POST', '/api/recording/start', { caseCode: 'GZ-0042' });
    expect(start.status).toBe(200);
    clipId = start.json.clipId;
    await sleep(1500);
    expect((await svc.request('POST', '/api/markers', { label: 'ontvangen' })).status).toBe(200);
    await sleep(1000);
    expect((await svc.request('POST', '/api/recording/stop', {})).status).toBe(200);
    const files = readdirSync(path.join(svc.dataDir, 'clips', clipId)).filter((n) => n.endsWith('.ts.age'));
    expect(files.length).toBeGreaterThan(2);
    for (const f of files) expect(ageDecrypt(orgKey, path.join(svc.dataDir, 'clips', clipId, f))[0]).toBe(0x47);
    expect(readdirSync(svc.dir)).not.toContain('data-demo-org.key');
    const clip = (await svc.request('GET', `/api/clips/${clipId}`)).json;
    expect(clip.consent).toEqual({ recording: true, review: false, supervision: false, training: false });
  });

  it('plays back to an unlocked trainer; 423 while locked; recording goes on while locked', async () => {
    const seg = `/api/clips/${clipId}/segments/0.ts`;
    expect((await svc.request('GET', seg)).status).toBe(200);
    expect((await svc.request('POST', '/api/lock', {})).status).toBe(204);
    const locked = await svc.request('GET', seg);
    expect(locked.status).toBe(423);
    expect(locked.json.error.message).toMatch(/locked.*log in with the trainer PIN/);
    expect((await svc.status()).locked).toBe(true);
    const start = await svc.request('POST', '/api/recording/start', {});
    expect(start.status).toBe(200);
    await sleep(1200);
    expect((await svc.request('POST', '/api/recording/stop', {})).status).toBe(200);
    expect((await svc.request('POST', '/api/unlock', { pin: '246810' })).status).toBe(204);
    expect((await svc.request('GET', `/api/clips/${start.json.clipId}/segments/0.ts`)).status).toBe(200);
  });

  it('enforces consent: no presenting on the TV or sharing without the scope', async () => {
    const present = await svc.request('POST', '/api/present', { clipId });
    expect(present.status).toBe(403);
    expect(present.json.error.field).toBe('consent.review');
    expect(present.json.error.message).toMatch(/geen toestemming voor terugkijken/);
    const share = await svc.request('PUT', `/api/clips/${clipId}/purposes`, { supervision: true, training: false });
    expect(share.status).toBe(403);
    expect(share.json.error.field).toBe('consent.supervision');
    await svc.request('PATCH', '/api/cases/GZ-0042', { consent: { recording: false } });
    const refused = await svc.request('POST', '/api/recording/start', { caseCode: 'GZ-0042' });
    expect(refused.status).toBe(403);
    expect(refused.json.error.message).toMatch(/no consent for recording/);
    // withdrawn, but not yet at the organisation: the clip stays, marked for deletion
    const clip = (await svc.request('GET', `/api/clips/${clipId}`)).json;
    expect(clip.deleteRequested).toBe(true);
    const del = await svc.request('DELETE', `/api/clips/${clipId}`, { confirm: clipId });
    expect(del.json.deleted).toBe(false);
    expect((await svc.request('GET', `/api/clips/${clipId}`)).status).toBe(200);
    expect((await svc.request('DELETE', `/api/clips/${clipId}`, { confirm: 'wrong' })).status).toBe(400);
  });

  it('locks out after repeated wrong PINs, with a growing wait', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await svc.request('POST', '/api/unlock', { pin: '000000' });
      expect(r.status).toBe(401);
    }
    const right = await svc.request('POST', '/api/unlock', { pin: '246810' });
    expect(right.status).toBe(429);
    expect(right.json.error.message).toMatch(/try again in (29|30) s/);
  });

  it('keeps an intact, verifiable audit log that the CLI checks', async () => {
    await svc.stop();
    const ok = cli(['audit', 'verify'], env);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/audit log whole: \d+ entries/);
    const db = new Database(path.join(svc.dataDir, 'catalogue.db'));
    const types = (db.prepare('SELECT type FROM audit_events').all() as { type: string }[]).map((r) => r.type);
    expect(types).toEqual(
      expect.arrayContaining([
        'login',
        'case.created',
        'take.start',
        'take.stop',
        'lock',
        'unlock',
        'pin.failed',
        'consent.changed',
        'clip.viewed',
        'clip.delete.requested',
      ]),
    );
    db.prepare("UPDATE audit_events SET ts = ts + 1 WHERE type = 'lock'").run();
    db.close();
    const broken = cli(['audit', 'verify'], env);
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/BROKEN at entry \d+: entry \d+ was changed/);
  });

  it('re-enrols only with the current PIN; the clips stay playable with the new one', async () => {
    const before = readFileSync(configFile, 'utf8');
    const wrong = cli(['enrol', '--org-recipient', recipient, '--kit-id', 'kit-08', '--trainer-pin', '135790', '--current-pin', '111111'], env);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/does not open.*nothing was changed/);
    expect(readFileSync(configFile, 'utf8')).toBe(before);
    const right = cli(['enrol', '--org-recipient', recipient, '--kit-id', 'kit-08', '--trainer-pin', '135790', '--current-pin', '246810'], env);
    expect(right.code).toBe(0);
    expect(right.out).toMatch(/re-enrolled/);
    // a new PIN has at least 6 digits (issue 13); the kit's current PIN is not touched by a refused one
    const short = cli(['enrol', '--org-recipient', recipient, '--kit-id', 'kit-08', '--trainer-pin', '2468', '--current-pin', '135790'], env);
    expect(short.code).not.toBe(0);
    expect(short.err).toMatch(/--trainer-pin: a new trainer PIN has 6 to 12 digits/);
    await svc.start();
    await svc.login('135790');
    expect((await svc.request('GET', `/api/clips/${clipId}/segments/1.ts`)).status).toBe(200);
  });

  it('a lost kit reveals nothing: no plaintext media, no unsealed secret, no names', async () => {
    expect((await svc.request('POST', '/api/logout', {})).status).toBe(204);
    // A name as a case code is refused, so it cannot reach the disk.
    await svc.login('135790');
    const named = await svc.request('POST', '/api/cases', {
      code: 'Jansen',
      trajectory: 'k-vht',
      consent: { recording: true, review: true, supervision: false, training: false },
    });
    expect(named.status).toBe(400);
    // closing the case's trajectory: nothing uploaded yet, so nothing is erased; no new takes
    const closed = await svc.request('POST', '/api/cases/GZ-0042/close', {});
    expect(closed.status).toBe(200);
    expect(closed.json).toMatchObject({ closedAt: expect.any(Number) as number, erased: [] });
    expect(closed.json.waitingForUpload.length).toBeGreaterThan(0);
    const take = await svc.request('POST', '/api/recording/start', { caseCode: 'GZ-0042' });
    expect(take.status).toBe(403);
    expect(take.json.error.message).toMatch(/closed/);
    expect((await svc.request('POST', '/api/cases/Jansen%20x/close', {})).status).toBe(400);
    await svc.stop();
    const everything = [...filesUnder(svc.dataDir), configFile];
    expect(scanForPlaintext(svc.dataDir)).toEqual([]);
    for (const f of everything) {
      const text = readFileSync(f).toString('latin1');
      expect({ f, secret: text.includes('AGE-SECRET-KEY-') }).toEqual({ f, secret: false });
      expect({ f, name: /Jansen/.test(text) }).toEqual({ f, name: false });
      expect({ f, pin: /135790|246810/.test(text) }).toEqual({ f, pin: false });
    }
  });
});

describe('idle lock', () => {
  it('drops the playback key after the idle time; the session stays', async () => {
    const svc = new Service({ config: `${TEST_CAPTURE}\nauth:\n  lockAfterIdleMinutes: 0.05\n` });
    try {
      await svc.start();
      expect((await svc.status()).locked).toBe(false);
      await sleep(4500);
      const s = await svc.status();
      expect(s.locked).toBe(true);
      expect((await svc.request('POST', '/api/unlock', { pin: '1234' })).status).toBe(204);
      expect((await svc.status()).locked).toBe(false);
    } finally {
      await svc.stop();
      svc.cleanup();
    }
  });
});
