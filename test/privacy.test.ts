import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as age from 'age-encryption';
import Database from 'better-sqlite3';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../src/core/clock.js';
import { createLogger } from '../src/core/logger.js';
import { Privacy } from '../src/session/privacy.js';
import { Catalogue, type Consent } from '../src/store/catalogue.js';
import { ClipStore } from '../src/store/clips.js';
import { KeyStore } from '../src/store/keys.js';
import { filesUnder } from './helpers/media.js';
import { rawSql } from './helpers/raw-sql.js';

const logger = createLogger({ level: 'silent' });
const ALL: Consent = { recording: true, review: true, supervision: true, training: true };
const RECORD_ONLY: Consent = { recording: true, review: false, supervision: false, training: false };

/** A clock the test moves by hand; timers never fire by themselves. */
class ManualClock implements Clock {
  t = Date.UTC(2026, 10, 22, 12);
  now() {
    return this.t;
  }
  monotonic() {
    return this.t;
  }
  setTimeout(): TimerHandle {
    return {};
  }
  clearTimeout(): void {}
}

interface Kit {
  dir: string;
  dataDir: string;
  orgKey: string;
  keys: KeyStore;
  catalogue: Catalogue;
  clips: ClipStore;
  privacy: Privacy;
  clock: ManualClock;
}

async function makeKit(opts: { onWithdrawal?: 'after-upload' | 'immediately'; deleteAfterUploadHours?: number } = {}): Promise<Kit> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-privacy-'));
  const dataDir = path.join(dir, 'data');
  const orgKey = path.join(dir, 'org.key');
  execFileSync('age-keygen', ['-o', orgKey], { stdio: 'pipe' });
  const orgRecipient = /# public key: (age1\S+)/.exec(readFileSync(orgKey, 'utf8'))![1]!;
  const keys = new KeyStore({ dataDir, orgRecipient, allowDemoOrg: false, logger });
  await keys.start('4821');
  const catalogue = new Catalogue(path.join(dataDir, 'catalogue.db'));
  const clips = new ClipStore(dataDir, catalogue, keys, logger);
  const clock = new ManualClock();
  const privacy = new Privacy(catalogue, clips, clock, logger, {
    dataDir,
    onWithdrawal: opts.onWithdrawal ?? 'after-upload',
    deleteAfterUploadHours: opts.deleteAfterUploadHours ?? 0,
    warnUnuploadedDays: 14,
    retentionIntervalMs: 600_000,
  });
  return { dir, dataDir, orgKey, keys, catalogue, clips, privacy, clock };
}

/** A finished clip of two segments, encrypted as a take would (org + the clip's own key). */
async function record(kit: Kit, caseCode: string | null, consent: Consent | null): Promise<string> {
  const now = kit.clock.now();
  const id = kit.clips.createClip({ caseCode, now, requestedAt: now, preRollMs: 0, originMs: now, consent });
  await kit.clips.prepareKey(id);
  for (let seq = 0; seq < 2; seq++) {
    await kit.clips.persistSegment(id, seq, Buffer.from(`media of ${id} #${seq} `.repeat(100)), {
      startMs: now + seq * 1000,
      durationMs: 1000,
      discontinuity: false,
    });
  }
  kit.clips.finishClip(id, 'complete', now + 2000, 'stopped');
  kit.clock.t += 5000;
  return id;
}

/** Every identity that can be got from what is on the kit now, given the PIN. */
async function everythingLeftOnTheKit(kit: Kit, pin: string): Promise<string[]> {
  const keys = new KeyStore({ dataDir: kit.dataDir, orgRecipient: null, allowDemoOrg: false, logger });
  expect(await keys.unlock(pin)).toBe(true);
  const wrapping = (keys as unknown as { session: { identity: string } }).session.identity;
  const ids = [wrapping];
  for (const name of readdirSync(path.join(kit.dataDir, 'keys', 'clips'))) {
    ids.push(await keys.clipIdentity(name.replace(/\.json$/, '')));
  }
  return ids;
}

async function decryptsWithAny(identities: string[], data: Uint8Array): Promise<boolean> {
  for (const id of identities) {
    const d = new age.Decrypter();
    d.addIdentity(id);
    try {
      await d.decrypt(data);
      return true;
    } catch {
      // not this one
    }
  }
  return false;
}

