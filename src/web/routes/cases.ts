import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Privacy } from '../../session/privacy.js';
import { CONSENT_SCOPES } from '../../store/catalogue.js';
import { TRAJECTORIES } from '../../store/migrations.js';
import type { WebContext } from '../context.js';
import { caseCloseReply, caseCodeParams, caseCreateBody, caseListReply, casePatchBody, caseReply, replies, uiConfigReply } from '../schemas.js';

/** Cases (pseudonymous codes, never names) and what the UI needs to know about this kit. */
export async function caseRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { deps } = ctx;
  const guarded = { access: 'trainer', whenLocked: 'refuse' } as const;

  app.get(
    '/api/config/ui',
    {
      config: { access: 'trainer' },
      schema: { summary: 'Marker labels, trajectories, consent scopes, kit id, fps', response: replies({ 200: uiConfigReply }) },
    },
    async () => ({
      markerLabels: deps.markerLabels,
      trajectories: [...TRAJECTORIES],
      consentScopes: [...CONSENT_SCOPES],
      kitId: deps.kitId ?? 'vht-kit',
      fps: ctx.fps,
      markerLeadInMs: deps.playback?.markerLeadInMs ?? 3000,
      fragmentLeadOutMs: deps.playback?.fragmentLeadOutMs ?? 7000,
    }),
  );

  app.get(
    '/api/cases',
    {
      config: guarded,
      schema: { summary: 'The cases', response: replies({ 200: caseListReply }) },
    },
    async () => ({ cases: deps.catalogue.listCases() }),
  );

  app.post(
    '/api/cases',
    {
      config: guarded,
      schema: { summary: 'Create a case with its trajectory and consent', body: caseCreateBody, response: replies({ 200: caseReply }) },
    },
    async (req) => deps.privacy.createCase(req.body.code, req.body.trajectory, req.body.consent),
  );

  app.patch(
    '/api/cases/:code',
    {
      config: guarded,
      schema: { summary: "Change a case's trajectory or consent", params: caseCodeParams, body: casePatchBody, response: replies({ 200: caseReply }) },
    },
    async (req) => {
      const { consent, trajectory } = req.body;
      const patch: Parameters<Privacy['updateCase']>[1] = {};
      if (trajectory) patch.trajectory = trajectory;
      if (consent) patch.consent = Object.fromEntries(CONSENT_SCOPES.filter((s) => consent[s] !== undefined).map((s) => [s, consent[s]]));
      return deps.privacy.updateCase(req.params.code, patch);
    },
  );

  // Closing a case's trajectory: no new takes; its footage goes per the retention table (docs/design/keys-layout-retention.md).
  app.post(
    '/api/cases/:code/close',
    {
      config: { access: 'trainer' },
      schema: {
        summary: "Close the case's trajectory (retention then erases its footage)",
        params: caseCodeParams,
        response: replies({ 200: caseCloseReply }),
      },
    },
    async (req) => deps.privacy.closeCase(req.params.code),
  );
}
