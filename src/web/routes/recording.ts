import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError, describeError } from '../../core/errors.js';
import { sendMedia, trainerOf, type WebContext } from '../context.js';
import { livePlaylist } from '../hls.js';
import {
  emptyBody,
  liveParams,
  markerLabel,
  markerReply,
  mediaBody,
  recorderStateReply,
  replies,
  startBody,
  startReply,
  statusReply,
  stopReply,
} from '../schemas.js';

/** The kit's status for the remote: recorder, storage, camera, lock, uploads, battery, dock. */
export function kitStatus(ctx: WebContext): z.infer<typeof statusReply> {
  const { deps } = ctx;
  const h = deps.hardware();
  return statusReply.parse({
    ...deps.recorder.status(),
    locked: !deps.keys.unlocked,
    uploads: deps.privacy.uploadWarnings(),
    battery: h.battery ? { percent: h.battery.percent, charging: h.battery.charging } : null,
    docked: h.docked,
    ...(deps.time ? { time: deps.time() } : {}),
  });
}

/** The recorder: status, arm/disarm, takes, markers, and the camera preview (the RAM ring's live tail). */
export async function recordingRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { recorder, privacy } = ctx.deps;
  const trainer = { access: 'trainer' } as const;

  app.get('/api/status', { config: trainer, schema: { summary: "The kit's status", response: replies({ 200: statusReply }) } }, async () => kitStatus(ctx));

  // A kit configured not to arm at start-up arms when the visit starts (pre-roll from then on).
  app.post(
    '/api/recording/arm',
    {
      config: trainer,
      schema: { summary: 'Arm the camera (pre-roll from now on)', body: emptyBody, response: replies({ 200: recorderStateReply }) },
    },
    async () => {
      recorder.arm();
      return { state: recorder.state };
    },
  );

  app.post(
    '/api/recording/disarm',
    {
      config: trainer,
      schema: { summary: 'Disarm the camera', body: emptyBody, response: replies({ 200: recorderStateReply }) },
    },
    async () => {
      await recorder.disarm();
      return { state: recorder.state };
    },
  );

  app.post(
    '/api/recording/start',
    {
      config: trainer,
      schema: { summary: 'Start a take (from now minus the pre-roll)', body: startBody, response: replies({ 200: startReply }) },
    },
    async (req) => {
      const code = req.body.caseCode ?? null;
      const trainer = trainerOf(req);
      if (code !== null) ctx.team.assertCase(code, trainer);
      if (req.body.reviewId !== undefined) {
        if (code === null)
          throw new AppError('VALIDATION', 'body.caseCode: needed with reviewId (the review talk belongs to the case)', {
            field: 'body.caseCode',
            reason: 'case_needed_for_review_talk',
          });
        return ctx.reviewTalk.start(code, req.body.reviewId);
      }
      const consent = code === null ? null : privacy.consentForRecording(code);
      if (code !== null) ctx.team.madeHere(code, trainer);
      return recorder.startTake(code, consent);
    },
  );

  app.post(
    '/api/recording/stop',
    {
      config: trainer,
      schema: { summary: 'Stop the take', body: emptyBody, response: replies({ 200: stopReply }) },
    },
    async () => recorder.stopTake('stopped by the trainer'),
  );

  app.post(
    '/api/markers',
    {
      config: trainer,
      schema: {
        summary: 'Mark a moment in the running take',
        body: z.object({ label: markerLabel(ctx.deps.markerLabels).nullable().optional() }).strict(),
        response: replies({ 200: markerReply }),
      },
    },
    async (req) => {
      const { markerId, offsetMs } = recorder.mark(req.body.label ?? null);
      return { markerId, offsetMs };
    },
  );

  // --- the remote's camera preview: the live tail of the RAM ring (trainer only) ---
  const liveArmed = () => {
    if (recorder.state !== 'armed' && recorder.state !== 'recording') {
      throw new AppError('CONFLICT', `the camera is not armed (state ${recorder.state}): arm it for a preview (POST /api/recording/arm)`, {
        reason: 'camera_not_armed',
        params: { state: recorder.state },
      });
    }
  };
  app.get(
    '/api/live.m3u8',
    {
      config: trainer,
      schema: { summary: 'The camera preview as a live HLS playlist', response: replies({ 200: mediaBody('application/vnd.apple.mpegurl') }) },
    },
    async (_req, reply) => {
      liveArmed();
      return sendMedia(reply, 'application/vnd.apple.mpegurl', livePlaylist(recorder.liveSegments()));
    },
  );
  app.get(
    '/api/live/:name',
    {
      config: trainer,
      schema: { summary: 'A preview segment (MPEG-TS)', params: liveParams, response: replies({ 200: mediaBody('video/mp2t') }) },
    },
    async (req, reply) => {
      const { name } = req.params;
      liveArmed();
      const gone = (cause?: unknown) =>
        new AppError('NOT_FOUND', `live segment ${name} is no longer in the ring (reload the playlist)`, {
          field: 'params.name',
          reason: 'live_segment_gone',
          cause,
        });
      const seg = recorder.liveSegment(name);
      if (!seg) throw gone();
      let data: Buffer;
      try {
        data = await readFile(seg.path);
      } catch (err) {
        ctx.deps.logger.debug('live segment left the ring while read', { name, error: describeError(err) });
        throw gone(err);
      }
      return sendMedia(reply, 'video/mp2t', data);
    },
  );
}
