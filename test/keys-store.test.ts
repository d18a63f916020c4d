// The key hierarchy of issue 13 (docs/design/keys-layout-retention.md): per-trainer wrapping keys,
// content keys, the one queue for key changes (issue 15 item 10), and the migration of a data dir
// made by the kit's code before it (test/fixtures/kit-v1). Real files, real age (the library and
// Debian's `age` CLI), real SQLite.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/core/logger.js';
import { Catalogue } from '../src/store/catalogue.js';
import { ClipStore } from '../src/store/clips.js';
import { decryptWith, encryptTo, generateIdentity, unseal } from '../src/store/crypto.js';
import { identityFileText, KeyStore, type ContentRef } from '../src/store/keys.js';

const logger = createLogger({ level: 'silent' });
const FIXTURE = path.resolve(import.meta.dirname, 'fixtures/kit-v1');
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'vht-keys-'));
  roots.push(d);
  return d;
}

function orgRecipientOf(file: string): string {
  return /# public key: (age1\S+)/.exec(readFileSync(file, 'utf8'))![1]!;
}

async function store(dataDir: string, orgRecipient: string, pin: string | null = null): Promise<KeyStore> {
  const k = new KeyStore({ dataDir, orgRecipient, allowDemoOrg: false, logger });
  await k.start(pin);
  return k;
}

