import { EventEmitter } from 'node:events';
import { open } from 'node:fs/promises';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue, ClipRow } from '../store/catalogue.js';
import type { ClipStore } from '../store/clips.js';
import { encryptTo } from '../store/crypto.js';
import { errorCode, SyncError, type SyncErrorReason } from './errors.js';
import {
  auditKey, buildManifest, checkKitId, encryptManifest, manifestJson, manifestKey, segmentKey, stillKey, type AuditExport,
} from './manifest.js';
import { md5Hex, sha256Hex, type UploadTarget } from './targets.js';

// ---------------------------------------------------------------------------------------------
// The durable queue: what the target has confirmed, kept in the catalogue (migration 3)

interface PendingBody {
  body: Buffer;
  sha256: string;
  md5: string;
}

export interface ConfirmedObject {
  target: string;
  key: string;
  clipId: string;
  kind: 'segment' | 'manifest' | 'still';
  /** The segment's seq, or the still's id. */
  seq: number | null;
  sha256: string;
  md5: string;
  bytes: number;
  at: number;
}

/**
 * Reusable read buffers for segment files: ~1 MB per object would otherwise be a new external
 * allocation each time, and the garbage collector's work shows in the CPU of an upload.
 */
class BufferPool {
  private readonly free: Buffer[] = [];
  constructor(private readonly keep: number) {}

  take(size: number): Buffer {
    const i = this.free.findIndex((b) => b.byteLength >= size);
    if (i >= 0) return this.free.splice(i, 1)[0]!;
    return Buffer.allocUnsafeSlow(Math.max(size, 1536 * 1024));
  }

  give(buf: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buf);
  }
}

/** Reads a whole file into a pooled buffer; returns the buffer and the file's bytes (a view of it). */
async function readPooled(pool: BufferPool, file: string): Promise<{ buf: Buffer; data: Buffer }> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const buf = pool.take(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await fh.read(buf, off, size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return { buf, data: buf.subarray(0, off) };
  } finally {
    await fh.close();
  }
}

interface AuditExportRow extends PendingBody {
  id: number;
  key: string;
  fromEvent: number;
  uptoEvent: number;
}

/**
 * The sync tables of the catalogue. `sync_objects` holds one row per object the target confirmed
 * (per target id); a clip's rows go with the clip (ON DELETE CASCADE). The encrypted manifest and
 * audit export bodies are kept until confirmed, so a retry sends the very same bytes to the very
 * same key (age encryption is randomised: encrypting again would make a different object).
 */
export class SyncQueue {
  constructor(private readonly catalogue: Catalogue) {}

  private get db() {
    return this.catalogue.db;
  }

  /** key → SHA-256 of what the target confirmed for this clip. */
  confirmed(target: string, clipId: string): Map<string, string> {
    const rows = this.db.prepare('SELECT key, sha256 FROM sync_objects WHERE target = ? AND clip_id = ?').all(target, clipId) as { key: string; sha256: string }[];
    return new Map(rows.map((r) => [r.key, r.sha256]));
  }

  confirm(o: ConfirmedObject): void {
    this.confirmMany([o]);
  }

