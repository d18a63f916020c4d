import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { AppError, describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue } from '../store/catalogue.js';
import { decryptWith } from '../store/crypto.js';
import { fsyncDir, writeFileDurableSync } from '../store/durable.js';
import { CONTENT_ID_PATTERN, type ContentKind, type ContentRef, type KeyStore } from '../store/keys.js';
import { trainerIndexKey } from '../store/objects.js';
import type { DirectoryEntry } from './fetch-directory.js';
import { erasedHere, fetchedCase, fetchedKeptBytes, KeptFetch, markFetched, narrowCases, type KeptFetchResult, type ReceivedKey } from './fetch-kept.js';
import { downloadTo, type FetchSource } from './fetch-source.js';
import { manifestKey, parseManifest, segmentKey, type ClipManifest } from './manifest.js';
import { parseTrainerIndex, type TrainerIndex } from './review-upload.js';
import { sha256Hex } from './targets.js';

// the S3 source lives in fetch-source.ts; re-exported for the importers of this module
export { S3FetchSource, type FetchSource, type ListedObject } from './fetch-source.js';

/** Flushes every fetched segment of a clip (in parallel: the file system commits them together), then renames them into place. */
async function commitParts(parts: { part: string; file: string }[], dir: string): Promise<void> {
  try {
    await Promise.all(
      parts.map(async ({ part }) => {
        const fh = await open(part, 'r+');
        try {
          await fh.datasync();
        } finally {
          await fh.close();
        }
      }),
    );
  } catch (err) {
    for (const p of parts) rmSync(p.part, { force: true });
    throw err;
  }
  for (const { part, file } of parts) renameSync(part, file);
  fsyncDir(dir);
}

export interface FetchOptions {
  source: FetchSource;
  kitId: string;
  dataDir: string;
  keys: Pick<
    KeyStore,
    'unlockedTrainer' | 'inboxIdentity' | 'importContentKey' | 'hasClipKey' | 'contentIdentity' | 'recipientsOf' | 'hasContentKey' | 'entitled'
  >;
  catalogue: Catalogue;
  clock: Clock;
  logger: Logger;
  /** Bytes fetched footage may take on the card at most (`sync.fetch.budgetMB`). */
  budgetBytes: number;
  /** Whether `bytes` more fit above the recording reserve (StorageGuard.hasRoom). */
  hasRoom: (bytes: number) => boolean;
  /** Raw clips older than this after the organisation confirmed them are not fetched (privacy.deleteAfterUploadHours). */
  retentionMs: number;
  /** Segments fetched in parallel. Default 4. */
  concurrency?: number;
}

export interface FetchProgress {
  trainerId: string | null;
  state: 'idle' | 'fetching' | 'done' | 'locked' | 'error';
  clipsReady: number;
  clipsWaiting: number;
  bytesDone: number;
  bytesTotal: number;
  /** Fragments and kept stills on the kit now, of this run. */
  keptReady: number;
  /** Reviews on the kit now (presentable: their items are here), of this run. */
  reviewsReady: number;
  lastError?: string;
}

export interface FetchResult {
  fetched: string[];
  skipped: { clipId: string; why: 'expired' | 'case-closed' | 'budget' | 'no-room' | 'have' | 'erased' }[];
  failed: { clipId: string; message: string }[];
  bytes: number;
  /** Fragments, kept stills and reviews (fetch-kept.ts). */
  kept: KeptFetchResult;
}

const OUTBOX_NAME = /^(clip|fragment|still|review)-([0-9a-z]+)\.key\.age$/;

/**
 * A docked kit fetches what its signed-in trainer needs for their open cases (issue 20): the
 * content keys other kits sent to this trainer's inbox here (`<kit>/outbox/<T>/<this kit>/`), then
 * for each raw clip within its retention the manifest (encrypted to the organisation and the clip's
 * key) and the segments, each checked against the manifest's SHA-256 before it counts. Resumable:
 * a segment already on the card with the right SHA-256 is not fetched again; the catalogue learns
 * of a clip only once all of it is verified. Fetched clips are marked confirmed at the original's
 * confirmation (the manifest's time in the store), so retention treats them like the original.
 */
export class TrainerFetch {
  private progressValue: FetchProgress = {
    trainerId: null,
    state: 'idle',
    clipsReady: 0,
    clipsWaiting: 0,
    bytesDone: 0,
    bytesTotal: 0,
    keptReady: 0,
    reviewsReady: 0,
  };