async function opens(identity: string, data: Uint8Array): Promise<boolean> {
  try {
    await decryptWith(identity, data);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once `file` exists: the rotation has written its next key and is re-wrapping; fails if it ended first. */
async function whenExists(file: string, rotation: Promise<unknown>): Promise<void> {
  let ended = false;
  void rotation.finally(() => (ended = true));
  while (!existsSync(file)) {
    if (ended) throw new Error(`the rotation ended before ${path.basename(file)} was seen: it did not yield to the event loop`);
    await new Promise((r) => setImmediate(r));
  }
}

const clipRef = (id: string): ContentRef => ({ kind: 'clip', id });
const idOf = (n: number): string => `key${String(n).padStart(9, '0')}`;

describe('a kit of the one-PIN format (master.json, keys/clips/*.json) is migrated without losing a clip', () => {
  it('the master becomes trainer T-001 with the same PIN; every segment and the still open; the catalogue upgrades', async () => {
    const dir = tmp();
    cpSync(FIXTURE, dir, { recursive: true });
    const dataDir = path.join(dir, 'data');
    const org = orgRecipientOf(path.join(dir, 'org.key'));
    const clipIds = readdirSync(path.join(dataDir, 'clips')).sort();
    expect(clipIds).toHaveLength(3);
    const masterBefore = JSON.parse(readFileSync(path.join(dataDir, 'keys', 'master.json'), 'utf8'));

    const keys = await store(dataDir, org);
    expect(keys.trainerIds()).toEqual(['T-001']);
    expect(existsSync(path.join(dataDir, 'keys', 'master.json'))).toBe(false);
    const t1 = JSON.parse(readFileSync(path.join(dataDir, 'keys', 'trainers', 'T-001.json'), 'utf8'));
    expect(t1).toMatchObject({ v: 2, trainerId: 'T-001', recipient: masterBefore.recipient, sealed: masterBefore.sealed });
    for (const id of clipIds) {
      const f = JSON.parse(readFileSync(path.join(dataDir, 'keys', 'clips', `${id}.json`), 'utf8'));
      expect(f).toMatchObject({ v: 2, kind: 'clip', id, wraps: { 'T-001': expect.any(String) as string } });
      expect(f.wrapped).toBeUndefined();
    }
    // The kit keeps its 4-digit PIN until it is changed; a new PIN needs 6 digits.
    expect(await keys.unlock('4821')).toBe(true);
    const catalogue = new Catalogue(path.join(dataDir, 'catalogue.db'));
    const clips = new ClipStore(dataDir, catalogue, keys, logger);
    expect(clips.rebuild()).toBe(3);
    let segments = 0;
    for (const id of clipIds) {
      const identity = await keys.clipIdentity(id);
      for (const s of catalogue.segments(id)) {
        const plain = Buffer.from(await decryptWith(identity, await clips.readSegment(id, s.seq))).toString();
        expect(plain).toContain(`v1 media of ${id} #${s.seq}`);
        segments += 1;
      }
      for (const st of catalogue.stillRows(id)) {
        const jpeg = Buffer.from(await decryptWith(identity, await clips.readStill(id, st.id)));
        expect(jpeg.subarray(0, 3).toString('hex')).toBe('ffd8ff');
      }
    }
    expect(segments).toBe(6);
    expect(catalogue.stillRows(clipIds[1]!)).toHaveLength(1);
    await expect(keys.changePin('4821', '1357')).rejects.toMatchObject({ code: 'VALIDATION' });
    expect(await keys.changePin('4821', '135790')).toBe(true);
    const again = await store(dataDir, org);
    expect(await again.unlock('4821')).toBe(false);
    expect(await again.unlock('135790')).toBe(true);
    expect(Buffer.from(await decryptWith(await again.clipIdentity(clipIds[0]!), await clips.readSegment(clipIds[0]!, 0))).toString()).toContain('v1 media');
    catalogue.close();
  });

  it('a migration cut short (trainer file written, master.json and a pending rotation still there) finishes at the next start', async () => {
    const dir = tmp();
    cpSync(FIXTURE, dir, { recursive: true });
    const dataDir = path.join(dir, 'data');
    const org = orgRecipientOf(path.join(dir, 'org.key'));
    const m = JSON.parse(readFileSync(path.join(dataDir, 'keys', 'master.json'), 'utf8'));
    cpSync(path.join(dataDir, 'keys', 'master.json'), path.join(dir, 'master.copy'));
    writeFileSync(path.join(dataDir, 'keys', 'rotation-pending'), '1\n');
    // the state after a power cut half-way: one clip key rewritten, the trainer file made
    const first = await store(dataDir, org);
    expect(first.trainerIds()).toEqual(['T-001']);
    cpSync(path.join(dir, 'master.copy'), path.join(dataDir, 'keys', 'master.json'));
    const keys = await store(dataDir, org);
    expect(keys.trainerIds()).toEqual(['T-001']);
    expect(keys.pendingRotations()).toEqual(['T-001']);
    expect(JSON.parse(readFileSync(path.join(dataDir, 'keys', 'trainers', 'T-001.json'), 'utf8')).recipient).toBe(m.recipient);
    expect(await keys.unlock('4821')).toBe(true); // finishes the pending rotation
    expect(keys.pendingRotations()).toEqual([]);
    expect(JSON.parse(readFileSync(path.join(dataDir, 'keys', 'trainers', 'T-001.json'), 'utf8')).recipient).not.toBe(m.recipient);
    for (const id of readdirSync(path.join(dataDir, 'clips'))) {
      const identity = await keys.clipIdentity(id);
      expect(Buffer.from(await decryptWith(identity, readFileSync(path.join(dataDir, 'clips', id, '1.ts.age')))).toString()).toContain(id);
    }
  });
});

describe('the key queue: key changes never interleave wrongly (issue 15 item 10)', () => {
  async function kitWith(n: number, pin: string): Promise<{ dataDir: string; org: string; keys: KeyStore }> {
    const dataDir = path.join(tmp(), 'data');
    const org = (await generateIdentity()).recipient;
    const keys = await store(dataDir, org, pin);
    for (let i = 0; i < n; i++) {
      const recipient = await keys.createClipKey(idOf(i));
      expect(recipient).toMatch(/^age1/);
    }
    return { dataDir, org, keys };
  }

  it('a content key made while 300 keys are re-wrapped is in the rotation: it opens after a fresh login', async () => {
    const { dataDir, org, keys } = await kitWith(301, '48210000');
    expect(await keys.unlock('48210000')).toBe(true);
    const nextFile = path.join(dataDir, 'keys', 'trainers', 'T-001.next.json');
    const rotation = keys.destroyClipKey(idOf(300)); // rotates T-001 over the 300 others
    await whenExists(nextFile, rotation);
    const made = keys.createContentKey({ kind: 'fragment', id: 'frag000000001' });
    const madeClip = keys.createClipKey('take000000001');
    expect(existsSync(nextFile)).toBe(true); // both were asked for while the rotation ran
    // a take's key does not wait for the rotation (its segments wait for it in RAM)
    expect(await Promise.race([madeClip.then(() => 'take key'), rotation.then(() => 'rotation')])).toBe('take key');
    expect(existsSync(nextFile)).toBe(true);
    expect(await rotation).toBe('complete');
    expect(await made).toMatch(/^age1/);
    expect(await madeClip).toMatch(/^age1/);
    expect(existsSync(nextFile)).toBe(false);

    const fresh = await store(dataDir, org);
    expect(await fresh.unlock('48210000')).toBe(true);
    const all = [...Array.from({ length: 300 }, (_, i) => clipRef(idOf(i))), clipRef('take000000001'), { kind: 'fragment' as const, id: 'frag000000001' }];
    for (const ref of all) {
      const [, recipient] = fresh.recipientsOf(ref);
      const probe = await encryptTo([recipient!], `probe ${ref.id}`);
      expect(Buffer.from(await decryptWith(await fresh.contentIdentity(ref), probe)).toString()).toBe(`probe ${ref.id}`);
    }
    await expect(fresh.clipIdentity(idOf(300))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  }, 120_000);

  it('a PIN change during a rotation: every key opens with the new PIN after a fresh login, none with the old', async () => {
    const { dataDir, org, keys } = await kitWith(120, '48210000');
    expect(await keys.unlock('48210000')).toBe(true);
    const nextFile = path.join(dataDir, 'keys', 'trainers', 'T-001.next.json');
    const rotation = keys.destroyClipKey(idOf(0));
    await whenExists(nextFile, rotation);
    const change = keys.changePin('48210000', '97531000');
    const made = keys.createClipKey('take000000002');
    expect(await rotation).toBe('complete');
    expect(await change).toBe(true);
    expect(await made).toMatch(/^age1/);
    const fresh = await store(dataDir, org);
    expect(await fresh.unlock('48210000')).toBe(false);
    expect(await fresh.unlock('97531000')).toBe(true);
    for (let i = 1; i < 120; i++) expect(await fresh.clipIdentity(idOf(i))).toMatch(/^AGE-SECRET-KEY-1/);
    expect(await fresh.clipIdentity('take000000002')).toMatch(/^AGE-SECRET-KEY-1/);
  }, 120_000);

  it('a rotation cut short by a crash (next key written, some keys re-wrapped) finishes at the next login', async () => {
    const { dataDir, org, keys } = await kitWith(40, '48210000');
    expect(await keys.unlock('48210000')).toBe(true);
    const nextFile = path.join(dataDir, 'keys', 'trainers', 'T-001.next.json');
    const snapshot = path.join(path.dirname(dataDir), 'snapshot');
    const rotation = keys.destroyClipKey(idOf(39));
    await whenExists(nextFile, rotation);
    // what a power cut leaves: the next key and a mix of old and new wraps
    cpSync(dataDir, snapshot, { recursive: true });
    await rotation;
    const after = await store(snapshot, org);
    expect(existsSync(path.join(snapshot, 'keys', 'trainers', 'T-001.next.json'))).toBe(true);
    expect(await after.unlock('48210000')).toBe(true);
    expect(existsSync(path.join(snapshot, 'keys', 'trainers', 'T-001.next.json'))).toBe(false);
    for (let i = 0; i < 39; i++) expect(await after.clipIdentity(idOf(i))).toMatch(/^AGE-SECRET-KEY-1/);
  }, 120_000);
});

describe("per-trainer wrapping keys: rotation without other trainers' PINs", () => {
  it('a deletion rotates the logged-in trainer now and the other at their next login; removing a trainer completes it without a PIN', async () => {
    const dir = tmp();
    const dataDir = path.join(dir, 'data');
    const orgFile = path.join(dir, 'org.key');
    execFileSync('age-keygen', ['-o', orgFile], { stdio: 'pipe' });
    const keys = await store(dataDir, orgRecipientOf(orgFile), '24681000');
    await keys.addTrainer('T-002', '13579000');
    await expect(keys.addTrainer('T-003', '1357')).rejects.toMatchObject({ code: 'VALIDATION', field: 'pin' });
    await expect(keys.addTrainer('Jansen', '135790')).rejects.toMatchObject({ code: 'VALIDATION', field: 'trainerId' });
    expect(keys.trainerIds()).toEqual(['T-001', 'T-002']);
    for (const id of ['clipaaaaaaaa1', 'clipaaaaaaaa2', 'clipaaaaaaaa3']) await keys.createClipKey(id);
    expect(keys.entitled(clipRef('clipaaaaaaaa1'))).toEqual(['T-001', 'T-002']);
    const old = path.join(dir, 'old-copy');
    cpSync(dataDir, old, { recursive: true });
    const oldWraps = (id: string) => JSON.parse(readFileSync(path.join(old, 'keys', 'clips', `${id}.json`), 'utf8')).wraps as Record<string, string>;

    expect(await keys.unlock('24681000', 'T-001')).toBe(true);
    expect(await keys.destroyClipKey('clipaaaaaaaa1')).toBe('pending');
    expect(keys.pendingRotations()).toEqual(['T-002']);
    const t1Now = await secretOf(dataDir, 'T-001', '24681000');
    expect(await opens(t1Now, Buffer.from(oldWraps('clipaaaaaaaa1')['T-001']!, 'base64'))).toBe(false);
    // pending for T-002: their current key still opens the old copy's wrap (what "pending" means)
    expect(await opens(await secretOf(dataDir, 'T-002', '13579000'), Buffer.from(oldWraps('clipaaaaaaaa1')['T-002']!, 'base64'))).toBe(true);

    keys.lock();
    expect(await keys.unlock('13579000', 'T-002')).toBe(true);
    expect(keys.pendingRotations()).toEqual([]);
    expect(await opens(await secretOf(dataDir, 'T-002', '13579000'), Buffer.from(oldWraps('clipaaaaaaaa1')['T-002']!, 'base64'))).toBe(false);
    expect(await keys.clipIdentity('clipaaaaaaaa2')).toMatch(/^AGE-SECRET-KEY-1/);

    // another deletion while T-002 does not come back: the office removes T-002 (no PIN)
    keys.lock();
    expect(await keys.unlock('24681000', 'T-001')).toBe(true);
    const old2 = path.join(dir, 'old-copy-2');
    cpSync(dataDir, old2, { recursive: true });
    expect(await keys.destroyClipKey('clipaaaaaaaa2')).toBe('pending');
    expect(await keys.removeTrainer('T-002')).toEqual({ destroyed: [] });
    expect(keys.pendingRotations()).toEqual([]);
    expect(keys.trainerIds()).toEqual(['T-001']);
    expect(await keys.verifyPin('13579000', 'T-002')).toBe(false);
    expect(keys.entitled(clipRef('clipaaaaaaaa3'))).toEqual(['T-001']);
    expect(await keys.clipIdentity('clipaaaaaaaa3')).toMatch(/^AGE-SECRET-KEY-1/);
    // what is left on the kit (only T-001's key) opens none of the old wraps of the deleted clip
    const left = await secretOf(dataDir, 'T-001', '24681000');
    const w2 = JSON.parse(readFileSync(path.join(old2, 'keys', 'clips', 'clipaaaaaaaa2.json'), 'utf8')).wraps as Record<string, string>;
    for (const wrapped of Object.values(w2)) expect(await opens(left, Buffer.from(wrapped, 'base64'))).toBe(false);
  }, 120_000);

  it("a take made while locked belongs to the kit's holder (the trainer who signed in last); before any sign-in, to every trainer", async () => {
    const dataDir = path.join(tmp(), 'data');
    const keys = await store(dataDir, (await generateIdentity()).recipient, '24681000');
    await keys.addTrainer('T-002', '13579000');
    expect(keys.holder()).toBeNull();
    await keys.createClipKey('clipdddddddd1');
    expect(keys.entitled(clipRef('clipdddddddd1'))).toEqual(['T-001', 'T-002']);
    expect(await keys.unlock('13579000', 'T-002')).toBe(true);
    keys.lock();
    expect(keys.holder()).toBe('T-002');
    await keys.createClipKey('clipdddddddd2'); // the button, while locked
    expect(keys.entitled(clipRef('clipdddddddd2'))).toEqual(['T-002']);
    expect(await keys.unlock('24681000', 'T-001')).toBe(true);
    await expect(keys.clipIdentity('clipdddddddd2')).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('a key shared with one trainer is refused to another (403) until granted; narrowing marks the other for rotation', async () => {
    const dataDir = path.join(tmp(), 'data');
    const keys = await store(dataDir, (await generateIdentity()).recipient, '24681000');
    await keys.addTrainer('T-002', '13579000');
    await keys.createContentKey(clipRef('clipbbbbbbbb1'), { trainers: ['T-001'] });
    expect(await keys.unlock('13579000', 'T-002')).toBe(true);
    await expect(keys.clipIdentity('clipbbbbbbbb1')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await keys.unlock('24681000', 'T-001')).toBe(true);
    const identity = await keys.clipIdentity('clipbbbbbbbb1');
    await keys.grant(clipRef('clipbbbbbbbb1'), ['T-002']);
    expect(keys.entitled(clipRef('clipbbbbbbbb1'))).toEqual(['T-001', 'T-002']);
    expect(await keys.unlock('13579000', 'T-002')).toBe(true);
    expect(await keys.clipIdentity('clipbbbbbbbb1')).toBe(identity);
    expect(await keys.unlock('24681000', 'T-001')).toBe(true);
    expect(await keys.narrow(clipRef('clipbbbbbbbb1'), ['T-001'])).toBe('pending');
    expect(keys.pendingRotations()).toEqual(['T-002']);
    expect(await keys.unlock('13579000', 'T-002')).toBe(true);
    await expect(keys.clipIdentity('clipbbbbbbbb1')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(keys.pendingRotations()).toEqual([]);
  }, 60_000);

  it('content identities are standard age identities: the age CLI opens content with one, and the organisation opens it too', async () => {
    const dir = tmp();
    const orgFile = path.join(dir, 'org.key');
    execFileSync('age-keygen', ['-o', orgFile], { stdio: 'pipe' });
    const keys = await store(path.join(dir, 'data'), orgRecipientOf(orgFile), '24681000');
    const ref: ContentRef = { kind: 'still', id: 'stillcccccc01' };
    await keys.createContentKey(ref);
    const ct = path.join(dir, 'still.age');
    writeFileSync(ct, await encryptTo(keys.recipientsOf(ref), 'a kept still'));
    expect(await keys.unlock('24681000')).toBe(true);
    const idFile = path.join(dir, 'still.key');
    const identity = await keys.contentIdentity(ref);
    writeFileSync(idFile, identityFileText(identity, keys.recipientsOf(ref)[1]!, 'test'));
    expect(execFileSync('age', ['-d', '-i', idFile, ct]).toString()).toBe('a kept still');
    expect(execFileSync('age', ['-d', '-i', orgFile, ct]).toString()).toBe('a kept still');
    // and what the age CLI encrypts to the content recipient, the kit opens
    const fromCli = execFileSync('age', ['-r', keys.recipientsOf(ref)[1]!], { input: 'from the office' });
    expect(Buffer.from(await decryptWith(identity, fromCli)).toString()).toBe('from the office');
  });
});

/** A trainer's wrapping secret, unsealed with the PIN straight from what is on the kit (no login, no rotation). */
async function secretOf(dataDir: string, trainerId: string, pin: string): Promise<string> {
  const t = JSON.parse(readFileSync(path.join(dataDir, 'keys', 'trainers', `${trainerId}.json`), 'utf8'));
  const secret = await unseal(t.sealed, pin);
  expect(secret).toMatch(/^AGE-SECRET-KEY-1/);
  return secret!;
}
