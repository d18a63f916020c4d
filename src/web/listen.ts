import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.js';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { hostName, HostCheck, markLoopback } from './security.js';
import { tlsFiles } from './tls.js';

export interface Listeners {
  /** True when the main listener speaks HTTPS. */
  https: boolean;
  /** The main listener's URL as seen from the kit itself. */
  url: string;
  /** Bound ports (useful when a port 0 was asked for). */
  ports: { main: number; redirect: number | null; loopback: number | null };
  close(): Promise<void>;
}

type ListenConfig = Pick<Config, 'http' | 'dataDir' | 'kitId'>;

/** Whether the main listener uses TLS: on (files must exist), auto (when they do), off. */
export function tlsDecision(config: ListenConfig): { cert: string; key: string } | null {
  const files = tlsFiles(config.dataDir, config.http);
  const have = existsSync(files.cert) && existsSync(files.key);
  if (config.http.tls === 'off') return null;
  if (config.http.tls === 'on' && !have) {
    const missing = existsSync(files.cert) ? files.key : files.cert;
    const field = existsSync(files.cert) ? 'http.keyFile' : 'http.certFile';
    throw new AppError(
      'CONFIG',
      `${field}: http.tls is "on" but ${missing} does not exist; enrol the kit (vht-kit enrol makes the certificate) or set http.certFile and http.keyFile`,
      { field },
    );
  }
  return have ? files : null;
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new AppError('CONFIG', `cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections(); // event streams would keep it open otherwise
  });
}

/**
 * Opens the kit's listeners around one Fastify app (its router is the request handler of each):
 * - main, on http.host:http.port: HTTPS with the kit's certificate (http.tls on, or auto and the
 *   files exist), else HTTP with a warning;
 * - redirect, on http.redirectPort (only with HTTPS): plain HTTP that answers every request with a
 *   301 to the same path on https://<host>:<port>, and nothing else;
 * - loopback, on 127.0.0.1:http.loopbackPort: plain HTTP for the kit's own HDMI kiosk; every request
 *   there is a viewer (see security.ts), never a trainer.
 */
export async function startListeners(app: FastifyInstance, config: ListenConfig, logger: Logger): Promise<Listeners> {
  const tls = tlsDecision(config);
  await app.ready();
  const route = (req: http.IncomingMessage, res: http.ServerResponse) => app.routing(req, res);
  const servers: http.Server[] = [];
  const closeAll = () => Promise.all(servers.map(closeServer)).then(() => undefined);
  try {
    let main: http.Server;
    if (tls) {
      main = https.createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key), minVersion: 'TLSv1.2' }, route);
    } else {
      main = http.createServer(route);
      logger.warn('the web server speaks plain HTTP: enrol the kit for its certificate (http.tls)', { tls: config.http.tls });
    }
    servers.push(main);
    const mainPort = await listen(main, config.http.port, config.http.host);

    let redirectPort: number | null = null;
    if (config.http.redirectPort !== null) {
      if (!tls) {
        logger.warn('http.redirectPort is ignored: the main listener is plain HTTP');
      } else {
        const hosts = new HostCheck(config.kitId, config.http.allowedHosts);
        const redirect = http.createServer((req, res) => {
          const name = hostName(req.headers.host);
          if (name === null || !hosts.allows(req.headers.host)) {
            res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8' }).end(`${hosts.describeRefusal(req.headers.host)}\n`);
            return;
          }
          const shown = name.includes(':') ? `[${name}]` : name;
          const port = mainPort === 443 ? '' : `:${mainPort}`;
          const pathPart = req.url?.startsWith('/') ? req.url : '/';
          res.writeHead(301, { location: `https://${shown}${port}${pathPart}`, 'content-length': '0', 'cache-control': 'no-store' }).end();
        });
        servers.push(redirect);
        redirectPort = await listen(redirect, config.http.redirectPort, config.http.host);
      }
    }

    let loopbackPort: number | null = null;
    if (config.http.loopbackPort !== null) {
      const loopback = http.createServer((req, res) => {
        markLoopback(req);
        route(req, res);
      });
      servers.push(loopback);
      loopbackPort = await listen(loopback, config.http.loopbackPort, '127.0.0.1');
    }
    const shownHost = config.http.host === '0.0.0.0' || config.http.host === '::' ? 'localhost' : config.http.host;
    logger.info('listening', { https: tls !== null, port: mainPort, redirectPort, loopbackPort });
    return {
      https: tls !== null,
      url: `${tls ? 'https' : 'http'}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${mainPort}`,
      ports: { main: mainPort, redirect: redirectPort, loopback: loopbackPort },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
