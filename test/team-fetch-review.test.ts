// Issue 20: fragments, kept stills and reviews follow the trainer. T-017 saves a fragment (with a
// note), keeps a still (with a caption) and makes a review of both on kit A; kit A docks (clip,
// metadata objects and the outbox keys to the real S3 server, OpenStack Swift); kit B (T-017 signed
// in) fetches them: the fragment's footage from the source clip's objects, checked against its
// manifest (SHA-256) before anything counts, re-encrypted under the fragment's own key; the review
// is presented on kit B; T-018 gets nothing; retention on kit B crypto-erases the copies like its own.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.js';
import { EventBus } from '../src/core/events.js';
import { createLogger } from '../src/core/logger.js';
import { Fragments } from '../src/session/fragments.js';
import { KeptStills } from '../src/session/kept-stills.js';
import { Library } from '../src/session/library.js';
import { Presentation } from '../src/session/presentation.js';
import { Privacy } from '../src/session/privacy.js';
import { ReviewNotes } from '../src/session/review-notes.js';
import { Reviews } from '../src/session/review.js';
import { Catalogue } from '../src/store/catalogue.js';
import { ClipStore } from '../src/store/clips.js';
import { decryptWith } from '../src/store/crypto.js';
import { FragmentStore } from '../src/store/fragments.js';
import { KeyStore, type ContentRef } from '../src/store/keys.js';
import { DirectoryCache, directoryKey, uploadOutbox, type DirectoryEntry } from '../src/sync/fetch-directory.js';
import { createTeamSync } from '../src/sync/fetch-service.js';
import { heldElsewhere, isFetched } from '../src/sync/fetch-kept.js';
import { readyOnKit, S3FetchSource, TrainerFetch, type FetchSource } from '../src/sync/fetch.js';
import { openSource, readIdentities } from '../src/sync/export.js';
import { trainerIndex, uploadTrainerIndexes, type TrainerIndex } from '../src/sync/review-upload.js';
import { SyncService } from '../src/sync/service.js';
import { S3Target } from '../src/sync/targets.js';
import { JPEG, segs } from './helpers/review-kit.js';
import { SwiftServer } from './helpers/swift.js';
import { ALL_CONSENT } from './helpers/sync-kit.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const logger = createLogger({ level: process.env.VHT_TEST_LOG === '1' ? 'debug' : 'silent' });
const DAY = 86_400_000;
const BUCKET_A = 'vht-org-kit-a';
const OFFICE = 'vht-org-office';
const CASE = 'GZ-2001';
const NOTE = 'Wat ziet u hier? Hoe reageert u op zijn blik?';
const CAPTION = 'Een blik van Sam naar papa';
let root: string;
let swift: SwiftServer;
let orgRecipient: string;
let orgKeyFile: string;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-fetch-review-'));
  swift = await SwiftServer.create(path.join(root, 'swift'));
  orgKeyFile = path.join(root, 'org.key');
  execFileSync('age-keygen', ['-o', orgKeyFile], { stdio: 'pipe' });
  orgRecipient = /# public key: (age1\S+)/.exec(readFileSync(orgKeyFile, 'utf8'))![1]!;
}, 600_000);

