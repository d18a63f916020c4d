// The review cycle's use-cases (issue 19) over the real store: keys, SQLite, files; a trusted time the test sets.
import path from 'node:path';
import { expect } from 'vitest';
import { EventBus } from '../../src/core/events.js';
import { Fragments } from '../../src/session/fragments.js';
import { KeptStills } from '../../src/session/kept-stills.js';
import { Library } from '../../src/session/library.js';
import { Presentation } from '../../src/session/presentation.js';
import { Privacy } from '../../src/session/privacy.js';
import { ReviewNotes } from '../../src/session/review-notes.js';
import { Reviews } from '../../src/session/review.js';
import { FragmentStore } from '../../src/store/fragments.js';
import { makeKit, recordClip, type SegmentInput, type TestKit } from './sync-kit.js';

const DAY = 86_400_000;
export const JPEG = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
  Buffer.from('a look between mother and child '.repeat(10)),
  Buffer.from([0xff, 0xd9]),
]);

export function segs(n: number, tag: string) {
  return Array.from({ length: n }, (_, i) => ({ data: Buffer.from(`${tag} second ${i} `.repeat(100)), durationMs: 1000 }));
}

/** A kit with the review cycle's use-cases over the real store, and a trusted time the test sets. */
export async function reviewCycleKit(dir: string, opts: { segments?: SegmentInput[]; orgKeyFile?: string } = {}) {
  const kit: TestKit = await makeKit(path.join(dir, 'kit'), opts.orgKeyFile ? { orgKeyFile: opts.orgKeyFile } : {});
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
  const clipId = await recordClip(kit, { caseCode: 'GZ-0042', segments: opts.segments ?? segs(8, 'visit 1') });
  await kit.clips.addStill(clipId, JPEG, 2000, kit.clock.now());
  const ledger = kit.catalogue.reviewLedger;
  const confirm = (kind: 'fragment' | 'still' | 'review', id: string) => ledger.confirm(kind, id, 1, now);
  const audits = () => kit.catalogue.auditEvents().map((e) => e.type);
  return {
    kit,
    store,
    notes,
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
