// The retention table (src/store/retention.ts) row by row, driven by an injected clock, and the kit
// acting on it (Privacy: analysis period, eviction, the case close action) with real keys, real
// SQLite and real files.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import type { Clock, TimerHandle } from '../src/core/clock.js';
import { createLogger } from '../src/core/logger.js';
import { Privacy } from '../src/session/privacy.js';
import { Catalogue, type Consent } from '../src/store/catalogue.js';
import { ClipStore } from '../src/store/clips.js';
import { KeyStore } from '../src/store/keys.js';
import {
  DEFAULT_RETENTION,
  evictionOrder,
  RETENTION_TABLE,
  retentionDue,
  trustedNow,
  type RetainedItem,
  type RetentionPolicy,
} from '../src/store/retention.js';

const logger = createLogger({ level: 'silent' });
const H = 3_600_000;
const D = 24 * H;
const ALL: Consent = { recording: true, review: true, supervision: true, training: true };
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

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

const policy: RetentionPolicy = { ...DEFAULT_RETENTION };

function item(over: Partial<RetainedItem>): RetainedItem {
  return { kind: 'raw-clip', createdAt: 0, confirmedAt: null, deleteRequestedAt: null, withdrawn: [], caseClosedAt: null, ...over };
}

describe('the retention table, row by row (injected clock)', () => {
  const clock = new ManualClock();
  const t0 = clock.now();

  it('raw clip: never before confirmation; kept for the analysis period after it; 0 = at once', () => {
    const clip = item({ createdAt: t0 });
    clock.t = t0 + 400 * D;
    expect(retentionDue(clip, policy, clock.now())).toEqual({ action: 'keep' });
    const confirmed = { ...clip, confirmedAt: t0 + D };
    clock.t = t0 + D + 14 * D - 1;
    expect(retentionDue(confirmed, policy, clock.now())).toEqual({ action: 'keep' });
    clock.t = t0 + D + 14 * D;
    expect(retentionDue(confirmed, policy, clock.now())).toEqual({ action: 'erase', rule: 'analysis-period' });
    clock.t = t0 + D;
    expect(retentionDue(confirmed, { ...policy, analysisHours: 0 }, clock.now())).toEqual({ action: 'erase', rule: 'analysis-period' });
  });

  it("a trainer's deletion waits for the confirmation, then goes", () => {
    const asked = item({ createdAt: t0, deleteRequestedAt: t0 + H });
    expect(retentionDue(asked, policy, t0 + 2 * H)).toEqual({ action: 'wait', rule: 'deletion-requested', for: 'confirmation' });
    expect(retentionDue({ ...asked, confirmedAt: t0 + 3 * H }, policy, t0 + 3 * H)).toEqual({ action: 'erase', rule: 'deletion-requested' });
  });

  it('fragment or still never put in a review: N days after saving, once confirmed', () => {
    const frag = item({ kind: 'fragment', createdAt: t0, confirmedAt: t0 + H, inReview: false });
    expect(retentionDue(frag, policy, t0 + 30 * D - 1)).toEqual({ action: 'keep' });
    expect(retentionDue(frag, policy, t0 + 30 * D)).toEqual({ action: 'erase', rule: 'never-in-review' });
    expect(retentionDue({ ...frag, kind: 'still' }, policy, t0 + 30 * D)).toEqual({ action: 'erase', rule: 'never-in-review' });
    expect(retentionDue({ ...frag, confirmedAt: null }, policy, t0 + 300 * D)).toEqual({ action: 'wait', rule: 'never-in-review', for: 'confirmation' });
    // in a review that is still to come: kept however long
    expect(retentionDue({ ...frag, inReview: true, reviewHeldAt: null }, policy, t0 + 300 * D)).toEqual({ action: 'keep' });
  });

  it('review held: the review, its fragments and stills go N days later, once confirmed', () => {
    for (const kind of ['fragment', 'still', 'review'] as const) {
      const x = item({ kind, createdAt: t0, confirmedAt: t0, inReview: true, reviewHeldAt: t0 + 5 * D });
      expect(retentionDue(x, policy, t0 + 19 * D - 1)).toEqual({ action: 'keep' });
      expect(retentionDue(x, policy, t0 + 19 * D)).toEqual({ action: 'erase', rule: 'review-held' });
      expect(retentionDue({ ...x, confirmedAt: null }, policy, t0 + 19 * D)).toMatchObject({ action: 'wait', rule: 'review-held' });
    }
    // a raw clip is not held by a review: its own analysis period decides
    expect(retentionDue(item({ confirmedAt: t0, reviewHeldAt: t0 }), policy, t0 + D)).toEqual({ action: 'keep' });
  });

  it('closed trajectory: everything of the case, once confirmed; not before the close', () => {
    for (const kind of ['raw-clip', 'fragment', 'still', 'review'] as const) {
      const x = item({ kind, createdAt: t0, confirmedAt: t0, caseClosedAt: t0 + D, inReview: true });
      expect(retentionDue(x, policy, t0 + D - 1)).toEqual({ action: 'keep' });
      expect(retentionDue(x, policy, t0 + D)).toEqual({ action: 'erase', rule: 'case-closed' });
      expect(retentionDue({ ...x, confirmedAt: null }, policy, t0 + D)).toMatchObject({ action: 'wait', rule: 'case-closed' });
    }
  });

  it('consent withdrawal per scope: recording → all (per policy); review → fragments, stills, reviews at once even unconfirmed; supervision → review talks', () => {
    const raw = item({ createdAt: t0, withdrawn: ['recording'] });
    expect(retentionDue(raw, policy, t0)).toEqual({ action: 'wait', rule: 'consent-recording-withdrawn', for: 'confirmation' });
    expect(retentionDue(raw, { ...policy, onWithdrawal: 'immediately' }, t0)).toEqual({ action: 'erase', rule: 'consent-recording-withdrawn' });
    const frag = item({ kind: 'fragment', createdAt: t0, withdrawn: ['review'], inReview: true });
    expect(retentionDue(frag, policy, t0)).toEqual({ action: 'erase', rule: 'consent-review-withdrawn' });
    expect(retentionDue({ ...frag, kind: 'review' }, policy, t0)).toEqual({ action: 'erase', rule: 'consent-review-withdrawn' });
    // review consent does not touch the raw footage
    expect(retentionDue(item({ createdAt: t0, withdrawn: ['review'] }), policy, t0)).toEqual({ action: 'keep' });
    const talk = item({ createdAt: t0, confirmedAt: t0, withdrawn: ['supervision'], reviewTalk: true });
    expect(retentionDue(talk, policy, t0)).toEqual({ action: 'erase', rule: 'consent-supervision-withdrawn' });
    expect(retentionDue({ ...talk, reviewTalk: false }, policy, t0)).toEqual({ action: 'keep' });
    // training is used at the organisation only: nothing on the kit changes
    expect(retentionDue(item({ kind: 'fragment', createdAt: t0, withdrawn: ['training'], inReview: true }), policy, t0)).toEqual({ action: 'keep' });
  });

  it('every row names its rule in words and applies to at least one kind', () => {
    expect(new Set(RETENTION_TABLE.map((r) => r.id)).size).toBe(RETENTION_TABLE.length);
    for (const r of RETENTION_TABLE) {
      expect(r.kinds.length).toBeGreaterThan(0);
      expect(r.says.length).toBeGreaterThan(20);
    }
  });

  it('eviction for room: confirmed clips only, the oldest confirmation first, until enough', () => {
    const clips = [
      { id: 'a', confirmedAt: null, createdAt: 1, bytes: 900 },
      { id: 'b', confirmedAt: 50, createdAt: 2, bytes: 100 },
      { id: 'c', confirmedAt: 10, createdAt: 3, bytes: 100 },
      { id: 'd', confirmedAt: 30, createdAt: 4, bytes: 100 },
    ];
    expect(evictionOrder(clips, 150).map((c) => c.id)).toEqual(['c', 'd']);
    expect(evictionOrder(clips, 10_000).map((c) => c.id)).toEqual(['c', 'd', 'b']);
    expect(evictionOrder(clips, 0)).toEqual([]);
  });

  it('which clock decides: a clock set ahead never makes anything go early; with no trusted time, no time-based rule acts', () => {
    const anchor = { wallMs: t0, source: 'storage' as const, monotonicMs: 1000, bootId: 'boot-1' };
    // synchronised: the wall clock
    expect(trustedNow({ wallMs: t0 + 5 * D, ntpSynchronised: true, anchor, monotonicMs: 2000, bootId: 'boot-1' })).toBe(t0 + 5 * D);
    // set a month ahead (by hand, or a phone): bounded by the anchor + the monotonic time since
    expect(trustedNow({ wallMs: t0 + 30 * D, ntpSynchronised: false, anchor, monotonicMs: 1000 + H, bootId: 'boot-1' })).toBe(t0 + H);
    // after a reboot the monotonic clock restarts: time stands at the anchor until a new one
    expect(trustedNow({ wallMs: t0 + 30 * D, ntpSynchronised: false, anchor, monotonicMs: 5, bootId: 'boot-2' })).toBe(t0);
    // behind: the wall clock (things are kept longer, never shorter)
    expect(trustedNow({ wallMs: t0 - D, ntpSynchronised: false, anchor, monotonicMs: 1000 + H, bootId: 'boot-1' })).toBe(t0 - D);
    expect(trustedNow({ wallMs: t0, ntpSynchronised: false, anchor: null, monotonicMs: 0, bootId: 'boot-1' })).toBeNull();
  });
});

