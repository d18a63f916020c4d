import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { isHttps } from '../security.js';

/**
 * Security headers on every reply, through helmet, set on the raw reply at onRequest so that the
 * event streams (hijacked replies) and every error carry them too. The kit's CSP: only its own
 * origin; blob: for media (hls.js) and the still's canvas; no framing.
 */
export const headersPlugin = fp(async (app: FastifyInstance) => {
  await app.register(helmet, {
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
    // HSTS only over HTTPS (below): plain HTTP is development and the kiosk on loopback.
    strictTransportSecurity: false,
  });
  app.addHook('onRequest', async (req, reply) => {
    // Over HTTPS the browser should never fall back to plain HTTP for the kit (browsers honour it
    // only once they trust the certificate).
    if (isHttps(req.raw)) reply.raw.setHeader('strict-transport-security', 'max-age=31536000');
  });
}, { name: 'vht-headers' });
