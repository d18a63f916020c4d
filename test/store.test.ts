import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../src/core/errors.js';
import { createLogger } from '../src/core/logger.js';
import { Catalogue } from '../src/store/catalogue.js';
import { ClipStore, type ClipKeys } from '../src/store/clips.js';
import { decryptWith, encryptTo, generateIdentity, recipientOf, seal, unseal } from '../src/store/crypto.js';
import { KeyStore } from '../src/store/keys.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { filesUnder } from './helpers/media.js';

const logger = createLogger({ level: 'silent' });

/** Keys of a kit before enrolment: segments go to the organisation only. */
const orgOnly = (recipient: string): ClipKeys => ({
  recipientsFor: () => [recipient],
  createClipKey: async () => null,
  destroyClipKey: async () => 'complete',
});
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'vht-store-'));

function keygen(dir: string): { file: string; recipient: string } {
  const file = path.join(dir, 'org.key');
  execFileSync('age-keygen', ['-o', file], { stdio: 'pipe' });
  const recipient = /# public key: (age1\S+)/.exec(readFileSync(file, 'utf8'))![1]!;
  return { file, recipient };
}

describe('age interoperability', () => {
  it('the age CLI decrypts what the kit encrypts, to each of two recipients', async () => {
    const dir = tmp();
    const org = keygen(dir);
    const kit = await generateIdentity();
    const data = Buffer.from('segment payload '.repeat(10_000));
    const ct = await encryptTo([org.recipient, kit.recipient], data);
    const f = path.join(dir, 'x.ts.age');
    writeFileSync(f, ct);
    expect(execFileSync('age', ['-d', '-i', org.file, f]).equals(data)).toBe(true);
    expect(Buffer.from(await decryptWith(kit.identity, ct)).equals(data)).toBe(true);
  });

  it('the kit decrypts what the age CLI encrypts, and rejects tampered, truncated or chunk-swapped files clearly', async () => {
    const dir = tmp();
    const kit = await generateIdentity();
    const plain = path.join(dir, 'p.bin');
    writeFileSync(plain, Buffer.alloc(200_000, 7));
    const ct = execFileSync('age', ['-r', kit.recipient, plain]);
    expect(Buffer.from(await decryptWith(kit.identity, ct)).equals(readFileSync(plain))).toBe(true);

    const tampered = Buffer.from(ct);
    tampered[tampered.length - 100]! ^= 0x01;
    await expect(decryptWith(kit.identity, tampered)).rejects.toThrow(AppError);
    await expect(decryptWith(kit.identity, tampered)).rejects.toThrow(/cannot be decrypted/);
    await expect(decryptWith(kit.identity, ct.subarray(0, ct.length - 5000))).rejects.toThrow(/cannot be decrypted/);
    const other = await generateIdentity();
    await expect(decryptWith(other.identity, ct)).rejects.toThrow(/cannot be decrypted/);
    // Swap two 64 KiB STREAM chunks of the payload: each chunk's nonce counter no longer fits.
    const headerEnd = ct.indexOf(Buffer.from('\n', 'latin1'), ct.indexOf(Buffer.from('---', 'latin1'))) + 1;
    const payload = headerEnd + 16; // the 16-byte nonce of the payload key
    const chunk = 65536 + 16;
    expect(ct.length - payload).toBeGreaterThan(2 * chunk);
    const swapped = Buffer.from(ct);
    ct.subarray(payload, payload + chunk).copy(swapped, payload + chunk);
    ct.subarray(payload + chunk, payload + 2 * chunk).copy(swapped, payload);
    await expect(decryptWith(kit.identity, swapped)).rejects.toThrow(/cannot be decrypted/);
  });
});

