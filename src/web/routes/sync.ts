import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError } from '../../core/errors.js';
import type { WebContext } from '../context.js';
import { emptyBody, replies, syncReply } from '../schemas.js';

/** Office sync: its progress, and a check started at once. */
export async function syncRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { sync, hardware } = ctx.deps;
  /** The sync's progress; `docked` is the kit's dock as /api/status says it, the endpoint check is `officeReachable`. */
  const status = () => {
    const { docked: reachable, ...rest } = sync.status() as ReturnType<typeof sync.status> & { docked?: boolean };
    return { ...rest, docked: hardware().docked, ...(typeof reachable === 'boolean' ? { officeReachable: reachable } : {}) };
  };

  app.get(
    '/api/sync',
    {
      config: { access: 'trainer' },
      schema: { summary: 'Office sync progress', response: replies({ 200: syncReply }) },
    },
    async () => status(),
  );

  app.post(
    '/api/sync/run',
    {
      config: { access: 'trainer' },
      schema: { summary: 'Start a sync check now', body: emptyBody, response: replies({ 202: syncReply }) },
    },
    async (_req, reply) => {
      if (!sync.run)
        throw new AppError('CONFLICT', 'sync is off: set sync.target (s3 or dir) in the config (uploaden staat uit)', {
          field: 'sync.target',
          reason: 'sync_off',
        });
      sync.run();
      reply.status(202);
      return status();
    },
  );
}
