import type { FastifyInstance, FastifyRequest } from 'fastify';
import type {} from '@fastify/cookie';
import fp from 'fastify-plugin';
import { AppError } from '../../core/errors.js';
import { CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, tokenMatches, VIEWER_COOKIE } from '../auth.js';
import type { Access, Caller, WebContext } from '../context.js';
import { isHttps, isLoopbackRequest, originProblem } from '../security.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The route's declared access; the static catch-all and unknown paths: trainer under /api, else public. */
function accessOf(req: FastifyRequest, url: string): Access {
  const pattern = req.routeOptions.url;
  if (pattern === undefined || pattern === '/*') return url === '/api' || url.startsWith('/api/') ? 'trainer' : 'public';
  return req.routeOptions.config.access ?? 'trainer';
}

/** The session of the request: the loopback kiosk, a trainer cookie or a TV cookie; null when none. */
function findCaller(ctx: WebContext, req: FastifyRequest): Caller | null {
  if (isLoopbackRequest(req.raw)) return { role: 'viewer', key: 'loopback', csrf: ctx.loopbackCsrf };
  const t = req.cookies[SESSION_COOKIE];
  const s = ctx.sessions.get(t);
  if (s) return { role: 'trainer', key: t!, csrf: s.csrf, ...(s.trainerId !== null ? { trainerId: s.trainerId } : {}) };
  const vt = req.cookies[VIEWER_COOKIE];
  const v = ctx.viewers.get(vt);
  return v ? { role: 'viewer', key: `tv:${vt}`, csrf: v.csrf } : null;
}

/** Null when a viewer may use this route, else why not. */
function viewerRefusal(ctx: WebContext, req: FastifyRequest, access: Access, url: string): string | null {
  if (access === 'viewer' || access === 'public') return null;
  if ((access === 'presented' || access === 'presented-fragment' || access === 'presented-still') && (req.method === 'GET' || req.method === 'HEAD')) {
    const id = (req.params as { id?: unknown } | undefined)?.id;
    const kind = access === 'presented' ? 'clip' : access === 'presented-fragment' ? 'fragment' : 'still';
    if (typeof id === 'string' && ctx.presentation.mayShow(kind, id)) return null;
    return `a TV session may play only the ${kind} presented on the TV (${typeof id === 'string' ? `not ${id.slice(0, 40)}` : 'none'}) (alleen de getoonde opname)`;
  }
  // The static catch-all (/*) matches any unknown path: name the path that was asked for.
  const pattern = req.routeOptions.url;
  const what = pattern !== undefined && pattern !== '/*' ? pattern : url;
  const asked = what !== url ? ` (${url.slice(0, 80)})` : '';
  return `a TV session may not use ${req.method} ${what.slice(0, 80)}${asked} (alleen voor de trainer)`;
}

/** A state-changing request repeats its session's CSRF token in x-csrf-token. */
function checkCsrf(req: FastifyRequest, caller: Caller): void {
  const given = req.headers[CSRF_HEADER];
  const field = `headers.${CSRF_HEADER}`;
  if (typeof given !== 'string' || given === '') {
    throw new AppError(
      'FORBIDDEN',
      `${field}: missing; send the session's CSRF token (GET /api/session, or the ${CSRF_COOKIE} cookie) in the ${CSRF_HEADER} header`,
      { field, reason: 'csrf_missing' },
    );
  }
  if (!tokenMatches(caller.csrf, given)) {
    throw new AppError('FORBIDDEN', `${field}: wrong token: it does not belong to this session (log in again or reload)`, { field, reason: 'csrf_wrong' });
  }
}

/**
 * The guard plugin, every request: the Host must be one of the kit's names (DNS rebinding → 421);
 * a state-changing request with an Origin must come from the kit's own origin (403). Then the
 * route's declared `config.access`: a session (trainer cookie, TV cookie or the loopback kiosk)
 * for every /api route but login and pairing; TVs only where the route allows them; the CSRF
 * token on state-changing requests; `whenLocked: 'refuse'` routes answer 423 while the kit is locked.
 */
export const guardPlugin = fp(
  async (app: FastifyInstance, opts: { ctx: WebContext }) => {
    const { ctx } = opts;
    app.decorateRequest('caller', null);
    app.addHook('onRequest', async (req) => {
      if (!ctx.hosts.allows(req.headers.host)) {
        throw new AppError('MISDIRECTED', ctx.hosts.describeRefusal(req.headers.host), { field: 'headers.host', reason: 'host_not_kit' });
      }
      const url = req.url.split('?')[0] ?? '';
      const unsafe = !SAFE_METHODS.has(req.method);
      if (unsafe) {
        const problem = originProblem(req.headers.origin, isHttps(req.raw), req.headers.host);
        if (problem) throw new AppError('FORBIDDEN', problem, { field: 'headers.origin', reason: 'cross_origin' });
      }
      const access = accessOf(req, url);
      if (access === 'public') return;
      const caller = findCaller(ctx, req);
      req.caller = caller;
      // Logging in and pairing are how a session starts (the Origin check above still applies).
      if (access === 'session-start' && !isLoopbackRequest(req.raw)) return;
      if (!caller) {
        throw new AppError('UNAUTHORIZED', 'log in first: POST /api/login with the trainer PIN, or pair a TV with POST /api/tv/pair (eerst inloggen)', {
          reason: 'login_required',
        });
      }
      if (caller.role === 'viewer') {
        const refusal = viewerRefusal(ctx, req, access, url);
        if (refusal) throw new AppError('FORBIDDEN', refusal, { reason: 'viewer_not_allowed' });
      }
      if (unsafe) checkCsrf(req, caller);
      if (caller.role !== 'trainer') return;
      if (req.routeOptions.config.idle !== 'ignore') ctx.presentation.touch();
      // A locked kit (the phone handed over, or idle) shows no library and no cases; recording,
      // marking, status and the camera preview go on.
      if (!ctx.deps.keys.unlocked && req.routeOptions.config.whenLocked === 'refuse') {
        throw new AppError(
          'LOCKED',
          `the kit is locked: unlock it with the trainer PIN (POST /api/unlock) for ${req.method} ${req.routeOptions.url} (de kit is vergrendeld)`,
          { reason: 'kit_locked' },
        );
      }
    });
  },
  { name: 'vht-guard', dependencies: ['@fastify/cookie'] },
);
