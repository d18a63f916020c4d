// Stills (JPEG frames taken while reviewing) and markers added to finished clips: real keys
// (PIN-sealed master, one key per clip), real SQLite, real files, Debian's age CLI at the office,
// the real `dir` sync target and the office export.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../src/core/errors.js';
import { Catalogue } from '../src/store/catalogue.js';
import { decryptWith } from '../src/store/crypto.js';
import { STILL_MAX_BYTES } from '../src/core/media.js';
import { ClipStore } from '../src/store/clips.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { decryptManifest } from '../src/sync/manifest.js';
import { exportClip } from '../src/sync/export.js';
import { SyncService } from '../src/sync/service.js';
import { DirTarget, type PutOptions, type PutResult, type UploadTarget } from '../src/sync/targets.js';
import { ageDecrypt } from './helpers/media.js';
import { makeKit, realSegments, recordClip, syntheticSegments, type TestKit } from './helpers/sync-kit.js';
import { rawSql } from './helpers/raw-sql.js';

const KIT = 'kit-stills';
let root: string;
let jpeg: Buffer;

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-stills-'));
  // a real JPEG (one frame of videotestsrc), as the player's canvas would make
  const f = path.join(root, 'frame.jpg');
  execFileSync(
    'gst-launch-1.0',
    ['-q', 'videotestsrc', 'num-buffers=1', 'pattern=ball', '!', 'video/x-raw,width=320,height=240', '!', 'jpegenc', '!', 'filesink', `location=${f}`],
    { timeout: 30_000 },
  );
  jpeg = readFileSync(f);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** The AppError a call throws (sync or async), to check its code, field and message together. */
async function appError(fn: () => unknown): Promise<AppError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected an AppError, nothing was thrown');
}

async function finishedClip(kit: TestKit, caseCode: string | null = 'fam-2001', seconds = 3): Promise<string> {
  return recordClip(kit, { caseCode, segments: syntheticSegments(seconds, 4000, seconds) });
}

