import type Database from 'better-sqlite3';

/** The scopes of an erasure notice (objects.ts ERASURE_SCOPES; not imported: the catalogue imports this file). */
export type NoticeScope = 'all' | 'recording' | 'review' | 'supervision' | 'training';

/** An erasure notice the kit read from the office bucket (its name only carries tag, scope and time). */
export interface ErasureNoticeRow {
  source: string;
  key: string;
  caseTag: string;
  scope: NoticeScope;
  readAt: number;
  appliedAt: number | null;
}

/**
 * The kit's side of the organisation's store beyond clip uploads (migration 9): each case's tag
 * (its name in the store, kept so uploads made while locked can name it), the erasure notices read
 * (the cursor is the last name read per office location), and the case index entries the target
 * confirmed. Made by the Catalogue, which owns the connection.
 */
export class OfficeLedger {
  constructor(private readonly prep: (sql: string) => Pick<Database.Statement, 'get' | 'all' | 'run'>) {}

  /** Keeps the case's tag (computed while a trainer was signed in). */
  setCaseTag(code: string, tag: string): void {
    this.prep('UPDATE cases SET tag = ? WHERE code = ?').run(tag, code);
  }

  /** The case's tag, or null before one was computed. */
  caseTag(code: string): string | null {
    const r = this.prep('SELECT tag FROM cases WHERE code = ?').get(code) as { tag: string | null } | undefined;
    return r?.tag ?? null;
  }

  /** Codes of cases without a tag yet. */
  casesWithoutTag(): string[] {
    return (this.prep('SELECT code FROM cases WHERE tag IS NULL ORDER BY code').all() as { code: string }[]).map((r) => r.code);
  }

  /** The case a tag names on this kit, if any. */
  caseOfTag(tag: string): string | null {
    const r = this.prep('SELECT code FROM cases WHERE tag = ?').get(tag) as { code: string } | undefined;
    return r?.code ?? null;
  }

  /** Tags and close times of the kit's closed cases (for the status object). */
  closedCaseTags(): { tag: string; closedAt: number }[] {
    return this.prep('SELECT tag, closed_at AS closedAt FROM cases WHERE closed_at IS NOT NULL AND tag IS NOT NULL ORDER BY tag').all() as {
      tag: string;
      closedAt: number;
    }[];
  }

  /** The last notice name read from `source` (StartAfter for the next listing), or undefined. */
  noticeCursor(source: string): string | undefined {
    const r = this.prep('SELECT MAX(key) AS k FROM erasure_notices WHERE source = ?').get(source) as { k: string | null };
    return r.k ?? undefined;
  }

  /** Records a notice as read (idempotent). */
  recordNotice(n: Omit<ErasureNoticeRow, 'appliedAt'>): void {
    this.prep('INSERT OR IGNORE INTO erasure_notices (source, key, case_tag, scope, read_at) VALUES (?, ?, ?, ?, ?)').run(
      n.source,
      n.key,
      n.caseTag,
      n.scope,
      n.readAt,
    );
  }

  /** Notices not yet applied whose tag names a case on this kit, oldest first. */
  unappliedForKnownCases(): (ErasureNoticeRow & { caseCode: string })[] {
    const rows = this.prep(
      `SELECT n.source, n.key, n.case_tag AS caseTag, n.scope, n.read_at AS readAt, n.applied_at AS appliedAt, c.code AS caseCode
         FROM erasure_notices n JOIN cases c ON c.tag = n.case_tag WHERE n.applied_at IS NULL ORDER BY n.key`,
    ).all() as (ErasureNoticeRow & { caseCode: string })[];
    return rows;
  }

  /** Marks a notice applied. */
  markNoticeApplied(source: string, key: string, at: number): void {
    this.prep('UPDATE erasure_notices SET applied_at = ? WHERE source = ? AND key = ?').run(at, source, key);
  }

  /** Whether the target confirmed this case index entry. */
  indexConfirmed(target: string, key: string): boolean {
    return this.prep('SELECT 1 FROM case_index_objects WHERE target = ? AND key = ?').get(target, key) !== undefined;
  }

  /** Records a confirmed case index entry. */
  confirmIndex(target: string, key: string, clipId: string | null, at: number): void {
    this.prep('INSERT OR REPLACE INTO case_index_objects (target, key, clip_id, confirmed_at) VALUES (?, ?, ?, ?)').run(target, key, clipId, at);
  }
}
