import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';

export const SESSION_COOKIE = 'vht_session';
/** The TV's viewer session (pairing code or the kiosk on loopback). */
export const VIEWER_COOKIE = 'vht_viewer';
/** The CSRF token of the session, readable by the page's script (double submit: cookie → header). */
export const CSRF_COOKIE = 'vht_csrf';
export const CSRF_HEADER = 'x-csrf-token';

export interface Session {
  createdAt: number;
  lastSeen: number;
  /** A random token bound to this session; state-changing requests repeat it in x-csrf-token. */
  csrf: string;
  /** The trainer who signed in (issue 20): what they see, present and export is theirs; null for a TV. */
  trainerId: string | null;
}

/**
 * Trainer sessions in RAM (a restart logs everyone out) with an idle timeout. PIN attempts and
 * their lock-out: `PinLockout` (pin-lockout.ts).
 */
export class Sessions {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly clock: Clock,
    private readonly idleMs: number,
  ) {}

  /** A new session (of this trainer; none for a TV). */
  create(trainerId: string | null = null): { token: string; csrf: string } {
    const token = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    const now = this.clock.now();
    this.sessions.set(token, { createdAt: now, lastSeen: now, csrf, trainerId });
    return { token, csrf };
  }

  /** Ends every session of another trainer (the kit is one trainer's at a time); returns their tokens. */
  endOthers(trainerId: string): string[] {
    const ended = [...this.sessions].filter(([, s]) => s.trainerId !== trainerId).map(([t]) => t);
    for (const t of ended) this.sessions.delete(t);
    return ended;
  }

  /** The live session of this token (touched), or null. */
  get(token: string | undefined): Session | null {
    if (!token) return null;
    const s = this.sessions.get(token);
    if (!s) return null;
    const now = this.clock.now();
    if (now - s.lastSeen > this.idleMs) {
      this.sessions.delete(token);
      return null;
    }
    s.lastSeen = now;
    return s;
  }

  destroy(token: string | undefined): void {
    if (token) this.sessions.delete(token);
  }

  /** True while the token is a live session, without touching it (for long-lived event streams). */
  alive(token: string | undefined): boolean {
    if (!token) return false;
    const s = this.sessions.get(token);
    return s !== undefined && this.clock.now() - s.lastSeen <= this.idleMs;
  }

  /** True when at least one session is live (a trainer is logged in). */
  anyAlive(): boolean {
    for (const token of this.sessions.keys()) if (this.alive(token)) return true;
    return false;
  }

  /** Ends every session (the visit is over). */
  clear(): void {
    this.sessions.clear();
  }

  get count(): number {
    return this.sessions.size;
  }
}

/** Compares a PIN with the configured one in constant time. */
export function pinMatches(configured: string, given: string): boolean {
  return tokenMatches(configured, given);
}

/** Compares two secrets (tokens) in constant time; false for a missing one. */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}
