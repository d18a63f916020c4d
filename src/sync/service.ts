import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue, ClipRow } from '../store/catalogue.js';
import type { ClipStore } from '../store/clips.js';
import type { ConfirmedObject } from '../store/sync-ledger.js';
import { exportAudit } from './audit-export.js';
import { BufferPool, readPooled } from './buffers.js';
import { abortedError, errorCode, SyncError, type SyncErrorReason } from './errors.js';
import { buildManifest, checkKitId, encryptManifest, manifestJson, manifestKey, segmentKey, stillKey } from './manifest.js';
import { RetryingPut, type PutObserver, type RetryPolicy } from './retries.js';
import { md5Hex, sha256Hex, type UploadTarget } from './targets.js';
import { runUploadPool } from './upload-pool.js';
import { uploadReviewMetadata, type ReviewIndexItem, type ReviewUploadSource } from './review-upload.js';

export type { RetryPolicy } from './retries.js';

export type SyncState = 'idle' | 'checking' | 'uploading' | 'done' | 'error';

export interface SyncProgress {
  state: SyncState;
  /** Finished clips the organisation has not confirmed yet (including those waiting for a case). */
  pending: number;
  /** Of those, clips without a case: they wait until one is assigned. */
  waitingForCase: number;
  /** Bytes confirmed in this run, and the bytes this run has to upload. */
  bytesDone: number;
  bytesTotal: number;
  etaSeconds?: number;
  /** Bytes put on the wire in this run, retries included. */
  bytesSent: number;
  /** The clip being uploaded. */
  clipId?: string;
  /** From the dock check of this run (absent: no dock check configured). */
  docked?: boolean;
  dockReason?: string;
  lastError?: { reason: SyncErrorReason; message: string; clipId?: string; at: number };
  lastRunAt?: number;
  /** The end of the last run that left nothing to upload (every clip with a case confirmed). */
  lastSuccessAt?: number;
}

export interface SyncRunResult {
  docked: boolean;
  dockReason?: string;
  /** Clips confirmed in this run. */
  uploaded: string[];
  waitingForCase: string[];
  /** Clips skipped because something local is wrong with them (missing or damaged segment). */
  failed: { clipId: string; message: string }[];
  /** Clips that kept changing while they were uploaded (stills, markers): left, unmarked, for the next run. */
  deferred: string[];
  /** What stopped the run, when something did. */
  error?: SyncError;
  bytesSent: number;
  /** The key of the audit export this run uploaded, if any. */
  auditExport?: string;
  /** Fragment, kept-still and review metadata objects this run uploaded (issue 19). */
  reviewObjects?: string[];
}

export interface DockDecision {
  docked: boolean;
  reason?: string;
}

/** Where a clip's files are, and the confirmation recorded in its own files too (ClipStore). */
export type SyncClipFiles = Pick<ClipStore, 'segmentFile' | 'stillFile' | 'markUploaded'>;

/** One object of a clip before its manifest: a segment or a still. */
interface ClipObject {
  kind: 'segment' | 'still';
  /** Segment seq or still id. */
  n: number;
  key: string;
  sha256: string;
  bytes: number;
}

