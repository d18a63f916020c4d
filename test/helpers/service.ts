import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = path.resolve(import.meta.dirname, '../..');
// Below Swift's block (20000–29999) and the kernel's ephemeral ports; spread wide, because other
// test runs on the same machine pick theirs the same way.
let nextPort = 10000 + Math.floor(Math.random() * 8000);

/** Whether nothing listens on 127.0.0.1:`port` now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export interface ServiceOptions {
  /** Extra YAML config (merged by writing a file). */
  config?: string;
  env?: Record<string, string>;
  /** Reuse a directory (restart after a crash). */
  dir?: string;
  port?: number;
  /** Use this config file as it is (e.g. one written by `vht-kit enrol`). */
  configFile?: string;
  /** The trainer PIN given by VHT_KIT_PIN; null = none (an enrolled kit). Default 1234. */
  pin?: string | null;
  /**
   * Serve HTTPS (http.tls on): the PEM of the CA that signed the kit's certificate. The helper then
   * talks to the kit with node's https client (fetch cannot take a CA), as `servername`.
   */
  tls?: { ca: string | Buffer; servername: string };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

/**
 * One request with node's http/https client, exactly as given: the path is sent unnormalised
 * (fetch would resolve `..`) and any Host header can be set.
 */
export function rawRequest(opts: {
  port: number;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  tls?: { ca: string | Buffer; servername: string };
  host?: string;
  /** No answer within this many ms fails the request. Default 10 000. */
  timeoutMs?: number;
}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const common = {
      host: opts.host ?? '127.0.0.1',
      port: opts.port,
      method: opts.method ?? 'GET',
      path: opts.path,
      headers: opts.headers ?? {},
    };
    const onRes = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    };
    // A new connection per request (agent: false): a kept-alive one that the kit closed after its
    // 5 s idle time while the test's event loop was blocked (a synchronous CLI call) fails on reuse.
    const req = opts.tls
      ? https.request({ ...common, agent: false, ca: opts.tls.ca, servername: opts.tls.servername }, onRes)
      : http.request({ ...common, agent: false }, onRes);
    req.on('error', reject);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request ${opts.path} timed out after ${timeoutMs} ms`)));
    req.end(opts.body);
  });
}

/** The Cookie header and CSRF token from a login's (or pairing's) Set-Cookie headers. */
export function sessionCookies(setCookies: string[]): { header: string; csrf: string } {
  const pairs = setCookies.map((c) => c.split(';')[0]!).filter((p) => !p.endsWith('='));
  const csrf = pairs.find((p) => p.startsWith('vht_csrf='))?.slice('vht_csrf='.length) ?? '';
  return { header: pairs.join('; '), csrf };
}

/** Small-resolution sim profile: real GStreamer, light on a 2-core test machine. */
export const TEST_CAPTURE = `
capture:
  profile: sim
  width: 320
  height: 240
  fps: 25
  bitrateKbps: 400
  preRollSeconds: 3
  restartMinMs: 300
