import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../core/errors.js';
import { CSRF_COOKIE, pinMatches, SESSION_COOKIE } from '../auth.js';
import { callerOf, cookieOpts, noContentReply, trainerOf, type WebContext } from '../context.js';
import { emptyBody, loginBody, noContent, pinBody, replies, sessionReply } from '../schemas.js';
import { cookie } from '../security.js';

/**
 * Checks a trainer's PIN: their sealed wrapping key is the authority once the kit has trainers
 * (the check unlocks it); before enrolment, the configured PIN (the first trainer's). Attempts are
 * counted before the (slow, scrypt) check, per trainer id and kit-wide, so parallel guesses and one
 * PIN tried against many ids cannot outrun the lock-out (PinLockout). An unknown id answers like a
 * wrong PIN, as slowly, so the kit lists no trainer ids to a client that has not signed in.
 */
async function checkPinAndUnlock(ctx: WebContext, pin: string, trainerId: string): Promise<void> {
  const { deps } = ctx;
  const configured = deps.keys.hasMaster ? null : deps.pin();
  if (!deps.keys.hasMaster && configured === null) {
    throw new AppError('NOT_CONFIGURED', 'no trainer PIN is configured: enrol the kit (vht-kit enrol) or set auth.pin (VHT_KIT_PIN)', {
      field: 'auth.pin',
      reason: 'pin_not_configured',
    });
  }
  const check = async () => (deps.keys.hasMaster ? deps.keys.unlock(pin, trainerId) : trainerId === deps.keys.defaultTrainerId && pinMatches(configured!, pin));
  const { ok, failures, lockedForMs } = await ctx.pinLockout.attempt(check, trainerId);
  if (!ok) {
    auditSession(ctx, 'pin.failed', { trainer: trainerId, failures, lockedForMs });
    deps.logger.warn('wrong PIN', { trainer: trainerId, failures, lockedForMs });
    throw new AppError('UNAUTHORIZED', 'wrong PIN (verkeerde pincode)', { field: 'pin', reason: 'pin_wrong', params: { failures } });
  }
  ctx.presentation.touch();
}

/** Login, unlock and logout go on when a card full past the catalogue's reserve refuses their audit entry (logged instead). */
function auditSession(ctx: WebContext, type: string, details: Record<string, unknown> = {}): void {
  try {
    ctx.deps.catalogue.audit(type, ctx.deps.clock.now(), null, details);
  } catch (err) {
    if (!(err instanceof AppError && err.code === 'STORAGE_FULL')) throw err;
    ctx.deps.logger.error('audit entry not written: the card is full', { type });
  }
}

/** Login, the session, logout, lock (phone handed over) and unlock. */
export async function authRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { deps } = ctx;

  app.post(
    '/api/login',
    {
      config: { access: 'session-start' },
      schema: {
        summary: "Sign in with the trainer id and PIN (unlocks the trainer's keys); without an id, the kit's first trainer (a one-PIN kit)",
        body: loginBody,
        response: replies({ 204: noContent }),
      },
    },
    async (req, reply) => {
      const trainerId = req.body.trainerId ?? deps.keys.defaultTrainerId;
      await checkPinAndUnlock(ctx, req.body.pin, trainerId);
      // only a signed-in trainer's phone may set the app clock (after the PIN check)
      await deps.phoneTime?.(req.body.clientTime);
      // The kit is one trainer's at a time: another trainer's sessions end, and their TVs must pair again.
      const ended = ctx.sessions.endOthers(trainerId);
      for (const t of ended) ctx.presentation.forgetViews(t);
      if (ended.length > 0) ctx.presentation.end({ visitOver: true });
      const { token: t, csrf } = ctx.sessions.create(trainerId);
      auditSession(ctx, 'login', { unlocked: deps.keys.unlocked, trainer: trainerId, endedSessions: ended.length });
      const maxAge = Math.round(deps.sessionIdleMs / 1000) * 48;
      reply.header('set-cookie', [cookie(SESSION_COOKIE, t, cookieOpts(req, true, maxAge)), cookie(CSRF_COOKIE, csrf, cookieOpts(req, false, maxAge))]);
      noContentReply(reply);
    },
  );

  app.get(
    '/api/session',
    {
      config: { access: 'viewer' },
      schema: { summary: 'Who is asking: role, CSRF token, locked', response: replies({ 200: sessionReply }) },
    },
    async (req) => {
      const c = callerOf(req);
      return { role: c.role, csrf: c.csrf, locked: !deps.keys.unlocked, ...(c.trainerId !== undefined ? { trainerId: c.trainerId } : {}) };
    },
  );

  app.post(
    '/api/logout',
    {
      config: { access: 'trainer' },
      schema: { summary: 'Log out; the last logout ends the visit (key dropped, TVs unpaired)', response: replies({ 204: noContent }) },
    },
    async (req, reply) => {
      const t = req.cookies[SESSION_COOKIE];
      if (t !== undefined) ctx.presentation.forgetViews(t);
      ctx.sessions.destroy(t);
      if (ctx.sessions.count === 0) {
        // The visit is over: no key, nothing on the TV, and every paired TV must pair again.
        deps.keys.lock();
        ctx.presentation.end({ visitOver: true });
      }
      auditSession(ctx, 'logout', { locked: !deps.keys.unlocked });
      reply.header('set-cookie', [cookie(SESSION_COOKIE, '', cookieOpts(req, true, 0)), cookie(CSRF_COOKIE, '', cookieOpts(req, false, 0))]);
      noContentReply(reply);
    },
  );

  // The trainer hands the phone over: the session stays, playback needs the PIN again.
  app.post(
    '/api/lock',
    {
      config: { access: 'trainer' },
      schema: { summary: 'Lock the kit (the session stays)', body: emptyBody, response: replies({ 204: noContent }) },
    },
    async (_req, reply) => {
      ctx.presentation.lock();
      noContentReply(reply);
    },
  );

  app.post(
    '/api/unlock',
    {
      config: { access: 'trainer' },
      schema: { summary: 'Unlock with the trainer PIN', body: pinBody, response: replies({ 204: noContent }) },
    },
    async (req, reply) => {
      await checkPinAndUnlock(ctx, req.body.pin, trainerOf(req));
      auditSession(ctx, 'unlock');
      noContentReply(reply);
    },
  );
}
