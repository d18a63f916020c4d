import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the proxy does to a PUT:
 * - pass: forward it unchanged
 * - reset: drop the connection as soon as the request starts (a connection reset mid-upload)
 * - 503: answer 503 SlowDown without forwarding
 * - corrupt: flip one byte of the body and forward it (the storage sees a wrong Content-MD5)
 * - hang: read the request and never answer (a timeout)
 */
export type Fault = 'pass' | 'reset' | '503' | 'corrupt' | 'hang';

export interface ProxyLogEntry {
  method: string;
  path: string;
  fault: Fault;
  /** Upstream status, or 0 when there was none. */
  status: number;
  bytes: number;
  errorCode?: string;
}

/**
 * A small HTTP(S) proxy in front of the S3 server that injects faults into PUT requests, in the
 * order given by `faults` (then passes everything), and logs every request.
 */
export class FaultProxy {
  faults: Fault[] = [];
  readonly log: ProxyLogEntry[] = [];
  /** Counts requests that reached the proxy's HTTP layer (not just TCP/TLS). */
  requests = 0;
  private server: http.Server | https.Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly agent = new http.Agent({ keepAlive: true });

  constructor(
    private readonly upstream: { host: string; port: number },
    private readonly tls?: { key: string; cert: string },
  ) {}

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  get endpoint(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.server = this.tls ? https.createServer({ key: this.tls.key, cert: this.tls.cert }, handler) : http.createServer(handler);
    this.server.on(this.tls ? 'secureConnection' : 'connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /**
   * Resolves once no client connection is open any more (after the client closed its agent), so a
   * request still on its way when the client gave up is counted before the caller looks at the log.
   */
  async settled(timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.sockets.size > 0) {
      if (Date.now() > until) throw new Error(`proxy: ${this.sockets.size} client connection(s) still open after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    // a request whose bytes arrived just before its connection closed is parsed on the next turn
    await new Promise((r) => setImmediate(r));
  }

  puts(): ProxyLogEntry[] {
    return this.log.filter((e) => e.method === 'PUT');
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests += 1;
    const fault: Fault = req.method === 'PUT' ? (this.faults.shift() ?? 'pass') : 'pass';
    const entry: ProxyLogEntry = { method: req.method ?? '', path: req.url ?? '', fault, status: 0, bytes: 0 };
    this.log.push(entry);
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      entry.bytes = body.length;
      if (fault === 'hang') return;
      if (fault === '503') {
        res.writeHead(503, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected</Message></Error>');
        entry.status = 503;
        return;
      }
      if (fault === 'corrupt' && body.length > 0) {
        const i = Math.floor(body.length / 2);
        body[i] = body[i]! ^ 0xff;
      }
      const up = http.request(
        { host: this.upstream.host, port: this.upstream.port, method: req.method, path: req.url, headers: req.headers, agent: this.agent },
        (upRes) => {
          entry.status = upRes.statusCode ?? 0;
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', (err: NodeJS.ErrnoException) => {
        entry.errorCode = err.code ?? err.message;
        req.socket.destroy();
      });
      up.end(body);
    });
  }
}