  constructor(private readonly o: FetchOptions) {}

  /** What the remote shows: what is being fetched and how much is ready for the next visit. */
  get progress(): FetchProgress {
    return { ...this.progressValue };
  }

  /** One pass over the team's kits in the directory (this kit's entry excluded): raw clips first, then fragments, kept stills and reviews. */
  async run(team: DirectoryEntry[]): Promise<FetchResult> {
    const result: FetchResult = { fetched: [], skipped: [], failed: [], bytes: 0, kept: { fetched: [], skipped: [], failed: [] } };
    const trainer = this.o.keys.unlockedTrainer;
    if (trainer === null) {
      this.progressValue = { ...this.progressValue, trainerId: null, state: 'locked' };
      return result;
    }
    this.progressValue = { trainerId: trainer, state: 'fetching', clipsReady: 0, clipsWaiting: 0, bytesDone: 0, bytesTotal: 0, keptReady: 0, reviewsReady: 0 };
    const inbox = this.o.keys.inboxIdentity();
    let used = this.fetchedBytes();
    const kept = new KeptFetch({ source: this.o.source, dataDir: this.o.dataDir, keys: this.o.keys, catalogue: this.o.catalogue, clock: this.o.clock });
    for (const kit of team.filter((e) => e.kitId !== this.o.kitId)) {
      const sent = await this.received(kit, trainer, inbox, result);
      // the trainer's index on that kit says what to fetch and when the organisation confirmed it (no listing); without one, every key sent
      const index = sent.length > 0 ? await this.index(kit, trainer, inbox) : null;
      const listed = index ? new Map(index.items.map((it) => [`${it.kind}:${it.id}`, it])) : null;
      const closed = new Set(index?.cases.filter((c) => c.closedAt !== null).map((c) => c.code));
      const received = sent.filter((r) => listed === null || listed.has(`${r.ref.kind}:${r.ref.id}`));
      const confirmedAt = (ref: ContentRef) => listed?.get(`${ref.kind}:${ref.id}`)?.confirmedAt;
      for (const { ref, identity } of received.filter((r) => r.ref.kind === 'clip')) {
        const clipId = ref.id;
        try {
          if (closed.has(listed?.get(`clip:${clipId}`)?.caseCode ?? '')) {
            result.skipped.push({ clipId, why: 'case-closed' });
            continue;
          }
          const why = await this.fetchClip(kit, clipId, identity, trainer, this.o.budgetBytes - used, result, confirmedAt(ref));
          if (why) result.skipped.push({ clipId, why });
          else used = this.fetchedBytes();
        } catch (err) {
          result.failed.push({ clipId, message: describeError(err) });
          this.o.logger.warn('a clip could not be fetched', { clip: clipId, kit: kit.kitId, error: describeError(err) });
        }
      }
      const clipKeys = new Map(received.filter((r) => r.ref.kind === 'clip').map((r) => [r.ref.id, r.identity]));
      const before = result.kept.fetched.length;
      await kept.run(
        {
          kit,
          trainer,
          room: () => this.o.budgetBytes - this.fetchedBytes(),
          hasRoom: this.o.hasRoom,
          confirmedAt,
          closed: (code) => closed.has(code),
          clipIdentity: async (id) =>
            clipKeys.get(id) ?? (this.o.keys.entitled({ kind: 'clip', id }).includes(trainer) ? this.o.keys.contentIdentity({ kind: 'clip', id }) : null),
          onBytes: (n) => {
            this.progressValue.bytesDone += n;
            this.progressValue.bytesTotal += n;
            result.bytes += n;
          },
        },
        received,
        result.kept,
      );
      for (const ref of result.kept.fetched.slice(before)) {
        if (ref.kind === 'review') this.progressValue.reviewsReady += 1;
        else this.progressValue.keptReady += 1;
      }
      for (const f of result.kept.failed)
        this.o.logger.warn('a review item could not be fetched', { [f.ref.kind]: f.ref.id, kit: kit.kitId, error: f.message });
      if (index) narrowCases(this.o.catalogue, index.cases, this.o.clock.now());
    }
    const firstError = result.failed[0]?.message ?? result.kept.failed[0]?.message;
    this.progressValue = {
      ...this.progressValue,
      state: firstError !== undefined ? 'error' : 'done',
      ...(firstError !== undefined ? { lastError: firstError } : {}),
    };
    return result;
  }

