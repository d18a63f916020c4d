// Retention of what the review cycle keeps (issue 19): fragments, kept stills and reviews, each row of
// the table that applies to them, with the real store (keys, SQLite, files) and the use-cases.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ageDecrypt } from './helpers/media.js';
import { reviewCycleKit } from './helpers/review-kit.js';

const DAY = 86_400_000;
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'vht-review-ret-'));
  roots.push(d);
  return d;
}

describe('retention of fragments, kept stills and reviews (the table, issue 19)', () => {
  it('never-in-review: a fragment or kept still goes 30 days after saving, once confirmed; its footage then opens with nothing on the kit', async () => {
    const c = await reviewCycleKit(tmp());
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
    const c = await reviewCycleKit(tmp());
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
    const c = await reviewCycleKit(tmp());
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
    const c = await reviewCycleKit(tmp());
    const f = await c.fragments.save(c.clipId, { inMs: 0, outMs: 2000 });
    await c.privacy.closeCase('GZ-0042');
    c.at(c.kit.clock.now() + 1000);
    expect(await c.privacy.runRetention()).toEqual([]);
    expect(c.ledger.fragment(f.id)).toBeDefined();
    c.confirm('fragment', f.id);
    expect(await c.privacy.runRetention()).toContain(f.id);
  });

  it('deletion-requested: a deleted fragment goes once the organisation confirmed it; meanwhile it says so', async () => {
    const c = await reviewCycleKit(tmp());
    const f = await c.fragments.save(c.clipId, { inMs: 0, outMs: 2000 });
    expect(await c.fragments.remove(f.id)).toEqual({ deleted: false });
    expect((await c.fragments.get(f.id)).deleteRequested).toBe(true);
    c.confirm('fragment', f.id);
    expect(await c.privacy.runRetention()).toEqual([f.id]);
  });

  it('a raw clip erased by its own rule leaves its fragments playable, and the library lists it as removed with them', async () => {
    const c = await reviewCycleKit(tmp());
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
