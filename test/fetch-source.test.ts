// Issue 20: the fetch source streams each object to its file while hashing it (src/sync/fetch-source.ts),
// over plain SigV4-signed GETs. Against the real S3 server (OpenStack Swift), which checks the
// signatures; a full card is a real tmpfs (as root); a connection that drops mid-body, a store that
// answers 503 and one that answers 500 are real HTTP servers on loopback.
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

  it('names the object when it is not there (NOT_FOUND)', async () => {
    const file = path.join(root, 'missing.part');
    const err = await source.download(BUCKET, 'kit-a/clips/c1/9.ts.age', file, 1e6).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NOT_FOUND', field: 'key' });
    expect(String(err)).toMatch(/reading s3:\/\/vht-org-kit-a\/kit-a\/clips\/c1\/9\.ts\.age failed: NoSuchKey \(HTTP 404\)/);
    expect(existsSync(file)).toBe(false);
    expect(await source.get(BUCKET, 'kit-a/clips/c1/9.ts.age').catch((e: unknown) => e)).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('signs keys with characters a URL must escape the way the store checks them', async () => {
    const odd = "kit-a/odd dir/a+b (1)!*'~=ü.bin";
    const body = randomBytes(70_000);
    await swift.put(BUCKET, odd, body);
    expect((await source.get(BUCKET, odd)).equals(body)).toBe(true);
    const file = path.join(root, 'odd.part');
    expect(await source.download(BUCKET, odd, file, body.length)).toEqual({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  });

  it('a wrong secret: FORBIDDEN, naming the object and the credential, not tried again', async () => {
    const wrong = new S3FetchSource({ endpoint: swift.endpoint, region: swift.region, accessKeyId: swift.admin.accessKeyId, secretAccessKey: 'not-it' });
    try {
      const err = await wrong.get(BUCKET, KEY).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'FORBIDDEN', field: 'key' });
      expect(String(err)).toMatch(/reading s3:\/\/vht-org-kit-a\/kit-a\/clips\/c1\/0\.ts\.age failed: \w+ \(HTTP 403\).*credential have read/);
    } finally {
      wrong.close();
    }
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

  /** A store on loopback that answers each GET with what `answer` says (its count of requests so far). */
  async function store(
    answer: (n: number, res: http.ServerResponse, req: http.IncomingMessage) => void,
    now?: () => number,
  ): Promise<{ source: S3FetchSource; requests: () => number; close: () => Promise<void> }> {
    let n = 0;
    const server = http.createServer((req, res) => answer(++n, res, req));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const src = new S3FetchSource({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: swift.region,
      ...swift.admin,
      ...(now ? { now } : {}),
    });
    return {
      source: src,
      requests: () => n,
      close: async () => {
        src.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }
  const s3Error = (res: http.ServerResponse, status: number, code: string) => {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>try later</Message></Error>`);
  };

  it('a store that answers 503 once: tried again, and the object arrives whole', async () => {
    const s = await store((n, res) => {
      if (n === 1) return s3Error(res, 503, 'SlowDown');
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
    });
    try {
      const file = path.join(root, 'after-503.part');
      expect(await s.source.download(BUCKET, KEY, file, BODY.length)).toEqual({ bytes: BODY.length, sha256: SHA });
      expect(s.requests()).toBe(2);
    } finally {
      await s.close();
    }
  });

  it("signs with the kit's clock, and a store that finds it skewed gets an error about the kit's time", async () => {
    const dates: string[] = [];
    const s = await store(
      (_n, res, req) => {
        dates.push(String(req.headers['x-amz-date']));
        s3Error(res, 403, 'RequestTimeTooSkewed');
      },
      () => Date.UTC(2030, 0, 2, 3, 4, 5),
    );
    try {
      const err = await s.source.get(BUCKET, KEY).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'FORBIDDEN' });
      expect(String(err)).toMatch(/RequestTimeTooSkewed \(HTTP 403\).*check the kit's time/);
      // signed with the kit's time, and not tried again
      expect(dates).toEqual(['20300102T030405Z']);
    } finally {
      await s.close();
    }
  });

  it('a store that keeps answering 500: four tries, then an error with its S3 code, no part file', async () => {
    const s = await store((_n, res) => s3Error(res, 500, 'InternalError'));
    try {
      const file = path.join(root, 'after-500.part');
      const err = await s.source.download(BUCKET, KEY, file, BODY.length).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'INTERNAL', field: 'key' });
      expect(String(err)).toContain(`reading s3://${BUCKET}/${KEY} failed: InternalError (HTTP 500)`);
      expect(s.requests()).toBe(4);
      expect(existsSync(file)).toBe(false);
    } finally {
      await s.close();
    }
  });

  it('a connection that drops half-way through the body: an error naming the object, no part file', async () => {
    // a store that promises the whole object and sends half of it
    const s = await store((_n, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length), 'content-type': 'application/octet-stream' });
      res.write(BODY.subarray(0, BODY.length >> 1), () => res.socket?.destroy());
    });
    try {
      const file = path.join(root, 'cut.part');
      const err = await s.source.download(BUCKET, KEY, file, BODY.length).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'INTERNAL', field: 'file' });
      expect(String(err)).toContain(`fetching s3://${BUCKET}/${KEY} into ${file} failed`);
      expect(existsSync(file)).toBe(false);
    } finally {
      await s.close();
    }
  });
});
