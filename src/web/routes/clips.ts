import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { AppError } from '../../core/errors.js';
import type { ClipRow } from '../../store/catalogue.js';
import { callerOf, sendMedia, trainerOf, type WebContext } from '../context.js';
import { clipPlaylist } from '../hls.js';
import {
  assignBody,
  clipDetail,
  clipIdParams,
  clipListQuery,
  clipListReply,
  clipMarkerBody,
  clipSummary,
  deleteBody,
  deleteReply,
  markerReply,
  mediaBody,
  purposesBody,
  replies,
  segmentParams,
  stillParams,
  stillQuery,
  stillReply,
} from '../schemas.js';

type Kept = { fragments: number; keptStills: number };

/** A clip as the library lists it; `kept`: its fragments and kept stills on the kit (issue 19). */
export function summary(c: ClipRow, kept: Kept = { fragments: 0, keptStills: 0 }): z.infer<typeof clipSummary> {
  return {
    id: c.id,
    caseCode: c.caseCode,
    visitId: c.visitId,
    state: c.state,
    unassigned: c.caseCode === null,
    createdAt: c.createdAt,
    startedAt: c.originMs,
    stoppedAt: c.stoppedAt,
    preRollMs: c.preRollMs,
    pressMs: c.originMs === null ? 0 : Math.max(0, c.requestedAt - c.originMs),
    durationMs: c.durationMs,
    segmentCount: c.segmentCount,
    markerCount: c.markerCount,
    bytes: c.bytes,
    stopReason: c.stopReason,
    consent: c.consent,
    purposes: c.purposes,
    uploaded: c.uploadedAt !== null,
    deleteRequested: c.deleteRequestedAt !== null,
    place: { onKit: true, atOrganisation: c.uploadedAt !== null, fragments: kept.fragments, keptStills: kept.keptStills },
  };
}

/** Every route of the plugin with a clip id: a trainer reaches only the clips of their cases (403 for others'). */
function onlyTheirClips(fastify: FastifyInstance, ctx: WebContext): void {
  fastify.addHook('preHandler', async (req) => {
    const id = (req.params as { id?: unknown } | undefined)?.id;
    if (typeof id !== 'string' || req.caller?.role !== 'trainer') return;
    ctx.team.assertClip(ctx.library.getClip(id), trainerOf(req));
  });
}

/** The library's list: the trainer's clips on the kit, and erased ones of their cases of which fragments or stills are kept. */
function clipList(ctx: WebContext, trainer: string, limit: number, offset: number): z.infer<typeof clipListReply> {
  const { catalogue } = ctx.deps;
  const counts = catalogue.reviewLedger.keptCounts();
  const none = { fragments: 0, keptStills: 0 };
  return {
    clips: ctx.team.clips(trainer, limit, offset).map((c) => summary(c, counts.get(c.id) ?? none)),
    removed:
      offset > 0
        ? []
        : catalogue.reviewLedger
            .erasedClipsWithKept()
            .filter((e) => e.caseCode !== null && ctx.team.isOnCase(e.caseCode, trainer))
            .map((e) => ({
              id: e.clipId,
              caseCode: e.caseCode,
              visitId: e.visitId,
              createdAt: e.createdAt,
              durationMs: e.durationMs,
              place: { onKit: false, atOrganisation: e.uploadedAt !== null, ...(counts.get(e.clipId) ?? none) },
            })),
  };
}

/** The kept fragments and stills of one clip. */
function keptOf(ctx: WebContext, id: string): Kept {
  return ctx.deps.catalogue.reviewLedger.keptCounts().get(id) ?? { fragments: 0, keptStills: 0 };
}

