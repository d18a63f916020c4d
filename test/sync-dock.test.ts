// The dock check and the upload TLS trust, against real local TLS servers with certificates made
// by the openssl CLI for this run: the right CA, another CA (a captive portal), the wrong host
// name, pins of the certificate and of its public key, plain http, nothing listening, silence.
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.js';
import { checkDock } from '../src/sync/dock.js';
import { SyncError } from '../src/sync/errors.js';
import { S3Target } from '../src/sync/targets.js';
import { makeCa as makeCaIn, makeLeaf as makeLeafIn, type KeyAndCert } from './helpers/tls-certs.js';

// the AWS SDK warns once per process that its 2027 releases need Node 22; not news for these tests
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

let dir: string;
const servers: (http.Server | net.Server)[] = [];
const sockets = new Set<net.Socket>();

const makeCa = (name: string) => makeCaIn(dir, name);
const makeLeaf = (name: string, ca: KeyAndCert, san: string) => makeLeafIn(dir, name, ca, san);

async function listen(server: http.Server | net.Server): Promise<number> {
  servers.push(server);
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** An HTTPS server with this certificate (and chain) that answers every request 200. */
async function httpsServer(
  leaf: { key: string; cert: string },
  chain: string[] = [],
  onRequest?: (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void,
): Promise<string> {
  const cert = [readFileSync(leaf.cert, 'utf8'), ...chain.map((c) => readFileSync(c, 'utf8'))].join('');
  const port = await listen(
    https.createServer({ key: readFileSync(leaf.key), cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (onRequest) onRequest(req, Buffer.concat(chunks), res);
        else res.end('ok');
      });
    }),
  );
  return `https://127.0.0.1:${port}`;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

let officeCa: { key: string; cert: string };
let portalCa: { key: string; cert: string };
let office: { key: string; cert: string };
let officeUrl: string;
let portalUrl: string;
let wrongHostUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vht-dock-'));
  officeCa = makeCa('office-ca');
  portalCa = makeCa('portal-ca');
  office = makeLeaf('office', officeCa, 'IP:127.0.0.1,DNS:localhost');
  const portal = makeLeaf('portal', portalCa, 'IP:127.0.0.1,DNS:localhost');
  const wrongHost = makeLeaf('wronghost', officeCa, 'DNS:storage.other.example');
  officeUrl = await httpsServer(office, [officeCa.cert]);
  portalUrl = await httpsServer(portal);
  wrongHostUrl = await httpsServer(wrongHost);
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) {
    (s as http.Server).closeAllConnections?.();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('dock check', () => {
  it('docked: the certificate chains to the CA file and names the host', async () => {
    const r = await checkDock(officeUrl, { caFile: officeCa.cert });
    expect(r).toMatchObject({ docked: true, via: 'ca' });
    expect(r.certSha256).toBe(sha256(new X509Certificate(readFileSync(office.cert)).raw).toString('hex'));
  });

  it('not docked: a captive portal / another CA, the wrong host name, no trust given for a private CA', async () => {
    const portal = await checkDock(portalUrl, { caFile: officeCa.cert });
    expect(portal.docked).toBe(false);
    expect(portal.reason).toMatch(/wrong certificate \(a captive portal or another network\?\).*does not chain to sync\.dock\.caFile/);
    const wrongHost = await checkDock(wrongHostUrl, { caFile: officeCa.cert });
    expect(wrongHost.docked).toBe(false);
    expect(wrongHost.reason).toMatch(/not for 127\.0\.0\.1/);
    const noTrust = await checkDock(officeUrl, {});
    expect(noTrust.docked).toBe(false);
    expect(noTrust.reason).toMatch(/does not chain to a system CA/);
  });

  it('docked by a pin of the certificate or of its public key (hex, with colons, or base64); not with another pin', async () => {
    const x = new X509Certificate(readFileSync(office.cert));
    const certHex = sha256(x.raw).toString('hex');
    const spki = sha256(x.publicKey.export({ type: 'spki', format: 'der' }));
    const colons = certHex.toUpperCase().match(/../g)!.join(':');
    for (const pin of [certHex, colons, spki.toString('hex'), `sha256/${spki.toString('base64')}`]) {
      expect(await checkDock(officeUrl, { pinSha256: pin }), pin).toMatchObject({ docked: true, via: 'pin' });
    }
    // the CA in the presented chain may be pinned too
    const caPin = sha256(new X509Certificate(readFileSync(officeCa.cert)).raw).toString('hex');
    expect(await checkDock(officeUrl, { pinSha256: caPin })).toMatchObject({ docked: true, via: 'pin' });
    const other = await checkDock(portalUrl, { pinSha256: certHex });
    expect(other.docked).toBe(false);
    expect(other.reason).toMatch(/matches no sync\.dock\.pinSha256 \(certificate SHA-256 [0-9a-f]{64}, SPKI SHA-256 [0-9a-f]{64}\)/);
    // CA or pin: either suffices
    expect(await checkDock(portalUrl, { caFile: officeCa.cert, pinSha256: certHex })).toMatchObject({ docked: false });
    expect(
      await checkDock(wrongHostUrl, {
        caFile: officeCa.cert,
        pinSha256: sha256(new X509Certificate(readFileSync(path.join(dir, 'wronghost.pem'))).raw).toString('hex'),
      }),
    ).toMatchObject({ docked: true, via: 'pin' });
  });

  it('plain http only with allowInsecure', async () => {
    const port = await listen(http.createServer((_req, res) => res.end('ok')));
    const url = `http://127.0.0.1:${port}`;
    const r = await checkDock(url, {});
    expect(r.docked).toBe(false);
    expect(r.reason).toMatch(/plain http:\/\/ and sync\.dock\.allowInsecure is not true/);
    expect(await checkDock(url, { allowInsecure: true })).toMatchObject({ docked: true, via: 'insecure' });
    // an https URL on a plain-http port
    const tlsOnHttp = await checkDock(`https://127.0.0.1:${port}`, { caFile: officeCa.cert });
    expect(tlsOnHttp.docked).toBe(false);
    expect(tlsOnHttp.reason).toMatch(/does not speak TLS/);
  });

  it('not docked: nothing listening, or a server that never answers', async () => {
    const closed = await listen(net.createServer());
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
    const refused = await checkDock(`https://127.0.0.1:${closed}`, { caFile: officeCa.cert });
    expect(refused.docked).toBe(false);
    expect(refused.reason).toMatch(/cannot be reached \(ECONNREFUSED\)/);
    const silent = await listen(net.createServer(() => undefined));
    const t0 = Date.now();
    const r = await checkDock(`https://127.0.0.1:${silent}`, { caFile: officeCa.cert, timeoutMs: 300 });
    expect(r.docked).toBe(false);
    expect(r.reason).toMatch(/did not answer within 300 ms/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('a bad dock config is reported, naming the key and the value', async () => {
    const missing = await checkDock(officeUrl, { caFile: path.join(dir, 'nope.pem') });
    expect(missing.reason).toMatch(/sync\.dock\.caFile ".*nope\.pem" cannot be read/);
    const badPin = await checkDock(officeUrl, { pinSha256: 'not-a-hash' });
    expect(badPin.reason).toMatch(/sync\.dock\.pinSha256 "not-a-hash" is not a SHA-256/);
  });
});

describe('S3 target trust', () => {
  it('uploads only to the trusted server; a wrong host name gets no request; a wrong ETag is not a confirmation', async () => {
    const received: string[] = [];
    let lie = false;
    const s3Like = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => {
      received.push(`${req.method} ${req.url}`);
      const md5 = createHash('md5').update(body).digest('hex');
      res.writeHead(200, { ETag: `"${lie ? 'f'.repeat(32) : md5}"` });
      res.end();
    };
    const good = await httpsServer(makeLeaf('s3-good', officeCa, 'IP:127.0.0.1'), [], s3Like);
    const wrongName = await httpsServer(makeLeaf('s3-wrongname', officeCa, 'DNS:elsewhere.example'), [], s3Like);
    const opts = {
      region: 'us-east-1',
      bucket: 'vht-office',
      prefix: 'kits',
      accessKeyId: 'k',
      secretAccessKey: 's',
      clock: systemClock,
      tls: { caFile: officeCa.cert },
    };
    const body = Buffer.from('segment bytes');
    const md5Hex = createHash('md5').update(body).digest('hex');

    const t = new S3Target({ ...opts, endpoint: good });
    expect(await t.put('kit-07/clips/abc0123456/0.ts.age', body, { md5Hex })).toEqual({ alreadyPresent: false });
    expect(received).toEqual(['PUT /vht-office/kits/kit-07/clips/abc0123456/0.ts.age?x-id=PutObject']);
    lie = true;
    const err = await t.put('kit-07/clips/abc0123456/1.ts.age', body, { md5Hex }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect(err).toMatchObject({ reason: 'ETAG_MISMATCH', retryable: true });
    t.close();

    received.length = 0;
    const w = new S3Target({ ...opts, endpoint: wrongName });
    const e2 = await w.put('kit-07/clips/abc0123456/0.ts.age', body, { md5Hex }).catch((e: unknown) => e);
    expect(e2).toMatchObject({ reason: 'TLS', retryable: false });
    expect((e2 as Error).message).toMatch(/not for 127\.0\.0\.1/);
    expect(received).toEqual([]);
    w.close();
  });
});
