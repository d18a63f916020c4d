// Issue 20: footage follows the trainer. Kit A records a take of T-017's case and uploads it with the
// content key sealed to T-017's inbox on kit B; kit B (docked, T-017 signed in) fetches it from the
// real S3 server (OpenStack Swift), reading kit A's bucket through a Swift container ACL, verified
// against the manifest's SHA-256 before it counts. Real store code, real age, real SQLite.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/logger.js';
import { Catalogue } from '../src/store/catalogue.js';
import { ClipStore } from '../src/store/clips.js';
import { decryptWith } from '../src/store/crypto.js';
import { KeyStore } from '../src/store/keys.js';
import { DirectoryCache, directoryKey, uploadOutbox, type DirectoryEntry } from '../src/sync/fetch-directory.js';
import { S3FetchSource, TrainerFetch, type FetchSource } from '../src/sync/fetch.js';
import { SyncService } from '../src/sync/service.js';
import { S3Target } from '../src/sync/targets.js';
import { SwiftServer } from './helpers/swift.js';
import { ALL_CONSENT, syntheticSegments } from './helpers/sync-kit.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const logger = createLogger({ level: process.env.VHT_TEST_LOG === '1' ? 'debug' : 'silent' });
const BUCKET_A = 'vht-org-kit-a';
const OFFICE = 'vht-org-office';
let root: string;
let swift: SwiftServer;
let orgRecipient: string;
let orgKeyFile: string;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-fetch-'));
  swift = await SwiftServer.create(path.join(root, 'swift'));
  orgKeyFile = path.join(root, 'org.key');
  execFileSync('age-keygen', ['-o', orgKeyFile], { stdio: 'pipe' });
  orgRecipient = /# public key: (age1\S+)/.exec(readFileSync(orgKeyFile, 'utf8'))![1]!;
}, 600_000);

