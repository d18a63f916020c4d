import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { AppError, describeError } from '../core/errors.js';
import { DirBucket, openBucket, S3Connection, type BucketStore, type S3Settings } from '../store/bucket-store.js';
import { KIT_ID_PATTERN } from '../store/objects.js';

/**
 * Where the organisation's objects are (docs/office.md): the kits' objects — one shared bucket
 * (`s3://vht-org-kits`), a bucket per kit (`s3://vht-org-kit-*`: the kit id follows the `*`), or a
 * directory with a folder per kit — the office bucket (directory, erasure notices) and the
 * office's private bucket (erasure receipts, the office audit). Every kit object name starts with
 * the kit id in each form, so the same key works everywhere.
 */
export interface OfficeLocations {
  kits: string;
  office: string;
  private: string;
  /** The case inbox (`cases/<tag>/<kit>` markers the kits write): which kits hold a case, in one LIST. */
  inbox?: string;
}

export class OfficeLayout {
  private conn: S3Connection | null = null;
  private readonly perKit: { bucketPrefix: string } | null;
  private readonly shared: BucketStore | null;
  private readonly kitBuckets = new Map<string, BucketStore>();
  readonly office: BucketStore;
  readonly private: BucketStore;
  readonly inbox: BucketStore | null;

  constructor(
    readonly locations: OfficeLocations,
    private readonly s3: S3Settings,
  ) {
    const m = /^s3:\/\/([a-z0-9.-]+)\*$/.exec(locations.kits);
    this.perKit = m ? { bucketPrefix: m[1]! } : null;
    this.shared = this.perKit ? null : openBucket(locations.kits, () => this.connection());
    this.office = openBucket(locations.office, () => this.connection());
    this.private = openBucket(locations.private, () => this.connection());
    this.inbox = locations.inbox ? openBucket(locations.inbox, () => this.connection()) : null;
  }

  private connection(): S3Connection {
    this.conn ??= new S3Connection({ maxSockets: 32, ...this.s3 });
    return this.conn;
  }

  /** The store that holds a kit's objects (keys start with the kit id in every form). */
  kit(kitId: string): BucketStore {
    if (this.shared) return this.shared;
    let b = this.kitBuckets.get(kitId);
    if (!b) {
      b = this.connection().bucket(`${this.perKit!.bucketPrefix}${kitId}`);
      this.kitBuckets.set(kitId, b);
    }
    return b;
  }

  /** Every kit id in the store: the bucket names, or the top-level prefixes (one LIST with a delimiter). */
  async kitIds(): Promise<string[]> {
    let ids: string[];
    if (this.perKit) {
      ids = (await this.connection().bucketsStartingWith(this.perKit.bucketPrefix)).map((b) => b.slice(this.perKit!.bucketPrefix.length));
    } else if (this.shared instanceof DirBucket) {
      try {
        ids = (await readdir(this.shared.describe, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
      } catch (err) {
        throw new AppError('NOT_FOUND', `--kits ${JSON.stringify(this.locations.kits)} cannot be read: ${describeError(err)}`, { field: '--kits', cause: err });
      }
    } else {
      ids = (await this.shared!.list('', { delimiter: '/' })).prefixes.map((p) => p.replace(/\/$/, ''));
    }
    return ids.filter((id) => KIT_ID_PATTERN.test(id) && !id.startsWith('.')).sort();
  }

  close(): void {
    this.conn?.close();
  }
}

/** The locations from options or the environment (VHT_OFFICE_KITS, VHT_OFFICE_BUCKET, VHT_OFFICE_PRIVATE, VHT_OFFICE_INBOX). */
export function locationsFrom(values: Record<string, unknown>, env: NodeJS.ProcessEnv): OfficeLocations {
  const pick = (opt: string, envName: string, optional = false): string => {
    const given = values[opt];
    const v = typeof given === 'string' ? given : env[envName];
    if (!v && optional) return '';
    if (!v) throw new AppError('VALIDATION', `--${opt} (or ${envName}) is required: s3://BUCKET[/PREFIX] or a directory`, { field: `--${opt}` });
    if (!v.startsWith('s3://') && !path.isAbsolute(v))
      throw new AppError('VALIDATION', `--${opt} ${JSON.stringify(v)} must be s3://… or an absolute directory`, { field: `--${opt}` });
    return v;
  };
  const inbox = pick('inbox', 'VHT_OFFICE_INBOX', true);
  return {
    kits: pick('kits', 'VHT_OFFICE_KITS'),
    office: pick('office', 'VHT_OFFICE_BUCKET'),
    private: pick('private', 'VHT_OFFICE_PRIVATE'),
    ...(inbox ? { inbox } : {}),
  };
}
