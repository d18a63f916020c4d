// `vht-kit export --review` (issue 19): from a directory the kit uploaded to, with the organisation's
// identity: each fragment as an MP4 trimmed to its in and out (±1 frame), the kept still as JPEG,
// the items with labels and notes as CSV and ELAN, the review talk's markers as CSV and ELAN.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportReview } from '../src/sync/export-review.js';
import { SyncService } from '../src/sync/service.js';
import { DirTarget } from '../src/sync/targets.js';
import { reviewCycleKit, segs } from './helpers/review-kit.js';
import { realSegments, recordClip } from './helpers/sync-kit.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** The MP4's duration in ms (gst-discoverer-1.0). */
function durationMs(file: string): number {
  const out = execFileSync('gst-discoverer-1.0', [file], { encoding: 'utf8' });
  const m = /Duration: (\d+):(\d+):(\d+)\.(\d+)/.exec(out)!;
  return (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000 + Number(m[4]!.slice(0, 3).padEnd(3, '0'));
}

describe('vht-kit export --review', () => {
  it('writes the fragments as MP4s of their exact length (±1 frame), the still, the notes and the talk markers as CSV and ELAN', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'vht-export-review-'));
    roots.push(root);
    const c = await reviewCycleKit(root, { segments: realSegments(path.join(root, 'media'), 8) });
    const a = await c.fragments.save(c.clipId, { inMs: 1300, outMs: 4700, label: 'child-initiative', note: 'Wat ziet u, "hier"?' });
    const b = await c.fragments.save(c.clipId, { inMs: 5000, outMs: 7500, label: 'receiving' });
    const s = await c.stills.keep(c.clipId, 1, 'een blik');
    const r = await c.reviews.create({
      caseCode: 'GZ-0042',
      items: [
        { kind: 'fragment', id: b.id },
        { kind: 'still', id: s.id },
        { kind: 'fragment', id: a.id },
      ],
    });
    const talk = await recordClip(c.kit, {
      caseCode: 'GZ-0042',
      segments: segs(3, 'talk'),
      markers: [
        { offsetMs: 200, label: 'fragment 1 · ontvangen' },
        { offsetMs: 1400, label: 'pauze' },
      ],
    });
    c.ledger.insertReviewTalk(talk, r.id, c.kit.clock.now());
    c.reviews.update(r.id, { plannedFor: '2026-12-21' });
    const share = path.join(root, 'share');
    mkdirSync(share);
    const sync = new SyncService({
      catalogue: c.kit.catalogue,
      clips: c.kit.clips,
      target: new DirTarget({ path: share }),
      kitId: 'kit-19',
      orgRecipient: c.kit.orgRecipient,
      clock: c.kit.clock,
      logger: c.kit.logger,
      exportAudit: false,
      review: {
        recipientsOf: (ref) => c.kit.keys.recipientsOf(ref),
        fragment: (id) => c.store.fragment(id),
        keptStill: (id) => c.store.keptStill(id),
        keptStillCiphertext: (id) => c.store.readKeptStill(id),
        noteCiphertext: (ref) => c.notes.ciphertext(ref),
      },
    });
    const run = await sync.runOnce();
    sync.close();
    expect(run.error).toBeUndefined();
    expect(run.reviewObjects).toHaveLength(4);

    const out = path.join(root, 'export');
    const res = await exportReview({ identityFile: c.kit.orgKeyFile, from: share, reviewId: r.id, outDir: out });
    expect(res.items.map((i) => i.kind)).toEqual(['fragment', 'still', 'fragment']);
    const frame = 1000 / 30;
    for (const [item, f] of [
      [res.items[0]!, b],
      [res.items[2]!, a],
    ] as const) {
      expect(Math.abs(durationMs(item.file) - (f.outMs - f.inMs))).toBeLessThanOrEqual(frame + 1);
    }
    expect(readFileSync(res.items[1]!.file).subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    const csv = readFileSync(res.notesCsv, 'utf8').trim().split('\n');
    expect(csv[0]).toBe('position,kind,id,source_clip,in_ms,out_ms,time_ms,label,label_nl,note,file');
    expect(csv[1]).toBe(`1,fragment,${b.id},${c.clipId},5000,7500,,receiving,ontvangen,,${path.basename(res.items[0]!.file)}`);
    expect(csv[2]).toBe(`2,still,${s.id},${c.clipId},,,2000,,,een blik,${path.basename(res.items[1]!.file)}`);
    expect(csv[3]).toBe(
      `3,fragment,${a.id},${c.clipId},1300,4700,,child-initiative,initiatief kind,"Wat ziet u, ""hier""?",${path.basename(res.items[2]!.file)}`,
    );
    const eaf = readFileSync(res.notesEaf[1]!, 'utf8');
    expect(eaf).toContain('<ANNOTATION_VALUE>initiatief kind: Wat ziet u, &quot;hier&quot;?</ANNOTATION_VALUE>');
    expect(res.talks.map((t) => t.clipId)).toEqual([talk]);
    expect(readFileSync(res.talks[0]!.csv, 'utf8')).toBe('offset_ms,time,label\n200,00:00:00.200,fragment 1 · ontvangen\n1400,00:00:01.400,pauze\n');
    const talkEaf = readFileSync(res.talks[0]!.eaf, 'utf8');
    expect(talkEaf).toContain('TIME_VALUE="1400"');
    expect(talkEaf).toContain('<ANNOTATION_VALUE>pauze</ANNOTATION_VALUE>');
  }, 180_000);
});
