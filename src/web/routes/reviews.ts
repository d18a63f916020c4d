import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { trainerOf, type WebContext } from '../context.js';
import {
  deleteReply,
  emptyBody,
  replies,
  reviewCreateBody,
  reviewIdParams,
  reviewListQuery,
  reviewListReply,
  reviewPatchBody,
  reviewReply,
} from '../schemas.js';
import { onlyTheirs, scopeChecks } from '../team-scope.js';

/** Reviews (nabespreking): per case, ordered fragments and kept stills for a visit; held after it (issue 19). */
export async function reviewRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { reviews } = ctx;
  const guarded = { access: 'trainer', whenLocked: 'refuse' } as const;
  const theirReview = onlyTheirs(scopeChecks(ctx).review);

  app.get(
    '/api/reviews',
    { config: guarded, schema: { summary: 'The reviews (of one case)', querystring: reviewListQuery, response: replies({ 200: reviewListReply }) } },
    async (req) => {
      const trainer = trainerOf(req);
      if (req.query.caseCode !== undefined) ctx.team.assertCase(req.query.caseCode, trainer);
      const mine = ctx.team.caseFilter(trainer);
      return { reviews: reviews.list(req.query.caseCode).filter((r) => mine(r.caseCode)) };
    },
  );
  app.post(
    '/api/reviews',
    { config: guarded, schema: { summary: 'Make a review for a case', body: reviewCreateBody, response: replies({ 200: reviewReply }) } },
    async (req) => {
      ctx.team.assertCase(req.body.caseCode, trainerOf(req));
      return reviews.create(req.body);
    },
  );
  app.get(
    '/api/reviews/:id',
    {
      config: guarded,
      preHandler: theirReview,
      schema: { summary: 'A review with its items in order', params: reviewIdParams, response: replies({ 200: reviewReply }) },
    },
    async (req) => reviews.get(req.params.id),
  );
  app.patch(
    '/api/reviews/:id',
    {
      config: guarded,
      preHandler: theirReview,
      schema: {
        summary: 'Change the items (the whole list: add, remove, reorder) or the planned day',
        params: reviewIdParams,
        body: reviewPatchBody,
        response: replies({ 200: reviewReply }),
      },
    },
    async (req) => reviews.update(req.params.id, req.body),
  );
  app.post(
    '/api/reviews/:id/held',
    {
      config: guarded,
      preHandler: theirReview,
      schema: { summary: 'The review was held with the parents', params: reviewIdParams, body: emptyBody, response: replies({ 200: reviewReply }) },
    },
    async (req) => reviews.held(req.params.id),
  );
  app.delete(
    '/api/reviews/:id',
    {
      config: { access: 'trainer' },
      preHandler: theirReview,
      schema: { summary: 'Delete a review (its fragments and stills stay)', params: reviewIdParams, response: replies({ 200: deleteReply }) },
    },
    async (req) => ({ ...(await reviews.remove(req.params.id)), message: 'deleted (verwijderd)' }),
  );
}