describe('crypto-erase', () => {
  let kit: Kit;
  beforeEach(async () => {
    kit = await makeKit();
  });

  it('after a clip is deleted, a copy of the old data dir cannot be decrypted with anything left on the kit', async () => {
    const a = await record(kit, 'GZ-0001', ALL);
    const b = await record(kit, 'GZ-0002', ALL);
    expect(await kit.keys.unlock('4821')).toBe(true);
    const oldCopy = path.join(kit.dir, 'stolen-copy');
    cpSync(kit.dataDir, oldCopy, { recursive: true });

    kit.catalogue.markUploaded(a, kit.clock.now());
    expect(await kit.privacy.runRetention()).toEqual([a]);
    expect(existsSync(path.join(kit.dataDir, 'clips', a))).toBe(false);
    expect(kit.catalogue.getClip(a)).toBeUndefined();
    expect(existsSync(path.join(kit.dataDir, 'keys', 'clips', `${a}.json`))).toBe(false);
    const types = kit.catalogue.auditEvents().map((e) => e.type);
    expect(types).toContain('clip.deleted');
    expect(types).toContain('key.destroyed');

    const left = await everythingLeftOnTheKit(kit, '4821');
    const oldSegment = readFileSync(path.join(oldCopy, 'clips', a, '0.ts.age'));
    expect(await decryptsWithAny(left, oldSegment)).toBe(false);
    const oldWrapped = JSON.parse(readFileSync(path.join(oldCopy, 'keys', 'clips', `${a}.json`), 'utf8')).wraps['T-001'];
    expect(await decryptsWithAny(left, Buffer.from(oldWrapped, 'base64'))).toBe(false);
    // The organisation still reads it, and the other clip still plays on the kit.
    expect(execFileSync('age', ['-d', '-i', kit.orgKey, path.join(oldCopy, 'clips', a, '0.ts.age')]).toString()).toContain(`media of ${a}`);
    const bSeg = readFileSync(path.join(kit.dataDir, 'clips', b, '1.ts.age'));
    expect(await decryptsWithAny(left, bSeg)).toBe(true);
  });

  it('deleting while locked finishes the erase at the next unlock', async () => {
    const a = await record(kit, 'GZ-0003', ALL);
    await record(kit, 'GZ-0004', ALL);
    const oldCopy = path.join(kit.dir, 'copy');
    cpSync(kit.dataDir, oldCopy, { recursive: true });
    kit.catalogue.markUploaded(a, kit.clock.now());
    await kit.privacy.runRetention();
    expect(kit.catalogue.auditEvents().map((e) => e.type)).toContain('key.destroy.pending');
    expect(kit.keys.pendingRotations()).toEqual(['T-001']);
    expect(await kit.keys.unlock('4821')).toBe(true);
    expect(kit.keys.pendingRotations()).toEqual([]);
    const left = await everythingLeftOnTheKit(kit, '4821');
    expect(await decryptsWithAny(left, readFileSync(path.join(oldCopy, 'clips', a, '0.ts.age')))).toBe(false);
  });
});

describe('retention', () => {
  it('never deletes before the organisation confirmed, and waits the configured delay after', async () => {
    const kit = await makeKit({ deleteAfterUploadHours: 24 });
    const a = await record(kit, 'GZ-0010', ALL);
    kit.clips.requestDelete(a, kit.clock.now(), 'trainer');
    expect(await kit.privacy.runRetention()).toEqual([]);
    const b = await record(kit, 'GZ-0011', ALL);
    kit.catalogue.markUploaded(b, kit.clock.now());
    expect(await kit.privacy.runRetention()).toEqual([]);
    kit.clock.t += 23 * 3600_000;
    expect(await kit.privacy.runRetention()).toEqual([]);
    kit.clock.t += 2 * 3600_000;
    expect(await kit.privacy.runRetention()).toEqual([b]);
    // the trainer's request is carried out once the upload is confirmed
    kit.catalogue.markUploaded(a, kit.clock.now());
    expect(await kit.privacy.runRetention()).toEqual([a]);
  });

  it('withdrawn consent: clips go after upload, or at once when the policy says so', async () => {
    const later = await makeKit({ onWithdrawal: 'after-upload' });
    const a = await record(later, 'GZ-0020', ALL);
    await later.privacy.updateCase('GZ-0020', { consent: { recording: false } });
    expect(later.catalogue.getClip(a)!.deleteRequestedAt).not.toBeNull();
    expect(existsSync(path.join(later.dataDir, 'clips', a))).toBe(true);
    later.catalogue.markUploaded(a, later.clock.now());
    expect(await later.privacy.runRetention()).toEqual([a]);

    const now = await makeKit({ onWithdrawal: 'immediately' });
    const b = await record(now, 'GZ-0021', ALL);
    await now.privacy.updateCase('GZ-0021', { consent: { recording: false } });
    expect(existsSync(path.join(now.dataDir, 'clips', b))).toBe(false);
    expect(now.catalogue.auditEvents().map((e) => e.type)).toEqual(expect.arrayContaining(['consent.changed', 'clip.deleted']));
  });

  it('warns about clips that have not reached the organisation', async () => {
    const kit = await makeKit();
    await record(kit, null, null);
    expect(kit.privacy.uploadWarnings()).toEqual({ pending: 1, overdue: 0 });
    kit.clock.t += 15 * 86_400_000;
    expect(kit.privacy.uploadWarnings()).toEqual({ pending: 1, overdue: 1 });
  });
});

