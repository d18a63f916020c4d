// The kit's S3 reads and small writes beside its uploads (the office bucket's erasure notices and
// directory, the case inbox, the team fetch) trust on an https endpoint what the dock check trusts
// (`sync.dock.caFile` / `pinSha256`), not only the system's CAs: a store behind a private CA works
// for all of them, and a server with another certificate is refused. Real Swift behind a real TLS
// relay on loopback with certificates made by the openssl CLI.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockTrust, openCaseInbox, openOfficeBucket, type SyncConfig } from '../src/sync/index.js';
import { S3FetchSource } from '../src/sync/fetch-source.js';
import { SwiftServer } from './helpers/swift.js';
import { makeCa, makeLeaf, type KeyAndCert } from './helpers/tls-certs.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const OFFICE = 'vht-tls-office';
const INBOX = 'vht-tls-office-inbox';
const KIT = 'vht-tls-kit-a';

let root: string;
let swift: SwiftServer;
let ca: KeyAndCert;
let relays: https.Server[] = [];

/** An https server with `leaf` that relays every request byte for byte to Swift's plain http endpoint. */
async function tlsRelay(leaf: KeyAndCert): Promise<string> {
  const to = new URL(swift.endpoint);
  const server = https.createServer({ key: readFileSync(leaf.key), cert: readFileSync(leaf.cert) }, (req, res) => {
    const up = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  relays.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function config(endpoint: string, dock: SyncConfig['dock']): SyncConfig {
  return {
    target: 's3',
    s3: { endpoint, region: swift.region, bucket: KIT, prefix: '', ...swift.admin, forcePathStyle: true },
    ...(dock ? { dock } : {}),
    office: { bucket: OFFICE, prefix: '', path: null, inbox: INBOX },
  };
}

let officeUrl: string;
let otherUrl: string;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-tls-reads-'));
  swift = await SwiftServer.create(path.join(root, 'swift'));
  for (const b of [OFFICE, INBOX, KIT]) await swift.createBucket(b);
  await swift.put(OFFICE, 'erasures/2026-12-01T00-00-00Z-notice.json', Buffer.from('{}'));
  await swift.put(KIT, 'kit-a/trainers/T-017/index.json.age', Buffer.from('index bytes'));
  ca = makeCa(root, 'office-ca');
  officeUrl = await tlsRelay(makeLeaf(root, 'office', ca, 'IP:127.0.0.1,DNS:localhost'));
  otherUrl = await tlsRelay(makeLeaf(root, 'portal', makeCa(root, 'portal-ca'), 'IP:127.0.0.1,DNS:localhost'));
}, 600_000);

afterAll(async () => {
  for (const r of relays) r.close();
  relays = [];
  await swift?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('the kit trusts its dock CA for every S3 request, not only uploads', () => {
  it('reads the office bucket, writes the case inbox and fetches through a private CA; refuses another certificate and the system CAs alone', async () => {
    const trusted = config(officeUrl, { caFile: ca.cert });
    expect(dockTrust(trusted)).toEqual({ caFile: ca.cert });
    expect((await openOfficeBucket(trusted)!.list('erasures/')).keys).toEqual(['erasures/2026-12-01T00-00-00Z-notice.json']);
    await openCaseInbox(trusted)!.put('cases/0123456789abcdef0123456789abcdef/kit-a', Buffer.alloc(0));
    expect((await swift.list(INBOX)).map((o) => o.key)).toEqual(['cases/0123456789abcdef0123456789abcdef/kit-a']);
    const source = new S3FetchSource({ endpoint: officeUrl, region: swift.region, ...swift.admin, tls: dockTrust(trusted)! });
    try {
      expect((await source.get(KIT, 'kit-a/trainers/T-017/index.json.age')).toString()).toBe('index bytes');
    } finally {
      source.close();
    }

    // the same store without the dock's trust (the system's CAs): refused, as is a server of another CA with it
    const untrusted = config(officeUrl, undefined);
    expect(dockTrust(untrusted)).toBeUndefined();
    await expect(openOfficeBucket(untrusted)!.list('erasures/')).rejects.toThrow(/certificate|self.signed|issuer/i);
    await expect(openOfficeBucket(config(otherUrl, { caFile: ca.cert }))!.list('erasures/')).rejects.toThrow(/certificate|self.signed|issuer/i);
    await expect(openCaseInbox(config(otherUrl, { caFile: ca.cert }))!.put('cases/x/kit-a', Buffer.alloc(0))).rejects.toThrow(
      /certificate|self.signed|issuer/i,
    );
  });
});