describe('stills', () => {
  it('are stored encrypted to the organisation and the clip key, durably, listed, and read back as ciphertext', async () => {
    const kit = await makeKit(path.join(root, 'basic'));
    expect(await kit.keys.unlock('4821')).toBe(true);
    const id = await finishedClip(kit);
    const r = await kit.clips.addStill(id, jpeg, 1500, 123_000);
    expect(r).toEqual({ id: 1, bytes: expect.any(Number) as number, createdAt: 123_000 });
    const file = kit.clips.stillFile(id, 1);
    const onDisk = readFileSync(file);
    expect(onDisk.byteLength).toBe(r.bytes);
    expect(onDisk.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(onDisk.includes(jpeg.subarray(0, 64))).toBe(false);
    // the office: Debian's age CLI with the organisation identity
    expect(ageDecrypt(kit.orgKeyFile, file).equals(jpeg)).toBe(true);
    // the kit: the clip's playback key (unlocked), from what readStill returns
    const ct = await kit.clips.readStill(id, 1);
    expect(ct.equals(onDisk)).toBe(true);
    expect(Buffer.from(await decryptWith(await kit.keys.clipIdentity(id), ct)).equals(jpeg)).toBe(true);
    expect(readdirSync(path.dirname(file)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    expect(kit.catalogue.stills(id)).toEqual([{ id: 1, timeMs: 1500, createdAt: 123_000, bytes: r.bytes }]);
    const journal = readFileSync(path.join(path.dirname(file), 'journal.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { t: string });
    expect(journal.filter((l) => l.t === 'still')).toHaveLength(1);

    // several at once (the player taking stills quickly) get their own ids and files
    const many = await Promise.all([0, 1000, 2999].map((t, i) => kit.clips.addStill(id, jpeg, t, 124_000 + i)));
    expect(many.map((m) => m.id).sort()).toEqual([2, 3, 4]);
    expect(kit.catalogue.stills(id).map((st) => st.timeMs)).toEqual([0, 1000, 1500, 2999]);
    for (const n of [2, 3, 4]) expect(ageDecrypt(kit.orgKeyFile, kit.clips.stillFile(id, n)).equals(jpeg)).toBe(true);

    // one of two stills taken at once fails after its id was handed out: the next still must not
    // reuse the id of the other one, which is still being written
    const keys = kit.keys as unknown as { recipientsFor: (c: string) => unknown };
    const real = keys.recipientsFor.bind(kit.keys);
    let calls = 0;
    keys.recipientsFor = (c: string) => {
      calls += 1;
      if (calls === 2) throw new Error('injected: the key file could not be read');
      return real(c);
    };
    const first = kit.clips.addStill(id, jpeg, 100, 125_000);
    const failing = kit.clips.addStill(id, jpeg, 200, 125_001);
    const third = kit.clips.addStill(id, jpeg, 300, 125_002);
    await expect(failing).rejects.toThrow(/injected/);
    keys.recipientsFor = real;
    const ids = [(await first).id, (await third).id];
    expect(new Set(ids).size).toBe(2);
    expect(
      kit.catalogue
        .stills(id)
        .map((st) => st.id)
        .sort((a, b) => a - b),
    ).toEqual([1, 2, 3, 4, ...ids].sort((a, b) => a - b));

    const missing = await appError(() => kit.clips.readStill(id, 9));
    expect([missing.code, missing.field]).toEqual(['NOT_FOUND', 'stillId']);
    expect(missing.message).toContain('9');
    // listed, but its file went (a deletion between look-up and read): 404, not a crash
    rmSync(kit.clips.stillFile(id, 4));
    const vanished = await appError(() => kit.clips.readStill(id, 4));
    expect(vanished.message).toContain('4');
    expect([vanished.code, vanished.field]).toEqual(['NOT_FOUND', 'stillId']);
  });

  it('refuses what is not a JPEG, too big, outside the clip, of an unknown clip or of a clip to be deleted, naming the field and value', async () => {
    const kit = await makeKit(path.join(root, 'invalid'));
    const id = await finishedClip(kit); // 3000 ms
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    let e = await appError(() => kit.clips.addStill(id, png, 10, 1));
    expect([e.code, e.field]).toEqual(['VALIDATION', 'jpeg']);
    expect(e.message).toContain('89504e');
    e = await appError(() => kit.clips.addStill(id, Buffer.alloc(0), 10, 1));
    expect(e.message).toContain('(empty)');
    const big = Buffer.alloc(STILL_MAX_BYTES + 1, 0);
    jpeg.copy(big);
    e = await appError(() => kit.clips.addStill(id, big, 10, 1));
    expect([e.code, e.field]).toEqual(['VALIDATION', 'jpeg']);
    expect(e.message).toContain(String(STILL_MAX_BYTES + 1));
    // exactly 2 MiB is fine
    const max = Buffer.alloc(STILL_MAX_BYTES, 0);
    jpeg.copy(max);
    expect((await kit.clips.addStill(id, max, 10, 1)).id).toBe(1);
    for (const t of [-1, 3001, Number.NaN, Infinity]) {
      e = await appError(() => kit.clips.addStill(id, jpeg, t, 1));
      expect([e.code, e.field]).toEqual(['VALIDATION', 'timeMs']);
      expect(e.message).toMatch(t === 3001 ? /3001 is outside the clip \(0–3000 ms\)/ : /timeMs/);
    }
    e = await appError(() => kit.clips.addStill('zzzzzzzzzzzz', jpeg, 0, 1));
    expect([e.code, e.message]).toEqual(['NOT_FOUND', 'no clip with id "zzzzzzzzzzzz"']);
    e = await appError(() => kit.clips.addStill('../keys', jpeg, 0, 1));
    expect(e.code).toBe('VALIDATION');
    expect(e.message).toContain('"../keys"');
    kit.clips.requestDelete(id, 5, 'consent withdrawn');
    e = await appError(() => kit.clips.addStill(id, jpeg, 0, 1));
    expect([e.code, e.field]).toEqual(['CONFLICT', 'clipId']);
    // nothing of the refused stills reached the card or the catalogue
    expect(kit.catalogue.stills(id).map((st) => st.id)).toEqual([1]);
    expect(readdirSync(path.dirname(kit.clips.stillFile(id, 1))).filter((n) => n.startsWith('still-'))).toEqual(['still-1.jpg.age']);
  });

  it('come back when the catalogue is rebuilt from the files; a damaged still is left out', async () => {
    const kit = await makeKit(path.join(root, 'rebuild'));
    const id = await finishedClip(kit);
    await kit.clips.addStill(id, jpeg, 500, 10);
    await kit.clips.addStill(id, jpeg, 2500, 11);
    await kit.clips.addStill(id, jpeg, 2600, 12);
    kit.clips.addMarker(id, 2750, 'beurt', 13);
    const f3 = kit.clips.stillFile(id, 3);
    const b = readFileSync(f3);
    b[b.length - 1]! ^= 0xff;
    writeFileSync(f3, b);

    const fresh = new Catalogue(path.join(kit.dir, 'rebuilt.db'));
    const store2 = new ClipStore(kit.dataDir, fresh, kit.keys, kit.logger);
    expect(store2.rebuild()).toBe(1);
    expect(fresh.stills(id)).toEqual(kit.catalogue.stills(id).filter((st) => st.id !== 3));
    expect(fresh.stillRows(id)).toEqual(kit.catalogue.stillRows(id).filter((st) => st.id !== 3));
    expect(fresh.markers(id)).toEqual(kit.catalogue.markers(id));
    // the damaged still's id is given again (its file replaced); the good ones keep theirs
    expect((await store2.addStill(id, jpeg, 100, 20)).id).toBe(3);
    expect(ageDecrypt(kit.orgKeyFile, store2.stillFile(id, 3)).equals(jpeg)).toBe(true);
    fresh.close();
  });

  it('go with their clip: files, rows and the clip key (crypto-erase covers them)', async () => {
    const kit = await makeKit(path.join(root, 'delete'));
    expect(await kit.keys.unlock('4821')).toBe(true);
    const id = await finishedClip(kit);
    await kit.clips.addStill(id, jpeg, 1000, 1);
    const copy = readFileSync(kit.clips.stillFile(id, 1));
    // encrypted to exactly two recipients: the organisation and this clip's key
    const stanzas = copy
      .toString('latin1')
      .split('\n')
      .filter((l) => l.startsWith('-> X25519 '));
    expect(stanzas).toHaveLength(2);
    const clipIdentity = await kit.keys.clipIdentity(id);
    expect(Buffer.from(await decryptWith(clipIdentity, copy)).equals(jpeg)).toBe(true);
    expect(await kit.clips.deleteClip(id)).toBe('complete');
    expect(existsSync(path.dirname(kit.clips.stillFile(id, 1)))).toBe(false);
    expect(kit.catalogue.stills(id)).toEqual([]);
    expect(rawSql.get(kit.catalogue, 'SELECT COUNT(*) AS n FROM stills')).toEqual({ n: 0 });
    // no key left on the kit opens a copy of the still taken before the deletion
    const gone = await appError(() => kit.keys.clipIdentity(id));
    expect(gone.code).toBe('NOT_FOUND');
  });
});

describe('markers added while reviewing a finished clip', () => {
  it('must lie within the clip, are journalled (rebuild keeps them) and reopen an uploaded clip', async () => {
    const kit = await makeKit(path.join(root, 'markers'));
    const id = await finishedClip(kit); // 3000 ms
    const m1 = kit.clips.addMarker(id, 0, 'initiatief kind', 100);
    const m2 = kit.clips.addMarker(id, 2999.6, null, 101);
    expect(kit.catalogue.markers(id).map((m) => [m.id, m.offsetMs, m.label])).toEqual([
      [m1, 0, 'initiatief kind'],
      [m2, 3000, null],
    ]);
    for (const off of [-1, 3001, Number.NaN]) {
      const e = await appError(() => kit.clips.addMarker(id, off, null, 1));
      expect([e.code, e.field]).toEqual(['VALIDATION', 'offsetMs']);
      if (off === 3001) expect(e.message).toBe('marker offsetMs 3001 is outside the clip (0–3000 ms)');
    }
    const unknown = await appError(() => kit.clips.addMarker('abcdefghij12', 10, null, 1));
    expect([unknown.code, unknown.field]).toEqual(['NOT_FOUND', 'clipId']);
    const long = await appError(() => kit.clips.addMarker(id, 10, 'x'.repeat(65), 1));
    expect(long.field).toBe('label');

    // an uploaded clip with a new marker goes to the organisation again (files and catalogue)
    kit.clips.markUploaded(id, 5000);
    kit.clips.addMarker(id, 1000, 'beurt', 102);
    expect(kit.catalogue.getClip(id)!.uploadedAt).toBeNull();
    expect(kit.clips.readClipFile(id).uploadedAt).toBeNull();

    const fresh = new Catalogue(path.join(kit.dir, 'rebuilt.db'));
    new ClipStore(kit.dataDir, fresh, kit.keys, kit.logger).rebuild();
    expect(fresh.markers(id)).toEqual(kit.catalogue.markers(id));
    expect(fresh.getClip(id)!.uploadedAt).toBeNull();
    fresh.close();
  });
});

describe('office sync and export of stills', () => {
  it('uploads stills with the segments, lists them in the manifest, re-uploads a clip that got a still after its upload, and the export writes them as .jpg', async () => {
    const kit = await makeKit(path.join(root, 'sync'));
    const share = path.join(root, 'share');
    mkdirSync(share);
    const segs = realSegments(path.join(root, 'media'), 3);
    const id = await recordClip(kit, { caseCode: 'fam-2101', segments: segs, markers: [{ offsetMs: 1000, label: 'ontvangst' }] });
    await kit.clips.addStill(id, jpeg, 1200, 77);
    const svc = new SyncService({
      catalogue: kit.catalogue,
      clips: kit.clips,
      target: new DirTarget({ path: share }),
      kitId: KIT,
      orgRecipient: kit.orgRecipient,
      clock: kit.clock,
      logger: kit.logger,
      retry: { attempts: 2, baseMs: 10, maxMs: 20 },
      exportAudit: false,
    });
    expect((await svc.runOnce()).uploaded).toEqual([id]);
    const clipDir = path.join(share, KIT, 'clips', id);
    expect(readdirSync(clipDir).sort()).toEqual([...segs.map((_s, i) => `${i}.ts.age`), 'manifest.json.age', 'still-1.jpg.age'].sort());
    expect(ageDecrypt(kit.orgKeyFile, path.join(clipDir, 'still-1.jpg.age')).equals(jpeg)).toBe(true);
    const identity = readFileSync(kit.orgKeyFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('AGE-SECRET-KEY-'))!;
    let manifest = await decryptManifest([identity], readFileSync(path.join(clipDir, 'manifest.json.age')));
    expect(manifest.stills).toEqual([
      {
        id: 1,
        object: 'still-1.jpg.age',
        sha256: kit.catalogue.stillRows(id)[0]!.sha256,
        bytes: kit.catalogue.stillRows(id)[0]!.bytes,
        timeMs: 1200,
        createdAt: 77,
      },
    ]);
    const confirmedKinds = rawSql.all(kit.catalogue, 'SELECT kind, COUNT(*) AS n FROM sync_objects WHERE clip_id = ? GROUP BY kind ORDER BY kind', id);
    expect(confirmedKinds).toEqual([
      { kind: 'manifest', n: 1 },
      { kind: 'segment', n: segs.length },
      { kind: 'still', n: 1 },
    ]);

    // a still taken after the upload: the clip is pending again; only the still and a new manifest go
    await kit.clips.addStill(id, jpeg, 2000, 78);
    expect(kit.catalogue.getClip(id)!.uploadedAt).toBeNull();
    const before = rawSql.get(kit.catalogue, 'SELECT COUNT(*) AS n FROM sync_objects') as { n: number };
    const r2 = await svc.runOnce();
    expect(r2.uploaded).toEqual([id]);
    expect(rawSql.get(kit.catalogue, 'SELECT COUNT(*) AS n FROM sync_objects')).toEqual({ n: before.n + 1 });
    manifest = await decryptManifest([identity], readFileSync(path.join(clipDir, 'manifest.json.age')));
    expect(manifest.stills!.map((st) => [st.id, st.timeMs])).toEqual([
      [1, 1200],
      [2, 2000],
    ]);

    const out = path.join(root, 'export', 'visit.mp4');
    const res = await exportClip({ identityFile: kit.orgKeyFile, from: share, clipId: id, out });
    expect(res.stills).toEqual([path.join(root, 'export', 'visit-still-1.jpg'), path.join(root, 'export', 'visit-still-2.jpg')]);
    for (const f of res.stills) expect(readFileSync(f).equals(jpeg)).toBe(true);
    expect(existsSync(res.mp4)).toBe(true);

    // a damaged still at the office stops the export and is named
    const damaged = readFileSync(path.join(clipDir, 'still-2.jpg.age'));
    damaged[damaged.length - 1]! ^= 1;
    writeFileSync(path.join(clipDir, 'still-2.jpg.age'), damaged);
    await expect(exportClip({ identityFile: kit.orgKeyFile, from: share, clipId: id, out: path.join(root, 'export2', 'v.mp4') })).rejects.toThrow(
      /still 2 of clip .* does not match the manifest/,
    );
    expect(existsSync(path.join(root, 'export2'))).toBe(false);
  }, 60_000);
});

/** A hook of HookedTarget: `before` a put is sent, or `after` it is stored and before the kit hears so. */
type PutHook = (key: string, when: 'before' | 'after') => Promise<void> | void;

/** The `dir` target with a hook around each put (to change the clip mid-upload). */
class HookedTarget implements UploadTarget {
  readonly kind = 'dir' as const;
  readonly keys: string[] = [];
  constructor(
    private readonly inner: DirTarget,
    private readonly hook: PutHook,
  ) {}
  get id(): string {
    return this.inner.id;
  }
  async put(key: string, body: Uint8Array, opts: PutOptions): Promise<PutResult> {
    await this.hook(key, 'before');
    const r = await this.inner.put(key, body, opts);
    this.keys.push(key);
    await this.hook(key, 'after');
    return r;
  }
  close(): void {
    this.inner.close();
  }
}

describe('a clip that changes while it is uploaded', () => {
  const setUp = async (name: string, hook: (kit: TestKit, id: string, key: string, when: 'before' | 'after') => Promise<void> | void) => {
    const kit = await makeKit(path.join(root, name));
    const share = path.join(root, `${name}-share`);
    mkdirSync(share);
    const id = await finishedClip(kit, 'fam-2201', 3);
    const target = new HookedTarget(new DirTarget({ path: share }), (key, when) => hook(kit, id, key, when));
    const svc = new SyncService({
      catalogue: kit.catalogue,
      clips: kit.clips,
      target,
      kitId: KIT,
      orgRecipient: kit.orgRecipient,
      clock: kit.clock,
      logger: kit.logger,
      retry: { attempts: 2, baseMs: 10, maxMs: 20 },
      exportAudit: false,
    });
    const identity = readFileSync(kit.orgKeyFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('AGE-SECRET-KEY-'))!;
    const clipDir = path.join(share, KIT, 'clips', id);
    const orgManifest = () => decryptManifest([identity], readFileSync(path.join(clipDir, 'manifest.json.age')));
    return { kit, id, target, svc, clipDir, orgManifest };
  };
  const manifests = (keys: string[]) => keys.filter((k) => k.endsWith('manifest.json.age')).length;

  it('a still taken during the upload goes up before the clip is marked uploaded', async () => {
    let taken = false;
    const { kit, id, target, svc, clipDir, orgManifest } = await setUp('still-mid', async (kit, id, key, when) => {
      if (taken || when !== 'before' || !key.endsWith('/1.ts.age')) return;
      taken = true;
      await kit.clips.addStill(id, jpeg, 500, 90); // the trainer reviews at the office while the kit uploads
    });
    const r = await svc.runOnce();
    expect(r.error).toBeUndefined();
    expect(r.uploaded).toEqual([id]);
    expect(readdirSync(clipDir).sort()).toEqual(['0.ts.age', '1.ts.age', '2.ts.age', 'manifest.json.age', 'still-1.jpg.age']);
    expect(ageDecrypt(kit.orgKeyFile, path.join(clipDir, 'still-1.jpg.age')).equals(jpeg)).toBe(true);
    expect((await orgManifest()).stills!.map((st) => st.id)).toEqual([1]);
    expect(kit.catalogue.getClip(id)!.uploadedAt).not.toBeNull();
    // the first round's manifest already listed the still (taken before it was built), but the still
    // itself had not gone: a second round sent it; the manifest, unchanged, did not go again
    // (segments go two at a time, so their order varies)
    const sent = target.keys.map((k) => path.basename(k));
    expect(sent.slice(0, 3).sort()).toEqual(['0.ts.age', '1.ts.age', '2.ts.age']);
    expect(sent.slice(3)).toEqual(['manifest.json.age', 'still-1.jpg.age']);
    const audit = rawSql.all(kit.catalogue, "SELECT details FROM audit_events WHERE type = 'upload.confirmed' AND clip_id = ?", id) as { details: string }[];
    expect(audit.map((a) => JSON.parse(a.details).stills)).toEqual([1]);
  });

  it('a still that is written while the clip is marked uploaded reopens the clip, and the next run sends it', async () => {
    let taking = null as Promise<unknown> | null; // set in a callback: no narrowing to null
    const { kit, id, svc, clipDir, orgManifest } = await setUp('still-at-mark', (kit, id, key, when) => {
      // started once the manifest is stored: the kit's final check and mark follow without an
      // await, while the still is still being encrypted and written
      if (!taking && when === 'after' && key.endsWith('manifest.json.age')) taking = kit.clips.addStill(id, jpeg, 700, 93);
    });
    const r = await svc.runOnce();
    expect(r.uploaded).toEqual([id]); // the clip as it was then
    await taking;
    expect(kit.catalogue.stillRows(id).map((st) => st.id)).toEqual([1]);
    expect(kit.catalogue.getClip(id)!.uploadedAt).toBeNull(); // reopened: retention must not take it
    expect(kit.clips.readClipFile(id).uploadedAt).toBeNull();
    expect(svc.progress.pending).toBe(0); // counted when the run ended
    svc.recount(); // what the kit does on clip.updated
    expect(svc.progress.pending).toBe(1);
    const r2 = await svc.runOnce();
    expect(r2.uploaded).toEqual([id]);
    expect(readdirSync(clipDir)).toContain('still-1.jpg.age');
    expect((await orgManifest()).stills!.map((st) => st.timeMs)).toEqual([700]);
    expect(kit.catalogue.getClip(id)!.uploadedAt).not.toBeNull();
  });

  it('a marker added while the manifest goes up is in the manifest the organisation keeps', async () => {
    let marked = false;
    const { kit, id, target, svc, orgManifest } = await setUp('marker-mid', (kit, id, key, when) => {
      if (marked || when !== 'before' || !key.endsWith('manifest.json.age')) return;
      marked = true;
      kit.clips.addMarker(id, 1500, 'benoemen', 91);
    });
    const r = await svc.runOnce();
    expect(r.uploaded).toEqual([id]);
    expect((await orgManifest()).markers).toEqual([{ offsetMs: 1500, label: 'benoemen' }]);
    expect(manifests(target.keys)).toBe(2);
    expect(kit.catalogue.getClip(id)!.uploadedAt).not.toBeNull();
  });

  it('a clip that keeps changing is left unmarked for the next run, which confirms it', async () => {
    let changing = true;
    let n = 0;
    const { kit, id, target, svc, orgManifest } = await setUp('busy', (kit, id, key, when) => {
      if (changing && when === 'before' && key.endsWith('manifest.json.age')) kit.clips.addMarker(id, 100 * ++n, null, 92);
    });
    const r = await svc.runOnce();
    expect(r.error).toBeUndefined();
    expect(r.uploaded).toEqual([]);
    expect(r.deferred).toEqual([id]);
    expect(manifests(target.keys)).toBe(3);
    expect(kit.catalogue.getClip(id)!.uploadedAt).toBeNull();
    expect(svc.progress.pending).toBe(1);
    expect(svc.progress.state).toBe('done');
    expect(svc.progress.lastSuccessAt).toBeUndefined(); // not everything is confirmed
    changing = false;
    const r2 = await svc.runOnce();
    expect(r2.uploaded).toEqual([id]);
    expect(r2.deferred).toEqual([]);
    expect(svc.progress.lastSuccessAt).toBeDefined();
    expect((await orgManifest()).markers.map((m) => m.offsetMs)).toEqual([100, 200, 300]);
    expect(kit.catalogue.getClip(id)!.uploadedAt).not.toBeNull();
  });
});

describe('catalogue clip totals (migration 5)', () => {
  it('keep duration, segment count and bytes equal to the sums of the segments through insert, re-insert and delete', async () => {
    const kit = await makeKit(path.join(root, 'totals'));
    const id = await finishedClip(kit, 'fam-2201', 4);
    const sums = () =>
      rawSql.get(
        kit.catalogue,
        'SELECT COALESCE(SUM(duration_ms), 0) AS d, COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM segments WHERE clip_id = ?',
        id,
      ) as { d: number; n: number; b: number };
    const totals = () => {
      const c = kit.catalogue.getClip(id)!;
      return { d: c.durationMs, n: c.segmentCount, b: c.bytes };
    };
    expect(totals()).toEqual(sums());
    expect(totals().n).toBe(4);
    // the same segment written again (a retry) replaces it, it does not count twice
    kit.catalogue.insertSegment({ ...kit.catalogue.segments(id)[1]!, durationMs: 960, bytes: 123 });
    expect(totals()).toEqual(sums());
    expect(totals().n).toBe(4);
    rawSql.run(kit.catalogue, 'DELETE FROM segments WHERE clip_id = ? AND seq = 3', id);
    expect(totals()).toEqual(sums());
    // a clip listed in a page has the same totals as the clip read alone
    expect(kit.catalogue.listClips(10, 0).find((c) => c.id === id)).toEqual(kit.catalogue.getClip(id));
    // a rebuilt catalogue computes them from the journal again
    const fresh = new Catalogue(path.join(kit.dir, 'rebuilt.db'));
    new ClipStore(kit.dataDir, fresh, kit.keys, kit.logger).rebuild();
    const rebuilt = fresh.getClip(id)!;
    expect(rebuilt.segmentCount).toBe(4);
    expect(rebuilt.durationMs).toBe(4000);
    fresh.close();
  });
});

describe('catalogue migration 4', () => {
  it('adds the stills table and keeps every confirmed sync object, now allowing still objects', () => {
    const dir = path.join(root, 'migrate');
    mkdirSync(dir);
    const file = path.join(dir, 'catalogue.db');
    const db = new Database(file);
    for (const m of MIGRATIONS.filter((x) => x.version <= 3)) {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }
    db.prepare("INSERT INTO clips (id, state, created_at, requested_at, pre_roll_ms) VALUES ('abcdefghij01', 'complete', 1, 1, 0)").run();
    db.prepare("INSERT INTO sync_objects VALUES ('dir:/x', 'k/clips/abcdefghij01/0.ts.age', 'abcdefghij01', 'segment', 0, 'aa', 'bb', 10, 5)").run();
    expect(() => db.prepare("INSERT INTO sync_objects VALUES ('dir:/x', 'k/s', 'abcdefghij01', 'still', 1, 'aa', 'bb', 10, 5)").run()).toThrow(/CHECK/);
    db.close();
    const cat = new Catalogue(file);
    expect(cat.schemaVersion).toBe(MIGRATIONS[MIGRATIONS.length - 1]!.version);
    expect(rawSql.all(cat, 'SELECT target, key, kind, seq FROM sync_objects')).toEqual([
      { target: 'dir:/x', key: 'k/clips/abcdefghij01/0.ts.age', kind: 'segment', seq: 0 },
    ]);
    rawSql.run(cat, "INSERT INTO sync_objects VALUES ('dir:/x', 'k/s', 'abcdefghij01', 'still', 1, 'aa', 'bb', 10, 5)");
    // the clip's sync rows and stills still go with the clip
    cat.insertStill({ clipId: 'abcdefghij01', id: 1, timeMs: 0, bytes: 1, sha256: 'cc', createdAt: 1 });
    cat.deleteClipRows('abcdefghij01');
    expect(rawSql.get(cat, 'SELECT COUNT(*) AS n FROM sync_objects')).toEqual({ n: 0 });
    expect(rawSql.get(cat, 'SELECT COUNT(*) AS n FROM stills')).toEqual({ n: 0 });
    cat.close();
  });
});
