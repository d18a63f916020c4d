import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../core/errors.js';
import { CSRF_COOKIE, pinMatches, SESSION_COOKIE } from '../auth.js';
import { callerOf, cookieOpts, noContentReply, type WebContext } from '../context.js';
import { emptyBody, loginBody, noContent, pinBody, replies, sessionReply } from '../schemas.js';
import { cookie } from '../security.js';

/**
 * Checks a PIN: the sealed master key is the authority once it exists (the check unlocks it);
 * before enrolment, the configured PIN. Attempts are counted before the (slow, scrypt) check, so
 * parallel guesses cannot outrun the lock-out (PinLockout: 5 free, then 30 s doubling to 15 min).
 */
async function checkPinAndUnlock(ctx: WebContext, pin: string): Promise<void> {
  const { deps } = ctx;
  const configured = deps.keys.hasMaster ? null : deps.pin();
  if (!deps.keys.hasMaster && configured === null) {
    throw new AppError('NOT_CONFIGURED', 'no trainer PIN is configured: enrol the kit (vht-kit enrol) or set auth.pin (VHT_KIT_PIN)', {
      field: 'auth.pin',
      reason: 'pin_not_configured',
    });
  }
  const { ok, failures, lockedForMs } = await ctx.pinLockout.attempt(async () => (deps.keys.hasMaster ? deps.keys.unlock(pin) : pinMatches(configured!, pin)));
  if (!ok) {
    auditSession(ctx, 'pin.failed', { failures, lockedForMs });
    deps.logger.warn('wrong PIN', { failures, lockedForMs });
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
      schema: { summary: 'Log in with the trainer PIN (unlocks the playback key)', body: loginBody, response: replies({ 204: noContent }) },
    },
    async (req, reply) => {
      await checkPinAndUnlock(ctx, req.body.pin);
      await deps.phoneTime?.(req.body.clientTime);
      const { token: t, csrf } = ctx.sessions.create();
      auditSession(ctx, 'login', { unlocked: deps.keys.unlocked });
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
      return { role: c.role, csrf: c.csrf, locked: !deps.keys.unlocked };
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
      await checkPinAndUnlock(ctx, req.body.pin);
      auditSession(ctx, 'unlock');
      noContentReply(reply);
    },
  );
}
