import type { Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { abortedError, SyncError } from './errors.js';
import { sha256Hex, type UploadTarget } from './targets.js';

export interface RetryPolicy {
  /** Tries per object within a run (a transient error on the last one ends the run). Default 6. */
  attempts: number;
  /** First backoff; doubles per attempt, jittered to 50–100 %. Default 1000 ms. */
  baseMs: number;
  /** Upper bound of one backoff. Default 30 000 ms. */
  maxMs: number;
}

/** What a retrying PUT tells its run: bytes put on the wire, and a transient error it retries after. */
export interface PutObserver {
  sent(bytes: number): void;
  retrying(e: SyncError): void;
}

/**
 * PUTs to the target with retries: a retryable error (network, 5xx, timeout) waits a jittered,
 * doubling backoff on the injected clock; anything else, or the last attempt, throws a SyncError.
 */
export class RetryingPut {
  readonly policy: RetryPolicy;

  constructor(
    private readonly opts: {
      target: UploadTarget;
      clock: Clock;
      logger: Logger;
      retry?: Partial<RetryPolicy> | undefined;
      /** For the backoff jitter; default Math.random. */
      random?: (() => number) | undefined;
    },
  ) {
    this.policy = { attempts: 6, baseMs: 1000, maxMs: 30_000, ...opts.retry };
  }

  /** Puts one object (the same bytes on every attempt); aborts at once when signal fires. */
  async put(key: string, body: Uint8Array, md5: string, signal: AbortSignal, observer: PutObserver, sha256?: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw abortedError();
      observer.sent(body.byteLength);
      try {
        await this.opts.target.put(key, body, { md5Hex: md5, signal, sha256Hex: sha256 ?? sha256Hex(body) });
        return;
      } catch (err) {
        const e = err instanceof SyncError ? err : new SyncError('REJECTED', describeError(err), { cause: err });
        if (signal.aborted) throw abortedError();
        if (!e.retryable) throw e;
        if (attempt >= this.policy.attempts) {
          throw new SyncError(e.reason, `${e.message} (gave up after ${attempt} attempts; the next run tries again)`, {
            cause: e,
            ...(e.httpStatus ? { httpStatus: e.httpStatus } : {}),
          });
        }
        const delay = this.backoffMs(attempt);
        this.opts.logger.warn('upload failed; retrying', { key, attempt, reason: e.reason, error: e.message, retryInMs: delay });
        observer.retrying(e);
        await this.sleep(delay, signal);
      }
    }
  }

  private backoffMs(attempt: number): number {
    const base = Math.min(this.policy.maxMs, this.policy.baseMs * 2 ** (attempt - 1));
    const r = (this.opts.random ?? Math.random)();
    return Math.round(base / 2 + (base / 2) * r);
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(abortedError());
      const onAbort = () => {
        this.opts.clock.clearTimeout(handle);
        reject(abortedError());
      };
      const handle = this.opts.clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
