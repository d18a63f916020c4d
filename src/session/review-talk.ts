import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { EventBus, KitEvents, PresentedReviewItem, TvControl } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { labelNl } from '../core/vht-labels.js';
import type { Catalogue, Consent } from '../store/catalogue.js';
import type { Privacy } from './privacy.js';

/** What the review talk needs of the recorder and the library. */
export interface TalkRecorder {
  startTake(caseCode: string | null, consent: Consent | null): { clipId: string };
  mark(label: string | null): { markerId: number; offsetMs: number; clipId: string };
}

export interface ReviewTalkOptions {
  catalogue: Catalogue;
  privacy: Privacy;
  recorder: TalkRecorder;
  /** Sets the take's purposes (supervision), checked against the case's consent. */
  setPurposes: (clipId: string, wanted: { supervision: boolean; training: boolean }) => void;
  /** The review item on the TV now (marked when the talk starts). */
  presentedItem: () => PresentedReviewItem | null;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
}

const RATE_NL: Record<string, string> = { '1': '1×', '0.5': '½×', '0.25': '¼×' };

/** The marker label of what changed on the TV (Dutch, from the vocabulary; never free text). */
export function talkMarkerLabel(event: { review?: KitEvents['present']['review'] } | TvControl): string | null {
  if ('action' in event) {
    if (event.action === 'play') return 'afspelen';
    if (event.action === 'pause') return 'pauze';
    if (event.action === 'toggle') return 'afspelen/pauze';
    if (event.action === 'rate') return `snelheid ${RATE_NL[String(event.rate)] ?? `${event.rate}×`}`;
    return null;
  }
  const r = event.review;
  if (!r) return null;
  const what = r.kind === 'fragment' ? 'fragment' : 'still';
  const label = labelNl(r.label);
  return `${what} ${r.item + 1}${label ? ` · ${label}` : ''}`;
}

/**
 * The review talk: a take of the case, purpose supervision, that records a review being presented.
 * Needs the case's `recording` and `supervision` consent. While it runs, every present, item
 * change, play, pause and speed change becomes a timed marker in the take ("fragment 2 · initiatief
 * kind", "pauze"), so that a supervisor sees what was on the screen at each moment.
 */
export class ReviewTalk {
  private clipId: string | null = null;
  private offs: (() => void)[] = [];

  constructor(private readonly o: ReviewTalkOptions) {}

  /** Starts the talk's take; 403 naming the missing consent, 404 for an unknown review or one of another case. */
  start(caseCode: string, reviewId: string): { clipId: string } {
    const review = this.o.catalogue.reviewLedger.review(reviewId);
    if (!review)
      throw new AppError('NOT_FOUND', `body.reviewId: no review ${JSON.stringify(reviewId)}`, { field: 'body.reviewId', reason: 'review_not_found' });
    if (review.caseCode !== caseCode) {
      throw new AppError('VALIDATION', `body.reviewId: review ${reviewId} belongs to another case than ${caseCode}`, {
        field: 'body.reviewId',
        reason: 'review_other_case',
      });
    }
    const c = this.o.privacy.requireCase(caseCode);
    for (const scope of ['recording', 'supervision'] as const) {
      if (!c.consent[scope]) {
        throw new AppError(
          'FORBIDDEN',
          `case ${caseCode} has no consent for ${scope}: the review talk is recorded only with recording and supervision consent (geen toestemming voor ${scope === 'recording' ? 'opnemen' : 'supervisie'})`,
          { field: `consent.${scope}`, reason: `review_talk_needs_${scope}` },
        );
      }
    }
    const consent = this.o.privacy.consentForRecording(caseCode);
    const { clipId } = this.o.recorder.startTake(caseCode, consent);
    const now = this.o.clock.now();
    this.o.catalogue.reviewLedger.insertReviewTalk(clipId, reviewId, now);
    this.o.setPurposes(clipId, { supervision: true, training: false });
    this.o.catalogue.audit('review.talk.started', now, clipId, { review: reviewId });
    this.follow(clipId);
    const item = this.o.presentedItem();
    if (item && item.reviewId === reviewId) this.mark(talkMarkerLabel({ review: item }));
    return { clipId };
  }

  /** The take recording a review talk now, or null. */
  get recording(): string | null {
    return this.clipId;
  }

  /** Stops following (the app closes). */
  close(): void {
    this.unfollow();
  }

  private follow(clipId: string): void {
    this.unfollow();
    this.clipId = clipId;
    this.offs = [
      this.o.bus.on('present', (p) => this.mark(talkMarkerLabel(p))),
      this.o.bus.on('tv.control', (c) => this.mark(talkMarkerLabel(c))),
      this.o.bus.on('clip.stopped', (s) => {
        if (s.clipId === this.clipId) this.unfollow();
      }),
    ];
  }

  private unfollow(): void {
    for (const off of this.offs) off();
    this.offs = [];
    this.clipId = null;
  }

  private mark(label: string | null): void {
    if (label === null || this.clipId === null) return;
    try {
      this.o.recorder.mark(label);
    } catch (err) {
      // The take ended between the event and the marker: nothing to mark any more.
      this.o.logger.debug('review talk marker not written', { clipId: this.clipId, error: (err as Error).message });
      this.unfollow();
    }
  }
}
