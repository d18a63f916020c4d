import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { AppError, describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { writeFileDurableSync } from '../store/durable.js';

export interface PinLockoutOptions {
  clock: Clock;
  /** Durable file for the count (0600), so a restart keeps it; null keeps it in RAM only. */
  file: string | null;
  logger?: Logger;
  /** Wrong PINs allowed before the first lock-out. Default 5. */
  freeAttempts?: number;
  /** The first lock-out; it doubles with every further miss. Default 30 s. */
  baseMs?: number;
  /** The longest lock-out. Default 15 min. */
  capMs?: number;
}

/** The lock-out's file in the data dir. */
export function pinLockoutFile(dataDir: string): string {
  return path.join(dataDir, 'pin-lockout.json');
}

/** Forgets the count: the right PIN was proven at the kit's console (`vht-kit enrol`, `vht-kit pin`). */
export function clearPinLockout(dataDir: string): void {
  rmSync(pinLockoutFile(dataDir), { force: true });
}

interface Persisted {
  v: 1;
  failures: number;
  lockedUntil: number;
}

/**
 * PIN attempts with a growing, capped lock-out. An attempt is counted *before* its (slow, scrypt)
 * check runs and forgiven when it succeeds, so parallel guesses cannot outrun the count: once
 * `freeAttempts` attempts are counted, every further one is refused until the lock-out ends, even
 * while earlier checks still run. The lock-out is 30 s after the fifth miss, doubling per miss, at
 * most `capMs`. The count lives in a small durable file (0600) and survives a restart; a wall clock
 * that jumps back (a kit without an RTC) never stretches a lock-out beyond the cap.
 */
export class PinLockout {
  private failures = 0;
  private lockedUntil = 0;
  private readonly freeAttempts: number;
  private readonly baseMs: number;
  private readonly capMs: number;

  constructor(private readonly opts: PinLockoutOptions) {
    this.freeAttempts = opts.freeAttempts ?? 5;
    this.baseMs = opts.baseMs ?? 30_000;
    this.capMs = opts.capMs ?? 15 * 60_000;
    this.load();
  }

  /** Wrong (or still running) attempts counted since the last right PIN. */
  get count(): number {
    return this.failures;
  }

  /** Ms left of the running lock-out (0 when none). */
  remainingMs(): number {
    return Math.max(0, this.lockedUntil - this.opts.clock.now());
  }

  /**
   * Runs one PIN check: refused with 429 during a lock-out, counted before `check` runs, forgiven
   * when it returns true. Resolves to the check's answer.
   */
  async attempt(check: () => Promise<boolean>): Promise<{ ok: boolean; failures: number; lockedForMs: number }> {
    const now = this.opts.clock.now();
    if (now < this.lockedUntil) {
      const s = Math.ceil((this.lockedUntil - now) / 1000);
      throw new AppError('TOO_MANY_ATTEMPTS', `too many wrong PINs: try again in ${s} s (te vaak een verkeerde pincode)`, { field: 'pin' });
    }
    this.failures += 1;
    if (this.failures >= this.freeAttempts) {
      const exp = Math.min(this.failures - this.freeAttempts, 30);
      this.lockedUntil = now + Math.min(this.capMs, this.baseMs * 2 ** exp);
    }
    this.save();
    let ok = false;
    try {
      ok = await check();
    } finally {
      if (ok) this.succeeded();
    }
    return { ok, failures: this.failures, lockedForMs: this.remainingMs() };
  }

  private succeeded(): void {
    this.failures = 0;
    this.lockedUntil = 0;
    this.save();
  }

  private load(): void {
    if (!this.opts.file) return;
    let text: string;
    try {
      text = readFileSync(this.opts.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      // Unreadable: start locked for the cap rather than forgetting the count.
      this.opts.logger?.warn('PIN lock-out file cannot be read: locking out for the cap', { file: this.opts.file, error: describeError(err) });
      this.failures = this.freeAttempts;
      this.lockedUntil = this.opts.clock.now() + this.capMs;
      return;
    }
    let p: Partial<Persisted> = {};
    try {
      p = JSON.parse(text) as Partial<Persisted>;
    } catch (err) {
      this.opts.logger?.warn('PIN lock-out file is not JSON: locking out for the cap', { file: this.opts.file, error: describeError(err) });
      p = { failures: this.freeAttempts, lockedUntil: this.opts.clock.now() + this.capMs };
    }
    const now = this.opts.clock.now();
    this.failures = Number.isInteger(p.failures) && p.failures! >= 0 ? p.failures! : this.freeAttempts;
    const until = typeof p.lockedUntil === 'number' && Number.isFinite(p.lockedUntil) ? p.lockedUntil : now + this.capMs;
    this.lockedUntil = Math.min(until, now + this.capMs);
  }

  private save(): void {
    if (!this.opts.file) return;
    const p: Persisted = { v: 1, failures: this.failures, lockedUntil: this.lockedUntil };
    try {
      writeFileDurableSync(this.opts.file, JSON.stringify(p), 0o600);
    } catch (err) {
      // A full or failing card: the count still holds in RAM for this run.
      this.opts.logger?.warn('PIN lock-out count could not be saved; it holds until a restart', { file: this.opts.file, error: describeError(err) });
    }
  }
}
