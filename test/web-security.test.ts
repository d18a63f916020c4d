import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, rawRequest, Service, TEST_CAPTURE } from './helpers/service.js';
import { UiFiles } from '../src/web/static.js';
import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/core/logger.js';
import { createKit } from '../src/main.js';
import { certificateInfo, ensureKitCertificate, makeKitCertificate } from '../src/web/tls.js';
import { HostCheck, originProblem } from '../src/web/security.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const PACKAGE_JSON = readFileSync(path.join(ROOT, 'package.json'), 'utf8');

function setCookies(h: { [k: string]: string | string[] | undefined }): string[] {
  const v = h['set-cookie'];
  return Array.isArray(v) ? v : v ? [v] : [];
}

describe('the web surface over HTTP: CSRF, Host, Origin, traversal, cookies, loopback viewer', () => {
  let svc: Service;
  let loopbackPort = 0;

  beforeAll(async () => {
    loopbackPort = await freePort();
    svc = new Service({
      config: `${TEST_CAPTURE}\nkitId: kit-sec\n`,
      env: { VHT_KIT_LOOPBACK_PORT: String(loopbackPort), VHT_KIT_ARM_AT_START: 'false' },
    });
    await svc.start();
  });
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('login sets HttpOnly SameSite=Strict session and a readable CSRF cookie (no Secure over HTTP)', async () => {
    const r = await rawRequest({
      port: svc.port,
      method: 'POST',
      path: '/api/login',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pin: '1234' }),
    });
    expect(r.status).toBe(204);
    const cookies = setCookies(r.headers);
    const session = cookies.find((c) => c.startsWith('vht_session='))!;
    const csrf = cookies.find((c) => c.startsWith('vht_csrf='))!;
    expect(session).toMatch(/; HttpOnly/);
    expect(session).toMatch(/; SameSite=Strict/);
    expect(session).toMatch(/; Path=\//);
    expect(session).not.toMatch(/Secure/);
    expect(csrf).toMatch(/; SameSite=Strict/);
    expect(csrf).not.toMatch(/HttpOnly/);
    expect(csrf.split(';')[0]!.length).toBeGreaterThan('vht_csrf='.length + 20);
    // GET /api/session gives the same token, bound to this session.
    const s = await svc.request('GET', '/api/session');
    expect(s.status).toBe(200);
    expect(s.json).toEqual({ role: 'trainer', csrf: svc.csrf, locked: expect.any(Boolean), trainerId: 'T-001' });
    expect((await rawRequest({ port: svc.port, path: '/api/session' })).status).toBe(401);
  });

  it('refuses state-changing requests without the session CSRF token, naming the header', async () => {
    const missing = await svc.request('POST', '/api/recording/arm', {}, { 'x-csrf-token': '' });
    expect(missing.status).toBe(403);
    expect(missing.json.error).toMatchObject({ code: 'FORBIDDEN', field: 'headers.x-csrf-token' });
    expect(missing.json.error.message).toMatch(/x-csrf-token: missing/);
    const wrong = await svc.request('POST', '/api/recording/arm', {}, { 'x-csrf-token': 'not-the-token' });
    expect(wrong.status).toBe(403);
    expect(wrong.json.error.message).toMatch(/x-csrf-token: wrong token/);
    // Another session's token is wrong for this one.
    const other = new Service({ dir: svc.dir, port: svc.port });
    await other.login('1234');
    expect(other.csrf).not.toBe(svc.csrf);
    const crossed = await svc.request('DELETE', '/api/present', undefined, { 'x-csrf-token': other.csrf });
    expect(crossed.status).toBe(403);
    for (const [method, url] of [
      ['PATCH', '/api/clips/abcdefghij'],
      ['PUT', '/api/clips/abcdefghij/purposes'],
      ['DELETE', '/api/present'],
      ['POST', '/api/logout'],
    ] as const) {
      const r = await svc.request(method, url, {}, { 'x-csrf-token': '' });
      expect({ method, url, status: r.status, field: r.json?.error?.field }).toEqual({ method, url, status: 403, field: 'headers.x-csrf-token' });
    }
    const ok = await svc.request('POST', '/api/recording/arm', {});
    expect(ok.status).toBe(200);
  });

  it('answers 421 to a Host that is not the kit (DNS rebinding), for pages and /healthz too', async () => {
    for (const p of ['/api/status', '/healthz', '/', '/api/login']) {
      const r = await rawRequest({ port: svc.port, path: p, headers: { host: `evil.example:${svc.port}`, cookie: svc.cookie } });
      expect({ p, status: r.status }).toEqual({ p, status: 421 });
      expect(r.json.error.message).toContain('evil.example');
    }
    for (const host of [`127.0.0.1:${svc.port}`, `localhost:${svc.port}`, `kit-sec.local:${svc.port}`, `${os.hostname()}.local`, `[::1]:${svc.port}`]) {
      const r = await rawRequest({ port: svc.port, path: '/healthz', headers: { host } });
      expect({ host, status: r.status }).toEqual({ host, status: 200 });
    }
  });

  it('refuses a cross-origin state-changing request, accepts its own origin', async () => {
    const cross = await svc.request('POST', '/api/recording/arm', {}, { origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    expect(cross.json.error).toMatchObject({ code: 'FORBIDDEN', field: 'headers.origin' });
    expect(cross.json.error.message).toContain('evil.example');
    // The login itself (no session yet) is protected the same way against login CSRF.
    const login = await svc.request('POST', '/api/login', { pin: '1234' }, { origin: 'http://evil.example', cookie: '' });
    expect(login.status).toBe(403);
    const otherPort = await svc.request('POST', '/api/recording/arm', {}, { origin: `http://127.0.0.1:${svc.port + 1}` });
    expect(otherPort.status).toBe(403);
    const same = await svc.request('POST', '/api/recording/arm', {}, { origin: `http://127.0.0.1:${svc.port}` });
    expect(same.status).toBe(200);
  });

  it('makes path traversal impossible in clip, segment, still, live and static URLs', async () => {
    const attempts = [
      '/api/clips/..%2f..%2fetc/segments/0.ts',
      '/api/clips/..%2F..%2Fpackage.json/index.m3u8',
      '/api/clips/abcdefghij/segments/..%2f..%2f..%2fpackage.json',
      '/api/clips/abcdefghij/segments/%2e%2e%2f0.ts',
      '/api/clips/%2e%2e/index.m3u8',
      '/api/clips/abcdefghij/segments/..\\..\\..\\package.json',
      '/api/clips/abcdefghij/segments/0.ts%00.json',
      '/api/clips/abcdefghij/stills/..%2f..%2f1.jpg',
      '/api/live/..%2f..%2f..%2fetc%2fpasswd',
      '/api/live/../../../etc/passwd',
      '/assets/../package.json',
      '/assets/%2e%2e/package.json',
      '/assets/..%2f..%2fpackage.json',
      '/..%2fpackage.json',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/..\\package.json',
      '/package.json',
      '/src/web/app.ts',
      '/dist/web/app.js',
      '//etc/passwd',
    ];
    for (const p of attempts) {
      const r = await rawRequest({ port: svc.port, path: p, headers: { cookie: svc.cookie } });
      expect({ p, ok: r.status >= 400 && r.status < 500 }).toEqual({ p, ok: true });
      expect(r.text).not.toContain('"name": "vht-kit"');
      expect(r.text).not.toContain(PACKAGE_JSON.slice(0, 60));
      expect(r.text).not.toContain('root:x:0');
      expect(r.json?.error?.message, p).toBeTruthy();
    }
  });

  it('serves the Vite build (dist/ui): pages revalidated, hashed assets immutable', async () => {
    // scripts/test builds the web app first
    expect(existsSync(path.join(ROOT, 'dist', 'ui', 'index.html')), 'dist/ui is missing: run `npm run build`').toBe(true);
    const index = await rawRequest({ port: svc.port, path: '/' });
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toMatch(/text\/html/);
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.text).toBe(readFileSync(path.join(ROOT, 'dist', 'ui', 'index.html'), 'utf8'));
    const tv = await rawRequest({ port: svc.port, path: '/tv' });
    expect(tv.status).toBe(200);
    expect(tv.text).toBe(readFileSync(path.join(ROOT, 'dist', 'ui', 'tv.html'), 'utf8'));
    const asset = /(?:src|href)="(\/assets\/[^"]+)"/.exec(index.text)?.[1];
    expect(asset).toBeTruthy();
    const a = await rawRequest({ port: svc.port, path: asset! });
    expect(a.status).toBe(200);
    expect(a.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await rawRequest({ port: svc.port, path: '/assets/nope-123.js' })).status).toBe(404);
    expect((await rawRequest({ port: svc.port, path: '/index.html?x=1' })).status).toBe(200);
  });

  it('cannot be bypassed by spelling an /api path differently', async () => {
    for (const p of [
      '/%61pi/clips',
      '/api%2fclips',
      '/API/clips',
      '/api/clips/',
      '/api//clips',
      '/api/./clips',
      '/api/x/../clips',
      '/api/clips?x=/healthz',
      '/healthz/../api/clips',
      '/api/clips%00',
    ]) {
      const r = await rawRequest({ port: svc.port, path: p });
      expect({ p, ok: r.status >= 400 && r.status < 500 }).toEqual({ p, ok: true });
      expect(r.text).not.toContain('"clips"');
    }
  });

  it('sends the strict Content-Security-Policy', async () => {
    const r = await rawRequest({ port: svc.port, path: '/healthz' });
    const csp = String(r.headers['content-security-policy']);
    for (const part of [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data: blob:",
      "media-src 'self' blob:",
      "worker-src 'self' blob:",
      "connect-src 'self'",
      "frame-ancestors 'none'",
    ]) {
      expect(csp).toContain(part);
    }
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    // plain HTTP (development, the kiosk on loopback) sends no HSTS
    expect(r.headers['strict-transport-security']).toBeUndefined();
  });

  it('treats every request on the loopback listener as a viewer (the HDMI kiosk)', async () => {
    const s = await rawRequest({ port: loopbackPort, path: '/api/session' });
    expect(s.status).toBe(200);
    expect(s.json.role).toBe('viewer');
    expect(s.json.csrf).toEqual(expect.any(String));
    // A trainer cookie does not make the loopback a trainer.
    for (const p of ['/api/clips', '/api/status', '/api/cases', '/api/sync']) {
      const r = await rawRequest({ port: loopbackPort, path: p, headers: { cookie: svc.cookie } });
      expect({ p, status: r.status, code: r.json?.error?.code }).toEqual({ p, status: 403, code: 'FORBIDDEN' });
    }
    const login = await rawRequest({
      port: loopbackPort,
      method: 'POST',
      path: '/api/login',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pin: '1234' }),
    });
    expect(login.status).toBe(403);
    const state = await rawRequest({ port: loopbackPort, path: '/api/tv/state' });
    expect(state.status).toBe(200);
    expect(state.json.clipId).toBeNull();
    // Its ack needs its CSRF token too.
    const noCsrf = await rawRequest({
      port: loopbackPort,
      method: 'POST',
      path: '/api/tv/ack',
      headers: { 'content-type': 'application/json' },
      body: '{"id":1}',
    });
    expect(noCsrf.status).toBe(403);
    const ack = await rawRequest({
      port: loopbackPort,
      method: 'POST',
      path: '/api/tv/ack',
      headers: { 'content-type': 'application/json', 'x-csrf-token': s.json.csrf },
      body: '{"id":1}',
    });
    expect(ack.status).toBe(204);
    // The main listener without any session: 401.
    expect((await rawRequest({ port: svc.port, path: '/api/tv/state' })).status).toBe(401);
  });
});

