// The organisation's side at scale (issue 21, second part) on a real S3 server (OpenStack Swift with
// s3api): the case inbox (kits mark their cases, write-only; `office case` lists only the kits that
// hold the case; drift found and rebuilt from the kits' own index), fragments, kept stills and
// reviews in the case index (listed, erased with scope `review`), batched deletes (DeleteObjects, and
// single deletes where the store answers NotImplemented), and the office audit's checkpoint.
// Requests are counted by a plain HTTP relay in front of Swift (it forwards every byte as is; for
// the fallback it answers DeleteObjects with 501 NotImplemented, as a store without it does).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OfficeAudit } from '../src/office/audit.js';
import { eraseCase } from '../src/office/cases.js';
import { runOffice } from '../src/office/cli.js';
import { OfficeLayout } from '../src/office/layout.js';
import { caseTagKeyFileText, readCaseTagKey, storeCaseTagKey } from '../src/office/tag-key.js';
import { S3Connection } from '../src/store/bucket-store.js';
import { encryptTo } from '../src/store/crypto.js';
import { caseIndexKey, caseMarkerKey, caseTag, manifestKey, segmentKey } from '../src/store/objects.js';
import { SyncService } from '../src/sync/service.js';
import { S3Target } from '../src/sync/targets.js';
import { officeSide } from './helpers/office-kit.js';
import { reviewCycleKit } from './helpers/review-kit.js';
import { SwiftServer } from './helpers/swift.js';
import { makeKit, recordClip, syntheticSegments, type TestKit } from './helpers/sync-kit.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const ORG = 'vht-sc';
const OFFICE = `${ORG}-office`;
const PRIVATE = `${ORG}-office-private`;
const INBOX = `${ORG}-office-inbox`;
const kitBucket = (kitId: string) => `${ORG}-kit-${kitId}`;

let root: string;
let swift: SwiftServer;
let orgKeyFile: string;
let tagKeyFile: string;
let conn: S3Connection;
let relay: Relay;
let tag42: string;
let tag50: string;

/** A byte-for-byte HTTP relay to Swift that counts requests as `METHOD bucket[?list|?delete]`. */
interface Relay {
  endpoint: string;
  counts: Map<string, number>;
  refuseBatchDelete: boolean;
  count(what: string): number;
  close(): Promise<void>;
}

async function startRelay(to: string): Promise<Relay> {
  const target = new URL(to);
  const counts = new Map<string, number>();
  const state = { refuseBatchDelete: false };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://relay');
    const bucket = u.pathname.split('/')[1] ?? '';
    const what = `${req.method} ${bucket}${u.searchParams.has('delete') ? '?delete' : u.searchParams.has('list-type') ? '?list' : ''}`;
    counts.set(what, (counts.get(what) ?? 0) + 1);
    if (state.refuseBatchDelete && req.method === 'POST' && u.searchParams.has('delete')) {
      req.resume();
      res.writeHead(501, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>',
      );
      return;
    }
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts,
    get refuseBatchDelete() {
      return state.refuseBatchDelete;
    },
    set refuseBatchDelete(v: boolean) {
      state.refuseBatchDelete = v;
    },
    count: (what) => counts.get(what) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    AWS_ENDPOINT_URL: relay.endpoint,
    AWS_REGION: swift.region,
    AWS_ACCESS_KEY_ID: swift.admin.accessKeyId,
    AWS_SECRET_ACCESS_KEY: swift.admin.secretAccessKey,
    VHT_OFFICE_KITS: `s3://${ORG}-kit-*`,
    VHT_OFFICE_BUCKET: `s3://${OFFICE}`,
    VHT_OFFICE_PRIVATE: `s3://${PRIVATE}`,
    VHT_OFFICE_INBOX: `s3://${INBOX}`,
    VHT_OFFICE_IDENTITY: orgKeyFile,
    VHT_OFFICE_CASE_TAG_KEY: tagKeyFile,
    VHT_OPERATOR: 'op-bert',
    ...extra,
  };
}

