import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileDurableSync } from './durable.js';
import Database from 'better-sqlite3';
import { AppError } from '../core/errors.js';
import { MIGRATIONS } from './migrations.js';
import { NO_RESERVE, type MetadataSpace } from './reserve.js';
import { ReviewLedger } from './review-ledger.js';
import { SyncLedger } from './sync-ledger.js';
import { OfficeLedger } from './office-ledger.js';

/** A prepared statement as the catalogue uses it; `run` outside a transaction may use the reserve. */
type Stmt = Pick<Database.Statement, 'get' | 'all' | 'run'>;

export type ClipState = 'recording' | 'complete' | 'recovered';

/** What the family agreed to, per use; recorded at the first visit, changeable, audited. */
export interface Consent {
  recording: boolean;
  review: boolean;
  supervision: boolean;
  training: boolean;
}

export type ConsentScope = keyof Consent;
export const CONSENT_SCOPES: ConsentScope[] = ['recording', 'review', 'supervision', 'training'];

/**
 * The consent in force for a clip: a use needs both the snapshot taken when the clip was made
 * (or assigned) and the case's consent now. No current consent (no case) allows nothing.
 */
export function consentInForce(snapshot: Consent, current: Consent | undefined): Consent {
  return {
    recording: snapshot.recording && current?.recording === true,
    review: snapshot.review && current?.review === true,
    supervision: snapshot.supervision && current?.supervision === true,
    training: snapshot.training && current?.training === true,
  };
}

export interface CaseRow {
  code: string;
  trajectory: string | null;
  consent: Consent;
  createdAt: number;
  consentUpdatedAt: number | null;
}

export interface ClipRow {
  id: string;
  caseCode: string | null;
  visitId: number | null;
  state: ClipState;
  createdAt: number;
  requestedAt: number;
  originMs: number | null;
  stoppedAt: number | null;
  preRollMs: number;
  stopReason: string | null;
  /** The consent in force when the clip was made (or assigned); null while unassigned. */
  consent: Consent | null;
  purposes: ConsentScope[];
  uploadedAt: number | null;
  deleteRequestedAt: number | null;
  deleteReason: string | null;
  durationMs: number;
  segmentCount: number;
  bytes: number;
  /** How many markers the clip has (for the library list). */
  markerCount: number;
}

export interface SegmentRow {
  clipId: string;
  seq: number;
  startMs: number;
  durationMs: number;
  bytes: number;
  sha256: string;
  discontinuity: boolean;
}

export interface MarkerRow {
  id: number;
  clipId: string;
  offsetMs: number;
  label: string | null;
  createdAt: number;
}

/** A still: one JPEG frame of a clip, stored encrypted beside its segments. */
export interface StillRow {
  clipId: string;
  /** Per clip, from 1. */
  id: number;
  /** Position in the clip, ms from its first segment's start. */
  timeMs: number;
  /** Size of the encrypted file. */
  bytes: number;
  /** SHA-256 (hex) of the encrypted file. */
  sha256: string;
  createdAt: number;
}

export interface NewClip {
  id: string;
  caseCode: string | null;
  createdAt: number;
  requestedAt: number;
  originMs: number | null;
  preRollMs: number;
}

/** One entry of the hash-chained audit log, as stored. */
export interface AuditEventRow {
  id: number;
  ts: number;
  type: string;
  clipId: string | null;
  details: string;
  prevHash: string;
  hash: string;
  /** The trainer who acted (issue 20): the signed-in trainer, else the kit's holder; null before migration 8 or on a kit without trainers. */
  trainerId: string | null;
}

/** An entry's hash: over the previous hash and its content; the trainer id is covered when there is one (entries before issue 20 have none). */
export function auditHash(prevHash: string, ts: number, type: string, clipId: string | null, details: string, trainerId: string | null = null): string {
  return createHash('sha256')
    .update(`${prevHash}\n${ts}\n${type}\n${clipId ?? ''}\n${details}${trainerId === null ? '' : `\ntrainer:${trainerId}`}`)
    .digest('hex');
}

type RawClipRow = Omit<ClipRow, 'consent' | 'purposes'> & { consent: string | null; purposes: string };

function toClipRow(r: RawClipRow): ClipRow {
  return { ...r, consent: r.consent ? (JSON.parse(r.consent) as Consent) : null, purposes: JSON.parse(r.purposes) as ConsentScope[] };
}