interface Kit {
  dir: string;
  dataDir: string;
  keys: KeyStore;
  catalogue: Catalogue;
  clips: ClipStore;
  privacy: Privacy;
  clock: ManualClock;
}

async function makeKit(opts: { hours?: number; trusted?: () => number | null } = {}): Promise<Kit> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-retention-'));
  roots.push(dir);
  const dataDir = path.join(dir, 'data');
  const orgKey = path.join(dir, 'org.key');
  execFileSync('age-keygen', ['-o', orgKey], { stdio: 'pipe' });
  const orgRecipient = /# public key: (age1\S+)/.exec(readFileSync(orgKey, 'utf8'))![1]!;
  const keys = new KeyStore({ dataDir, orgRecipient, allowDemoOrg: false, logger });
  await keys.start('48210000');
  const catalogue = new Catalogue(path.join(dataDir, 'catalogue.db'));
  const clips = new ClipStore(dataDir, catalogue, keys, logger);
  const clock = new ManualClock();
  const privacy = new Privacy(catalogue, clips, clock, logger, {
    dataDir,
    onWithdrawal: 'after-upload',
    deleteAfterUploadHours: opts.hours ?? parseConfig({}).privacy.deleteAfterUploadHours,
    warnUnuploadedDays: 14,
    retentionIntervalMs: 600_000,
    ...(opts.trusted ? { trustedNow: opts.trusted } : {}),
  });
  return { dir, dataDir, keys, catalogue, clips, privacy, clock };
}