export interface SyncServiceOptions {
  catalogue: Catalogue;
  clips: SyncClipFiles;
  target: UploadTarget;
  kitId: string;
  /** The organisation's age recipient: manifests and audit exports are encrypted to it only. */
  orgRecipient: string | (() => string);
  clock: Clock;
  logger: Logger;
  /** Whether uploading may start (dock.ts). Absent: always. */
  dock?: () => Promise<DockDecision>;
  /** Objects of a clip uploaded in parallel. Default 2. */
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  /** start(): the pause between runs. Default 60 000 ms. */
  intervalMs?: number;
  /**
   * Confirmations are written to the catalogue in batches of up to this many objects (and at least
   * every second, and always before a manifest): one fsync per batch. A power cut of the kit loses
   * at most the batch, whose objects are then sent again (PUTs are idempotent). Default 16.
   */
  confirmBatch?: number;
  /** Upload the audit log (new events) after the clips. Default true. */
  exportAudit?: boolean;
  /** For the backoff jitter; default Math.random. */
  random?: () => number;
  /** Issue 20: more recipients of a clip's manifest (its content key: a second kit verifies what it fetches). */
  manifestAlso?: (clipId: string) => string[];
  /** Issue 20: after the uploads of a docked run (the outbox, the directory, the trainer's fetch: src/sync/fetch-service.ts). */
  afterUpload?: (target: UploadTarget) => Promise<void>;
  /** Steps of the organisation's side (issue 21: erasure notices, case index, kit status), in order. */
  extensions?: SyncExtension[];
  /** Fragments, kept stills and reviews (issue 19): their metadata is uploaded after the clips. */
  review?: ReviewUploadSource;
}

/** What an extension may do during a run: PUT through the run's retrying uploader. */
export interface SyncIo {
  targetId: string;
  signal: AbortSignal;
  put(key: string, body: Uint8Array): Promise<void>;
}

/** Extra steps of a run, each in its own module (src/sync/office-link.ts); a throw stops the run. */
export interface SyncExtension {
  /** After the dock check, before anything is uploaded. */
  beforeUpload?(io: SyncIo): Promise<void>;
  /** A clip with a case that must wait anyway (counted as waiting). */
  holds?(clip: ClipRow): boolean;
  /** After a clip's manifest is confirmed, before the clip is marked uploaded. */
  afterManifest?(clip: ClipRow, io: SyncIo): Promise<void>;
  /** At the end of a run that reached the target (failures of this step are logged, not fatal). */
  afterRun?(result: SyncRunResult, progress: SyncProgress, io: SyncIo): Promise<void>;
  /** Before a fragment's, kept still's or review's metadata is sent (issue 21: its case index entry); 'wait' holds it. */
  beforeReviewObject?(item: ReviewIndexItem, io: SyncIo): Promise<'done' | 'wait'>;
}

export interface SyncEvents {
  progress: SyncProgress;
  'clip.uploaded': { clipId: string; objects: number; bytes: number };
  'run.finished': SyncRunResult;
}

/** How often one run sends a clip that changes while it is uploaded before leaving it to the next run. */
const MAX_CLIP_ROUNDS = 3;

/**
 * Uploads every finished clip that has a case, then the audit log, to one target. Resumable: every
 * confirmed object is recorded in the catalogue (in small batches, always before the manifest and
 * at the end of a run), so a run after a cut of the network or the server starts at the first
 * unconfirmed object, and after a power cut of the kit re-sends at most one batch. The manifest
 * goes last; then the clip is marked uploaded (which lets retention delete it) and
 * `upload.confirmed` is audited. It never deletes anything.
 */
export class SyncService {
  private readonly emitter = new EventEmitter();
  private readonly putter: RetryingPut;
  private readonly concurrency: number;
  private progressValue: SyncProgress = { state: 'idle', pending: 0, waitingForCase: 0, bytesDone: 0, bytesTotal: 0, bytesSent: 0 };
  private current: Promise<SyncRunResult> | null = null;
  private abort: AbortController | null = null;
  private timer: TimerHandle | null = null;
  private started = false;
  private uploadStartedMono = 0;
  private lastEmitMono = -Infinity;
  private readonly buffers: BufferPool;
  private pendingConfirms: ConfirmedObject[] = [];
  private pendingSinceMono = 0;
  /** A recount was asked for while a run was going: it is done when the run ends. */
  private recountAfterRun = false;

