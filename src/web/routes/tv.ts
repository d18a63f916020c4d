import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../core/errors.js';
import { CSRF_COOKIE, VIEWER_COOKIE } from '../auth.js';
import { callerOf, cookieOpts, noContentReply, openEventStream, stillAlive, trainerOf, type WebContext } from '../context.js';
import {
  ackBody,
  controlBody,
  controlReply,
  emptyBody,
  hotspotReply,
  mediaBody,
  noContent,
  pairBody,
  pairingReply,
  presentBody,
  presentReply,
  replies,
  sessionReply,
  tvKeyBody,
  tvStateReply,
} from '../schemas.js';
import { cookie, isLoopbackRequest } from '../security.js';
import { scopeChecks } from '../team-scope.js';

/** Presenting on the family's TV (the phone's side) and the TV page's own routes: pairing, state, events, acks. */
export async function tvRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { deps, presentation } = ctx;
  const now = () => deps.clock.now();
  const guarded = { access: 'trainer', whenLocked: 'refuse' } as const;

  app.post(
    '/api/tv/pairing',
    {
      config: guarded,
      schema: { summary: 'Make a TV pairing code (6 digits)', body: emptyBody, response: replies({ 200: pairingReply }) },
    },
    async () => {
      const p = ctx.pairing.create();
      deps.catalogue.audit('tv.pairing', now());
      return p;
    },
  );

  app.post(
    '/api/tv/pair',
    {
      config: { access: 'session-start' },
      schema: { summary: 'Pair a TV with the code shown on the phone', body: pairBody, response: replies({ 200: sessionReply }) },
    },
    async (req, reply) => {
      // Failures are audited only while a code waits (at most 5 per code), so that requests without
      // any code cannot fill the audit log.
      const waiting = ctx.pairing.waiting;
      try {
        ctx.pairing.redeem(req.body.code);
      } catch (err) {
        if (waiting) deps.catalogue.audit('tv.pair.failed', now());
        throw err;
      }
      const { token: t, csrf } = ctx.viewers.create();
      deps.catalogue.audit('tv.paired', now());
      deps.bus.emit('tv.paired', { at: now() });
      const maxAge = Math.round(ctx.viewerIdleMs / 1000);
      reply.header('set-cookie', [cookie(VIEWER_COOKIE, t, cookieOpts(req, true, maxAge)), cookie(CSRF_COOKIE, csrf, cookieOpts(req, false, maxAge))]);
      return { role: 'viewer' as const, csrf, locked: !deps.keys.unlocked };
    },
  );

  app.get(
    '/api/tv/state',
    {
      config: { access: 'viewer' },
      schema: { summary: 'What the TV may know of the presented clip', response: replies({ 200: tvStateReply }) },
    },
    async () => presentation.tvState(),
  );

  // The Wi-Fi join code holds the passphrase: only the kit's own HDMI screen (loopback) shows it.
  app.get(
    '/api/tv/hotspot',
    {
      config: { access: 'viewer' },
      schema: { summary: "The kit's Wi-Fi join code (loopback kiosk only)", response: replies({ 200: hotspotReply }) },
    },
    async (req) => {
      if (!isLoopbackRequest(req.raw)) {
        throw new AppError('FORBIDDEN', "the Wi-Fi join code is shown only on the kit's own HDMI screen (loopback listener)", {
          reason: 'hotspot_loopback_only',
        });
      }
      // ... and only while a trainer is logged in: not to whoever is in the room with an idle kit.
      const info = ctx.sessions.anyAlive() ? (deps.hotspot?.() ?? null) : null;
      return info === null ? { ssid: null, qrSvg: null } : info;
    },
  );

  // A key on the TV within a review the trainer presents now: previous/next item, speed, play/pause.
  app.post(
    '/api/tv/keys',
    {
      config: { access: 'viewer' },
      schema: { summary: 'A TV key within a presented review (the phone follows)', body: tvKeyBody, response: replies({ 200: presentReply }) },
    },
    async (req) => {
      const { review, player } = presentation.key(req.body);
      return { clipId: null, review, player };
    },
  );

  app.post(
    '/api/tv/ack',
    {
      config: { access: 'viewer' },
      schema: { summary: 'The TV carried out command id', body: ackBody, response: replies({ 204: noContent }) },
    },
    async (req, reply) => {
      deps.bus.emit('tv.ack', { id: req.body.id });
      noContentReply(reply);
    },
  );

  app.get(
    '/api/tv/events',
    {
      config: { access: 'viewer' },
      schema: { summary: 'Server-sent events for the TV: present, tv.control', response: { 200: mediaBody('text/event-stream') } },
    },
    (req: FastifyRequest, reply: FastifyReply) => {
      // at most MAX_STREAMS_PER_SESSION per session (429 beyond); the slot frees when the stream closes
      req.raw.on('close', ctx.streams.acquire(callerOf(req).key));
      const write = openEventStream(req, reply, stillAlive(ctx, callerOf(req)));
      const item = presentation.presentedItem;
      write('present', item ? { clipId: null, review: item, player: presentation.playerState } : { clipId: presentation.presented });
      const offs = [deps.bus.on('present', (p) => write('present', p)), deps.bus.on('tv.control', (c) => write('tv.control', c))];
      req.raw.on('close', () => offs.forEach((off) => off()));
    },
  );
}