async function record(kit: Kit, caseCode: string, bytes = 2000): Promise<string> {
  const now = kit.clock.now();
  if (!kit.catalogue.getCase(caseCode)) kit.privacy.createCase(caseCode, 'k-vht', ALL);
  const id = kit.clips.createClip({ caseCode, now, requestedAt: now, preRollMs: 0, originMs: now, consent: kit.privacy.consentForRecording(caseCode) });
  await kit.clips.prepareKey(id);
  await kit.clips.persistSegment(id, 0, Buffer.alloc(bytes, 7), { startMs: now, durationMs: 1000, discontinuity: false });
  kit.clips.finishClip(id, 'complete', now + 1000, 'stopped');
  kit.clock.t += 60_000;
  return id;
}

describe('the kit acts on the table', () => {
  it('by default a confirmed raw clip stays 14 days for the analysis, then is crypto-erased (audited with its rule)', async () => {
    const kit = await makeKit();
    expect(kit.privacy.retentionPolicy.analysisHours).toBe(336);
    const a = await record(kit, 'GZ-0101');
    kit.clips.markUploaded(a, kit.clock.now());
    kit.clock.t += 13 * D;
    expect(await kit.privacy.runRetention()).toEqual([]);
    expect(existsSync(path.join(kit.dataDir, 'clips', a))).toBe(true);
    kit.clock.t += D;
    expect(await kit.privacy.runRetention()).toEqual([a]);
    expect(existsSync(path.join(kit.dataDir, 'keys', 'clips', `${a}.json`))).toBe(false);
    const db = kit.catalogue
      .auditEvents()
      .filter((e) => e.clipId === a)
      .map((e) => e.type);
    expect(db).toEqual(['clip.deleted', 'key.destroy.pending']); // locked: the trainer's key rotates at the next login
  });

  it('a phone or hand set a month ahead does not erase: retention acts on trusted time', async () => {
    const base = new ManualClock().now();
    const kit = await makeKit({ trusted: () => Math.min(kit.clock.now(), base + 2 * D) });
    const a = await record(kit, 'GZ-0102');
    kit.clips.markUploaded(a, kit.clock.now());
    kit.clock.t += 30 * D; // the wall clock jumps ahead
    expect(await kit.privacy.runRetention()).toEqual([]);
    const none = await makeKit({ trusted: () => null });
    const b = await record(none, 'GZ-0103');
    none.clips.markUploaded(b, none.clock.now());
    none.clock.t += 30 * D;
    expect(await none.privacy.runRetention()).toEqual([]);
  });

  it('evicts confirmed clips oldest first when a take needs room, never an unconfirmed one', async () => {
    const kit = await makeKit();
    const a = await record(kit, 'GZ-0104', 5000);
    const b = await record(kit, 'GZ-0104', 5000);
    const c = await record(kit, 'GZ-0104', 5000);
    kit.clips.markUploaded(b, kit.clock.now());
    kit.clock.t += 1000;
    kit.clips.markUploaded(c, kit.clock.now());
    const bytes = kit.catalogue.getClip(b)!.bytes;
    expect(await kit.privacy.evictForRoom(bytes)).toEqual([b]);
    expect(await kit.privacy.evictForRoom(100 * bytes)).toEqual([c]);
    expect(kit.catalogue.getClip(a)).toBeDefined();
    expect(await kit.privacy.evictForRoom(100 * bytes)).toEqual([]);
  });

  it('the case close action: audited, no new takes, confirmed footage erased at once, the rest after its upload; survives a rebuild', async () => {
    const kit = await makeKit();
    const up = await record(kit, 'GZ-0105');
    const notYet = await record(kit, 'GZ-0105');
    const other = await record(kit, 'GZ-0106');
    kit.clips.markUploaded(up, kit.clock.now());
    kit.clips.markUploaded(other, kit.clock.now());
    const r = await kit.privacy.closeCase('GZ-0105');
    expect(r).toEqual({ closedAt: kit.clock.now(), erased: [up], waitingForUpload: [notYet] });
    expect(kit.catalogue.auditEvents().map((e) => e.type)).toContain('case.closed');
    expect(() => kit.privacy.consentForRecording('GZ-0105')).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN', field: 'caseCode', message: expect.stringMatching(/closed/) as string }),
    );
    expect(kit.catalogue.getClip(other)).toBeDefined(); // another case is untouched
    kit.clips.markUploaded(notYet, kit.clock.now());
    expect(await kit.privacy.runRetention()).toEqual([notYet]);
    const again = await kit.privacy.closeCase('GZ-0105');
    expect(again.closedAt).toBe(r.closedAt);
    await expect(kit.privacy.closeCase('GZ-9999')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // files are the truth: a rebuilt catalogue knows the case is closed
    const fresh = new Catalogue(path.join(kit.dir, 'rebuilt.db'));
    const p2 = new Privacy(fresh, new ClipStore(kit.dataDir, fresh, kit.keys, logger), kit.clock, logger, {
      dataDir: kit.dataDir,
      onWithdrawal: 'after-upload',
      deleteAfterUploadHours: 0,
      warnUnuploadedDays: 14,
      retentionIntervalMs: 600_000,
    });
    p2.restoreCases();
    expect(fresh.caseClosedAt('GZ-0105')).toBe(r.closedAt);
    expect(fresh.caseClosedAt('GZ-0106')).toBeNull();
  });

  it('visits get a global id (migration 6): 16 hex, unique, kept', async () => {
    const kit = await makeKit();
    const a = await record(kit, 'GZ-0107');
    kit.clock.t += D;
    const b = await record(kit, 'GZ-0107');
    const va = kit.catalogue.getClip(a)!.visitId!;
    const vb = kit.catalogue.getClip(b)!.visitId!;
    expect(va).not.toBe(vb);
    expect(kit.catalogue.visitUid(va)).toMatch(/^[0-9a-f]{16}$/);
    expect(kit.catalogue.visitUid(va)).not.toBe(kit.catalogue.visitUid(vb));
    expect(kit.catalogue.visitUid(va)).toBe(kit.catalogue.visitUid(va));
  });
});
