import type Database from 'better-sqlite3';

/** An encrypted body kept until the target confirms it, with its checksums. */
export interface PendingBody {
  body: Buffer;
  sha256: string;
  md5: string;
}

/** One object the upload target confirmed (a row of `sync_objects`). */
export interface ConfirmedObject {
  target: string;
  key: string;
  clipId: string;
  kind: 'segment' | 'manifest' | 'still';
  /** The segment's seq, or the still's id. */
  seq: number | null;
  sha256: string;
  md5: string;
  bytes: number;
  at: number;
}

/** An audit export waiting for (or given) its confirmation. */
export interface AuditExportRow extends PendingBody {
  id: number;
  key: string;
  fromEvent: number;
  uptoEvent: number;
}

/** A new audit export: the events it covers and its encrypted body with checksums. */
export interface NewAuditExport extends PendingBody {
  target: string;
  key: string;
  fromEvent: number;
  uptoEvent: number;
  uptoHash: string;
  at: number;
}

/**
 * The sync ledger: the catalogue's sync tables (migrations 3 and 4). `sync_objects` holds one row per
 * object the target confirmed (per target id); a clip's rows go with the clip (ON DELETE CASCADE).
 * The encrypted manifest and audit export bodies are kept until confirmed, so a retry sends the very
 * same bytes to the very same key (age encryption is randomised: encrypting again would make a
 * different object). Made by the Catalogue, which owns the connection.
 */
export class SyncLedger {
  constructor(
    private readonly prep: (sql: string) => Pick<Database.Statement, 'get' | 'all' | 'run'>,
    private readonly db: Database.Database,
  ) {}

  /** key → SHA-256 of what the target confirmed for this clip. */
  confirmed(target: string, clipId: string): Map<string, string> {
    const rows = this.prep('SELECT key, sha256 FROM sync_objects WHERE target = ? AND clip_id = ?').all(target, clipId) as { key: string; sha256: string }[];
    return new Map(rows.map((r) => [r.key, r.sha256]));
  }

  /** Records one confirmation. */
  confirm(o: ConfirmedObject): void {
    this.confirmMany([o]);
  }

  /** Records confirmations in one transaction (one fsync). */
  confirmMany(list: ConfirmedObject[]): void {
    if (list.length === 0) return;
    const stmt = this.prep(
      `INSERT OR REPLACE INTO sync_objects (target, key, clip_id, kind, seq, sha256, md5, bytes, confirmed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.db.transaction(() => {
      for (const o of list) stmt.run(o.target, o.key, o.clipId, o.kind, o.seq, o.sha256, o.md5, o.bytes, o.at);
    })();
  }

  /** The encrypted manifest kept for the clip, with the SHA-256 of the plaintext it was made from. */
  storedManifest(clipId: string): (PendingBody & { sourceSha256: string }) | undefined {
    return this.prep('SELECT source_sha256 AS sourceSha256, body, sha256, md5 FROM sync_manifests WHERE clip_id = ?').get(clipId) as
      (PendingBody & { sourceSha256: string }) | undefined;
  }

  /** Keeps (replaces) the clip's encrypted manifest until its upload is confirmed. */
  storeManifest(clipId: string, sourceSha256: string, m: PendingBody, at: number): void {
    this.prep('INSERT OR REPLACE INTO sync_manifests (clip_id, source_sha256, body, sha256, md5, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(
      clipId,
      sourceSha256,
      m.body,
      m.sha256,
      m.md5,
      at,
    );
  }

  /** Forgets the clip's kept manifest (after the clip is marked uploaded). */
  dropManifest(clipId: string): void {
    this.prep('DELETE FROM sync_manifests WHERE clip_id = ?').run(clipId);
  }

  /** The oldest audit export the target has not confirmed. */
  pendingAuditExport(target: string): AuditExportRow | undefined {
    return this.prep(
      `SELECT id, key, from_event AS fromEvent, upto_event AS uptoEvent, body, sha256, md5 FROM sync_audit_exports
       WHERE target = ? AND confirmed_at IS NULL ORDER BY id LIMIT 1`,
    ).get(target) as AuditExportRow | undefined;
  }

  /** The last event id and hash the target has (0 and the zero hash when nothing yet). */
  auditExportedUpto(target: string): { uptoEvent: number; uptoHash: string } {
    const r = this.prep('SELECT MAX(upto_event) AS uptoEvent FROM sync_audit_exports WHERE target = ?').get(target) as { uptoEvent: number | null };
    if (r.uptoEvent === null) return { uptoEvent: 0, uptoHash: '0'.repeat(64) };
    const h = this.prep('SELECT upto_hash AS uptoHash FROM sync_audit_exports WHERE target = ? AND upto_event = ?').get(target, r.uptoEvent) as {
      uptoHash: string;
    };
    return { uptoEvent: r.uptoEvent, uptoHash: h.uptoHash };
  }

  /** Keeps a new audit export until the target confirms it. */
  insertAuditExport(e: NewAuditExport): AuditExportRow {
    const info = this.prep(
      `INSERT INTO sync_audit_exports (target, key, from_event, upto_event, upto_hash, body, sha256, md5, bytes, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(e.target, e.key, e.fromEvent, e.uptoEvent, e.uptoHash, e.body, e.sha256, e.md5, e.body.byteLength, e.at);
    return { id: Number(info.lastInsertRowid), key: e.key, fromEvent: e.fromEvent, uptoEvent: e.uptoEvent, body: e.body, sha256: e.sha256, md5: e.md5 };
  }

  /** Marks an audit export confirmed and drops its body. */
  confirmAuditExport(id: number, at: number): void {
    this.prep('UPDATE sync_audit_exports SET confirmed_at = ?, body = NULL WHERE id = ?').run(at, id);
  }
}
