// Fragments and kept stills outlive their raw clip (issue 13): real keys, real SQLite, real files,
// Debian's age CLI at the office, and a real small file system (tmpfs) for a full disk.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SegmentRow } from '../src/store/catalogue.js';
import { decryptWith } from '../src/store/crypto.js';
import { FragmentStore, segmentsForRange } from '../src/store/fragments.js';
import { everythingLeftOnTheKit, opensWithAny } from './helpers/kit-keys.js';
import { ageDecrypt } from './helpers/media.js';
import { makeKit, recordClip } from './helpers/sync-kit.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'vht-frag-'));
  roots.push(d);
  return d;
}

const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('a still of the child reaching out '.repeat(20)), Buffer.from([0xff, 0xd9])]);

function segs(n: number, tag: string): { data: Buffer; durationMs: number }[] {
  return Array.from({ length: n }, (_, i) => ({ data: Buffer.from(`${tag} second ${i} `.repeat(200)), durationMs: 1000 }));
}

describe('fragments and kept stills', () => {
  it("the raw clip is deleted: the fragment and the kept still decrypt; the old copy's other segments open with nothing left on the kit", async () => {
    const kit = await makeKit(path.join(tmp(), 'kit'));
    const fragments = new FragmentStore(kit.dataDir, kit.catalogue, kit.keys, kit.logger);
    const clipId = await recordClip(kit, { caseCode: 'GZ-0042', segments: segs(6, 'visit 1') });
    expect(await kit.keys.unlock('4821')).toBe(true);
    await kit.clips.addStill(clipId, JPEG, 2500, kit.clock.now());

    const seqs = segmentsForRange(kit.catalogue.segments(clipId), 1500, 3200);
    expect(seqs).toEqual([1, 2, 3]);
    const frag = await fragments.copySegments({ clipId, seqs, now: kit.clock.now() });
    expect(frag.segments.map((s) => s.seq)).toEqual([1, 2, 3]);
    expect(frag.sourceClipId).toBe(clipId);
    const kept = await fragments.keepStill({ clipId, stillId: 1, now: kit.clock.now() });
    expect(fragments.list()).toEqual({ fragments: [frag.id], stills: [kept.id] });

    const oldCopy = path.join(kit.dir, 'copy-before');
    cpSync(kit.dataDir, oldCopy, { recursive: true });
    expect(await kit.clips.deleteClip(clipId)).toBe('complete');
    expect(existsSync(path.join(kit.dataDir, 'clips', clipId))).toBe(false);

    // the fragment plays on the kit, with its own key, after the raw clip is gone
    const fragId = await kit.keys.contentIdentity({ kind: 'fragment', id: frag.id });
    for (const s of frag.segments) {
      const plain = Buffer.from(await decryptWith(fragId, await fragments.readFragmentSegment(frag.id, s.seq))).toString();
      expect(plain.startsWith(`visit 1 second ${s.seq} `)).toBe(true);
    }
    const stillId = await kit.keys.contentIdentity({ kind: 'still', id: kept.id });
    expect(Buffer.from(await decryptWith(stillId, await fragments.readKeptStill(kept.id))).equals(JPEG)).toBe(true);
    // the organisation reads both with the stock age CLI
    expect(ageDecrypt(kit.orgKeyFile, path.join(kit.dataDir, 'fragments', frag.id, '2.ts.age')).toString()).toContain('visit 1 second 2 ');
    expect(ageDecrypt(kit.orgKeyFile, path.join(kit.dataDir, 'stills', `${kept.id}.jpg.age`)).equals(JPEG)).toBe(true);

    // a copy of the data dir taken before: nothing left on the kit opens the raw clip's segments or still
    const left = await everythingLeftOnTheKit(kit.dataDir, '4821');
    expect(left.length).toBeGreaterThanOrEqual(3); // the trainer's key + the fragment's + the still's
    for (let seq = 0; seq < 6; seq++) {
      expect(await opensWithAny(left, readFileSync(path.join(oldCopy, 'clips', clipId, `${seq}.ts.age`)))).toBe(false);
    }
    expect(await opensWithAny(left, readFileSync(path.join(oldCopy, 'clips', clipId, 'still-1.jpg.age')))).toBe(false);
    // (the fragment's copies of 1–3 are what is kept, by design)
    expect(await opensWithAny(left, readFileSync(path.join(oldCopy, 'fragments', frag.id, '1.ts.age')))).toBe(true);

    // and deleting the fragment crypto-erases it too
    const before2 = path.join(kit.dir, 'copy-before-2');
    cpSync(kit.dataDir, before2, { recursive: true });
    expect(await fragments.deleteFragment(frag.id)).toBe('complete');
    expect(await fragments.deleteKeptStill(kept.id)).toBe('complete');
    expect(fragments.list()).toEqual({ fragments: [], stills: [] });
    const left2 = await everythingLeftOnTheKit(kit.dataDir, '4821');
    expect(await opensWithAny(left2, readFileSync(path.join(before2, 'fragments', frag.id, '1.ts.age')))).toBe(false);
    expect(await opensWithAny(left2, readFileSync(path.join(before2, 'stills', `${kept.id}.jpg.age`)))).toBe(false);
  }, 60_000);

  it('names the field of bad input; needs the clip key (423 while locked); refuses a clip still recording', async () => {
    const kit = await makeKit(path.join(tmp(), 'kit'));
    const fragments = new FragmentStore(kit.dataDir, kit.catalogue, kit.keys, kit.logger);
    const clipId = await recordClip(kit, { caseCode: 'GZ-0043', segments: segs(3, 'visit 2') });
    await expect(fragments.copySegments({ clipId, seqs: [0], now: 1 })).rejects.toMatchObject({ code: 'LOCKED' });
    expect(await kit.keys.unlock('4821')).toBe(true);
    await expect(fragments.copySegments({ clipId, seqs: [7], now: 1 })).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'seqs',
      message: expect.stringMatching(/no segment 7/) as string,
    });
    await expect(fragments.copySegments({ clipId, seqs: [], now: 1 })).rejects.toMatchObject({ field: 'seqs' });
    await expect(fragments.copySegments({ clipId: '../etc', seqs: [0], now: 1 })).rejects.toMatchObject({ code: 'VALIDATION', field: 'clipId' });
    await expect(fragments.keepStill({ clipId, stillId: 9, now: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'stillId' });
    const recording = await recordClip(kit, { caseCode: 'GZ-0043', segments: segs(1, 'live'), finish: null });
    await expect(fragments.copySegments({ clipId: recording, seqs: [0], now: 1 })).rejects.toMatchObject({ code: 'CONFLICT', field: 'clipId' });
    expect(() => segmentsForRange([] as SegmentRow[], 5000, 1000)).toThrow(/0 ≤ in < out/);
    expect(fragments.list()).toEqual({ fragments: [], stills: [] });
    expect(readdirSync(path.join(kit.dataDir, 'keys', 'fragments'))).toEqual([]);
  });

  it('a full disk during the copy leaves no fragment and no key; the clip stays whole; a crash-left fragment is removed at recovery', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip(); // mounting a tmpfs needs root
    const root = tmp();
    const mnt = path.join(root, 'small');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
    try {
      const kit = await makeKit(mnt);
      const fragments = new FragmentStore(kit.dataDir, kit.catalogue, kit.keys, kit.logger);
      const clipId = await recordClip(kit, {
        caseCode: 'GZ-0044',
        segments: Array.from({ length: 4 }, (_, i) => ({ data: Buffer.alloc(300_000, 65 + i), durationMs: 1000 })),
      });
      expect(await kit.keys.unlock('4821')).toBe(true);
      const filler = path.join(mnt, 'filler');
      // leave room for about one segment copy, not four
      const free = Number(execFileSync('df', ['--output=avail', '-B1', mnt]).toString().split('\n')[1]);
      writeFileSync(filler, Buffer.alloc(Math.max(0, free - 450_000)));
      const err = await fragments.copySegments({ clipId, seqs: [0, 1, 2, 3], now: kit.clock.now() }).catch((e: unknown) => e as NodeJS.ErrnoException);
      expect(err).toMatchObject({ code: 'ENOSPC' });
      expect(readdirSync(path.join(kit.dataDir, 'fragments'))).toEqual([]);
      expect(readdirSync(path.join(kit.dataDir, 'keys', 'fragments'))).toEqual([]);
      rmSync(filler);
      const identity = await kit.keys.clipIdentity(clipId);
      for (let seq = 0; seq < 4; seq++) expect((await decryptWith(identity, await kit.clips.readSegment(clipId, seq)))[0]).toBe(65 + seq);
      // a crash half-way: a fragment directory without fragment.json, and its key
      const frag = await fragments.copySegments({ clipId, seqs: [1], now: kit.clock.now() });
      rmSync(path.join(kit.dataDir, 'fragments', frag.id, 'fragment.json'));
      expect(await fragments.recover()).toBe(1);
      expect(existsSync(path.join(kit.dataDir, 'fragments', frag.id))).toBe(false);
      expect(kit.keys.hasContentKey({ kind: 'fragment', id: frag.id })).toBe(false);
      kit.catalogue.close();
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  }, 60_000);
});
