// Retention of what the review cycle keeps (issue 19): fragments, kept stills and reviews, each row of
// the table that applies to them, with the real store (keys, SQLite, files) and the use-cases.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventBus } from '../src/core/events.js';
import { Fragments } from '../src/session/fragments.js';
import { KeptStills } from '../src/session/kept-stills.js';
import { Library } from '../src/session/library.js';
import { Presentation } from '../src/session/presentation.js';
import { Privacy } from '../src/session/privacy.js';
import { ReviewNotes } from '../src/session/review-notes.js';
import { Reviews } from '../src/session/review.js';
import { FragmentStore } from '../src/store/fragments.js';
import { ageDecrypt } from './helpers/media.js';
import { makeKit, recordClip, type TestKit } from './helpers/sync-kit.js';

const DAY = 86_400_000;
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('a look between mother and child '.repeat(10)), Buffer.from([0xff, 0xd9])]);
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function segs(n: number, tag: string) {
  return Array.from({ length: n }, (_, i) => ({ data: Buffer.from(`${tag} second ${i} `.repeat(100)), durationMs: 1000 }));
}

/** A kit with the review cycle's use-cases over the real store, and a trusted time the test sets. */
async function cycle() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-review-ret-'));
  roots.push(dir);
  const kit: TestKit = await makeKit(path.join(dir, 'kit'));
  expect(await kit.keys.unlock('4821')).toBe(true);
  const store = new FragmentStore(kit.dataDir, kit.catalogue, kit.keys, kit.logger);
  let now = kit.clock.now();
  const privacy = new Privacy(kit.catalogue, kit.clips, kit.clock, kit.logger, {
    dataDir: kit.dataDir,
    onWithdrawal: 'after-upload',
    deleteAfterUploadHours: 336,
    warnUnuploadedDays: 7,
    retentionIntervalMs: 3_600_000,
    trustedNow: () => now,
    kept: {
      deleteFragment: (id) => store.deleteFragment(id),
      deleteKeptStill: (id) => store.deleteKeptStill(id),
      destroyReviewKey: (id) => kit.keys.destroyContentKey({ kind: 'review', id }),
    },
  });
  const bus = new EventBus();
  const presentation = new Presentation({
    catalogue: kit.catalogue,
    keys: kit.keys,
    privacy,
    bus,
    clock: kit.clock,
    logger: kit.logger,
    lockAfterIdleMs: DAY,
    fps: 25,
  });
  const library = new Library({ catalogue: kit.catalogue, clips: kit.clips, privacy, presentation, bus, clock: kit.clock });
  const notes = new ReviewNotes(kit.keys, store);
  const common = { catalogue: kit.catalogue, store, keys: kit.keys, notes, library, privacy, bus, clock: kit.clock };
  const fragments = new Fragments({ ...common, logger: kit.logger, leadInMs: 3000, leadOutMs: 7000 });
  const stills = new KeptStills(common);
  const reviews = new Reviews({ catalogue: kit.catalogue, keys: kit.keys, privacy, clock: kit.clock });
  const clipId = await recordClip(kit, { caseCode: 'GZ-0042', segments: segs(8, 'visit 1') });
  await kit.clips.addStill(clipId, JPEG, 2000, kit.clock.now());
  const ledger = kit.catalogue.reviewLedger;
  const confirm = (kind: 'fragment' | 'still' | 'review', id: string) => ledger.confirm(kind, id, 1, now);
  const audits = () => kit.catalogue.auditEvents().map((e) => e.type);
  return {
    kit,
    store,
    privacy,
    fragments,
    stills,
    reviews,
    clipId,
    ledger,
    confirm,
    audits,
    at: (t: number) => (now = t),
    get now() {
      return now;
    },
  };
}

