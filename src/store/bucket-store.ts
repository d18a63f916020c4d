import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type DeleteObjectsCommandOutput,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { AppError, describeError } from '../core/errors.js';
import { writeFileDurable } from './durable.js';

/**
 * One bucket of the organisation's store (or a directory standing for it), read and written by
 * key: what the kit reads from the office bucket (erasure notices) and what the office tools use
 * (`vht-kit office`). Listing pages through S3 ListObjectsV2 (1000 keys a call), with StartAfter
 * and a delimiter; nothing is cached, so nothing drifts from the store.
 */
export interface BucketStore {
  /** `s3://bucket/prefix` or the directory, for messages. */
  readonly describe: string;
  /** Keys under `prefix` (relative to the store), sorted; with `delimiter` also the common prefixes. */
  list(prefix: string, opts?: { startAfter?: string; delimiter?: string }): Promise<{ keys: string[]; prefixes: string[] }>;
  /** The object's bytes; NOT_FOUND when it is not there. */
  get(key: string): Promise<Buffer>;
  /** Stores the object (Content-MD5 checked by S3). */
  put(key: string, body: Uint8Array): Promise<void>;
  /** Deletes the object (no error when it is not there). */
  delete(key: string): Promise<void>;
  /** Whether the object is there (HEAD: read-after-delete consistent, unlike some listings). */
  exists(key: string): Promise<boolean>;
  /**
   * Deletes many objects (S3 DeleteObjects, up to 1000 keys a request; single deletes where the
   * store answers NotImplemented). Returns how many requests it took.
   */
  deleteMany?(keys: string[]): Promise<{ requests: number; batched: boolean }>;
  close(): void;
}

/** Keys a DeleteObjects request carries at most (S3's limit; Swift's max_multi_delete_objects default). */
export const DELETE_BATCH = 1000;

/** S3 connection settings (the kit passes its sync.s3 settings; the office its environment). */
export interface S3Settings {
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  forcePathStyle?: boolean;
  /** Parallel connections. Default 16. */
  maxSockets?: number;
  /** For an https endpoint: the agent that decides whom to trust (a kit's `sync.dock` CA file or pin); default the system's CAs. */
  httpsAgent?: http.Agent;
}

/** S3 settings from AWS_* environment variables (the office's credential). */
export function s3SettingsFromEnv(env: NodeJS.ProcessEnv): S3Settings {
  return {
    ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL, forcePathStyle: true } : {}),
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    ...(env.AWS_ACCESS_KEY_ID ? { accessKeyId: env.AWS_ACCESS_KEY_ID } : {}),
    ...(env.AWS_SECRET_ACCESS_KEY ? { secretAccessKey: env.AWS_SECRET_ACCESS_KEY } : {}),
    ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
  };
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/** One S3 client for many buckets (500 kit buckets share its connections). */
export class S3Connection {
  readonly client: S3Client;
  private readonly agent: http.Agent;
  /** False once the store answered DeleteObjects with NotImplemented: single deletes from then on. */
  batchDeletes = true;

  constructor(readonly settings: S3Settings) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: settings.maxSockets ?? 16 });
    this.client = new S3Client({
      region: settings.region,
      ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: settings.forcePathStyle ?? true } : {}),
      ...(settings.accessKeyId && settings.secretAccessKey
        ? {
            credentials: {
              accessKeyId: settings.accessKeyId,
              secretAccessKey: settings.secretAccessKey,
              ...(settings.sessionToken ? { sessionToken: settings.sessionToken } : {}),
            },
          }
        : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 4,
      ...(settings.endpoint?.startsWith('http://') ? { requestHandler: { httpAgent: this.agent } } : {}),
      ...(settings.httpsAgent && !settings.endpoint?.startsWith('http://') ? { requestHandler: { httpsAgent: settings.httpsAgent } } : {}),
    });
  }

  /** A bucket (and key prefix inside it) on this connection. */
  bucket(name: string, prefix = ''): BucketStore {
    return new S3Bucket(this, name, prefix.replace(/^\/+|\/+$/g, ''));
  }

  /** The buckets whose name starts with `prefix` (a bucket per kit: `vht-<org>-kit-`). */
  async bucketsStartingWith(prefix: string): Promise<string[]> {
    try {
      const res = await this.client.send(new ListBucketsCommand({}));
      return (res.Buckets ?? [])
        .map((b) => b.Name ?? '')
        .filter((n) => n.startsWith(prefix))
        .sort();
    } catch (err) {
      throw new AppError('INTERNAL', `listing the buckets of ${this.settings.endpoint ?? 'S3'} failed: ${describeError(err)}`, { cause: err });
    }
  }

  close(): void {
    this.client.destroy();
    this.agent.destroy();
  }
}

