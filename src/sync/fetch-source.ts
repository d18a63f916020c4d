import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { AppError, describeError } from '../core/errors.js';

/** One listed object: its name, size and when the store got it. */
export interface ListedObject {
  key: string;
  bytes: number;
  lastModified: number;
}

/** Read access to the team's buckets (the kit's storage credential: read on its team's buckets, container ACLs on Swift). */
export interface FetchSource {
  list(bucket: string, prefix: string): Promise<ListedObject[]>;
  get(bucket: string, key: string): Promise<Buffer>;
  close(): void;
}

/** FetchSource over S3 (Swift's s3api, Ceph RGW, MinIO, AWS). */
export class S3FetchSource implements FetchSource {
  private readonly client: S3Client;

  constructor(opts: { endpoint: string | null; region: string; accessKeyId: string; secretAccessKey: string }) {
    this.client = new S3Client({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
      credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 4,
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

  close(): void {
    this.client.destroy();
  }
}