  /** The trainer's index on that kit (`<kit>/trainers/<T>/index.json.age`), opened with their inbox key here; null when there is none (yet). */
  private async index(kit: DirectoryEntry, trainer: string, inbox: string): Promise<TrainerIndex | null> {
    const key = trainerIndexKey(kit.kitId, trainer);
    if (!(await this.o.source.list(kit.bucket, key)).some((l) => l.key === key)) return null;
    try {
      return parseTrainerIndex((await decryptWith(inbox, await this.o.source.get(kit.bucket, key), key)).toString('utf8'), kit.kitId, trainer, key);
    } catch (err) {
      // written before this kit's inbox was in the directory, or damaged: every key sent is fetched as without an index
      this.o.logger.warn('a trainer index could not be read; fetching without it', { kit: kit.kitId, trainer, error: describeError(err) });
      return null;
    }
  }

  /** The content keys a kit sent this trainer here (`<kit>/outbox/<T>/<this kit>/`), opened with their inbox key. */
  private async received(kit: DirectoryEntry, trainer: string, inbox: string, result: FetchResult): Promise<ReceivedKey[]> {
    const prefix = `${kit.kitId}/outbox/${trainer}/${this.o.kitId}/`;
    const out: ReceivedKey[] = [];
    for (const obj of await this.o.source.list(kit.bucket, prefix)) {
      const m = OUTBOX_NAME.exec(obj.key.slice(prefix.length));
      if (!m || !CONTENT_ID_PATTERN.test(m[2]!)) continue;
      const ref = { kind: m[1] as ContentKind, id: m[2]! };
      try {
        out.push({ ref, identity: (await decryptWith(inbox, await this.o.source.get(kit.bucket, obj.key), `outbox key ${obj.key}`)).toString('utf8') });
      } catch (err) {
        if (ref.kind === 'clip') result.failed.push({ clipId: ref.id, message: describeError(err) });
        else result.kept.failed.push({ ref, message: describeError(err) });
      }
    }
    return out;
  }

  /** Fetches one clip; returns why it was skipped, or null when it is on the kit now (verified). */
  private async fetchClip(
    kit: DirectoryEntry,
    clipId: string,
    identity: string,
    trainer: string,
    room: number,
    result: FetchResult,
    indexed?: number,
  ): Promise<FetchResult['skipped'][number]['why'] | null> {
    if (this.o.catalogue.getClip(clipId)) return 'have';
    if (erasedHere(this.o.dataDir, { kind: 'clip', id: clipId }, false)) return 'erased';
    const mKey = manifestKey(kit.kitId, clipId);
    const listed = indexed === undefined ? (await this.o.source.list(kit.bucket, mKey)).find((o) => o.key === mKey) : { lastModified: indexed };
    if (!listed) throw new AppError('NOT_FOUND', `clip ${clipId}: no manifest at ${mKey} yet (not uploaded)`, { field: 'clipId' });
    const confirmedAt = listed.lastModified;
    if (this.o.clock.now() - confirmedAt >= this.o.retentionMs) return 'expired';
    const manifest = parseManifest((await decryptWith(identity, await this.o.source.get(kit.bucket, mKey), `manifest of ${clipId}`)).toString('utf8'));
    if (manifest.clipId !== clipId) throw new AppError('BAD_REQUEST', `manifest ${mKey} names clip ${manifest.clipId}`, { field: 'clipId' });
    if (this.o.catalogue.caseClosedAt(manifest.caseCode) !== null) return 'case-closed';
    const need = manifest.segments.reduce((n, s) => n + s.bytes, 0);
    if (need > room) return 'budget';
    if (!this.o.hasRoom(need)) return 'no-room';
    this.progressValue.clipsWaiting += 1;
    this.progressValue.bytesTotal += need;
    const dir = path.join(this.o.dataDir, 'clips', clipId);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const queue = [...manifest.segments];
    const parts: { part: string; file: string }[] = [];
    const worker = async (): Promise<void> => {
      for (let s = queue.shift(); s !== undefined; s = queue.shift()) await this.fetchSegment(kit, clipId, dir, s, result, parts);
    };
    // every worker ends before the clip fails (no write after the run returned)
    const ends = await Promise.allSettled(Array.from({ length: Math.max(1, this.o.concurrency ?? 4) }, worker));
    const failed = ends.find((e): e is PromiseRejectedResult => e.status === 'rejected');
    if (failed) {
      // the verified segments stay (durably), so that the next run does not fetch them again
      await commitParts(parts, dir);
      throw failed.reason;
    }
    await commitParts(parts, dir);
    await this.o.keys.importContentKey({ kind: 'clip', id: clipId }, identity);
    this.register(manifest, confirmedAt, trainer, kit.kitId);
    // after the catalogue has it: a marker without a row means "erased here since" (not fetched again)
    markFetched(this.o.dataDir, { kind: 'clip', id: clipId }, kit.kitId);
    this.progressValue.clipsWaiting -= 1;
    this.progressValue.clipsReady += 1;
    result.fetched.push(clipId);
    return null;
  }

