// The upload of the review cycle's metadata (issue 19) to a real S3 server (OpenStack Swift): fragment,
// kept-still and review objects under the decision record's names, encrypted to the organisation
// (Debian's age CLI opens them), naming the footage the organisation already holds, never sending it twice.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyncService } from '../src/sync/service.js';
import { S3Target } from '../src/sync/targets.js';
import type { FragmentObject, KeptStillObject, ReviewObject } from '../src/sync/review-upload.js';
import { ageDecrypt } from './helpers/media.js';
import { reviewCycleKit } from './helpers/review-kit.js';
import { SwiftServer } from './helpers/swift.js';

const KIT = 'kit-19';
const BUCKET = 'vht-review-upload';
const NOTE = 'Wat ziet u hier? Wat doet uw zoon?';
let root = '';
let swift: SwiftServer;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-review-upload-'));
  swift = await SwiftServer.create(path.join(root, 'swift'));
  await swift.createBucket(BUCKET, { writer: true });
}, 600_000);
afterAll(async () => {
  await swift?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('uploading fragments, kept stills and reviews', () => {
  it('uploads their metadata after the clip, encrypted to the organisation; the footage goes once; a change goes again, alone', async () => {
    const c = await reviewCycleKit(path.join(root, 'a'));
    const f = await c.fragments.save(c.clipId, { inMs: 1500, outMs: 3500, label: 'child-initiative', note: NOTE });
    const s = await c.stills.keep(c.clipId, 1, 'een blik naar papa');
    const r = await c.reviews.create({
      caseCode: 'GZ-0042',
      items: [
        { kind: 'still', id: s.id },
        { kind: 'fragment', id: f.id },
      ],
    });
    const target = new S3Target({
      endpoint: swift.endpoint,
      region: swift.region,
      bucket: BUCKET,
      ...swift.writer,
      clock: c.kit.clock,
      requestTimeoutMs: 10_000,
    });
    const sync = new SyncService({
      catalogue: c.kit.catalogue,
      clips: c.kit.clips,
      target,
      kitId: KIT,
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
    try {
      const first = await sync.runOnce();
      expect(first.error).toBeUndefined();
      expect(first.uploaded).toEqual([c.clipId]);
      const fKey = `${KIT}/fragments/${f.id}.json.age`;
      const sKey = `${KIT}/stills/${s.id}.json.age`;
      const rKey = `${KIT}/reviews/${r.id}.json.age`;
      expect(first.reviewObjects).toEqual([fKey, sKey, rKey]);
      const keys = (await swift.list(BUCKET)).map((o) => o.key);
      expect(keys).toEqual(expect.arrayContaining([fKey, sKey, rKey]));
      // No footage of the fragment or the kept still beyond the clip's own objects.
      expect(keys.filter((k) => !k.startsWith(`${KIT}/clips/`)).sort()).toEqual([fKey, sKey, rKey].sort());

      const open = async (key: string) => {
        const file = path.join(root, `${Math.random().toString(36).slice(2)}.age`);
        writeFileSync(file, await swift.get(BUCKET, key));
        return ageDecrypt(c.kit.orgKeyFile, file);
      };
      const fo = JSON.parse((await open(fKey)).toString()) as FragmentObject;
      expect(fo).toMatchObject({
        format: 'vht-kit.fragment',
        id: f.id,
        sourceClipId: c.clipId,
        caseCode: 'GZ-0042',
        inMs: 1500,
        outMs: 3500,
        label: 'child-initiative',
      });
      expect(fo.segments.map((x) => x.seq)).toEqual([1, 2, 3]);
      for (const seg of fo.segments) expect(keys).toContain(seg.key);
      const noteFile = path.join(root, 'note.age');
      writeFileSync(noteFile, Buffer.from(fo.noteAge!, 'base64'));
      expect(JSON.parse(ageDecrypt(c.kit.orgKeyFile, noteFile).toString()).text).toBe(NOTE);
      const so = JSON.parse((await open(sKey)).toString()) as KeptStillObject;
      expect(so).toMatchObject({
        format: 'vht-kit.kept-still',
        sourceClipId: c.clipId,
        sourceStillId: 1,
        sourceKey: `${KIT}/clips/${c.clipId}/still-1.jpg.age`,
        jpegAge: null,
      });
      expect(keys).toContain(so.sourceKey);
      const ro = JSON.parse((await open(rKey)).toString()) as ReviewObject;
      expect(ro.items).toEqual([
        { kind: 'still', id: s.id, key: sKey },
        { kind: 'fragment', id: f.id, key: fKey },
      ]);
      expect(c.ledger.fragment(f.id)!.confirmedAt).not.toBeNull();

      // Nothing again; then only what changed.
      const again = await sync.runOnce();
      expect(again.reviewObjects).toEqual([]);
      expect(again.bytesSent).toBe(0);
      await c.fragments.edit(f.id, { label: 'receiving' });
      const changed = await sync.runOnce();
      expect(changed.reviewObjects).toEqual([fKey]);
      expect(JSON.parse((await open(fKey)).toString()).label).toBe('receiving');
    } finally {
      sync.close();
    }
  }, 120_000);
});
