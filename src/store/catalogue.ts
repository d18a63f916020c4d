import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

export type ClipState = 'recording' | 'complete' | 'recovered';

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
  durationMs: number;
  segmentCount: number;
  bytes: number;
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

export interface NewClip {
  id: string;
  caseCode: string | null;
  createdAt: number;
  requestedAt: number;
  originMs: number | null;
  preRollMs: number;
}

const CLIP_COLUMNS = `
  c.id, c.case_code AS caseCode, c.visit_id AS visitId, c.state, c.created_at AS createdAt,
  c.requested_at AS requestedAt, c.origin_ms AS originMs, c.stopped_at AS stoppedAt,
  c.pre_roll_ms AS preRollMs, c.stop_reason AS stopReason,
  COALESCE((SELECT SUM(duration_ms) FROM segments s WHERE s.clip_id = c.id), 0) AS durationMs,
  (SELECT COUNT(*) FROM segments s WHERE s.clip_id = c.id) AS segmentCount,
  COALESCE((SELECT SUM(bytes) FROM segments s WHERE s.clip_id = c.id), 0) AS bytes`;

/**
 * The SQLite catalogue (WAL). It is an index over the data dir: the files are the truth and
 * `rebuildCatalogue` can make it anew from them.
 */
export class Catalogue {
  readonly db: Database.Database;
  /** True when this open made a new, empty catalogue (then it can be rebuilt from the files). */
  readonly created: boolean;

  constructor(file: string) {
    this.created = !existsSync(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
  }

  close(): void {
    if (this.db.open) this.db.close();
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

  ensureCase(code: string, now: number): void {
    this.db.prepare('INSERT OR IGNORE INTO cases (code, created_at) VALUES (?, ?)').run(code, now);
  }

  /** The visit of this case on this (local) day, made if needed. */
  visitFor(code: string, now: number): number {
    const day = new Date(now).toISOString().slice(0, 10);
    this.db.prepare('INSERT OR IGNORE INTO visits (case_code, day, started_at) VALUES (?, ?, ?)').run(code, day, now);
    const row = this.db.prepare('SELECT id FROM visits WHERE case_code = ? AND day = ?').get(code, day) as { id: number };
    return row.id;
  }

  insertClip(c: NewClip): void {
    const visitId = c.caseCode ? (this.ensureCase(c.caseCode, c.createdAt), this.visitFor(c.caseCode, c.createdAt)) : null;
    this.db
      .prepare(
        `INSERT INTO clips (id, case_code, visit_id, state, created_at, requested_at, origin_ms, pre_roll_ms)
         VALUES (?, ?, ?, 'recording', ?, ?, ?, ?)`,
      )
      .run(c.id, c.caseCode, visitId, c.createdAt, c.requestedAt, c.originMs, c.preRollMs);
  }

  setOrigin(id: string, originMs: number): void {
    this.db.prepare('UPDATE clips SET origin_ms = ? WHERE id = ? AND origin_ms IS NULL').run(originMs, id);
  }

  finishClip(id: string, state: 'complete' | 'recovered', stoppedAt: number, reason: string): void {
    this.db.prepare('UPDATE clips SET state = ?, stopped_at = ?, stop_reason = ? WHERE id = ?').run(state, stoppedAt, reason, id);
  }

  assignCase(id: string, caseCode: string, now: number): void {
    this.ensureCase(caseCode, now);
    const clip = this.getClip(id);
    const visitId = this.visitFor(caseCode, clip?.createdAt ?? now);
    this.db.prepare('UPDATE clips SET case_code = ?, visit_id = ? WHERE id = ?').run(caseCode, visitId, id);
  }

  insertSegment(s: SegmentRow): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO segments (clip_id, seq, start_ms, duration_ms, bytes, sha256, discontinuity)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(s.clipId, s.seq, s.startMs, s.durationMs, s.bytes, s.sha256, s.discontinuity ? 1 : 0);
  }

  insertMarker(clipId: string, offsetMs: number, label: string | null, createdAt: number, id?: number): number {
    const info = this.db
      .prepare('INSERT INTO markers (id, clip_id, offset_ms, label, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(id ?? null, clipId, offsetMs, label, createdAt);
    return Number(info.lastInsertRowid);
  }

  getClip(id: string): ClipRow | undefined {
    return this.db.prepare(`SELECT ${CLIP_COLUMNS} FROM clips c WHERE c.id = ?`).get(id) as ClipRow | undefined;
  }

  listClips(limit = 500, offset = 0): ClipRow[] {
    return this.db
      .prepare(`SELECT ${CLIP_COLUMNS} FROM clips c ORDER BY c.created_at DESC LIMIT ? OFFSET ?`)
      .all(limit, offset) as ClipRow[];
  }

  clipsInState(state: ClipState): ClipRow[] {
    return this.db.prepare(`SELECT ${CLIP_COLUMNS} FROM clips c WHERE c.state = ?`).all(state) as ClipRow[];
  }

  segments(clipId: string): SegmentRow[] {
    const rows = this.db
      .prepare(
        `SELECT clip_id AS clipId, seq, start_ms AS startMs, duration_ms AS durationMs, bytes, sha256, discontinuity
         FROM segments WHERE clip_id = ? ORDER BY seq`,
      )
      .all(clipId) as (Omit<SegmentRow, 'discontinuity'> & { discontinuity: number })[];
    return rows.map((r) => ({ ...r, discontinuity: r.discontinuity === 1 }));
  }

  segment(clipId: string, seq: number): SegmentRow | undefined {
    return this.segments(clipId).find((s) => s.seq === seq);
  }

  markers(clipId: string): MarkerRow[] {
    return this.db
      .prepare('SELECT id, clip_id AS clipId, offset_ms AS offsetMs, label, created_at AS createdAt FROM markers WHERE clip_id = ? ORDER BY offset_ms, id')
      .all(clipId) as MarkerRow[];
  }

  deleteClipRows(id: string): void {
    this.db.prepare('DELETE FROM clips WHERE id = ?').run(id);
  }

  /** Appends a hash-chained audit event (ids and codes only; never names or free text). */
  audit(type: string, now: number, clipId: string | null = null, details: Record<string, unknown> = {}): void {
    const prev = this.db.prepare('SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1').get() as { hash: string } | undefined;
    const prevHash = prev?.hash ?? '0'.repeat(64);
    const body = JSON.stringify(details);
    const hash = createHash('sha256').update(`${prevHash}\n${now}\n${type}\n${clipId ?? ''}\n${body}`).digest('hex');
    this.db
      .prepare('INSERT INTO audit_events (ts, type, clip_id, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)')
      .run(now, type, clipId, body, prevHash, hash);
  }

  auditEvents(): { id: number; ts: number; type: string; clipId: string | null }[] {
    return this.db.prepare('SELECT id, ts, type, clip_id AS clipId FROM audit_events ORDER BY id').all() as {
      id: number; ts: number; type: string; clipId: string | null;
    }[];
  }
}