  /** Records confirmations in one transaction (one fsync). */
  confirmMany(list: ConfirmedObject[]): void {
    if (list.length === 0) return;
    const stmt = this.db.prepare(
      `INSERT OR REPLACE INTO sync_objects (target, key, clip_id, kind, seq, sha256, md5, bytes, confirmed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.db.transaction(() => {
      for (const o of list) stmt.run(o.target, o.key, o.clipId, o.kind, o.seq, o.sha256, o.md5, o.bytes, o.at);
    })();
  }

  storedManifest(clipId: string): (PendingBody & { sourceSha256: string }) | undefined {
    const r = this.db.prepare('SELECT source_sha256 AS sourceSha256, body, sha256, md5 FROM sync_manifests WHERE clip_id = ?').get(clipId) as
      (PendingBody & { sourceSha256: string }) | undefined;
    return r;
  }

  storeManifest(clipId: string, sourceSha256: string, body: Uint8Array, at: number): PendingBody {
    const b = Buffer.from(body);
    const row = { body: b, sha256: sha256Hex(b), md5: md5Hex(b) };
    this.db
      .prepare('INSERT OR REPLACE INTO sync_manifests (clip_id, source_sha256, body, sha256, md5, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(clipId, sourceSha256, b, row.sha256, row.md5, at);
    return row;
  }

  dropManifest(clipId: string): void {
    this.db.prepare('DELETE FROM sync_manifests WHERE clip_id = ?').run(clipId);
  }

  pendingAuditExport(target: string): AuditExportRow | undefined {
    return this.db
      .prepare(
        `SELECT id, key, from_event AS fromEvent, upto_event AS uptoEvent, body, sha256, md5 FROM sync_audit_exports
         WHERE target = ? AND confirmed_at IS NULL ORDER BY id LIMIT 1`,
      )
      .get(target) as AuditExportRow | undefined;
  }

  /** The last event id and hash the target has (0 and the zero hash when nothing yet). */
  auditExportedUpto(target: string): { uptoEvent: number; uptoHash: string } {
    const r = this.db
      .prepare('SELECT MAX(upto_event) AS uptoEvent FROM sync_audit_exports WHERE target = ?')
      .get(target) as { uptoEvent: number | null };
    if (r.uptoEvent === null) return { uptoEvent: 0, uptoHash: '0'.repeat(64) };
    const h = this.db.prepare('SELECT upto_hash AS uptoHash FROM sync_audit_exports WHERE target = ? AND upto_event = ?').get(target, r.uptoEvent) as { uptoHash: string };
    return { uptoEvent: r.uptoEvent, uptoHash: h.uptoHash };
  }

  insertAuditExport(e: { target: string; key: string; fromEvent: number; uptoEvent: number; uptoHash: string; body: Uint8Array; at: number }): AuditExportRow {
    const b = Buffer.from(e.body);
    const sha256 = sha256Hex(b);
    const md5 = md5Hex(b);
    const info = this.db
      .prepare(
        `INSERT INTO sync_audit_exports (target, key, from_event, upto_event, upto_hash, body, sha256, md5, bytes, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(e.target, e.key, e.fromEvent, e.uptoEvent, e.uptoHash, b, sha256, md5, b.byteLength, e.at);
    return { id: Number(info.lastInsertRowid), key: e.key, fromEvent: e.fromEvent, uptoEvent: e.uptoEvent, body: b, sha256, md5 };
  }

  confirmAuditExport(id: number, at: number): void {
    this.db.prepare('UPDATE sync_audit_exports SET confirmed_at = ?, body = NULL WHERE id = ?').run(at, id);
  }
}

// ---------------------------------------------------------------------------------------------
// The service

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
}

export interface DockDecision {
  docked: boolean;
  reason?: string;
}

export interface RetryPolicy {
  /** Tries per object within a run (a transient error on the last one ends the run). Default 6. */
  attempts: number;
  /** First backoff; doubles per attempt, jittered to 50–100 %. Default 1000 ms. */
  baseMs: number;
  /** Upper bound of one backoff. Default 30 000 ms. */
  maxMs: number;
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
}

export interface SyncEvents {
  progress: SyncProgress;
  'clip.uploaded': { clipId: string; objects: number; bytes: number };
  'run.finished': SyncRunResult;
}

/** How often one run sends a clip that changes while it is uploaded before leaving it to the next run. */
const MAX_CLIP_ROUNDS = 3;

function aborted(): SyncError {
  return new SyncError('ABORTED', 'the upload was stopped');
}

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
  private readonly queue: SyncQueue;
  private readonly retry: RetryPolicy;
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

