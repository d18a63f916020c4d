import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { Catalogue } from '../store/catalogue.js';
import { newClipId } from '../store/clips.js';
import type { KeyStore } from '../store/keys.js';
import type { ReviewItemKind, ReviewRow } from '../store/review-ledger.js';
import { asLabel } from './fragments.js';
import type { Privacy } from './privacy.js';

export interface ReviewsOptions {
  catalogue: Catalogue;
  keys: Pick<KeyStore, 'createContentKey' | 'destroyContentKey' | 'entitled'>;
  privacy: Privacy;
  clock: Clock;
}

/** An item as the phone sends it. */
export interface ReviewItemInput {
  kind: ReviewItemKind;
  id: string;
}

/** An item of a review with what the phone shows of it (never the note: GET the fragment for that). */
export interface ReviewItemView {
  position: number;
  kind: ReviewItemKind;
  id: string;
  clipId: string;
  visitId: number | null;
  clipCreatedAt: number;
  label: ReturnType<typeof asLabel>;
  inMs: number | null;
  outMs: number | null;
  timeMs: number | null;
}

export interface ReviewView {
  id: string;
  caseCode: string;
  plannedFor: string | null;
  createdAt: number;
  heldAt: number | null;
  confirmedAt: number | null;
  items: ReviewItemView[];
}

/**
 * Reviews (nabespreking): per case, an ordered list of fragments and kept stills drawn from any of
 * the case's clips, planned for a visit, marked held after it. A review has its own content key
 * (its upload is encrypted to [organisation, K_rev]); it holds ids and order only, no free text.
 * Every change audited once, here.
 */
export class Reviews {
  constructor(private readonly o: ReviewsOptions) {}

  /** The reviews of a case (or of every case), oldest first. */
  list(caseCode?: string): ReviewView[] {
    if (caseCode !== undefined) this.o.privacy.requireCase(caseCode);
    return this.o.catalogue.reviewLedger.reviews(caseCode).map((r) => this.view(r));
  }

  /** One review with its items. */
  get(id: string): ReviewView {
    return this.view(this.row(id));
  }

  /** The review's row, or a 404 naming the id. */
  row(id: string): ReviewRow {
    const r = this.o.catalogue.reviewLedger.review(id);
    if (!r) throw new AppError('NOT_FOUND', `no review with id ${JSON.stringify(id)}`, { field: 'params.id', reason: 'review_not_found', params: { id } });
    return r;
  }

  /** Makes a review for a case (review consent needed), with its items. */
  async create(input: { caseCode: string; plannedFor?: string | null | undefined; items?: readonly ReviewItemInput[] | undefined }): Promise<ReviewView> {
    const c = this.o.privacy.requireCase(input.caseCode);
    if (!c.consent.review) {
      throw new AppError('FORBIDDEN', `case ${c.code} has no consent for review (geen toestemming voor nabespreken)`, {
        field: 'body.caseCode',
        reason: 'no_review_consent',
      });
    }
    const items = this.checkItems(c.code, input.items ?? []);
    const now = this.o.clock.now();
    const id = newClipId(now);
    const trainers = [...new Set(items.flatMap((it) => this.o.keys.entitled({ kind: it.kind, id: it.refId })))];
    await this.o.keys.createContentKey({ kind: 'review', id }, trainers.length ? { trainers } : {});
    const row: ReviewRow = {
      id,
      caseCode: c.code,
      plannedFor: input.plannedFor ?? null,
      plannedVisitUid: null,
      createdAt: now,
      updatedAt: now,
      heldAt: null,
      confirmedAt: null,
      confirmedVersion: null,
    };
    try {
      this.o.catalogue.reviewLedger.insertReview(row, items);
    } catch (err) {
      await this.o.keys.destroyContentKey({ kind: 'review', id });
      throw err;
    }
    this.o.catalogue.audit('review.created', now, null, { review: id, case: c.code, items: items.length });
    return this.get(id);
  }

