import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppTime, Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { Fragments } from '../session/fragments.js';
import type { KeptStills } from '../session/kept-stills.js';
import type { Library } from '../session/library.js';
import type { ReviewTalk } from '../session/review-talk.js';
import type { Reviews } from '../session/review.js';
import type { Playback } from '../session/playback.js';
import type { Presentation } from '../session/presentation.js';
import type { Privacy } from '../session/privacy.js';
import type { Recorder } from '../session/recorder.js';
import type { Team } from '../session/team.js';
import type { Catalogue } from '../store/catalogue.js';
import type { ClipStore } from '../store/clips.js';
import type { FragmentStore } from '../store/fragments.js';
import type { KeyStore } from '../store/keys.js';
import type { Sessions } from './auth.js';
import type { StreamLimit } from './json-limits.js';
import type { PinLockout } from './pin-lockout.js';
import { isHttps, type CookieOptions, type HostCheck, type TvPairing } from './security.js';
import type { UiFiles } from './static.js';

export interface AppDeps {
  recorder: Recorder;
  catalogue: Catalogue;
  clips: ClipStore;
  keys: KeyStore;
  privacy: Privacy;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  pin: () => string | null;
  markerLabels: string[];
  sessionIdleMs: number;
  /** The playback key is dropped after this long without a trainer request. */
  lockAfterIdleMs: number;
  /** Office sync: progress, and a way to start a check at once (null when sync is off). */
  sync: { status: () => Record<string, unknown> & { state: string }; run: (() => void) | null };
  /** Battery and dock state from the kit controller (or the simulated twin). */
  hardware: () => { battery: { percent: number; charging: boolean } | null; docked: boolean };
  /** The kit's id (`<kitId>.local` is one of its host names). Default 'vht-kit'. */
  kitId?: string;
  /** Frames per second of the camera (the player steps by 1/fps). Default 25. */
  fps?: number;
  /** A phone's time from an authenticated login (a kit whose clock is not synchronised takes it); absent: ignored. */
  phoneTime?: (clientTime: number | undefined) => Promise<unknown>;
  /** Where the app's time comes from, for /api/status. */
  time?: () => AppTime;
  /**
   * Marker jumps land this long before the moment; a fragment from a marker starts as long before
   * it and ends `fragmentLeadOutMs` after it (playback.*). Default 3000 / 7000.
   */
  playback?: { markerLeadInMs: number; fragmentLeadOutMs: number };
  /** How long a TV pairing code stays valid (tv.pairingCodeMinutes). Default 10. */
  pairingCodeMinutes?: number;
  /** Extra host names the kit answers to (http.allowedHosts). */
  allowedHosts?: string[];
  /** The built UI (default: dist/ui of the package). */
  uiDir?: string;
  /** The machine's host name (default os.hostname(); tests set it). */
  hostname?: string;
  /** The kit's own Wi-Fi and its join code (an SVG QR code), for the HDMI TV's idle screen; null when off. */
  hotspot?: () => { ssid: string; qrSvg: string } | null;
  /** PIN attempts and their lock-out (durable in the data dir); default: in RAM only. */
  pinLockout?: PinLockout;
  /** Fragments and kept stills on the kit (issue 19). */
  fragmentStore: FragmentStore;
}

/** Who may use a route: declared on the route (`config.access`), read by the guard plugin. */
export type Access =
  /** Anyone, no session (health check, the built UI). */
  | 'public'
  /** How a session starts (login, TV pairing): no session needed, the Origin check applies. */
  | 'session-start'
  /** A logged-in trainer only. */
  | 'trainer'
  /** A trainer or a TV (viewer). */
  | 'viewer'
  /** A trainer, or a TV for the clip presented on it only (its playlist, segments and stills). */
  | 'presented'
  /** A trainer, or a TV for the fragment of the review item presented on it only (issue 19). */
  | 'presented-fragment'
  /** A trainer, or a TV for the kept still of the review item presented on it only (issue 19). */
  | 'presented-still';

/** A route's access rule, on the route itself. */
export interface RouteAccess {
  access: Access;
  /** 'refuse': a trainer gets 423 while the kit is locked (the route shows clips, cases or footage). */
  whenLocked?: 'refuse' | 'allow';
  /** 'ignore': the request does not count as trainer activity for the idle lock (event streams). */
  idle?: 'touch' | 'ignore';
}