interface RawCaseRow {
  code: string;
  trajectory: string | null;
  consent_recording: number;
  consent_review: number;
  consent_supervision: number;
  consent_training: number;
  created_at: number;
  consent_updated_at: number | null;
}

function toCaseRow(r: RawCaseRow): CaseRow {
  return {
    code: r.code,
    trajectory: r.trajectory,
    createdAt: r.created_at,
    consentUpdatedAt: r.consent_updated_at,
    consent: {
      recording: r.consent_recording === 1,
      review: r.consent_review === 1,
      supervision: r.consent_supervision === 1,
      training: r.consent_training === 1,
    },
  };
}

const CLIP_COLUMNS = `
  c.id, c.case_code AS caseCode, c.visit_id AS visitId, c.state, c.created_at AS createdAt,
  c.requested_at AS requestedAt, c.origin_ms AS originMs, c.stopped_at AS stoppedAt,
  c.pre_roll_ms AS preRollMs, c.stop_reason AS stopReason, c.consent, c.purposes,
  c.uploaded_at AS uploadedAt, c.delete_requested_at AS deleteRequestedAt, c.delete_reason AS deleteReason,
  c.total_duration_ms AS durationMs, c.segment_count AS segmentCount, c.total_bytes AS bytes,
  (SELECT count(*) FROM markers m WHERE m.clip_id = c.id) AS markerCount`;

/**
 * The SQLite catalogue (WAL). It is an index over the data dir: the files are the truth and
 * `rebuildCatalogue` can make it anew from them.
 */
export class Catalogue {
  /** The one connection: SQL lives in this module and the store modules it hands statements to. */
  private readonly db: Database.Database;
  /** True when this open made a new, empty catalogue (then it can be rebuilt from the files). */
  readonly created: boolean;
  /** True when the card was full at open: the WAL index is in RAM and no other process can read the catalogue. */
  readonly fullAtOpen: boolean = false;
  /** What the upload targets confirmed, and the encrypted bodies waiting for confirmation. */
  readonly syncLedger: SyncLedger;
  /** Case tags, erasure notices, case index entries (issue 21, migration 9). */
  readonly officeLedger: OfficeLedger;
  /** Fragments, kept stills and reviews (issue 19, migration 7). */
  readonly reviewLedger: ReviewLedger;

