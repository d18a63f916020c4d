import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { sendMedia, type WebContext } from '../context.js';
import { clipPlaylist } from '../hls.js';
import {
  clipIdParams,
  deleteReply,
  fragmentCreateBody,
  fragmentIdParams,
  fragmentListReply,
  fragmentPatchBody,
  fragmentReply,
  fragmentSegmentParams,
  keepStillBody,
  keptStillIdParams,
  keptStillListReply,
  keptStillPatchBody,
  keptStillReply,
  mediaBody,
  replies,
} from '../schemas.js';
import { onlyTheirs, scopeChecks } from '../team-scope.js';

const guarded = { access: 'trainer', whenLocked: 'refuse' } as const;

/** The answer to a delete of a fragment or kept still. */
function deleted(d: { deleted: boolean }): { deleted: boolean; message: string } {
  return {
    deleted: d.deleted,
    message: d.deleted ? 'deleted (verwijderd)' : 'will be deleted once the organisation has confirmed it (wordt verwijderd zodra de organisatie het heeft)',
  };
}

/** Fragments: chosen moments of a clip, kept under their own key for the review (issue 19). */
export async function fragmentRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { fragments } = ctx;
  const scope = scopeChecks(ctx);
  const theirClip = onlyTheirs(scope.clip);
  const theirFragment = onlyTheirs(scope.fragment);

  app.get(
    '/api/clips/:id/fragments',
    { config: guarded, preHandler: theirClip, schema: { summary: "A clip's fragments", params: clipIdParams, response: replies({ 200: fragmentListReply }) } },
    async (req) => ({ fragments: await fragments.list(req.params.id) }),
  );
  app.post(
    '/api/clips/:id/fragments',
    {
      config: guarded,
      preHandler: theirClip,
      schema: {
        summary: 'Save a fragment: in and out (ms from the first segment), or a marker with the lead-in and lead-out; a label; a note',
        params: clipIdParams,
        body: fragmentCreateBody,
        response: replies({ 200: fragmentReply }),
      },
    },
    async (req) => fragments.save(req.params.id, req.body),
  );
  app.get(
    '/api/fragments/:id',
    {
      config: guarded,
      preHandler: theirFragment,
      schema: { summary: 'A fragment with its note', params: fragmentIdParams, response: replies({ 200: fragmentReply }) },
    },
    async (req) => fragments.get(req.params.id),
  );
  app.patch(
    '/api/fragments/:id',
    {
      config: guarded,
      preHandler: theirFragment,
      schema: { summary: "Change a fragment's label or note", params: fragmentIdParams, body: fragmentPatchBody, response: replies({ 200: fragmentReply }) },
    },
    async (req) => fragments.edit(req.params.id, req.body),
  );
  app.delete(
    '/api/fragments/:id',
    {
      config: { access: 'trainer' },
      preHandler: theirFragment,
      schema: { summary: 'Delete a fragment (crypto-erased once the organisation has it)', params: fragmentIdParams, response: replies({ 200: deleteReply }) },
    },
    async (req) => deleted(await fragments.remove(req.params.id)),
  );

  // Playback: the copied segments only (the player enforces [in, out]); a TV only for the presented item.
  app.get(
    '/api/fragments/:id/index.m3u8',
    {
      config: { access: 'presented-fragment', whenLocked: 'refuse' },
      preHandler: theirFragment,
      schema: { summary: 'The fragment as an HLS playlist', params: fragmentIdParams, response: replies({ 200: mediaBody('application/vnd.apple.mpegurl') }) },
    },
    async (req, reply) => sendMedia(reply, 'application/vnd.apple.mpegurl', clipPlaylist('complete', fragments.segments(req.params.id))),
  );
  app.get(
    '/api/fragments/:id/segments/:file',
    {
      config: { access: 'presented-fragment' },
      preHandler: theirFragment,
      schema: { summary: 'A fragment segment, decrypted (MPEG-TS)', params: fragmentSegmentParams, response: replies({ 200: mediaBody('video/mp2t') }) },
    },
    async (req, reply) => sendMedia(reply, 'video/mp2t', await fragments.segment(req.params.id, Number.parseInt(req.params.file, 10))),
  );
}

/** Stills kept for a review, under their own key, with an optional caption (issue 19). */
export async function keptStillRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { keptStills } = ctx;
  const scope = scopeChecks(ctx);
  const theirClip = onlyTheirs(scope.clip);
  const theirStill = onlyTheirs(scope.still);

  app.get(
    '/api/clips/:id/kept-stills',
    {
      config: guarded,
      preHandler: theirClip,
      schema: { summary: "A clip's kept stills", params: clipIdParams, response: replies({ 200: keptStillListReply }) },
    },
    async (req) => ({ stills: await keptStills.list(req.params.id) }),
  );
  app.post(
    '/api/clips/:id/kept-stills',
    {
      config: guarded,
      preHandler: theirClip,
      schema: { summary: 'Keep a still for a review, with a caption', params: clipIdParams, body: keepStillBody, response: replies({ 200: keptStillReply }) },
    },
    async (req) => keptStills.keep(req.params.id, req.body.stillId, req.body.caption ?? null),
  );
  app.get(
    '/api/stills/:id',
    {
      config: guarded,
      preHandler: theirStill,
      schema: { summary: 'A kept still with its caption', params: keptStillIdParams, response: replies({ 200: keptStillReply }) },
    },
    async (req) => keptStills.get(req.params.id),
  );
  app.patch(
    '/api/stills/:id',
    {
      config: guarded,
      preHandler: theirStill,
      schema: { summary: "Change a kept still's caption", params: keptStillIdParams, body: keptStillPatchBody, response: replies({ 200: keptStillReply }) },
    },
    async (req) => keptStills.edit(req.params.id, req.body.caption),
  );
  app.delete(
    '/api/stills/:id',
    {
      config: { access: 'trainer' },
      preHandler: theirStill,
      schema: {
        summary: 'Delete a kept still (crypto-erased once the organisation has it)',
        params: keptStillIdParams,
        response: replies({ 200: deleteReply }),
      },
    },
    async (req) => deleted(await keptStills.remove(req.params.id)),
  );
  app.get(
    '/api/stills/:id/image.jpg',
    {
      config: { access: 'presented-still' },
      preHandler: theirStill,
      schema: { summary: 'A kept still, decrypted (JPEG)', params: keptStillIdParams, response: replies({ 200: mediaBody('image/jpeg') }) },
    },
    async (req, reply) => sendMedia(reply, 'image/jpeg', await keptStills.image(req.params.id)),
  );
}
