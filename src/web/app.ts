import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { AppError, describeError } from '../core/errors.js';
import type { EventBus, TvControl } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { Privacy } from '../session/privacy.js';
import type { Recorder } from '../session/recorder.js';
import { TRAJECTORIES } from '../store/migrations.js';
import { CONSENT_SCOPES, type Catalogue, type ClipRow } from '../store/catalogue.js';
import { CLIP_ID_PATTERN, type ClipStore } from '../store/clips.js';
import { decryptWith } from '../store/crypto.js';
import type { KeyStore } from '../store/keys.js';
import { CSRF_COOKIE, CSRF_HEADER, pinMatches, readCookie, SESSION_COOKIE, Sessions, tokenMatches, VIEWER_COOKIE } from './auth.js';
import { clipPlaylist, livePlaylist } from './hls.js';
import { cookie, HostCheck, isHttps, isLoopbackRequest, originProblem, TvPairing } from './security.js';
import { findUiBuildDir, UiFiles } from './static.js';
import { parseInput } from './validate.js';

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
}

type Role = 'trainer' | 'viewer';

/** Who is asking: the role, the key of the session (for audit-once bookkeeping) and its CSRF token. */
interface RequestContext {
  role: Role;
  key: string;
  csrf: string;
}

/** The largest still (a JPEG of one frame) the player may upload. */
export const STILL_MAX_BYTES = 2 * 1024 * 1024;
/** A TV session stays valid this long without a request (a TV may sit paused for a while). */
const VIEWER_IDLE_MS = 12 * 60 * 60_000;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Routes a viewer (TV) may use; the clip media routes only for the presented clip. */
const VIEWER_ROUTES = new Set(['GET /api/session', 'GET /api/tv/state', 'GET /api/tv/events', 'POST /api/tv/ack', 'GET /api/tv/hotspot']);
/** Trainer routes refused (423) while the kit is locked: they show clips, cases or footage. */
const LOCKED_WHILE_LOCKED = new Set([
  'GET /api/clips', 'GET /api/clips/:id', 'PATCH /api/clips/:id', 'PUT /api/clips/:id/purposes',
  'POST /api/clips/:id/markers', 'POST /api/clips/:id/stills', 'GET /api/clips/:id/index.m3u8',
  'POST /api/present', 'POST /api/present/control', 'POST /api/tv/pairing',
  'GET /api/cases', 'POST /api/cases', 'PATCH /api/cases/:code',
]);
const VIEWER_CLIP_ROUTES = new Set(['/api/clips/:id/index.m3u8', '/api/clips/:id/segments/:file', '/api/clips/:id/stills/:file']);

/** A pseudonymous case code: letters, digits, dash, dot, underscore; no spaces (names do not fit). */
export const caseCodeSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{1,31}$/, 'a pseudonymous case code: 2–32 letters, digits, ".", "_" or "-", no spaces or names')
  .refine((c) => (c.match(/[0-9]/g) ?? []).length >= 2, 'a pseudonymous case code with at least two digits (e.g. GZ-0042), never a name');

const clipIdParams = z.object({ id: z.string().regex(CLIP_ID_PATTERN, 'a clip id (10–32 lower-case letters and digits)') }).strict();

const clipSummary = z.object({
  id: z.string(),
  caseCode: z.string().nullable(),
  visitId: z.number().nullable(),
  state: z.enum(['recording', 'complete', 'recovered']),
  unassigned: z.boolean(),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  stoppedAt: z.number().nullable(),
  preRollMs: z.number(),
  durationMs: z.number(),
  segmentCount: z.number(),
  markerCount: z.number(),
  bytes: z.number(),
  stopReason: z.string().nullable(),
  consent: z.object({ recording: z.boolean(), review: z.boolean(), supervision: z.boolean(), training: z.boolean() }).nullable(),
  purposes: z.array(z.enum(['recording', 'review', 'supervision', 'training'])),
  uploaded: z.boolean(),
  deleteRequested: z.boolean(),
});

const consentSchema = z.object({
  recording: z.boolean(), review: z.boolean(), supervision: z.boolean(), training: z.boolean(),
}).strict();

const trajectorySchema = z.enum(TRAJECTORIES);

const statusResponse = z.object({
  state: z.enum(['idle', 'armed', 'recording', 'error']),
  clipId: z.string().optional(),
  elapsedMs: z.number().optional(),
  preRollMs: z.number(),
  storage: z.object({ freeBytes: z.number(), minutesLeft: z.number() }),
  camera: z.object({ profile: z.string(), ok: z.boolean(), error: z.string().optional() }),
  locked: z.boolean(),
  uploads: z.object({ pending: z.number(), overdue: z.number() }),
  battery: z.object({ percent: z.number(), charging: z.boolean() }).nullable(),
  docked: z.boolean(),
});

