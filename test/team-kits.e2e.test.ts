// Issue 20, one kit: trainers sign in as themselves (id + PIN), see only their cases, every audit
// entry names them; `vht-kit trainer add|remove|list` with the office's authorisation; removing a
// trainer leaves nothing on the kit that their old PIN opens. The real service, CLI, SQLite and age.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptWith, deriveKek, unsealWithKek } from '../src/store/crypto.js';
import { rawRequest, sessionCookies, Service, TEST_CAPTURE } from './helpers/service.js';

const BIN = path.resolve(import.meta.dirname, '../bin/vht-kit');

function cli(args: string[], env: Record<string, string>): { code: number; out: string; err: string } {
  try {
    const out = execFileSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: 'pipe' });
    return { code: 0, out, err: '' };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { code: x.status, out: x.stdout, err: x.stderr };
  }
}

/** Every identity that `pin` unseals from the sealed key files (trainers, inbox) of a data dir. */
async function identitiesOpenedBy(dataDir: string, pin: string): Promise<string[]> {
  const found: string[] = [];
  for (const sub of ['trainers', 'inbox']) {
    const dir = path.join(dataDir, 'keys', sub);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      const file = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { sealed: Parameters<typeof unsealWithKek>[0] };
      const id = unsealWithKek(file.sealed, await deriveKek(pin, file.sealed));
      if (id !== null) found.push(id);
    }
  }
  return found;
}

/** Content identities that the given wrapping identities unwrap from a data dir's key files. */
async function contentKeysOpenedBy(dataDir: string, wrappers: string[]): Promise<string[]> {
  const out: string[] = [];
  if (wrappers.length === 0) return out;
  for (const kind of ['clips', 'fragments', 'stills', 'reviews']) {
    const dir = path.join(dataDir, 'keys', kind);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      const data = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { wraps?: Record<string, string> };
      for (const w of Object.values(data.wraps ?? {})) {
        try {
          out.push((await decryptWith(wrappers, Buffer.from(w, 'base64'))).toString('utf8'));
        } catch (err) {
          expect(String(err)).toMatch(/no identity matched|cannot|decrypt/i);
        }
      }
    }
  }
  return out;
}

async function opensAny(identities: string[], file: string): Promise<boolean> {
  if (identities.length === 0) return false;
  try {
    await decryptWith(identities, readFileSync(file));
    return true;
  } catch (err) {
    expect(String(err)).toMatch(/no identity matched|decrypt/i);
    return false;
  }
}

