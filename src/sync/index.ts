import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { DirBucket, S3Connection, type BucketStore } from '../store/bucket-store.js';
import type { Catalogue } from '../store/catalogue.js';
import { checkDock, checkShareDock, type DockOptions, type DockResult } from './dock.js';
import type { ReviewUploadSource } from './review-upload.js';
import { SyncService, type RetryPolicy, type SyncClipFiles, type SyncExtension, type SyncServiceOptions } from './service.js';
import { DirTarget, S3Target, type DirTargetOptions, type S3TargetOptions, type UploadTarget } from './targets.js';
import { loadTrust, TrustingAgent, type TrustOptions } from './tls.js';

export { checkDock, checkShareDock, type DockOptions, type DockResult } from './dock.js';
export { SyncError, type SyncErrorReason } from './errors.js';
export { exportClip, listClips, markersCsv, markersEaf, openSource, type ExportOptions, type ExportResult, type ListedClip } from './export.js';
export { auditKey, buildManifest, decryptManifest, manifestKey, segmentKey, type AuditExport, type ClipManifest } from './manifest.js';
export { OfficeLink, type OfficeLinkOptions } from './office-link.js';
export {
  SyncService,
  type SyncExtension,
  type SyncIo,
  type SyncClipFiles,
  type SyncEvents,
  type SyncProgress,
  type SyncRunResult,
  type SyncServiceOptions,
  type SyncState,
} from './service.js';
export { heldElsewhere, isFetched } from './fetch-kept.js';
export { uploadReviewMetadata, type FragmentObject, type KeptStillObject, type ReviewObject, type ReviewUploadSource } from './review-upload.js';
export { DirTarget, S3Target, type DirTargetOptions, type S3TargetOptions, type UploadTarget } from './targets.js';

/** The `sync` section of the kit's config in the shape the sync module takes (main.ts maps it). */
export interface SyncConfig {
  target: 's3' | 'dir' | 'off';
  s3?: Pick<S3TargetOptions, 'endpoint' | 'region' | 'bucket' | 'prefix' | 'accessKeyId' | 'secretAccessKey' | 'forcePathStyle'>;
  dir?: DirTargetOptions;
  dock?: DockOptions;
  /** Pause between runs while the service runs. Default 60. */
  intervalSeconds?: number;
  /** Objects uploaded in parallel. Default 2. */
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  /** Per-request timeout for S3. Default 60. */
  requestTimeoutSeconds?: number;
  /** Where erasure notices are read (issue 21): the office bucket on the S3 endpoint, or a directory. */
  office?: { bucket: string | null; prefix: string; path: string | null; inbox?: string | null; inboxPath?: string | null };
}

/** Whom the kit trusts on its S3 endpoint (`sync.dock`: a CA file or pins), or undefined for the system's CAs. */
export function dockTrust(config: Pick<SyncConfig, 'dock'>): TrustOptions | undefined {
  const d = config.dock;
  if (!d?.caFile && !d?.pinSha256) return undefined;
  return { ...(d.caFile ? { caFile: d.caFile } : {}), ...(d.pinSha256 ? { pinSha256: d.pinSha256 } : {}) };
}

/** A connection for the kit's reads and small writes beside its uploads (office bucket, case inbox), trusting what the dock check trusts. */
function kitConnection(config: SyncConfig, s3: NonNullable<SyncConfig['s3']>): S3Connection {
  const { endpoint, region, accessKeyId, secretAccessKey, forcePathStyle } = s3;
  const trust = dockTrust(config);
  return new S3Connection({
    endpoint,
    region,
    accessKeyId,
    secretAccessKey,
    forcePathStyle: forcePathStyle ?? true,
    maxSockets: 2,
    ...(trust ? { httpsAgent: new TrustingAgent(loadTrust(trust), { maxSockets: 2 }) } : {}),
  });
}

/** The office location the kit reads erasure notices from, or null when not configured. */
export function openOfficeBucket(config: SyncConfig): BucketStore | null {
  const o = config.office;
  if (config.target === 's3' && o?.bucket && config.s3) {
    return kitConnection(config, config.s3).bucket(o.bucket, o.prefix);
  }
  if (config.target === 'dir' && o?.path) return new DirBucket(o.path);
  return null;
}

/** The case inbox the kit marks its cases in (issue 21), or null when not configured. */
export function openCaseInbox(config: SyncConfig): BucketStore | null {
  const o = config.office;
  if (config.target === 's3' && o?.inbox && config.s3) {
    return kitConnection(config, config.s3).bucket(o.inbox);
  }
  if (config.target === 'dir' && o?.inboxPath) return new DirBucket(o.inboxPath);
  return null;
}

/** Makes the configured target, or null for `target: off`. */
export function createTarget(config: SyncConfig, clock?: Clock): UploadTarget | null {
  if (config.target === 'off') return null;
  if (config.target === 's3') {
    if (!config.s3) throw new AppError('CONFIG', 'sync.target is "s3" but sync.s3 is not set', { field: 'sync.s3' });
    return new S3Target({
      ...config.s3,
      ...(dockTrust(config) ? { tls: dockTrust(config) } : {}),
      ...(config.requestTimeoutSeconds ? { requestTimeoutMs: config.requestTimeoutSeconds * 1000 } : {}),
      maxSockets: Math.max(2, config.concurrency ?? 2),
      ...(clock ? { clock } : {}),
    });
  }
  if (config.target === 'dir') {
    if (!config.dir) throw new AppError('CONFIG', 'sync.target is "dir" but sync.dir is not set', { field: 'sync.dir' });
    return new DirTarget(config.dir);
  }
  throw new AppError('CONFIG', `sync.target ${JSON.stringify(config.target)} must be s3, dir or off`, { field: 'sync.target' });
}

/** The dock check for a target: TLS identity of the S3 endpoint, or a mounted, writable share. */
export function dockCheckFor(config: SyncConfig, target: UploadTarget): () => Promise<DockResult> {
  if (target instanceof DirTarget) return () => checkShareDock(target);
  const endpoint = config.s3?.endpoint ?? '';
  return () => checkDock(endpoint, config.dock ?? {});
}

/** The sync service for the config, or null when sync is off. */
export function createSyncService(deps: {
  config: SyncConfig;
  kitId: string;
  catalogue: Catalogue;
  clips: SyncClipFiles;
  orgRecipient: string | (() => string);
  clock: Clock;
  logger: Logger;
  /** Issue 20: the manifest's extra recipients and the fetch after the uploads. */
  team?: Pick<SyncServiceOptions, 'manifestAlso' | 'afterUpload'>;
  /** Issue 21: the organisation's side (src/sync/office-link.ts). */
  extensions?: SyncExtension[];
  review?: ReviewUploadSource;
}): SyncService | null {
  const target = createTarget(deps.config, deps.clock);
  if (!target) return null;
  return new SyncService({
    catalogue: deps.catalogue,
    clips: deps.clips,
    target,
    kitId: deps.kitId,
    orgRecipient: deps.orgRecipient,
    clock: deps.clock,
    logger: deps.logger.child('sync'),
    dock: dockCheckFor(deps.config, target),
    ...(deps.config.concurrency ? { concurrency: deps.config.concurrency } : {}),
    ...(deps.config.retry ? { retry: deps.config.retry } : {}),
    intervalMs: (deps.config.intervalSeconds ?? 60) * 1000,
    ...deps.team,
    ...(deps.extensions ? { extensions: deps.extensions } : {}),
    ...(deps.review ? { review: deps.review } : {}),
  });
}
