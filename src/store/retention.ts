import type { ConsentScope } from './catalogue.js';

/**
 * The retention rules of the kit, as one table of data (docs/design/keys-layout-retention.md,
 * "Retention"). `retentionDue` reads it; Privacy (src/session/privacy.ts) acts on its answer with the
 * kit's trusted time (`trustedNow`), never a time only a phone vouches for.
 */

/** What is kept on a kit. A copy fetched from the store counts as confirmed from the start. */
export type RetainedKind = 'raw-clip' | 'fragment' | 'still' | 'review';

export interface RetentionPolicy {
  /** Hours a raw clip stays after the organisation confirmed it (the analysis period); 0 = at once. */
  analysisHours: number;
  /** Days after saving that a fragment or kept still never put in a review is erased. */
  unusedDays: number;
  /** Days after its review was held that a review, its fragments and stills are erased. */
  afterReviewHeldDays: number;
  /** A withdrawal of recording or supervision consent: erase after the upload is confirmed, or at once. */
  onWithdrawal: 'after-upload' | 'immediately';
}

export const DEFAULT_RETENTION: RetentionPolicy = { analysisHours: 14 * 24, unusedDays: 30, afterReviewHeldDays: 14, onWithdrawal: 'after-upload' };

/** The facts about one kept item that the rules read (all times from the kit's trusted clock). */
export interface RetainedItem {
  kind: RetainedKind;
  createdAt: number;
  /** When the organisation confirmed it (for a fetched copy: it holds it already, so the fetch time). */
  confirmedAt: number | null;
  /** A trainer asked to delete it. */
  deleteRequestedAt: number | null;
  /** Scopes the case's consent had when the item was made and has no longer. */
  withdrawn: readonly ConsentScope[];
  /** The case's trajectory was closed (the close action). */
  caseClosedAt: number | null;
  /** A raw clip that records a review talk (kept for supervision). */
  reviewTalk?: boolean;
  /** Fragments and stills: in at least one review. */
  inReview?: boolean;
  /** Fragments, stills and reviews: when the (last) review holding it was held; null while one is still to come. */
  reviewHeldAt?: number | null;
}

export type RuleId =
  | 'consent-recording-withdrawn'
  | 'consent-review-withdrawn'
  | 'consent-supervision-withdrawn'
  | 'case-closed'
  | 'deletion-requested'
  | 'analysis-period'
  | 'review-held'
  | 'never-in-review';

