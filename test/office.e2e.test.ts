// The organisation's side (issue 21) against a real S3 server (OpenStack Swift with s3api): kits
// made of the real store code sync through the real SyncService with the OfficeLink steps (case
// index, kit status, erasure notices), a bucket per kit; the office commands run over them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OfficeAudit } from '../src/office/audit.js';
import { runOffice } from '../src/office/cli.js';
import type { CaseTagger } from '../src/session/case-tags.js';
import type { Privacy } from '../src/session/privacy.js';
import type { OfficeLink } from '../src/sync/office-link.js';
import { caseTagKeyFileText, readCaseTagKey, storeCaseTagKey } from '../src/office/tag-key.js';
import { S3Connection, type BucketStore } from '../src/store/bucket-store.js';
import { encryptTo } from '../src/store/crypto.js';
import { caseTag, statusKey } from '../src/store/objects.js';
import { SyncService } from '../src/sync/service.js';
import { S3Target } from '../src/sync/targets.js';
import { ageDecrypt } from './helpers/media.js';
import { officeSide } from './helpers/office-kit.js';
import { SwiftServer } from './helpers/swift.js';
import { makeKit, recordClip, syntheticSegments, type TestKit } from './helpers/sync-kit.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const ORG = 'vht-org';
const OFFICE = `${ORG}-office`;
const PRIVATE = `${ORG}-office-private`;
const kitBucket = (kitId: string) => `${ORG}-kit-${kitId}`;

let root: string;
let swift: SwiftServer;
let orgKeyFile: string;
let tagKeyFile: string;
let conn: S3Connection;

interface OfficeKit {
  kit: TestKit;
  kitId: string;
  privacy: Privacy;
  tagger: CaseTagger;
  link: OfficeLink;
  sync: SyncService;
}

async function officeKit(kitId: string, opts: { storage?: () => { freeBytes: number; usableBytes: number }; version?: string } = {}): Promise<OfficeKit> {
  const kit = await makeKit(path.join(root, kitId), { orgKeyFile });
  await storeCaseTagKey(kit.keys, tagKeyFile);
  const { privacy, tagger, link } = officeSide(kit, kitId, conn.bucket(OFFICE), opts);
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
    extensions: [link],
  });
  return { kit, kitId, privacy, tagger, link, sync };
}

function env(): NodeJS.ProcessEnv {
  return {
    AWS_ENDPOINT_URL: swift.endpoint,
    AWS_REGION: swift.region,
    AWS_ACCESS_KEY_ID: swift.admin.accessKeyId,
    AWS_SECRET_ACCESS_KEY: swift.admin.secretAccessKey,
    VHT_OFFICE_KITS: `s3://${ORG}-kit-*`,
    VHT_OFFICE_BUCKET: `s3://${OFFICE}`,
    VHT_OFFICE_PRIVATE: `s3://${PRIVATE}`,
    VHT_OFFICE_IDENTITY: orgKeyFile,
    VHT_OFFICE_CASE_TAG_KEY: tagKeyFile,
    VHT_OPERATOR: 'op-anna',
  };
}

