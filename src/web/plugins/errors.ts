import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, describeError, type ErrorBody } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { applySecurityHeaders } from './headers.js';

/** The one writer of error bodies: `{ error: { code, message, field?, reason?, params? } }`. */
function sendError(reply: FastifyReply, status: number, body: ErrorBody): FastifyReply {
  return reply.status(status).send({ error: body });
}

/** The body of a 4xx from Fastify itself (JSON parsing, content type, body size), naming the body. */
function frameworkBody(e: { code?: string; message?: string }, req: FastifyRequest): ErrorBody {
  const type = req.headers['content-type'] ?? '';
  if (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || /JSON/.test(e.message ?? '')) {
    return { code: 'BAD_REQUEST', message: `body: not valid JSON (${e.message ?? ''})`, field: 'body', reason: 'body_not_json' };
  }
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return {
      code: 'BAD_REQUEST',
      field: 'body',
      reason: 'body_content_type',
      params: { got: type },
      message: `body: unsupported content type ${JSON.stringify(type)}; send application/json (or image/jpeg for a still)`,
    };
  }
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const limit = type.startsWith('image/jpeg') ? '2 MiB' : '64 KiB';
    return { code: 'BAD_REQUEST', message: `body: too large (at most ${limit})`, field: 'body', reason: 'body_too_large', params: { limit } };
  }
  return { code: 'BAD_REQUEST', message: e.message ?? 'bad request', field: 'body', reason: 'bad_request' };
}

/** The router's own refusals (a malformed %-escape, an over-long path parameter), as Fastify's `frameworkErrors` option. */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const url = (req.url ?? '').slice(0, 120);
  const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
  const message = tooLong
    ? `url: a path part is too long in ${JSON.stringify(url)}`
    : `url: not a valid URL (${err.code === 'FST_ERR_BAD_URL' ? 'a malformed %-escape' : err.message}) in ${JSON.stringify(url)}`;
  // The router answers before any hook runs: the security headers are put on here.
  applySecurityHeaders(req.raw, reply.raw);
  void sendError(reply, 400, { code: 'BAD_REQUEST', message, field: 'url', reason: tooLong ? 'url_part_too_long' : 'url_malformed' });
}

/**
 * The error plugin: every thrown error becomes the kit's error body. AppErrors keep their code,
 * field and reason; Fastify's own 4xx name the body; anything else is a logged 500 without details.
 */
export const errorsPlugin = fp(
  async (app: FastifyInstance, opts: { logger: Logger }) => {
    app.setErrorHandler((err: unknown, req, reply) => {
      if (err instanceof AppError) {
        if (err.status >= 500) opts.logger.warn('request failed', { url: req.routeOptions.url, code: err.code, error: err.message });
        return sendError(reply, err.status, err.toJSON());
      }
      const e = err as { statusCode?: number; code?: string; message?: string };
      if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return sendError(reply, e.statusCode, frameworkBody(e, req));
      opts.logger.error('unexpected error in request', {
        url: req.routeOptions.url,
        error: describeError(err),
        cause: describeError((err as { cause?: unknown }).cause ?? ''),
      });
      return sendError(reply, 500, { code: 'INTERNAL', message: 'internal error; see the kit log' });
    });

    app.setNotFoundHandler((req, reply) => {
      const path = (req.url.split('?')[0] ?? '').slice(0, 200);
      void sendError(reply, 404, { code: 'NOT_FOUND', message: `no route ${req.method} ${path}`, reason: 'no_route' });
    });
  },
  { name: 'vht-errors' },
);
