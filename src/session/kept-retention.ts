import type { Clock } from '../core/clock.js';
import { CONSENT_SCOPES, type Catalogue, type Consent, type ConsentScope } from '../store/catalogue.js';
import { retentionDue, type RetainedItem, type RetentionPolicy } from '../store/retention.js';
import type { FragmentRow, KeptStillRow, ReviewRow } from '../store/review-ledger.js';

/** What retention needs to crypto-erase kept footage and reviews (src/store/fragments.ts, src/store/keys.ts). */
export interface KeptFootage {
  deleteFragment(id: string): Promise<'complete' | 'pending'>;
  deleteKeptStill(id: string): Promise<'complete' | 'pending'>;
  destroyReviewKey(id: string): Promise<'complete' | 'pending'>;
}

/** Scopes the snapshot had and the case has no longer (no snapshot: what the case no longer has of recording and review). */
function withdrawnScopes(snapshot: Consent | null, current: Consent | undefined): ConsentScope[] {
  if (snapshot === null) return (['recording', 'review'] as const).filter((s) => current?.[s] !== true);
  return CONSENT_SCOPES.filter((s) => snapshot[s] && current?.[s] !== true);
}

/** The retention facts of a fragment or kept still (src/store/retention.ts). */
function keptItem(catalogue: Catalogue, kind: 'fragment' | 'still', r: FragmentRow | KeptStillRow): RetainedItem {
  const facts = catalogue.reviewLedger.reviewFacts(kind, r.id);
  return {
    kind,
    createdAt: r.createdAt,
    confirmedAt: r.confirmedAt,
    deleteRequestedAt: r.deleteRequestedAt,
    withdrawn: withdrawnScopes(r.consent, catalogue.getCase(r.caseCode)?.consent),
    caseClosedAt: catalogue.caseClosedAt(r.caseCode),
    inReview: facts.inReview,
    reviewHeldAt: facts.reviewHeldAt,
  };
}

/** The retention facts of a review. */
function reviewItem(catalogue: Catalogue, r: ReviewRow): RetainedItem {
  return {
    kind: 'review',
    createdAt: r.createdAt,
    confirmedAt: r.confirmedAt,
    deleteRequestedAt: null,
    withdrawn: withdrawnScopes(null, catalogue.getCase(r.caseCode)?.consent),
    caseClosedAt: catalogue.caseClosedAt(r.caseCode),
    reviewHeldAt: r.heldAt,
  };
}

/**
 * Retention of what the review cycle keeps (issue 19): fragments and kept stills first (they read
 * their reviews' facts), then reviews; each by the first rule of RETENTION_TABLE that applies,
 * crypto-erased (key first, then files, then the row) and audited with the rule. Returns the ids erased.
 */
export async function keptRetention(catalogue: Catalogue, kept: KeptFootage, policy: RetentionPolicy, now: number, clock: Clock): Promise<string[]> {
  const ledger = catalogue.reviewLedger;
  const out: string[] = [];
  for (const f of ledger.allFragments()) {
    const answer = retentionDue(keptItem(catalogue, 'fragment', f), policy, now);
    if (answer.action !== 'erase') continue;
    const key = await kept.deleteFragment(f.id);
    ledger.deleteKeptRow('fragment', f.id);
    catalogue.audit('fragment.erased', clock.now(), f.clipId, { fragment: f.id, reason: answer.rule, key });
    out.push(f.id);
  }
  for (const s of ledger.allKeptStills()) {
    const answer = retentionDue(keptItem(catalogue, 'still', s), policy, now);
    if (answer.action !== 'erase') continue;
    const key = await kept.deleteKeptStill(s.id);
    ledger.deleteKeptRow('still', s.id);
    catalogue.audit('still.erased', clock.now(), s.clipId, { still: s.id, reason: answer.rule, key });
    out.push(s.id);
  }
  for (const r of ledger.reviews()) {
    const answer = retentionDue(reviewItem(catalogue, r), policy, now);
    if (answer.action !== 'erase') continue;
    ledger.deleteReviewRow(r.id);
    const key = await kept.destroyReviewKey(r.id);
    catalogue.audit('review.erased', clock.now(), null, { review: r.id, reason: answer.rule, key });
    out.push(r.id);
  }
  return out;
}