/** `vht-kit office …` in-process with --json: the parsed output (or the error it threw). */
async function office(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<any> {
  let out = '';
  await runOffice([...args, '--json'], { env: env(extra), out: { write: (s: string) => (out += s) }, err: { write: () => true } });
  return JSON.parse(out);
}

const keysIn = async (bucket: string, prefix = '') => (await swift.list(bucket, prefix)).map((o) => o.key);

/** A kit of the real store code that syncs to its own bucket (admin) and marks its cases in the inbox as the write-only user. */
async function syncingKit(kitId: string, kit: TestKit, opts: { review?: ConstructorParameters<typeof SyncService>[0]['review']; office?: string } = {}) {
  const { review } = opts;
  await storeCaseTagKey(kit.keys, tagKeyFile);
  const writer = new S3Connection({ endpoint: swift.endpoint, region: swift.region, ...swift.writer });
  closers.push(() => writer.close());
  const inbox = writer.bucket(INBOX);
  const side = officeSide(kit, kitId, conn.bucket(opts.office ?? OFFICE), { inbox });
  await swift.createBucket(kitBucket(kitId));
  const target = new S3Target({
    endpoint: swift.endpoint,
    region: swift.region,
    bucket: kitBucket(kitId),
    ...swift.admin,
    clock: kit.clock,
    requestTimeoutMs: 10_000,
  });
  const sync = new SyncService({
    catalogue: kit.catalogue,
    clips: kit.clips,
    target,
    kitId,
    orgRecipient: kit.orgRecipient,
    clock: kit.clock,
    logger: kit.logger,
    retry: { attempts: 3, baseMs: 20, maxMs: 200 },
    exportAudit: false,
    extensions: [side.link],
    ...(review ? { review } : {}),
  });
  return { ...side, sync, inbox };
}

const closers: (() => void)[] = [];

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-office-scale-'));
  swift = await SwiftServer.create(path.join(root, 'swift'));
  relay = await startRelay(swift.endpoint);
  orgKeyFile = path.join(root, 'org.key');
  execFileSync('age-keygen', ['-o', orgKeyFile], { stdio: 'pipe' });
  tagKeyFile = path.join(root, 'org.key.case-tag');
  writeFileSync(tagKeyFile, caseTagKeyFileText());
  tag42 = caseTag('GZ-0042', readCaseTagKey(tagKeyFile));
  tag50 = caseTag('GZ-0050', readCaseTagKey(tagKeyFile));
  conn = new S3Connection({ endpoint: swift.endpoint, region: swift.region, ...swift.admin });
  for (const b of [OFFICE, PRIVATE]) await swift.createBucket(b);
  await swift.createBucket(INBOX, { writer: true }); // kits may only write there
}, 600_000);

