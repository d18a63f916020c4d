import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { AppError, describeError } from '../core/errors.js';
import { BufferPool } from './buffers.js';
import { loadTrust, TrustingAgent, type TrustOptions } from './tls.js';

/** One listed object: its name, size and when the store got it. */
export interface ListedObject {
  key: string;
  bytes: number;
  lastModified: number;
}

/** What a download wrote to its file: how many bytes, and their SHA-256 (hex). */
export interface Downloaded {
  bytes: number;
  sha256: string;
}

/** Read access to the team's buckets (the kit's storage credential: read on its team's buckets, container ACLs on Swift). */
export interface FetchSource {
  list(bucket: string, prefix: string): Promise<ListedObject[]>;
  get(bucket: string, key: string): Promise<Buffer>;
  /** Streams one object into `file` (mode 0600, not flushed) while hashing it; more than `maxBytes` is refused. Without it, `downloadTo` reads the object whole. */
  download?(bucket: string, key: string, file: string, maxBytes: number): Promise<Downloaded>;
  close(): void;
}

/** Bytes gathered before one write: a few writes per segment, not one per network chunk. */
const WRITE_BATCH_BYTES = 256 * 1024;
/** The gathering buffers, reused: a new one per segment was as much garbage as the segments themselves. */
const writeBuffers = new BufferPool(16, WRITE_BATCH_BYTES);

/** Writes `data` at the file's position, however many writes that takes. */
async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  for (let done = 0; done < data.length;) done += (await fh.write(data, done, data.length - done)).bytesWritten;
}

/**
 * Writes a stream of bytes to `file` (created or truncated, mode 0600) while computing their SHA-256:
 * no whole-object buffer, a write per 256 KiB. Not flushed: the caller makes the file durable once it
 * has checked the hash. On any error (the network, ENOSPC, EIO, more than `maxBytes`) the file is
 * removed and the error names `what` and the file.
 */
