import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { AppError, describeError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { Recorder } from '../session/recorder.js';
import type { Catalogue, ClipRow } from '../store/catalogue.js';
import { CLIP_ID_PATTERN, type ClipStore } from '../store/clips.js';
import { decryptWith } from '../store/crypto.js';
import type { KeyStore } from '../store/keys.js';
import { readCookie, SESSION_COOKIE, Sessions } from './auth.js';
import { clipPlaylist } from './hls.js';
import { parseInput } from './validate.js';

export interface AppDeps {
  recorder: Recorder;
  catalogue: Catalogue;
  clips: ClipStore;
  keys: KeyStore;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  pin: () => string | null;
  markerLabels: string[];
  sessionIdleMs: number;
}

/** A pseudonymous case code: letters, digits, dash, dot, underscore; no spaces (names do not fit). */
export const caseCodeSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{1,31}$/, 'a pseudonymous case code: 2–32 letters, digits, ".", "_" or "-", no spaces or names');

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
});

const statusResponse = z.object({
  state: z.enum(['idle', 'armed', 'recording', 'error']),
  clipId: z.string().optional(),
  elapsedMs: z.number().optional(),
  preRollMs: z.number(),
  storage: z.object({ freeBytes: z.number(), minutesLeft: z.number() }),
  camera: z.object({ profile: z.string(), ok: z.boolean(), error: z.string().optional() }),
  locked: z.boolean(),
});

function summary(c: ClipRow): z.infer<typeof clipSummary> {
  return {
    id: c.id, caseCode: c.caseCode, visitId: c.visitId, state: c.state, unassigned: c.caseCode === null,
    createdAt: c.createdAt, startedAt: c.originMs, stoppedAt: c.stoppedAt, preRollMs: c.preRollMs,
    durationMs: c.durationMs, segmentCount: c.segmentCount, bytes: c.bytes, stopReason: c.stopReason,
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

  // Every /api route except login needs a trainer session.
  app.addHook('onRequest', async (req) => {
    const url = req.url.split('?')[0] ?? '';
    if (!url.startsWith('/api/') || url === '/api/login') return;
    if (!sessions.touch(token(req))) {
      throw new AppError('UNAUTHORIZED', 'log in first: POST /api/login with the trainer PIN (eerst inloggen)');
    }
  });

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
    const body = parseInput(z.object({ pin: z.string().regex(/^[0-9]{4,12}$/, '4 to 12 digits') }).strict(), req.body, 'body');
    try {
      sessions.checkPin(deps.pin(), body.pin);
    } catch (err) {
      if (err instanceof AppError && err.code === 'UNAUTHORIZED') {
        deps.catalogue.audit('login.failed', deps.clock.now());
        deps.logger.warn('wrong PIN at login');
      }
      throw err;
    }
    const t = sessions.create();
    if (!deps.keys.unlocked) {
      const ok = await deps.keys.unlock(body.pin);
      if (!ok) deps.logger.warn('the playback key does not open with this PIN (was it sealed with another?); playback stays locked');
    }
    deps.catalogue.audit('login', deps.clock.now(), null, { unlocked: deps.keys.unlocked });
    reply
      .header('set-cookie', `${SESSION_COOKIE}=${t}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.round(deps.sessionIdleMs / 1000) * 48}`)
      .status(204)
      .send();
  });

  app.post('/api/logout', async (req, reply) => {
    sessions.destroy(token(req));
    if (sessions.count === 0) deps.keys.lock();
    deps.catalogue.audit('logout', deps.clock.now());
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`).status(204).send();
  });

  // --- recorder ---
  app.get('/api/status', async () => statusResponse.parse({ ...deps.recorder.status(), locked: !deps.keys.unlocked }));

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
    return deps.recorder.startTake(body.caseCode ?? null);
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
    deps.clips.assignCase(id, body.caseCode, deps.clock.now());
    deps.catalogue.audit('clip.assigned', deps.clock.now(), id);
    deps.bus.emit('clip.updated', { clipId: id });
    return summary(getClip(id));
  });

  app.get('/api/clips/:id/index.m3u8', async (req, reply) => {
    const { id } = parseInput(clipIdParams, req.params, 'params');
    const clip = getClip(id);
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
    const identity = deps.keys.requireIdentity();
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
    write('status', { ...deps.recorder.status(), locked: !deps.keys.unlocked });
    const off = deps.bus.onAny((name, payload) => write(name, payload));
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    req.raw.on('close', () => {
      off();
      clearInterval(ping);
    });
  });

  return app;
}