/** Who is asking: the role, the key of the session (for audit-once bookkeeping) and its CSRF token. */
export interface Caller {
  role: 'trainer' | 'viewer';
  key: string;
  csrf: string;
  /** The signed-in trainer (trainer sessions only). */
  trainerId?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    whenLocked?: 'refuse' | 'allow';
    idle?: 'touch' | 'ignore';
  }
  interface FastifyRequest {
    /** Set by the guard for /api requests with a session; null otherwise. */
    caller: Caller | null;
  }
}

/** What the route plugins share: the dependencies, the web's session state and the use-cases. */
export interface WebContext {
  deps: AppDeps;
  sessions: Sessions;
  viewers: Sessions;
  pairing: TvPairing;
  hosts: HostCheck;
  presentation: Presentation;
  library: Library;
  playback: Playback;
  /** Who sees what on a team kit: a trainer's cases and clips (issue 20). */
  team: Team;
  /** The review cycle (issue 19): fragments, kept stills, reviews, the recorded review talk. */
  fragments: Fragments;
  keptStills: KeptStills;
  reviews: Reviews;
  reviewTalk: ReviewTalk;
  ui: UiFiles;
  fps: number;
  /** The kiosk on the loopback listener has no cookie: its CSRF token lives as long as the process. */
  loopbackCsrf: string;
  /** A TV session stays valid this long without a request. */
  viewerIdleMs: number;
  /** PIN attempts, counted before they are checked, and the lock-out. */
  pinLockout: PinLockout;
  /** Open event streams per session (capped). */
  streams: StreamLimit;
}

/** The caller of a request that passed the guard; 401 when there is none. */
export function callerOf(req: FastifyRequest): Caller {
  if (!req.caller) throw new AppError('UNAUTHORIZED', 'log in first (eerst inloggen)', { reason: 'login_required' });
  return req.caller;
}

/** The signed-in trainer of a request; 401 for a TV or no session. */
export function trainerOf(req: FastifyRequest): string {
  const c = callerOf(req);
  if (c.role !== 'trainer' || c.trainerId === undefined)
    throw new AppError('FORBIDDEN', 'only a signed-in trainer may do this (alleen voor de trainer)', { reason: 'trainer_only' });
  return c.trainerId;
}

/** Whether the session behind a caller is still live (event streams close when it ends). */
export function stillAlive(ctx: WebContext, c: Caller): () => boolean {
  if (c.key === 'loopback') return () => true;
  if (c.role === 'viewer') {
    const vt = c.key.slice('tv:'.length);
    return () => ctx.viewers.alive(vt);
  }
  return () => ctx.sessions.alive(c.key);
}

/** Cookie options for this request (Secure over HTTPS). */
export function cookieOpts(req: FastifyRequest, httpOnly: boolean, maxAgeSeconds: number): CookieOptions {
  return { httpOnly, secure: isHttps(req.raw), maxAgeSeconds };
}

/** Starts a Server-Sent Events answer; returns the writer (a comment every 15 s keeps it open). */
export function openEventStream(req: FastifyRequest, reply: FastifyReply, alive: () => boolean): (event: string, data: unknown) => void {
  reply.hijack();
  const res = reply.raw;
  // The security headers the headers plugin set on the raw reply at onRequest go out with these.
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // A stream outlives no session: once its session has ended (logout, idle, end of the visit), it closes.
  const ping = setInterval(() => {
    if (!alive()) res.end();
    else res.write(': ping\n\n');
  }, 15_000);
  req.raw.on('close', () => clearInterval(ping));
  return (event, data) => {
    if (res.writableEnded) return;
    if (!alive()) {
      res.end();
      return;
    }
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
}

/** Answers 204 without a body (the route's schema declares `204: noContent`). */
export function noContentReply(reply: object): void {
  // A typed reply's send() wants the declared body; a 204 has none.
  void (reply as FastifyReply).status(204).send();
}

/** Answers with media bytes or a playlist (never cached); the route's schema documents it as `mediaBody`. */
export function sendMedia(reply: object, type: string, body: Buffer | string): FastifyReply {
  // A typed reply's send() wants the declared JSON shape; media is sent as it is, not serialized.
  return (reply as FastifyReply).type(type).header('cache-control', 'no-store').send(body);
}