  /** One segment: kept when the card has it with the right SHA-256, else fetched and checked before it is written. */
  private async fetchSegment(
    kit: DirectoryEntry,
    clipId: string,
    dir: string,
    s: ClipManifest['segments'][number],
    result: FetchResult,
    parts: { part: string; file: string }[],
  ): Promise<void> {
    const file = path.join(dir, s.object);
    if (existsSync(file) && sha256Hex(readFileSync(file)) === s.sha256) {
      this.progressValue.bytesDone += s.bytes;
      return;
    }
    // streamed to its part file while hashed (fetch-source.ts); it counts only once the SHA-256 matches
    const part = path.join(dir, `.fetch-${s.object}`);
    const got = await downloadTo(this.o.source, kit.bucket, segmentKey(kit.kitId, clipId, s.seq), part, s.bytes);
    if (got.sha256 !== s.sha256 || got.bytes !== s.bytes) {
      rmSync(part, { force: true });
      throw new AppError(
        'BAD_REQUEST',
        `clip ${clipId} segment ${s.seq}: SHA-256 ${got.sha256.slice(0, 12)}… does not match the manifest's ${s.sha256.slice(0, 12)}…`,
        {
          field: 'sha256',
        },
      );
    }
    // made durable with the clip's other segments at once (commitParts): one flush per clip, not per segment
    parts.push({ part, file });
    this.progressValue.bytesDone += s.bytes;
    result.bytes += s.bytes;
  }

  /** The clip, its case (with this trainer) and its segments in the catalogue, in one step, after every segment was verified. */
  private register(m: ClipManifest, confirmedAt: number, trainer: string, fromKit: string): void {
    const { catalogue } = this.o;
    const now = this.o.clock.now();
    writeFileDurableSync(
      path.join(this.o.dataDir, 'clips', m.clipId, 'clip.json'),
      JSON.stringify(
        {
          v: 1,
          id: m.clipId,
          caseCode: m.caseCode,
          createdAt: m.createdAt,
          requestedAt: m.requestedAt,
          preRollMs: m.preRollMs,
          originMs: m.originMs,
          state: m.state,
          stoppedAt: m.stoppedAt,
          stopReason: 'fetched',
          consent: m.consentAtRecording,
          uploadedAt: confirmedAt,
          fetchedFrom: fromKit,
        },
        null,
        1,
      ),
    );
    catalogue.transaction(() => {
      fetchedCase(catalogue, m.caseCode, trainer, m, now);
      catalogue.insertClip({
        id: m.clipId,
        caseCode: m.caseCode,
        createdAt: m.createdAt,
        requestedAt: m.requestedAt,
        originMs: m.originMs,
        preRollMs: m.preRollMs,
      });
      for (const s of m.segments)
        catalogue.insertSegment({
          clipId: m.clipId,
          seq: s.seq,
          startMs: s.startMs,
          durationMs: s.durationMs,
          bytes: s.bytes,
          sha256: s.sha256,
          discontinuity: s.discontinuity,
        });
      for (const mk of m.markers) catalogue.insertMarker(m.clipId, mk.offsetMs, mk.label, now);
      catalogue.finishClip(m.clipId, m.state, m.stoppedAt ?? now, 'fetched');
      catalogue.setClipConsent(m.clipId, m.consentAtRecording);
      catalogue.markUploaded(m.clipId, confirmedAt);
      catalogue.audit('clip.fetched', now, m.clipId, { fromKit, bytes: m.bytes, segments: m.segments.length });
    });
  }

  /** Bytes of fetched clips, fragments and kept stills on the card now (they count against the budget). */
  private fetchedBytes(): number {
    const clips = this.o.catalogue
      .allClips()
      .filter((c) => c.stopReason === 'fetched')
      .reduce((n, c) => n + c.bytes, 0);
    return clips + fetchedKeptBytes(this.o.dataDir, this.o.catalogue);
  }
}