afterAll(async () => {
  await swift?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

/** A kit of the real store and review use-cases, with trainers, the directory and a retention time the test sets. */
async function kit(kitId: string, trainers: [string, string][]) {
  const dataDir = path.join(root, kitId);
  mkdirSync(dataDir, { recursive: true });
  const directory = new DirectoryCache(dataDir, kitId);
  const keys = new KeyStore({ dataDir, orgRecipient, allowDemoOrg: false, logger, outboxRecipients: (t) => directory.otherKitsOf(t) });
  await keys.start(null);
  for (const [t, pin] of trainers) await keys.addTrainer(t, pin);
  const catalogue = new Catalogue(path.join(dataDir, 'catalogue.db'));
  const clips = new ClipStore(dataDir, catalogue, keys, logger);
  const store = new FragmentStore(dataDir, catalogue, keys, logger);
  const clock = systemClock;
  let now = Date.now();
  const privacy = new Privacy(catalogue, clips, clock, logger, {
    dataDir,
    onWithdrawal: 'after-upload',
    deleteAfterUploadHours: 336,
    warnUnuploadedDays: 7,
    retentionIntervalMs: 3_600_000,
    trustedNow: () => now,
    kept: {
      deleteFragment: (id) => store.deleteFragment(id),
      deleteKeptStill: (id) => store.deleteKeptStill(id),
      destroyReviewKey: (id) => keys.destroyContentKey({ kind: 'review', id }),
    },
  });
  const bus = new EventBus();
  const presentation = new Presentation({ catalogue, keys, privacy, bus, clock, logger, lockAfterIdleMs: DAY, fps: 25 });
  const library = new Library({ catalogue, clips, privacy, presentation, bus, clock });
  const notes = new ReviewNotes(keys, store);
  const common = { catalogue, store, keys, notes, library, privacy, bus, clock };
  return {
    kitId,
    dataDir,
    directory,
    keys,
    catalogue,
    clips,
    store,
    notes,
    privacy,
    presentation,
    fragments: new Fragments({ ...common, logger, leadInMs: 3000, leadOutMs: 7000 }),
    stills: new KeptStills(common),
    reviews: new Reviews({ catalogue, keys, privacy, clock }),
    at: (t: number) => (now = t),
  };
}
type Kit = Awaited<ReturnType<typeof kit>>;

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

/** A Swift container ACL (read) for kit B's user: Swift's S3 API has no bucket policies. */
async function grantRead(bucket: string, user: string): Promise<void> {
  const auth = await fetch(`${swift.endpoint}/auth/v1.0`, { headers: { 'X-Auth-User': swift.admin.accessKeyId, 'X-Auth-Key': swift.admin.secretAccessKey } });
  const r = await fetch(`${auth.headers.get('x-storage-url')}/${bucket}`, {
    method: 'POST',
    headers: { 'X-Auth-Token': auth.headers.get('x-auth-token')!, 'X-Container-Read': user },
  });
  expect(r.status).toBe(204);
}

/** A FetchSource that notes the prefixes it lists. */
function counting(inner: FetchSource): FetchSource & { lists: string[] } {
  const lists: string[] = [];
  return { lists, list: (b, p) => (lists.push(p), inner.list(b, p)), get: (b, k) => inner.get(b, k), close: () => inner.close() };
}

/** What a kit's trainer index is made of (as FetchService.afterUpload passes it). */
function indexDeps(k: Kit) {
  return {
    catalogue: k.catalogue,
    kitId: k.kitId,
    keys: k.keys,
    otherKits: (t: string) => k.directory.otherKitsOf(t),
    orgRecipient,
    fetched: (ref: ContentRef) => isFetched(k.dataDir, k.catalogue, ref),
    clock: systemClock,
  };
}

/** What Debian's age CLI makes of a file with the organisation's identity. */
const orgOpens = (file: string) => execFileSync('age', ['-d', '-i', orgKeyFile, file]);

describe('fragments, kept stills and reviews follow the trainer to another kit of the team', () => {
  let a: Kit;
  let b: Kit;
  let team: DirectoryEntry[] = [];
  const plain = segs(6, 'visit 1');
  const made = { clip: '', fragment: '', still: '', review: '' };

  beforeAll(async () => {
    a = await kit('kit-a', [['T-017', '170017']]);
    b = await kit('kit-b', [
      ['T-017', '171717'],
      ['T-018', '180018'],
    ]);
    await swift.createBucket(OFFICE);
    await swift.createBucket(BUCKET_A);
    const texts = [entry(a, BUCKET_A, ['T-017']), entry(b, 'vht-org-kit-b', ['T-017', 'T-018'])];
    for (const t of texts) await swift.put(OFFICE, directoryKey(JSON.parse(t).kitId), Buffer.from(t));
    a.directory.save(texts);
    b.directory.save(texts);
    team = b.directory.entries();

    // kit A: T-017 records a take of their case, saves a fragment and keeps a still, and makes the review
    expect(await a.keys.unlock('170017', 'T-017')).toBe(true);
    const now = Date.now();
    a.catalogue.insertCase(CASE, 'k-vht', ALL_CONSENT, now);
    a.catalogue.addCaseTrainers(CASE, ['T-017'], now);
    made.clip = a.clips.createClip({ caseCode: CASE, now, requestedAt: now, preRollMs: 0, originMs: now, consent: ALL_CONSENT });
    await a.clips.prepareKey(made.clip);
    for (const [seq, s] of plain.entries())
      await a.clips.persistSegment(made.clip, seq, s.data, { startMs: now + seq * 1000, durationMs: 1000, discontinuity: false });
    a.clips.finishClip(made.clip, 'complete', now + plain.length * 1000, 'stopped');
    const still = await a.clips.addStill(made.clip, JPEG, 2500, now);
    made.fragment = (await a.fragments.save(made.clip, { inMs: 1500, outMs: 3500, label: 'child-initiative', note: NOTE })).id;
    made.still = (await a.stills.keep(made.clip, still.id, CAPTION)).id;
    made.review = (
      await a.reviews.create({
        caseCode: CASE,
        plannedFor: '2026-12-21',
        items: [
          { kind: 'fragment', id: made.fragment },
          { kind: 'still', id: made.still },
        ],
      })
    ).id;
    a.keys.lock();

    // kit A docks, locked: the clip (manifest also to its key), the metadata objects, the outbox
    const docked = await dockAt(a, BUCKET_A);
    expect(docked.uploaded).toEqual([made.clip]);
    expect(docked.reviewObjects).toHaveLength(3);
    // one key of each kind was sealed to T-017's inbox on kit B when it was made
    expect(docked.sent).toBe(4);
    await grantRead(BUCKET_A, swift.writer.accessKeyId);
  }, 180_000);

  const fetcher = (extra: { retentionMs?: number; budgetBytes?: number; source?: FetchSource } = {}) =>
    new TrainerFetch({
      source: extra.source ?? new S3FetchSource({ endpoint: swift.endpoint, region: swift.region, ...swift.writer }),
      kitId: 'kit-b',
      dataDir: b.dataDir,
      keys: b.keys,
      catalogue: b.catalogue,
      clock: systemClock,
      logger,
      budgetBytes: extra.budgetBytes ?? 50_000_000,
      hasRoom: () => true,
      retentionMs: extra.retentionMs ?? 14 * DAY,
    });

  it('a fragment whose source segment does not match the manifest is refused (nothing of it counts, its review waits); then it comes from the store', async () => {
    expect(await b.keys.unlock('171717', 'T-017')).toBe(true);
    // within the fetch budget only: nothing fits in 100 bytes, and nothing of it is kept
    const small = await fetcher({ retentionMs: 0, budgetBytes: 100 }).run(team);
    expect(small.kept).toEqual({
      fetched: [],
      failed: [],
      skipped: [
        { ref: { kind: 'fragment', id: made.fragment }, why: 'budget' },
        { ref: { kind: 'still', id: made.still }, why: 'budget' },
        { ref: { kind: 'review', id: made.review }, why: 'items-missing' },
      ],
    });
    expect(b.keys.hasContentKey({ kind: 'fragment', id: made.fragment })).toBe(false);
    const key = `kit-a/clips/${made.clip}/2.ts.age`;
    const good = await swift.get(BUCKET_A, key);
    await swift.put(BUCKET_A, key, Buffer.concat([good.subarray(0, 64), Buffer.alloc(good.length - 64, 7)]));
    // the raw clip is past its analysis period here (not fetched): the fragment's footage comes from the store
    const bad = await fetcher({ retentionMs: 0 }).run(team);
    expect(bad.skipped).toEqual([{ clipId: made.clip, why: 'expired' }]);
    expect(bad.kept.failed.map((f) => f.ref)).toEqual([{ kind: 'fragment', id: made.fragment }]);
    expect(bad.kept.failed[0]!.message).toMatch(
      new RegExp(`fragment ${made.fragment}: segment 2 of clip ${made.clip}: SHA-256 .* does not match the manifest`),
    );
    expect(bad.kept.skipped).toEqual([{ ref: { kind: 'review', id: made.review }, why: 'items-missing' }]);
    expect(bad.kept.fetched).toEqual([{ kind: 'still', id: made.still }]);
    expect(b.catalogue.reviewLedger.fragment(made.fragment)).toBeUndefined();
    expect(b.catalogue.reviewLedger.review(made.review)).toBeUndefined();
    expect(existsSync(path.join(b.dataDir, 'fragments', made.fragment, 'fragment.json'))).toBe(false);

    await swift.put(BUCKET_A, key, good);
    const ok = await fetcher({ retentionMs: 0 }).run(team);
    expect(ok.kept.failed).toEqual([]);
    expect(ok.kept.fetched).toEqual([
      { kind: 'fragment', id: made.fragment },
      { kind: 'review', id: made.review },
    ]);
    expect(ok.kept.skipped).toEqual([{ ref: { kind: 'still', id: made.still }, why: 'have' }]);
    expect(b.catalogue.getClip(made.clip)).toBeUndefined();
  });

  it("on kit B the fragment, the still and the review are T-017's, open with their keys, and the organisation reads the copies", async () => {
    const f = await b.fragments.get(made.fragment);
    expect(f).toMatchObject({ clipId: made.clip, caseCode: CASE, inMs: 1500, outMs: 3500, label: 'child-initiative', note: NOTE, reviews: [made.review] });
    const segments = b.fragments.segments(made.fragment);
    expect(segments.map((s) => s.seq)).toEqual([1, 2, 3]);
    for (const s of segments) {
      expect((await b.fragments.segment(made.fragment, s.seq)).equals(plain[s.seq]!.data)).toBe(true);
      expect(orgOpens(path.join(b.dataDir, 'fragments', made.fragment, `${s.seq}.ts.age`)).equals(plain[s.seq]!.data)).toBe(true);
    }
    expect(await b.stills.get(made.still)).toMatchObject({ caption: CAPTION, timeMs: 2500, caseCode: CASE });
    expect((await b.stills.image(made.still)).equals(JPEG)).toBe(true);
    expect(orgOpens(path.join(b.dataDir, 'stills', `${made.still}.jpg.age`)).equals(JPEG)).toBe(true);
    const r = b.reviews.get(made.review);
    expect(r).toMatchObject({ caseCode: CASE, plannedFor: '2026-12-21', heldAt: null });
    expect(r.items.map((i) => [i.kind, i.id])).toEqual([
      ['fragment', made.fragment],
      ['still', made.still],
    ]);
    // the case is T-017's on kit B, with the consent the manifest states
    expect(b.catalogue.caseTrainers(CASE)).toEqual(['T-017']);
    expect(b.catalogue.getCase(CASE)!.consent).toEqual(ALL_CONSENT);
    // confirmed at the original's version: kit B does not upload them as its own
    for (const row of [b.catalogue.reviewLedger.fragment(made.fragment)!, b.catalogue.reviewLedger.keptStill(made.still)!]) {
      expect(row.confirmedAt).toBeGreaterThan(0);
      expect(row.confirmedVersion).toBe(row.updatedAt);
    }
    expect(b.catalogue.reviewLedger.review(made.review)!.confirmedVersion).toBe(b.catalogue.reviewLedger.review(made.review)!.updatedAt);
    const audit = b.catalogue.auditEvents().map((e) => e.type);
    expect(audit).toEqual(expect.arrayContaining(['fragment.fetched', 'still.fetched', 'review.fetched']));
  });

  it('the fetched review is presented on kit B: its items point at the fetched fragment and still', () => {
    const first = b.presentation.presentItem(made.review, 0, { source: 'phone' });
    expect(first).toMatchObject({ reviewId: made.review, item: 0, count: 2, kind: 'fragment', refId: made.fragment, label: 'child-initiative' });
    expect(b.presentation.mayShow('fragment', made.fragment)).toBe(true);
    const second = b.presentation.presentItem(made.review, 1, { source: 'phone' });
    expect(second).toMatchObject({ kind: 'still', refId: made.still });
    b.presentation.end({ visitOver: false });
  });

  it("the remote's line counts what kit B holds for T-017's open cases: the fetched review, fragment and still (the raw clip was past its period); nothing for T-018", () => {
    expect(readyOnKit(b.catalogue, 'T-017')).toEqual({ clips: 0, reviews: 1, fragments: 1, stills: 1 });
    expect(readyOnKit(b.catalogue, 'T-018')).toEqual({ clips: 0, reviews: 0, fragments: 0, stills: 0 });
  });

  it("kit A's docked run writes T-017's index (to the organisation and T-017's inbox on kit B): their case with its consent, and each uploaded item", async () => {
    const target = new S3Target({
      endpoint: swift.endpoint,
      region: swift.region,
      bucket: BUCKET_A,
      prefix: '',
      ...swift.admin,
      clock: systemClock,
      requestTimeoutMs: 10_000,
    });
    const deps = indexDeps(a);
    const written = await uploadTrainerIndexes({
      ...deps,
      put: async (key, body, md5, sha256) => void (await target.put(key, body, { md5Hex: md5, sha256Hex: sha256 })),
    });
    target.close();
    expect(written).toEqual(['kit-a/trainers/T-017/index.json.age']);
    const file = path.join(root, 'index.age');
    writeFileSync(file, await swift.get(BUCKET_A, written[0]!));
    const index = JSON.parse(orgOpens(file).toString('utf8')) as TrainerIndex;
    expect(index).toMatchObject({
      format: 'vht-kit.trainer-index',
      kitId: 'kit-a',
      trainerId: 'T-017',
      cases: [{ code: CASE, consent: ALL_CONSENT, closedAt: null }],
    });
    expect(index.items.map((i) => [i.kind, i.id, i.key])).toEqual([
      ['clip', made.clip, `kit-a/clips/${made.clip}/manifest.json.age`],
      ['fragment', made.fragment, `kit-a/fragments/${made.fragment}.json.age`],
      ['still', made.still, `kit-a/stills/${made.still}.json.age`],
      ['review', made.review, `kit-a/reviews/${made.review}.json.age`],
    ]);
    // T-018 is on kit B only: no index for them; kit B (which fetched these) lists none of them as its own
    expect(trainerIndex(indexDeps(b), 'T-017').items).toEqual([]);
  });

  it('with the index, kit B lists only the outbox and reads the index (no listing per object); the raw clip within its analysis period comes too', async () => {
    const source = counting(new S3FetchSource({ endpoint: swift.endpoint, region: swift.region, ...swift.writer }));
    const r = await fetcher({ source }).run(team);
    expect(r.failed).toEqual([]);
    expect(r.fetched).toEqual([made.clip]);
    expect(r.kept.fetched).toEqual([]);
    expect(r.kept.skipped.map((s) => s.why)).toEqual(['have', 'have', 'have']);
    expect(source.lists.sort()).toEqual(['kit-a/outbox/T-017/kit-b/', 'kit-a/trainers/T-017/index.json.age']);
    // confirmed at the time the index states (the original's upload), not at the fetch
    expect(b.catalogue.getClip(made.clip)!.uploadedAt).toBe(a.catalogue.getClip(made.clip)!.uploadedAt);
    source.close();
  });

  it('T-018 on kit B gets none of it: no key, nothing fetched', async () => {
    b.keys.lock();
    expect(await b.keys.unlock('180018', 'T-018')).toBe(true);
    const r = await fetcher().run(team);
    expect(r).toMatchObject({ fetched: [], failed: [], skipped: [], kept: { fetched: [], failed: [], skipped: [] } });
    for (const ref of [
      { kind: 'fragment', id: made.fragment },
      { kind: 'still', id: made.still },
      { kind: 'review', id: made.review },
    ] as const) {
      expect(b.keys.entitled(ref)).toEqual(['T-017']);
      await expect(b.keys.contentIdentity(ref)).rejects.toThrow(/not shared with trainer T-018/);
    }
    b.keys.lock();
  });

  it("retention on kit B crypto-erases the fetched copies like its own (review-held), and T-017's key no longer opens them", async () => {
    expect(await b.keys.unlock('171717', 'T-017')).toBe(true);
    expect(await b.keys.contentIdentity({ kind: 'fragment', id: made.fragment })).toMatch(/^AGE-SECRET-KEY-1/);
    expect(readyOnKit(b.catalogue, 'T-017')).toEqual({ clips: 1, reviews: 1, fragments: 1, stills: 1 });
    b.reviews.held(made.review);
    // a review that was held is not for the next visit any more
    expect(readyOnKit(b.catalogue, 'T-017').reviews).toBe(0);
    b.at(Date.now() + 13 * DAY);
    expect(await b.privacy.runRetention()).not.toContain(made.fragment);
    b.at(Date.now() + 15 * DAY);
    const erased = await b.privacy.runRetention();
    expect(erased).toEqual(expect.arrayContaining([made.fragment, made.still, made.review]));
    expect(b.catalogue.reviewLedger.fragment(made.fragment)).toBeUndefined();
    expect(b.keys.hasContentKey({ kind: 'fragment', id: made.fragment })).toBe(false);
    expect(existsSync(path.join(b.dataDir, 'fragments', made.fragment))).toBe(false);
    expect(existsSync(path.join(b.dataDir, 'stills', `${made.still}.jpg.age`))).toBe(false);
    await expect(b.keys.contentIdentity({ kind: 'fragment', id: made.fragment })).rejects.toThrow(/no playback key on this kit/);
    b.keys.lock();
  });

  it("a narrowing on kit A reaches kit B with T-017's next index: kit B's case takes the narrowest consent", async () => {
    const c = a.catalogue.getCase(CASE)!;
    a.catalogue.updateCase(CASE, c.trajectory, { ...c.consent, review: false }, Date.now());
    const target = new S3Target({
      endpoint: swift.endpoint,
      region: swift.region,
      bucket: BUCKET_A,
      prefix: '',
      ...swift.admin,
      clock: systemClock,
      requestTimeoutMs: 10_000,
    });
    await uploadTrainerIndexes({
      ...indexDeps(a),
      put: async (key, body, md5, sha256) => void (await target.put(key, body, { md5Hex: md5, sha256Hex: sha256 })),
    });
    target.close();
    expect(b.catalogue.getCase(CASE)!.consent.review).toBe(true);
    expect(await b.keys.unlock('171717', 'T-017')).toBe(true);
    const r = await fetcher().run(team);
    expect(r.failed).toEqual([]);
    expect(b.catalogue.getCase(CASE)!.consent).toEqual({ ...ALL_CONSENT, review: false });
    // what retention erased on kit B does not come back with the next fetch
    expect(r.skipped).toEqual([{ clipId: made.clip, why: 'erased' }]);
    expect(r.kept.skipped.map((x) => x.why)).toEqual(['erased', 'erased', 'erased']);
    expect(b.catalogue.reviewLedger.fragment(made.fragment)).toBeUndefined();
    b.keys.lock();
  });

  it('a co-trainer assigned at the office reaches kit A: a sign-in on the docked kit fetches at once, adds them to the case and shares its keys with them', async () => {
    const tag = 'ab'.repeat(16);
    a.catalogue.officeLedger.setCaseTag(CASE, tag);
    await a.keys.addTrainer('T-019', '190019');
    await swift.createBucket('vht-org-kit-b').catch(() => undefined);
    const withCase = { ...JSON.parse(entry(a, BUCKET_A, ['T-017', 'T-019'])), caseTrainers: { [tag]: ['T-017', 'T-019', 'T-404'] } };
    await swift.put(OFFICE, directoryKey('kit-a'), Buffer.from(JSON.stringify(withCase)));
    let docked = false;
    const { fetch } = createTeamSync(
      {
        dataDir: a.dataDir,
        kitId: 'kit-a',
        storage: { reserveMB: 0 },
        privacy: { deleteAfterUploadHours: 336 },
        sync: {
          s3: { endpoint: swift.endpoint, region: swift.region, ...swift.admin },
          fetch: { enabled: true, budgetMB: 100, officeBucket: OFFICE },
        },
      },
      { keys: a.keys, catalogue: a.catalogue, directory: a.directory, clock: systemClock, logger, hasRoom: () => true, docked: () => docked },
    );
    // not docked: a sign-in fetches nothing and reads no directory
    expect(await a.keys.unlock('170017', 'T-017')).toBe(true);
    await fetch.settled();
    expect(fetch.progress.state).toBe('idle');
    expect(a.catalogue.caseTrainers(CASE)).toEqual(['T-017']);
    a.keys.lock();
    // docked: the sign-in reads the directory (T-019 joins the case; T-404 is not on this kit), fetches for T-017, and shares
    docked = true;
    expect(await a.keys.unlock('170017', 'T-017')).toBe(true);
    await fetch.settled();
    expect(fetch.progress).toMatchObject({ trainerId: 'T-017', state: 'done' });
    expect(a.catalogue.caseTrainers(CASE)).toEqual(['T-017', 'T-019']);
    for (const ref of [
      { kind: 'clip', id: made.clip },
      { kind: 'fragment', id: made.fragment },
      { kind: 'still', id: made.still },
      { kind: 'review', id: made.review },
    ] as const)
      expect(a.keys.entitled(ref), ref.kind).toEqual(['T-017', 'T-019']);
    const shared = a.catalogue.auditEvents().filter((e) => e.type === 'case.keys.shared');
    // audited once (the details name the case, the co-trainers and the count of keys)
    expect(shared).toHaveLength(1);
    a.keys.lock();
    expect(await a.keys.unlock('190019', 'T-019')).toBe(true);
    await fetch.settled();
    expect((await a.fragments.get(made.fragment)).note).toBe(NOTE);
    expect((await a.stills.image(made.still)).equals(JPEG)).toBe(true);
    a.keys.lock();
  });
});

/** A kit docks at the office: its clips and review metadata go to its bucket (as the organisation's sync does), then its outbox keys. */
async function dockAt(k: Kit, bucket: string): Promise<{ uploaded: string[]; reviewObjects: string[]; sent: number }> {
  const target = new S3Target({
    endpoint: swift.endpoint,
    region: swift.region,
    bucket,
    prefix: '',
    ...swift.admin,
    clock: systemClock,
    requestTimeoutMs: 10_000,
  });
  try {
    const sync = new SyncService({
      catalogue: k.catalogue,
      clips: k.clips,
      target,
      kitId: k.kitId,
      orgRecipient,
      clock: systemClock,
      logger,
      exportAudit: false,
      manifestAlso: (id) => k.keys.recipientsFor(id).slice(1),
      review: {
        recipientsOf: (ref) => k.keys.recipientsOf(ref),
        fragment: (id) => k.store.fragment(id),
        keptStill: (id) => k.store.keptStill(id),
        keptStillCiphertext: (id) => k.store.readKeptStill(id),
        noteCiphertext: (ref) => k.notes.ciphertext(ref),
        heldElsewhere: (ref) => heldElsewhere(k.dataDir, k.catalogue, ref),
        fetchedCopy: (ref) => isFetched(k.dataDir, k.catalogue, ref),
      },
    });
    const run = await sync.runOnce();
    expect(run.error).toBeUndefined();
    const sent = await uploadOutbox(k.dataDir, k.kitId, target, (f) => rmSync(f));
    sync.close();
    return { uploaded: run.uploaded, reviewObjects: run.reviewObjects ?? [], sent };
  } finally {
    target.close();
  }
}

describe('a fragment made on kit Y of a take fetched from kit X reaches kit Z, its footage read from kit X', () => {
  it("kit Y's fragment object names kit X's segments; kit Z fetches it (the raw take past its period there) and the review; a copy not changed on Z is kit Y's object", async () => {
    const x = await kit('kit-x', [['T-017', '170010']]);
    const y = await kit('kit-y', [['T-017', '170011']]);
    const z = await kit('kit-z', [['T-017', '170012']]);
    const bucket = (k: Kit) => `vht-org-${k.kitId}`;
    for (const k of [x, y, z]) await swift.createBucket(bucket(k));
    for (const k of [x, y, z]) await grantRead(bucket(k), swift.writer.accessKeyId);
    const texts = [x, y, z].map((k) => entry(k, bucket(k), ['T-017']));
    for (const k of [x, y, z]) k.directory.save(texts);
    const fetcher = (k: Kit, retentionMs: number) =>
      new TrainerFetch({
        source: new S3FetchSource({ endpoint: swift.endpoint, region: swift.region, ...swift.writer }),
        kitId: k.kitId,
        dataDir: k.dataDir,
        keys: k.keys,
        catalogue: k.catalogue,
        clock: systemClock,
        logger,
        budgetBytes: 50_000_000,
        hasRoom: () => true,
        retentionMs,
      });

    // kit X: T-017 records a take of case GZ-3001 and docks
    const plain3 = segs(5, 'visit 3');
    expect(await x.keys.unlock('170010', 'T-017')).toBe(true);
    const now = Date.now();
    x.catalogue.insertCase('GZ-3001', 'k-vht', ALL_CONSENT, now);
    x.catalogue.addCaseTrainers('GZ-3001', ['T-017'], now);
    const clip = x.clips.createClip({ caseCode: 'GZ-3001', now, requestedAt: now, preRollMs: 0, originMs: now, consent: ALL_CONSENT });
    await x.clips.prepareKey(clip);
    for (const [seq, s] of plain3.entries())
      await x.clips.persistSegment(clip, seq, s.data, { startMs: now + seq * 1000, durationMs: 1000, discontinuity: false });
    x.clips.finishClip(clip, 'complete', now + plain3.length * 1000, 'stopped');
    x.keys.lock();
    expect((await dockAt(x, bucket(x))).uploaded).toEqual([clip]);

    // kit Y: T-017 fetches the take, saves a fragment of it and plans the review; kit Y docks
    expect(await y.keys.unlock('170011', 'T-017')).toBe(true);
    expect((await fetcher(y, 14 * DAY).run(y.directory.entries())).fetched).toEqual([clip]);
    const fragment = (await y.fragments.save(clip, { inMs: 1200, outMs: 2800, label: 'child-initiative', note: NOTE })).id;
    const review = (await y.reviews.create({ caseCode: 'GZ-3001', plannedFor: '2026-12-28', items: [{ kind: 'fragment', id: fragment }] })).id;
    y.keys.lock();
    const docked = await dockAt(y, bucket(y));
    expect(docked.uploaded).toEqual([]);
    // what the organisation reads of an object: Debian's age CLI with the organisation's identity
    const orgObject = async (bk: string, key: string) =>
      JSON.parse(execFileSync('age', ['-d', '-i', orgKeyFile], { input: await swift.get(bk, key) }).toString('utf8'));
    const fObj = await orgObject(bucket(y), `kit-y/fragments/${fragment}.json.age`);
    expect(fObj).toMatchObject({ kitId: 'kit-y', sourceKitId: 'kit-x', sourceClipId: clip });
    expect(fObj.segments.map((s: { key: string }) => s.key)).toEqual([1, 2].map((seq) => `kit-x/clips/${clip}/${seq}.ts.age`));
    // the organisation finds those segments in kit X's bucket
    for (const s of fObj.segments as { key: string }[]) expect((await swift.get(bucket(x), s.key)).length).toBeGreaterThan(0);
    expect((await orgObject(bucket(y), `kit-y/reviews/${review}.json.age`)).items).toEqual([
      { kind: 'fragment', id: fragment, key: `kit-y/fragments/${fragment}.json.age` },
    ]);

    // the office reads across the kits' buckets (`vht-kit export --from 's3://vht-org-*'`: bucket vht-org-<kit id>): the review names
    // kit Y's fragment object, which names kit X's segments; each opens with the organisation's identity
    const env = {
      AWS_ACCESS_KEY_ID: swift.admin.accessKeyId,
      AWS_SECRET_ACCESS_KEY: swift.admin.secretAccessKey,
      AWS_REGION: swift.region,
      AWS_ENDPOINT_URL: swift.endpoint,
    };
    const office = openSource('s3://vht-org-*', { env });
    try {
      const all = await office.list('');
      expect(all).toEqual(expect.arrayContaining([`kit-x/clips/${clip}/manifest.json.age`, `kit-y/reviews/${review}.json.age`]));
      const orgId = readIdentities(orgKeyFile);
      const open = async (key: string) => decryptWith(orgId, await office.get(key), key);
      const [it] = JSON.parse((await open(`kit-y/reviews/${review}.json.age`)).toString('utf8')).items as { key: string }[];
      const f = JSON.parse((await open(it!.key)).toString('utf8')) as { segments: { seq: number; key: string }[] };
      for (const s of f.segments) expect((await open(s.key)).equals(plain3[s.seq]!.data)).toBe(true);
      expect(await office.get('kit-q/clips/none').catch((e: unknown) => e)).toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      office.close();
    }

    // kit Z: the raw take is past its analysis period here; the fragment's footage comes from kit X's bucket
    expect(await z.keys.unlock('170012', 'T-017')).toBe(true);
    const r = await fetcher(z, 0).run(z.directory.entries());
    expect(r.failed).toEqual([]);
    expect(r.skipped).toEqual([{ clipId: clip, why: 'expired' }]);
    expect(r.kept.failed).toEqual([]);
    expect(r.kept.fetched).toEqual([
      { kind: 'fragment', id: fragment },
      { kind: 'review', id: review },
    ]);
    expect(z.fragments.segments(fragment).map((s) => s.seq)).toEqual([1, 2]);
    for (const seq of [1, 2]) expect((await z.fragments.segment(fragment, seq)).equals(plain3[seq]!.data)).toBe(true);
    // a review made on kit Z of the fetched copy names kit Y's object (not changed here)
    expect(heldElsewhere(z.dataDir, z.catalogue, { kind: 'fragment', id: fragment })).toBe('kit-y');
    const r2 = (await z.reviews.create({ caseCode: 'GZ-3001', plannedFor: '2027-01-04', items: [{ kind: 'fragment', id: fragment }] })).id;
    z.keys.lock();
    expect((await dockAt(z, bucket(z))).reviewObjects).toEqual([`kit-z/reviews/${r2}.json.age`]);
    const itemKey = async () => ((await orgObject(bucket(z), `kit-z/reviews/${r2}.json.age`)).items as { key: string }[])[0]!.key;
    expect(await itemKey()).toBe(`kit-y/fragments/${fragment}.json.age`);
    // changed on kit Z: kit Z uploads its own copy, still naming kit X's segments, and the review follows it
    expect(await z.keys.unlock('170012', 'T-017')).toBe(true);
    await z.fragments.edit(fragment, { label: 'parent-response' });
    expect(heldElsewhere(z.dataDir, z.catalogue, { kind: 'fragment', id: fragment })).toBeNull();
    z.keys.lock();
    expect((await dockAt(z, bucket(z))).reviewObjects).toEqual([`kit-z/fragments/${fragment}.json.age`, `kit-z/reviews/${r2}.json.age`]);
    expect(await orgObject(bucket(z), `kit-z/fragments/${fragment}.json.age`)).toMatchObject({
      kitId: 'kit-z',
      sourceKitId: 'kit-x',
      label: 'parent-response',
    });
    expect(await itemKey()).toBe(`kit-z/fragments/${fragment}.json.age`);

    // back on kit X: the fragment of kit Y names a take recorded here; its footage is read from this kit's own bucket (or card)
    // (the team has a kit whose bucket is gone, listed last: the run fails on it, after the kits before it gave their items)
    expect(await x.keys.unlock('170010', 'T-017')).toBe(true);
    const gone: DirectoryEntry = { ...(JSON.parse(entry(z, 'vht-org-kit-gone', ['T-017'])) as DirectoryEntry), kitId: 'kit-zz' };
    const back = await fetcher(x, 14 * DAY)
      .run([...x.directory.entries(), gone])
      .catch((e: unknown) => e);
    expect(String(back)).toMatch(/listing s3:\/\/vht-org-kit-gone\/kit-zz\/outbox\/T-017\/kit-x\/ failed/);
    expect(x.catalogue.reviewLedger.fragment(fragment)).toMatchObject({ clipId: clip, caseCode: 'GZ-3001' });
    for (const seq of [1, 2]) expect((await x.fragments.segment(fragment, seq)).equals(plain3[seq]!.data)).toBe(true);
  }, 120_000);
});
