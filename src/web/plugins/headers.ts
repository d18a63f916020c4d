import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet from 'helmet';
import { describeError } from '../../core/errors.js';
import { isHttps } from '../security.js';

/**
 * The kit's security headers through helmet. The CSP allows only the kit's own origin; blob: for
 * media (hls.js) and the still's canvas; no framing. HSTS only over HTTPS (plain HTTP is
 * development and the kiosk on loopback).
 */
const applyHelmet = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:', 'blob:'],
      mediaSrc: ["'self'", 'blob:'],
      workerSrc: ["'self'", 'blob:'],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
    },
  },
  referrerPolicy: { policy: 'no-referrer' },
  xFrameOptions: { action: 'deny' },
  strictTransportSecurity: false,
});

/** Puts the kit's security headers on a raw reply (helmet's, plus HSTS over HTTPS). */
export function applySecurityHeaders(req: IncomingMessage, res: ServerResponse): void {
  applyHelmet(req, res, (err?: unknown) => {
    // helmet's middleware is synchronous and reports only a bad configuration: fail loudly.
    if (err) throw new Error(`security headers: ${describeError(err)}`);
  });
  // Over HTTPS the browser should never fall back to plain HTTP for the kit (browsers honour it
  // only once they trust the certificate).
  if (isHttps(req)) res.setHeader('strict-transport-security', 'max-age=31536000');
}

/**
 * The headers plugin: the headers go on the raw reply at onRequest, so the event streams
 * (hijacked replies) and every error carry them; the router's own refusals (which skip the hooks)
 * call applySecurityHeaders themselves.
 */
export const headersPlugin = fp(
  async (app: FastifyInstance) => {
    app.addHook('onRequest', async (req, reply) => applySecurityHeaders(req.raw, reply.raw));
  },
  { name: 'vht-headers' },
);