/** Presenting on the family's TV from the phone: a clip or a review item, next/previous, player commands. */
export async function presentRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { presentation } = ctx;
  const guarded = { access: 'trainer', whenLocked: 'refuse' } as const;
  // a trainer presents only reviews of their cases (403 not_your_case; an unknown review is the presentation's 404); the TV keeps to the presented item
  const theirReview = (id: string, trainer: string) => {
    if (ctx.deps.catalogue.reviewLedger.review(id)) scopeChecks(ctx).review(id, trainer);
  };

  app.post(
    '/api/present',
    {
      config: guarded,
      schema: { summary: 'Show a clip, or an item of a review, on the TV', body: presentBody, response: replies({ 200: presentReply }) },
    },
    async (req) => {
      const { clipId, reviewId, item } = req.body;
      if (reviewId !== undefined && item !== undefined) {
        theirReview(reviewId, trainerOf(req));
        const review = presentation.presentItem(reviewId, item, { sessionKey: callerOf(req).key, source: 'phone' });
        return { clipId: null, review, player: presentation.playerState };
      }
      return { clipId: presentation.present(ctx.team.assertClip(ctx.library.getClip(clipId!), trainerOf(req))) };
    },
  );
  for (const [path, direction] of [
    ['/api/present/next', 1],
    ['/api/present/previous', -1],
  ] as const) {
    app.post(
      path,
      {
        config: guarded,
        schema: {
          summary: `The ${direction > 0 ? 'next' : 'previous'} item of the presented review`,
          body: emptyBody,
          response: replies({ 200: presentReply }),
        },
      },
      async (req) => {
        const presented = presentation.presentedItem;
        if (presented) theirReview(presented.reviewId, trainerOf(req));
        return { clipId: null, review: presentation.step(direction, { sessionKey: callerOf(req).key, source: 'phone' }), player: presentation.playerState };
      },
    );
  }
  app.get(
    '/api/present',
    {
      config: { access: 'trainer' },
      schema: { summary: 'What is on the TV (a clip or a review item) and the player state', response: replies({ 200: presentReply }) },
    },
    async () => {
      const review = presentation.presentedItem;
      return review ? { clipId: null, review, player: presentation.playerState } : { clipId: presentation.presented };
    },
  );
  app.delete(
    '/api/present',
    {
      config: { access: 'trainer' },
      schema: { summary: 'Nothing on the TV', response: replies({ 200: presentReply }) },
    },
    async () => {
      presentation.end({ visitOver: false });
      return { clipId: null };
    },
  );

  // The phone drives the TV's player; the TV answers each command with tv.ack {id}.
  app.post(
    '/api/present/control',
    {
      config: guarded,
      schema: { summary: 'A player command for the TV', body: controlBody, response: replies({ 200: controlReply }) },
    },
    async (req) => ({ id: presentation.control(req.body) }),
  );
}