  /** space: the catalogue's reserve on a full card (a write outside a transaction runs with it). */
  constructor(
    readonly file: string,
    private readonly space: MetadataSpace = NO_RESERVE,
  ) {
    this.created = !existsSync(file);
    // 0600 like every file of the kit: SQLite gives its -wal and -shm the mode of the database file.
    closeSync(openSync(file, 'a', 0o600));
    for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    // Opening makes (or, after a power cut, grows) the WAL index -shm: on a full card that needs the
    // reserve; with the reserve used up too, the index lives in RAM (exclusive locking mode, no -shm):
    // the kit starts and reads; writes wait for room.
    const open = (exclusive: boolean) => {
      const db = new Database(file);
      try {
        if (exclusive) db.pragma('locking_mode = EXCLUSIVE');
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        db.pragma('foreign_keys = ON');
        db.pragma('user_version');
        return db;
      } catch (err) {
        db.close();
        throw err;
      }
    };
    try {
      this.db = space.run('catalogue: open', () => open(false));
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'STORAGE_FULL')) throw err;
      this.db = open(true);
      this.fullAtOpen = true;
    }
    this.migrate();
    this.syncLedger = new SyncLedger((sql) => this.prep(sql), this.db);
    this.officeLedger = new OfficeLedger((sql) => this.prep(sql));
    this.reviewLedger = new ReviewLedger((sql) => this.prep(sql), this.db);
  }

  /**
   * Runs fn in one SQLite transaction (one fsync) and returns its result; a throw rolls it all back.
   * Nested calls become savepoints. fn must not await: the transaction ends when fn returns.
   */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** Closes the connection (idempotent). */
  close(): void {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }

  /** Prepared statements by SQL text: preparing costs more than running most of these queries. */
  private readonly statements = new Map<string, Stmt>();

  private prep(sql: string): Stmt {
    let st = this.statements.get(sql);
    if (!st) {
      const raw = this.db.prepare(sql);
      // Inside a transaction a failed write rolls the whole of it back: the caller retries that.
      const run = ((...args: unknown[]) =>
        this.db.inTransaction ? raw.run(...args) : this.space.run('catalogue write', () => raw.run(...args))) as Database.Statement['run'];
      st = { get: raw.get.bind(raw), all: raw.all.bind(raw), run };
      this.statements.set(sql, st);
    }
    return st;
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  private migrate(): void {
    const current = this.schemaVersion;
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.pragma(`user_version = ${m.version}`);
      })();
    }
  }

  /** Makes the case when it is new: recording consent only (the trainer records at it). */
  ensureCase(code: string, now: number): void {
    this.prep('INSERT OR IGNORE INTO cases (code, created_at, consent_updated_at) VALUES (?, ?, ?)').run(code, now, now);
  }

  /** The visit of this case on this (local) day, made if needed. */
  visitFor(code: string, now: number): number {
    const day = new Date(now).toISOString().slice(0, 10);
    this.prep('INSERT OR IGNORE INTO visits (case_code, day, started_at) VALUES (?, ?, ?)').run(code, day, now);
    const row = this.prep('SELECT id FROM visits WHERE case_code = ? AND day = ?').get(code, day) as { id: number };
    return row.id;
  }

  insertClip(c: NewClip): void {
    const visitId = c.caseCode ? (this.ensureCase(c.caseCode, c.createdAt), this.visitFor(c.caseCode, c.createdAt)) : null;
    this.prep(
      `INSERT INTO clips (id, case_code, visit_id, state, created_at, requested_at, origin_ms, pre_roll_ms)
         VALUES (?, ?, ?, 'recording', ?, ?, ?, ?)`,
    ).run(c.id, c.caseCode, visitId, c.createdAt, c.requestedAt, c.originMs, c.preRollMs);
  }

  setOrigin(id: string, originMs: number): void {
    this.prep('UPDATE clips SET origin_ms = ? WHERE id = ? AND origin_ms IS NULL').run(originMs, id);
  }

  finishClip(id: string, state: 'complete' | 'recovered', stoppedAt: number, reason: string): void {
    this.prep('UPDATE clips SET state = ?, stopped_at = ?, stop_reason = ? WHERE id = ?').run(state, stoppedAt, reason, id);
  }

  assignCase(id: string, caseCode: string, now: number): void {
    this.ensureCase(caseCode, now);
    const clip = this.getClip(id);
    const visitId = this.visitFor(caseCode, clip?.createdAt ?? now);
    this.prep('UPDATE clips SET case_code = ?, visit_id = ? WHERE id = ?').run(caseCode, visitId, id);
  }

  insertSegment(s: SegmentRow): void {
    this.prep(
      // an upsert, not INSERT OR REPLACE: the clip totals' triggers see the update (a REPLACE's
      // implicit delete fires no trigger)
      `INSERT INTO segments (clip_id, seq, start_ms, duration_ms, bytes, sha256, discontinuity)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (clip_id, seq) DO UPDATE SET start_ms = excluded.start_ms, duration_ms = excluded.duration_ms,
           bytes = excluded.bytes, sha256 = excluded.sha256, discontinuity = excluded.discontinuity`,
    ).run(s.clipId, s.seq, s.startMs, s.durationMs, s.bytes, s.sha256, s.discontinuity ? 1 : 0);
  }

  insertMarker(clipId: string, offsetMs: number, label: string | null, createdAt: number, id?: number): number {
    const info = this.prep('INSERT INTO markers (id, clip_id, offset_ms, label, created_at) VALUES (?, ?, ?, ?, ?)').run(
      id ?? null,
      clipId,
      offsetMs,
      label,
      createdAt,
    );
    return Number(info.lastInsertRowid);
  }

  insertStill(s: StillRow): void {
    this.prep('INSERT OR REPLACE INTO stills (clip_id, id, time_ms, bytes, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(
      s.clipId,
      s.id,
      s.timeMs,
      s.bytes,
      s.sha256,
      s.createdAt,
    );
  }

  /** The clip's stills, by position in the clip (what the API lists). */
  stills(clipId: string): { id: number; timeMs: number; createdAt: number; bytes: number }[] {
    return this.prep('SELECT id, time_ms AS timeMs, created_at AS createdAt, bytes FROM stills WHERE clip_id = ? ORDER BY time_ms, id').all(clipId) as {
      id: number;
      timeMs: number;
      createdAt: number;
      bytes: number;
    }[];
  }

  /** The clip's stills with their checksums (sync and manifest), by id. */
  stillRows(clipId: string): StillRow[] {
    return this.prep('SELECT clip_id AS clipId, id, time_ms AS timeMs, bytes, sha256, created_at AS createdAt FROM stills WHERE clip_id = ? ORDER BY id').all(
      clipId,
    ) as StillRow[];
  }

  still(clipId: string, id: number): StillRow | undefined {
    return this.prep('SELECT clip_id AS clipId, id, time_ms AS timeMs, bytes, sha256, created_at AS createdAt FROM stills WHERE clip_id = ? AND id = ?').get(
      clipId,
      id,
    ) as StillRow | undefined;
  }

  maxStillId(clipId: string): number {
    const r = this.prep('SELECT MAX(id) AS m FROM stills WHERE clip_id = ?').get(clipId) as { m: number | null };
    return r.m ?? 0;
  }

  getClip(id: string): ClipRow | undefined {
    const row = this.prep(`SELECT ${CLIP_COLUMNS} FROM clips c WHERE c.id = ?`).get(id) as RawClipRow | undefined;
    return row ? toClipRow(row) : undefined;
  }

  listClips(limit = 500, offset = 0): ClipRow[] {
    return (this.prep(`SELECT ${CLIP_COLUMNS} FROM clips c ORDER BY c.created_at DESC LIMIT ? OFFSET ?`).all(limit, offset) as RawClipRow[]).map(toClipRow);
  }

  clipsOfCase(code: string): ClipRow[] {
    return (this.prep(`SELECT ${CLIP_COLUMNS} FROM clips c WHERE c.case_code = ?`).all(code) as RawClipRow[]).map(toClipRow);
  }

  allClips(): ClipRow[] {
    return (this.prep(`SELECT ${CLIP_COLUMNS} FROM clips c ORDER BY c.created_at`).all() as RawClipRow[]).map(toClipRow);
  }

  setClipConsent(id: string, consent: Consent | null): void {
    this.prep('UPDATE clips SET consent = ? WHERE id = ?').run(consent ? JSON.stringify(consent) : null, id);
  }

  setPurposes(id: string, purposes: ConsentScope[]): void {
    this.prep('UPDATE clips SET purposes = ? WHERE id = ?').run(JSON.stringify(purposes), id);
  }

  /** The organisation confirmed every object of the clip (sync). */
  markUploaded(id: string, at: number | null): void {
    this.prep('UPDATE clips SET uploaded_at = ? WHERE id = ?').run(at, id);
  }

  requestDelete(id: string, at: number, reason: string): void {
    this.prep('UPDATE clips SET delete_requested_at = COALESCE(delete_requested_at, ?), delete_reason = COALESCE(delete_reason, ?) WHERE id = ?').run(
      at,
      reason,
      id,
    );
  }

  getCase(code: string): CaseRow | undefined {
    const r = this.prep('SELECT * FROM cases WHERE code = ?').get(code) as RawCaseRow | undefined;
    return r ? toCaseRow(r) : undefined;
  }

  listCases(): CaseRow[] {
    return (this.prep('SELECT * FROM cases ORDER BY code').all() as RawCaseRow[]).map(toCaseRow);
  }

  insertCase(code: string, trajectory: string | null, consent: Consent, now: number): void {
    this.prep(
      `INSERT INTO cases (code, trajectory, consent_recording, consent_review, consent_supervision, consent_training, created_at, consent_updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(code, trajectory, +consent.recording, +consent.review, +consent.supervision, +consent.training, now, now);
  }

  updateCase(code: string, trajectory: string | null, consent: Consent, now: number): void {
    this.prep(
      `UPDATE cases SET trajectory = ?, consent_recording = ?, consent_review = ?, consent_supervision = ?,
         consent_training = ?, consent_updated_at = ? WHERE code = ?`,
    ).run(trajectory, +consent.recording, +consent.review, +consent.supervision, +consent.training, now, code);
  }

  segments(clipId: string): SegmentRow[] {
    const rows = this.prep(
      `SELECT clip_id AS clipId, seq, start_ms AS startMs, duration_ms AS durationMs, bytes, sha256, discontinuity
         FROM segments WHERE clip_id = ? ORDER BY seq`,
    ).all(clipId) as (Omit<SegmentRow, 'discontinuity'> & { discontinuity: number })[];
    return rows.map((r) => ({ ...r, discontinuity: r.discontinuity === 1 }));
  }

  segment(clipId: string, seq: number): SegmentRow | undefined {
    const r = this.prep(
      `SELECT clip_id AS clipId, seq, start_ms AS startMs, duration_ms AS durationMs, bytes, sha256, discontinuity
         FROM segments WHERE clip_id = ? AND seq = ?`,
    ).get(clipId, seq) as (Omit<SegmentRow, 'discontinuity'> & { discontinuity: number }) | undefined;
    return r ? { ...r, discontinuity: r.discontinuity === 1 } : undefined;
  }

  markers(clipId: string): MarkerRow[] {
    return this.prep(
      'SELECT id, clip_id AS clipId, offset_ms AS offsetMs, label, created_at AS createdAt FROM markers WHERE clip_id = ? ORDER BY offset_ms, id',
    ).all(clipId) as MarkerRow[];
  }

  deleteClipRows(id: string): void {
    this.prep('DELETE FROM clips WHERE id = ?').run(id);
  }

  /**
   * Checks the audit chain: every entry's hash covers its content and the previous entry's hash.
   * An edited entry, or one deleted from the middle, breaks it at that place.
   */
  verifyAudit(): { ok: boolean; count: number; brokenAt?: number; reason?: string } {
    const rows = this.auditEventsAfter(0);
    let prev = '0'.repeat(64);
    for (const r of rows) {
      if (r.prevHash !== prev)
        return { ok: false, count: rows.length, brokenAt: r.id, reason: `entry ${r.id} does not follow the entry before it (one was deleted or changed)` };
      const hash = auditHash(r.prevHash, r.ts, r.type, r.clipId, r.details, r.trainerId);
      if (hash !== r.hash) return { ok: false, count: rows.length, brokenAt: r.id, reason: `entry ${r.id} was changed after it was written` };
      prev = r.hash;
    }
    return { ok: true, count: rows.length };
  }

  /** Who acts, for every audit entry (issue 20): the composition root sets it to the signed-in trainer, else the kit's holder. */
  setAuditActor(actor: () => string | null): void {
    this.auditActor = actor;
  }

  private auditActor: () => string | null = () => null;

  /** Appends a hash-chained audit event (ids and codes only; never names or free text), naming the acting trainer. */
  audit(type: string, now: number, clipId: string | null = null, details: Record<string, unknown> = {}): void {
    const prev = this.prep('SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1').get() as { hash: string } | undefined;
    const prevHash = prev?.hash ?? '0'.repeat(64);
    const body = JSON.stringify(details);
    const trainerId = this.auditActor();
    const hash = auditHash(prevHash, now, type, clipId, body, trainerId);
    this.prep('INSERT INTO audit_events (ts, type, clip_id, details, prev_hash, hash, trainer_id) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      now,
      type,
      clipId,
      body,
      prevHash,
      hash,
      trainerId,
    );
  }

  /** Every audit event after `afterId`, with its details and hashes (the audit export). */
  auditEventsAfter(afterId: number): AuditEventRow[] {
    return this.prep(
      'SELECT id, ts, type, clip_id AS clipId, details, prev_hash AS prevHash, hash, trainer_id AS trainerId FROM audit_events WHERE id > ? ORDER BY id',
    ).all(afterId) as AuditEventRow[];
  }

  /** The time of the newest audit event (the last time the kit wrote down), or null with none. */
  latestAuditTs(): number | null {
    const row = this.prep('SELECT MAX(ts) AS ts FROM audit_events').get() as { ts: number | null } | undefined;
    return row?.ts ?? null;
  }

  /** Every audit event's id, time, type, clip and trainer. */
  auditEvents(): { id: number; ts: number; type: string; clipId: string | null; trainerId: string | null }[] {
    return this.prep('SELECT id, ts, type, clip_id AS clipId, trainer_id AS trainerId FROM audit_events ORDER BY id').all() as {
      id: number;
      ts: number;
      type: string;
      clipId: string | null;
      trainerId: string | null;
    }[];
  }

  // --- issue 20: a case's trainers (migration 8) ---

  /** Adds trainers to a case (idempotent); kept in case-trainers.json too, so a rebuilt catalogue knows. */
  addCaseTrainers(code: string, trainerIds: string[], now: number): void {
    const before = this.caseTrainers(code);
    if (trainerIds.every((t) => before.includes(t))) return;
    for (const t of trainerIds) this.prep('INSERT OR IGNORE INTO case_trainers (case_code, trainer_id, added_at) VALUES (?, ?, ?)').run(code, t, now);
    this.saveCaseTrainers();
  }

  /** Sets a case's trainers to exactly these (the office directory's assignment, a trainer removed). */
  setCaseTrainers(code: string, trainerIds: string[], now: number): void {
    this.transaction(() => {
      this.prep('DELETE FROM case_trainers WHERE case_code = ?').run(code);
      for (const t of trainerIds) this.prep('INSERT OR IGNORE INTO case_trainers (case_code, trainer_id, added_at) VALUES (?, ?, ?)').run(code, t, now);
    });
    this.saveCaseTrainers();
  }

  private get caseTrainersFile(): string {
    return path.join(path.dirname(this.file), 'case-trainers.json');
  }

  private saveCaseTrainers(): void {
    const rows = this.prep('SELECT case_code AS c, trainer_id AS t, added_at AS at FROM case_trainers ORDER BY case_code, trainer_id').all();
    writeFileDurableSync(this.caseTrainersFile, JSON.stringify(rows, null, 1));
  }

  /**
   * Puts case-trainers.json back into a rebuilt catalogue; a case it does not name (a kit from before
   * the file) becomes the default trainer's, as migration 8 does.
   */
  restoreCaseTrainers(defaultTrainer: string, now: number): void {
    const rows = existsSync(this.caseTrainersFile) ? (JSON.parse(readFileSync(this.caseTrainersFile, 'utf8')) as { c: string; t: string; at: number }[]) : [];
    this.transaction(() => {
      for (const r of rows)
        if (this.getCase(r.c)) this.prep('INSERT OR IGNORE INTO case_trainers (case_code, trainer_id, added_at) VALUES (?, ?, ?)').run(r.c, r.t, r.at);
      for (const c of this.listCases())
        if (this.caseTrainers(c.code).length === 0)
          this.prep('INSERT INTO case_trainers (case_code, trainer_id, added_at) VALUES (?, ?, ?)').run(c.code, defaultTrainer, now);
    });
    this.saveCaseTrainers();
  }

  /** The trainers of a case, sorted. */
  caseTrainers(code: string): string[] {
    return (this.prep('SELECT trainer_id AS t FROM case_trainers WHERE case_code = ? ORDER BY trainer_id').all(code) as { t: string }[]).map((r) => r.t);
  }

  /** The codes of the cases a trainer is on, sorted. */
  casesOfTrainer(trainerId: string): string[] {
    return (this.prep('SELECT case_code AS c FROM case_trainers WHERE trainer_id = ? ORDER BY case_code').all(trainerId) as { c: string }[]).map((r) => r.c);
  }

  // --- issue 13: closing a case, global visit ids (migration 6) ---

  /** Marks the case's trajectory closed (the first close counts; a closed case stays closed). */
  closeCase(code: string, at: number): void {
    this.prep('UPDATE cases SET closed_at = COALESCE(closed_at, ?) WHERE code = ?').run(at, code);
  }

  /** When the case was closed, or null while its trajectory runs. */
  caseClosedAt(code: string): number | null {
    const r = this.prep('SELECT closed_at AS closedAt FROM cases WHERE code = ?').get(code) as { closedAt: number | null } | undefined;
    return r?.closedAt ?? null;
  }

  /** Closed cases (for the files the catalogue is rebuilt from). */
  closedCases(): { code: string; closedAt: number }[] {
    return this.prep('SELECT code, closed_at AS closedAt FROM cases WHERE closed_at IS NOT NULL ORDER BY code').all() as { code: string; closedAt: number }[];
  }

  /** A visit's global id (16 hex characters, unique across kits), or null for an unknown visit. */
  visitUid(visitId: number): string | null {
    const r = this.prep('SELECT uid FROM visits WHERE id = ?').get(visitId) as { uid: string } | undefined;
    return r?.uid ?? null;
  }
}
