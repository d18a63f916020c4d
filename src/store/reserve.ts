import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, statfsSync, writeSync } from 'node:fs';
import path from 'node:path';
import { AppError, describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { fsyncDir } from './durable.js';

/** Room kept for the catalogue and the clips' metadata: the audit, clip.json, journals, key files. */
export const CATALOGUE_RESERVE_BYTES = 8 * 1024 * 1024;

/** True when an error says the disk (or the quota) is full: ENOSPC, EDQUOT, SQLITE_FULL, a -shm that cannot grow. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') return true;
  // SQLite could not grow the WAL index (-shm) of the catalogue: no room for it
  if (code === 'SQLITE_IOERR_SHMSIZE' || code === 'SQLITE_IOERR_SHMMAP') return true;
  return err instanceof Error && /database or disk is full|no space left on device/i.test(err.message);
}

/** What the store needs of the reserve: run a metadata write with it, and make it again when there is room. */
export interface MetadataSpace {
  run<T>(what: string, fn: () => T): T;
  runAsync<T>(what: string, fn: () => Promise<T>): Promise<T>;
  ensure(): boolean;
}

/** No reserve (tests of other parts, tools): writes run as they are. */
export const NO_RESERVE: MetadataSpace = {
  run: (_what, fn) => fn(),
  runAsync: (_what, fn) => fn(),
  ensure: () => false,
};

/**
 * The catalogue's own reserve: a file of real (zero) bytes in the data dir that holds room for the
 * metadata the kit needs to keep working on a full card. When a metadata write fails because the
 * card is full (something else filled it, or footage took the last bytes), the reserve file is
 * deleted and the write runs once more in the room it left: a take then ends cleanly, and login,
 * reads, sync and delete keep working. New takes are refused meanwhile (the recording reserve,
 * `storage.reserveMB`, is far above zero); the reserve is made again once there is room (at start,
 * after a delete, after a take). Footage never uses it.
 */
export class SpaceReserve implements MetadataSpace {
  readonly file: string;

  constructor(
    dataDir: string,
    private readonly logger: Logger,
    private readonly bytes = CATALOGUE_RESERVE_BYTES,
  ) {
    this.file = path.join(dataDir, 'reserve.bin');
  }

  /** Free space needed before the reserve is made (it never takes the last bytes itself). */
  get remakeBytes(): number {
    return this.bytes * 2;
  }

  /** True while the reserve file is whole on disk. */
  get held(): boolean {
    try {
      return statSync(this.file).size >= this.bytes;
    } catch {
      return false;
    }
  }

  /**
   * Makes the reserve file when it is missing and the card has room for it with as much to spare
   * (never takes the last bytes itself). Returns whether the reserve is held afterwards.
   */
  ensure(): boolean {
    if (this.held) return true;
    const dir = path.dirname(this.file);
    try {
      const st = statfsSync(dir);
      if (Number(st.bavail) * Number(st.bsize) < this.remakeBytes) return false;
    } catch (err) {
      this.logger.warn('cannot measure free space for the catalogue reserve', { dir, error: describeError(err) });
      return false;
    }
    const tmp = `${this.file}.tmp`;
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        const chunk = Buffer.alloc(1024 * 1024);
        for (let done = 0; done < this.bytes; done += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, this.bytes - done));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      // renamed into place: after a power cut the reserve is whole or absent
      renameSync(tmp, this.file);
      fsyncDir(dir);
      this.logger.info('catalogue reserve made', { bytes: this.bytes });
      return true;
    } catch (err) {
      rmSync(tmp, { force: true });
      this.logger.warn('catalogue reserve not made (no room yet)', { error: describeError(err) });
      return false;
    }
  }

  /** Frees the reserve (the card is full); true when there was one to free. */
  release(why: string): boolean {
    const had = this.held;
    rmSync(this.file, { force: true });
    rmSync(`${this.file}.tmp`, { force: true });
    if (had) this.logger.warn('the card is full: released the catalogue reserve so that the kit keeps working', { why });
    return had;
  }

  /**
   * Runs a metadata write; when the card is full, frees the reserve and runs it once more. Still
   * full: 507 STORAGE_FULL naming what could not be written. `fn` must be safe to run twice (a
   * whole-file rewrite, an idempotent statement, or a transaction that rolled back).
   */
  run<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      if (!this.release(what)) throw this.fullError(what, err);
      try {
        return fn();
      } catch (again) {
        if (isDiskFull(again)) throw this.fullError(what, again);
        throw again;
      }
    }
  }

  /** `run` for an asynchronous write. */
  async runAsync<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      if (!this.release(what)) throw this.fullError(what, err);
      try {
        return await fn();
      } catch (again) {
        if (isDiskFull(again)) throw this.fullError(what, again);
        throw again;
      }
    }
  }

  private fullError(what: string, cause: unknown): AppError {
    return new AppError(
      'STORAGE_FULL',
      `${what}: the card is full and the catalogue reserve (${Math.round(this.bytes / 1048576)} MB) is used up: delete uploaded clips or free space on the data dir (opslag vol)`,
      { field: 'dataDir', cause },
    );
  }
}
