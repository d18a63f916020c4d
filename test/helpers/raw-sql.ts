import Database from 'better-sqlite3';
import type { Catalogue } from '../../src/store/catalogue.js';

/**
 * The test's own eyes on a catalogue: each call opens a second connection to the catalogue's file,
 * runs one statement and closes it (the Catalogue keeps its connection to itself). WAL lets the
 * two connections see each other's committed writes.
 */
export const rawSql = {
  /** Every row of a query. */
  all(catalogue: Catalogue, sql: string, ...params: unknown[]): unknown[] {
    return withDb(catalogue, (db) => db.prepare(sql).all(...params));
  },
  /** The first row of a query. */
  get(catalogue: Catalogue, sql: string, ...params: unknown[]): unknown {
    return withDb(catalogue, (db) => db.prepare(sql).get(...params));
  },
  /** Runs a write (a test that tampers with or damages the catalogue). */
  run(catalogue: Catalogue, sql: string, ...params: unknown[]): void {
    withDb(catalogue, (db) => db.prepare(sql).run(...params));
  },
};

function withDb<T>(catalogue: Catalogue, fn: (db: Database.Database) => T): T {
  const db = new Database(catalogue.file);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}
