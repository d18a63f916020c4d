import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { AppError, describeError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { Privacy } from '../session/privacy.js';
import type { Recorder } from '../session/recorder.js';
import { TRAJECTORIES } from '../store/migrations.js';
import { CONSENT_SCOPES, type Catalogue, type ClipRow } from '../store/catalogue.js';
import { CLIP_ID_PATTERN, type ClipStore } from '../store/clips.js';
import { decryptWith } from '../store/crypto.js';
import type { KeyStore } from '../store/keys.js';
import { pinMatches, readCookie, SESSION_COOKIE, Sessions } from './auth.js';
import { clipPlaylist } from './hls.js';
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
}

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
    durationMs: c.durationMs, segmentCount: c.segmentCount, bytes: c.bytes, stopReason: c.stopReason,
    consent: c.consent, purposes: c.purposes, uploaded: c.uploadedAt !== null, deleteRequested: c.deleteRequestedAt !== null,
  };
}

function findUiDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'src', 'web', 'ui', 'static');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return path.join(path.dirname(fileURLToPath(import.meta.url)), 'ui', 'static');
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Builds the Fastify app (routes, auth, errors) apart from `listen`, so tests use `inject()`. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, trustProxy: false, forceCloseConnections: true });
  const sessions = new Sessions(deps.clock, deps.sessionIdleMs);
  /** `<session>:<clip>` pairs already audited as viewed (dropped at logout). */
  const viewed = new Set<string>();
  const uiDir = findUiDir();

  app.addHook('onSend', async (_req, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
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
            ? `body: unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}; send application/json`
            : e.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
              ? 'body: too large (at most 64 KiB)'
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
    }, deps.lockAfterIdleMs);
    idleTimer.unref?.();
  };
  app.addHook('onClose', async () => {
    if (idleTimer) deps.clock.clearTimeout(idleTimer);
  });

  // Every /api route except login needs a trainer session.
  app.addHook('onRequest', async (req) => {
    const url = req.url.split('?')[0] ?? '';
    if (!url.startsWith('/api/') || url === '/api/login') return;
    if (!sessions.touch(token(req))) {
      throw new AppError('UNAUTHORIZED', 'log in first: POST /api/login with the trainer PIN (eerst inloggen)');
    }
    if (url !== '/api/events') touchIdleLock();
  });

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

  // --- the small status page (the full Preact UI replaces it) ---
  const staticFiles: Record<string, string> = {
    '/': 'index.html', '/app.js': 'app.js', '/app.css': 'app.css',
  };
  const types: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
  for (const [url, file] of Object.entries(staticFiles)) {
    app.get(url, async (_req, reply) => {
      const full = path.join(uiDir, file);
      if (!existsSync(full)) throw new AppError('NOT_FOUND', `UI file ${file} is missing from ${uiDir}`);
      reply.type(types[path.extname(file)] ?? 'application/octet-stream').header('cache-control', 'no-cache');
      return readFileSync(full);
    });
  }

  // --- auth ---
  app.post('/api/login', async (req, reply) => {
    const body = parseInput(pinBody, req.body, 'body');
    await checkPinAndUnlock(body.pin);
    const t = sessions.create();
    deps.catalogue.audit('login', now(), null, { unlocked: deps.keys.unlocked });
    reply
      .header('set-cookie', `${SESSION_COOKIE}=${t}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.round(deps.sessionIdleMs / 1000) * 48}`)
      .status(204)
      .send();
  });

  app.post('/api/logout', async (req, reply) => {
    const t = token(req);
    for (const key of viewed) if (key.startsWith(`${t}:`)) viewed.delete(key);
    sessions.destroy(t);
    if (sessions.count === 0) deps.keys.lock();
    deps.catalogue.audit('logout', now(), null, { locked: !deps.keys.unlocked });
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`).status(204).send();
  });

  // The trainer hands the phone over: the session stays, playback needs the PIN again.
  app.post('/api/lock', async (req, reply) => {
    parseInput(z.object({}).strict(), req.body, 'body');
    deps.keys.lock();
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
    };
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
    if (!deps.sync.run) throw new AppError('NOT_CONFIGURED', 'sync is off: set sync.target (s3 or dir) in the config', { field: 'sync.target' });
    deps.sync.run();
    reply.status(202);
    return deps.sync.status();
  });

  // --- presenting on the family's TV (the TV page follows this) ---
  let presented: string | null = null;
  app.post('/api/present', async (req) => {
    const body = parseInput(z.object({ clipId: clipIdParams.shape.id }).strict(), req.body, 'body');
    const clip = getClip(body.clipId);
    deps.privacy.assertAllowed(clip, 'review');
    presented = clip.id;
    deps.catalogue.audit('clip.presented', now(), clip.id);
    return { clipId: presented };
  });
  app.get('/api/present', async () => ({ clipId: presented }));
  app.delete('/api/present', async () => {
    presented = null;
    return { clipId: null };
  });

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

  // A clip counts as viewed once per session (playlist or first segment), not per request.
  const auditView = (req: FastifyRequest, id: string) => {
    const viewKey = `${token(req)}:${id}`;
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
    const plaintext = await decryptWith(identity, await deps.clips.readSegment(params.id, seq));
    reply.type('video/mp2t').header('cache-control', 'no-store');
    return Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  });

  // --- live events (Server-Sent Events) ---
  app.get('/api/events', (req: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...SECURITY_HEADERS,
    });
    const write = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    write('status', status());
    const off = deps.bus.onAny((name, payload) => write(name, payload));
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    req.raw.on('close', () => {
      off();
      clearInterval(ping);
    });
  });

  return app;
}
