import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../core/errors.js';
import { CSRF_COOKIE, pinMatches, SESSION_COOKIE } from '../auth.js';
import { callerOf, cookieOpts, noContentReply, type WebContext } from '../context.js';
import { emptyBody, noContent, pinBody, replies, sessionReply } from '../schemas.js';
import { cookie } from '../security.js';

/**
 * Checks a PIN: the sealed master key is the authority once it exists (the check unlocks it);
 * before enrolment, the configured PIN. Wrong PINs count toward a growing lock-out.
 */
async function checkPinAndUnlock(ctx: WebContext, pin: string): Promise<void> {
  const { deps, sessions } = ctx;
  sessions.assertAttemptAllowed();
  let ok: boolean;
  if (deps.keys.hasMaster) {
    ok = await deps.keys.unlock(pin);
  } else {
    const configured = deps.pin();
    if (configured === null) {
      throw new AppError('NOT_CONFIGURED', 'no trainer PIN is configured: enrol the kit (vht-kit enrol) or set auth.pin (VHT_KIT_PIN)', { field: 'auth.pin', reason: 'pin_not_configured' });
    }
    ok = pinMatches(configured, pin);
  }
  if (!ok) {
    const { failures, lockedForMs } = sessions.failed();
    deps.catalogue.audit('pin.failed', deps.clock.now(), null, { failures, lockedForMs });
    deps.logger.warn('wrong PIN', { failures, lockedForMs });
    throw new AppError('UNAUTHORIZED', 'wrong PIN (verkeerde pincode)', { field: 'pin', reason: 'pin_wrong', params: { failures } });
  }
  sessions.succeeded();
  ctx.presentation.touch();
}

/** Login, the session, logout, lock (phone handed over) and unlock. */
export async function authRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { deps } = ctx;
  const now = () => deps.clock.now();

  app.post('/api/login', {
    config: { access: 'session-start' },
    schema: { summary: 'Log in with the trainer PIN (unlocks the playback key)', body: pinBody, response: replies({ 204: noContent }) },
  }, async (req, reply) => {
    await checkPinAndUnlock(ctx, req.body.pin);
    const { token: t, csrf } = ctx.sessions.create();
    deps.catalogue.audit('login', now(), null, { unlocked: deps.keys.unlocked });
    const maxAge = Math.round(deps.sessionIdleMs / 1000) * 48;
    reply
      .header('set-cookie', [cookie(SESSION_COOKIE, t, cookieOpts(req, true, maxAge)), cookie(CSRF_COOKIE, csrf, cookieOpts(req, false, maxAge))])
      ;
    noContentReply(reply);
  });

  app.get('/api/session', {
    config: { access: 'viewer' },
    schema: { summary: 'Who is asking: role, CSRF token, locked', response: replies({ 200: sessionReply }) },
  }, async (req) => {
    const c = callerOf(req);
    return { role: c.role, csrf: c.csrf, locked: !deps.keys.unlocked };
  });

  app.post('/api/logout', {
    config: { access: 'trainer' },
    schema: { summary: 'Log out; the last logout ends the visit (key dropped, TVs unpaired)', response: replies({ 204: noContent }) },
  }, async (req, reply) => {
    const t = req.cookies[SESSION_COOKIE];
    if (t !== undefined) ctx.presentation.forgetViews(t);
    ctx.sessions.destroy(t);
    if (ctx.sessions.count === 0) {
      // The visit is over: no key, nothing on the TV, and every paired TV must pair again.
      deps.keys.lock();
      ctx.presentation.end({ visitOver: true });
    }
    deps.catalogue.audit('logout', now(), null, { locked: !deps.keys.unlocked });
    reply
      .header('set-cookie', [cookie(SESSION_COOKIE, '', cookieOpts(req, true, 0)), cookie(CSRF_COOKIE, '', cookieOpts(req, false, 0))])
      ;
    noContentReply(reply);
  });

  // The trainer hands the phone over: the session stays, playback needs the PIN again.
  app.post('/api/lock', {
    config: { access: 'trainer' },
    schema: { summary: 'Lock the kit (the session stays)', body: emptyBody, response: replies({ 204: noContent }) },
  }, async (_req, reply) => {
    ctx.presentation.lock();
    noContentReply(reply);
  });

  app.post('/api/unlock', {
    config: { access: 'trainer' },
    schema: { summary: 'Unlock with the trainer PIN', body: pinBody, response: replies({ 204: noContent }) },
  }, async (req, reply) => {
    await checkPinAndUnlock(ctx, req.body.pin);
    deps.catalogue.audit('unlock', now());
    noContentReply(reply);
  });
}
