import type { FastifyRequest } from 'fastify';
import { trainerOf, type WebContext } from './context.js';

/** A route's check of the `:id` it names against the signed-in trainer's cases (throws 403 `not_your_case`). */
export type ScopeCheck = (id: string, trainerId: string) => void;

/**
 * A preHandler that lets a trainer reach only the items of their cases (issue 20). A TV session is
 * not checked here: the guard keeps it to the presented item.
 */
export function onlyTheirs(check: ScopeCheck): (req: FastifyRequest) => Promise<void> {
  return async (req) => {
    const id = (req.params as { id?: unknown } | undefined)?.id;
    if (typeof id !== 'string' || req.caller?.role !== 'trainer') return;
    check(id, trainerOf(req));
  };
}

/** The checks of the review cycle's routes: a clip (also one erased whose items live on), a fragment, a kept still, a review. */
export function scopeChecks(ctx: WebContext): { clip: ScopeCheck; fragment: ScopeCheck; still: ScopeCheck; review: ScopeCheck } {
  const { team } = ctx;
  return {
    clip: (id, t) => team.assertClipId(id, t),
    fragment: (id, t) => team.assertItem({ kind: 'fragment', id, caseCode: ctx.fragments.row(id).caseCode }, t),
    still: (id, t) => team.assertItem({ kind: 'still', id, caseCode: ctx.keptStills.row(id).caseCode }, t),
    review: (id, t) => team.assertItem({ kind: 'review', id, caseCode: ctx.reviews.row(id).caseCode }, t),
  };
}