describe('PIN-sealed playback key', () => {
  it('opens with the PIN only', async () => {
    const sealed = await seal('AGE-SECRET-KEY-1TEST', '4821');
    expect(JSON.stringify(sealed)).not.toContain('AGE-SECRET-KEY');
    expect(await unseal(sealed, '4821')).toBe('AGE-SECRET-KEY-1TEST');
    expect(await unseal(sealed, '4822')).toBeNull();
  });

  it('the key store keeps no unsealed secret on disk and answers 423 while locked', async () => {
    const dataDir = path.join(tmp(), 'data');
    const keys = new KeyStore({ dataDir, orgRecipient: null, allowDemoOrg: true, logger });
    await keys.start('4821');
    expect(keys.recipientsFor('clip000000001')).toHaveLength(1);
    const clipRecipient = await keys.createClipKey('clip000000001');
    expect(keys.recipientsFor('clip000000001')).toEqual([keys.orgRecipient, clipRecipient]);
    for (const f of filesUnder(dataDir)) expect(readFileSync(f, 'utf8')).not.toContain('AGE-SECRET-KEY-');
    await expect(keys.clipIdentity('clip000000001')).rejects.toMatchObject({ code: 'LOCKED', status: 423 });
    expect(await keys.unlock('0000')).toBe(false);
    expect(keys.unlocked).toBe(false);
    expect(await keys.unlock('4821')).toBe(true);
    const id = await keys.clipIdentity('clip000000001');
    expect(await recipientOf(id)).toBe(clipRecipient);
    keys.lock();
    expect(keys.unlocked).toBe(false);
  });

  it('a PIN change keeps clips playable; a wrong current PIN changes nothing', async () => {
    const dataDir = path.join(tmp(), 'data');
    const keys = new KeyStore({ dataDir, orgRecipient: null, allowDemoOrg: true, logger });
    await keys.start('4821');
    const r = await keys.createClipKey('clip000000002');
    const trainerFile = path.join(dataDir, 'keys', 'trainers', 'T-001.json');
    const before = readFileSync(trainerFile);
    expect(await keys.changePin('111111', '222222')).toBe(false);
    expect(readFileSync(trainerFile).equals(before)).toBe(true);
    // a new PIN has at least 6 digits; the kit's 4-digit PIN (from before) keeps working until changed
    await expect(keys.changePin('4821', '2222')).rejects.toMatchObject({ code: 'VALIDATION', field: 'new PIN' });
    expect(readFileSync(trainerFile).equals(before)).toBe(true);
    expect(await keys.changePin('4821', '222222')).toBe(true);
    expect(await keys.unlock('4821')).toBe(false);
    expect(await keys.unlock('222222')).toBe(true);
    expect(await recipientOf(await keys.clipIdentity('clip000000002'))).toBe(r);
  });

  it('makes no demo organisation key on a real profile', async () => {
    const dataDir = path.join(tmp(), 'data');
    const keys = new KeyStore({ dataDir, orgRecipient: null, allowDemoOrg: false, logger });
    await keys.start('4821');
    expect(() => keys.recipientsFor('clip000000001')).toThrow(/keys\.orgRecipient/);
    expect(existsSync(`${dataDir}-demo-org.key`)).toBe(false);
  });
});

