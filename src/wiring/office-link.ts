import { readFileSync } from 'node:fs';
import type { Clock } from '../core/clock.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { CaseTagger } from '../session/case-tags.js';
import type { Privacy } from '../session/privacy.js';
import type { Catalogue } from '../store/catalogue.js';
import type { KeyStore } from '../store/keys.js';
import type { StorageGuard } from '../store/storage.js';
import { OfficeLink, openCaseInbox, openOfficeBucket, type SyncConfig } from '../sync/index.js';

/** The software version the kit status reports (package.json). */
export function kitVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The organisation's side of the kit (issue 21): the case tagger (tags cases at each sign-in and
 * when a take is made or assigned) and the sync steps (erasure notices before upload, case index,
 * kit status). Null when sync is off.
 */
export function wireOfficeLink(deps: {
  config: SyncConfig;
  kitId: string;
  catalogue: Catalogue;
  keys: KeyStore;
  privacy: Privacy;
  guard: StorageGuard;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
}): OfficeLink | null {
  const { catalogue, keys, privacy, clock, logger, bus } = deps;
  if (deps.config.target === 'off') return null;
  const tagger = new CaseTagger({ catalogue, keys, privacy, clock, logger: logger.child('cases') });
  keys.onUnlock(() => void tagger.tagCases());
  bus.on('clip.started', () => void tagger.tagCases());
  bus.on('clip.updated', () => void tagger.tagCases());
  return new OfficeLink({
    catalogue,
    kitId: deps.kitId,
    orgRecipient: () => keys.requireOrgRecipient(),
    office: openOfficeBucket(deps.config),
    inbox: openCaseInbox(deps.config),
    tagger,
    trainersOf: (id, kind) => keys.entitled({ kind: kind ?? 'clip', id }),
    trainerIds: () => keys.trainerIds(),
    pendingRotations: () => keys.pendingRotations(),
    storage: () => {
      const i = deps.guard.info(1);
      return { freeBytes: i.freeBytes, usableBytes: i.usableBytes };
    },
    warnings: () => (privacy.uploadWarnings().overdue > 0 ? ['clips-not-uploaded-overdue'] : []),
    version: kitVersion(),
    clock,
    logger: logger.child('office'),
  });
}
