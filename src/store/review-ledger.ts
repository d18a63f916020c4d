import type Database from 'better-sqlite3';

/** A consent snapshot (the catalogue's Consent; declared here so that the catalogue and its ledger do not import each other). */
type Consent = { recording: boolean; review: boolean; supervision: boolean; training: boolean };

type Prep = (sql: string) => Pick<Database.Statement, 'get' | 'all' | 'run'>;

/** A fragment as the catalogue knows it (migration 7): ids, times and a label, never its note. */
export interface FragmentRow {
  id: string;
  clipId: string;
  caseCode: string;
  visitId: number | null;
  clipCreatedAt: number;
  inMs: number;
  outMs: number;
  /** The clip time where the fragment's first copied segment begins. */
  playlistStartMs: number;
  playlistDurationMs: number;
  bytes: number;
  label: string | null;
  hasNote: boolean;
  /** The source clip's consent snapshot. */
  consent: Consent;
  createdAt: number;
  updatedAt: number;
  confirmedAt: number | null;
  /** The `updatedAt` the organisation confirmed (a later change is uploaded again). */
  confirmedVersion: number | null;
  deleteRequestedAt: number | null;
}

/** A still kept apart from its clip, under its own key (migration 7); never its caption. */
export interface KeptStillRow {
  id: string;
  clipId: string;
  stillN: number;
  caseCode: string;
  visitId: number | null;
  clipCreatedAt: number;
  timeMs: number;
  bytes: number;
  hasCaption: boolean;
  consent: Consent;
  createdAt: number;
  updatedAt: number;
  confirmedAt: number | null;
  confirmedVersion: number | null;
  deleteRequestedAt: number | null;
}

export interface ReviewRow {
  id: string;
  caseCode: string;
  plannedFor: string | null;
  plannedVisitUid: string | null;
  createdAt: number;
  updatedAt: number;
  heldAt: number | null;
  confirmedAt: number | null;
  confirmedVersion: number | null;
}

export type ReviewItemKind = 'fragment' | 'still';
export interface ReviewItemRow {
  position: number;
  kind: ReviewItemKind;
  refId: string;
}

/** A raw clip erased from the kit (kept so the library can say where it went while fragments live on). */
export interface ClipErasureRow {
  clipId: string;
  caseCode: string | null;
  visitId: number | null;
  createdAt: number;
  durationMs: number;
  uploadedAt: number | null;
  erasedAt: number;
  rule: string;
}

export type Kept = 'fragment' | 'still';
const TABLE: Record<Kept, string> = { fragment: 'fragments', still: 'kept_stills' };

const FRAGMENT_COLS = `id, clip_id AS clipId, case_code AS caseCode, visit_id AS visitId, clip_created_at AS clipCreatedAt, in_ms AS inMs,
  out_ms AS outMs, playlist_start_ms AS playlistStartMs, playlist_duration_ms AS playlistDurationMs, bytes, label, has_note AS hasNote,
  consent, created_at AS createdAt, updated_at AS updatedAt, confirmed_at AS confirmedAt, confirmed_version AS confirmedVersion,
  delete_requested_at AS deleteRequestedAt`;
const STILL_COLS = `id, clip_id AS clipId, still_n AS stillN, case_code AS caseCode, visit_id AS visitId, clip_created_at AS clipCreatedAt,
  time_ms AS timeMs, bytes, has_caption AS hasCaption, consent, created_at AS createdAt, updated_at AS updatedAt,
  confirmed_at AS confirmedAt, confirmed_version AS confirmedVersion, delete_requested_at AS deleteRequestedAt`;
const REVIEW_COLS = `id, case_code AS caseCode, planned_for AS plannedFor, planned_visit_uid AS plannedVisitUid, created_at AS createdAt,
  updated_at AS updatedAt, held_at AS heldAt, confirmed_at AS confirmedAt, confirmed_version AS confirmedVersion`;

type Raw<T> = Omit<T, 'consent' | 'hasNote' | 'hasCaption'> & { consent: string; hasNote?: number; hasCaption?: number };
function fragmentOf(r: Raw<FragmentRow>): FragmentRow {
  return { ...r, hasNote: r.hasNote === 1, consent: JSON.parse(r.consent) as Consent };
}
function stillOf(r: Raw<KeptStillRow>): KeptStillRow {
  return { ...r, hasCaption: r.hasCaption === 1, consent: JSON.parse(r.consent) as Consent };
}