/** Runs `vht-kit office …` in-process with --json; the parsed output. */
async function office(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<any> {
  let out = '';
  await runOffice([...args, '--json'], { env: { ...env(), ...extraEnv }, out: { write: (s: string) => (out += s) }, err: { write: () => true } });
  return JSON.parse(out);
}

function decrypt(body: Buffer): any {
  const f = path.join(root, `obj-${Math.random().toString(36).slice(2)}.age`);
  writeFileSync(f, body);
  return JSON.parse(ageDecrypt(orgKeyFile, f).toString('utf8')); // Debian's age CLI
}

const keysIn = async (bucket: string, prefix = '') => (await swift.list(bucket, prefix)).map((o) => o.key);

let a: OfficeKit;
let b: OfficeKit;
let c: OfficeKit;
let tag42: string;
let tag50: string;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-office-'));
  swift = await SwiftServer.create(path.join(root, 'swift'));
  orgKeyFile = path.join(root, 'org.key');
  execFileSync('age-keygen', ['-o', orgKeyFile], { stdio: 'pipe' });
  tagKeyFile = path.join(root, 'org.key.case-tag');
  writeFileSync(tagKeyFile, caseTagKeyFileText());
  tag42 = caseTag('GZ-0042', readCaseTagKey(tagKeyFile));
  tag50 = caseTag('GZ-0050', readCaseTagKey(tagKeyFile));
  conn = new S3Connection({ endpoint: swift.endpoint, region: swift.region, ...swift.admin });
  await swift.createBucket(OFFICE);
  await swift.createBucket(PRIVATE);
  a = await officeKit('kit-a');
  b = await officeKit('kit-b');
  c = await officeKit('kit-c');
}, 600_000);