describe('consent', () => {
  it('refuses each use the scopes do not allow, by the consent as made and as now', async () => {
    const kit = await makeKit();
    kit.privacy.createCase('KV-0031', 'k-vht', RECORD_ONLY);
    const id = await record(kit, 'KV-0031', kit.privacy.consentForRecording('KV-0031'));
    const clip = () => kit.catalogue.getClip(id)!;
    for (const scope of ['review', 'supervision', 'training'] as const) {
      expect(() => kit.privacy.assertAllowed(clip(), scope)).toThrow(expect.objectContaining({ code: 'FORBIDDEN', field: `consent.${scope}` }));
    }
    expect(() => kit.privacy.assertAllowed(clip(), 'recording')).not.toThrow();
    // Consent given later does not widen a clip made before it …
    await kit.privacy.updateCase('KV-0031', { consent: { review: true } });
    expect(() => kit.privacy.assertAllowed(clip(), 'review')).toThrow(/geen toestemming voor terugkijken/);
    // … but a new clip carries it.
    const id2 = await record(kit, 'KV-0031', kit.privacy.consentForRecording('KV-0031'));
    expect(() => kit.privacy.assertAllowed(kit.catalogue.getClip(id2)!, 'review')).not.toThrow();
    // Withdrawing a scope narrows every clip of the case at once.
    await kit.privacy.updateCase('KV-0031', { consent: { review: false } });
    expect(() => kit.privacy.assertAllowed(kit.catalogue.getClip(id2)!, 'review')).toThrow(/review/);
    // No recording consent: no take.
    kit.privacy.createCase('KV-0032', 'gehechtheid', { ...ALL, recording: false });
    expect(() => kit.privacy.consentForRecording('KV-0032')).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    // An unassigned clip cannot be shown or shared.
    const loose = await record(kit, null, null);
    expect(() => kit.privacy.assertAllowed(kit.catalogue.getClip(loose)!, 'review')).toThrow(/assign it to a case/);
  });

  it('cases survive a catalogue rebuild', async () => {
    const kit = await makeKit();
    kit.privacy.createCase('KV-0040', 'vht-voorzorg', { recording: true, review: true, supervision: false, training: false });
    const fresh = new Catalogue(path.join(kit.dir, 'rebuilt.db'));
    const p2 = new Privacy(fresh, new ClipStore(kit.dataDir, fresh, kit.keys, logger), kit.clock, logger, {
      dataDir: kit.dataDir,
      onWithdrawal: 'after-upload',
      deleteAfterUploadHours: 0,
      warnUnuploadedDays: 14,
      retentionIntervalMs: 600_000,
    });
    expect(p2.restoreCases()).toBe(1);
    expect(fresh.getCase('KV-0040')).toEqual(kit.catalogue.getCase('KV-0040'));
  });
});

describe('audit log', () => {
  it('a hash chain that shows where an entry was changed or removed', async () => {
    const kit = await makeKit();
    for (let i = 0; i < 5; i++) kit.catalogue.audit('login', kit.clock.now() + i, null, { n: i });
    expect(kit.catalogue.verifyAudit()).toEqual({ ok: true, count: 5 });
    kit.catalogue.close();
    const file = path.join(kit.dataDir, 'catalogue.db');
    const db = new Database(file);
    db.prepare('UPDATE audit_events SET details = \'{"n":99}\' WHERE id = 3').run();
    db.close();
    const edited = new Catalogue(file).verifyAudit();
    expect(edited).toMatchObject({ ok: false, brokenAt: 3 });
    expect(edited.reason).toMatch(/changed/);

    const kit2 = await makeKit();
    for (let i = 0; i < 5; i++) kit2.catalogue.audit('login', kit2.clock.now() + i);
    rawSql.run(kit2.catalogue, 'DELETE FROM audit_events WHERE id = 2');
    expect(kit2.catalogue.verifyAudit()).toMatchObject({ ok: false, brokenAt: 3, reason: expect.stringMatching(/deleted or changed/) });
  });

  it('holds no names or free text, and no secret is on disk unsealed', async () => {
    const kit = await makeKit();
    kit.privacy.createCase('GZ-0050', 'jeugdhulp-ggz', ALL);
    await record(kit, 'GZ-0050', ALL);
    for (const f of filesUnder(kit.dataDir)) expect(readFileSync(f).toString('latin1')).not.toContain('AGE-SECRET-KEY-');
  });
});