describe('the built UI is served from an allowlist', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-ui-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('maps /, /tv and existing files; nothing else, whatever the path spelling', () => {
    const ui = path.join(dir, 'dist', 'ui');
    mkdirSync(path.join(ui, 'assets'), { recursive: true });
    writeFileSync(path.join(ui, 'index.html'), '<!doctype html><title>remote</title>');
    writeFileSync(path.join(ui, 'tv.html'), '<!doctype html><title>tv</title>');
    writeFileSync(path.join(ui, 'manifest.webmanifest'), '{}');
    writeFileSync(path.join(ui, 'assets', 'index-AbC123.js'), 'console.log(1)');
    writeFileSync(path.join(dir, 'dist', 'secret.txt'), 'secret');
    const files = new UiFiles(ui);
    expect(files.built).toBe(true);
    expect(files.lookup('/')?.file).toBe(path.join(ui, 'index.html'));
    expect(files.lookup('/tv')?.file).toBe(path.join(ui, 'tv.html'));
    expect(files.lookup('/')?.cacheControl).toBe('no-cache');
    expect(files.lookup('/assets/index-AbC123.js')).toMatchObject({
      cacheControl: 'public, max-age=31536000, immutable',
      type: expect.stringContaining('javascript'),
    });
    expect(files.lookup('/manifest.webmanifest')?.type).toContain('manifest+json');
    for (const p of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/assets/%2e%2e/index.html',
      '/secret.txt',
      '/assets/',
      '/assets',
      '/index.html/',
      '/ASSETS/index-AbC123.js',
      '/assets\\..\\index.html',
    ]) {
      expect({ p, hit: files.lookup(p) }).toEqual({ p, hit: null });
    }
  });

  it('is not built: the pages say to run the build (503), other files 404', async () => {
    const files = new UiFiles(path.join(dir, 'nothing'));
    expect(files.built).toBe(false);
    expect(files.lookup('/')).toBeNull();
    const config = parseConfig({
      dataDir: path.join(dir, 'data'),
      http: { tls: 'off' },
      auth: { pin: '1234' },
      capture: { profile: 'sim', armAtStart: false, ringDir: path.join(dir, 'ring') },
    });
    const kit = await createKit(config, { uiDir: path.join(dir, 'nothing'), logger: createLogger({ level: 'silent' }) });
    try {
      for (const url of ['/', '/tv']) {
        const r = await kit.app.inject({ method: 'GET', url, headers: { host: 'localhost' } });
        expect({ url, status: r.statusCode }).toEqual({ url, status: 503 });
        expect(r.json().error.message).toMatch(/npm run build/);
      }
      expect((await kit.app.inject({ method: 'GET', url: '/assets/index-AbC123.js', headers: { host: 'localhost' } })).statusCode).toBe(404);
    } finally {
      await kit.app.close();
      kit.catalogue.close();
    }
  });
});