export async function streamToFile(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, file: string, maxBytes: number, what: string): Promise<Downloaded> {
  const hash = createHash('sha256');
  let bytes = 0;
  let fh: FileHandle | null = null;
  let batch: Buffer | null = null;
  try {
    fh = await open(file, 'w', 0o600);
    // the network's chunks are copied into one buffer and let go at once: kept until a write, they
    // outlive the young generation and the garbage collector's full runs cost more than the copy
    batch = writeBuffers.take(WRITE_BATCH_BYTES);
    let batchBytes = 0;
    for await (const chunk of body) {
      bytes += chunk.byteLength;
      if (bytes > maxBytes) throw new AppError('BAD_REQUEST', `${what} has more than the ${maxBytes} bytes expected`, { field: 'bytes' });
      hash.update(chunk);
      for (let at = 0; at < chunk.byteLength;) {
        const n = Math.min(chunk.byteLength - at, WRITE_BATCH_BYTES - batchBytes);
        batch.set(chunk.subarray(at, at + n), batchBytes);
        batchBytes += n;
        at += n;
        if (batchBytes === WRITE_BATCH_BYTES) {
          await writeAll(fh, batch.subarray(0, WRITE_BATCH_BYTES));
          batchBytes = 0;
        }
      }
    }
    await writeAll(fh, batch.subarray(0, batchBytes));
    const done = fh;
    fh = null;
    await done.close();
  } catch (err) {
    const closeErr = fh
      ? await fh.close().then(
          () => null,
          (e: unknown) => e,
        )
      : null;
    rmSync(file, { force: true });
    if (err instanceof AppError && closeErr === null) throw err;
    const code = (err as NodeJS.ErrnoException).code === 'ENOSPC' ? 'STORAGE_FULL' : 'INTERNAL';
    const closing = closeErr ? ` (closing the file: ${describeError(closeErr)})` : '';
    throw new AppError(code, `fetching ${what} into ${file} failed: ${describeError(err)}${closing}`, { field: 'file', cause: err });
  } finally {
    // no write is in flight here: every one was awaited
    if (batch) writeBuffers.give(batch);
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** One object into `file` with its size and SHA-256: streamed when the source can, else read whole and written the same way. */
export async function downloadTo(source: FetchSource, bucket: string, key: string, file: string, maxBytes: number): Promise<Downloaded> {
  if (source.download) return source.download(bucket, key, file, maxBytes);
  return streamToFile([await source.get(bucket, key)], file, maxBytes, `s3://${bucket}/${key}`);
}

export interface S3FetchSourceOptions {
  endpoint: string | null;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Connections kept open to the store (keep-alive): at least the fetch's parallel GETs. Default 8. */
  maxSockets?: number;
  /** A request with no bytes moving for this long fails (and is retried by the SDK). Default 60 s. */
  requestTimeoutMs?: number;
  /** The time the requests are signed with (the kit's clock, which a phone may have corrected); default the system's. */
  now?: () => number;
  /** Whom to trust over https (`sync.dock`: a CA file or a pin); default the system's CAs. */
  tls?: TrustOptions;
}

/** SHA-256 and HMAC-SHA-256 on node:crypto, in the shape the SDK's request signer takes. */
class NodeSha256 {
  private h: Hash | Hmac;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = this.fresh();
  }
  private fresh(): Hash | Hmac {
    if (this.secret === undefined) return createHash('sha256');
    const s = this.secret;
    const key = typeof s === 'string' ? s : ArrayBuffer.isView(s) ? Buffer.from(s.buffer, s.byteOffset, s.byteLength) : Buffer.from(s);
    return createHmac('sha256', key);
  }
  update(data: Uint8Array | string): void {
    this.h.update(data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
  reset(): void {
    this.h = this.fresh();
  }
}

/** The SHA-256 of an empty body (a GET's payload hash). */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** Tries of one GET when the store answers 5xx or the connection fails before an answer (as the SDK's standard retry). */
const GET_ATTEMPTS = 4;

/** A GET the store refused: its HTTP status and S3 error code. */
class StoreRefusal extends Error {
  constructor(
    readonly status: number,
    readonly s3Code: string,
  ) {
    super(`${s3Code} (HTTP ${status})`);
  }
}

/** An S3 key in a URL path: each part percent-encoded as RFC 3986 (as S3's signature expects), the slashes kept. */
const encodeKey = (key: string): string =>
  key
    .split('/')
    .map((p) => encodeURIComponent(p).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');

/**
 * FetchSource over S3 (Swift's s3api, Ceph RGW, MinIO, AWS): keep-alive connections, segments streamed to their files.
 * Lists go through the SDK; GETs are plain signed requests (the SDK's own SigV4 signer): the SDK's request pipeline
 * cost about 3 ms of CPU a GET here, as much as the bytes of a 1 MB segment (docs/performance.md, "Issue 20").
 */
export class S3FetchSource implements FetchSource {
  private readonly client: S3Client;
  private readonly agent: http.Agent;
  private readonly signer: SignatureV4;
  private readonly endpoint: URL | null;
  private readonly timeoutMs: number;

  constructor(private readonly opts: S3FetchSourceOptions) {
    const maxSockets = opts.maxSockets ?? 8;
    const https = opts.endpoint === null || opts.endpoint.startsWith('https:');
    this.agent = https ? new TrustingAgent(loadTrust(opts.tls ?? {}), { maxSockets }) : new http.Agent({ keepAlive: true, maxSockets });
    this.endpoint = opts.endpoint === null ? null : new URL(opts.endpoint);
    this.timeoutMs = opts.requestTimeoutMs ?? 60_000;
    const credentials = { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey };
    this.signer = new SignatureV4({ credentials, region: opts.region, service: 's3', sha256: NodeSha256, uriEscapePath: false });
    this.client = new S3Client({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
      credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 4,
      requestHandler: {
        ...(https ? { httpsAgent: this.agent } : { httpAgent: this.agent }),
        requestTimeout: this.timeoutMs,
        connectionTimeout: 10_000,
      },
    });
  }

  /** Where an object is: path-style at the configured endpoint, or AWS's virtual-hosted address. */
  private locate(bucket: string, key: string): { protocol: 'http:' | 'https:'; hostname: string; port: number | undefined; path: string } {
    const e = this.endpoint;
    if (e === null) return { protocol: 'https:', hostname: `${bucket}.s3.${this.opts.region}.amazonaws.com`, port: undefined, path: `/${encodeKey(key)}` };
    const base = e.pathname.replace(/\/+$/, '');
    return {
      protocol: e.protocol === 'http:' ? 'http:' : 'https:',
      hostname: e.hostname.replace(/^\[|\]$/g, ''),
      port: e.port === '' ? undefined : Number(e.port),
      path: `${base}/${encodeURIComponent(bucket)}/${encodeKey(key)}`,
    };
  }

  /** A signed GET of one object: the response once the store answered 200; 5xx and failed connections are tried again. */
  private async open(bucket: string, key: string): Promise<http.IncomingMessage> {
    const { protocol, hostname, port, path } = this.locate(bucket, key);
    const bracketed = hostname.includes(':') ? `[${hostname}]` : hostname;
    const host = port === undefined ? bracketed : `${bracketed}:${port}`;
    for (let attempt = 1; ; attempt++) {
      const signed = await this.signer.sign(
        {
          method: 'GET',
          protocol,
          hostname,
          port,
          path,
          query: {},
          headers: { host, 'x-amz-content-sha256': EMPTY_SHA256 },
        },
        { signingDate: new Date(this.opts.now?.() ?? Date.now()) },
      );
      try {
        const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
          const req = (protocol === 'https:' ? https : http).request(
            { method: 'GET', hostname, port, path, headers: signed.headers, agent: this.agent, timeout: this.timeoutMs },
            resolve,
          );
          // no byte for this long, before or during the body: the request ends with an error
          req.on('timeout', () => req.destroy(new Error(`no answer from the store for ${this.timeoutMs} ms`)));
          req.on('error', reject);
          req.end();
        });
        if (res.statusCode === 200) return res;
        let text = '';
        for await (const chunk of res) if (text.length < 16_384) text += String(chunk);
        throw new StoreRefusal(res.statusCode ?? 0, /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? 'no S3 error code');
      } catch (err) {
        // as the SDK's standard retry: 5xx, 429, a request the store timed out, a connection that failed before an answer
        const again = err instanceof StoreRefusal ? err.status >= 500 || err.status === 429 || err.s3Code === 'RequestTimeout' : true;
        if (!again || attempt >= GET_ATTEMPTS) throw err;
        await sleep(100 * 2 ** attempt);
      }
    }
  }

  /** The AppError for a failed GET: NOT_FOUND when the object is not there, FORBIDDEN when the credential may not read it. */
  private failure(what: string, err: unknown): AppError {
    if (err instanceof AppError) return err;
    const status = err instanceof StoreRefusal ? err.status : 0;
    const code = status === 404 ? 'NOT_FOUND' : status === 403 ? 'FORBIDDEN' : 'INTERNAL';
    const skewed = err instanceof StoreRefusal && err.s3Code === 'RequestTimeTooSkewed';
    const hint = skewed
      ? " (the kit's clock and the store's differ by more than 15 minutes: check the kit's time)"
      : status === 403
        ? " (does this kit's credential have read on that bucket?)"
        : '';
    return new AppError(code, `reading ${what} failed: ${describeError(err)}${hint}`, { field: 'key', cause: err });
  }

  /** Every object under the prefix, with size and time. */
  async list(bucket: string, prefix: string): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })).catch((err: unknown) => {
        throw new AppError(
          'FORBIDDEN',
          `listing s3://${bucket}/${prefix} failed: ${describeError(err)} (does this kit's credential have read on that bucket?)`,
          {
            field: 'sync.s3.accessKeyId',
            cause: err,
          },
        );
      });
      for (const o of res.Contents ?? []) if (o.Key) out.push({ key: o.Key, bytes: o.Size ?? 0, lastModified: o.LastModified?.getTime() ?? 0 });
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /** One object's bytes. */
  async get(bucket: string, key: string): Promise<Buffer> {
    const what = `s3://${bucket}/${key}`;
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of await this.open(bucket, key)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    } catch (err) {
      throw this.failure(what, err);
    }
  }

  /** One object streamed to `file` while hashed; an object the store says is larger than `maxBytes` is not read. */
  async download(bucket: string, key: string, file: string, maxBytes: number): Promise<Downloaded> {
    const what = `s3://${bucket}/${key}`;
    let body: http.IncomingMessage;
    try {
      body = await this.open(bucket, key);
    } catch (err) {
      throw this.failure(what, err);
    }
    const length = Number(body.headers['content-length'] ?? NaN);
    if (length > maxBytes) {
      body.destroy();
      throw new AppError('BAD_REQUEST', `${what} is ${length} bytes, more than the ${maxBytes} expected`, { field: 'bytes' });
    }
    try {
      return await streamToFile(body, file, maxBytes, what);
    } finally {
      // a file that could not be opened leaves the answer unread: end it, so the connection is not held
      if (!body.readableEnded) body.destroy();
    }
  }

  /** Ends the kept-alive connections. */
  close(): void {
    this.client.destroy();
    this.agent.destroy();
  }
}
