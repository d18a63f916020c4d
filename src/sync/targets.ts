import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import { fsyncDir } from '../store/durable.js';
import { errorCode, networkError, SyncError } from './errors.js';
import { loadTrust, TrustingAgent, type TrustOptions } from './tls.js';
import { clockProblem } from '../core/clock-sanity.js';

/** What a target needs to store one object. */
export interface PutOptions {
  /** Hex MD5 of `body`: sent as Content-MD5 (S3) and compared with the confirmation. */
  md5Hex: string;
  /** Hex SHA-256 of `body` when the caller has it: S3 signs it as x-amz-content-sha256 (no second hash). */
  sha256Hex?: string;
  signal?: AbortSignal;
}

export interface PutResult {
  /** The object was there already, byte for byte (dir target); nothing was written. */
  alreadyPresent: boolean;
}

/**
 * Where confirmed uploads go. `put` resolves only when the target has confirmed the object
 * (S3: 200 with an ETag equal to the MD5 sent; dir: fsynced and renamed into place). Putting the
 * same key again with the same bytes is harmless and never makes a second copy. Targets never
 * read, list or delete (the kit's credentials may be write-only).
 */
export interface UploadTarget {
  readonly kind: 's3' | 'dir';
  /**
   * Identifies the destination (endpoint, bucket, prefix / directory): confirmations are kept per
   * target id, so a new destination gets everything not yet confirmed. Holds no secrets.
   */
  readonly id: string;
  put(key: string, body: Uint8Array, opts: PutOptions): Promise<PutResult>;
  close(): void;
}

const KEY_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A relative object key of safe parts (`kit-07/clips/<id>/0.ts.age`): never `..`, never absolute. */
export function checkKey(key: string): string {
  const parts = key.split('/');
  if (key.length === 0 || key.length > 900 || parts.some((p) => !KEY_PART.test(p) || p === '..')) {
    throw new AppError('VALIDATION', `object key ${JSON.stringify(key)} is not a relative key of [A-Za-z0-9._-] parts`, { field: 'key' });
  }
  return key;
}

/** A prefix of zero or more safe parts, without leading or trailing slash. */
export function checkPrefix(prefix: string | undefined, field: string): string {
  const p = (prefix ?? '').replace(/^\/+|\/+$/g, '');
  if (p === '') return '';
  if (p.split('/').some((part) => !KEY_PART.test(part))) {
    throw new AppError('VALIDATION', `${field} ${JSON.stringify(prefix)} must be parts of [A-Za-z0-9._-] separated by "/"`, { field });
  }
  return p;
}

