import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

const run = promisify(execFile);
const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/s3-test-server');

export interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Whether `n` consecutive loopback ports from `base` can be bound now. */
async function portsFree(base: number, n: number): Promise<boolean> {
  for (let p = base; p < base + n; p++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (!ok) return false;
  }
  return true;
}

/** A block of `n` free loopback ports away from the usual defaults (20000–29999). */
export async function freePortBlock(n: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const base = 20000 + Math.floor(Math.random() * 9000) * 1;
    if (await portsFree(base, n)) return base;
  }
  throw new Error(`no block of ${n} free ports found`);
}

/**
 * OpenStack Swift with s3api, started and stopped by scripts/s3-test-server (which installs the
 * Debian packages when missing and running as root). Users: admin (test:tester) can do anything,
 * writer (test:writer) only what a bucket's container ACL grants (write-only buckets).
 */
export class SwiftServer {
  readonly region = 'us-east-1';
  readonly admin: Creds = { accessKeyId: 'test:tester', secretAccessKey: 'testing' };
  readonly writer: Creds = { accessKeyId: 'test:writer', secretAccessKey: 'writing' };
  private adminClient: S3Client | null = null;

  constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async create(dir: string): Promise<SwiftServer> {
    const s = new SwiftServer(dir, await freePortBlock(5));
    await s.start();
    return s;
  }

  async start(): Promise<void> {
    try {
      // no bucket of the script's own: each test makes the buckets it needs
      await run(SCRIPT, ['start', '--dir', this.dir, '--port', String(this.port), '--bucket', ''], { timeout: 600_000 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`scripts/s3-test-server start failed: ${e.stderr || e.message}`);
    }
  }

  /** SIGTERM (or SIGKILL with `kill`: a crash) to every process; the data stays. */
  async stop(opts: { kill?: boolean } = {}): Promise<void> {
    this.adminClient?.destroy();
    this.adminClient = null;
    await run(SCRIPT, ['stop', '--dir', this.dir, ...(opts.kill ? ['--kill'] : [])], { timeout: 60_000 });
  }

  client(creds: Creds = this.admin): S3Client {
    return new S3Client({
      endpoint: this.endpoint,
      region: this.region,
      forcePathStyle: true,
      credentials: creds,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private get adminS3(): S3Client {
    this.adminClient ??= this.client(this.admin);
    return this.adminClient;
  }

  /** A bucket; with `writer`, that user may only write to it (Swift container ACL). */
  async createBucket(name: string, opts: { writer?: boolean } = {}): Promise<void> {
    await this.adminS3.send(new CreateBucketCommand({ Bucket: name }));
    if (opts.writer) {
      const auth = await fetch(`${this.endpoint}/auth/v1.0`, { headers: { 'X-Auth-User': this.admin.accessKeyId, 'X-Auth-Key': this.admin.secretAccessKey } });
      const token = auth.headers.get('x-auth-token');
      const url = auth.headers.get('x-storage-url');
      if (!auth.ok || !token || !url) throw new Error(`Swift auth failed: ${auth.status}`);
      const r = await fetch(`${url}/${name}`, { method: 'POST', headers: { 'X-Auth-Token': token, 'X-Container-Write': this.writer.accessKeyId } });
      if (r.status !== 204) throw new Error(`setting the container ACL failed: ${r.status}`);
    }
  }

  async list(bucket: string, prefix = ''): Promise<{ key: string; etag: string; size: number }[]> {
    const out: { key: string; etag: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const res = await this.adminS3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of res.Contents ?? []) out.push({ key: o.Key!, etag: (o.ETag ?? '').replace(/"/g, ''), size: o.Size ?? 0 });
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async get(bucket: string, key: string): Promise<Buffer> {
    const res = await this.adminS3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await res.Body!.transformToByteArray());
  }

  async put(bucket: string, key: string, body: Uint8Array): Promise<void> {
    await this.adminS3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  }
}
