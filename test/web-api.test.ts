import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeApi, formatApi, OPENAPI_FILE } from '../src/web/openapi.js';
import { freePort, rawRequest, Service, TEST_CAPTURE } from './helpers/service.js';

const ROOT = path.resolve(import.meta.dirname, '..');

/** The status and headers of an event stream's answer; the stream is closed once they arrive. */
function streamHeaders(port: number, urlPath: string, cookie: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers: cookie ? { cookie } : {}, agent: false }, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
      req.destroy();
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${urlPath} within 10 s`)));
  });
}

const SECURITY_HEADERS = ['content-security-policy', 'x-content-type-options', 'x-frame-options', 'referrer-policy'];

describe('the API document (docs/api/openapi.json)', () => {
  it("is up to date with the routes' schemas (run `npm run openapi` after changing a route)", async () => {
    const written = readFileSync(path.join(ROOT, OPENAPI_FILE), 'utf8');
    expect(written, `${OPENAPI_FILE} is out of date: run \`npm run openapi\``).toBe(formatApi(await describeApi()));
  });

  it('describes every route with its parameters, bodies and answers, errors included', async () => {
    const doc = (await describeApi()) as { paths: Record<string, Record<string, any>> };
    const clip = doc.paths['/api/clips/{id}']!;
    expect(clip.get.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual(['path:id']);
    expect(Object.keys(clip.patch.responses)).toEqual(expect.arrayContaining(['200', '4XX', '5XX']));
    expect(doc.paths['/api/cases']!.post.requestBody.content['application/json'].schema.required).toEqual(['code', 'trajectory', 'consent']);
    expect(doc.paths['/api/present/control']!.post.requestBody.content['application/json'].schema.properties.action.enum).toContain('marker');
    // every /api route but the document itself is listed
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/api/')).length).toBeGreaterThanOrEqual(35);
  });
});

describe('the web surface: OpenAPI route, security headers on every reply, error reasons', () => {
  let svc: Service;
  let loopbackPort = 0;

  beforeAll(async () => {
    loopbackPort = await freePort();
    svc = new Service({ config: `${TEST_CAPTURE}\nkitId: kit-api\n`, env: { VHT_KIT_LOOPBACK_PORT: String(loopbackPort), VHT_KIT_ARM_AT_START: 'false' } });
    await svc.start();
  });
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('serves the OpenAPI document to a trainer only, the same as docs/', async () => {
    expect((await rawRequest({ port: svc.port, path: '/api/openapi.json' })).status).toBe(401);
    const tv = await rawRequest({ port: loopbackPort, path: '/api/openapi.json' });
    expect(tv.status).toBe(403);
    const r = await svc.request('GET', '/api/openapi.json');
    expect(r.status).toBe(200);
    expect(formatApi(r.json)).toBe(readFileSync(path.join(ROOT, OPENAPI_FILE), 'utf8'));
  });

  it('sends the security headers on the event streams, errors and refusals alike', async () => {
    const replies = [
      { what: 'trainer event stream', ...(await streamHeaders(svc.port, '/api/events', svc.cookie)) },
      { what: 'TV event stream (loopback kiosk)', ...(await streamHeaders(loopbackPort, '/api/tv/events', '')) },
      { what: '401', ...(await rawRequest({ port: svc.port, path: '/api/status' })) },
      { what: '404', ...(await rawRequest({ port: svc.port, path: '/nope.txt' })) },
      { what: '421', ...(await rawRequest({ port: svc.port, path: '/healthz', headers: { host: 'evil.example' } })) },
      { what: '400 from the router', ...(await rawRequest({ port: svc.port, path: '/api/clips/%zz' })) },
    ];
    expect(replies[0]!.headers['content-type']).toContain('text/event-stream');
    expect(replies[1]!.headers['content-type']).toContain('text/event-stream');
    for (const r of replies) {
      for (const h of SECURITY_HEADERS)
        expect({ what: r.what, status: r.status, [h]: r.headers[h] !== undefined }).toEqual({ what: r.what, status: r.status, [h]: true });
      expect(String(r.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
    }
    expect(replies.map((r) => r.status)).toEqual([200, 200, 401, 404, 421, 400]);
  });

  it('names a stable reason and its values in every error, beside code, message and field', async () => {
    const digits = await svc.request('POST', '/api/cases', {
      code: 'GZ-ab',
      trajectory: 'k-vht',
      consent: { recording: true, review: true, supervision: false, training: false },
    });
    expect(digits.status).toBe(400);
    expect(digits.json.error).toMatchObject({ code: 'VALIDATION', field: 'body.code', reason: 'case_code_needs_digits' });
    expect(digits.json.error.message).toContain('two digits');

    const pin = await rawRequest({ port: svc.port, method: 'POST', path: '/api/login', headers: { 'content-type': 'application/json' }, body: '{"pin":"12"}' });
    expect(pin.json.error).toMatchObject({ code: 'VALIDATION', field: 'body.pin', reason: 'pin_invalid_format', params: { got: '"12"' } });

    const unknown = await svc.request('POST', '/api/recording/arm', { extra: 1 });
    expect(unknown.json.error).toMatchObject({ code: 'VALIDATION', reason: 'body_unrecognized_keys', params: { keys: 'extra' } });

    const limit = await svc.request('GET', '/api/clips?limit=5000');
    expect(limit.json.error).toMatchObject({ field: 'query.limit', reason: 'limit_too_big', params: { maximum: 1000 } });

    const control = await svc.request('POST', '/api/present/control', { action: 'seek' });
    expect(control.json.error).toMatchObject({ field: 'body.time', reason: 'time_needed_for_action', params: { action: 'seek' } });

    const noClip = await svc.request('GET', '/api/clips/abcdefghij12');
    expect(noClip.status).toBe(404);
    expect(noClip.json.error).toMatchObject({ code: 'NOT_FOUND', reason: 'clip_not_found', params: { id: 'abcdefghij12' } });

    const csrf = await rawRequest({
      port: svc.port,
      method: 'POST',
      path: '/api/lock',
      headers: { cookie: svc.cookie, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(csrf.json.error).toMatchObject({ code: 'FORBIDDEN', field: 'headers.x-csrf-token', reason: 'csrf_missing' });
  });
});