describe('clip store and catalogue', () => {
  let dir: string;
  let org: { file: string; recipient: string };
  let catalogue: Catalogue;
  let store: ClipStore;

  beforeEach(() => {
    dir = tmp();
    org = keygen(dir);
    catalogue = new Catalogue(path.join(dir, 'catalogue.db'));
    store = new ClipStore(path.join(dir, 'data'), catalogue, orgOnly(org.recipient), logger);
  });

  it('runs each migration once', () => {
    expect(catalogue.schemaVersion).toBe(MIGRATIONS[MIGRATIONS.length - 1]!.version);
    catalogue.close();
    const again = new Catalogue(path.join(dir, 'catalogue.db'));
    expect(again.created).toBe(false);
    expect(again.schemaVersion).toBe(MIGRATIONS[MIGRATIONS.length - 1]!.version);
  });

  it('persists encrypted segments whose SHA-256 and size are in the catalogue', async () => {
    const id = store.createClip({ caseCode: 'KV-1', now: 1000, requestedAt: 1000, preRollMs: 0, originMs: 1000 });
    const row = await store.persistSegment(id, 0, Buffer.alloc(5000, 1), { startMs: 1000, durationMs: 1000, discontinuity: false });
    const file = store.segmentFile(id, 0);
    const bytes = readFileSync(file);
    expect(row.bytes).toBe(bytes.length);
    expect(catalogue.segments(id)[0]!.sha256).toBe(row.sha256);
    expect(execFileSync('age', ['-d', '-i', org.file, file]).equals(Buffer.alloc(5000, 1))).toBe(true);
    expect(readdirSync(path.dirname(file)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });

  it('segments of one take, of growing and shrinking sizes and two at once, each keep their own bytes (the encryption buffers are reused)', async () => {
    const id = store.createClip({ caseCode: null, now: 1000, requestedAt: 1000, preRollMs: 0, originMs: 1000 });
    const sizes = [300_000, 120_000, 410_000, 5, 410_000, 299_999];
    const plains = sizes.map((n, i) => Buffer.alloc(n, i + 1));
    // the first two at once (two callers; the recorder sends one at a time), then one after the other
    await Promise.all([0, 1].map((seq) => store.persistSegment(id, seq, plains[seq]!, { startMs: 1000 * (seq + 1), durationMs: 1000, discontinuity: false })));
    for (let seq = 2; seq < sizes.length; seq++) {
      await store.persistSegment(id, seq, plains[seq]!, { startMs: 1000 * (seq + 1), durationMs: 1000, discontinuity: false });
    }
    const rows = catalogue.segments(id);
    expect(rows.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const [seq, plain] of plains.entries()) {
      const file = store.segmentFile(id, seq);
      expect(rows[seq]!.bytes).toBe(readFileSync(file).length);
      expect(execFileSync('age', ['-d', '-i', org.file, file], { maxBuffer: 8 << 20 }).equals(plain)).toBe(true);
    }
  });

  it('recovers an unfinished clip from whole segments only, after a crash left debris', async () => {
    const id = store.createClip({ caseCode: null, now: 1000, requestedAt: 1000, preRollMs: 0, originMs: 1000 });
    for (let seq = 0; seq < 4; seq++) {
      await store.persistSegment(id, seq, Buffer.alloc(3000, seq), { startMs: 1000 + seq * 1000, durationMs: 1000, discontinuity: false });
    }
    store.addMarker(id, 1500, 'beurt', 2500);
    const dirOf = path.dirname(store.segmentFile(id, 0));
    // crash debris: a temp file, a journal line whose file never landed, a torn last line,
    // and a segment whose bytes do not match the journal
    writeFileSync(path.join(dirOf, '.tmp-4.ts.age-123-456'), 'partial');
    appendFileSync(
      path.join(dirOf, 'journal.jsonl'),
      JSON.stringify({ t: 'seg', seq: 4, startMs: 5000, durationMs: 1000, bytes: 9, sha256: 'ab', discontinuity: false }) + '\n{"t":"seg","se',
    );
    const f3 = store.segmentFile(id, 3);
    const b3 = readFileSync(f3);
    b3[b3.length - 1]! ^= 0xff;
    writeFileSync(f3, b3);

    const fresh = new Catalogue(path.join(dir, 'fresh.db'));
    const store2 = new ClipStore(path.join(dir, 'data'), fresh, orgOnly(org.recipient), logger);
    const { recovered, tempFilesRemoved } = store2.recover(9999);
    expect(recovered).toEqual([id]);
    expect(tempFilesRemoved).toBe(1);
    const clip = fresh.getClip(id)!;
    expect(clip.state).toBe('recovered');
    expect(fresh.segments(id).map((s) => s.seq)).toEqual([0, 1, 2]);
    expect(clip.durationMs).toBe(3000);
    expect(clip.stoppedAt).toBe(4000);
    expect(fresh.markers(id).map((m) => [m.offsetMs, m.label])).toEqual([[1500, 'beurt']]);
    expect(store2.readClipFile(id).state).toBe('recovered');
    // a second start finds nothing more to do
    expect(store2.recover(10_000).recovered).toEqual([]);
  });

  it('rebuilds the catalogue from the data dir', async () => {
    const a = store.createClip({ caseCode: 'KV-7', now: 1000, requestedAt: 1000, preRollMs: 3000, originMs: 900 });
    await store.persistSegment(a, 0, Buffer.alloc(100, 1), { startMs: 900, durationMs: 1000, discontinuity: false });
    await store.persistSegment(a, 1, Buffer.alloc(100, 2), { startMs: 1900, durationMs: 960, discontinuity: true });
    store.addMarker(a, 1200, null, 2100);
    store.finishClip(a, 'complete', 2860, 'stopped');
    const b = store.createClip({ caseCode: null, now: 5000, requestedAt: 5000, preRollMs: 3000, originMs: 4000 });
    await store.persistSegment(b, 0, Buffer.alloc(100, 3), { startMs: 4000, durationMs: 1000, discontinuity: false });
    store.finishClip(b, 'complete', 5000, 'stopped');
    store.assignCase(b, 'KV-8', { recording: true, review: true, supervision: false, training: false }, 6000);
    store.markUploaded(a, 7000);
    store.requestDelete(a, 7100, 'trainer');

    const fresh = new Catalogue(path.join(dir, 'rebuilt.db'));
    const n = new ClipStore(path.join(dir, 'data'), fresh, orgOnly(org.recipient), logger).rebuild();
    expect(n).toBe(2);
    expect(fresh.getClip(a)).toMatchObject({ uploadedAt: 7000, deleteRequestedAt: 7100, deleteReason: 'trainer' });
    for (const id of [a, b]) {
      expect({ ...fresh.getClip(id), visitId: null }).toEqual({ ...catalogue.getClip(id), visitId: null });
      expect(fresh.segments(id)).toEqual(catalogue.segments(id));
      expect(fresh.markers(id)).toEqual(catalogue.markers(id));
    }
  });

  it('refuses clip ids that could leave the clips directory', () => {
    expect(() => store.clipDir('../keys')).toThrow(/not a valid clip id/);
    expect(() => store.segmentFile('abc/../../x', 0)).toThrow(/not a valid clip id/);
  });
});