/** The library: list and read clips (straight from the catalogue); markers, stills, case, purposes, delete (use-cases). */
export async function clipRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { catalogue } = ctx.deps;
  const { library } = ctx;
  const guarded = { access: 'trainer', whenLocked: 'refuse' } as const;
  onlyTheirClips(fastify, ctx);

  app.get(
    '/api/clips',
    {
      config: guarded,
      schema: { summary: "The signed-in trainer's clips, newest first", querystring: clipListQuery, response: replies({ 200: clipListReply }) },
    },
    async (req) => clipList(ctx, trainerOf(req), req.query.limit, req.query.offset),
  );

  app.get(
    '/api/clips/:id',
    {
      config: guarded,
      schema: { summary: 'One clip with its segments, markers and stills', params: clipIdParams, response: replies({ 200: clipDetail }) },
    },
    async (req) => {
      const { id } = req.params;
      const clip = library.getClip(id);
      return {
        ...summary(clip, keptOf(ctx, id)),
        segments: catalogue.segments(id).map((s) => ({
          seq: s.seq,
          startMs: s.startMs,
          durationMs: s.durationMs,
          bytes: s.bytes,
          sha256: s.sha256,
          discontinuity: s.discontinuity,
        })),
        markers: catalogue.markers(id).map((m) => ({ id: m.id, offsetMs: m.offsetMs, label: m.label, createdAt: m.createdAt })),
        stills: catalogue.stills(id).map((st) => ({ id: st.id, timeMs: st.timeMs, createdAt: st.createdAt, bytes: st.bytes })),
      };
    },
  );

  app.post(
    '/api/clips/:id/markers',
    {
      config: guarded,
      schema: {
        summary: 'Add a marker while reviewing',
        params: clipIdParams,
        body: clipMarkerBody(ctx.deps.markerLabels),
        response: replies({ 200: markerReply }),
      },
    },
    async (req) => library.addMarker(req.params.id, req.body.offsetMs, req.body.label),
  );

  app.post(
    '/api/clips/:id/stills',
    {
      config: guarded,
      schema: {
        summary: 'Save a still: the frame at t ms as a JPEG body (Content-Type image/jpeg, at most 2 MiB)',
        params: clipIdParams,
        querystring: stillQuery,
        response: replies({ 200: stillReply }),
      },
    },
    async (req) => {
      const body: unknown = req.body;
      if (!Buffer.isBuffer(body)) {
        const got = req.headers['content-type'] ?? '';
        throw new AppError('VALIDATION', `headers.content-type: send the still as image/jpeg (got ${JSON.stringify(got)})`, {
          field: 'headers.content-type',
          reason: 'still_content_type',
          params: { got },
        });
      }
      return library.addStill(req.params.id, req.query.t, new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    },
  );

  app.patch(
    '/api/clips/:id',
    {
      config: guarded,
      schema: { summary: 'Assign an unassigned clip to a case', params: clipIdParams, body: assignBody, response: replies({ 200: clipSummary }) },
    },
    async (req) => {
      const trainer = trainerOf(req);
      ctx.team.assertCase(req.body.caseCode, trainer);
      const clip = library.assign(req.params.id, req.body.caseCode);
      ctx.team.madeHere(req.body.caseCode, trainer);
      await ctx.team.shareWithCase(clip.id, req.body.caseCode);
      return summary(clip, keptOf(ctx, req.params.id));
    },
  );

  // Deleting asks for the clip id again. Footage goes only once the organisation has it.
  app.delete(
    '/api/clips/:id',
    {
      config: { access: 'trainer' },
      schema: {
        summary: 'Delete a clip (at once when uploaded, else after the upload)',
        params: clipIdParams,
        body: deleteBody,
        response: replies({ 200: deleteReply }),
      },
    },
    async (req) => {
      const { deleted } = await library.requestDelete(req.params.id, req.body.confirm);
      return {
        deleted,
        message: deleted
          ? 'deleted (verwijderd)'
          : 'will be deleted once the organisation has confirmed the upload (wordt verwijderd zodra de organisatie de opname heeft)',
      };
    },
  );

  // Uses beyond the home visit, allowed only by the case's consent.
  app.put(
    '/api/clips/:id/purposes',
    {
      config: guarded,
      schema: { summary: 'Set the uses beyond the visit', params: clipIdParams, body: purposesBody, response: replies({ 200: clipSummary }) },
    },
    async (req) => summary(library.setPurposes(req.params.id, req.body), keptOf(ctx, req.params.id)),
  );
}

/** Playback: the playlist, segments and stills, decrypted (a TV only for the presented clip). */
export async function clipPlaybackRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { catalogue } = ctx.deps;
  const { library } = ctx;
  onlyTheirClips(fastify, ctx);

  app.get(
    '/api/clips/:id/index.m3u8',
    {
      config: { access: 'presented', whenLocked: 'refuse' },
      schema: { summary: 'The clip as an HLS playlist', params: clipIdParams, response: replies({ 200: mediaBody('application/vnd.apple.mpegurl') }) },
    },
    async (req, reply) => {
      const { id } = req.params;
      const clip = library.getClip(id);
      ctx.presentation.auditView(callerOf(req).key, id);
      return sendMedia(reply, 'application/vnd.apple.mpegurl', clipPlaylist(clip.state, catalogue.segments(id)));
    },
  );

  app.get(
    '/api/clips/:id/segments/:file',
    {
      config: { access: 'presented' },
      schema: { summary: 'A segment, decrypted (MPEG-TS)', params: segmentParams, response: replies({ 200: mediaBody('video/mp2t') }) },
    },
    async (req, reply) => {
      const data = await ctx.playback.segment(req.params.id, Number.parseInt(req.params.file, 10), callerOf(req).key);
      return sendMedia(reply, 'video/mp2t', data);
    },
  );

  app.get(
    '/api/clips/:id/stills/:file',
    {
      config: { access: 'presented' },
      schema: { summary: 'A still, decrypted (JPEG)', params: stillParams, response: replies({ 200: mediaBody('image/jpeg') }) },
    },
    async (req, reply) => {
      const data = await ctx.playback.still(req.params.id, Number.parseInt(req.params.file, 10), callerOf(req).key);
      return sendMedia(reply, 'image/jpeg', data);
    },
  );
}
