import { CaseTagger } from '../../src/session/case-tags.js';
import { Privacy } from '../../src/session/privacy.js';
import type { BucketStore } from '../../src/store/bucket-store.js';
import { OfficeLink, type OfficeLinkOptions } from '../../src/sync/office-link.js';
import type { TestKit } from './sync-kit.js';

/** The organisation's side of a test kit, wired as src/wiring/office-link.ts does: Privacy, the case tagger, the sync steps. */
export function officeSide(
  kit: TestKit,
  kitId: string,
  office: BucketStore,
  opts: Partial<Pick<OfficeLinkOptions, 'storage' | 'version' | 'inbox'>> = {},
): { privacy: Privacy; tagger: CaseTagger; link: OfficeLink } {
  const privacy = new Privacy(kit.catalogue, kit.clips, kit.clock, kit.logger, {
    dataDir: kit.dataDir,
    onWithdrawal: 'after-upload',
    deleteAfterUploadHours: 336,
    warnUnuploadedDays: 14,
    retentionIntervalMs: 600_000,
  });
  const tagger = new CaseTagger({ catalogue: kit.catalogue, keys: kit.keys, privacy, clock: kit.clock, logger: kit.logger });
  kit.keys.onUnlock(() => void tagger.tagCases());
  const link = new OfficeLink({
    catalogue: kit.catalogue,
    kitId,
    orgRecipient: () => kit.orgRecipient,
    office,
    ...(opts.inbox !== undefined ? { inbox: opts.inbox } : {}),
    tagger,
    trainersOf: (id, kind) => kit.keys.entitled({ kind: kind ?? 'clip', id }),
    trainerIds: () => kit.keys.trainerIds(),
    pendingRotations: () => kit.keys.pendingRotations(),
    storage: opts.storage ?? (() => ({ freeBytes: 20e9, usableBytes: 19e9 })),
    warnings: () => [],
    version: opts.version ?? '0.2.0',
    clock: kit.clock,
    logger: kit.logger,
  });
  return { privacy, tagger, link };
}