describe('a team kit: trainers sign in as themselves and see only their cases', { timeout: 300_000 }, () => {
  const svc = new Service({ pin: null });
  const configFile = path.join(svc.dir, 'kit.yaml');
  const orgKey = path.join(svc.dir, 'org.key');
  const env = { VHT_KIT_CONFIG: configFile, VHT_KIT_DATA_DIR: svc.dataDir };
  let clipId = '';

  const login = (body: unknown) =>
    rawRequest({
      port: svc.port,
      method: 'POST',
      path: '/api/login',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      timeoutMs: 60_000,
    });

  beforeAll(async () => {
    const recipient = cli(['keygen', '--out', orgKey], env).out.trim();
    writeFileSync(configFile, TEST_CAPTURE);
    expect(cli(['enrol', '--org-recipient', recipient, '--kit-id', 'kit-05', '--trainer-pin', '246810'], env).code).toBe(0);
  }, 300_000);
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('trainer add needs the office or an existing trainer; list shows ids only, never names', () => {
    const none = cli(['trainer', 'add', 'T-017', '--pin', '170017'], env);
    expect(none.code).not.toBe(0);
    expect(none.err).toMatch(/--org-identity FILE .* --auth-trainer/);
    const wrongPin = cli(['trainer', 'add', 'T-017', '--pin', '170017', '--auth-trainer', 'T-001', '--auth-pin', '999999'], env);
    expect(wrongPin.err).toMatch(/--auth-pin: not the PIN of trainer T-001/);
    const otherOrg = path.join(svc.dir, 'other.key');
    cli(['keygen', '--out', otherOrg], env);
    expect(cli(['trainer', 'add', 'T-017', '--pin', '170017', '--org-identity', otherOrg], env).err).toMatch(/not the organisation of this kit/);
    expect(cli(['trainer', 'add', 'T-017', '--pin', '1700', '--org-identity', orgKey], env).err).toMatch(/--pin: a new trainer PIN has 6 to 12 digits/);
    expect(cli(['trainer', 'add', 'Jan', '--pin', '170017', '--org-identity', orgKey], env).err).toMatch(/trainer id "Jan" is not like T-017/);

    const byTrainer = cli(['trainer', 'add', 'T-017', '--pin', '170017', '--auth-trainer', 'T-001', '--auth-pin', '246810'], env);
    expect(byTrainer.code).toBe(0);
    expect(JSON.parse(byTrainer.out)).toMatchObject({ kitId: 'kit-05', trainerId: 'T-017', inboxRecipient: expect.stringMatching(/^age1/) });
    expect(cli(['trainer', 'add', 'T-018', '--pin', '180018', '--org-identity', orgKey], env).code).toBe(0);
    const list = cli(['trainer', 'list'], env).out;
    expect(
      list
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ')[0]),
    ).toEqual(['T-001', 'T-017', 'T-018']);
  }, 300_000);

  it('signs in by trainer id and PIN; an unknown id answers exactly like a wrong PIN; the session names the trainer', async () => {
    svc.configure({ configFile });
    await svc.start();
    const unknown = await login({ trainerId: 'T-999', pin: '170017' });
    const wrong = await login({ trainerId: 'T-017', pin: '999999' });
    expect([unknown.status, wrong.status]).toEqual([401, 401]);
    expect(unknown.json.error).toEqual(wrong.json.error);
    expect((await login({ trainerId: 'Jan', pin: '170017' })).json.error.message).toMatch(/trainerId/);
    // nothing lists trainer ids before sign-in
    expect((await rawRequest({ port: svc.port, path: '/api/session' })).status).toBe(401);
    await svc.login('170017', 'T-017');
    expect((await svc.request('GET', '/api/session')).json).toMatchObject({ role: 'trainer', trainerId: 'T-017', locked: false });
    await svc.waitArmed();
  });

  it("T-017's case and take are T-017's: T-018 gets 403 for them and has no key on disk; the audit names each", async () => {
    const made = await svc.request('POST', '/api/cases', {
      code: 'GZ-1701',
      trajectory: 'k-vht',
      consent: { recording: true, review: true, supervision: false, training: false },
    });
    expect(made.status).toBe(200);
    const start = await svc.request('POST', '/api/recording/start', { caseCode: 'GZ-1701' });
    expect(start.status).toBe(200);
    clipId = start.json.clipId;
    await sleep(1500);
    expect((await svc.request('POST', '/api/recording/stop', {})).status).toBe(200);
    expect((await svc.request('GET', `/api/clips/${clipId}/index.m3u8`)).status).toBe(200);
    expect((await svc.request('GET', '/api/cases')).json.cases.map((c: { code: string }) => c.code)).toEqual(['GZ-1701']);
    const t17 = { cookie: svc.cookie, csrf: svc.csrf };

    await svc.login('180018', 'T-018');
    // T-017's session ended when T-018 signed in (one trainer's kit at a time)
    expect((await rawRequest({ port: svc.port, path: '/api/session', headers: { cookie: t17.cookie } })).status).toBe(401);
    expect((await svc.request('GET', '/api/cases')).json.cases).toEqual([]);
    expect((await svc.request('GET', '/api/clips')).json.clips).toEqual([]);
    for (const p of [`/api/clips/${clipId}`, `/api/clips/${clipId}/index.m3u8`, `/api/clips/${clipId}/segments/0.ts`]) {
      const r = await svc.request('GET', p);
      expect(r.status, p).toBe(403);
      expect(r.json.error.message).toMatch(/not of a case of trainer T-018/);
    }
    expect((await svc.request('POST', '/api/present', { clipId })).status).toBe(403);
    expect((await svc.request('POST', `/api/clips/${clipId}/markers`, { offsetMs: 0, label: null })).status).toBe(403);
    expect((await svc.request('PATCH', '/api/cases/GZ-1701', { consent: { training: true } })).status).toBe(403);
    expect((await svc.request('POST', '/api/recording/start', { caseCode: 'GZ-1701' })).status).toBe(403);
    const keyFile = JSON.parse(readFileSync(path.join(svc.dataDir, 'keys', 'clips', `${clipId}.json`), 'utf8'));
    expect(Object.keys(keyFile.wraps)).toEqual(['T-017']);

    await svc.login('170017', 'T-017');
    expect((await svc.request('GET', `/api/clips/${clipId}/segments/0.ts`)).status).toBe(200);
    const db = new Database(path.join(svc.dataDir, 'catalogue.db'), { readonly: true });
    const rows = db.prepare('SELECT type, trainer_id AS t FROM audit_events ORDER BY id').all() as { type: string; t: string | null }[];
    db.close();
    const by = (type: string) => [...new Set(rows.filter((r) => r.type === type).map((r) => r.t))];
    expect(by('take.start')).toEqual(['T-017']);
    expect(by('case.created')).toEqual(['T-017']);
    expect(by('clip.viewed')).toEqual(['T-017']);
    expect(by('login')).toEqual(['T-017', 'T-018']);
    // from the first sign-in on, every entry names a trainer (before it, the kit had no holder yet)
    const first = rows.findIndex((r) => r.type === 'login');
    expect(rows.slice(first).filter((r) => r.t === null)).toEqual([]);
    expect(rows.filter((r) => r.type === 'pin.failed' && r.t !== null)).toEqual([]);
    expect(cli(['audit', 'verify'], env).out).toMatch(/audit log whole/);
  });

  it('removing T-017: a copy of the data dir taken before cannot be opened with what is left plus their old PIN', async () => {
    expect(await svc.stop()).toBe(0);
    const before = path.join(svc.dir, 'copy-before');
    cpSync(svc.dataDir, before, { recursive: true });
    const segment = path.join(before, 'clips', clipId, '0.ts.age');
    // Control: with the copy's own key files, the old PIN opens the take (the test can fail).
    const then = await contentKeysOpenedBy(before, await identitiesOpenedBy(before, '170017'));
    expect(await opensAny(then, segment)).toBe(true);

    const removed = cli(['trainer', 'remove', 'T-017', '--org-identity', orgKey], env);
    expect(removed).toMatchObject({ code: 0 });
    expect(removed.out).toMatch(/removed T-017: 1 content keys only they held were destroyed/);
    expect(cli(['trainer', 'list'], env).out).not.toMatch(/T-017/);
    const left = await identitiesOpenedBy(svc.dataDir, '170017');
    expect(left).toEqual([]);
    // what is left, with any identity the old PIN opens (none) or that the other trainers' files hold without their PIN: nothing
    expect(await contentKeysOpenedBy(svc.dataDir, left)).toEqual([]);
    expect(existsSync(path.join(svc.dataDir, 'keys', 'clips', `${clipId}.json`))).toBe(false);
    expect(await opensAny(left, segment)).toBe(false);
    // and T-017 cannot sign in on the kit any more; T-018 still can
    await svc.start();
    expect((await login({ trainerId: 'T-017', pin: '170017' })).status).toBe(401);
    const ok = await login({ trainerId: 'T-018', pin: '180018' });
    expect(ok.status).toBe(204);
    expect(sessionCookies(ok.headers['set-cookie'] ?? []).csrf).not.toBe('');
  });
});