  constructor(private readonly opts: SyncServiceOptions) {
    checkKitId(opts.kitId);
    this.putter = new RetryingPut({ target: opts.target, clock: opts.clock, logger: opts.logger, retry: opts.retry, random: opts.random });
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 2));
    this.buffers = new BufferPool(this.concurrency * 2 + 2);
    this.emitter.setMaxListeners(50);
    const counts = this.counts();
    this.progressValue = { ...this.progressValue, pending: counts.pending.length + counts.waiting.length, waitingForCase: counts.waiting.length };
  }

  /** What the target confirmed (the store's sync ledger). */
  private get ledger() {
    return this.opts.catalogue.syncLedger;
  }

  /** A copy of the progress now. */
  get progress(): SyncProgress {
    return { ...this.progressValue };
  }

  get targetId(): string {
    return this.opts.target.id;
  }

  get running(): boolean {
    return this.current !== null;
  }

  on<K extends keyof SyncEvents>(name: K, fn: (payload: SyncEvents[K]) => void): () => void {
    this.emitter.on(name, fn);
    return () => this.emitter.off(name, fn);
  }

  /** Runs now and then every `intervalMs` after the previous run ended. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedule(0);
  }

  /** Stops the schedule and aborts a run in progress (what was confirmed stays confirmed). */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer) this.opts.clock.clearTimeout(this.timer);
    this.timer = null;
    this.abort?.abort();
    if (this.current) await this.current.catch(() => undefined);
  }

  /** Releases the target's connections (after stop()). */
  close(): void {
    this.opts.target.close();
  }

  private schedule(ms: number): void {
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = null;
      void this.runOnce().finally(() => {
        if (this.started) this.schedule(this.opts.intervalMs ?? 60_000);
      });
    }, ms);
    this.timer.unref?.();
  }

  /** One run (a second call while one runs gets the same run). Never throws: see the result. */
  runOnce(): Promise<SyncRunResult> {
    if (this.current) return this.current;
    const ctrl = new AbortController();
    this.abort = ctrl;
    this.current = this.run(ctrl.signal).finally(() => {
      this.current = null;
      this.abort = null;
      if (!this.recountAfterRun) return;
      try {
        this.recount();
      } catch (err) {
        // the catalogue closed meanwhile (the kit stops): the next start counts anew
        this.opts.logger.warn('the clips to upload could not be counted again after the run', { error: describeError(err) });
      }
    });
    return this.current;
  }

  /**
   * Updates the progress and emits it. A change of the byte counters alone is emitted at most every
   * 250 ms (the status page and the event stream do not need one event per object); anything else
   * (state, counts, errors, dock) at once, with the latest counters.
   */
  private set(patch: Partial<SyncProgress>): void {
    this.progressValue = { ...this.progressValue, ...patch };
    for (const k of Object.keys(patch) as (keyof SyncProgress)[]) if (patch[k] === undefined) delete this.progressValue[k];
    const countersOnly = Object.keys(patch).every((k) => k === 'bytesDone' || k === 'bytesSent' || k === 'bytesTotal' || k === 'etaSeconds');
    const now = this.opts.clock.monotonic();
    if (countersOnly && now - this.lastEmitMono < 250) return;
    this.lastEmitMono = now;
    this.emitter.emit('progress', this.progress);
  }

  /**
   * Counts the clips to upload again, between runs (a take stopped, a clip assigned, a still added
   * to an uploaded clip): the status shows them at once, not only from the next run. A run in
   * progress keeps its own count; what changed meanwhile is counted when it ends.
   */
  recount(): void {
    if (this.current) {
      this.recountAfterRun = true;
      return;
    }
    this.recountAfterRun = false;
    const { pending, waiting } = this.counts();
    this.set({ pending: pending.length + waiting.length, waitingForCase: waiting.length });
  }

  private counts(): { pending: ClipRow[]; waiting: ClipRow[] } {
    const pending: ClipRow[] = [];
    const waiting: ClipRow[] = [];
    for (const c of this.opts.catalogue.allClips()) {
      if (c.state === 'recording' || c.uploadedAt !== null) continue;
      (c.caseCode && !this.extensions.some((x) => x.holds?.(c)) ? pending : waiting).push(c);
    }
    return { pending, waiting };
  }

  private get extensions(): SyncExtension[] {
    return this.opts.extensions ?? [];
  }

  private io(signal: AbortSignal, result: SyncRunResult): SyncIo {
    return {
      targetId: this.targetId,
      signal,
      put: (key, body) => this.putter.put(key, body, md5Hex(body), signal, this.observer(result), sha256Hex(body)).then(() => undefined),
    };
  }

  private orgRecipient(): string {
    return typeof this.opts.orgRecipient === 'function' ? this.opts.orgRecipient() : this.opts.orgRecipient;
  }

  private async run(signal: AbortSignal): Promise<SyncRunResult> {
    const { clock, logger } = this.opts;
    const result: SyncRunResult = { docked: true, uploaded: [], waitingForCase: [], failed: [], deferred: [], bytesSent: 0 };
    this.set({
      state: 'checking',
      bytesDone: 0,
      bytesTotal: 0,
      bytesSent: 0,
      etaSeconds: undefined,
      clipId: undefined,
      lastError: undefined,
      lastRunAt: clock.now(),
    });
    try {
      if (this.opts.dock) {
        const d = await this.opts.dock();
        result.docked = d.docked;
        if (d.reason !== undefined) result.dockReason = d.reason;
        this.set({ docked: d.docked, dockReason: d.reason });
        if (!d.docked) {
          const { pending, waiting } = this.counts();
          this.set({ state: 'idle', pending: pending.length + waiting.length, waitingForCase: waiting.length });
          logger.info('not docked: no upload', { reason: d.reason });
          return result;
        }
      }
      // erasure notices before any upload (a still added later must not bring an erased case back)
      for (const x of this.extensions) await x.beforeUpload?.(this.io(signal, result));
      const { pending, waiting } = this.counts();
      result.waitingForCase = waiting.map((c) => c.id);
      let bytesTotal = 0;
      for (const c of pending) {
        const confirmed = this.ledger.confirmed(this.targetId, c.id);
        for (const o of this.clipObjects(c.id)) {
          if (confirmed.get(o.key) !== o.sha256) bytesTotal += o.bytes;
        }
      }
      this.uploadStartedMono = clock.monotonic();
      this.set({ state: 'uploading', pending: pending.length + waiting.length, waitingForCase: waiting.length, bytesTotal });
      if (waiting.length) logger.info('clips wait for a case before they are uploaded', { clips: waiting.length });
      for (const clip of pending) {
        if (signal.aborted) throw abortedError();
        try {
          if (await this.uploadClip(clip, signal, result)) {
            result.uploaded.push(clip.id);
            this.set({ pending: this.progressValue.pending - 1 });
          } else {
            result.deferred.push(clip.id);
          }
        } catch (err) {
          if (err instanceof SyncError && err.reason === 'LOCAL') {
            result.failed.push({ clipId: clip.id, message: err.message });
            logger.error('clip not uploaded: a local segment is missing or damaged', { clipId: clip.id, reason: err.message });
            this.set({ lastError: { reason: err.reason, message: err.message, clipId: clip.id, at: clock.now() } });
            continue;
          }
          throw err;
        }
      }
      if (this.opts.review) result.reviewObjects = await this.uploadReviewMetadata(this.opts.review, signal, result);
      if (this.opts.exportAudit !== false) {
        const key = await this.exportAudit(signal, result);
        if (key) result.auditExport = key;
      }
      if (this.opts.afterUpload) await this.opts.afterUpload(this.opts.target);
      const failed = result.failed.length > 0;
      // a run that left a changing clip behind is not an error, but not "everything confirmed" either
      const complete = !failed && result.deferred.length === 0;
      this.set({
        state: failed ? 'error' : 'done',
        clipId: undefined,
        etaSeconds: undefined,
        ...(failed ? {} : { lastError: undefined }),
        ...(complete ? { lastSuccessAt: clock.now() } : {}),
      });
      for (const x of this.extensions) {
        await x.afterRun?.(result, this.progress, this.io(signal, result)).catch((err: unknown) => {
          logger.warn('a step after the upload failed; it runs again next time', { error: describeError(err) });
        });
      }
      logger.info('sync run finished', {
        uploaded: result.uploaded.length,
        failed: result.failed.length,
        deferred: result.deferred.length,
        waitingForCase: waiting.length,
        bytesSent: result.bytesSent,
      });
      return result;
    } catch (err) {
      const e = err instanceof SyncError ? err : new SyncError('REJECTED', `sync failed: ${describeError(err)}`, { cause: err });
      result.error = e;
      const { pending, waiting } = this.counts();
      if (e.reason === 'ABORTED') {
        this.set({ state: 'idle', clipId: undefined, etaSeconds: undefined, pending: pending.length + waiting.length, waitingForCase: waiting.length });
        logger.info('sync run stopped');
      } else {
        this.set({
          state: 'error',
          clipId: undefined,
          etaSeconds: undefined,
          pending: pending.length + waiting.length,
          waitingForCase: waiting.length,
          lastError: { reason: e.reason, message: e.message, at: clock.now(), ...(this.progressValue.clipId ? { clipId: this.progressValue.clipId } : {}) },
        });
        logger.error('sync run failed', { reason: e.reason, error: e.message });
      }
      return result;
    } finally {
      try {
        this.flushConfirms();
      } catch (err) {
        logger.error('upload confirmations could not be recorded; those objects are sent again next time', { error: describeError(err) });
      }
      this.emitter.emit('run.finished', result);
    }
  }

  private addDone(bytes: number): void {
    const bytesDone = this.progressValue.bytesDone + bytes;
    const elapsedS = (this.opts.clock.monotonic() - this.uploadStartedMono) / 1000;
    const left = Math.max(0, this.progressValue.bytesTotal - bytesDone);
    const rate = elapsedS > 0 ? bytesDone / elapsedS : 0;
    this.set({ bytesDone, etaSeconds: rate > 0 ? Math.ceil(left / rate) : undefined });
  }

  private confirmLater(o: ConfirmedObject): void {
    if (this.pendingConfirms.length === 0) this.pendingSinceMono = this.opts.clock.monotonic();
    this.pendingConfirms.push(o);
    const batch = this.opts.confirmBatch ?? 16;
    if (this.pendingConfirms.length >= batch || this.opts.clock.monotonic() - this.pendingSinceMono >= 1000) this.flushConfirms();
  }

  private flushConfirms(): void {
    const list = this.pendingConfirms;
    this.pendingConfirms = [];
    this.ledger.confirmMany(list);
  }

  /** The clip's segments, then its stills: every object that goes before the manifest. */
  private clipObjects(clipId: string): ClipObject[] {
    const { catalogue, kitId } = this.opts;
    const out: ClipObject[] = catalogue.segments(clipId).map((s) => ({
      kind: 'segment',
      n: s.seq,
      key: segmentKey(kitId, clipId, s.seq),
      sha256: s.sha256,
      bytes: s.bytes,
    }));
    for (const st of catalogue.stillRows(clipId)) {
      out.push({ kind: 'still', n: st.id, key: stillKey(kitId, clipId, st.id), sha256: st.sha256, bytes: st.bytes });
    }
    return out;
  }

  private objectFile(clipId: string, o: ClipObject): string {
    const files = this.opts.clips;
    if (o.kind === 'segment') return files.segmentFile(clipId, o.n);
    return files.stillFile(clipId, o.n);
  }

  /**
   * Uploads one clip: its objects, then its manifest, then marks it uploaded. The clip may change
   * while it is sent (a still or a marker added while reviewing at the office): it is marked
   * uploaded only if the manifest that went up still describes it and every object that manifest
   * lists is confirmed. Otherwise the new objects and a new manifest go in another round, up to
   * MAX_CLIP_ROUNDS; a clip that keeps changing waits for the next run, unmarked.
   * Returns whether the clip was confirmed.
   */
  private async uploadClip(clip: ClipRow, signal: AbortSignal, result: SyncRunResult): Promise<boolean> {
    const { logger } = this.opts;
    this.set({ clipId: clip.id });
    for (let round = 1; round <= MAX_CLIP_ROUNDS; round++) {
      if (await this.sendClipRound(clip, signal, result, round)) return true;
      logger.info('the clip changed while it was uploaded: its new parts go too', { clipId: clip.id, round });
    }
    logger.warn('the clip kept changing while it was uploaded: it is sent again in the next run', { clipId: clip.id, rounds: MAX_CLIP_ROUNDS });
    return false;
  }

  private async sendClipRound(clip: ClipRow, signal: AbortSignal, result: SyncRunResult, round: number): Promise<boolean> {
    const { catalogue, clock, kitId, logger } = this.opts;
    const target = this.opts.target;
    const objects = this.clipObjects(clip.id);
    const confirmed = this.ledger.confirmed(this.targetId, clip.id);
    const todo = objects.filter((o) => confirmed.get(o.key) !== o.sha256);
    // the run's total counted what the clip had when the run began; later rounds add what is new
    if (round > 1) this.set({ bytesTotal: this.progressValue.bytesTotal + todo.reduce((a, o) => a + o.bytes, 0) });
    else if (todo.length < objects.length) logger.info('resuming a clip', { clipId: clip.id, confirmed: objects.length - todo.length, left: todo.length });

    await runUploadPool(
      todo,
      this.concurrency,
      signal,
      async (o) => {
        const file = this.objectFile(clip.id, o);
        const what = o.kind === 'segment' ? `segment ${o.n}` : `still ${o.n}`;
        let read: { buf: Buffer; data: Buffer };
        try {
          read = await readPooled(this.buffers, file);
        } catch (err) {
          throw new SyncError(
            'LOCAL',
            `${what} of clip ${clip.id} cannot be read on the kit (${errorCode(err) ?? describeError(err)}): the clip is not uploaded`,
            { cause: err },
          );
        }
        const sha256 = sha256Hex(read.data);
        if (sha256 !== o.sha256) {
          this.buffers.give(read.buf);
          throw new SyncError(
            'LOCAL',
            `${what} of clip ${clip.id} does not match its SHA-256 in the catalogue (${sha256} ≠ ${o.sha256}; the card may be failing): the clip is not uploaded`,
          );
        }
        return { ...read, sha256, md5: md5Hex(read.data) };
      },
      async (o, { buf, data, sha256, md5 }, sig) => {
        try {
          await this.putter.put(o.key, data, md5, sig, this.observer(result), sha256);
        } finally {
          this.buffers.give(buf);
        }
        this.confirmLater({ target: this.targetId, key: o.key, clipId: clip.id, kind: o.kind, seq: o.n, sha256, md5, bytes: data.byteLength, at: clock.now() });
        this.addDone(data.byteLength);
      },
    );
    this.flushConfirms();

    // The manifest last: its presence at the organisation means every object it lists is there.
    const manifest = buildManifest(catalogue, kitId, clip.id);
    const sourceSha = sha256Hex(Buffer.from(manifestJson(manifest)));
    let stored = this.ledger.storedManifest(clip.id);
    if (!stored || stored.sourceSha256 !== sourceSha) {
      const body = Buffer.from(await encryptManifest(manifest, this.orgRecipient(), this.opts.manifestAlso?.(clip.id) ?? []));
      stored = { body, sha256: sha256Hex(body), md5: md5Hex(body), sourceSha256: sourceSha };
      this.ledger.storeManifest(clip.id, sourceSha, stored, clock.now());
      this.set({ bytesTotal: this.progressValue.bytesTotal + body.byteLength });
    }
    const mKey = manifestKey(kitId, clip.id);
    if (confirmed.get(mKey) !== stored.sha256) {
      if (signal.aborted) throw abortedError();
      await this.putter.put(mKey, stored.body, stored.md5, signal, this.observer(result), stored.sha256);
      this.ledger.confirm({
        target: this.targetId,
        key: mKey,
        clipId: clip.id,
        kind: 'manifest',
        seq: null,
        sha256: stored.sha256,
        md5: stored.md5,
        bytes: stored.body.byteLength,
        at: clock.now(),
      });
      this.addDone(stored.body.byteLength);
    }

    for (const x of this.extensions) await x.afterManifest?.(clip, this.io(signal, result));

    // From here on nothing awaits: the check and the mark see the same catalogue.
    const uploadedManifest = stored;
    const now = clock.now();
    const marked = catalogue.transaction(() => {
      if (this.manifestSourceSha(clip.id) !== uploadedManifest.sourceSha256) return null;
      const current = this.clipObjects(clip.id);
      const done = this.ledger.confirmed(this.targetId, clip.id);
      if (current.some((o) => done.get(o.key) !== o.sha256)) return null;
      const segments = current.filter((o) => o.kind === 'segment').length;
      const stills = current.length - segments;
      const bytes = current.reduce((a, o) => a + o.bytes, 0);
      this.opts.clips.markUploaded(clip.id, now);
      catalogue.audit('upload.confirmed', now, clip.id, {
        target: target.kind,
        objects: current.length + 1,
        segments,
        ...(stills ? { stills } : {}),
        bytes,
        manifestSha256: uploadedManifest.sha256,
      });
      return { objects: current.length + 1, segments, stills, bytes };
    });
    if (!marked) return false;
    this.ledger.dropManifest(clip.id);
    logger.info('clip upload confirmed', { clipId: clip.id, segments: marked.segments, stills: marked.stills, bytes: marked.bytes });
    this.emitter.emit('clip.uploaded', { clipId: clip.id, objects: marked.objects, bytes: marked.bytes });
    return true;
  }

  /** SHA-256 of the manifest the catalogue gives for the clip now. */
  private manifestSourceSha(clipId: string): string {
    return sha256Hex(Buffer.from(manifestJson(buildManifest(this.opts.catalogue, this.opts.kitId, clipId))));
  }

  /** The run's audit export (audit-export.ts), through this run's retrying PUT. */
  private exportAudit(signal: AbortSignal, result: SyncRunResult): Promise<string | null> {
    const { catalogue, clock, kitId, logger } = this.opts;
    return exportAudit(
      {
        catalogue,
        clock,
        kitId,
        logger,
        targetId: this.targetId,
        orgRecipient: () => this.orgRecipient(),
        put: (key, body, md5, sha256) => this.putter.put(key, body, md5, signal, this.observer(result), sha256),
      },
      signal,
    );
  }

  /** Fragment, kept-still and review metadata (review-upload.ts), through this run's retrying PUT. */
  private uploadReviewMetadata(source: ReviewUploadSource, signal: AbortSignal, result: SyncRunResult): Promise<string[]> {
    const { catalogue, clock, kitId, logger } = this.opts;
    const put = (key: string, body: Uint8Array, md5: string, sha256: string) => this.putter.put(key, body, md5, signal, this.observer(result), sha256);
    const indexEntry = async (item: ReviewIndexItem): Promise<'done' | 'wait'> => {
      for (const x of this.extensions) if ((await x.beforeReviewObject?.(item, this.io(signal, result))) === 'wait') return 'wait';
      return 'done';
    };
    return uploadReviewMetadata({ catalogue, source, kitId, targetId: this.targetId, clock, logger, put, indexEntry }, signal);
  }

  /** Counts a run's bytes on the wire and shows a transient error it retries after. */
  private observer(result: SyncRunResult): PutObserver {
    return {
      sent: (bytes) => {
        result.bytesSent += bytes;
        this.set({ bytesSent: result.bytesSent });
      },
      retrying: (e) => this.set({ lastError: { reason: e.reason, message: e.message, at: this.opts.clock.now() } }),
    };
  }
}