describe('Host and Origin rules', () => {
  it('accepts the kit names and IP literals, nothing else', () => {
    const h = new HostCheck('kit-07', ['vht.example.org'], 'raspberrypi');
    for (const ok of [
      'localhost',
      'localhost:8443',
      '10.42.0.1',
      '10.42.0.1:443',
      '[::1]:8443',
      '[fe80::1]',
      'raspberrypi',
      'RaspberryPi.local',
      'kit-07.local',
      'kit-07.local.',
      'vht.example.org:8443',
    ]) {
      expect({ ok, allowed: h.allows(ok) }).toEqual({ ok, allowed: true });
    }
    for (const bad of [
      undefined,
      '',
      'evil.example',
      'kit-07.local.evil.example',
      'kit-08.local',
      '10.42.0.1@evil',
      'localhost:80:80',
      '[::1',
      'user@localhost',
      'localhost/x',
    ]) {
      expect({ bad, allowed: h.allows(bad) }).toEqual({ bad, allowed: false });
    }
  });

  it('a present Origin must be the request’s own scheme://host[:port]', () => {
    expect(originProblem(undefined, false, 'kit-07.local:8080')).toBeNull();
    expect(originProblem('http://kit-07.local:8080', false, 'kit-07.local:8080')).toBeNull();
    expect(originProblem('https://kit-07.local', true, 'kit-07.local:443')).toBeNull();
    expect(originProblem('http://kit-07.local:8080', true, 'kit-07.local:8080')).toMatch(/not https:\/\/kit-07.local:8080/);
    expect(originProblem('null', false, 'kit-07.local')).toMatch(/cross-origin/);
    expect(originProblem('http://kit-07.local.evil.example', false, 'kit-07.local')).toMatch(/cross-origin/);
  });
});