  /** Replaces the items (add, remove, reorder) and/or the planned day. A held review keeps its items. */
  update(id: string, patch: { plannedFor?: string | null | undefined; items?: readonly ReviewItemInput[] | undefined }): ReviewView {
    const r = this.row(id);
    const items = patch.items === undefined ? undefined : this.checkItems(r.caseCode, patch.items);
    if (items && r.heldAt !== null) {
      throw new AppError('CONFLICT', `review ${id} was held already: make a new review for the next visit`, {
        field: 'body.items',
        reason: 'review_already_held',
      });
    }
    const now = this.o.clock.now();
    this.o.catalogue.reviewLedger.updateReview(
      id,
      { ...(items ? { items } : {}), ...(patch.plannedFor !== undefined ? { plannedFor: patch.plannedFor } : {}) },
      now,
    );
    this.o.catalogue.audit('review.changed', now, null, { review: id, ...(items ? { items: items.length } : {}), planned: patch.plannedFor !== undefined });
    return this.get(id);
  }

  /** The review was held with the parents: retention counts from now (review-held). */
  held(id: string): ReviewView {
    const r = this.row(id);
    const now = this.o.clock.now();
    if (r.heldAt === null) {
      this.o.catalogue.reviewLedger.markHeld(id, now);
      this.o.catalogue.audit('review.held', now, null, { review: id });
    }
    return this.get(id);
  }

  /** Deletes a review (its fragments and stills stay, under their own retention); its key is destroyed. */
  async remove(id: string): Promise<{ deleted: boolean }> {
    this.row(id);
    const now = this.o.clock.now();
    this.o.catalogue.reviewLedger.deleteReviewRow(id);
    const erase = await this.o.keys.destroyContentKey({ kind: 'review', id });
    this.o.catalogue.audit('review.deleted', now, null, { review: id, reason: 'trainer', key: erase });
    return { deleted: true };
  }

  /** Items must be fragments or kept stills of the review's case, each once. */
  private checkItems(caseCode: string, items: readonly ReviewItemInput[]): { kind: ReviewItemKind; refId: string }[] {
    const seen = new Set<string>();
    return items.map((it, i) => {
      const field = `body.items.${i}.id`;
      const key = `${it.kind}:${it.id}`;
      if (seen.has(key)) throw new AppError('VALIDATION', `${field}: ${it.kind} ${it.id} is in the review twice`, { field, reason: 'review_item_twice' });
      seen.add(key);
      const ledger = this.o.catalogue.reviewLedger;
      const row = it.kind === 'fragment' ? ledger.fragment(it.id) : ledger.keptStill(it.id);
      if (!row) {
        throw new AppError('NOT_FOUND', `${field}: no ${it.kind === 'fragment' ? 'fragment' : 'kept still'} ${JSON.stringify(it.id)}`, {
          field,
          reason: 'review_item_not_found',
          params: { kind: it.kind, id: it.id },
        });
      }
      if (row.caseCode !== caseCode) {
        throw new AppError('VALIDATION', `${field}: ${it.kind} ${it.id} belongs to another case than the review's`, {
          field,
          reason: 'review_item_other_case',
        });
      }
      if (row.deleteRequestedAt !== null) {
        throw new AppError('CONFLICT', `${field}: ${it.kind} ${it.id} is being deleted`, { field, reason: 'review_item_deleted' });
      }
      return { kind: it.kind, refId: it.id };
    });
  }

  private view(r: ReviewRow): ReviewView {
    const ledger = this.o.catalogue.reviewLedger;
    const items: ReviewItemView[] = [];
    for (const it of ledger.items(r.id)) {
      const position = items.length;
      if (it.kind === 'fragment') {
        const f = ledger.fragment(it.refId);
        if (!f) continue;
        items.push({
          position,
          kind: 'fragment',
          id: f.id,
          clipId: f.clipId,
          visitId: f.visitId,
          clipCreatedAt: f.clipCreatedAt,
          label: asLabel(f.label),
          inMs: f.inMs,
          outMs: f.outMs,
          timeMs: null,
        });
      } else {
        const s = ledger.keptStill(it.refId);
        if (!s) continue;
        items.push({
          position,
          kind: 'still',
          id: s.id,
          clipId: s.clipId,
          visitId: s.visitId,
          clipCreatedAt: s.clipCreatedAt,
          label: null,
          inMs: null,
          outMs: null,
          timeMs: s.timeMs,
        });
      }
    }
    return { id: r.id, caseCode: r.caseCode, plannedFor: r.plannedFor, createdAt: r.createdAt, heldAt: r.heldAt, confirmedAt: r.confirmedAt, items };
  }
}
