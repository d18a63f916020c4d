import net from 'node:net';
import tls from 'node:tls';
import { describeError } from '../core/errors.js';
import { errorCode } from './errors.js';
import type { DirTarget } from './targets.js';
import { checkPeer, loadTrust, type LoadedTrust, type TrustOptions } from './tls.js';

/** Config `sync.dock`: how the kit knows it is at the office, on the organisation's network. */
export interface DockOptions extends TrustOptions {
  /** Allow a plain http:// endpoint (a test server); never for a real kit. Default false. */
  allowInsecure?: boolean;
  /** Connect + handshake + first answer within this many ms. Default 5000. */
  timeoutMs?: number;
}

export interface DockResult {
  docked: boolean;
  /** Why not (or, when docked over http, that it is insecure). */
  reason?: string;
  via?: 'ca' | 'pin' | 'system' | 'insecure' | 'share';
  /** The endpoint's certificate fingerprints (to fill in sync.dock.pinSha256). */
  certSha256?: string;
  spkiSha256?: string;
}

function hostPort(url: URL): { host: string; port: number } {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { host, port };
}

/** Sends HEAD / and resolves with the status line once one arrives (any HTTP answer will do). */
function httpAnswer(socket: net.Socket, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const nl = buf.indexOf('\r\n');
      if (nl >= 0 || buf.length > 4096) {
        socket.off('data', onData);
        resolve(buf.slice(0, nl >= 0 ? nl : 200));
      }
    };
    socket.on('data', onData);
    socket.once('end', () => resolve(buf.split('\r\n')[0] ?? ''));
    socket.once('error', reject);
    const h = host.includes(':') ? `[${host}]` : host;
    socket.write(`HEAD / HTTP/1.1\r\nHost: ${h}:${port}\r\nUser-Agent: vht-kit-dock\r\nConnection: close\r\n\r\n`);
  });
}

function unreachable(endpoint: string, err: unknown, timeoutMs: number): DockResult {
  const code = errorCode(err);
  if (code === 'ETIMEDOUT' || code === 'DOCK_TIMEOUT')
    return { docked: false, reason: `${endpoint} did not answer within ${timeoutMs} ms (not at the office, or the network blocks it)` };
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO')
    return { docked: false, reason: `${endpoint} does not speak TLS (${code}): a captive portal or the wrong port?` };
  return { docked: false, reason: `${endpoint} cannot be reached (${code ?? describeError(err)}): not at the office?` };
}

/**
 * Decides whether uploading may start: the endpoint must answer over TLS with a certificate that
 * chains to `caFile` (and names the host) or matches `pinSha256` (or, with neither, a system CA).
 * A plain http:// endpoint counts only with `allowInsecure`. A captive portal, a wrong certificate
 * or an unreachable endpoint means "not docked", with the reason. Nothing secret is sent.
 */
export async function checkDock(endpoint: string, opts: DockOptions = {}): Promise<DockResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { docked: false, reason: `sync.s3.endpoint ${JSON.stringify(endpoint)} is not a URL` };
  }
  const { host, port } = hostPort(url);
  if (url.protocol === 'http:') {
    if (!opts.allowInsecure) {
      return {
        docked: false,
        reason: `sync.s3.endpoint ${JSON.stringify(endpoint)} is plain http:// and sync.dock.allowInsecure is not true: use https:// (allowInsecure only for a test server)`,
      };
    }
    return withTimeout(timeoutMs, endpoint, async (track) => {
      const socket = track(net.connect({ host, port }));
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      const line = await httpAnswer(socket, host, port);
      socket.destroy();
      if (!/^HTTP\/1\.[01] \d{3}/.test(line)) return { docked: false, reason: `${endpoint} answered something that is not HTTP` };
      return { docked: true, via: 'insecure' as const, reason: `${endpoint} is plain http:// (sync.dock.allowInsecure): uploads are not protected in transit` };
    });
  }
  if (url.protocol !== 'https:') return { docked: false, reason: `sync.s3.endpoint ${JSON.stringify(endpoint)} must be https://` };
  let trust: LoadedTrust;
  try {
    trust = loadTrust(opts);
  } catch (err) {
    return { docked: false, reason: describeError(err) };
  }
  return withTimeout(timeoutMs, endpoint, async (track) => {
    const socket = track(
      tls.connect({
        host,
        port,
        ...(net.isIP(host) ? {} : { servername: host }),
        ...(trust.ca !== undefined ? { ca: trust.ca } : {}),
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
        ALPNProtocols: ['http/1.1'],
      }),
    );
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const r = checkPeer(socket, host, trust);
    if (!r.ok) {
      socket.destroy();
      return {
        docked: false,
        reason: `wrong certificate (a captive portal or another network?): ${r.reason}`,
        ...(r.leaf ? { certSha256: r.leaf.certSha256, spkiSha256: r.leaf.spkiSha256 } : {}),
      };
    }
    const line = await httpAnswer(socket, host, port);
    socket.destroy();
    if (!/^HTTP\/1\.[01] \d{3}/.test(line)) return { docked: false, reason: `${endpoint} answered something that is not HTTP` };
    return { docked: true, via: r.via, certSha256: r.leaf.certSha256, spkiSha256: r.leaf.spkiSha256 };
  });
}

async function withTimeout(timeoutMs: number, endpoint: string, fn: (track: <S extends net.Socket>(s: S) => S) => Promise<DockResult>): Promise<DockResult> {
  const sockets: net.Socket[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('dock check timed out'), { code: 'DOCK_TIMEOUT' })), timeoutMs);
  });
  try {
    return await Promise.race([fn((s) => (sockets.push(s), s)), timeout]);
  } catch (err) {
    return unreachable(endpoint, err, timeoutMs);
  } finally {
    clearTimeout(timer);
    for (const s of sockets) s.destroy();
  }
}

/** The dock check of a share: mounted (when required) and writable. */
export async function checkShareDock(target: DirTarget): Promise<DockResult> {
  const r = await target.check();
  return r.ok ? { docked: true, via: 'share' } : { docked: false, reason: r.reason };
}
