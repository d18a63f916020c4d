import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError, describeError } from '../../core/errors.js';
import { callerOf, openEventStream, stillAlive, type WebContext } from '../context.js';
import { healthReply, mediaBody, replies } from '../schemas.js';
import { kitStatus } from './recording.js';

/** The health check, the built UI, the kit's event stream and the API's own description. */
export async function siteRoutes(fastify: FastifyInstance, { ctx }: { ctx: WebContext }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();

  app.get('/healthz', { config: { access: 'public' }, schema: { summary: 'Health check', response: replies({ 200: healthReply }) } }, async () => ({
    ok: true,
  }));

  // The built UI (dist/ui): an allowlist of files listed at start, looked up by exact path.
  app.get('/*', { config: { access: 'public' }, schema: { hide: true } }, async (req, reply) => {
    const url = req.url.split('?')[0] ?? '';
    const notFound = (extra = '') => new AppError('NOT_FOUND', `no route GET ${url.slice(0, 200)}${extra}`, { reason: 'no_route' });
    const f = url.startsWith('/api/') ? null : ctx.ui.lookup(url);
    if (!f) {
      if ((url === '/' || url === '/tv') && !ctx.ui.built) {
        throw new AppError('NOT_CONFIGURED', `the web UI is not built: run \`npm run build\` (vite build into ${ctx.ui.dir})`, { reason: 'ui_not_built' });
      }
      throw notFound();
    }
    let body: Buffer;
    try {
      body = await readFile(f.file);
    } catch (err) {
      ctx.deps.logger.warn('a file of the UI build is gone', { file: f.file, error: describeError(err) });
      throw notFound(' (the UI is being rebuilt?)');
    }
    return (reply as FastifyReply).type(f.type).header('cache-control', f.cacheControl).send(body);
  });

  // Live events (Server-Sent Events): the kit's status first, then every event of the bus.
  app.get(
    '/api/events',
    {
      config: { access: 'trainer', idle: 'ignore' },
      schema: { summary: 'Server-sent events: status, then every kit event', response: { 200: mediaBody('text/event-stream') } },
    },
    (req: FastifyRequest, reply: FastifyReply) => {
      // at most MAX_STREAMS_PER_SESSION per session (429 beyond); the slot frees when the stream closes
      req.raw.on('close', ctx.streams.acquire(callerOf(req).key));
      const write = openEventStream(req, reply, stillAlive(ctx, callerOf(req)));
      write('status', kitStatus(ctx));
      const off = ctx.deps.bus.onAny((name, payload) => write(name, payload));
      req.raw.on('close', off);
    },
  );

  // The OpenAPI document of this API (docs/api/openapi.json is the same, made by `npm run openapi`).
  app.get('/api/openapi.json', { config: { access: 'trainer' }, schema: { hide: true } }, async () => fastify.swagger());
}
