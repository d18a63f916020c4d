// Issue 20: the fetch source streams each object to its file while hashing it (src/sync/fetch-source.ts).
// Against the real S3 server (OpenStack Swift); a full card is a real tmpfs (as root); a connection
// that drops mid-body is a real HTTP server on loopback that stops half-way.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadTo, S3FetchSource, type FetchSource } from '../src/sync/fetch-source.js';
import { TinyFs } from './helpers/faults.js';
import { SwiftServer } from './helpers/swift.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const BUCKET = 'vht-org-kit-a';
const KEY = 'kit-a/clips/c1/0.ts.age';
const BODY = randomBytes(3 * 1024 * 1024 + 12_345);
const SHA = createHash('sha256').update(BODY).digest('hex');
let root: string;
let swift: SwiftServer;
let source: S3FetchSource;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-fetch-source-'));
  swift = await SwiftServer.create(path.join(root, 'swift'));
  await swift.createBucket(BUCKET);
  await swift.put(BUCKET, KEY, BODY);
  source = new S3FetchSource({ endpoint: swift.endpoint, region: swift.region, ...swift.admin, maxSockets: 4 });
}, 600_000);

afterAll(async () => {
  source?.close();
  await swift?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('S3FetchSource.download: an object streamed to its file while hashed', () => {
  it('writes every byte (mode 0600) and returns its size and SHA-256', async () => {
    const file = path.join(root, 'whole.part');
    const got = await source.download(BUCKET, KEY, file, BODY.length);
    expect(got).toEqual({ bytes: BODY.length, sha256: SHA });
    expect(readFileSync(file).equals(BODY)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // again over the kept-alive connection, into the same file: truncated and rewritten, not appended
    expect(await source.download(BUCKET, KEY, file, BODY.length)).toEqual({ bytes: BODY.length, sha256: SHA });
    expect(statSync(file).size).toBe(BODY.length);
  });

  it('refuses an object larger than expected before reading it, and leaves no file', async () => {
    const file = path.join(root, 'too-big.part');
    const err = await source.download(BUCKET, KEY, file, 1000).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BAD_REQUEST', field: 'bytes' });
    expect(String(err)).toContain(`s3://${BUCKET}/${KEY} is ${BODY.length} bytes, more than the 1000 expected`);
    expect(existsSync(file)).toBe(false);
  });

  it('names the object when it is not there', async () => {
    const file = path.join(root, 'missing.part');
    const err = await source.download(BUCKET, 'kit-a/clips/c1/9.ts.age', file, 1e6).catch((e: unknown) => e);
    expect(String(err)).toMatch(/reading s3:\/\/vht-org-kit-a\/kit-a\/clips\/c1\/9\.ts\.age failed/);
    expect(existsSync(file)).toBe(false);
  });

  it('a source without streaming (read whole) writes the same file through downloadTo', async () => {
    const whole: FetchSource = { list: (b, p) => source.list(b, p), get: (b, k) => source.get(b, k), close: () => undefined };
    const file = path.join(root, 'via-get.part');
    expect(await downloadTo(whole, BUCKET, KEY, file, BODY.length)).toEqual({ bytes: BODY.length, sha256: SHA });
    expect(readFileSync(file).equals(BODY)).toBe(true);
    const err = await downloadTo(whole, BUCKET, KEY, path.join(root, 'via-get-small.part'), 100).catch((e: unknown) => e);
    expect(String(err)).toMatch(/has more than the 100 bytes expected/);
    expect(existsSync(path.join(root, 'via-get-small.part'))).toBe(false);
  });
});

describe('faults while streaming: a full card, a dropped connection', () => {
  it('a full card (ENOSPC on a 1 MB tmpfs): STORAGE_FULL naming the object and the file, the part file removed, the card free again', async (ctx) => {
    const fs = new TinyFs(path.join(root, 'tiny'), 1);
    const why = fs.mount();
    if (why) return ctx.skip(why);
    try {
      const file = path.join(fs.dir, '0.ts.age.part');
      const free = fs.freeBytes();
      const err = await source.download(BUCKET, KEY, file, BODY.length).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'STORAGE_FULL', field: 'file' });
      expect(String(err)).toContain(`fetching s3://${BUCKET}/${KEY} into ${file} failed`);
      expect(existsSync(file)).toBe(false);
      expect(readdirSync(fs.dir)).toEqual([]);
      expect(fs.freeBytes()).toBe(free);
      // the source still works afterwards (the aborted body did not wedge a connection)
      expect((await source.download(BUCKET, KEY, path.join(root, 'after-enospc.part'), BODY.length)).sha256).toBe(SHA);
    } finally {
      fs.unmount();
    }
  });

  it('a connection that drops half-way through the body: an error naming the object, no part file', async () => {
    // a real server on loopback that promises the whole object and sends half of it
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length), 'content-type': 'application/octet-stream' });
      res.write(BODY.subarray(0, BODY.length >> 1), () => res.socket?.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const cut = new S3FetchSource({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: swift.region,
      ...swift.admin,
    });
    try {
      const file = path.join(root, 'cut.part');
      const err = await cut.download(BUCKET, KEY, file, BODY.length).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'INTERNAL', field: 'file' });
      expect(String(err)).toContain(`fetching s3://${BUCKET}/${KEY} into ${file} failed`);
      expect(existsSync(file)).toBe(false);
    } finally {
      cut.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
