import { accessSync, closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { AppError } from '../core/errors.js';

/**
 * An exclusive lock on a directory, held by this process until `release()` or its death (a power
 * cut or SIGKILL frees it too: the kernel drops the lock with the process). Made with SQLite's
 * exclusive locking mode on a small lock file (POSIX advisory locks, the same that guard the
 * catalogue), so it needs no native module of its own.
 */
export class DirLock {
  private constructor(
    private db: Database.Database | null,
    /** The lock file. */
    readonly file: string,
  ) {}

  /**
   * Takes the lock on `file` or throws AppError('CONFIG') naming `key` and where its value came
   * from: another process holds it (another `vht-kit serve` on the same directory), or it cannot
   * be made.
   */
  static acquire(file: string, key: string, dir: string, from: string): DirLock {
    let db: Database.Database | null = null;
    try {
      // 0600 from the start (SQLite would make it 0644); an empty file is an empty database.
      closeSync(openSync(file, 'a', 0o600));
      db = new Database(file, { timeout: 0 });
      db.pragma('journal_mode = MEMORY');
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      db.exec('COMMIT');
      return new DirLock(db, file);
    } catch (err) {
      db?.close();
      const code = (err as { code?: string }).code ?? '';
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
        throw new AppError(
          'CONFIG',
          `${key} ${dir} (${from}) is in use by another running kit (the lock ${file} is held): one kit per directory; stop the other one or give this one its own ${key}`,
          { field: key, cause: err },
        );
      }
      throw new AppError('CONFIG', `${key} ${dir} (${from}): cannot lock ${file}: ${code || (err as Error).message}`, { field: key, cause: err });
    }
  }

  /** Frees the lock (idempotent). */
  release(): void {
    if (this.db?.open) this.db.close();
    this.db = null;
  }
}

/**
 * Makes sure `dir` (the value of config key `key`, from `from`) is a directory this process can
 * write to, making it (0700) when missing. Throws AppError('CONFIG') naming the key, where it came
 * from, the path and the reason in words (exit code 2 from the CLI).
 */
export function prepareDir(dir: string, key: string, from: string): void {
  const fail = (reason: string, cause: unknown): never => {
    throw new AppError('CONFIG', `${key} ${dir} (${from}): ${reason}`, { field: key, cause });
  };
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (first) {
    // A recursive mkdir says ENOENT on a read-only file system: the last step tells the real reason.
    let err = first;
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'ENOENT') err = again;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') fail('a file is in the way: it (or a part of its path) is not a directory', err);
    if (code === 'EROFS') fail('the file system is read-only, so it cannot be made', err);
    if (code === 'EACCES' || code === 'EPERM') fail(`no permission to make it (uid ${process.getuid?.() ?? '?'})`, err);
    if (code === 'ENOSPC') fail('the disk is full, so it cannot be made', err);
    fail(`cannot be made: ${code ?? (err as Error).message}`, err);
  }
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    fail(`cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
  }
  if (!isDir) fail('a file is in the way: it is not a directory', null);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EROFS') fail('the file system is read-only', err);
    fail(`not writable by this user (uid ${process.getuid?.() ?? '?'}): ${code ?? ''}`, err);
  }
}