`;

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** The real kit as a process (bin/vht-kit serve), on its own port and data dir. */
export class Service {
  proc: ChildProcess | null = null;
  readonly dir: string;
  private portValue: number;
  /** Whether the port is still the helper's own pick (it may move to a free one before the first start). */
  private portMovable: boolean;
  readonly dataDir: string;
  readonly ringDir: string;
  readonly orgKeyFile: string;
  /** The Cookie header of the trainer session (vht_session and vht_csrf). */
  cookie = '';
  /** The session's CSRF token, sent as x-csrf-token on state-changing requests. */
  csrf = '';
  output = '';

  constructor(private readonly opts: ServiceOptions = {}) {
    this.dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'vht-kit-test-'));
    this.portValue = opts.port ?? nextPort++;
    this.portMovable = opts.port === undefined;
    this.dataDir = path.join(this.dir, 'data');
    this.ringDir = path.join('/dev/shm', `vht-kit-test-ring-${path.basename(this.dir)}`);
    this.orgKeyFile = path.join(this.dir, 'data-demo-org.key');
  }

  /** Changes the config of the next start (a file written meanwhile, e.g. by `vht-kit enrol`). */
  configure(opts: Pick<ServiceOptions, 'config' | 'configFile'>): void {
    Object.assign(this.opts, opts);
  }

  /** The kit's port (fixed once it started). */
  get port(): number {
    return this.portValue;
  }

  get url(): string {
    return `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    let configFile = this.opts.configFile;
    if (!configFile) {
      configFile = path.join(this.dir, 'config.yaml');
      writeFileSync(configFile, (this.opts.config ?? TEST_CAPTURE) + '\nlogLevel: info\n');
    }
    const pin = this.opts.pin === undefined ? '1234' : this.opts.pin;
    // Another kit (another test run on this machine) may hold the helper's pick: move on before the first start.
    if (this.portMovable) {
      while (!(await portFree(this.portValue))) this.portValue = nextPort++;
      this.portMovable = false;
    }
    this.output = '';
    const proc = spawn(process.execPath, [path.join(ROOT, 'bin/vht-kit'), 'serve'], {
      env: {
        ...process.env,
        VHT_KIT_CONFIG: configFile,
        VHT_KIT_DATA_DIR: this.dataDir,
        VHT_KIT_RING_DIR: this.ringDir,
        VHT_KIT_PORT: String(this.port),
        VHT_KIT_HOST: '127.0.0.1',
        // Plain HTTP unless a test asks for TLS (an enrolled kit has a certificate: auto would use it).
        VHT_KIT_TLS: this.opts.tls ? 'on' : 'off',
        ...(pin ? { VHT_KIT_PIN: pin } : {}),
        ...this.opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    // Ready when this process says it listens on the port (a 200 from /healthz alone might come
    // from another kit that holds the port: this one then exits, and a login would reach the other).
    const listening = new RegExp(`"msg":"listening"[^\\n]*"port":${this.port}[,}]`);
    const deadline = Date.now() + 60_000;
    while (!listening.test(this.output)) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`service exited (${proc.exitCode ?? proc.signalCode}):\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`service did not listen on port ${this.port} within 60 s:\n${this.output.slice(-3000)}`);
      await sleep(50);
    }
    if (pin) await this.login(pin);
  }

  async login(pin = '1234', trainerId?: string): Promise<void> {
    const r = await this.send('POST', '/api/login', { 'content-type': 'application/json' }, JSON.stringify(trainerId ? { pin, trainerId } : { pin }));
    if (r.status !== 204) throw new Error(`login failed: ${r.status} ${r.text}`);
    const cookies = sessionCookies(r.headers.getSetCookie());
    this.cookie = cookies.header;
    this.csrf = cookies.csrf;
  }

  /** Sends a request with the trainer session: its cookies, and its CSRF token unless `headers` says otherwise. */
  async request(
    method: string,
    url: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<{ status: number; json: any; text: string; headers: Headers }> {
    const headers: Record<string, string> = { cookie: this.cookie };
    if (this.csrf && !['GET', 'HEAD'].includes(method.toUpperCase())) headers['x-csrf-token'] = this.csrf;
    if (body !== undefined) headers['content-type'] = 'application/json';
    Object.assign(headers, extraHeaders);
    return this.send(method, url, headers, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  }

  /** One request on a new connection, over HTTPS with the test CA when the kit serves TLS. */
  private async send(
    method: string,
    url: string,
    headers: Record<string, string>,
    payload?: string,
  ): Promise<{ status: number; json: any; text: string; headers: Headers }> {
    const r = await rawRequest({
      port: this.port,
      method,
      path: url,
      body: payload,
      timeoutMs: 60_000,
      ...(this.opts.tls ? { tls: this.opts.tls } : {}),
      headers: {
        ...(this.opts.tls ? { host: `${this.opts.tls.servername}:${this.port}` } : {}),
        ...headers,
        ...(payload !== undefined ? { 'content-length': String(Buffer.byteLength(payload)) } : {}),
      },
    });
    const h = new Headers();
    for (const [k, v] of Object.entries(r.headers)) {
      if (Array.isArray(v)) for (const one of v) h.append(k, one);
      else if (v !== undefined) h.set(k, v);
    }
    return { status: r.status, json: r.json, text: r.text, headers: h };
  }

  async status(): Promise<any> {
    return (await this.request('GET', '/api/status')).json;
  }

  /** Waits until the status satisfies `pred` (polling every 100 ms). */
  async waitFor(pred: (s: any) => boolean, timeoutMs = 20_000, what = 'status'): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    let last: any;
    while (Date.now() < deadline) {
      last = await this.status();
      if (last && pred(last)) return last;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(last)}\n${this.output.slice(-3000)}`);
  }

  /** Waits until the ring holds at least `seconds` of closed segments (pre-roll is available). */
  async waitArmed(): Promise<void> {
    await this.waitFor((s) => s.state === 'armed' && s.camera.ok, 20_000, 'armed');
  }

  /** The capture worker's pid (the service's child process). */
  workerPid(): number | null {
    const pid = this.proc?.pid;
    if (!pid) return null;
    try {
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      return children.length ? Number(children[0]) : null;
    } catch {
      return null;
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill(signal);
    const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      proc.kill('SIGKILL');
      return null;
    }
    return code;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.ringDir, { recursive: true, force: true });
  }
}
