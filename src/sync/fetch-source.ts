import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import http from 'node:http';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { AppError, describeError } from '../core/errors.js';
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

/** Writes every byte of `chunks` (`total` of them) at the file's position, however many writes that takes. */
async function writeAll(fh: FileHandle, chunks: Uint8Array[], total: number): Promise<void> {
  if (total === 0) return;
  let done = (await fh.writev(chunks)).bytesWritten;
  if (done === total) return;
  const rest = Buffer.concat(chunks);
  while (done < total) done += (await fh.write(rest, done, total - done)).bytesWritten;
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
  try {
    fh = await open(file, 'w', 0o600);
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    for await (const chunk of body) {
      bytes += chunk.byteLength;
      if (bytes > maxBytes) throw new AppError('BAD_REQUEST', `${what} has more than the ${maxBytes} bytes expected`, { field: 'bytes' });
      hash.update(chunk);
      batch.push(chunk);
      batchBytes += chunk.byteLength;
      if (batchBytes >= WRITE_BATCH_BYTES) {
        await writeAll(fh, batch, batchBytes);
        batch = [];
        batchBytes = 0;
      }
    }
    await writeAll(fh, batch, batchBytes);
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
  /** Whom to trust over https (`sync.dock`: a CA file or a pin); default the system's CAs. */
  tls?: TrustOptions;
}

/** FetchSource over S3 (Swift's s3api, Ceph RGW, MinIO, AWS): keep-alive connections, segments streamed to their files. */
export class S3FetchSource implements FetchSource {
  private readonly client: S3Client;
  private readonly agent: http.Agent;

  constructor(opts: S3FetchSourceOptions) {
    const maxSockets = opts.maxSockets ?? 8;
    const https = opts.endpoint === null || opts.endpoint.startsWith('https:');
    this.agent = https ? new TrustingAgent(loadTrust(opts.tls ?? {}), { maxSockets }) : new http.Agent({ keepAlive: true, maxSockets });
    this.client = new S3Client({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
      credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 4,
      requestHandler: {
        ...(https ? { httpsAgent: this.agent } : { httpAgent: this.agent }),
        requestTimeout: opts.requestTimeoutMs ?? 60_000,
        connectionTimeout: 10_000,
      },
    });
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
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      throw new AppError('INTERNAL', `reading s3://${bucket}/${key} failed: ${describeError(err)}`, { field: 'key', cause: err });
    }
  }

  /** One object streamed to `file` while hashed; an object the store says is larger than `maxBytes` is not read. */
  async download(bucket: string, key: string, file: string, maxBytes: number): Promise<Downloaded> {
    const what = `s3://${bucket}/${key}`;
    let body: Readable;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      body = res.Body as Readable;
      if (res.ContentLength !== undefined && res.ContentLength > maxBytes) {
        body.destroy();
        throw new AppError('BAD_REQUEST', `${what} is ${res.ContentLength} bytes, more than the ${maxBytes} expected`, { field: 'bytes' });
      }
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new AppError('INTERNAL', `reading ${what} failed: ${describeError(err)}`, { field: 'key', cause: err });
    }
    return streamToFile(body, file, maxBytes, what);
  }

  /** Ends the kept-alive connections. */
  close(): void {
    this.client.destroy();
    this.agent.destroy();
  }
}