export function md5Hex(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// S3

export interface S3TargetOptions {
  /** e.g. https://s3.example.org or http://127.0.0.1:9000 (http only for tests: see sync.dock). */
  endpoint: string;
  region: string;
  bucket: string;
  /** Key prefix in the bucket (the kit id follows it). */
  prefix?: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Path-style URLs (endpoint/bucket/key): needed for most self-hosted S3 servers. Default true. */
  forcePathStyle?: boolean;
  /** The TLS trust for an https endpoint (same as sync.dock); default: the system CAs. */
  tls?: TrustOptions;
  /** Per request: no answer within this many ms counts as a timeout (retried). Default 60 000. */
  requestTimeoutMs?: number;
  /** TCP/TLS connect timeout. Default 10 000. */
  connectTimeoutMs?: number;
  /** Parallel connections kept alive. Default 4. */
  maxSockets?: number;
  /**
   * Requests are signed with this clock's time (the kit's idea of now), so a wrong kit clock shows
   * as CLOCK_SKEW rather than being silently corrected by the SDK.
   */
  clock?: Clock;
}

/** The S3 error codes that mean "fix something, retrying will not help". */
function s3Error(err: unknown, ctx: { bucket: string; accessKeyId: string; endpoint: string; kitNow: number }): SyncError {
  const { bucket, accessKeyId, endpoint } = ctx;
  if (err instanceof SyncError) return err;
  if (err instanceof S3ServiceException || (typeof err === 'object' && err !== null && '$metadata' in err)) {
    const e = err as S3ServiceException & { Code?: string };
    const status = e.$metadata?.httpStatusCode;
    const code = e.Code ?? e.name;
    const opts = { cause: err, httpStatus: status };
    if (status === undefined) return networkError(err, endpoint);
    if (code === 'RequestTimeTooSkewed') {
      return new SyncError(
        'CLOCK_SKEW',
        `${endpoint} refused the upload because the kit's clock (${new Date(ctx.kitNow).toISOString()}) is too far from the storage's time: set the kit's clock (NTP) and dock again`,
        opts,
      );
    }
    if (code === 'NoSuchBucket') {
      return new SyncError('NO_SUCH_BUCKET', `sync.s3.bucket ${JSON.stringify(bucket)} does not exist on ${endpoint}: create it or correct the bucket name`, {
        ...opts,
        field: 'sync.s3.bucket',
      });
    }
    if (code === 'BadDigest' || code === 'XAmzContentSHA256Mismatch' || code === 'IncompleteBody') {
      return new SyncError('BAD_DIGEST', `${endpoint} received a damaged body (${code}); it is sent again`, opts);
    }
    if (code === 'RequestTimeout') return new SyncError('TIMEOUT', `${endpoint} timed out reading the body (${code})`, opts);
    if (status === 403 || status === 401 || code === 'AccessDenied' || code === 'SignatureDoesNotMatch' || code === 'InvalidAccessKeyId') {
      return new SyncError(
        'ACCESS_DENIED',
        `${endpoint} refused the kit's credentials for bucket ${JSON.stringify(bucket)} (${code}, HTTP ${status}): check sync.s3.accessKeyId ${JSON.stringify(accessKeyId)}, sync.s3.secretAccessKey and that this key may write to the bucket`,
        { ...opts, field: 'sync.s3.accessKeyId' },
      );
    }
    if (status === 507) return new SyncError('STORAGE_FULL', `${endpoint} is out of space (HTTP 507): free space on the storage`, opts);
    if (status >= 500 || status === 429) return new SyncError('SERVER', `${endpoint} answered HTTP ${status} (${code}); retrying`, opts);
    return new SyncError('REJECTED', `${endpoint} rejected the upload: HTTP ${status} ${code}: ${e.message}`, opts);
  }
  return networkError(err, endpoint);
}

/**
 * An S3-compatible bucket. Every PUT carries Content-MD5 and is confirmed by the ETag of the answer
 * (the hex MD5 for a single-part PUT). No multipart: segments are ~1 MB. Only PutObject is used.
 */
export class S3Target implements UploadTarget {
  readonly kind = 's3' as const;
  readonly id: string;
  private readonly client: S3Client;
  private readonly prefix: string;
  private readonly agent: http.Agent;

  constructor(private readonly opts: S3TargetOptions) {
    let url: URL;
    try {
      url = new URL(opts.endpoint);
    } catch {
      throw new AppError('VALIDATION', `sync.s3.endpoint ${JSON.stringify(opts.endpoint)} is not a URL`, { field: 'sync.s3.endpoint' });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new AppError('VALIDATION', `sync.s3.endpoint ${JSON.stringify(opts.endpoint)} must start with https:// (or http:// for a test server)`, {
        field: 'sync.s3.endpoint',
      });
    }
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(opts.bucket)) {
      throw new AppError('VALIDATION', `sync.s3.bucket ${JSON.stringify(opts.bucket)} is not a valid bucket name`, { field: 'sync.s3.bucket' });
    }
    if (!opts.accessKeyId) throw new AppError('VALIDATION', 'sync.s3.accessKeyId is empty', { field: 'sync.s3.accessKeyId' });
    if (!opts.secretAccessKey) throw new AppError('VALIDATION', 'sync.s3.secretAccessKey is empty', { field: 'sync.s3.secretAccessKey' });
    this.prefix = checkPrefix(opts.prefix, 'sync.s3.prefix');
    this.id = `s3:${url.origin}/${opts.bucket}/${this.prefix}`;
    const maxSockets = opts.maxSockets ?? 4;
    this.agent = url.protocol === 'https:' ? new TrustingAgent(loadTrust(opts.tls ?? {}), { maxSockets }) : new http.Agent({ keepAlive: true, maxSockets });
    this.client = new S3Client({
      endpoint: opts.endpoint,
      region: opts.region,
      forcePathStyle: opts.forcePathStyle ?? true,
      credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1, // the sync queue retries, with backoff on the injected clock
      requestHandler: {
        ...(url.protocol === 'https:' ? { httpsAgent: this.agent } : { httpAgent: this.agent }),
        requestTimeout: opts.requestTimeoutMs ?? 60_000,
        connectionTimeout: opts.connectTimeoutMs ?? 10_000,
        throwOnRequestTimeout: true,
      },
    });
  }

  objectKey(key: string): string {
    checkKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  async put(key: string, body: Uint8Array, opts: PutOptions): Promise<PutResult> {
    const Key = this.objectKey(key);
    // No RTC: refuse to sign (SigV4) with a clock that has not been set yet (src/core/clock-sanity.ts).
    const clockIssue = clockProblem(this.opts.clock?.now() ?? Date.now());
    if (clockIssue) throw new SyncError('CLOCK_SKEW', clockIssue);
    if (this.opts.clock) this.client.config.systemClockOffset = this.opts.clock.now() - Date.now();
    let etag: string | undefined;
    const command = new PutObjectCommand({
      Bucket: this.opts.bucket,
      Key,
      Body: body,
      ContentLength: body.byteLength,
      ContentMD5: Buffer.from(opts.md5Hex, 'hex').toString('base64'),
      ContentType: 'application/octet-stream',
    });
    const sha256 = opts.sha256Hex;
    if (sha256) {
      command.middlewareStack.add(
        (next) => async (args) => {
          const req = args.request as { headers?: Record<string, string> };
          if (req.headers) req.headers['x-amz-content-sha256'] = sha256;
          return next(args);
        },
        { step: 'build', name: 'vhtKnownPayloadHash' },
      );
    }
    try {
      const res = await this.client.send(command, opts.signal ? { abortSignal: opts.signal } : {});
      etag = res.ETag;
    } catch (err) {
      if (opts.signal?.aborted) throw new SyncError('ABORTED', `upload of ${Key} stopped`, { cause: err });
      throw s3Error(err, {
        bucket: this.opts.bucket,
        accessKeyId: this.opts.accessKeyId,
        endpoint: this.opts.endpoint,
        kitNow: this.opts.clock?.now() ?? Date.now(),
      });
    }
    const got = (etag ?? '').replace(/"/g, '').toLowerCase();
    if (got !== opts.md5Hex) {
      throw new SyncError(
        'ETAG_MISMATCH',
        `${this.opts.endpoint} confirmed ${Key} with ETag ${JSON.stringify(etag ?? null)}, not the MD5 ${opts.md5Hex} the kit sent; it is sent again`,
      );
    }
    return { alreadyPresent: false };
  }

  close(): void {
    this.client.destroy();
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Directory (a mounted share)

export interface DirTargetOptions {
  /** The share's directory, e.g. /mnt/vht-share. It is never created: a missing one is an error. */
  path: string;
  /** Key prefix under the directory. */
  prefix?: string;
  /**
   * Refuse unless `path` is a mount point (another device than its parent), so a share that is not
   * mounted does not fill the kit's own card. Default false.
   */
  requireMountPoint?: boolean;
}

/**
 * A mounted share (SMB/NFS/USB disk): each object is written to a temp file in its final
 * directory, fsynced, renamed into place, and the directory fsynced. A file that is already there
 * with the same bytes counts as done. A read-only or full share stops the run with a clear error.
 */
export class DirTarget implements UploadTarget {
  readonly kind = 'dir' as const;
  readonly id: string;
  private readonly root: string;
  private readonly prefix: string;

  constructor(private readonly opts: DirTargetOptions) {
    if (!opts.path || !path.isAbsolute(opts.path)) {
      throw new AppError('VALIDATION', `sync.dir.path ${JSON.stringify(opts.path)} must be an absolute directory path`, { field: 'sync.dir.path' });
    }
    this.root = path.resolve(opts.path);
    this.prefix = checkPrefix(opts.prefix, 'sync.dir.prefix');
    this.id = `dir:${this.prefix ? path.join(this.root, this.prefix) : this.root}`;
  }

  /** Whether the share is there and writable; a reason when not (for the dock check). */
  async check(): Promise<{ ok: true } | { ok: false; reason: string; error: SyncError }> {
    try {
      await this.checkRoot();
      const probe = path.join(this.root, `.vht-kit-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
      try {
        const fh = await open(probe, 'wx', 0o600);
        await fh.close();
      } finally {
        await rm(probe, { force: true }).catch(() => undefined);
      }
      return { ok: true };
    } catch (err) {
      const e = this.fsError(err, this.root);
      return { ok: false, reason: e.message, error: e };
    }
  }

  private async checkRoot(): Promise<void> {
    let st;
    try {
      st = await stat(this.root);
    } catch (err) {
      throw new SyncError('NOT_MOUNTED', `sync.dir.path ${JSON.stringify(this.root)} is not there (${errorCode(err) ?? 'missing'}): mount the share`, {
        field: 'sync.dir.path',
        cause: err,
      });
    }
    if (!st.isDirectory()) {
      throw new SyncError('NOT_MOUNTED', `sync.dir.path ${JSON.stringify(this.root)} is not a directory`, { field: 'sync.dir.path' });
    }
    if (this.opts.requireMountPoint) {
      const parent = await stat(path.dirname(this.root));
      if (parent.dev === st.dev && this.root !== '/') {
        throw new SyncError(
          'NOT_MOUNTED',
          `sync.dir.path ${JSON.stringify(this.root)} is not a mount point (the share is not mounted); nothing is written to the kit's own card`,
          { field: 'sync.dir.path' },
        );
      }
    }
  }

  private fsError(err: unknown, where: string): SyncError {
    if (err instanceof SyncError) return err;
    const code = errorCode(err);
    const msg = (err as Error)?.message ?? String(err);
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
      return new SyncError(
        'READ_ONLY',
        `the share sync.dir.path ${JSON.stringify(this.root)} cannot be written (${code} at ${where}): mount it read-write or give the kit write permission`,
        { field: 'sync.dir.path', cause: err },
      );
    }
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      return new SyncError('STORAGE_FULL', `the share sync.dir.path ${JSON.stringify(this.root)} is full (${code}): free space on it and dock again`, {
        field: 'sync.dir.path',
        cause: err,
      });
    }
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return new SyncError('NOT_MOUNTED', `the share sync.dir.path ${JSON.stringify(this.root)} went away (${code} at ${where}): is it still mounted?`, {
        field: 'sync.dir.path',
        cause: err,
      });
    }
    if (code === 'EIO' || code === 'ESTALE' || code === 'ETIMEDOUT' || code === 'EHOSTDOWN' || code === 'ECONNRESET') {
      return new SyncError('NETWORK', `the share sync.dir.path ${JSON.stringify(this.root)} failed (${code} at ${where}); retrying`, {
        field: 'sync.dir.path',
        cause: err,
      });
    }
    return new SyncError('REJECTED', `writing to the share sync.dir.path ${JSON.stringify(this.root)} failed at ${where}: ${msg}`, {
      field: 'sync.dir.path',
      cause: err,
    });
  }

  filePath(key: string): string {
    checkKey(key);
    return path.join(this.root, this.prefix, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array, opts: PutOptions): Promise<PutResult> {
    if (opts.signal?.aborted) throw new SyncError('ABORTED', `upload of ${key} stopped`);
    await this.checkRoot();
    const target = this.filePath(key);
    const dir = path.dirname(target);
    let where = dir;
    try {
      await this.makeDirs(dir);
      where = target;
      if (await this.sameFile(target, body, opts.md5Hex)) return { alreadyPresent: true };
      const tmp = path.join(dir, `.tmp-${path.basename(target)}-${process.pid}-${randomBytes(4).toString('hex')}`);
      where = tmp;
      const fh = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o640);
      try {
        await fh.writeFile(body);
        await fh.sync();
        await fh.close();
      } catch (err) {
        await fh.close().catch(() => undefined);
        await rm(tmp, { force: true }).catch(() => undefined);
        throw err;
      }
      try {
        await rename(tmp, target);
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => undefined);
        throw err;
      }
      where = dir;
      fsyncDir(dir);
      return { alreadyPresent: false };
    } catch (err) {
      throw this.fsError(err, where);
    }
  }

  /**
   * Makes the directories from the share's root down to `dir` one by one (so a read-only share
   * reports EROFS, not ENOENT) and fsyncs each parent that got a new entry.
   */
  private async makeDirs(dir: string): Promise<void> {
    const rel = path.relative(this.root, dir);
    let current = this.root;
    for (const part of rel.split(path.sep).filter(Boolean)) {
      const next = path.join(current, part);
      try {
        await mkdir(next, { mode: 0o750 });
        fsyncDir(current);
      } catch (err) {
        if (errorCode(err) !== 'EEXIST') throw err;
      }
      current = next;
    }
  }

  private async sameFile(file: string, body: Uint8Array, md5: string): Promise<boolean> {
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return false;
      throw err;
    }
    if (size !== body.byteLength) return false;
    return md5Hex(await readFile(file)) === md5;
  }

  close(): void {}
}
