import type { Clock } from '../core/clock.js';
import { AppError, describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue } from '../store/catalogue.js';
import type { KeyStore } from '../store/keys.js';
import { CASE_TAG_KEY_BYTES, caseTag } from '../store/objects.js';
import type { Privacy } from './privacy.js';

/** The name of the organisation's case-tag key among the kit's organisation secrets (keys/org/case-tag.json). */
export const CASE_TAG_SECRET = 'case-tag';

/** Reads a case-tag key file (64 hex characters, `vht-kit keygen` writes it beside the identity). */
export function parseCaseTagKey(text: string, field = 'caseTagKey'): Uint8Array {
  const hex = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '' && !l.startsWith('#'));
  if (!hex || !/^[0-9a-f]+$/i.test(hex) || hex.length < CASE_TAG_KEY_BYTES * 2 || hex.length % 2 !== 0) {
    throw new AppError('VALIDATION', `${field}: the case-tag key must be ${CASE_TAG_KEY_BYTES * 2}+ hex characters (got ${hex ? hex.length : 0})`, { field });
  }
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/**
 * Gives each case its tag (its name in the organisation's store) while a trainer is signed in, the
 * only time the case-tag key opens, and keeps it in the catalogue for uploads made while locked.
 * Then applies the erasure notices read earlier that name a case it just tagged.
 */
export class CaseTagger {
  private running: Promise<number> | null = null;

  constructor(private readonly deps: { catalogue: Catalogue; keys: KeyStore; privacy: Privacy; clock: Clock; logger: Logger }) {}

  /** Whether the kit holds the organisation's case-tag key (then a case without a tag does not upload). */
  get hasKey(): boolean {
    return this.deps.keys.hasOrgSecret(CASE_TAG_SECRET);
  }

  /** Tags every untagged case when a trainer is signed in; the count tagged. Never throws (logged). */
  tagCases(): Promise<number> {
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async run(): Promise<number> {
    const { catalogue, keys, logger } = this.deps;
    const ledger = catalogue.officeLedger;
    const untagged = ledger.casesWithoutTag();
    if (untagged.length === 0 || !keys.unlocked || !this.hasKey) return 0;
    try {
      const hex = await keys.orgSecret(CASE_TAG_SECRET);
      if (!hex) return 0;
      const key = parseCaseTagKey(hex, 'keys/org/case-tag.json');
      for (const code of untagged) ledger.setCaseTag(code, caseTag(code, key));
      logger.info('cases tagged for the organisation store', { cases: untagged.length });
      await this.applyKnownNotices();
      return untagged.length;
    } catch (err) {
      logger.error('cases could not be tagged; they wait with their uploads', { error: describeError(err) });
      return 0;
    }
  }

  /** Applies every erasure notice read that names a case on this kit (after tagging, and at each dock). */
  async applyKnownNotices(): Promise<number> {
    const { catalogue, privacy, clock } = this.deps;
    let applied = 0;
    for (const n of catalogue.officeLedger.unappliedForKnownCases()) {
      await privacy.applyErasureNotice(n.caseCode, n.scope, n.key);
      catalogue.officeLedger.markNoticeApplied(n.source, n.key, clock.now());
      applied += 1;
    }
    return applied;
  }
}