describe('HTTPS with the kit certificate made by tls.ts', () => {
  let svc: Service;
  let redirectPort = 0;
  let cert = '';

  beforeAll(async () => {
    redirectPort = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-kit-test-'));
    const files = await makeKitCertificate({ cert: path.join(dir, 'data', 'tls', 'kit.crt'), key: path.join(dir, 'data', 'tls', 'kit.key') }, 'kit-tls');
    cert = readFileSync(files.cert, 'utf8');
    svc = new Service({
      dir,
      config: `${TEST_CAPTURE}\nkitId: kit-tls\n`,
      env: { VHT_KIT_REDIRECT_PORT: String(redirectPort) },
      tls: { ca: cert, servername: 'kit-tls.local' },
    });
    await svc.start();
  });
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('writes an EC P-256 certificate for the kit names, the hotspot address and loopback; key 0600', async () => {
    const crt = path.join(svc.dataDir, 'tls', 'kit.crt');
    const key = path.join(svc.dataDir, 'tls', 'kit.key');
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const info = await certificateInfo(crt);
    expect(info.sans).toEqual(expect.arrayContaining(['DNS:kit-tls.local', `DNS:${os.hostname().toLowerCase()}`, 'IP:10.42.0.1', 'IP:127.0.0.1']));
    const days = (info.notAfter.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(4.9 * 365);
    expect(days).toBeLessThan(5.1 * 365);
    const text = execFileSync('openssl', ['x509', '-in', crt, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/ASN1 OID: prime256v1|NIST CURVE: P-256/);
  });

  it('serves HTTPS verified against the kit certificate, for each name in its SAN only', async () => {
    for (const servername of ['kit-tls.local', os.hostname().toLowerCase()]) {
      const r = await rawRequest({ port: svc.port, path: '/healthz', tls: { ca: cert, servername }, headers: { host: servername } });
      expect({ servername, status: r.status }).toEqual({ servername, status: 200 });
    }
    await expect(rawRequest({ port: svc.port, path: '/healthz', tls: { ca: cert, servername: 'evil.example' } })).rejects.toThrow(/altnames|does not match/);
    // Another certificate is not trusted.
    const otherDir = mkdtempSync(path.join(os.tmpdir(), 'vht-tls-'));
    try {
      const other = await makeKitCertificate({ cert: path.join(otherDir, 'k.crt'), key: path.join(otherDir, 'k.key') }, 'kit-tls');
      await expect(rawRequest({ port: svc.port, path: '/healthz', tls: { ca: readFileSync(other.cert), servername: 'kit-tls.local' } })).rejects.toThrow(
        /self.signed|certificate/i,
      );
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('sets Secure on the cookies over HTTPS, and the trainer API works', async () => {
    const r = await svc.request('POST', '/api/login', { pin: '1234' }, { cookie: '' });
    expect(r.status).toBe(204);
    const set = r.headers.get('set-cookie') ?? '';
    expect(set).toMatch(/vht_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure/);
    expect(set).toMatch(/vht_csrf=[^;]+; Path=\/; SameSite=Strict; Secure/);
    const status = await svc.request('GET', '/api/status');
    expect(status.status).toBe(200);
    expect(status.headers.get('strict-transport-security')).toBe('max-age=31536000');
    const ownOrigin = await svc.request('POST', '/api/recording/arm', {}, { origin: `https://kit-tls.local:${svc.port}` });
    expect(ownOrigin.json ?? ownOrigin.status).toEqual(expect.objectContaining({ state: expect.any(String) }));
    const httpOrigin = await svc.request('POST', '/api/recording/arm', {}, { origin: `http://kit-tls.local:${svc.port}` });
    expect(httpOrigin.status).toBe(403);
  });

  it('the HTTP redirect listener only redirects (301 to https, same path) and checks the Host', async () => {
    const r = await rawRequest({ port: redirectPort, path: '/api/clips?limit=5', headers: { host: `kit-tls.local:${redirectPort}` } });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe(`https://kit-tls.local:${svc.port}/api/clips?limit=5`);
    expect(r.text).toBe('');
    const post = await rawRequest({
      port: redirectPort,
      method: 'POST',
      path: '/api/login',
      headers: { host: '10.42.0.1', 'content-type': 'application/json' },
      body: '{"pin":"1234"}',
    });
    expect(post.status).toBe(301);
    expect(post.headers.location).toBe(`https://10.42.0.1:${svc.port}/api/login`);
    expect(post.headers['set-cookie']).toBeUndefined();
    const evil = await rawRequest({ port: redirectPort, path: '/', headers: { host: 'evil.example' } });
    expect(evil.status).toBe(421);
    // The main port speaks no plain HTTP.
    await expect(rawRequest({ port: svc.port, path: '/healthz' })).rejects.toThrow();
  });

  it('http.tls on without a certificate stops the start with an error naming http.certFile', async () => {
    const bare = new Service({ config: TEST_CAPTURE, tls: { ca: cert, servername: 'kit-dev.local' } });
    try {
      await expect(bare.start()).rejects.toThrow(/http\.certFile/);
    } finally {
      await bare.stop();
      bare.cleanup();
    }
  });
});

describe('the certificate at enrolment (tls.ts)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-tls-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

  it('keeps the kit certificate across re-enrolment, remakes it for another kit id', async () => {
    const dest = { cert: path.join(dir, 'data', 'tls', 'kit.crt'), key: path.join(dir, 'data', 'tls', 'kit.key') };
    expect((await ensureKitCertificate(dest, 'kit-a')).action).toBe('made');
    const first = readFileSync(dest.cert, 'utf8');
    expect((await ensureKitCertificate(dest, 'kit-a')).action).toBe('kept');
    expect(readFileSync(dest.cert, 'utf8')).toBe(first);
    expect((await ensureKitCertificate(dest, 'kit-b')).action).toBe('made');
    expect((await certificateInfo(dest.cert)).sans).toContain('DNS:kit-b.local');
  });

  it('installs the organisation CA’s certificate and key, refusing a key that does not match', async () => {
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '30',
      '-subj',
      '/CN=Org CA',
    ]);
    openssl([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'leaf.key',
      '-out',
      'leaf.csr',
      '-subj',
      '/CN=kit-c.local',
    ]);
    writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:kit-c.local,IP:10.42.0.1\n');
    openssl([
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'leaf.crt',
      '-days',
      '30',
      '-extfile',
      'ext.cnf',
    ]);
    const dest = { cert: path.join(dir, 'org', 'tls', 'kit.crt'), key: path.join(dir, 'org', 'tls', 'kit.key') };
    await expect(ensureKitCertificate(dest, 'kit-c', { cert: path.join(dir, 'leaf.crt'), key: path.join(dir, 'ca.key') })).rejects.toThrow(
      /--tls-key: .* is not the key of the certificate/,
    );
    await expect(ensureKitCertificate(dest, 'kit-c', { cert: path.join(dir, 'leaf.crt') })).rejects.toThrow(/--tls-key/);
    const r = await ensureKitCertificate(dest, 'kit-c', { cert: path.join(dir, 'leaf.crt'), key: path.join(dir, 'leaf.key') });
    expect(r.action).toBe('copied');
    expect(readFileSync(dest.cert)).toEqual(readFileSync(path.join(dir, 'leaf.crt')));
    expect(statSync(dest.key).mode & 0o777).toBe(0o600);
    // Verifies against the organisation CA.
    expect(execFileSync('openssl', ['verify', '-CAfile', path.join(dir, 'ca.crt'), dest.cert], { encoding: 'utf8' })).toMatch(/OK/);
  });

  it('vht-kit enrol makes the kit certificate, or installs the organisation’s (checked before anything changes)', () => {
    const bin = path.join(ROOT, 'bin', 'vht-kit');
    const cli = (args: string[], env: Record<string, string>) => {
      try {
        return { code: 0, out: execFileSync(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: 'pipe' }), err: '' };
      } catch (e) {
        const x = e as { status: number; stdout: string; stderr: string };
        return { code: x.status, out: x.stdout, err: x.stderr };
      }
    };
    const recipient = cli(['keygen', '--out', path.join(dir, 'org.key')], {}).out.trim();
    expect(recipient).toMatch(/^age1/);
    const cfg = path.join(dir, 'kit.yaml');
    const data = path.join(dir, 'kitdata');
    const env = { VHT_KIT_CONFIG: cfg, VHT_KIT_DATA_DIR: data };
    const base = ['enrol', '--org-recipient', recipient, '--kit-id', 'kit-c', '--trainer-pin', '135790'];
    const bad = cli([...base, '--tls-cert', path.join(dir, 'leaf.crt'), '--tls-key', path.join(dir, 'ca.key')], env);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/--tls-key: .* is not the key of the certificate/);
    expect(existsSync(cfg)).toBe(false);
    expect(existsSync(path.join(data, 'tls', 'kit.crt'))).toBe(false);
    const own = cli(base, env);
    expect(own).toMatchObject({ code: 0 });
    expect(own.out).toMatch(/HTTPS certificate made: .*kitdata\/tls\/kit\.crt/);
    expect(statSync(path.join(data, 'tls', 'kit.key')).mode & 0o777).toBe(0o600);
    const org = cli([...base, '--current-pin', '135790', '--tls-cert', path.join(dir, 'leaf.crt'), '--tls-key', path.join(dir, 'leaf.key')], env);
    expect(org).toMatchObject({ code: 0 });
    expect(org.out).toMatch(/HTTPS certificate installed/);
    expect(readFileSync(path.join(data, 'tls', 'kit.crt'))).toEqual(readFileSync(path.join(dir, 'leaf.crt')));
    // A later re-enrolment keeps the organisation's certificate.
    const again = cli([...base, '--current-pin', '135790'], env);
    expect(again.out).toMatch(/HTTPS certificate kept/);
    expect(readFileSync(path.join(data, 'tls', 'kit.crt'))).toEqual(readFileSync(path.join(dir, 'leaf.crt')));
  });
});