describe('a one-PIN kit of the format before (test/fixtures/kit-v1) keeps working as T-001', { timeout: 300_000 }, () => {
  const FIXTURE = path.resolve(import.meta.dirname, 'fixtures/kit-v1');
  const svc = new Service({ pin: null });
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('migrates: its cases become T-001s, its PIN (4 digits) signs in without an id, every clip plays, the audit names T-001', async () => {
    cpSync(path.join(FIXTURE, 'data'), svc.dataDir, { recursive: true });
    // a case of the old catalogue (version 5): migration 8 gives it to T-001
    const old = new Database(path.join(svc.dataDir, 'catalogue.db'));
    expect(old.pragma('user_version', { simple: true })).toBe(5);
    old.prepare("INSERT INTO cases (code, created_at) VALUES ('GZ-0001', 1)").run();
    old.prepare("UPDATE clips SET case_code = 'GZ-0001' WHERE id = '0mwrsbk00d1d21e40'").run();
    old.close();
    const recipient = /# public key: (age1\S+)/.exec(readFileSync(path.join(FIXTURE, 'org.key'), 'utf8'))![1]!;
    const configFile = path.join(svc.dir, 'kit.yaml');
    writeFileSync(configFile, `${TEST_CAPTURE}\nkitId: kit-01\nkeys:\n  orgRecipient: ${recipient}\n`);
    svc.configure({ configFile });
    await svc.start();
    await svc.login('4821');
    expect((await svc.request('GET', '/api/session')).json.trainerId).toBe('T-001');
    expect((await svc.request('GET', '/api/cases')).json.cases.map((c: { code: string }) => c.code)).toEqual(['GZ-0001']);
    const clips = (await svc.request('GET', '/api/clips')).json.clips.map((c: { id: string }) => c.id).sort();
    expect(clips).toEqual(['0mwrsbk00d1d21e40', '0mwrscuao2cc56072', '0mwrse4lc80048e6a']);
    for (const id of clips) expect((await svc.request('GET', `/api/clips/${id}/segments/0.ts`)).status, id).toBe(200);
    await svc.login('4821', 'T-001');
    expect(existsSync(path.join(svc.dataDir, 'keys', 'master.json'))).toBe(false);
    expect(existsSync(path.join(svc.dataDir, 'keys', 'inbox', 'T-001.json'))).toBe(true);
    const db = new Database(path.join(svc.dataDir, 'catalogue.db'), { readonly: true });
    const viewed = db.prepare("SELECT DISTINCT trainer_id AS t FROM audit_events WHERE type = 'clip.viewed'").all();
    db.close();
    expect(viewed).toEqual([{ t: 'T-001' }]);
  });
});
