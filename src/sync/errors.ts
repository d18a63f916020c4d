import { AppError, type ErrorCode } from '../core/errors.js';

/**
 * Why an upload failed. `retryable` reasons are retried with backoff within a run (and the next run
 * tries again); the others stop the run at once with a message that says what to fix.
 */
export type SyncErrorReason =
  | 'ACCESS_DENIED' // 403: wrong key/secret, or no write permission on the bucket
  | 'NO_SUCH_BUCKET'
  | 'CLOCK_SKEW' // the kit's clock is too far from the storage's (SigV4 refuses)
  | 'TLS' // the endpoint's certificate is not the trusted one
  | 'STORAGE_FULL' // 507 / ENOSPC on a share
  | 'READ_ONLY' // the share is read-only (EROFS, EACCES)
  | 'NOT_MOUNTED' // the share's directory is missing or not a mount point
  | 'LOCAL' // a local segment is missing or does not match its catalogue SHA-256
  | 'REJECTED' // another 4xx the kit cannot fix by retrying
  | 'BAD_DIGEST' // the body arrived damaged (Content-MD5 mismatch): retried
  | 'ETAG_MISMATCH' // the storage confirmed another MD5 than the kit sent: retried
  | 'SERVER' // 5xx: retried
  | 'NETWORK' // connection refused/reset, DNS, socket hang-up: retried
  | 'TIMEOUT' // no answer within the request timeout: retried
  | 'ABORTED'; // the service was stopped

const RETRYABLE = new Set<SyncErrorReason>(['BAD_DIGEST', 'ETAG_MISMATCH', 'SERVER', 'NETWORK', 'TIMEOUT']);

const APP_CODE: Record<SyncErrorReason, ErrorCode> = {
  ACCESS_DENIED: 'FORBIDDEN',
  NO_SUCH_BUCKET: 'NOT_CONFIGURED',
  CLOCK_SKEW: 'NOT_CONFIGURED',
  TLS: 'NOT_CONFIGURED',
  STORAGE_FULL: 'STORAGE_FULL',
  READ_ONLY: 'NOT_CONFIGURED',
  NOT_MOUNTED: 'NOT_CONFIGURED',
  LOCAL: 'INTERNAL',
  REJECTED: 'BAD_REQUEST',
  BAD_DIGEST: 'INTERNAL',
  ETAG_MISMATCH: 'INTERNAL',
  SERVER: 'INTERNAL',
  NETWORK: 'INTERNAL',
  TIMEOUT: 'INTERNAL',
  ABORTED: 'INTERNAL',
};

export class SyncError extends AppError {
  override readonly reason: SyncErrorReason;
  readonly retryable: boolean;
  /** HTTP status of the storage's answer, when there was one. */
  readonly httpStatus: number | undefined;

  constructor(reason: SyncErrorReason, message: string, opts: { field?: string; cause?: unknown; httpStatus?: number } = {}) {
    super(APP_CODE[reason], message, { ...opts, reason });
    this.name = 'SyncError';
    this.reason = reason;
    this.retryable = RETRYABLE.has(reason);
    this.httpStatus = opts.httpStatus;
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'EPROTO',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'TimeoutError', 'RequestTimeout', 'UND_ERR_CONNECT_TIMEOUT']);
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/** The `code` of an error or of one of its causes (Node puts socket errors' codes there). */
export function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Maps a network-level error (no HTTP answer) to a SyncError; `where` says what was reached for. */
export function networkError(err: unknown, where: string): SyncError {
  if (err instanceof SyncError) return err;
  const code = errorCode(err) ?? (err as { name?: string } | null)?.name ?? '';
  const msg = err instanceof Error ? err.message : String(err);
  if (code === 'AbortError' || (err as { name?: string } | null)?.name === 'AbortError') {
    return new SyncError('ABORTED', `upload to ${where} stopped`, { cause: err });
  }
  if (TLS_CODES.has(code) || /certificate|self[- ]signed|altname/i.test(msg)) {
    return new SyncError('TLS', `${where} presented a certificate the kit does not trust (${code || msg}): check sync.dock.caFile / sync.dock.pinSha256`, {
      cause: err,
    });
  }
  if (TIMEOUT_CODES.has(code) || /timed? ?out/i.test(msg)) {
    return new SyncError('TIMEOUT', `${where} did not answer in time (${code || msg})`, { cause: err });
  }
  if (NETWORK_CODES.has(code) || /socket hang up|ECONNRESET|ECONNREFUSED|EPIPE/i.test(msg)) {
    return new SyncError('NETWORK', `${where} cannot be reached (${code || msg})`, { cause: err });
  }
  return new SyncError('NETWORK', `${where} failed: ${msg}`, { cause: err });
}

/** The error of a run (or one of its waits) that stop() aborted. */
export function abortedError(): SyncError {
  return new SyncError('ABORTED', 'the upload was stopped');
}
