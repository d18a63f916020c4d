import { randomInt } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import type { TLSSocket } from 'node:tls';
import type { Clock } from '../core/clock.js';
import { AppError, showValue } from '../core/errors.js';
import { tokenMatches } from './auth.js';
import { kitNames } from './tls.js';

/**
 * Marks a request that arrived on the loopback listener (the HDMI kiosk on the kit itself): such a
 * request is a viewer without pairing. Only `listen.ts` sets it, on its own loopback server.
 */
export const LOOPBACK_MARK = Symbol('vht-kit.loopback');

export function isLoopbackRequest(raw: IncomingMessage): boolean {
  return (raw as IncomingMessage & { [LOOPBACK_MARK]?: boolean })[LOOPBACK_MARK] === true;
}

export function markLoopback(raw: IncomingMessage): void {
  (raw as IncomingMessage & { [LOOPBACK_MARK]?: boolean })[LOOPBACK_MARK] = true;
}

/** True when the request came over TLS. */
export function isHttps(raw: IncomingMessage): boolean {
  return (raw.socket as TLSSocket | undefined)?.encrypted === true;
}

/** The host name of a Host header: lower case, without port, brackets or a trailing dot; null when unparsable. */
export function hostName(header: string | undefined): string | null {
  if (!header) return null;
  const h = header.trim().toLowerCase();
  let name: string;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return null;
    name = h.slice(1, end);
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:[0-9]{1,5}$/.test(rest)) return null;
  } else {
    const m = /^([^:]+)(:[0-9]{1,5})?$/.exec(h);
    if (!m) return null;
    name = m[1]!;
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  return name === '' ? null : name;
}

/**
 * The host names this kit answers to (DNS rebinding defence): localhost, any IP literal, the
 * machine's host name and its .local, `<kitId>.local`, and the configured extra names.
 */
export class HostCheck {
  private readonly names: Set<string>;

  constructor(kitId: string, allowedHosts: readonly string[], hostname: string = os.hostname()) {
    // the same names as the kit's certificate carries
    this.names = new Set([...kitNames(kitId, hostname).dns, ...allowedHosts.map((h) => h.toLowerCase().replace(/\.$/, ''))].filter(Boolean));
  }

  allows(header: string | undefined): boolean {
    const name = hostName(header);
    if (name === null) return false;
    return net.isIP(name) !== 0 || this.names.has(name);
  }

  /** The message of the 421 answer for a host that is not one of the kit's. */
  describeRefusal(header: string | undefined): string {
    return `host ${showValue(header ?? '')} is not a name of this kit (use its address or ${[...this.names].slice(0, 4).join(', ')}; add others to http.allowedHosts)`;
  }
}

/**
 * The Origin check of state-changing requests: a present Origin must be the request's own
 * scheme://host[:port]. Returns null when fine, else the message of the 403.
 */
export function originProblem(origin: string | undefined, https: boolean, host: string | undefined): string | null {
  if (origin === undefined) return null;
  let own: string;
  try {
    own = new URL(`${https ? 'https' : 'http'}://${host ?? ''}`).origin;
  } catch {
    return `origin ${showValue(origin)} cannot be checked against host ${showValue(host ?? '')}`;
  }
  let given: string;
  try {
    given = new URL(origin).origin;
  } catch {
    given = 'null';
  }
  if (given !== 'null' && given === own) return null;
  return `cross-origin request refused: origin ${showValue(origin)} is not ${own}`;
}

/**
 * The TV pairing code: made by the trainer, shown on the phone, typed on the TV browser. Six
 * digits, one at a time (a new one replaces the old), valid for a few minutes, single use, and
 * burnt after `maxAttempts` wrong tries, so guessing has at most 5 in 10^6 chances per code.
 */
export class TvPairing {
  private current: { code: string; expiresAt: number; failures: number } | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly validMs: number,
    private readonly maxAttempts = 5,
  ) {}

  /** True while a code waits to be used (expired or not). */
  get waiting(): boolean {
    return this.current !== null;
  }

  create(): { code: string; expiresAt: number } {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const expiresAt = this.clock.now() + this.validMs;
    this.current = { code, expiresAt, failures: 0 };
    return { code, expiresAt };
  }

  /** Accepts the code once; throws 401 (wrong, expired, used) or 429 (too many wrong tries). */
  redeem(given: string): void {
    const cur = this.current;
    if (!cur) {
      throw new AppError(
        'UNAUTHORIZED',
        'body.code: no pairing code is waiting (used, burnt or never made): make a new one on the phone (geen geldige koppelcode)',
        { field: 'body.code', reason: 'pairing_none' },
      );
    }
    if (this.clock.now() > cur.expiresAt) {
      this.current = null;
      throw new AppError('UNAUTHORIZED', 'body.code: the pairing code has expired: make a new one on the phone (koppelcode verlopen)', {
        field: 'body.code',
        reason: 'pairing_expired',
      });
    }
    if (!tokenMatches(cur.code, given)) {
      cur.failures += 1;
      if (cur.failures >= this.maxAttempts) {
        this.current = null;
        throw new AppError(
          'TOO_MANY_ATTEMPTS',
          `body.code: ${cur.failures} wrong pairing codes: this code is no longer valid, make a new one on the phone (te vaak een verkeerde code)`,
          { field: 'body.code', reason: 'pairing_burnt' },
        );
      }
      throw new AppError('UNAUTHORIZED', `body.code: wrong pairing code (verkeerde koppelcode); ${this.maxAttempts - cur.failures} tries left`, {
        field: 'body.code',
        reason: 'pairing_wrong',
        params: { triesLeft: this.maxAttempts - cur.failures },
      });
    }
    this.current = null;
  }
}

export interface CookieOptions {
  httpOnly: boolean;
  secure: boolean;
  maxAgeSeconds: number;
}

/**
 * A Set-Cookie value: Path=/, SameSite=Strict always; HttpOnly and Secure as asked. (Parsing is
 * @fastify/cookie's; this writer stays because the kit's documented and tested cookie form puts
 * Path first and Max-Age last, where the library's serializer puts Max-Age first.)
 */
export function cookie(name: string, value: string, o: CookieOptions): string {
  return [`${name}=${value}`, 'Path=/', o.httpOnly ? 'HttpOnly' : null, 'SameSite=Strict', o.secure ? 'Secure' : null, `Max-Age=${o.maxAgeSeconds}`]
    .filter(Boolean)
    .join('; ');
}
