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
  /** Wrong PINs against one trainer id allowed before its first lock-out. Default 5. */
  freeAttempts?: number;
  /** Wrong PINs against any trainer ids together before the whole kit locks out. Default 2 × freeAttempts. */
  kitFreeAttempts?: number;
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

/** One counter: wrong (or running) attempts and the lock-out they earned. */
interface Counter {
  failures: number;
  lockedUntil: number;
}

interface Persisted {
  v: 2;
  /** Kit-wide: every attempt against any trainer id counts (kept at the top level as in v1). */
  failures: number;
  lockedUntil: number;
  trainers: Record<string, Counter>;
}

/** The per-trainer key of attempts that name no trainer (the one-PIN login of a kit). */
const NO_TRAINER = '-';
/** Counters kept per trainer id at most (ids an attacker makes up must not grow the file without bound). */
const MAX_TRAINERS = 512;

/**
 * PIN attempts with a growing, capped lock-out, per trainer AND kit-wide (issue 20). An attempt is
 * counted *before* its (slow, scrypt) check runs and forgiven when it succeeds, so parallel guesses
 * cannot outrun the count: once `freeAttempts` attempts against one trainer id are counted, every
 * further one is refused until that lock-out ends, even while earlier checks still run. Kit-wide,
 * every attempt counts whatever id it names, so one PIN tried against many ids is locked out after
 * `kitFreeAttempts`; a right PIN forgives only its own trainer's misses (a trainer who knows their
 * own PIN cannot reset the count of guesses at others). The lock-out is 30 s after the free
 * attempts, doubling per miss, at most `capMs`. The counts live in a small durable file (0600) and
 * survive a restart; a wall clock that jumps back (a kit without an RTC) never stretches a
 * lock-out beyond the cap.
 */
export class PinLockout {
  private kit: Counter = { failures: 0, lockedUntil: 0 };
  private trainers = new Map<string, Counter>();
  private readonly freeAttempts: number;
  private readonly kitFreeAttempts: number;
  private readonly baseMs: number;
  private readonly capMs: number;

  constructor(private readonly opts: PinLockoutOptions) {
    this.freeAttempts = opts.freeAttempts ?? 5;
    this.kitFreeAttempts = opts.kitFreeAttempts ?? 2 * this.freeAttempts;
    this.baseMs = opts.baseMs ?? 30_000;
    this.capMs = opts.capMs ?? 15 * 60_000;
    this.load();
  }

  /** Wrong (or still running) attempts counted kit-wide and not forgiven by a right PIN. */
  get count(): number {
    return this.kit.failures;
  }

  /** Ms left of the running lock-out of this trainer id or of the whole kit (0 when none). */
  remainingMs(trainerId?: string): number {
    const t = this.trainers.get(trainerId ?? NO_TRAINER);
    return Math.max(0, Math.max(this.kit.lockedUntil, t?.lockedUntil ?? 0) - this.opts.clock.now());
  }

  /**
   * Runs one PIN check for a trainer id (none: the kit's one PIN): refused with 429 during this
   * trainer's or the kit's lock-out, counted before `check` runs, forgiven when it returns true.
   * Resolves to the check's answer.
   */
  async attempt(check: () => Promise<boolean>, trainerId?: string): Promise<{ ok: boolean; failures: number; lockedForMs: number }> {
    const key = trainerId ?? NO_TRAINER;
    const now = this.opts.clock.now();
    const remaining = this.remainingMs(key);
    if (remaining > 0) {
      const s = Math.ceil(remaining / 1000);
      throw new AppError('TOO_MANY_ATTEMPTS', `too many wrong PINs: try again in ${s} s (te vaak een verkeerde pincode)`, { field: 'pin' });
    }
    const t = this.counter(key);
    const kitLockBefore = this.kit.lockedUntil;
    this.count1(t, this.freeAttempts, now);
    this.count1(this.kit, this.kitFreeAttempts, now);
    this.save();
    let ok = false;
    try {
      ok = await check();
    } finally {
      if (ok) this.succeeded(key, kitLockBefore);
    }
    return { ok, failures: this.trainers.get(key)?.failures ?? 0, lockedForMs: this.remainingMs(key) };
  }

  private count1(c: Counter, free: number, now: number): void {
    c.failures += 1;
    if (c.failures >= free) {
      const exp = Math.min(c.failures - free, 30);
      c.lockedUntil = now + Math.min(this.capMs, this.baseMs * 2 ** exp);
    }
  }

  private counter(key: string): Counter {
    let c = this.trainers.get(key);
    if (!c) {
      if (this.trainers.size >= MAX_TRAINERS) this.prune();
      c = { failures: 0, lockedUntil: 0 };
      this.trainers.set(key, c);
    }
    return c;
  }

  /** Drops the counters of ids whose lock-out is over, oldest first (the kit-wide count keeps their misses). */
  private prune(): void {
    const now = this.opts.clock.now();
    for (const [k, c] of this.trainers) {
      if (this.trainers.size < MAX_TRAINERS) return;
      if (c.lockedUntil <= now) this.trainers.delete(k);
    }
  }

  /** Forgives this trainer's misses (and the right attempt itself) kit-wide; the kit's lock-out is as it was before the attempt. */
  private succeeded(key: string, kitLockBefore: number): void {
    const t = this.trainers.get(key);
    const forgiven = t?.failures ?? 0;
    this.trainers.delete(key);
    this.kit.failures = Math.max(0, this.kit.failures - forgiven);
    this.kit.lockedUntil = this.kit.failures < this.kitFreeAttempts ? 0 : kitLockBefore;
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
      this.kit = { failures: this.kitFreeAttempts, lockedUntil: this.opts.clock.now() + this.capMs };
      return;
    }
    let p: Partial<Persisted> = {};
    try {
      p = JSON.parse(text) as Partial<Persisted>;
    } catch (err) {
      this.opts.logger?.warn('PIN lock-out file is not JSON: locking out for the cap', { file: this.opts.file, error: describeError(err) });
      p = { failures: this.kitFreeAttempts, lockedUntil: this.opts.clock.now() + this.capMs };
    }
    this.kit = this.readCounter(p, this.kitFreeAttempts);
    // v1 (one PIN) had only the kit's count: it is the one-PIN login's as well.
    if (p.v !== 2) this.trainers.set(NO_TRAINER, { ...this.kit });
    for (const [k, c] of Object.entries(p.trainers ?? {})) {
      if (this.trainers.size < MAX_TRAINERS) this.trainers.set(k, this.readCounter(c, this.freeAttempts));
    }
  }

  private readCounter(p: Partial<Counter>, free: number): Counter {
    const now = this.opts.clock.now();
    const failures = Number.isInteger(p.failures) && p.failures! >= 0 ? p.failures! : free;
    const until = typeof p.lockedUntil === 'number' && Number.isFinite(p.lockedUntil) ? p.lockedUntil : now + this.capMs;
    return { failures, lockedUntil: Math.min(until, now + this.capMs) };
  }

  private save(): void {
    if (!this.opts.file) return;
    const p: Persisted = { v: 2, failures: this.kit.failures, lockedUntil: this.kit.lockedUntil, trainers: Object.fromEntries(this.trainers) };
    try {
      writeFileDurableSync(this.opts.file, JSON.stringify(p), 0o600);
    } catch (err) {
      // A full or failing card: the count still holds in RAM for this run.
      this.opts.logger?.warn('PIN lock-out count could not be saved; it holds until a restart', { file: this.opts.file, error: describeError(err) });
    }
  }
}