afterAll(async () => {
  for (const c of closers) c();
  conn?.close();
  await relay?.close();
  await swift?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('the case inbox: office case lists only the kits that hold the case', () => {
  it('kits mark their cases (write-only) before the first index entry; office case asks the inbox, then only those kits', async () => {
    const kits: Record<string, Awaited<ReturnType<typeof syncingKit>> & { kit: TestKit }> = {};
    for (const [id, code] of [
      ['kit-a', 'GZ-0042'],
      ['kit-b', 'GZ-0042'],
      ['kit-c', 'GZ-0050'],
      ['kit-d', null],
    ] as const) {
      const kit = await makeKit(path.join(root, id), { orgKeyFile });
      const k = { kit, ...(await syncingKit(id, kit)) };
      closers.push(() => {
        k.sync.close();
        kit.catalogue.close();
      });
      kits[id] = k;
      expect(await kit.keys.unlock('4821')).toBe(true);
      if (code) await recordClip(kit, { caseCode: code, segments: syntheticSegments(2, 3000, id.length) });
      await k.tagger.tagCases();
      const r = await k.sync.runOnce();
      expect(r.error).toBeUndefined();
      expect(r.uploaded).toHaveLength(code ? 1 : 0);
    }
    // the write-only kit credential cannot list the inbox (it only adds to it)
    await expect(kits['kit-a']!.inbox.list('cases/')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect((await keysIn(INBOX)).sort()).toEqual([caseMarkerKey(tag42, 'kit-a'), caseMarkerKey(tag42, 'kit-b'), caseMarkerKey(tag50, 'kit-c')].sort());
    // a second run writes no marker again (the ledger remembers it)
    const before = (await swift.list(INBOX)).map((o) => o.etag);
    await recordClip(kits['kit-a']!.kit, { caseCode: 'GZ-0042', segments: syntheticSegments(1, 3000, 9) });
    expect((await kits['kit-a']!.sync.runOnce()).uploaded).toHaveLength(1);
    expect((await swift.list(INBOX)).map((o) => o.etag)).toEqual(before);
    const st = kits['kit-a']!.link.status({});
    expect(st.warnings).not.toContain('case-inbox-not-configured');

    relay.counts.clear();
    const inv = await office(['case', 'GZ-0042']);
    expect(inv.source).toBe('inbox');
    expect(inv.kits).toEqual(['kit-a', 'kit-b']);
    expect(inv.items).toHaveLength(3);
    expect(inv.inboxMissed).toEqual([]);
    // one LIST of the inbox, one LIST in each kit that holds the case, none of the others, no ListBuckets
    expect(relay.count(`GET ${INBOX}?list`)).toBe(1);
    expect(relay.count(`GET ${kitBucket('kit-a')}?list`)).toBe(1);
    expect(relay.count(`GET ${kitBucket('kit-b')}?list`)).toBe(1);
    expect(relay.count(`GET ${kitBucket('kit-c')}?list`)).toBe(0);
    expect(relay.count(`GET ${kitBucket('kit-d')}?list`)).toBe(0);
    expect(relay.count('GET ')).toBe(0);

    // every kit bucket: the same items, a LIST in each kit
    relay.counts.clear();
    const full = await office(['case', 'GZ-0042', '--every-kit']);
    expect(full.source).toBe('every-kit');
    expect(full.items.map((i: any) => i.id).sort()).toEqual(inv.items.map((i: any) => i.id).sort());
    for (const k of ['kit-a', 'kit-b', 'kit-c', 'kit-d']) expect(relay.count(`GET ${kitBucket(k)}?list`)).toBe(1);
  });

  it('drift: a marker removed by hand is reported by the full scan and index check, and index rebuild writes it again from the kits', async () => {
    await conn.bucket(INBOX).delete(caseMarkerKey(tag42, 'kit-b'));
    const missed = await office(['case', 'GZ-0042']);
    expect(missed.kits).toEqual(['kit-a']); // the inbox is an index: it can be wrong, and then this says so
    const full = await office(['case', 'GZ-0042', '--every-kit']);
    expect(full.kits).toEqual(['kit-a', 'kit-b']);
    expect(full.inboxMissed).toEqual(['kit-b']);
    await expect(office(['index', 'check'])).rejects.toMatchObject({ code: 'CONFLICT' });
    const rebuilt = await office(['index', 'rebuild']);
    expect(rebuilt.missing).toEqual([caseMarkerKey(tag42, 'kit-b')]);
    expect(rebuilt.added).toBe(1);
    expect(rebuilt.kits).toBe(4);
    const check = await office(['index', 'check']);
    expect(check.missing).toEqual([]);
    expect((await office(['case', 'GZ-0042'])).kits).toEqual(['kit-a', 'kit-b']);
  });

  it('office erase scans every kit bucket (it does not trust the index) and removes the markers with scope all', async () => {
    await conn.bucket(INBOX).delete(caseMarkerKey(tag42, 'kit-a')); // drift again: erase must still find kit-a
    relay.counts.clear();
    const r = await office(['erase', 'GZ-0042']);
    expect(r.receipt.verified).toBe(true);
    expect(r.receipt.kits.map((k: any) => k.kitId)).toEqual(['kit-a', 'kit-b']);
    expect(r.receipt.inboxMissed).toEqual(['kit-a']);
    expect(r.receipt.markersDeleted).toBe(2);
    for (const k of ['kit-a', 'kit-b', 'kit-c', 'kit-d']) expect(relay.count(`GET ${kitBucket(k)}?list`)).toBeGreaterThanOrEqual(1);
    expect(await keysIn(kitBucket('kit-a'), `kit-a/cases/${tag42}/`)).toEqual([]);
    expect(await keysIn(kitBucket('kit-a'), 'kit-a/clips/')).toEqual([]);
    expect(await keysIn(INBOX, `cases/${tag42}/`)).toEqual([]);
    expect(await keysIn(INBOX, `cases/${tag50}/`)).toEqual([caseMarkerKey(tag50, 'kit-c')]);
    // batched: DeleteObjects requests, no single DELETE of the case's objects
    expect(relay.count(`POST ${kitBucket('kit-a')}?delete`)).toBeGreaterThanOrEqual(1);
    expect(relay.count(`DELETE ${kitBucket('kit-a')}`)).toBe(0);
    expect(r.receipt.deleteRequests).toBe(2); // one DeleteObjects a kit, counted for both kits
    expect(relay.count(`POST ${kitBucket('kit-b')}?delete`)).toBe(1);
  });
});

describe('fragments, kept stills and reviews in the case index', () => {
  it('go into the index with their case; office case lists them; erase --scope review removes them, not the clip', async () => {
    const c = await reviewCycleKit(path.join(root, 'kit-r'), { orgKeyFile });
    const kitId = 'kit-r';
    // its own office bucket: the erasure of GZ-0042 above (a notice in OFFICE) is not this kit's to read
    await swift.createBucket(`${OFFICE}-r`);
    const side = await syncingKit(kitId, c.kit, {
      office: `${OFFICE}-r`,
      review: {
        recipientsOf: (ref) => c.kit.keys.recipientsOf(ref),
        fragment: (id) => c.store.fragment(id),
        keptStill: (id) => c.store.keptStill(id),
        keptStillCiphertext: (id) => c.store.readKeptStill(id),
        noteCiphertext: (ref) => c.notes.ciphertext(ref),
      },
    });
    closers.push(() => {
      side.sync.close();
      c.kit.catalogue.close();
    });
    await side.tagger.tagCases(); // the kit is signed in: GZ-0042 gets its tag
    const f = await c.fragments.save(c.clipId, { inMs: 1500, outMs: 3500, label: 'child-initiative', note: 'een vraag' });
    const s = await c.stills.keep(c.clipId, 1, 'een blik');
    const rv = await c.reviews.create({
      caseCode: 'GZ-0042',
      items: [
        { kind: 'still', id: s.id },
        { kind: 'fragment', id: f.id },
      ],
    });
    const run = await side.sync.runOnce();
    expect(run.error).toBeUndefined();
    expect(run.uploaded).toEqual([c.clipId]);
    expect(run.reviewObjects).toHaveLength(3);
    const index = (await keysIn(kitBucket(kitId), `${kitId}/cases/${tag42}/`)).sort();
    expect(index).toEqual(
      [
        caseIndexKey(kitId, tag42, 'clip', c.clipId),
        caseIndexKey(kitId, tag42, 'fragment', f.id),
        caseIndexKey(kitId, tag42, 'still', s.id),
        caseIndexKey(kitId, tag42, 'review', rv.id),
      ].sort(),
    );
    expect(await keysIn(INBOX, `cases/${tag42}/`)).toEqual([caseMarkerKey(tag42, kitId)]);

    const inv = await office(['case', 'GZ-0042']);
    expect(inv.source).toBe('inbox');
    expect(inv.items.map((i: any) => i.kind).sort()).toEqual(['clip', 'fragment', 'review', 'still']);
    const frag = inv.items.find((i: any) => i.kind === 'fragment');
    expect(frag).toMatchObject({ kitId, id: f.id, object: `${kitId}/fragments/${f.id}.json.age`, purposes: ['review'], durationMs: 2000 });
    expect(frag.trainerIds).toEqual(['T-001']);
    expect(frag.visitUid).toMatch(/^[0-9a-f]{16}$/);

    const erased = await office(['erase', 'GZ-0042', '--scope', 'review']);
    expect(erased.receipt.verified).toBe(true);
    expect(erased.receipt.objectsDeleted).toBe(6); // 3 objects + 3 index entries
    const left = await keysIn(kitBucket(kitId));
    for (const gone of [`${kitId}/fragments/${f.id}.json.age`, `${kitId}/stills/${s.id}.json.age`, `${kitId}/reviews/${rv.id}.json.age`])
      expect(left).not.toContain(gone);
    expect(left).toContain(manifestKey(kitId, c.clipId));
    expect(left).toContain(caseIndexKey(kitId, tag42, 'clip', c.clipId));
    expect(await keysIn(INBOX, `cases/${tag42}/`)).toEqual([caseMarkerKey(tag42, kitId)]); // the clip is still there
    const after = await office(['case', 'GZ-0042']);
    expect(after.items.map((i: any) => i.kind)).toEqual(['clip']);
  });
});

describe('batched deletes', () => {
  /** A kit bucket holding `n` clips of a case, each a manifest, 3 segments and an index entry (as the bench writes them). */
  async function writeCase(kitId: string, code: string, n: number): Promise<string> {
    const tag = caseTag(code, readCaseTagKey(tagKeyFile));
    await swift.createBucket(kitBucket(kitId));
    const store = conn.bucket(kitBucket(kitId));
    const recipient = execFileSync('age-keygen', ['-y', orgKeyFile]).toString().trim();
    for (let i = 0; i < n; i++) {
      const id = `${kitId.replace(/[^a-z0-9]/g, '')}c${String(i).padStart(4, '0')}`.padEnd(12, '0');
      for (let seq = 0; seq < 3; seq++) await store.put(segmentKey(kitId, id, seq), Buffer.from(`segment ${seq}`));
      await store.put(manifestKey(kitId, id), Buffer.from('manifest'));
      const entry = {
        format: 'vht-kit.case-index',
        v: 1,
        kitId,
        caseTag: tag,
        caseCode: code,
        kind: 'clip',
        id,
        object: manifestKey(kitId, id),
        prefix: `${kitId}/clips/${id}/`,
        visitUid: null,
        trajectory: null,
        consent: null,
        purposes: ['recording'],
        trainerIds: ['T-001'],
        createdAt: i,
        durationMs: 1000,
        segments: 3,
        stills: 0,
        bytes: 40,
        writtenAt: i,
      };
      await store.put(caseIndexKey(kitId, tag, 'clip', id), await encryptTo([recipient], JSON.stringify(entry)));
    }
    return tag;
  }

  const deps = () => {
    const identities = [execFileSync('grep', ['AGE-SECRET-KEY', orgKeyFile]).toString().trim()];
    const recipient = execFileSync('age-keygen', ['-y', orgKeyFile]).toString().trim();
    const clock = { now: () => Date.now(), monotonic: () => performance.now(), setTimeout, clearTimeout } as any;
    return { identities, recipient, clock, operator: 'op-bert', concurrency: 8 };
  };
  const layoutVia = () =>
    new OfficeLayout(
      { kits: `s3://${ORG}-kit-*`, office: `s3://${OFFICE}`, private: `s3://${PRIVATE}` },
      { endpoint: relay.endpoint, region: swift.region, ...swift.admin },
    );

  it('DeleteObjects where the store has it: one request for the 25 objects of a kit, every one verified gone', async () => {
    const tag = await writeCase('kit-x', 'GZ-0070', 5);
    const layout = layoutVia();
    relay.counts.clear();
    try {
      const { receipt } = await eraseCase(layout, deps(), tag, 'all');
      expect(receipt.verified).toBe(true);
      expect(receipt.objectsDeleted).toBe(25);
      expect(receipt.deleteRequests).toBe(1);
      expect(relay.count(`POST ${kitBucket('kit-x')}?delete`)).toBe(1);
      expect(relay.count(`DELETE ${kitBucket('kit-x')}`)).toBe(0);
      expect(relay.count(`HEAD ${kitBucket('kit-x')}`)).toBe(25); // the verification
    } finally {
      layout.close();
    }
    expect(await keysIn(kitBucket('kit-x'))).toEqual([]);
  });

  it('a store that answers DeleteObjects with NotImplemented: single deletes, still verified', async () => {
    const tag = await writeCase('kit-y', 'GZ-0071', 4);
    const layout = layoutVia();
    relay.counts.clear();
    relay.refuseBatchDelete = true;
    try {
      const { receipt } = await eraseCase(layout, deps(), tag, 'all');
      expect(receipt.verified).toBe(true);
      expect(receipt.objectsDeleted).toBe(20);
      expect(receipt.deleteRequests).toBe(20);
      expect(relay.count(`POST ${kitBucket('kit-y')}?delete`)).toBe(1); // asked once, then never again
      expect(relay.count(`DELETE ${kitBucket('kit-y')}`)).toBe(20);
    } finally {
      relay.refuseBatchDelete = false;
      layout.close();
    }
    expect(await keysIn(kitBucket('kit-y'))).toEqual([]);
  });
});

describe('the office audit checkpoint', () => {
  const ids = () => [execFileSync('grep', ['AGE-SECRET-KEY', orgKeyFile]).toString().trim()];
  const recipient = () => execFileSync('age-keygen', ['-y', orgKeyFile]).toString().trim();
  const clock = { now: () => Date.now(), monotonic: () => performance.now(), setTimeout, clearTimeout } as any;

  it('verification reads only the entries after the last checkpoint; additions or removals before it and a forged checkpoint are reported', async () => {
    await swift.createBucket(`${ORG}-audit-cp`);
    const viaRelay = new S3Connection({ endpoint: relay.endpoint, region: swift.region, ...swift.admin });
    const store = viaRelay.bucket(`${ORG}-audit-cp`);
    try {
      const audit = new OfficeAudit({ store, identities: ids(), recipient: recipient(), clock });
      for (let i = 0; i < 6; i++) await audit.append('op-bert', 'case.read', { i });
      const first = await audit.verifyFrom();
      expect(first).toMatchObject({ ok: true, entries: 6, read: 6, from: null });
      expect(first.checkpoint).toMatch(/^audit-checkpoints\//);
      for (let i = 0; i < 2; i++) await audit.append('op-bert', 'case.read', { i: 10 + i });
      relay.counts.clear();
      const second = await audit.verifyFrom();
      expect(second).toMatchObject({ ok: true, entries: 8, read: 2, from: first.checkpoint });
      // the two new entries and the checkpoint are read, not the six before it
      expect(relay.count(`GET ${ORG}-audit-cp`)).toBe(2 + 2); // 2 entries + the checkpoint read twice (verify, then the next checkpoint's prev)
      expect(second.checkpoint).not.toBe(first.checkpoint);
      // appending reads from the checkpoint too
      relay.counts.clear();
      await audit.append('op-bert', 'case.read', { i: 20 });
      expect(relay.count(`GET ${ORG}-audit-cp`)).toBeLessThanOrEqual(3);

      // an entry removed before the checkpoint: the key count no longer matches
      const entries = await audit.entries();
      const removed = entries[2]!;
      await conn.bucket(`${ORG}-audit-cp`).delete(removed.key);
      const broken = await audit.verifyFrom();
      expect(broken.ok).toBe(false);
      expect(broken.problems.join('\n')).toMatch(/added or removed after the checkpoint/);
      expect(broken.checkpoint).toBeNull();
      // a full verification names the broken link as well
      const full = await audit.verifyFrom({ full: true });
      expect(full.problems.join('\n')).toMatch(/not there \(deleted\?\)/);
    } finally {
      viaRelay.close();
    }
  });

  it('a checkpoint without the organisation MAC is reported and not used', async () => {
    await swift.createBucket(`${ORG}-audit-forge`);
    const store = conn.bucket(`${ORG}-audit-forge`);
    const audit = new OfficeAudit({ store, identities: ids(), recipient: recipient(), clock });
    for (let i = 0; i < 3; i++) await audit.append('op-bert', 'fleet.read', { i });
    const ok = await audit.verifyFrom();
    expect(ok.ok).toBe(true);
    const cp = JSON.parse((await store.get(ok.checkpoint!)).toString('utf8'));
    // someone with write access but without the identity claims a checkpoint that skips everything
    const forged = { ...cp, at: cp.at + 1000, entries: 0, keysSha256: cp.keysSha256.replace(/^./, (c: string) => (c === '0' ? '1' : '0')) };
    await store.put('audit-checkpoints/29991231T235959999Z-forged000000.json', Buffer.from(JSON.stringify(forged)));
    const v = await audit.verifyFrom();
    expect(v.ok).toBe(false);
    expect(v.problems.join('\n')).toMatch(/forged000000\.json does not carry the organisation's MAC/);
    expect(v.from).toBe(ok.checkpoint); // the genuine one was used
  });

  it('an entry that links to one before the checkpoint head is an unresolved fork', async () => {
    await swift.createBucket(`${ORG}-audit-late`);
    const store = conn.bucket(`${ORG}-audit-late`);
    const audit = new OfficeAudit({ store, identities: ids(), recipient: recipient(), clock });
    for (let i = 0; i < 3; i++) await audit.append('op-bert', 'fleet.read', { i });
    expect((await audit.verifyFrom()).ok).toBe(true);
    const entries = await audit.entries();
    // a writer that saw entry 1 as the head, and PUT after the checkpoint (crashed before re-linking)
    const late = { ...entries[1]!.entry, at: Date.now() + 5000, prevKey: entries[0]!.key, prevHash: entries[0]!.hash, nonce: 'late00000000' };
    const text = JSON.stringify(late);
    const key = `audit/${new Date(late.at).toISOString().replace(/[-:]/g, '').replace('.', '')}-abcdefabcdef.json.age`;
    await store.put(key, await encryptTo([recipient()], text));
    const v = await audit.verifyFrom();
    expect(v.ok).toBe(false);
    expect(v.forks).toEqual([{ parent: entries[0]!.key, children: [key], resolved: false }]);
    expect(v.problems.join('\n')).toMatch(/names an entry before the checkpoint's head/);
  });
});