/**
 * The review cycle's tables (migration 7): fragments, kept stills, reviews with their ordered
 * items, and the raw clips erased while fragments of them live on. Made by the Catalogue, which
 * owns the connection (like the sync ledger).
 */
export class ReviewLedger {
  constructor(
    private readonly prep: Prep,
    private readonly db: Database.Database,
  ) {}

  // --- fragments ---

  /** Records a whole fragment (after its files are written). */
  insertFragment(f: FragmentRow): void {
    this.prep(
      `INSERT INTO fragments (id, clip_id, case_code, visit_id, clip_created_at, in_ms, out_ms, playlist_start_ms, playlist_duration_ms, bytes,
        label, has_note, consent, created_at, updated_at, confirmed_at, confirmed_version, delete_requested_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      f.id,
      f.clipId,
      f.caseCode,
      f.visitId,
      f.clipCreatedAt,
      f.inMs,
      f.outMs,
      f.playlistStartMs,
      f.playlistDurationMs,
      f.bytes,
      f.label,
      f.hasNote ? 1 : 0,
      JSON.stringify(f.consent),
      f.createdAt,
      f.updatedAt,
      f.confirmedAt,
      f.confirmedVersion,
      f.deleteRequestedAt,
    );
  }

  /** One fragment, or undefined. */
  fragment(id: string): FragmentRow | undefined {
    const r = this.prep(`SELECT ${FRAGMENT_COLS} FROM fragments WHERE id = ?`).get(id) as Raw<FragmentRow> | undefined;
    return r && fragmentOf(r);
  }

  /** The fragments of a clip, by in point. */
  fragmentsOfClip(clipId: string): FragmentRow[] {
    return (this.prep(`SELECT ${FRAGMENT_COLS} FROM fragments WHERE clip_id = ? ORDER BY in_ms, id`).all(clipId) as Raw<FragmentRow>[]).map(fragmentOf);
  }

  /** Every fragment on the kit. */
  allFragments(): FragmentRow[] {
    return (this.prep(`SELECT ${FRAGMENT_COLS} FROM fragments ORDER BY created_at, id`).all() as Raw<FragmentRow>[]).map(fragmentOf);
  }

  /** Changes a fragment's label and whether it has a note. */
  updateFragment(id: string, label: string | null, hasNote: boolean, at: number): void {
    this.prep('UPDATE fragments SET label = ?, has_note = ?, updated_at = ? WHERE id = ?').run(label, hasNote ? 1 : 0, at, id);
  }

  // --- kept stills ---

  /** Records a kept still (after its files are written). */
  insertKeptStill(s: KeptStillRow): void {
    this.prep(
      `INSERT INTO kept_stills (id, clip_id, still_n, case_code, visit_id, clip_created_at, time_ms, bytes, has_caption, consent, created_at,
        updated_at, confirmed_at, confirmed_version, delete_requested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      s.id,
      s.clipId,
      s.stillN,
      s.caseCode,
      s.visitId,
      s.clipCreatedAt,
      s.timeMs,
      s.bytes,
      s.hasCaption ? 1 : 0,
      JSON.stringify(s.consent),
      s.createdAt,
      s.updatedAt,
      s.confirmedAt,
      s.confirmedVersion,
      s.deleteRequestedAt,
    );
  }

  /** One kept still, or undefined. */
  keptStill(id: string): KeptStillRow | undefined {
    const r = this.prep(`SELECT ${STILL_COLS} FROM kept_stills WHERE id = ?`).get(id) as Raw<KeptStillRow> | undefined;
    return r && stillOf(r);
  }

  /** The kept stills of a clip, by time. */
  keptStillsOfClip(clipId: string): KeptStillRow[] {
    return (this.prep(`SELECT ${STILL_COLS} FROM kept_stills WHERE clip_id = ? ORDER BY time_ms, id`).all(clipId) as Raw<KeptStillRow>[]).map(stillOf);
  }

  /** Every kept still on the kit. */
  allKeptStills(): KeptStillRow[] {
    return (this.prep(`SELECT ${STILL_COLS} FROM kept_stills ORDER BY created_at, id`).all() as Raw<KeptStillRow>[]).map(stillOf);
  }

  /** Changes whether a kept still has a caption. */
  updateKeptStill(id: string, hasCaption: boolean, at: number): void {
    this.prep('UPDATE kept_stills SET has_caption = ?, updated_at = ? WHERE id = ?').run(hasCaption ? 1 : 0, at, id);
  }

  // --- fragments and kept stills alike ---

  /** A trainer asked to delete it (it goes once the organisation has confirmed it). */
  requestDelete(kind: Kept, id: string, at: number): void {
    this.prep(`UPDATE ${TABLE[kind]} SET delete_requested_at = COALESCE(delete_requested_at, ?) WHERE id = ?`).run(at, id);
  }

  /** The organisation confirmed version `version` (its `updatedAt`) of the metadata. */
  confirm(kind: Kept | 'review', id: string, version: number, at: number): void {
    const table = kind === 'review' ? 'reviews' : TABLE[kind];
    this.prep(`UPDATE ${table} SET confirmed_at = COALESCE(confirmed_at, ?), confirmed_version = ? WHERE id = ?`).run(at, version, id);
  }

  /** Forgets an erased fragment or kept still, and takes it out of every review. */
  deleteKeptRow(kind: Kept, id: string): void {
    this.db.transaction(() => {
      this.prep(`DELETE FROM ${TABLE[kind]} WHERE id = ?`).run(id);
      this.prep('DELETE FROM review_items WHERE kind = ? AND ref_id = ?').run(kind, id);
    })();
  }

  /** Per clip: how many fragments and kept stills of it are on the kit. */
  keptCounts(): Map<string, { fragments: number; keptStills: number }> {
    const out = new Map<string, { fragments: number; keptStills: number }>();
    const get = (id: string) => out.get(id) ?? (out.set(id, { fragments: 0, keptStills: 0 }), out.get(id)!);
    for (const r of this.prep('SELECT clip_id AS clipId, COUNT(*) AS n FROM fragments GROUP BY clip_id').all() as { clipId: string; n: number }[])
      get(r.clipId).fragments = r.n;
    for (const r of this.prep('SELECT clip_id AS clipId, COUNT(*) AS n FROM kept_stills GROUP BY clip_id').all() as { clipId: string; n: number }[])
      get(r.clipId).keptStills = r.n;
    return out;
  }

  /** Whether it is in a review, and when the last review holding it was held (null while one is to come). */
  reviewFacts(kind: Kept, id: string): { inReview: boolean; reviewHeldAt: number | null; reviews: string[] } {
    const rows = this.prep(
      `SELECT DISTINCT r.id AS id, r.held_at AS heldAt FROM review_items i JOIN reviews r ON r.id = i.review_id
       WHERE i.kind = ? AND i.ref_id = ? ORDER BY r.created_at, r.id`,
    ).all(kind, id) as { id: string; heldAt: number | null }[];
    const allHeld = rows.length > 0 && rows.every((r) => r.heldAt !== null);
    return { inReview: rows.length > 0, reviewHeldAt: allHeld ? Math.max(...rows.map((r) => r.heldAt!)) : null, reviews: rows.map((r) => r.id) };
  }

  // --- reviews ---

  /** Records a new review with its items. */
  insertReview(r: ReviewRow, items: readonly Omit<ReviewItemRow, 'position'>[]): void {
    this.db.transaction(() => {
      this.prep(
        `INSERT INTO reviews (id, case_code, planned_for, planned_visit_uid, created_at, updated_at, held_at, confirmed_at, confirmed_version)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(r.id, r.caseCode, r.plannedFor, r.plannedVisitUid, r.createdAt, r.updatedAt, r.heldAt, r.confirmedAt, r.confirmedVersion);
      this.writeItems(r.id, items);
    })();
  }

  /** One review, or undefined. */
  review(id: string): ReviewRow | undefined {
    return this.prep(`SELECT ${REVIEW_COLS} FROM reviews WHERE id = ?`).get(id) as ReviewRow | undefined;
  }

  /** The reviews of a case (or all), oldest first. */
  reviews(caseCode?: string): ReviewRow[] {
    if (caseCode === undefined) return this.prep(`SELECT ${REVIEW_COLS} FROM reviews ORDER BY created_at, id`).all() as ReviewRow[];
    return this.prep(`SELECT ${REVIEW_COLS} FROM reviews WHERE case_code = ? ORDER BY created_at, id`).all(caseCode) as ReviewRow[];
  }

  /** A review's items in order. */
  items(reviewId: string): ReviewItemRow[] {
    return this.prep('SELECT position, kind, ref_id AS refId FROM review_items WHERE review_id = ? ORDER BY position').all(reviewId) as ReviewItemRow[];
  }

  /** Replaces a review's items (add, remove and reorder are one list) and its planned day. */
  updateReview(id: string, patch: { items?: readonly Omit<ReviewItemRow, 'position'>[]; plannedFor?: string | null }, at: number): void {
    this.db.transaction(() => {
      if (patch.items) this.writeItems(id, patch.items);
      if (patch.plannedFor !== undefined) this.prep('UPDATE reviews SET planned_for = ? WHERE id = ?').run(patch.plannedFor, id);
      this.prep('UPDATE reviews SET updated_at = ? WHERE id = ?').run(at, id);
    })();
  }

  /** The review was held (at the visit). */
  markHeld(id: string, at: number): void {
    this.prep('UPDATE reviews SET held_at = COALESCE(held_at, ?), updated_at = ? WHERE id = ?').run(at, at, id);
  }

  /** Forgets an erased review (its items go with it). */
  deleteReviewRow(id: string): void {
    this.prep('DELETE FROM reviews WHERE id = ?').run(id);
  }

  private writeItems(id: string, items: readonly Omit<ReviewItemRow, 'position'>[]): void {
    this.prep('DELETE FROM review_items WHERE review_id = ?').run(id);
    items.forEach((it, i) => this.prep('INSERT INTO review_items (review_id, position, kind, ref_id) VALUES (?, ?, ?, ?)').run(id, i, it.kind, it.refId));
  }

  // --- raw clips erased while fragments live on ---

  /** Remembers a raw clip erased from the kit (ids and times only). */
  recordClipErasure(e: ClipErasureRow): void {
    this.prep(
      `INSERT OR REPLACE INTO clip_erasures (clip_id, case_code, visit_id, created_at, duration_ms, uploaded_at, erased_at, rule)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(e.clipId, e.caseCode, e.visitId, e.createdAt, e.durationMs, e.uploadedAt, e.erasedAt, e.rule);
  }

  /** Erased raw clips of which fragments or kept stills are still on the kit, newest first. */
  erasedClipsWithKept(): ClipErasureRow[] {
    return this.prep(
      `SELECT clip_id AS clipId, case_code AS caseCode, visit_id AS visitId, created_at AS createdAt, duration_ms AS durationMs,
         uploaded_at AS uploadedAt, erased_at AS erasedAt, rule FROM clip_erasures e
       WHERE EXISTS (SELECT 1 FROM fragments f WHERE f.clip_id = e.clip_id) OR EXISTS (SELECT 1 FROM kept_stills s WHERE s.clip_id = e.clip_id)
       ORDER BY created_at DESC`,
    ).all() as ClipErasureRow[];
  }

  // --- review talks: takes that record a review being presented (purpose supervision) ---

  /** Links a take to the review it records. */
  insertReviewTalk(clipId: string, reviewId: string, at: number): void {
    this.prep('INSERT OR REPLACE INTO review_talks (clip_id, review_id, started_at) VALUES (?, ?, ?)').run(clipId, reviewId, at);
  }

  /** The review a take records, or null. */
  reviewOfTalk(clipId: string): string | null {
    const r = this.prep('SELECT review_id AS reviewId FROM review_talks WHERE clip_id = ?').get(clipId) as { reviewId: string } | undefined;
    return r?.reviewId ?? null;
  }

  /** The takes that record a review. */
  talksOfReview(reviewId: string): string[] {
    return (this.prep('SELECT clip_id AS clipId FROM review_talks WHERE review_id = ? ORDER BY started_at').all(reviewId) as { clipId: string }[]).map(
      (r) => r.clipId,
    );
  }
}