function summary(c: ClipRow): z.infer<typeof clipSummary> {
  return {
    id: c.id, caseCode: c.caseCode, visitId: c.visitId, state: c.state, unassigned: c.caseCode === null,
    createdAt: c.createdAt, startedAt: c.originMs, stoppedAt: c.stoppedAt, preRollMs: c.preRollMs,
    durationMs: c.durationMs, segmentCount: c.segmentCount, markerCount: c.markerCount, bytes: c.bytes, stopReason: c.stopReason,
    consent: c.consent, purposes: c.purposes, uploaded: c.uploadedAt !== null, deleteRequested: c.deleteRequestedAt !== null,
  };
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Starts a Server-Sent Events answer; returns the writer (a comment every 15 s keeps it open). */
function openEventStream(req: FastifyRequest, reply: FastifyReply, alive: () => boolean): (event: string, data: unknown) => void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    ...SECURITY_HEADERS,
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

/** Builds the Fastify app (routes, auth, errors) apart from `listen`, so tests use `inject()`. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    trustProxy: false,
    forceCloseConnections: true,
    // The router's own refusals (a malformed %-escape, an over-long path parameter) in the kit's error shape.
    frameworkErrors: (err, req, reply) => {
      const url = (req.url ?? '').slice(0, 120);
      const message = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? `url: a path part is too long in ${JSON.stringify(url)}`
        : `url: not a valid URL (${err.code === 'FST_ERR_BAD_URL' ? 'a malformed %-escape' : err.message}) in ${JSON.stringify(url)}`;
      void (reply as FastifyReply).status(400).send({ error: { code: 'BAD_REQUEST', message, field: 'url' } });
    },
  });
  const sessions = new Sessions(deps.clock, deps.sessionIdleMs);
  const viewers = new Sessions(deps.clock, VIEWER_IDLE_MS);
  const pairing = new TvPairing(deps.clock, (deps.pairingCodeMinutes ?? 10) * 60_000);
  const hosts = new HostCheck(deps.kitId ?? 'vht-kit', deps.allowedHosts ?? [], deps.hostname);
  /** The kiosk on the loopback listener has no cookie: its CSRF token lives as long as the process. */
  const loopbackCsrf = randomBytes(24).toString('base64url');
  const contexts = new WeakMap<IncomingMessage, RequestContext>();
  const fps = deps.fps ?? 25;
  /** `<session>:<clip>` pairs already audited as viewed (dropped at logout). */
  const viewed = new Set<string>();
  const ui = new UiFiles(deps.uiDir ?? findUiBuildDir());

  // A still is a JPEG body (the only non-JSON body), up to 2 MiB on that one route.
  app.addContentTypeParser('image/jpeg', { parseAs: 'buffer', bodyLimit: STILL_MAX_BYTES }, (_req, body, done) => done(null, body));

  app.addHook('onSend', async (req, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    // Over HTTPS the browser should never fall back to plain HTTP for the kit (browsers honour it
    // only once they trust the certificate).
    if (isHttps(req.raw)) reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    if (err instanceof AppError) {
      if (err.status >= 500) deps.logger.warn('request failed', { url: req.routeOptions.url, code: err.code, error: err.message });
      return reply.status(err.status).send({ error: err.toJSON() });
    }
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      const msg =
        e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || /JSON/.test(e.message ?? '')
          ? `body: not valid JSON (${e.message ?? ''})`
          : e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
            ? `body: unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}; send application/json (or image/jpeg for a still)`
            : e.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
              ? `body: too large (at most ${req.headers['content-type']?.startsWith('image/jpeg') ? '2 MiB' : '64 KiB'})`
              : (e.message ?? 'bad request');
      return reply.status(e.statusCode).send({ error: { code: 'BAD_REQUEST', message: msg, field: 'body' } });
    }
    deps.logger.error('unexpected error in request', { url: req.routeOptions.url, error: describeError(err) });
    return reply.status(500).send({ error: { code: 'INTERNAL', message: 'internal error; see the kit log' } });
  });

  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  const token = (req: FastifyRequest) => readCookie(req.headers.cookie, SESSION_COOKIE);
  const now = () => deps.clock.now();

  // The playback key is dropped after a while without any trainer request.
  let idleTimer: ReturnType<Clock['setTimeout']> | null = null;
  const touchIdleLock = () => {
    if (idleTimer) deps.clock.clearTimeout(idleTimer);
    if (!deps.keys.unlocked) return;
    idleTimer = deps.clock.setTimeout(() => {
      if (!deps.keys.unlocked) return;
      deps.keys.lock();
      deps.catalogue.audit('lock.idle', now());
      deps.logger.info('playback key dropped after idle time');
      endPresentation({ dropTvSessions: true });
    }, deps.lockAfterIdleMs);
    idleTimer.unref?.();
  };
  app.addHook('onClose', async () => {
    if (idleTimer) deps.clock.clearTimeout(idleTimer);
  });

  /** The presented clip (the only one a viewer may play). */
  let presented: string | null = null;

  /** Nothing on the TV any more; at the end of a visit also every paired TV must pair again. */
  const endPresentation = (opts: { dropTvSessions: boolean }) => {
    if (presented !== null) {
      presented = null;
      deps.bus.emit('present', { clipId: null });
    }
    if (opts.dropTvSessions) viewers.clear();
  };

  /** Null when a viewer may use this route, else why not. */
  const viewerRefusal = (req: FastifyRequest, pattern: string | undefined, url: string): string | null => {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (pattern !== undefined && VIEWER_ROUTES.has(`${method} ${pattern}`)) return null;
    if (pattern !== undefined && method === 'GET' && VIEWER_CLIP_ROUTES.has(pattern)) {
      const id = (req.params as { id?: unknown } | undefined)?.id;
      if (presented !== null && id === presented) return null;
      return `a TV session may play only the clip presented on the TV (${typeof id === 'string' ? `not ${id.slice(0, 40)}` : 'none'}) (alleen de getoonde opname)`;
    }
    // The static catch-all (/*) matches any unknown path: name the path that was asked for.
    const what = pattern !== undefined && pattern !== '/*' ? pattern : url;
    return `a TV session may not use ${req.method} ${what.slice(0, 80)} (alleen voor de trainer)`;
  };

  /**
   * Every request: the Host must be one of the kit's names (DNS rebinding → 421); a state-changing
   * request with an Origin must come from the kit's own origin (403). Every /api route but login and
   * pairing needs a session: trainer (cookie vht_session) or viewer (vht_viewer, or the loopback
   * listener); viewers get only their short allowlist; state-changing requests repeat the session's
   * CSRF token in x-csrf-token.
   */
  app.addHook('onRequest', async (req, reply) => {
    if (!hosts.allows(req.headers.host)) {
      return reply.status(421).send({ error: { code: 'MISDIRECTED', message: hosts.describeRefusal(req.headers.host), field: 'headers.host' } });
    }
    const url = req.url.split('?')[0] ?? '';
    const unsafe = !SAFE_METHODS.has(req.method);
    if (unsafe) {
      const problem = originProblem(req.headers.origin, isHttps(req.raw), req.headers.host);
      if (problem) throw new AppError('FORBIDDEN', problem, { field: 'headers.origin' });
    }
    const pattern = req.routeOptions.url;
    const isApi = pattern !== undefined && pattern !== '/*' ? pattern.startsWith('/api/') : url === '/api' || url.startsWith('/api/');
    if (!isApi) return;
    const loopback = isLoopbackRequest(req.raw);
    let ctx: RequestContext | null = null;
    if (loopback) ctx = { role: 'viewer', key: 'loopback', csrf: loopbackCsrf };
    else {
      const t = token(req);
      const s = sessions.get(t);
      if (s) ctx = { role: 'trainer', key: t!, csrf: s.csrf };
      else {
        const vt = readCookie(req.headers.cookie, VIEWER_COOKIE);
        const v = viewers.get(vt);
        if (v) ctx = { role: 'viewer', key: `tv:${vt}`, csrf: v.csrf };
      }
    }
    if (ctx) contexts.set(req.raw, ctx);
    // Logging in and pairing are how a session starts (the Origin check above still applies).
    if (!loopback && req.method === 'POST' && (pattern === '/api/login' || pattern === '/api/tv/pair')) return;
    if (!ctx) {
      throw new AppError('UNAUTHORIZED', 'log in first: POST /api/login with the trainer PIN, or pair a TV with POST /api/tv/pair (eerst inloggen)');
    }
    if (ctx.role === 'viewer') {
      const refusal = viewerRefusal(req, pattern, url);
      if (refusal) throw new AppError('FORBIDDEN', refusal);
    }
    if (unsafe) {
      const given = req.headers[CSRF_HEADER];
      if (typeof given !== 'string' || given === '') {
        throw new AppError('FORBIDDEN', `headers.${CSRF_HEADER}: missing; send the session's CSRF token (GET /api/session, or the ${CSRF_COOKIE} cookie) in the ${CSRF_HEADER} header`, { field: `headers.${CSRF_HEADER}` });
      }
      if (!tokenMatches(ctx.csrf, given)) {
        throw new AppError('FORBIDDEN', `headers.${CSRF_HEADER}: wrong token: it does not belong to this session (log in again or reload)`, { field: `headers.${CSRF_HEADER}` });
      }
    }
    if (ctx.role === 'trainer' && pattern !== '/api/events') touchIdleLock();
    // A locked kit (the phone handed over, or idle) shows no library and no cases; recording,
    // marking, status and the camera preview go on.
    if (ctx.role === 'trainer' && !deps.keys.unlocked && pattern !== undefined && LOCKED_WHILE_LOCKED.has(`${req.method === 'HEAD' ? 'GET' : req.method} ${pattern}`)) {
      throw new AppError('LOCKED', `the kit is locked: unlock it with the trainer PIN (POST /api/unlock) for ${req.method} ${pattern} (de kit is vergrendeld)`);
    }
  });

  /** Whether the session behind a request is still live (event streams close when it ends). */
  const stillAlive = (c: RequestContext): (() => boolean) => {
    if (c.key === 'loopback') return () => true;
    if (c.role === 'viewer') {
      const vt = c.key.slice('tv:'.length);
      return () => viewers.alive(vt);
    }
    return () => sessions.alive(c.key);
  };

  const ctxOf = (req: FastifyRequest): RequestContext => {
    const c = contexts.get(req.raw);
    if (!c) throw new AppError('UNAUTHORIZED', 'log in first (eerst inloggen)');
    return c;
  };
  const cookieOpts = (req: FastifyRequest, httpOnly: boolean, maxAgeSeconds: number) => ({ httpOnly, secure: isHttps(req.raw), maxAgeSeconds });

  /**
   * Checks a PIN: the sealed master key is the authority once it exists (the check unlocks it);
   * before enrolment, the configured PIN. Wrong PINs count toward a growing lock-out.
   */
  const checkPinAndUnlock = async (pin: string): Promise<void> => {
    sessions.assertAttemptAllowed();
    let ok: boolean;
    if (deps.keys.hasMaster) {
      ok = await deps.keys.unlock(pin);
    } else {
      const configured = deps.pin();
      if (configured === null) {
        throw new AppError('NOT_CONFIGURED', 'no trainer PIN is configured: enrol the kit (vht-kit enrol) or set auth.pin (VHT_KIT_PIN)', { field: 'auth.pin' });
      }
      ok = pinMatches(configured, pin);
    }
    if (!ok) {
      const { failures, lockedForMs } = sessions.failed();
      deps.catalogue.audit('pin.failed', now(), null, { failures, lockedForMs });
      deps.logger.warn('wrong PIN', { failures, lockedForMs });
      throw new AppError('UNAUTHORIZED', 'wrong PIN (verkeerde pincode)', { field: 'pin' });
    }
    sessions.succeeded();
    touchIdleLock();
  };
  const pinBody = z.object({ pin: z.string().regex(/^[0-9]{4,12}$/, '4 to 12 digits') }).strict();

  app.get('/healthz', async () => ({ ok: true }));

  // --- the built UI (dist/ui): an allowlist of files listed at start, looked up by exact path ---
  app.get('/*', async (req, reply) => {
    const url = req.url.split('?')[0] ?? '';
    const f = url.startsWith('/api/') ? null : ui.lookup(url);
    if (!f) {
      if ((url === '/' || url === '/tv') && !ui.built) {
        throw new AppError('NOT_CONFIGURED', `the web UI is not built: run \`npm run build\` (vite build into ${ui.dir})`);
      }
      return reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route GET ${url.slice(0, 200)}` } });
    }
    let body: Buffer;
    try {
      body = await readFile(f.file);
    } catch {
      return reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route GET ${url.slice(0, 200)} (the UI is being rebuilt?)` } });
    }
    reply.type(f.type).header('cache-control', f.cacheControl);
    return body;
  });

  // --- auth ---
  app.post('/api/login', async (req, reply) => {
    const body = parseInput(pinBody, req.body, 'body');
    await checkPinAndUnlock(body.pin);
    const { token: t, csrf } = sessions.create();
    deps.catalogue.audit('login', now(), null, { unlocked: deps.keys.unlocked });
    const maxAge = Math.round(deps.sessionIdleMs / 1000) * 48;
    reply
      .header('set-cookie', [
        cookie(SESSION_COOKIE, t, cookieOpts(req, true, maxAge)),
        cookie(CSRF_COOKIE, csrf, cookieOpts(req, false, maxAge)),
      ])
      .status(204)
      .send();
  });

  app.get('/api/session', async (req) => {
    const c = ctxOf(req);
    return { role: c.role, csrf: c.csrf, locked: !deps.keys.unlocked };
  });

  app.post('/api/logout', async (req, reply) => {
    const t = token(req);
    for (const key of viewed) if (key.startsWith(`${t}:`)) viewed.delete(key);
    sessions.destroy(t);
    if (sessions.count === 0) {
      // The visit is over: no key, nothing on the TV, and every paired TV must pair again.
      deps.keys.lock();
      endPresentation({ dropTvSessions: true });
    }
    deps.catalogue.audit('logout', now(), null, { locked: !deps.keys.unlocked });
    reply
      .header('set-cookie', [cookie(SESSION_COOKIE, '', cookieOpts(req, true, 0)), cookie(CSRF_COOKIE, '', cookieOpts(req, false, 0))])
      .status(204)
      .send();
  });

  // The trainer hands the phone over: the session stays, playback needs the PIN again.
  app.post('/api/lock', async (req, reply) => {
    parseInput(z.object({}).strict(), req.body, 'body');
    deps.keys.lock();
    endPresentation({ dropTvSessions: false });
    deps.catalogue.audit('lock', now());
    reply.status(204).send();
  });

  app.post('/api/unlock', async (req, reply) => {
    const body = parseInput(pinBody, req.body, 'body');
    await checkPinAndUnlock(body.pin);
    deps.catalogue.audit('unlock', now());
    reply.status(204).send();
  });

  // --- recorder ---
  const status = () => {
    const h = deps.hardware();
    return {
      ...deps.recorder.status(), locked: !deps.keys.unlocked, uploads: deps.privacy.uploadWarnings(),
      battery: h.battery ? { percent: h.battery.percent, charging: h.battery.charging } : null, docked: h.docked,
    };
  };
  app.get('/api/status', async () => statusResponse.parse(status()));

  // A kit configured not to arm at start-up arms when the visit starts (pre-roll from then on).
  app.post('/api/recording/arm', async (req) => {
    parseInput(z.object({}).strict(), req.body, 'body');
    deps.recorder.arm();
    return { state: deps.recorder.state };
  });

  app.post('/api/recording/disarm', async (req) => {
    parseInput(z.object({}).strict(), req.body, 'body');
    await deps.recorder.disarm();
    return { state: deps.recorder.state };
  });

  app.post('/api/recording/start', async (req) => {
    const body = parseInput(z.object({ caseCode: caseCodeSchema.nullable().optional() }).strict(), req.body, 'body');
    const code = body.caseCode ?? null;
    const consent = code === null ? null : deps.privacy.consentForRecording(code);
    return deps.recorder.startTake(code, consent);
  });

  app.post('/api/recording/stop', async (req) => {
    parseInput(z.object({}).strict(), req.body, 'body');
    return deps.recorder.stopTake('stopped by the trainer');
  });

  app.post('/api/markers', async (req) => {
    const labels = deps.markerLabels;
    const body = parseInput(
      z.object({
        label: z
          .string()
          .refine((l) => labels.includes(l), `one of the configured marker labels (${labels.join(', ')})`)
          .nullable()
          .optional(),
      }).strict(),
      req.body,
      'body',
    );
    const { markerId, offsetMs } = deps.recorder.mark(body.label ?? null);
    return { markerId, offsetMs };
  });

  // --- clips ---
  app.get('/api/clips', async (req) => {
    const q = parseInput(
      z.object({
        limit: z.coerce.number().int().min(1).max(1000).default(200),
        offset: z.coerce.number().int().min(0).default(0),
      }).strict(),
      req.query,
      'query',
    );
    return { clips: deps.catalogue.listClips(q.limit, q.offset).map(summary) };
  });

  const getClip = (id: string): ClipRow => {
    const clip = deps.catalogue.getClip(id);
    if (!clip) throw new AppError('NOT_FOUND', `no clip with id ${JSON.stringify(id)}`, { field: 'params.id' });
    return clip;
  };

  app.get('/api/clips/:id', async (req) => {
    const { id } = parseInput(clipIdParams, req.params, 'params');
    const clip = getClip(id);
    return {
      ...summary(clip),
      segments: deps.catalogue.segments(id).map((s) => ({
        seq: s.seq, startMs: s.startMs, durationMs: s.durationMs, bytes: s.bytes, sha256: s.sha256, discontinuity: s.discontinuity,
      })),
      markers: deps.catalogue.markers(id).map((m) => ({ id: m.id, offsetMs: m.offsetMs, label: m.label, createdAt: m.createdAt })),
      stills: deps.catalogue.stills(id).map((st) => ({ id: st.id, timeMs: st.timeMs, createdAt: st.createdAt, bytes: st.bytes })),
    };
  });

  const labelSchema = z
    .string()
    .refine((l) => deps.markerLabels.includes(l), `one of the configured marker labels (${deps.markerLabels.join(', ')})`);

  // A marker added while reviewing a finished clip.
  app.post('/api/clips/:id/markers', async (req) => {
    const { id } = parseInput(clipIdParams, req.params, 'params');
    const body = parseInput(
      z.object({ offsetMs: z.number().int().min(0).max(24 * 3600_000), label: labelSchema.nullable() }).strict(),
      req.body,
      'body',
    );
    const clip = getClip(id);
    if (body.offsetMs > clip.durationMs) {
      throw new AppError('VALIDATION', `body.offsetMs: ${body.offsetMs} is past the end of clip ${id} (${clip.durationMs} ms)`, { field: 'body.offsetMs' });
    }
    const markerId = deps.clips.addMarker(id, body.offsetMs, body.label, now());
    deps.catalogue.audit('marker.added', now(), id, { offsetMs: body.offsetMs });
    deps.bus.emit('clip.updated', { clipId: id });
    return { markerId, offsetMs: body.offsetMs };
  });

  // A still: the exact frame as a JPEG from the player, stored encrypted like the segments.
  app.post('/api/clips/:id/stills', async (req) => {
    const { id } = parseInput(clipIdParams, req.params, 'params');
    const q = parseInput(z.object({ t: z.coerce.number().int().min(0).max(24 * 3600_000) }).strict(), req.query, 'query');
    const body = req.body;
    if (!Buffer.isBuffer(body)) {
      throw new AppError('VALIDATION', `headers.content-type: send the still as image/jpeg (got ${JSON.stringify(req.headers['content-type'] ?? '')})`, { field: 'headers.content-type' });
    }
    if (body.length < 4 || body[0] !== 0xff || body[1] !== 0xd8) {
      throw new AppError('VALIDATION', `body: not a JPEG (it must start with FF D8; got ${body.subarray(0, 2).toString('hex') || 'nothing'})`, { field: 'body' });
    }
    const clip = getClip(id);
    if (q.t > clip.durationMs) throw new AppError('VALIDATION', `query.t: ${q.t} is past the end of clip ${id} (${clip.durationMs} ms)`, { field: 'query.t' });
    const still = await deps.clips.addStill(id, new Uint8Array(body.buffer, body.byteOffset, body.byteLength), q.t, now());
    deps.catalogue.audit('still.added', now(), id, { timeMs: q.t, bytes: still.bytes });
    deps.bus.emit('clip.updated', { clipId: id });
    return { id: still.id, timeMs: q.t, createdAt: still.createdAt };
  });

  app.get('/api/clips/:id/stills/:file', async (req, reply) => {
    const params = parseInput(
      z.object({ id: clipIdParams.shape.id, file: z.string().regex(/^[1-9][0-9]{0,9}\.jpg$/, 'a still name like 1.jpg') }).strict(),
      req.params,
      'params',
    );
    const n = Number.parseInt(params.file, 10);
    getClip(params.id);
    if (!deps.catalogue.stills(params.id).some((st) => st.id === n)) {
      throw new AppError('NOT_FOUND', `clip ${params.id} has no still ${n}`, { field: 'params.file' });
    }
    const identity = await deps.keys.clipIdentity(params.id);
    auditView(req, params.id);
    const plaintext = await decryptWith(identity, await deps.clips.readStill(params.id, n)); // a Buffer: sent as it is
    reply.type('image/jpeg').header('cache-control', 'no-store');
    return plaintext;
  });

  app.patch('/api/clips/:id', async (req) => {
    const { id } = parseInput(clipIdParams, req.params, 'params');
    const body = parseInput(z.object({ caseCode: caseCodeSchema }).strict(), req.body, 'body');
    const clip = getClip(id);
    if (clip.caseCode !== null && clip.caseCode !== body.caseCode) {
      throw new AppError('CONFLICT', `clip ${id} already belongs to another case; only an unassigned clip can be assigned`, { field: 'body.caseCode' });
    }
    const consent = deps.privacy.consentForRecording(body.caseCode);
    deps.clips.assignCase(id, body.caseCode, consent, now());
    deps.catalogue.audit('clip.assigned', now(), id, { case: body.caseCode });
    deps.bus.emit('clip.updated', { clipId: id });
    return summary(getClip(id));
  });

  // Deleting asks for the clip id again. Footage goes only once the organisation has it.
  app.delete('/api/clips/:id', async (req) => {
    const { id } = parseInput(clipIdParams, req.params, 'params');
    const body = parseInput(z.object({ confirm: z.string() }).strict(), req.body, 'body');
    if (body.confirm !== id) throw new AppError('VALIDATION', `body.confirm: repeat the clip id ${id} to delete it (got ${JSON.stringify(body.confirm)})`, { field: 'body.confirm' });
    const clip = getClip(id);
    if (clip.state === 'recording') throw new AppError('CONFLICT', `clip ${id} is still recording: stop it first`);
    deps.clips.requestDelete(id, now(), 'trainer');
    deps.catalogue.audit('clip.delete.requested', now(), id);
    if (presented === id) endPresentation({ dropTvSessions: false });
    const deleted = (await deps.privacy.runRetention()).includes(id);
    deps.bus.emit('clip.updated', { clipId: id });
    return {
      deleted,
      message: deleted
        ? 'deleted (verwijderd)'
        : 'will be deleted once the organisation has confirmed the upload (wordt verwijderd zodra de organisatie de opname heeft)',
    };
  });

  // Uses beyond the home visit, allowed only by the case's consent.
  app.put('/api/clips/:id/purposes', async (req) => {
    const { id } = parseInput(clipIdParams, req.params, 'params');
    const body = parseInput(z.object({ supervision: z.boolean(), training: z.boolean() }).strict(), req.body, 'body');
    const clip = getClip(id);
    const purposes = (['supervision', 'training'] as const).filter((p) => body[p]);
    for (const p of purposes) deps.privacy.assertAllowed(clip, p);
    deps.clips.setPurposes(id, purposes);
    deps.catalogue.audit('clip.purposes', now(), id, { purposes });
    return summary(getClip(id));
  });

  // --- office sync ---
  app.get('/api/sync', async () => deps.sync.status());
  app.post('/api/sync/run', async (req, reply) => {
    parseInput(z.object({}).strict(), req.body, 'body');
    if (!deps.sync.run) throw new AppError('CONFLICT', 'sync is off: set sync.target (s3 or dir) in the config (uploaden staat uit)', { field: 'sync.target' });
    deps.sync.run();
    reply.status(202);
    return deps.sync.status();
  });

  // --- presenting on the family's TV (the TV page follows this) ---
  app.post('/api/present', async (req) => {
    const body = parseInput(z.object({ clipId: clipIdParams.shape.id }).strict(), req.body, 'body');
    const clip = getClip(body.clipId);
    deps.privacy.assertAllowed(clip, 'review');
    presented = clip.id;
    deps.catalogue.audit('clip.presented', now(), clip.id);
    deps.bus.emit('present', { clipId: presented });
    return { clipId: presented };
  });
  app.get('/api/present', async () => ({ clipId: presented }));
  app.delete('/api/present', async () => {
    endPresentation({ dropTvSessions: false });
    return { clipId: null };
  });

  // The phone drives the TV's player; the TV answers each command with tv.ack {id}. Ids stay above
  // those of commands from elsewhere (the TV remote over HDMI-CEC), so an ack names one command.
  let controlId = 0;
  const offControlIds = deps.bus.on('tv.control', (c) => {
    if (c.id > controlId) controlId = c.id;
  });
  app.addHook('onClose', async () => offControlIds());
  const controlBody = z
    .object({
      action: z.enum(['play', 'pause', 'toggle', 'rate', 'seek', 'step', 'marker', 'loop', 'back']),
      rate: z.union([z.literal(0.25), z.literal(0.5), z.literal(1)]).optional(),
      time: z.number().min(0).max(24 * 3600).optional(),
      direction: z.union([z.literal(-1), z.literal(1)]).optional(),
      loop: z.tuple([z.number().min(0), z.number().min(0)]).refine(([a, b]) => b > a, 'an end after the start').nullable().optional(),
    })
    .strict()
    .superRefine((b, ctx) => {
      const need = { rate: 'rate', seek: 'time', step: 'direction', marker: 'direction', loop: 'loop' } as const;
      const key = need[b.action as keyof typeof need];
      if (key && b[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `needed for action "${b.action}"`, input: undefined });
    });
  app.post('/api/present/control', async (req) => {
    const body = parseInput(controlBody, req.body, 'body');
    if (presented === null) throw new AppError('CONFLICT', 'nothing is presented on the TV: present a clip first (POST /api/present)');
    controlId += 1;
    const cmd: TvControl = { action: body.action, source: 'phone', id: controlId };
    if (body.rate !== undefined) cmd.rate = body.rate;
    if (body.time !== undefined) cmd.time = body.time;
    if (body.direction !== undefined) cmd.direction = body.direction;
    if (body.loop !== undefined) cmd.loop = body.loop;
    deps.bus.emit('tv.control', cmd);
    return { id: controlId };
  });

  // --- the TV (viewer): pairing, state, events, acks ---
  app.post('/api/tv/pairing', async (req) => {
    parseInput(z.object({}).strict(), req.body, 'body');
    const p = pairing.create();
    deps.catalogue.audit('tv.pairing', now());
    return p;
  });

  app.post('/api/tv/pair', async (req, reply) => {
    const body = parseInput(z.object({ code: z.string().regex(/^[0-9]{6}$/, '6 digits') }).strict(), req.body, 'body');
    // Failures are audited only while a code waits (at most 5 per code), so that requests without
    // any code cannot fill the audit log.
    const waiting = pairing.waiting;
    try {
      pairing.redeem(body.code);
    } catch (err) {
      if (waiting) deps.catalogue.audit('tv.pair.failed', now());
      throw err;
    }
    const { token: t, csrf } = viewers.create();
    deps.catalogue.audit('tv.paired', now());
    const maxAge = Math.round(VIEWER_IDLE_MS / 1000);
    reply.header('set-cookie', [
      cookie(VIEWER_COOKIE, t, cookieOpts(req, true, maxAge)),
      cookie(CSRF_COOKIE, csrf, cookieOpts(req, false, maxAge)),
    ]);
    return { role: 'viewer', csrf, locked: !deps.keys.unlocked };
  });

  /** What the TV may know: the presented clip's id, length, markers and frame rate, nothing else. */
  const tvState = () => {
    const clip = presented === null ? undefined : deps.catalogue.getClip(presented);
    if (!clip) return { clipId: null, durationMs: 0, markers: [] as { offsetMs: number; label: string | null }[], fps };
    return {
      clipId: clip.id,
      durationMs: clip.durationMs,
      markers: deps.catalogue.markers(clip.id).map((m) => ({ offsetMs: m.offsetMs, label: m.label })),
      fps,
    };
  };
  app.get('/api/tv/state', async () => tvState());

  // The Wi-Fi join code holds the passphrase: only the kit's own HDMI screen (loopback) shows it.
  app.get('/api/tv/hotspot', async (req) => {
    if (!isLoopbackRequest(req.raw)) {
      throw new AppError('FORBIDDEN', 'the Wi-Fi join code is shown only on the kit\'s own HDMI screen (loopback listener)');
    }
    // ... and only while a trainer is logged in: not to whoever is in the room with an idle kit.
    const info = sessions.anyAlive() ? (deps.hotspot?.() ?? null) : null;
    return info === null ? { ssid: null, qrSvg: null } : info;
  });

  app.post('/api/tv/ack', async (req, reply) => {
    const body = parseInput(z.object({ id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict(), req.body, 'body');
    deps.bus.emit('tv.ack', { id: body.id });
    reply.status(204).send();
  });

  app.get('/api/tv/events', (req: FastifyRequest, reply: FastifyReply) => {
    const write = openEventStream(req, reply, stillAlive(ctxOf(req)));
    write('present', { clipId: presented });
    const offs = [
      deps.bus.on('present', (p) => write('present', { clipId: p.clipId })),
      deps.bus.on('tv.control', (c) => write('tv.control', c)),
    ];
    req.raw.on('close', () => offs.forEach((off) => off()));
  });

  // --- the remote's camera preview: the live tail of the RAM ring (trainer only) ---
  const liveArmed = () => {
    if (deps.recorder.state !== 'armed' && deps.recorder.state !== 'recording') {
      throw new AppError('CONFLICT', `the camera is not armed (state ${deps.recorder.state}): arm it for a preview (POST /api/recording/arm)`);
    }
  };
  app.get('/api/live.m3u8', async (_req, reply) => {
    liveArmed();
    reply.type('application/vnd.apple.mpegurl').header('cache-control', 'no-store');
    return livePlaylist(deps.recorder.liveSegments());
  });
  app.get('/api/live/:name', async (req, reply) => {
    const { name } = parseInput(z.object({ name: z.string().regex(/^[0-9]{1,15}\.ts$/, 'a live segment name like 1234.ts') }).strict(), req.params, 'params');
    liveArmed();
    const seg = deps.recorder.liveSegment(name);
    if (!seg) throw new AppError('NOT_FOUND', `live segment ${name} is no longer in the ring (reload the playlist)`, { field: 'params.name' });
    let data: Buffer;
    try {
      data = await readFile(seg.path);
    } catch {
      throw new AppError('NOT_FOUND', `live segment ${name} is no longer in the ring (reload the playlist)`, { field: 'params.name' });
    }
    reply.type('video/mp2t').header('cache-control', 'no-store');
    return data;
  });

  // --- what the UI needs to know about this kit ---
  app.get('/api/config/ui', async () => ({
    markerLabels: deps.markerLabels,
    trajectories: [...TRAJECTORIES],
    consentScopes: [...CONSENT_SCOPES],
    kitId: deps.kitId ?? 'vht-kit',
    fps,
  }));

  // --- cases: pseudonymous codes, never names ---
  app.get('/api/cases', async () => ({ cases: deps.catalogue.listCases() }));
  app.post('/api/cases', async (req) => {
    const body = parseInput(z.object({ code: caseCodeSchema, trajectory: trajectorySchema, consent: consentSchema }).strict(), req.body, 'body');
    return deps.privacy.createCase(body.code, body.trajectory, body.consent);
  });
  app.patch('/api/cases/:code', async (req) => {
    const { code } = parseInput(z.object({ code: caseCodeSchema }).strict(), req.params, 'params');
    const body = parseInput(
      z.object({ trajectory: trajectorySchema.optional(), consent: consentSchema.partial().optional() }).strict(),
      req.body,
      'body',
    );
    const patch: Parameters<Privacy['updateCase']>[1] = {};
    if (body.trajectory) patch.trajectory = body.trajectory;
    if (body.consent) patch.consent = Object.fromEntries(CONSENT_SCOPES.filter((s) => body.consent![s] !== undefined).map((s) => [s, body.consent![s]]));
    return deps.privacy.updateCase(code, patch);
  });
  // Closing a case's trajectory: no new takes; its footage goes per the retention table (docs/design/keys-layout-retention.md).
  app.post('/api/cases/:code/close', async (req) => {
    const { code } = parseInput(z.object({ code: caseCodeSchema }).strict(), req.params, 'params');
    return deps.privacy.closeCase(code);
  });

  // A clip counts as viewed once per session (playlist or first segment), not per request.
  const auditView = (req: FastifyRequest, id: string) => {
    const viewKey = `${ctxOf(req).key}:${id}`;
    if (viewed.has(viewKey)) return;
    viewed.add(viewKey);
    deps.catalogue.audit('clip.viewed', now(), id);
  };
  app.get('/api/clips/:id/index.m3u8', async (req, reply) => {
    const { id } = parseInput(clipIdParams, req.params, 'params');
    const clip = getClip(id);
    auditView(req, id);
    reply.type('application/vnd.apple.mpegurl').header('cache-control', 'no-store');
    return clipPlaylist(clip.state, deps.catalogue.segments(id));
  });

  app.get('/api/clips/:id/segments/:file', async (req, reply) => {
    const params = parseInput(
      z.object({ id: clipIdParams.shape.id, file: z.string().regex(/^(0|[1-9][0-9]{0,6})\.ts$/, 'a segment name like 0.ts') }).strict(),
      req.params,
      'params',
    );
    const seq = Number.parseInt(params.file, 10);
    getClip(params.id);
    const seg = deps.catalogue.segment(params.id, seq);
    if (!seg) throw new AppError('NOT_FOUND', `clip ${params.id} has no segment ${seq}`, { field: 'params.file' });
    const identity = await deps.keys.clipIdentity(params.id);
    auditView(req, params.id);
    const plaintext = await decryptWith(identity, await deps.clips.readSegment(params.id, seq)); // a Buffer: sent as it is
    reply.type('video/mp2t').header('cache-control', 'no-store');
    return plaintext;
  });

  // --- live events (Server-Sent Events) ---
  app.get('/api/events', (req: FastifyRequest, reply: FastifyReply) => {
    const write = openEventStream(req, reply, stillAlive(ctxOf(req)));
    write('status', status());
    const off = deps.bus.onAny((name, payload) => write(name, payload));
    req.raw.on('close', off);
  });

  return app;
}
