// A TV browser against the real kit, shared by test/web-tv.test.ts and review-api.test.ts: pairing
// with a code, requests with the TV's cookies, an open event stream, and a small JPEG to keep as a
// still.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { sessionCookies, type Service } from './service.js';

/** A TV browser: its own cookie jar (vht_viewer + vht_csrf) and CSRF token. */
export interface Viewer {
  cookie: string;
  csrf: string;
}

/** Pairs a TV with `code` (POST /api/tv/pair): the answer, the viewer's cookies and the Set-Cookie headers. */
export async function pairTv(svc: Service, code: string): Promise<{ status: number; json: any; viewer: Viewer; setCookie: string[] }> {
  const r = await fetch(`${svc.url}/api/tv/pair`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
  const setCookie = r.headers.getSetCookie();
  const c = sessionCookies(setCookie);
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined, viewer: { cookie: c.header, csrf: c.csrf }, setCookie };
}

/** A request as `v` (a TV or another browser): its cookies, and its CSRF token unless a GET. */
export async function asViewer(svc: Service, v: Viewer, method: string, url: string, body?: unknown): Promise<{ status: number; json: any; bytes: Buffer }> {
  const headers: Record<string, string> = { cookie: v.cookie };
  if (method !== 'GET') headers['x-csrf-token'] = v.csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${svc.url}${url}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const bytes = Buffer.from(await r.arrayBuffer());
  let json: any;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    json = undefined; // not JSON (media, a playlist)
  }
  return { status: r.status, json, bytes };
}

/** An open event stream: everything received so far, and a wait for a pattern. */
export class EventStream {
  text = '';
  private readonly ctrl = new AbortController();
  private done: Promise<void> = Promise.resolve();
  /** True once the server has closed the stream. */
  ended = false;

  /** Opens `url` with `cookie`; the status (200: the stream is read from now on). */
  async open(url: string, cookie: string): Promise<number> {
    const res = await fetch(url, { headers: { cookie }, signal: this.ctrl.signal });
    if (res.status !== 200 || !res.body) return res.status;
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    this.done = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            this.ended = true;
            return;
          }
          this.text += dec.decode(value, { stream: true });
        }
      } catch (err) {
        // close() aborts; a kit that drops the connection ends the stream as well
        if ((err as Error).name !== 'AbortError') this.ended = true;
      }
    })();
    return res.status;
  }

  /** Waits until the text received matches `re`. */
  async waitFor(re: RegExp, timeoutMs = 8000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const m = this.text.match(re);
      if (m) return m;
      await sleep(20);
    }
    throw new Error(`no ${re} in the event stream within ${timeoutMs} ms; got:\n${this.text.slice(-2000)}`);
  }

  /** The names of the events received. */
  events(): string[] {
    return [...this.text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]!);
  }

  /** Closes the stream (aborts the request). */
  async close(): Promise<void> {
    this.ctrl.abort();
    await this.done;
  }
}

/**
 * A 64×48 JPEG of the test pattern (gst-launch). Not execFileSync: a blocked event loop lets a
 * kept-alive connection go stale under the next fetch.
 */
export async function testJpeg(): Promise<Buffer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-jpeg-'));
  try {
    const file = path.join(dir, 'frame.jpg');
    await promisify(execFile)('gst-launch-1.0', [
      '-q',
      'videotestsrc',
      'num-buffers=1',
      '!',
      'video/x-raw,width=64,height=48',
      '!',
      'jpegenc',
      '!',
      'filesink',
      `location=${file}`,
    ]);
    return readFileSync(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
