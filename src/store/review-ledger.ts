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

/**
 * How a fragment or kept still is stored: its table, its row's fields in insert order (each in the
 * column of the same name in snake_case), the order of a clip's rows, and its one flag (has a note
 * / a caption). The SQL of both kinds is made from this; booleans are stored as 0/1 and the consent
 * snapshot as JSON.
 */
interface KeptTable<T> {
  table: string;
  fields: readonly (keyof T & string)[];
  clipOrder: string;
  flag: keyof T & string;
}

/** The fields both kinds end with (consent, times, confirmation, deletion). */
const KEPT_TAIL = ['consent', 'createdAt', 'updatedAt', 'confirmedAt', 'confirmedVersion', 'deleteRequestedAt'] as const;

const FRAGMENTS: KeptTable<FragmentRow> = {
  table: 'fragments',
  fields: [
    'id',
    'clipId',
    'caseCode',
    'visitId',
    'clipCreatedAt',
    'inMs',
    'outMs',
    'playlistStartMs',
    'playlistDurationMs',
    'bytes',
    'label',
    'hasNote',
    ...KEPT_TAIL,
  ],
  clipOrder: 'in_ms, id',
  flag: 'hasNote',
};

const KEPT_STILLS: KeptTable<KeptStillRow> = {
  table: 'kept_stills',
  fields: ['id', 'clipId', 'stillN', 'caseCode', 'visitId', 'clipCreatedAt', 'timeMs', 'bytes', 'hasCaption', ...KEPT_TAIL],
  clipOrder: 'time_ms, id',
  flag: 'hasCaption',
};

const TABLE: Record<Kept, string> = { fragment: FRAGMENTS.table, still: KEPT_STILLS.table };

/** A field's column: `clipCreatedAt` → `clip_created_at`. */
const columnOf = (field: string): string => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** `column AS field, …` for a SELECT of a kept table. */
function selectList<T>(t: KeptTable<T>): string {
  return t.fields.map((f) => (columnOf(f) === f ? f : `${columnOf(f)} AS ${f}`)).join(', ');
}

/** A stored row as its type: the flag a boolean, the consent snapshot parsed. */
function keptOf<T>(t: KeptTable<T>, raw: Record<string, unknown>): T {
  return { ...raw, [t.flag]: raw[t.flag] === 1, consent: JSON.parse(raw.consent as string) as Consent } as unknown as T;
}

const REVIEW_COLS = `id, case_code AS caseCode, planned_for AS plannedFor, planned_visit_uid AS plannedVisitUid, created_at AS createdAt,
  updated_at AS updatedAt, held_at AS heldAt, confirmed_at AS confirmedAt, confirmed_version AS confirmedVersion`;

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
    this.insertKept(FRAGMENTS, f);
  }

  /** One fragment, or undefined. */
  fragment(id: string): FragmentRow | undefined {
    return this.keptRows(FRAGMENTS, 'WHERE id = ?', id)[0];
  }

  /** The fragments of a clip, by in point. */
  fragmentsOfClip(clipId: string): FragmentRow[] {
    return this.keptRows(FRAGMENTS, `WHERE clip_id = ? ORDER BY ${FRAGMENTS.clipOrder}`, clipId);
  }

  /** Every fragment on the kit. */
  allFragments(): FragmentRow[] {
    return this.keptRows(FRAGMENTS, 'ORDER BY created_at, id');
  }

  /** Changes a fragment's label and whether it has a note. */
  updateFragment(id: string, label: string | null, hasNote: boolean, at: number): void {
    this.prep('UPDATE fragments SET label = ?, has_note = ?, updated_at = ? WHERE id = ?').run(label, hasNote ? 1 : 0, at, id);
  }

  // --- kept stills ---

  /** Records a kept still (after its files are written). */
  insertKeptStill(s: KeptStillRow): void {
    this.insertKept(KEPT_STILLS, s);
  }

  /** One kept still, or undefined. */
  keptStill(id: string): KeptStillRow | undefined {
    return this.keptRows(KEPT_STILLS, 'WHERE id = ?', id)[0];
  }

  /** The kept stills of a clip, by time. */
  keptStillsOfClip(clipId: string): KeptStillRow[] {
    return this.keptRows(KEPT_STILLS, `WHERE clip_id = ? ORDER BY ${KEPT_STILLS.clipOrder}`, clipId);
  }

  /** Every kept still on the kit. */
  allKeptStills(): KeptStillRow[] {
    return this.keptRows(KEPT_STILLS, 'ORDER BY created_at, id');
  }

  /** Changes whether a kept still has a caption. */
  updateKeptStill(id: string, hasCaption: boolean, at: number): void {
    this.prep('UPDATE kept_stills SET has_caption = ?, updated_at = ? WHERE id = ?').run(hasCaption ? 1 : 0, at, id);
  }

  /** Inserts a row of a kept table, every column from its field. */
  private insertKept<T>(t: KeptTable<T>, row: T): void {
    const values = t.fields.map((f) => {
      const v = row[f];
      return typeof v === 'boolean' ? (v ? 1 : 0) : f === 'consent' ? JSON.stringify(v) : v;
    });
    this.prep(`INSERT INTO ${t.table} (${t.fields.map(columnOf).join(', ')}) VALUES (${t.fields.map(() => '?').join(', ')})`).run(...values);
  }

  /** The rows of a kept table that `rest` (WHERE / ORDER BY) selects. */
  private keptRows<T>(t: KeptTable<T>, rest: string, ...params: unknown[]): T[] {
    return (this.prep(`SELECT ${selectList(t)} FROM ${t.table} ${rest}`).all(...params) as Record<string, unknown>[]).map((r) => keptOf(t, r));
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