export interface RetentionRule {
  id: RuleId;
  kinds: readonly RetainedKind[];
  /** The rule in words, as the docs and the audit say it. */
  says: string;
  /** Whether the erase waits for the organisation's confirmation (footage it has not got is never erased, except where said). */
  waitsForConfirmation: (p: RetentionPolicy) => boolean;
  /** Whether the rule applies now (before the confirmation check). */
  applies: (item: RetainedItem, p: RetentionPolicy, now: number) => boolean;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ALL: readonly RetainedKind[] = ['raw-clip', 'fragment', 'still', 'review'];

/** The table, in order: the first rule that applies decides. */
export const RETENTION_TABLE: readonly RetentionRule[] = [
  {
    id: 'consent-recording-withdrawn',
    kinds: ALL,
    says: 'recording consent withdrawn: everything of the case goes, after the upload is confirmed (onWithdrawal: after-upload) or at once (immediately)',
    waitsForConfirmation: (p) => p.onWithdrawal === 'after-upload',
    applies: (i) => i.withdrawn.includes('recording'),
  },
  {
    id: 'consent-review-withdrawn',
    kinds: ['fragment', 'still', 'review'],
    says: 'review consent withdrawn: fragments, kept stills and reviews go at once, confirmed or not (the organisation keeps the raw footage)',
    waitsForConfirmation: () => false,
    applies: (i) => i.withdrawn.includes('review'),
  },
  {
    id: 'consent-supervision-withdrawn',
    kinds: ['raw-clip'],
    says: 'supervision consent withdrawn: recorded review talks go, as for a recording withdrawal',
    waitsForConfirmation: (p) => p.onWithdrawal === 'after-upload',
    applies: (i) => i.reviewTalk === true && i.withdrawn.includes('supervision'),
  },
  {
    id: 'case-closed',
    kinds: ALL,
    says: 'trajectory closed (case close action): everything of the case goes once the organisation has confirmed it',
    waitsForConfirmation: () => true,
    applies: (i, _p, now) => i.caseClosedAt !== null && now >= i.caseClosedAt,
  },
  {
    id: 'deletion-requested',
    kinds: ['raw-clip', 'fragment', 'still'],
    says: 'a trainer deleted it: it goes once the organisation has confirmed it',
    waitsForConfirmation: () => true,
    applies: (i) => i.deleteRequestedAt !== null,
  },
  {
    id: 'analysis-period',
    kinds: ['raw-clip'],
    says: 'raw clip: kept for the analysis period (privacy.deleteAfterUploadHours) after the organisation confirmed it, then erased; evicted earlier, oldest first, only when a take needs the room',
    waitsForConfirmation: () => true,
    applies: (i, p, now) => i.confirmedAt !== null && now >= i.confirmedAt + p.analysisHours * HOUR,
  },
  {
    id: 'review-held',
    kinds: ['fragment', 'still', 'review'],
    says: 'review held: the review, its fragments and stills go N days later (privacy.afterReviewHeldDays), once confirmed',
    waitsForConfirmation: () => true,
    applies: (i, p, now) => i.reviewHeldAt != null && now >= i.reviewHeldAt + p.afterReviewHeldDays * DAY,
  },
  {
    id: 'never-in-review',
    kinds: ['fragment', 'still'],
    says: 'never put in a review: a fragment or kept still goes N days after it was saved (privacy.unusedFragmentDays), once confirmed',
    waitsForConfirmation: () => true,
    applies: (i, p, now) => i.inReview !== true && now >= i.createdAt + p.unusedDays * DAY,
  },
];

export type RetentionAnswer = { action: 'erase'; rule: RuleId } | { action: 'wait'; rule: RuleId; for: 'confirmation' } | { action: 'keep' };

/** What the table says about one item now: erase (and by which rule), wait for the confirmation, or keep. */
export function retentionDue(item: RetainedItem, policy: RetentionPolicy, now: number): RetentionAnswer {
  for (const rule of RETENTION_TABLE) {
    if (!rule.kinds.includes(item.kind) || !rule.applies(item, policy, now)) continue;
    if (rule.waitsForConfirmation(policy) && item.confirmedAt === null) return { action: 'wait', rule: rule.id, for: 'confirmation' };
    return { action: 'erase', rule: rule.id };
  }
  return { action: 'keep' };
}

/**
 * Which raw clips to erase early when a take needs `bytesNeeded`: confirmed ones only, the oldest
 * confirmation first, until enough is free. Never a clip the organisation has not confirmed.
 */
export function evictionOrder<T extends { id: string; confirmedAt: number | null; createdAt: number; bytes: number }>(
  clips: readonly T[],
  bytesNeeded: number,
): T[] {
  const out: T[] = [];
  let freed = 0;
  const candidates = clips.filter((c) => c.confirmedAt !== null).sort((a, b) => a.confirmedAt! - b.confirmedAt! || a.createdAt - b.createdAt);
  for (const c of candidates) {
    if (freed >= bytesNeeded) break;
    out.push(c);
    freed += c.bytes;
  }
  return out;
}

/** Where a time came from. A phone (the browser's clock) is never a source. */
export type TimeSource = 'ntp' | 'storage';

/** The last time the kit could trust, and its monotonic clock then (same boot). */
export interface TimeAnchor {
  wallMs: number;
  source: TimeSource;
  monotonicMs: number;
  bootId: string;
}

/**
 * The time retention acts on: the kit's wall clock while it is synchronised (NTP); otherwise never
 * later than the last trusted time (NTP, or the storage's `Date` at a sync) plus the monotonic time
 * since, in the same boot, or the trusted time itself after a reboot. A clock set ahead (by hand,
 * by a phone, by a bad RTC) therefore never makes anything go early; a clock behind only keeps
 * things longer.
 */
export function trustedNow(args: { wallMs: number; ntpSynchronised: boolean; anchor: TimeAnchor | null; monotonicMs: number; bootId: string }): number | null {
  if (args.ntpSynchronised) return args.wallMs;
  const a = args.anchor;
  if (!a) return null;
  const bound = a.bootId === args.bootId ? a.wallMs + Math.max(0, args.monotonicMs - a.monotonicMs) : a.wallMs;
  return Math.min(args.wallMs, bound);
}