afterAll(async () => {
  await swift?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

interface Kit {
  kitId: string;
  dataDir: string;
  keys: KeyStore;
  catalogue: Catalogue;
  clips: ClipStore;
  directory: DirectoryCache;
}

async function kit(kitId: string, trainers: [string, string][]): Promise<Kit> {
  const dataDir = path.join(root, kitId);
  mkdirSync(dataDir, { recursive: true });
  const directory = new DirectoryCache(dataDir, kitId);
  const keys = new KeyStore({ dataDir, orgRecipient, allowDemoOrg: false, logger, outboxRecipients: (t) => directory.otherKitsOf(t) });
  await keys.start(null);
  for (const [t, pin] of trainers) await keys.addTrainer(t, pin);
  const catalogue = new Catalogue(path.join(dataDir, 'catalogue.db'));
  return { kitId, dataDir, keys, catalogue, clips: new ClipStore(dataDir, catalogue, keys, logger), directory };
}

function entry(k: Kit, bucket: string, trainers: string[]): string {
  const e: DirectoryEntry = {
    format: 'vht-kit.directory-kit',
    v: 1,
    kitId: k.kitId,
    team: 'team-1',
    bucket,
    trainers: Object.fromEntries(trainers.map((t) => [t, { inboxRecipient: k.keys.inboxRecipient(t)! }])),
  };
  return JSON.stringify(e);
}

/** Sets a Swift container ACL (read) for the kit B user through the Swift API (Swift's S3 API has no bucket policies). */
async function grantRead(bucket: string, user: string): Promise<void> {
  const auth = await fetch(`${swift.endpoint}/auth/v1.0`, { headers: { 'X-Auth-User': swift.admin.accessKeyId, 'X-Auth-Key': swift.admin.secretAccessKey } });
  const r = await fetch(`${auth.headers.get('x-storage-url')}/${bucket}`, {
    method: 'POST',
    headers: { 'X-Auth-Token': auth.headers.get('x-auth-token')!, 'X-Container-Read': user },
  });
  expect(r.status).toBe(204);
}

/** A FetchSource that counts the objects it reads (to see what a resumed fetch reads again). */
function counting(inner: FetchSource): FetchSource & { gets: string[] } {
  const gets: string[] = [];
  return { gets, list: (b, p) => inner.list(b, p), get: (b, k) => (gets.push(k), inner.get(b, k)), close: () => inner.close() };
}

/** Kit A docks: its clips (each manifest also to the clip's key) and its outbox go to kit A's bucket; what was uploaded and how many keys were sent. */
async function dockA(a: Kit): Promise<{ uploaded: string[]; sent: number }> {
  const target = new S3Target({
    endpoint: swift.endpoint,
    region: swift.region,
    bucket: BUCKET_A,
    prefix: '',
    ...swift.admin,
    clock: systemClock,
    requestTimeoutMs: 10_000,
  });
  try {
    const sync = new SyncService({
      catalogue: a.catalogue,
      clips: a.clips,
      target,
      kitId: 'kit-a',
      orgRecipient,
      clock: systemClock,
      logger,
      manifestAlso: (id) => a.keys.recipientsFor(id).slice(1),
    });
    const { uploaded } = await sync.runOnce();
    return { uploaded, sent: await uploadOutbox(a.dataDir, 'kit-a', target, (f) => rmSync(f)) };
  } finally {
    target.close();
  }
}

describe('footage follows the trainer to another kit of the team', () => {
  let a: Kit;
  let b: Kit;
  let clipId = '';
  const plaintext = syntheticSegments(4, 20_000, 7);
  let team: DirectoryEntry[] = [];

  beforeAll(async () => {
    a = await kit('kit-a', [['T-017', '170017']]);
    b = await kit('kit-b', [
      ['T-017', '171717'],
      ['T-018', '180018'],
    ]);
    // the office publishes the directory; both kits read it at the dock
    await swift.createBucket(OFFICE);
    await swift.createBucket(BUCKET_A);
    const texts = [entry(a, BUCKET_A, ['T-017']), entry(b, 'vht-org-kit-b', ['T-017', 'T-018'])];
    for (const t of texts) await swift.put(OFFICE, directoryKey(JSON.parse(t).kitId), Buffer.from(t));
    const published = await Promise.all(['kit-a', 'kit-b'].map(async (k) => (await swift.get(OFFICE, directoryKey(k))).toString('utf8')));
    a.directory.save(published);
    b.directory.save(published);
    team = b.directory.entries();

    // kit A: T-017 signs in, makes case GZ-1701 and records a take (its key goes to T-017's inbox on kit B)
    expect(await a.keys.unlock('170017', 'T-017')).toBe(true);
    const now = Date.now();
    a.catalogue.insertCase('GZ-1701', 'k-vht', ALL_CONSENT, now);
    a.catalogue.addCaseTrainers('GZ-1701', ['T-017'], now);
    clipId = a.clips.createClip({ caseCode: 'GZ-1701', now, requestedAt: now, preRollMs: 0, originMs: now, consent: ALL_CONSENT });
    await a.clips.prepareKey(clipId);
    for (const [seq, s] of plaintext.entries())
      await a.clips.persistSegment(clipId, seq, s.data, { startMs: now + seq * 1000, durationMs: 1000, discontinuity: false });
    a.clips.finishClip(clipId, 'complete', now + 4000, 'stopped');
    a.keys.lock();

    // kit A docks: the clip (manifest also to the clip's key) and the outbox go to kit A's bucket, while locked
    expect(await dockA(a)).toEqual({ uploaded: [clipId], sent: 1 });
  }, 120_000);

  function fetcher(source: FetchSource, extra: { budgetBytes?: number; retentionMs?: number } = {}): TrainerFetch {
    return new TrainerFetch({
      source,
      kitId: 'kit-b',
      dataDir: b.dataDir,
      keys: b.keys,
      catalogue: b.catalogue,
      clock: systemClock,
      logger,
      budgetBytes: extra.budgetBytes ?? 50_000_000,
      hasRoom: () => true,
      retentionMs: extra.retentionMs ?? 14 * 24 * 3600_000,
    });
  }
  const bSource = () => new S3FetchSource({ endpoint: swift.endpoint, region: swift.region, ...swift.writer });

  it("kit B's credential cannot read kit A's bucket until the office grants its team read (a Swift container ACL)", async () => {
    expect(await b.keys.unlock('171717', 'T-017')).toBe(true);
    const src = bSource();
    const r = await fetcher(src)
      .run(team)
      .catch((e: unknown) => e);
    expect(String(r)).toMatch(/listing s3:\/\/vht-org-kit-a\/kit-a\/outbox\/T-017\/kit-b\/ failed.*read on that bucket/);
    await grantRead(BUCKET_A, swift.writer.accessKeyId);
    src.close();
  });

  it('refuses a segment whose SHA-256 does not match the manifest (nothing counts), then resumes without reading good segments again', async () => {
    const key = `kit-a/clips/${clipId}/2.ts.age`;
    const good = await swift.get(BUCKET_A, key);
    await swift.put(BUCKET_A, key, Buffer.concat([good.subarray(0, 100), Buffer.alloc(good.length - 100, 1)]));
    const first = counting(bSource());
    const bad = await fetcher(first).run(team);
    expect(bad.fetched).toEqual([]);
    expect(bad.failed[0]!.message).toMatch(new RegExp(`clip ${clipId} segment 2: SHA-256 .* does not match the manifest`));
    expect(b.catalogue.getClip(clipId)).toBeUndefined();
    await swift.put(BUCKET_A, key, good);
    const onCard = readdirSync(path.join(b.dataDir, 'clips', clipId)).filter((n) => n.endsWith('.ts.age'));
    expect(onCard.length).toBeGreaterThan(0);
    expect(onCard).not.toContain('2.ts.age');
    const second = counting(bSource());
    const ok = await fetcher(second).run(team);
    expect(ok.fetched).toEqual([clipId]);
    // the segments on the card already (verified) are not read again
    const expected = ['0', '1', '2', '3'].map((n) => `${n}.ts.age`).filter((n) => !onCard.includes(n));
    expect(second.gets.filter((k) => k.endsWith('.ts.age')).sort()).toEqual(expected.map((n) => `kit-a/clips/${clipId}/${n}`));
    first.close();
    second.close();
  });

  it('the fetched take is T-017s on kit B: in their case, playable with their key, confirmed at the original time; again = nothing to do', async () => {
    const clip = b.catalogue.getClip(clipId)!;
    expect(clip).toMatchObject({ caseCode: 'GZ-1701', state: 'complete', segmentCount: 4, stopReason: 'fetched' });
    expect(clip.uploadedAt).toBeGreaterThan(0);
    // S3 Last-Modified has whole seconds, and Swift rounds it up: the kit takes the earlier of it and its own time
    expect(clip.uploadedAt).toBeLessThanOrEqual(Date.now());
    expect(b.catalogue.caseTrainers('GZ-1701')).toEqual(['T-017']);
    const identity = await b.keys.clipIdentity(clipId);
    for (const [seq, s] of plaintext.entries()) {
      const ct = readFileSync(b.clips.segmentFile(clipId, seq));
      expect((await decryptWith(identity, ct)).equals(s.data)).toBe(true);
      // the organisation reads the copy too
      expect(execFileSync('age', ['-d', '-i', orgKeyFile], { input: ct }).equals(s.data)).toBe(true);
    }
    expect(
      b.catalogue
        .auditEvents()
        .filter((e) => e.type === 'clip.fetched')
        .map((e) => e.clipId),
    ).toEqual([clipId]);
    const src = bSource();
    const again = await fetcher(src).run(team);
    expect(again.skipped).toEqual([{ clipId, why: 'have' }]);
    src.close();
  });

  it('T-018 on kit B gets no key for it: nothing in their inbox, and the key file has no wrap for them', async () => {
    b.keys.lock();
    expect(await b.keys.unlock('180018', 'T-018')).toBe(true);
    await expect(b.keys.clipIdentity(clipId)).rejects.toThrow(/not shared with trainer T-018/);
    const src = bSource();
    const r = await fetcher(src).run(team);
    expect(r).toMatchObject({ fetched: [], failed: [], skipped: [] });
    expect(b.keys.entitled({ kind: 'clip', id: clipId })).toEqual(['T-017']);
    src.close();
    b.keys.lock();
  });

  it('keeps within the size budget and the retention: a clip past its analysis period or bigger than the budget is not fetched', async () => {
    const c = await kit('kit-c', [['T-017', '171717']]);
    const texts = [entry(a, BUCKET_A, ['T-017']), entry(c, 'vht-org-kit-c', ['T-017'])];
    c.directory.save(texts);
    // kit A sends the same key to kit C as well (a grant re-sends it to every other kit of T-017's)
    a.directory.save(texts);
    expect(await a.keys.unlock('170017', 'T-017')).toBe(true);
    await a.keys.grant({ kind: 'clip', id: clipId }, ['T-017']);
    a.keys.lock();
    expect(await dockA(a)).toEqual({ uploaded: [], sent: 1 });
    expect(await c.keys.unlock('171717', 'T-017')).toBe(true);
    const src = bSource();
    const mk = (extra: { budgetBytes?: number; retentionMs?: number }) =>
      new TrainerFetch({
        source: src,
        kitId: 'kit-c',
        dataDir: c.dataDir,
        keys: c.keys,
        catalogue: c.catalogue,
        clock: systemClock,
        logger,
        budgetBytes: extra.budgetBytes ?? 1e9,
        hasRoom: () => true,
        retentionMs: extra.retentionMs ?? 1e12,
      });
    expect((await mk({ retentionMs: 0 }).run(c.directory.entries())).skipped).toEqual([{ clipId, why: 'expired' }]);
    expect((await mk({ budgetBytes: 50_000 }).run(c.directory.entries())).skipped).toEqual([{ clipId, why: 'budget' }]);
    const noRoom = new TrainerFetch({
      source: src,
      kitId: 'kit-c',
      dataDir: c.dataDir,
      keys: c.keys,
      catalogue: c.catalogue,
      clock: systemClock,
      logger,
      budgetBytes: 1e9,
      hasRoom: () => false,
      retentionMs: 1e12,
    });
    expect((await noRoom.run(c.directory.entries())).skipped).toEqual([{ clipId, why: 'no-room' }]);
    expect(c.catalogue.getClip(clipId)).toBeUndefined();
    const fine = mk({});
    expect((await fine.run(c.directory.entries())).fetched).toEqual([clipId]);
    expect(fine.progress).toMatchObject({ trainerId: 'T-017', state: 'done', clipsReady: 1, clipsWaiting: 0 });
    src.close();
  });

  it('several clips in one pipeline: the next clip downloads while one is still coming in, a failed clip stops no other, the budget and the room count every clip planned', async () => {
    const d = await kit('kit-d', [['T-017', '171717']]);
    const texts = [entry(a, BUCKET_A, ['T-017']), entry(d, 'vht-org-kit-d', ['T-017'])];
    d.directory.save(texts);
    a.directory.save(texts);
    // kit A records three takes of three segments; their keys go to T-017's inbox on kit D
    expect(await a.keys.unlock('170017', 'T-017')).toBe(true);
    const now = Date.now();
    const ids: string[] = [];
    for (let c = 0; c < 3; c++) {
      const id = a.clips.createClip({ caseCode: 'GZ-1701', now: now + c, requestedAt: now + c, preRollMs: 0, originMs: now + c, consent: ALL_CONSENT });
      await a.clips.prepareKey(id);
      for (const [seq, seg] of syntheticSegments(3, 15_000, 20 + c).entries())
        await a.clips.persistSegment(id, seq, seg.data, { startMs: now + seq * 1000, durationMs: 1000, discontinuity: false });
      a.clips.finishClip(id, 'complete', now + 3000, 'stopped');
      ids.push(id);
    }
    a.keys.lock();
    const docked = await dockA(a);
    expect([...docked.uploaded].sort()).toEqual([...ids].sort());
    expect(docked.sent).toBeGreaterThanOrEqual(3);
    // what each clip needs on the card: its .ts.age objects
    const src = bSource();
    const need = await Promise.all(
      ids.map(async (id) => (await src.list(BUCKET_A, `kit-a/clips/${id}/`)).filter((o) => o.key.endsWith('.ts.age')).reduce((n, o) => n + o.bytes, 0)),
    );
    const lastOf = (i: number) => `kit-a/clips/${ids[i]}/2.ts.age`;
    const lastBytes = (await src.list(BUCKET_A, lastOf(0)))[0]!.bytes;
    // the second take's middle segment is damaged in the store
    const badKey = `kit-a/clips/${ids[1]}/1.ts.age`;
    const good = await swift.get(BUCKET_A, badKey);
    await swift.put(BUCKET_A, badKey, Buffer.concat([good.subarray(0, 100), Buffer.alloc(good.length - 100, 3)]));

    // the first take's last segment is slow: what else starts meanwhile, and whether the first take was registered then
    const started: { key: string; firstRegistered: boolean }[] = [];
    const slow: FetchSource = {
      list: (bk, p) => src.list(bk, p),
      get: (bk, k) => src.get(bk, k),
      download: async (bk, k, file, max) => {
        started.push({ key: k, firstRegistered: d.catalogue.getClip(ids[0]!) !== undefined });
        if (k === lastOf(0)) await new Promise((r) => setTimeout(r, 300));
        return src.download(bk, k, file, max);
      },
      close: () => undefined,
    };
    const room: number[] = [];
    expect(await d.keys.unlock('171717', 'T-017')).toBe(true);
    const mk = (budgetBytes: number, source: FetchSource) =>
      new TrainerFetch({
        source,
        kitId: 'kit-d',
        dataDir: d.dataDir,
        keys: d.keys,
        catalogue: d.catalogue,
        clock: systemClock,
        logger,
        budgetBytes,
        hasRoom: (bytes) => (room.push(bytes), true),
        retentionMs: 1e12,
      });
    // the budget holds the first two takes: the third is not fetched, though nothing was on the card when it was decided
    const first = await mk(need[0]! + need[1]!, slow).run(d.directory.entries());
    const mine = (r: { clipId: string }[]) => r.filter((x) => ids.includes(x.clipId));
    expect(first.fetched).toEqual([ids[0]]);
    expect(mine(first.failed)).toEqual([{ clipId: ids[1], message: expect.stringMatching(/segment 1: SHA-256 .* does not match the manifest/) }]);
    expect(mine(first.skipped)).toEqual([{ clipId: ids[2], why: 'budget' }]);
    // the second take was downloading while the first one's last segment was still coming in
    expect(started.filter((s) => s.key.includes(ids[1]!) && !s.firstRegistered).length).toBeGreaterThan(0);
    // the room asked for the second take counted the first one's bytes still to come
    expect(room[1]).toBeGreaterThanOrEqual(need[1]! + lastBytes);
    expect(d.catalogue.getClip(ids[1]!)).toBeUndefined();
    // the damaged take's good segments stay on the card for the next run
    expect(
      readdirSync(path.join(d.dataDir, 'clips', ids[1]!))
        .filter((n) => n.endsWith('.ts.age'))
        .sort(),
    ).toEqual(['0.ts.age', '2.ts.age']);

    await swift.put(BUCKET_A, badKey, good);
    const again = counting(src);
    const second = await mk(1e9, again).run(d.directory.entries());
    expect([...second.fetched].sort()).toEqual([ids[1], ids[2]].sort());
    expect(mine(second.failed)).toEqual([]);
    // of the second take only the damaged segment was read again
    expect(again.gets.filter((k) => k.startsWith(`kit-a/clips/${ids[1]}/`) && k.endsWith('.ts.age'))).toEqual([badKey]);
    for (const id of ids) expect(d.catalogue.getClip(id)).toMatchObject({ state: 'complete', segmentCount: 3, stopReason: 'fetched' });
    src.close();
  });
});
