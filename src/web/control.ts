import { chmodSync, existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { AppError, describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/**
 * The local control channel: a Unix socket in the data dir (mode 0600), so that only the kit's own
 * user on the box itself can use it — never anyone on the Wi-Fi. `vht-kit press` and `vht-kit dock`
 * (the simulated twins of the button and the dock contact) and the network hook talk to it.
 * Protocol: one JSON request line, one JSON answer line.
 */
export type ControlRequest =
  | { cmd: 'press'; long: boolean }
  | { cmd: 'dock'; on: boolean }
  | { cmd: 'network'; up: boolean }
  | { cmd: 'status' }
  /** Release the camera (`vht-kit doctor --capture-test`); refused while a take runs. */
  | { cmd: 'disarm' }
  | { cmd: 'arm' };

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

export function controlSocketPath(dataDir: string): string {
  return path.join(dataDir, 'control.sock');
}

export class ControlServer {
  private server: net.Server | null = null;

  constructor(
    private readonly socketPath: string,
    private readonly handle: ControlHandler,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    if (existsSync(this.socketPath)) rmSync(this.socketPath, { force: true }); // left by a crash
    const server = net.createServer((sock) => {
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('error', () => sock.destroy());
      sock.on('data', (chunk: string) => {
        buf += chunk;
        if (buf.length > 4096) {
          sock.end(JSON.stringify({ ok: false, error: 'request too long' }) + '\n');
          return;
        }
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = '';
        void this.answer(line).then((out) => sock.end(JSON.stringify(out) + '\n'));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    chmodSync(this.socketPath, 0o600);
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  private async answer(line: string): Promise<{ ok: boolean; result?: unknown; error?: string }> {
    let req: ControlRequest;
    try {
      req = parseRequest(JSON.parse(line));
    } catch (err) {
      return { ok: false, error: describeError(err) };
    }
    try {
      return { ok: true, result: await this.handle(req) };
    } catch (err) {
      this.logger.warn('control request failed', { cmd: req.cmd, error: describeError(err) });
      return { ok: false, error: describeError(err) };
    }
  }
}

function parseRequest(v: unknown): ControlRequest {
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  switch (o.cmd) {
    case 'press':
      return { cmd: 'press', long: o.long === true };
    case 'dock':
      if (typeof o.on !== 'boolean') throw new AppError('VALIDATION', `dock: "on" must be true or false (got ${JSON.stringify(o.on)})`, { field: 'on' });
      return { cmd: 'dock', on: o.on };
    case 'network':
      if (typeof o.up !== 'boolean') throw new AppError('VALIDATION', `network: "up" must be true or false (got ${JSON.stringify(o.up)})`, { field: 'up' });
      return { cmd: 'network', up: o.up };
    case 'status':
    case 'disarm':
    case 'arm':
      return { cmd: o.cmd };
    default:
      throw new AppError('VALIDATION', `cmd: unknown command ${JSON.stringify(o.cmd)} (press, dock, network, status, disarm, arm)`, { field: 'cmd' });
  }
}

/** Sends one request to a running kit's control socket (used by the CLI). */
export function sendControl(socketPath: string, req: ControlRequest, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new AppError('INTERNAL', `the kit did not answer on ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (c: string) => (buf += c));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new AppError(
          'NOT_FOUND',
          err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
            ? `no running kit found at ${socketPath}: is \`vht-kit serve\` running with the same VHT_KIT_DATA_DIR / VHT_KIT_CONFIG?`
            : `cannot reach the kit at ${socketPath}: ${err.message}`,
        ),
      );
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        const out = JSON.parse(buf) as { ok: boolean; result?: unknown; error?: string };
        if (out.ok) resolve(out.result);
        else reject(new AppError('BAD_REQUEST', out.error ?? 'the kit refused the request'));
      } catch {
        reject(new AppError('INTERNAL', `unexpected answer from the kit: ${JSON.stringify(buf.slice(0, 200))}`));
      }
    });
  });
}
