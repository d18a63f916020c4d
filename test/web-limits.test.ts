// Limits of the web surface against a hostile client, on the kit as main.ts composes it (sim
// profile, real catalogue and keys in a temp dir): JSON nesting refused before parsing, a cap on
// event streams per session, and the TV pairing code's tries under parallel requests.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/core/logger.js';
import { createKit, type Kit } from '../src/main.js';
import { jsonDepthProblem, MAX_STREAMS_PER_SESSION } from '../src/web/json-limits.js';
import { rawRequest } from './helpers/service.js';

const PIN = '4821';
let root: string;
let kit: Kit;
let port: number;
let trainer: { cookie: string; csrf: string };

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-limits-'));
  const config = parseConfig({
    kitId: 'kit-limits',
    dataDir: path.join(root, 'data'),
    http: { tls: 'off' },
    auth: { pin: PIN },
    capture: { profile: 'sim', armAtStart: false, ringDir: path.join('/dev/shm', path.basename(root)) },
  });
  kit = await createKit(config, { logger: createLogger({ level: 'silent' }) });
  await kit.keys.start(PIN);
  kit.recorder.start();
  await kit.app.listen({ port: 0, host: '127.0.0.1' });
  port = (kit.app.server.address() as AddressInfo).port;
  const res = await kit.app.inject({ method: 'POST', url: '/api/login', payload: { pin: PIN }, headers: { host: 'localhost' } });
  expect(res.statusCode).toBe(204);
  const cookies = res.cookies as { name: string; value: string }[];
  trainer = { cookie: cookies.map((c) => `${c.name}=${c.value}`).join('; '), csrf: cookies.find((c) => c.name === 'vht_csrf')!.value };
});

afterAll(async () => {
  await kit.app.close();
  await kit.recorder.stop();
  kit.catalogue.close();
  rmSync(root, { recursive: true, force: true });
});

describe('JSON bodies: depth limited before parsing', () => {
  it('answers 30,000 nested [ with 400 naming the body, not a 500', async () => {
    const res = await kit.app.inject({
      method: 'POST',
      url: '/api/login',
      headers: { host: 'localhost', 'content-type': 'application/json' },
      payload: '['.repeat(30_000),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'BAD_REQUEST', field: 'body' });
    expect(res.json().error.message).toMatch(/nest deeper than 32 levels \(at character 33\)/);
    // an authenticated route, objects this time
    const deep = await kit.app.inject({
      method: 'POST',
      url: '/api/cases',
      headers: { host: 'localhost', 'content-type': 'application/json', cookie: trainer.cookie, 'x-csrf-token': trainer.csrf },
      payload: '{"a":'.repeat(40) + '1' + '}'.repeat(40),
    });
    expect(deep.statusCode).toBe(400);
    expect(deep.json().error.message).toMatch(/nest deeper than 32/);
    // ordinary bodies and prototype poisoning are handled as before
    const ok = await kit.app.inject({
      method: 'POST',
      url: '/api/login',
      headers: { host: 'localhost', 'content-type': 'application/json' },
      payload: JSON.stringify({ pin: PIN }),
    });
    expect(ok.statusCode).toBe(204);
    const poisoned = await kit.app.inject({
      method: 'POST',
      url: '/api/login',
      headers: { host: 'localhost', 'content-type': 'application/json' },
      payload: '{"__proto__":{"x":1},"pin":"4821"}',
    });
    expect(poisoned.statusCode).toBe(400);
  });

  it('counts brackets inside strings as text, and escaped quotes as part of the string', () => {
    expect(jsonDepthProblem(JSON.stringify({ note: '['.repeat(1000) + '"\\' }))).toBeNull();
    expect(jsonDepthProblem('[[[', 2)).toBe('body: arrays/objects nest deeper than 2 levels (at character 3)');
    expect(jsonDepthProblem('["\\"[[[["]', 2)).toBeNull();
  });
});

/** Opens an event stream and resolves with its status once the head arrives (the stream stays open). */
function openStream(cookie: string): Promise<{ status: number; req: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/api/events', agent: false, headers: { cookie } }, (res) => {
      resolve({ status: res.statusCode ?? 0, req });
      res.resume();
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
  });
}

describe('event streams per session', () => {
  it(`holds at most ${MAX_STREAMS_PER_SESSION} open per session; a closed one frees its slot`, async () => {
    const open: http.ClientRequest[] = [];
    for (let i = 0; i < MAX_STREAMS_PER_SESSION; i++) {
      const s = await openStream(trainer.cookie);
      expect(s.status).toBe(200);
      open.push(s.req);
    }
    const refused = await openStream(trainer.cookie);
    expect(refused.status).toBe(429);
    refused.req.destroy();
    open.pop()!.destroy();
    // the server sees the close a moment later: wait for the slot rather than a fixed time
    let again = await openStream(trainer.cookie);
    for (let i = 0; again.status === 429 && i < 100; i++) {
      again.req.destroy();
      await new Promise((r) => setTimeout(r, 50));
      again = await openStream(trainer.cookie);
    }
    expect(again.status).toBe(200);
    open.push(again.req);
    for (const r of open) r.destroy();
  });
});

describe('TV pairing code under parallel guesses', () => {
  it('50 parallel wrong codes burn the code after 5 tries; the right one then fails', async () => {
    const made = await kit.app.inject({
      method: 'POST',
      url: '/api/tv/pairing',
      headers: { host: 'localhost', cookie: trainer.cookie, 'x-csrf-token': trainer.csrf },
      payload: {},
    });
    const code = made.json().code as string;
    const wrong = code === '000000' ? '000001' : '000000';
    const before = kit.catalogue.auditEvents().filter((e) => e.type === 'tv.pair.failed').length;
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        rawRequest({
          port,
          method: 'POST',
          path: '/api/tv/pair',
          headers: { 'content-type': 'application/json', host: 'localhost' },
          body: JSON.stringify({ code: wrong }),
        }),
      ),
    );
    const messages = answers.map((a) => a.json.error.message as string);
    expect(messages.filter((m) => /: wrong pairing code/.test(m))).toHaveLength(4);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(1);
    expect(messages.filter((m) => /no pairing code is waiting/.test(m))).toHaveLength(45);
    expect(kit.catalogue.auditEvents().filter((e) => e.type === 'tv.pair.failed').length - before).toBe(5);
    const right = await rawRequest({
      port,
      method: 'POST',
      path: '/api/tv/pair',
      headers: { 'content-type': 'application/json', host: 'localhost' },
      body: JSON.stringify({ code }),
    });
    expect(right.status).toBe(401);
  });
});
