import { randomBytes } from 'node:crypto';
import cookiePlugin from '@fastify/cookie';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler } from 'fastify-type-provider-zod';
import { STILL_MAX_BYTES } from '../core/media.js';
import { Library } from '../session/library.js';
import { Fragments } from '../session/fragments.js';
import { KeptStills } from '../session/kept-stills.js';
import { Playback } from '../session/playback.js';
import { ReviewNotes } from '../session/review-notes.js';
import { ReviewTalk } from '../session/review-talk.js';
import { Reviews } from '../session/review.js';
import { Presentation } from '../session/presentation.js';
import { Team } from '../session/team.js';
import { Sessions } from './auth.js';
import type { AppDeps, WebContext } from './context.js';
import { errorsPlugin, frameworkErrors } from './plugins/errors.js';
import { guardPlugin } from './plugins/guard.js';
import { headersPlugin } from './plugins/headers.js';
import { authRoutes } from './routes/auth.js';
import { caseRoutes } from './routes/cases.js';
import { clipPlaybackRoutes, clipRoutes } from './routes/clips.js';
import { fragmentRoutes, keptStillRoutes } from './routes/fragments.js';
import { reviewRoutes } from './routes/reviews.js';
import { recordingRoutes } from './routes/recording.js';
import { siteRoutes } from './routes/site.js';
import { syncRoutes } from './routes/sync.js';
import { presentRoutes, tvRoutes } from './routes/tv.js';
import { HostCheck, TvPairing } from './security.js';
import { findUiBuildDir, UiFiles } from './static.js';
import { zodValidatorCompiler } from './validate.js';
import { installJsonDepthLimit, StreamLimit } from './json-limits.js';
import { PinLockout } from './pin-lockout.js';

export type { AppDeps } from './context.js';

/** A TV session stays valid this long without a request (a TV may sit paused for a while). */
const VIEWER_IDLE_MS = 12 * 60 * 60_000;

/** The web layer's state and the session use-cases it calls, made from the dependencies. */
function makeContext(deps: AppDeps): WebContext {
  const fps = deps.fps ?? 25;
  const sessions = new Sessions(deps.clock, deps.sessionIdleMs);
  const presentation = new Presentation({
    sessionAlive: (key) => sessions.alive(key),
    catalogue: deps.catalogue,
    keys: deps.keys,
    privacy: deps.privacy,
    bus: deps.bus,
    clock: deps.clock,
    logger: deps.logger,
    lockAfterIdleMs: deps.lockAfterIdleMs,
    fps,
  });
  const library = new Library({ catalogue: deps.catalogue, clips: deps.clips, privacy: deps.privacy, presentation, bus: deps.bus, clock: deps.clock });
  const playback = new Playback({ catalogue: deps.catalogue, clips: deps.clips, keys: deps.keys, library, presentation });
  const viewers = new Sessions(deps.clock, VIEWER_IDLE_MS);
  // At the end of a visit (idle lock, last logout) every paired TV must pair again.
  presentation.onVisitOver(() => viewers.clear());
  return {
    deps,
    presentation,
    library,
    playback,
    team: new Team({ catalogue: deps.catalogue, keys: deps.keys, clock: deps.clock }),
    viewers,
    fps,
    sessions,
    ...reviewCycle(deps, library, presentation),
    pairing: new TvPairing(deps.clock, (deps.pairingCodeMinutes ?? 10) * 60_000),
    hosts: new HostCheck(deps.kitId ?? 'vht-kit', deps.allowedHosts ?? [], deps.hostname),
    ui: new UiFiles(deps.uiDir ?? findUiBuildDir()),
    loopbackCsrf: randomBytes(24).toString('base64url'),
    viewerIdleMs: VIEWER_IDLE_MS,
    pinLockout: deps.pinLockout ?? new PinLockout({ clock: deps.clock, file: null, logger: deps.logger }),
    streams: new StreamLimit(),
  };
}

/** The review cycle's use-cases (issue 19). */
function reviewCycle(deps: AppDeps, library: Library, presentation: Presentation) {
  const { catalogue, keys, privacy, bus, clock } = deps;
  const store = deps.fragmentStore;
  const notes = new ReviewNotes(keys, store);
  const leads = { leadInMs: deps.playback?.markerLeadInMs ?? 3000, leadOutMs: deps.playback?.fragmentLeadOutMs ?? 7000 };
  const common = { catalogue, store, keys, notes, library, privacy, bus, clock };
  return {
    fragments: new Fragments({ ...common, logger: deps.logger, ...leads }),
    keptStills: new KeptStills(common),
    reviews: new Reviews({ catalogue, keys, privacy, clock }),
    reviewTalk: new ReviewTalk({
      catalogue,
      privacy,
      recorder: deps.recorder,
      setPurposes: (id, wanted) => library.setPurposes(id, wanted),
      presentedItem: () => presentation.presentedItem,
      bus,
      clock,
      logger: deps.logger,
    }),
  };
}

/**
 * Builds the Fastify app apart from `listen`, so tests use `inject()`: the headers, errors and
 * guard plugins, then the routes by domain (each declares its schemas and its access).
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, trustProxy: false, forceCloseConnections: true, frameworkErrors });
  const ctx = makeContext(deps);
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Deep nesting is refused before parsing (400); event streams per session are capped (ctx.streams).
  installJsonDepthLimit(app);
  // A still is a JPEG body (the only non-JSON body), up to the still limit.
  app.addContentTypeParser('image/jpeg', { parseAs: 'buffer', bodyLimit: STILL_MAX_BYTES }, (_req, body, done) => done(null, body));
  app.addHook('onClose', async () => {
    ctx.presentation.close();
    ctx.reviewTalk.close();
  });

  await app.register(headersPlugin);
  await app.register(errorsPlugin, { logger: deps.logger });
  await app.register(cookiePlugin);
  await app.register(guardPlugin, { ctx });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'VHT Kit', version: '1', description: "The kit's HTTP API: the trainer's phone and the family's TV." },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  for (const routes of [
    authRoutes,
    recordingRoutes,
    clipRoutes,
    clipPlaybackRoutes,
    fragmentRoutes,
    keptStillRoutes,
    reviewRoutes,
    presentRoutes,
    tvRoutes,
    caseRoutes,
    syncRoutes,
    siteRoutes,
  ]) {
    await app.register(routes, { ctx });
  }
  return app;
}