describe('retention of fragments, kept stills and reviews (the table, issue 19)', () => {
  it('never-in-review: a fragment or kept still goes 30 days after saving, once confirmed; its footage then opens with nothing on the kit', async () => {
    const c = await cycle();
    const f = await c.fragments.save(c.clipId, { inMs: 1000, outMs: 3000, label: 'naming', note: 'Wat ziet u?' });
    const s = await c.stills.keep(c.clipId, 1, 'een blik');
    const segFile = path.join(c.store.fragmentsDir, f.id, '1.ts.age');
    const copy = path.join(c.kit.dir, 'copy-before.ts.age');
    writeFileSync(copy, readFileSync(segFile));
    expect(await c.privacy.runRetention()).toEqual([]);
    c.at(s.createdAt + 30 * DAY);
    expect(await c.privacy.runRetention()).toEqual([]); // not confirmed yet: waits
    c.confirm('fragment', f.id);
    c.confirm('still', s.id);
    expect((await c.privacy.runRetention()).sort()).toEqual([f.id, s.id].sort());
    expect(c.ledger.fragment(f.id)).toBeUndefined();
    expect(existsSync(path.join(c.store.fragmentsDir, f.id))).toBe(false);
    expect(readdirSync(c.store.stillsDir)).toEqual([]);
    expect(c.kit.keys.hasContentKey({ kind: 'fragment', id: f.id })).toBe(false);
    await expect(c.kit.keys.contentIdentity({ kind: 'fragment', id: f.id })).rejects.toThrow(/no playback key/);
    // The organisation still opens the old copy with its own identity (it holds the footage).
    expect(ageDecrypt(c.kit.orgKeyFile, copy).toString()).toContain('visit 1 second 1');
    expect(c.audits()).toEqual(expect.arrayContaining(['fragment.erased', 'still.erased']));
  });

  it('review-held: a review, its fragments and stills go 14 days after it was held; an unheld review keeps them past 30 days', async () => {
    const c = await cycle();
    const f = await c.fragments.save(c.clipId, { inMs: 0, outMs: 2000 });
    const s = await c.stills.keep(c.clipId, 1, null);
    const r = await c.reviews.create({
      caseCode: 'GZ-0042',
      items: [
        { kind: 'fragment', id: f.id },
        { kind: 'still', id: s.id },
      ],
    });
    for (const [k, id] of [
      ['fragment', f.id],
      ['still', s.id],
      ['review', r.id],
    ] as const)
      c.confirm(k, id);
    c.at(f.createdAt + 40 * DAY);
    expect(await c.privacy.runRetention()).toEqual([]);
    c.reviews.held(r.id);
    const heldAt = c.ledger.review(r.id)!.heldAt!;
    c.at(heldAt + 14 * DAY - 1);
    expect(await c.privacy.runRetention()).toEqual([]);
    c.at(heldAt + 14 * DAY);
    expect((await c.privacy.runRetention()).sort()).toEqual([f.id, s.id, r.id].sort());
    expect(c.ledger.review(r.id)).toBeUndefined();
    expect(c.kit.keys.hasContentKey({ kind: 'review', id: r.id })).toBe(false);
    expect(c.audits()).toContain('review.erased');
  });

  it('consent-review-withdrawn: fragments, stills and reviews go at once, confirmed or not; the raw clip stays', async () => {
    const c = await cycle();
    const f = await c.fragments.save(c.clipId, { inMs: 0, outMs: 2000 });
    const s = await c.stills.keep(c.clipId, 1, 'bijschrift');
    const r = await c.reviews.create({ caseCode: 'GZ-0042', items: [{ kind: 'fragment', id: f.id }] });
    await c.privacy.updateCase('GZ-0042', { consent: { review: false } });
    expect(c.ledger.fragment(f.id)).toBeUndefined();
    expect(c.ledger.keptStill(s.id)).toBeUndefined();
    expect(c.ledger.review(r.id)).toBeUndefined();
    expect(c.kit.catalogue.getClip(c.clipId)).toBeDefined();
  });

  it('case-closed: everything of the case waits for its confirmation, then goes', async () => {
    const c = await cycle();
    const f = await c.fragments.save(c.clipId, { inMs: 0, outMs: 2000 });
    await c.privacy.closeCase('GZ-0042');
    c.at(c.kit.clock.now() + 1000);
    expect(await c.privacy.runRetention()).toEqual([]);
    expect(c.ledger.fragment(f.id)).toBeDefined();
    c.confirm('fragment', f.id);
    expect(await c.privacy.runRetention()).toContain(f.id);
  });

  it('deletion-requested: a deleted fragment goes once the organisation confirmed it; meanwhile it says so', async () => {
    const c = await cycle();
    const f = await c.fragments.save(c.clipId, { inMs: 0, outMs: 2000 });
    expect(await c.fragments.remove(f.id)).toEqual({ deleted: false });
    expect((await c.fragments.get(f.id)).deleteRequested).toBe(true);
    c.confirm('fragment', f.id);
    expect(await c.privacy.runRetention()).toEqual([f.id]);
  });

  it('a raw clip erased by its own rule leaves its fragments playable, and the library lists it as removed with them', async () => {
    const c = await cycle();
    const f = await c.fragments.save(c.clipId, { inMs: 2000, outMs: 4000 });
    c.kit.catalogue.markUploaded(c.clipId, c.now);
    c.at(c.now + 15 * DAY);
    expect(await c.privacy.runRetention()).toEqual([c.clipId]);
    expect(c.kit.catalogue.getClip(c.clipId)).toBeUndefined();
    expect(c.ledger.erasedClipsWithKept().map((e) => [e.clipId, e.rule, e.uploadedAt !== null])).toEqual([[c.clipId, 'analysis-period', true]]);
    const seq = c.store.fragment(f.id).segments[0]!.seq;
    expect((await c.fragments.segment(f.id, seq)).toString()).toContain(`visit 1 second ${seq}`);
    expect((await c.fragments.list(c.clipId)).map((x) => x.id)).toEqual([f.id]);
  });
});