class S3Bucket implements BucketStore {
  readonly describe: string;

  constructor(
    private readonly conn: S3Connection,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
      throw new AppError('VALIDATION', `bucket ${JSON.stringify(bucket)} is not a valid bucket name`, { field: 'bucket' });
    this.describe = `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
  }

  private full(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private fail(what: string, key: string, err: unknown): never {
    const status = httpStatus(err);
    const name = (err as { name?: string }).name;
    if (name === 'NoSuchKey' || status === 404)
      throw new AppError('NOT_FOUND', `${this.describe}: ${JSON.stringify(key)} is not there`, { field: 'key', cause: err });
    if (name === 'NoSuchBucket') throw new AppError('NOT_FOUND', `bucket ${JSON.stringify(this.bucket)} does not exist`, { field: 'bucket', cause: err });
    if (status === 403 || name === 'AccessDenied')
      throw new AppError('FORBIDDEN', `${this.describe}: ${what} ${JSON.stringify(key)} refused (AccessDenied): these credentials may not do that`, {
        cause: err,
      });
    throw new AppError('INTERNAL', `${this.describe}: ${what} ${JSON.stringify(key)} failed: ${describeError(err)}`, { cause: err });
  }

  async list(prefix: string, opts: { startAfter?: string; delimiter?: string } = {}): Promise<{ keys: string[]; prefixes: string[] }> {
    const base = this.prefix ? `${this.prefix}/` : '';
    const keys: string[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    do {
      let res: ListObjectsV2CommandOutput;
      try {
        res = await this.conn.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: base + prefix,
            ...(token ? { ContinuationToken: token } : opts.startAfter ? { StartAfter: base + opts.startAfter } : {}),
            ...(opts.delimiter ? { Delimiter: opts.delimiter } : {}),
          }),
        );
      } catch (err) {
        this.fail('listing', prefix, err);
      }
      for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key.slice(base.length));
      for (const p of res.CommonPrefixes ?? []) if (p.Prefix) prefixes.push(p.Prefix.slice(base.length));
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return { keys, prefixes };
  }

  async get(key: string): Promise<Buffer> {
    try {
      const res = await this.conn.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      this.fail('reading', key, err);
    }
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const md5 = createHash('md5').update(body).digest();
    try {
      await this.conn.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.full(key),
          Body: body,
          ContentLength: body.byteLength,
          ContentMD5: md5.toString('base64'),
          ContentType: 'application/octet-stream',
        }),
      );
    } catch (err) {
      this.fail('writing', key, err);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.conn.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
    } catch (err) {
      if (httpStatus(err) === 404) return;
      this.fail('deleting', key, err);
    }
  }

  async deleteMany(keys: string[]): Promise<{ requests: number; batched: boolean }> {
    let requests = 0;
    for (let i = 0; i < keys.length && this.conn.batchDeletes; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      const cmd = new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((k) => ({ Key: this.full(k) })), Quiet: true } });
      // Swift's s3api (like AWS before its flexible checksums) insists on Content-MD5 of the XML body
      cmd.middlewareStack.add(
        (next) => async (args) => {
          const req = args.request as { headers?: Record<string, string>; body?: unknown };
          if (req.headers && typeof req.body === 'string') req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64');
          return next(args);
        },
        { step: 'build', name: 'vhtContentMd5' },
      );
      let res: DeleteObjectsCommandOutput | undefined;
      try {
        res = await this.conn.client.send(cmd);
        requests += 1;
      } catch (err) {
        const name = (err as { name?: string }).name;
        if (name === 'NotImplemented' || httpStatus(err) === 501) {
          this.conn.batchDeletes = false; // this store has no DeleteObjects: one DELETE a key from here on
          keys = keys.slice(i);
          break;
        }
        this.fail('deleting', `${batch.length} keys from ${batch[0]}`, err);
      }
      const failed = (res?.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length)
        throw new AppError(
          'INTERNAL',
          `${this.describe}: deleting ${failed.length} of ${batch.length} keys failed, e.g. ${JSON.stringify(failed[0]!.Key)}: ${failed[0]!.Code} ${failed[0]!.Message ?? ''}`,
          { field: 'key' },
        );
      if (i + DELETE_BATCH >= keys.length) return { requests, batched: true };
    }
    if (keys.length === 0) return { requests, batched: this.conn.batchDeletes };
    for (let i = 0; i < keys.length; i += 16) {
      const part = keys.slice(i, i + 16);
      await Promise.all(part.map((k) => this.delete(k)));
      requests += part.length;
    }
    return { requests, batched: false };
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.conn.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
      return true;
    } catch (err) {
      if (httpStatus(err) === 404 || (err as { name?: string }).name === 'NotFound') return false;
      this.fail('checking', key, err);
    }
  }

  close(): void {}
}

/** A directory standing for a bucket (a mounted share; the tests). Keys are relative paths. */
export class DirBucket implements BucketStore {
  readonly describe: string;

  constructor(private readonly root: string) {
    if (!path.isAbsolute(root)) throw new AppError('VALIDATION', `${JSON.stringify(root)} must be an absolute directory path`, { field: 'path' });
    this.describe = root;
  }

  private file(key: string): string {
    if (key === '' || key.split('/').some((p) => p === '..' || p === '' || p.startsWith('.')))
      throw new AppError('VALIDATION', `key ${JSON.stringify(key)} is not a relative key`, { field: 'key' });
    return path.join(this.root, ...key.split('/'));
  }

  async list(prefix: string, opts: { startAfter?: string; delimiter?: string } = {}): Promise<{ keys: string[]; prefixes: string[] }> {
    const keys: string[] = [];
    const prefixes = new Set<string>();
    // start at the deepest directory the prefix names
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const walk = async (rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(path.join(this.root, rel), { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw new AppError('INTERNAL', `${this.describe}: listing ${JSON.stringify(rel)} failed: ${describeError(err)}`, { cause: err });
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (!(r + '/').startsWith(prefix) && !prefix.startsWith(r + '/')) continue;
          if (opts.delimiter === '/' && (r + '/').startsWith(prefix) && r + '/' !== prefix) prefixes.add(`${r}/`);
          else await walk(r);
        } else if (e.isFile() && r.startsWith(prefix) && (!opts.startAfter || r > opts.startAfter)) keys.push(r);
      }
    };
    await walk(dirPart);
    return { keys: keys.sort(), prefixes: [...prefixes].sort() };
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.file(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new AppError('NOT_FOUND', `${this.describe}: ${JSON.stringify(key)} is not there`, { field: 'key', cause: err });
      throw new AppError('INTERNAL', `${this.describe}: reading ${JSON.stringify(key)} failed: ${describeError(err)}`, { cause: err });
    }
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const f = this.file(key);
    try {
      await mkdir(path.dirname(f), { recursive: true, mode: 0o750 });
      await writeFileDurable(f, body, 0o640);
    } catch (err) {
      throw new AppError('INTERNAL', `${this.describe}: writing ${JSON.stringify(key)} failed: ${describeError(err)}`, { cause: err });
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    await rm(file, { force: true });
    // folders emptied by the delete go too (a share has no object store's flat names)
    for (let dir = path.dirname(file); dir.startsWith(this.root + path.sep) && dir !== this.root; dir = path.dirname(dir)) {
      try {
        await rmdir(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOENT') break;
        throw new AppError('INTERNAL', `${this.describe}: removing the emptied folder ${JSON.stringify(dir)} failed: ${describeError(err)}`, { cause: err });
      }
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.file(key))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new AppError('INTERNAL', `${this.describe}: checking ${JSON.stringify(key)} failed: ${describeError(err)}`, { cause: err });
    }
  }

  close(): void {}
}

/** `s3://BUCKET[/PREFIX]` on `conn`, or an absolute directory. */
export function openBucket(where: string, conn: () => S3Connection): BucketStore {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(where);
  if (m?.[1] !== undefined) return conn().bucket(m[1], m[2] ?? '');
  return new DirBucket(path.resolve(where));
}