afterAll(async () => {
  for (const k of [a, b, c]) {
    k?.sync.close();
    k?.kit.catalogue.close();
  }
  conn?.close();
  await swift?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('the kit side: case tags, case index, kit status', () => {
  it('a case made while locked waits for its tag; after a sign-in its clips go up with their case index entries', async () => {
    const clip1 = await recordClip(a.kit, { caseCode: 'GZ-0042', segments: syntheticSegments(2, 4000, 1) });
    const clip2 = await recordClip(a.kit, { caseCode: 'GZ-0050', segments: syntheticSegments(2, 4000, 2) });
    await recordClip(a.kit, { caseCode: null, segments: syntheticSegments(1, 4000, 3) });
    // locked: the case-tag key does not open, the cases have no tag, their clips wait
    const locked = await a.sync.runOnce();
    expect(locked.error).toBeUndefined();
    expect(locked.uploaded).toEqual([]);
    expect(locked.waitingForCase.sort()).toHaveLength(3);
    expect(await keysIn(kitBucket('kit-a'), 'kit-a/clips/')).toEqual([]);
    // the status went up anyway, and says why
    const st0 = decrypt(await swift.get(kitBucket('kit-a'), statusKey('kit-a')));
    expect(st0.warnings).toContain('cases-without-tag');
    expect(st0.casesWithoutTag).toBe(2);

    expect(await a.kit.keys.unlock('4821')).toBe(true);
    await a.tagger.tagCases();
    expect(a.kit.catalogue.officeLedger.caseTag('GZ-0042')).toBe(tag42);
    const r = await a.sync.runOnce();
    expect(r.error).toBeUndefined();
    expect(r.uploaded.sort()).toEqual([clip1, clip2].sort());
    const index = await keysIn(kitBucket('kit-a'), 'kit-a/cases/');
    expect(index).toEqual([`kit-a/cases/${tag42}/clip-${clip1}.json.age`, `kit-a/cases/${tag50}/clip-${clip2}.json.age`].sort());
    // the entry names the clip, its visit, consent and trainers; never readable without the org identity
    const entry = decrypt(await swift.get(kitBucket('kit-a'), `kit-a/cases/${tag42}/clip-${clip1}.json.age`));
    expect(entry).toMatchObject({ kitId: 'kit-a', caseTag: tag42, caseCode: 'GZ-0042', kind: 'clip', id: clip1, trainerIds: ['T-001'], segments: 2 });
    expect(entry.visitUid).toMatch(/^[0-9a-f]{16}$/);
    const raw = await swift.get(kitBucket('kit-a'), `kit-a/cases/${tag42}/clip-${clip1}.json.age`);
    expect(raw.includes(Buffer.from('GZ-0042'))).toBe(false);
    const st = decrypt(await swift.get(kitBucket('kit-a'), statusKey('kit-a')));
    expect(st).toMatchObject({ kitId: 'kit-a', version: '0.2.0', waitingForCase: 1, waitingForUpload: 0, trainerIds: ['T-001'], casesWithoutTag: 0 });
    expect(st.lastSuccessAt).toBeGreaterThan(0);
  });

  it('kits b and c hold the same case; c also a closed case', async () => {
    for (const k of [b, c]) {
      expect(await k.kit.keys.unlock('4821')).toBe(true);
      await recordClip(k.kit, { caseCode: 'GZ-0042', segments: syntheticSegments(3, 3000, 4) });
    }
    await recordClip(c.kit, { caseCode: 'GZ-0060', segments: syntheticSegments(1, 3000, 5) });
    await c.tagger.tagCases();
    await b.tagger.tagCases();
    await c.privacy.closeCase('GZ-0060');
    for (const k of [b, c]) expect((await k.sync.runOnce()).uploaded).toHaveLength(k === c ? 2 : 1);
  });
});

describe('the office over the store', () => {
  it('office case: everything of a case across three kits, through the index', async () => {
    const inv = await office(['case', 'GZ-0042']);
    expect(inv.caseTag).toBe(tag42);
    expect(inv.kits).toEqual(['kit-a', 'kit-b', 'kit-c']);
    expect(inv.items).toHaveLength(3);
    expect(inv.visits.length).toBeGreaterThanOrEqual(1);
    expect(inv.trainerIds).toEqual(['T-001']);
    expect(inv.consent).toEqual({ recording: true, review: true, supervision: true, training: true });
    expect(inv.problems).toEqual([]);
    // by tag alone (no code, no case-tag key): the same
    const byTag = await office(['case', '--tag', tag42], { VHT_OFFICE_CASE_TAG_KEY: '' });
    expect(byTag.items.map((i: any) => i.id).sort()).toEqual(inv.items.map((i: any) => i.id).sort());
  });

  it('office kits: one line a kit, flags for not seen, waiting clips, low storage, old software', async () => {
    // kit-d wrote its status 20 days ago with an old version, little room and a clip waiting since
    const d = await officeKit('kit-d', { storage: () => ({ freeBytes: 5e8, usableBytes: 1e8 }), version: '0.1.0' });
    d.kit.clock.offsetMs = -20 * 86_400_000;
    await recordClip(d.kit, { caseCode: null, segments: syntheticSegments(1, 2000, 6) });
    const body = await encryptTo([d.kit.orgRecipient], JSON.stringify(d.link.status({})));
    await conn.bucket(kitBucket('kit-d')).put(statusKey('kit-d'), body);
    // kit-e never synced: a bucket without a status
    await swift.createBucket(kitBucket('kit-e'));
    const kits = await office(['kits']);
    const byId = Object.fromEntries(kits.map((k: any) => [k.kitId, k]));
    expect(Object.keys(byId)).toEqual(['kit-a', 'kit-b', 'kit-c', 'kit-d', 'kit-e']);
    expect(byId['kit-a'].flags).toEqual([]);
    expect(byId['kit-d'].flags).toEqual(expect.arrayContaining(['not-seen', 'clips-waiting-too-long', 'low-storage', 'old-software']));
    expect(byId['kit-d'].daysSinceSeen).toBe(20);
    expect(byId['kit-e'].flags).toEqual(['no-status']);
    d.sync.close();
    d.kit.catalogue.close();
  });

  it('office erase: every object of the case goes, verified; a receipt is kept; the notice is out', async () => {
    const before = await keysIn(kitBucket('kit-b'));
    expect(before.some((k) => k.includes('/clips/'))).toBe(true);
    const r = await office(['erase', 'GZ-0042']);
    expect(r.receipt.verified).toBe(true);
    expect(r.receipt.kitsMayHoldCopies).toEqual(['kit-a', 'kit-b', 'kit-c']);
    expect(r.receipt.objectsDeleted).toBeGreaterThanOrEqual(3 * 3);
    // gone from the store: clips and index entries of GZ-0042; GZ-0050 untouched
    for (const k of ['kit-a', 'kit-b', 'kit-c']) expect(await keysIn(kitBucket(k), `${k}/cases/${tag42}/`)).toEqual([]);
    const aLeft = await keysIn(kitBucket('kit-a'));
    expect(aLeft.filter((k) => k.includes(`/cases/${tag50}/`))).toHaveLength(1);
    expect((await keysIn(kitBucket('kit-b'), 'kit-b/clips/')).length).toBe(0);
    // the receipt, encrypted to the organisation, in the private bucket
    const receipt = decrypt(await swift.get(PRIVATE, r.receiptKey));
    expect(receipt).toMatchObject({ caseTag: tag42, caseCode: 'GZ-0042', scope: 'all', operator: 'op-anna', verified: true });
    // the notice for kits: plaintext, tag and scope only
    expect(await keysIn(OFFICE, 'erasures/')).toEqual([r.receipt.notice]);
    const notice = JSON.parse((await swift.get(OFFICE, r.receipt.notice)).toString('utf8'));
    expect(notice).toMatchObject({ caseTag: tag42, scope: 'all' });
    expect(JSON.stringify(notice)).not.toContain('GZ-0042');
  });

  it('a kit that docks after the erasure erases its copies BEFORE it uploads anything', async () => {
    // kit-b made a new take of the erased case after the office erased it (not uploaded yet)
    const late = await recordClip(b.kit, { caseCode: 'GZ-0042', segments: syntheticSegments(2, 3000, 7) });
    const old = b.kit.catalogue.clipsOfCase('GZ-0042').map((x) => x.id);
    expect(old).toContain(late);
    const r = await b.sync.runOnce();
    expect(r.error).toBeUndefined();
    expect(r.uploaded).toEqual([]);
    expect(b.kit.catalogue.clipsOfCase('GZ-0042')).toEqual([]);
    for (const id of old) expect(b.kit.keys.hasClipKey(id)).toBe(false); // crypto-erased
    expect(await keysIn(kitBucket('kit-b'), `kit-b/clips/${late}/`)).toEqual([]);
    expect(b.kit.catalogue.getCase('GZ-0042')!.consent.recording).toBe(false);
    const audit = b.kit.catalogue.auditEvents().map((e) => e.type);
    expect(audit.filter((t) => t === 'erasure.notice.applied')).toHaveLength(1);
    expect(audit).toContain('clip.deleted');
    // the status reports the cursor; a second dock reads nothing new
    const st = decrypt(await swift.get(kitBucket('kit-b'), statusKey('kit-b')));
    expect(st.erasureCursor).toMatch(new RegExp(`^erasures/.*-${tag42}-all\\.json$`));
  });

  it('office retention: closed cases past trajectory end + period, erased with --apply', async () => {
    const listed = await office(['retention', '--period-days', '30']);
    expect(listed.due).toEqual([]);
    expect(listed.waiting.map((w: any) => w.caseTag)).toHaveLength(1);
    const tag60 = listed.waiting[0].caseTag;
    expect(listed.waiting[0].kits).toEqual(['kit-c']);
    const applied = await office(['retention', '--period-days', '0', '--apply']);
    expect(applied.due.map((d: any) => d.caseTag)).toEqual([tag60]);
    expect(applied.erased).toHaveLength(1);
    expect(await keysIn(kitBucket('kit-c'), `kit-c/cases/${tag60}/`)).toEqual([]);
    // erased cases are not due again
    expect((await office(['retention', '--period-days', '0'])).due).toEqual([]);
  });

  it('every office action is in the office audit, and the chain verifies', async () => {
    const v = await office(['audit', 'verify']);
    expect(v.ok).toBe(true);
    expect(v.problems).toEqual([]);
    const entries = await office(['audit', 'list']);
    const actions = entries.map((e: any) => e.entry.action);
    expect(actions).toEqual(expect.arrayContaining(['case.read', 'fleet.read', 'case.erased', 'retention.listed', 'retention.applied']));
    expect(entries.every((e: any) => e.entry.operator === 'op-anna')).toBe(true);
  });
});

/** A bucket whose first listing waits until `n` writers have listed: both see the same head. */
function gated(store: BucketStore, barrier: { waiting: number; n: number; open: () => void; opened: Promise<void> }): BucketStore {
  let first = true;
  return {
    describe: store.describe,
    list: async (p, o) => {
      const r = await store.list(p, o);
      if (first) {
        first = false;
        barrier.waiting += 1;
        if (barrier.waiting >= barrier.n) barrier.open();
        await barrier.opened;
      }
      return r;
    },
    get: (k) => store.get(k),
    put: (k, body) => store.put(k, body),
    delete: (k) => store.delete(k),
    exists: (k) => store.exists(k),
    close: () => store.close(),
  };
}

function barrier(n: number) {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { waiting: 0, n, open, opened };
}

describe('the office audit under two operators at once', () => {
  const ids = () => [execFileSync('grep', ['AGE-SECRET-KEY', orgKeyFile]).toString().trim()];
  const recipient = () => execFileSync('age-keygen', ['-y', orgKeyFile]).toString().trim();

  it('two writers that saw the same head: the loser re-links, the verifier reports the fork as resolved', async () => {
    await swift.createBucket('vht-audit-race');
    const store = conn.bucket('vht-audit-race');
    const clock = { now: () => Date.now(), monotonic: () => performance.now(), setTimeout, clearTimeout } as any;
    const first = new OfficeAudit({ store, identities: ids(), recipient: recipient(), clock });
    await first.append('op-1', 'start', {});
    const g = barrier(2);
    const w1 = new OfficeAudit({ store: gated(store, g), identities: ids(), recipient: recipient(), clock });
    const w2 = new OfficeAudit({ store: gated(store, g), identities: ids(), recipient: recipient(), clock });
    await Promise.all([w1.append('op-1', 'export', { clip: 'x' }), w2.append('op-2', 'export', { clip: 'y' })]);
    const v = await first.verify();
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.entries).toBe(4); // start, two children of it, one relink
    expect(v.forks).toHaveLength(1);
    expect(v.forks[0]!.resolved).toBe(true);
    // the next entry continues the main chain
    await first.append('op-1', 'after', {});
    expect((await first.verify()).ok).toBe(true);
  });

  it('a fork nobody re-linked (a writer that crashed after its PUT) and a changed entry are reported', async () => {
    await swift.createBucket('vht-audit-fork');
    const store = conn.bucket('vht-audit-fork');
    const clock = { now: () => Date.now(), monotonic: () => performance.now(), setTimeout, clearTimeout } as any;
    const first = new OfficeAudit({ store, identities: ids(), recipient: recipient(), clock });
    await first.append('op-1', 'start', {});
    const g = barrier(2);
    const w1 = new OfficeAudit({ store: gated(store, g), identities: ids(), recipient: recipient(), clock, noRelink: true });
    const w2 = new OfficeAudit({ store: gated(store, g), identities: ids(), recipient: recipient(), clock, noRelink: true });
    await Promise.all([w1.append('op-1', 'erase', {}), w2.append('op-2', 'erase', {})]);
    const v = await first.verify();
    expect(v.ok).toBe(false);
    expect(v.forks).toHaveLength(1);
    expect(v.forks[0]!.resolved).toBe(false);
    expect(v.problems.join('\n')).toMatch(/fork after audit\//);
    // a changed entry: its successor's hash link no longer matches
    const entries = await first.entries();
    const changed = { ...entries[0]!.entry, operator: 'op-mallory' };
    await store.put(entries[0]!.key, await encryptTo([recipient()], JSON.stringify(changed)));
    expect((await first.verify()).problems.join('\n')).toMatch(/does not match/);
  });
});