  constructor(private readonly opts: SyncServiceOptions) {
    checkKitId(opts.kitId);
    this.queue = new SyncQueue(opts.catalogue);
    this.retry = { attempts: 6, baseMs: 1000, maxMs: 30_000, ...opts.retry };
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 2));
    this.buffers = new BufferPool(this.concurrency * 2 + 2);
    this.emitter.setMaxListeners(50);
    const counts = this.counts();
    this.progressValue = { ...this.progressValue, pending: counts.pending.length + counts.waiting.length, waitingForCase: counts.waiting.length };
  }

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
   * progress keeps its own count.
   */
  recount(): void {
    if (this.current) return;
    const { pending, waiting } = this.counts();
    this.set({ pending: pending.length + waiting.length, waitingForCase: waiting.length });
  }

  private counts(): { pending: ClipRow[]; waiting: ClipRow[] } {
    const pending: ClipRow[] = [];
    const waiting: ClipRow[] = [];
    for (const c of this.opts.catalogue.allClips()) {
      if (c.state === 'recording' || c.uploadedAt !== null) continue;
      (c.caseCode ? pending : waiting).push(c);
    }
    return { pending, waiting };
  }

  private orgRecipient(): string {
    return typeof this.opts.orgRecipient === 'function' ? this.opts.orgRecipient() : this.opts.orgRecipient;
  }

  private async run(signal: AbortSignal): Promise<SyncRunResult> {
    const { clock, logger } = this.opts;
    const result: SyncRunResult = { docked: true, uploaded: [], waitingForCase: [], failed: [], deferred: [], bytesSent: 0 };
    this.set({ state: 'checking', bytesDone: 0, bytesTotal: 0, bytesSent: 0, etaSeconds: undefined, clipId: undefined, lastError: undefined, lastRunAt: clock.now() });
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
      const { pending, waiting } = this.counts();
      result.waitingForCase = waiting.map((c) => c.id);
      let bytesTotal = 0;
      for (const c of pending) {
        const confirmed = this.queue.confirmed(this.targetId, c.id);
        for (const o of this.clipObjects(c.id)) {
          if (confirmed.get(o.key) !== o.sha256) bytesTotal += o.bytes;
        }
      }
      this.uploadStartedMono = clock.monotonic();
      this.set({ state: 'uploading', pending: pending.length + waiting.length, waitingForCase: waiting.length, bytesTotal });
      if (waiting.length) logger.info('clips wait for a case before they are uploaded', { clips: waiting.length });
      for (const clip of pending) {
        if (signal.aborted) throw aborted();
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
      if (this.opts.exportAudit !== false) {
        const key = await this.exportAudit(signal, result);
        if (key) result.auditExport = key;
      }
      const failed = result.failed.length > 0;
      // a run that left a changing clip behind is not an error, but not "everything confirmed" either
      const complete = !failed && result.deferred.length === 0;
      this.set({
        state: failed ? 'error' : 'done', clipId: undefined, etaSeconds: undefined,
        ...(failed ? {} : { lastError: undefined }), ...(complete ? { lastSuccessAt: clock.now() } : {}),
      });
      logger.info('sync run finished', {
        uploaded: result.uploaded.length, failed: result.failed.length, deferred: result.deferred.length, waitingForCase: waiting.length, bytesSent: result.bytesSent,
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
          state: 'error', clipId: undefined, etaSeconds: undefined, pending: pending.length + waiting.length, waitingForCase: waiting.length,
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
    this.queue.confirmMany(list);
  }

  /** The clip's segments, then its stills: every object that goes before the manifest. */
  private clipObjects(clipId: string): ClipObject[] {
    const { catalogue, kitId } = this.opts;
    const out: ClipObject[] = catalogue.segments(clipId).map((s) => ({
      kind: 'segment', n: s.seq, key: segmentKey(kitId, clipId, s.seq), sha256: s.sha256, bytes: s.bytes,
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
    const confirmed = this.queue.confirmed(this.targetId, clip.id);
    const todo = objects.filter((o) => confirmed.get(o.key) !== o.sha256);
    // the run's total counted what the clip had when the run began; later rounds add what is new
    if (round > 1) this.set({ bytesTotal: this.progressValue.bytesTotal + todo.reduce((a, o) => a + o.bytes, 0) });
    else if (todo.length < objects.length) logger.info('resuming a clip', { clipId: clip.id, confirmed: objects.length - todo.length, left: todo.length });

    await this.pool(
      todo, signal,
      async (o) => {
        const file = this.objectFile(clip.id, o);
        const what = o.kind === 'segment' ? `segment ${o.n}` : `still ${o.n}`;
        let read: { buf: Buffer; data: Buffer };
        try {
          read = await readPooled(this.buffers, file);
        } catch (err) {
          throw new SyncError('LOCAL', `${what} of clip ${clip.id} cannot be read on the kit (${errorCode(err) ?? describeError(err)}): the clip is not uploaded`, { cause: err });
        }
        const sha256 = sha256Hex(read.data);
        if (sha256 !== o.sha256) {
          this.buffers.give(read.buf);
          throw new SyncError('LOCAL', `${what} of clip ${clip.id} does not match its SHA-256 in the catalogue (${sha256} ≠ ${o.sha256}; the card may be failing): the clip is not uploaded`);
        }
        return { ...read, sha256, md5: md5Hex(read.data) };
      },
      async (o, { buf, data, sha256, md5 }, sig) => {
        try {
          await this.putWithRetry(o.key, data, md5, sig, result, sha256);
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
    let stored = this.queue.storedManifest(clip.id);
    if (!stored || stored.sourceSha256 !== sourceSha) {
      const body = await encryptManifest(manifest, this.orgRecipient());
      stored = { ...this.queue.storeManifest(clip.id, sourceSha, body, clock.now()), sourceSha256: sourceSha };
      this.set({ bytesTotal: this.progressValue.bytesTotal + body.byteLength });
    }
    const mKey = manifestKey(kitId, clip.id);
    if (confirmed.get(mKey) !== stored.sha256) {
      if (signal.aborted) throw aborted();
      await this.putWithRetry(mKey, stored.body, stored.md5, signal, result, stored.sha256);
      this.queue.confirm({ target: this.targetId, key: mKey, clipId: clip.id, kind: 'manifest', seq: null, sha256: stored.sha256, md5: stored.md5, bytes: stored.body.byteLength, at: clock.now() });
      this.addDone(stored.body.byteLength);
    }

    // From here on nothing awaits: the check and the mark see the same catalogue.
    const uploadedManifest = stored;
    const now = clock.now();
    const marked = catalogue.db.transaction(() => {
      if (this.manifestSourceSha(clip.id) !== uploadedManifest.sourceSha256) return null;
      const current = this.clipObjects(clip.id);
      const done = this.queue.confirmed(this.targetId, clip.id);
      if (current.some((o) => done.get(o.key) !== o.sha256)) return null;
      const segments = current.filter((o) => o.kind === 'segment').length;
      const stills = current.length - segments;
      const bytes = current.reduce((a, o) => a + o.bytes, 0);
      this.opts.clips.markUploaded(clip.id, now);
      catalogue.audit('upload.confirmed', now, clip.id, {
        target: target.kind, objects: current.length + 1, segments, ...(stills ? { stills } : {}), bytes, manifestSha256: uploadedManifest.sha256,
      });
      return { objects: current.length + 1, segments, stills, bytes };
    })();
    if (!marked) return false;
    this.queue.dropManifest(clip.id);
    logger.info('clip upload confirmed', { clipId: clip.id, segments: marked.segments, stills: marked.stills, bytes: marked.bytes });
    this.emitter.emit('clip.uploaded', { clipId: clip.id, objects: marked.objects, bytes: marked.bytes });
    return true;
  }

  /** SHA-256 of the manifest the catalogue gives for the clip now. */
  private manifestSourceSha(clipId: string): string {
    return sha256Hex(Buffer.from(manifestJson(buildManifest(this.opts.catalogue, this.opts.kitId, clipId))));
  }

  /**
   * Sends items with `concurrency` workers; the first error stops the others. Each item is prepared
   * (read from the card, hashed) one step ahead, so the hashing overlaps the upload before it.
   */
  private async pool<T, P>(
    items: T[], signal: AbortSignal, prepare: (item: T) => Promise<P>, send: (item: T, prepared: P, signal: AbortSignal) => Promise<void>,
  ): Promise<void> {
    if (items.length === 0) return;
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const prepared = new Map<number, Promise<P>>();
    const prepareAt = (i: number): Promise<P> => {
      let p = prepared.get(i);
      if (!p) {
        p = prepare(items[i]!);
        p.catch(() => undefined); // awaited (and reported) by the worker that sends it
        prepared.set(i, p);
      }
      return p;
    };
    let next = 0;
    let firstError: unknown = null;
    const worker = async () => {
      while (firstError === null && !ctrl.signal.aborted && next < items.length) {
        const i = next++;
        try {
          const ready = prepareAt(i);
          if (next < items.length) prepareAt(next);
          const p = await ready;
          prepared.delete(i);
          await send(items[i]!, p, ctrl.signal);
        } catch (err) {
          if (firstError === null) firstError = err;
          ctrl.abort();
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, worker));
    } finally {
      signal.removeEventListener('abort', onAbort);
      prepared.clear();
    }
    if (firstError !== null) throw firstError;
    if (signal.aborted) throw aborted();
  }

  private backoffMs(attempt: number): number {
    const base = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** (attempt - 1));
    const r = (this.opts.random ?? Math.random)();
    return Math.round(base / 2 + (base / 2) * r);
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(aborted());
      const onAbort = () => {
        this.opts.clock.clearTimeout(handle);
        reject(aborted());
      };
      const handle = this.opts.clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async putWithRetry(key: string, body: Uint8Array, md5: string, signal: AbortSignal, result: SyncRunResult, sha256?: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw aborted();
      result.bytesSent += body.byteLength;
      this.set({ bytesSent: result.bytesSent });
      try {
        await this.opts.target.put(key, body, { md5Hex: md5, signal, sha256Hex: sha256 ?? sha256Hex(body) });
        return;
      } catch (err) {
        const e = err instanceof SyncError ? err : new SyncError('REJECTED', describeError(err), { cause: err });
        if (signal.aborted) throw aborted();
        if (!e.retryable) throw e;
        if (attempt >= this.retry.attempts) {
          throw new SyncError(e.reason, `${e.message} (gave up after ${attempt} attempts; the next run tries again)`, { cause: e, ...(e.httpStatus ? { httpStatus: e.httpStatus } : {}) });
        }
        const delay = this.backoffMs(attempt);
        this.opts.logger.warn('upload failed; retrying', { key, attempt, reason: e.reason, error: e.message, retryInMs: delay });
        this.set({ lastError: { reason: e.reason, message: e.message, at: this.opts.clock.now() } });
        await this.sleep(delay, signal);
      }
    }
  }

  private async exportAudit(signal: AbortSignal, result: SyncRunResult): Promise<string | null> {
    const { catalogue, clock, kitId } = this.opts;
    let exp = this.queue.pendingAuditExport(this.targetId);
    if (!exp) {
      const upto = this.queue.auditExportedUpto(this.targetId);
      const events = catalogue.db
        .prepare('SELECT id, ts, type, clip_id AS clipId, details, prev_hash AS prevHash, hash FROM audit_events WHERE id > ? ORDER BY id')
        .all(upto.uptoEvent) as AuditExport['events'];
      const first = events[0];
      const last = events[events.length - 1];
      if (!first || !last) return null;
      const now = clock.now();
      const payload: AuditExport = {
        format: 'vht-kit.audit-export', v: 1, kitId, exportedAt: now, fromId: first.id, uptoId: last.id, prevHash: upto.uptoHash, events,
      };
      const body = await encryptTo([this.orgRecipient()], JSON.stringify(payload));
      exp = this.queue.insertAuditExport({
        target: this.targetId, key: auditKey(kitId, now), fromEvent: first.id, uptoEvent: last.id, uptoHash: last.hash, body, at: now,
      });
    }
    if (signal.aborted) throw aborted();
    await this.putWithRetry(exp.key, exp.body, exp.md5, signal, result, exp.sha256);
    this.queue.confirmAuditExport(exp.id, clock.now());
    this.opts.logger.info('audit log exported', { key: exp.key, fromEvent: exp.fromEvent, uptoEvent: exp.uptoEvent });
    return exp.key;
  }
}
