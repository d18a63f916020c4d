import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { AppError, describeError } from '../core/errors.js';
import { mapLimit } from '../core/pool.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue } from '../store/catalogue.js';
import { decryptWith } from '../store/crypto.js';
import { fsyncDir, writeFileDurable } from '../store/durable.js';
import { CONTENT_ID_PATTERN, type ContentKind, type KeyStore } from '../store/keys.js';
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
  /** What this kit holds for the signed-in trainer's open cases, fetched or recorded here: what is ready for the next visit. */
  onKit?: ReadyOnKit;
}

/** What a kit holds for a trainer's open cases (the remote's "voor het volgende bezoek"). */
export interface ReadyOnKit {
  clips: number;
  /** Reviews not held yet. */
  reviews: number;
  fragments: number;
  stills: number;
}

/** Counts what the kit holds for the trainer's open cases: clips (not while recording), reviews still to hold, fragments and kept stills. */
export function readyOnKit(catalogue: Catalogue, trainerId: string): ReadyOnKit {
  const open = new Set(catalogue.casesOfTrainer(trainerId).filter((c) => catalogue.caseClosedAt(c) === null));
  const ledger = catalogue.reviewLedger;
  let clips = 0;
  let reviews = 0;
  for (const code of open) {
    clips += catalogue.clipsOfCase(code).filter((c) => c.state !== 'recording').length;
    reviews += ledger.reviews(code).filter((r) => r.heldAt === null).length;
  }
  return {
    clips,
    reviews,
    fragments: ledger.allFragments().filter((f) => open.has(f.caseCode)).length,
    stills: ledger.allKeptStills().filter((s) => open.has(s.caseCode)).length,
  };
}

export interface FetchResult {
  fetched: string[];
  skipped: { clipId: string; why: 'expired' | 'case-closed' | 'budget' | 'no-room' | 'have' | 'erased' }[];
  failed: { clipId: string; message: string }[];
  bytes: number;
  /** Fragments, kept stills and reviews (fetch-kept.ts). */
  kept: KeptFetchResult;
}

/** A raw clip sent to this trainer: its id, its key, and when the organisation confirmed it (from the trainer's index, when there is one). */
interface ClipWanted {
  clipId: string;
  identity: string;
  indexed: number | undefined;
}

/** The cases a trainer index says are closed (nothing of them is fetched). */
const closedCases = (index: TrainerIndex | null): Set<string> => new Set(index?.cases.filter((c) => c.closedAt !== null).map((c) => c.code));

/** What `plan` learnt of a clip before its segments. */
type Planned = { skip: FetchResult['skipped'][number]['why'] } | { failed: unknown } | { manifest: ClipManifest; confirmedAt: number };

/** A clip being fetched: how many of its segments were handed to a worker, came back, and were written. */
interface ClipJob extends ClipWanted {
  manifest: ClipManifest;
  confirmedAt: number;
  dir: string;
  need: number;
  issued: number;
  settled: number;
  written: number;
  parts: { part: string; file: string }[];
  /** The first failure of one of its segments: no more are handed out, the clip is not registered. */
  error: Error | null;
  committed: boolean;
}

/** Outbox keys read at once. */
const KEY_READS = 8;

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
    const others = team.filter((e) => e.kitId !== this.o.kitId);
    // raw clips first, kit by kit; then the review items, once every kit's clip keys are known (a
    // fragment made on one kit may come from a clip recorded on another, whose key that kit sent)
    const passes: { kit: DirectoryEntry; received: ReceivedKey[]; index: TrainerIndex | null }[] = [];
    const clipKeys = new Map<string, string>();
    // a kit that cannot be read (no grant, a retired bucket, the network gone) ends the clip phase; the
    // kits read before it still get their review items, then the run fails with that kit's error
    let unreadable: { err: unknown } | null = null;
    for (const kit of others) {
      try {
        // the trainer's index on that kit says what to fetch and when the organisation confirmed it (no listing); without one, every key sent
        const indexing = this.index(kit, trainer, inbox);
        // awaited below; when the keys cannot be listed, that is the error to report, not the index's
        indexing.catch(() => undefined);
        const sent = await this.received(kit, trainer, inbox, result);
        const index = sent.length > 0 ? await indexing : null;
        const listed = index ? new Map(index.items.map((it) => [`${it.kind}:${it.id}`, it])) : null;
        const received = sent.filter((r) => listed === null || listed.has(`${r.ref.kind}:${r.ref.id}`));
        passes.push({ kit, received, index });
        for (const r of received) if (r.ref.kind === 'clip') clipKeys.set(r.ref.id, r.identity);
        const closed = closedCases(index);
        const clips = received
          .filter((r) => r.ref.kind === 'clip')
          .filter(({ ref }) => {
            if (!closed.has(listed?.get(`clip:${ref.id}`)?.caseCode ?? '')) return true;
            result.skipped.push({ clipId: ref.id, why: 'case-closed' });
            return false;
          });
        await this.fetchClips(
          kit,
          trainer,
          clips.map(({ ref, identity }) => ({ clipId: ref.id, identity, indexed: listed?.get(`clip:${ref.id}`)?.confirmedAt })),
          this.o.budgetBytes - this.fetchedBytes(),
          result,
        );
      } catch (err) {
        unreadable = { err };
        break;
      }
    }
    const kept = new KeptFetch({ source: this.o.source, dataDir: this.o.dataDir, keys: this.o.keys, catalogue: this.o.catalogue, clock: this.o.clock });
    // every kit of the team, this one too: a fragment made elsewhere may be of a clip recorded here
    const buckets = new Map(team.map((e) => [e.kitId, e.bucket]));
    for (const { kit, received, index } of passes) {
      const listed = index ? new Map(index.items.map((it) => [`${it.kind}:${it.id}`, it])) : null;
      const closed = closedCases(index);
      const before = { fetched: result.kept.fetched.length, failed: result.kept.failed.length };
      await kept.run(
        {
          kit,
          trainer,
          room: () => this.o.budgetBytes - this.fetchedBytes(),
          hasRoom: this.o.hasRoom,
          confirmedAt: (ref) => listed?.get(`${ref.kind}:${ref.id}`)?.confirmedAt,
          closed: (code) => closed.has(code),
          clipIdentity: async (id) =>
            clipKeys.get(id) ?? (this.o.keys.entitled({ kind: 'clip', id }).includes(trainer) ? this.o.keys.contentIdentity({ kind: 'clip', id }) : null),
          bucketOf: (kitId) => buckets.get(kitId) ?? null,
          onBytes: (n) => {
            this.progressValue.bytesDone += n;
            this.progressValue.bytesTotal += n;
            result.bytes += n;
          },
        },
        received,
        result.kept,
      );
      for (const ref of result.kept.fetched.slice(before.fetched)) {
        if (ref.kind === 'review') this.progressValue.reviewsReady += 1;
        else this.progressValue.keptReady += 1;
      }
      for (const f of result.kept.failed.slice(before.failed))
        this.o.logger.warn('a review item could not be fetched', { [f.ref.kind]: f.ref.id, kit: kit.kitId, error: f.message });
      if (index) narrowCases(this.o.catalogue, index.cases, this.o.clock.now());
    }
    if (unreadable) {
      this.progressValue = { ...this.progressValue, state: 'error', lastError: describeError(unreadable.err) };
      throw unreadable.err;
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
    const sent = (await this.o.source.list(kit.bucket, prefix)).flatMap((obj) => {
      const m = OUTBOX_NAME.exec(obj.key.slice(prefix.length));
      return m && CONTENT_ID_PATTERN.test(m[2]!) ? [{ key: obj.key, ref: { kind: m[1] as ContentKind, id: m[2]! } }] : [];
    });
    // read a few at once (small objects: the round trips are what costs), kept in the listed order
    const opened = await mapLimit(sent, KEY_READS, async ({ key, ref }): Promise<ReceivedKey | null> => {
      try {
        return { ref, identity: (await decryptWith(inbox, await this.o.source.get(kit.bucket, key), `outbox key ${key}`)).toString('utf8') };
      } catch (err) {
        if (ref.kind === 'clip') result.failed.push({ clipId: ref.id, message: describeError(err) });
        else result.kept.failed.push({ ref, message: describeError(err) });
        return null;
      }
    });
    return opened.filter((r): r is ReceivedKey => r !== null);
  }

  /**
   * Fetches a kit's clips as one pipeline: the manifests are read ahead (a few at once), the
   * decisions (expired, closed, budget, room) are taken in order and count every clip planned before,
   * one pool of workers downloads the segments across clip boundaries, and each clip is flushed and
   * registered as soon as its last segment is verified, while the workers go on with the next. A clip
   * that fails keeps its verified segments (flushed, for the next run) and does not stop the others.
   */
  private async fetchClips(kit: DirectoryEntry, trainer: string, clips: ClipWanted[], room: number, result: FetchResult): Promise<void> {
    const workers = Math.max(1, this.o.concurrency ?? 4);
    // read ahead: at most `workers` manifests in flight beyond the clip being decided
    const planned: Promise<Planned>[] = [];
    let ahead = 0;
    const readAhead = (upTo: number): void => {
      for (; ahead < Math.min(clips.length, upTo); ahead++) {
        const c = clips[ahead]!;
        // resolves always (a failure is a value): nothing is left unhandled when the run ends early
        planned.push(this.plan(kit, c).catch((err: unknown): Planned => ({ failed: err })));
      }
    };
    let next = 0;
    let reserved = 0;
    // bytes decided on but not written yet: what the card must still have room for
    let outstanding = 0;
    let current: ClipJob | null = null;
    let seg = 0;
    const decide = async (): Promise<ClipJob | null> => {
      while (next < clips.length) {
        readAhead(next + 1 + workers);
        const c = clips[next]!;
        const p = await planned[next++]!;
        if ('failed' in p) {
          this.clipFailed(kit, c.clipId, p.failed, result);
          continue;
        }
        if ('skip' in p) {
          result.skipped.push({ clipId: c.clipId, why: p.skip });
          continue;
        }
        const need = p.manifest.segments.reduce((n, s) => n + s.bytes, 0);
        if (need > room - reserved) {
          result.skipped.push({ clipId: c.clipId, why: 'budget' });
          continue;
        }
        try {
          if (!this.o.hasRoom(outstanding + need)) {
            result.skipped.push({ clipId: c.clipId, why: 'no-room' });
            continue;
          }
          const dir = path.join(this.o.dataDir, 'clips', c.clipId);
          mkdirSync(dir, { recursive: true, mode: 0o700 });
          reserved += need;
          outstanding += need;
          this.progressValue.clipsWaiting += 1;
          this.progressValue.bytesTotal += need;
          return { ...c, ...p, dir, need, issued: 0, settled: 0, written: 0, parts: [], error: null, committed: false };
        } catch (err) {
          this.clipFailed(kit, c.clipId, err, result);
        }
      }
      return null;
    };
    // one caller at a time decides what the next segment is
    let turn: Promise<unknown> = Promise.resolve();
    const take = (): Promise<{ job: ClipJob; s: ClipManifest['segments'][number] } | null> => {
      const got = turn.then(async () => {
        for (;;) {
          if (current && current.error === null && seg < current.manifest.segments.length) {
            current.issued += 1;
            return { job: current, s: current.manifest.segments[seg++]! };
          }
          current = await decide();
          seg = 0;
          if (current === null) return null;
          if (current.manifest.segments.length === 0) this.settle(current, commit);
        }
      });
      turn = got.catch(() => undefined);
      return got;
    };
    // flushes and registrations run one after the other, behind the downloads
    let committing: Promise<void> = Promise.resolve();
    const commit = (job: ClipJob): void => {
      outstanding -= job.need - job.written;
      committing = committing.then(async () => {
        if (await this.finish(kit, trainer, job, result)) return;
        // a clip that failed gives its budget back to the clips decided after it, and its bytes to the progress
        reserved -= job.need;
        this.progressValue.bytesTotal -= job.need - job.written;
      });
    };
    const worker = async (): Promise<void> => {
      for (let t = await take(); t !== null; t = await take()) {
        const { job, s } = t;
        try {
          await this.fetchSegment(kit, job.clipId, job.dir, s, result, job.parts);
          job.written += s.bytes;
          outstanding -= s.bytes;
        } catch (err) {
          job.error ??= err instanceof Error ? err : new Error(describeError(err));
        }
        job.settled += 1;
        this.settle(job, commit);
      }
    };
    try {
      await Promise.all(Array.from({ length: workers }, worker));
    } finally {
      // nothing of this kit's clips is written after the run returns, whatever happened
      await committing;
    }
  }

  /** Hands a clip to `commit` once no segment of it is in flight and none will be (all issued, or it failed). */
  private settle(job: ClipJob, commit: (job: ClipJob) => void): void {
    if (job.settled !== job.issued || job.committed) return;
    if (job.error === null && job.issued < job.manifest.segments.length) return;
    job.committed = true;
    commit(job);
  }

  /** A clip whose segments are all in: flushed, its key imported and registered; or, when it failed, its verified segments flushed for the next run. */
  private async finish(kit: DirectoryEntry, trainer: string, job: ClipJob, result: FetchResult): Promise<boolean> {
    try {
      // the verified segments stay (durably) even when the clip failed, so that the next run does not fetch them again
      await commitParts(job.parts, job.dir);
      if (job.error !== null) throw job.error;
      await this.o.keys.importContentKey({ kind: 'clip', id: job.clipId }, job.identity);
      await this.register(job.manifest, job.confirmedAt, trainer, kit.kitId);
      // after the catalogue has it: a marker without a row means "erased here since" (not fetched again)
      markFetched(this.o.dataDir, { kind: 'clip', id: job.clipId }, kit.kitId);
      this.progressValue.clipsReady += 1;
      result.fetched.push(job.clipId);
      return true;
    } catch (err) {
      this.clipFailed(kit, job.clipId, err, result);
      return false;
    } finally {
      this.progressValue.clipsWaiting -= 1;
    }
  }

  private clipFailed(kit: DirectoryEntry, clipId: string, err: unknown, result: FetchResult): void {
    result.failed.push({ clipId, message: describeError(err) });
    this.o.logger.warn('a clip could not be fetched', { clip: clipId, kit: kit.kitId, error: describeError(err) });
  }

  /** What is known of a clip before its segments: why it is skipped, or its manifest (read and checked) and the original's confirmation time. */
  private async plan(kit: DirectoryEntry, c: ClipWanted): Promise<Planned> {
    const { clipId, identity, indexed } = c;
    if (this.o.catalogue.getClip(clipId)) return { skip: 'have' };
    if (erasedHere(this.o.dataDir, { kind: 'clip', id: clipId }, false)) return { skip: 'erased' };
    const mKey = manifestKey(kit.kitId, clipId);
    const listed = indexed === undefined ? (await this.o.source.list(kit.bucket, mKey)).find((o) => o.key === mKey) : { lastModified: indexed };
    if (!listed) throw new AppError('NOT_FOUND', `clip ${clipId}: no manifest at ${mKey} yet (not uploaded)`, { field: 'clipId' });
    // the store's clock (S3 Last-Modified has whole seconds, Swift rounds up) may be ahead of ours: a confirmation is never later than now
    const now = this.o.clock.now();
    const confirmedAt = Math.min(listed.lastModified, now);
    if (now - confirmedAt >= this.o.retentionMs) return { skip: 'expired' };
    const manifest = parseManifest((await decryptWith(identity, await this.o.source.get(kit.bucket, mKey), `manifest of ${clipId}`)).toString('utf8'));
    if (manifest.clipId !== clipId) throw new AppError('BAD_REQUEST', `manifest ${mKey} names clip ${manifest.clipId}`, { field: 'clipId' });
    if (this.o.catalogue.caseClosedAt(manifest.caseCode) !== null) return { skip: 'case-closed' };
    return { manifest, confirmedAt };
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
  private async register(m: ClipManifest, confirmedAt: number, trainer: string, fromKit: string): Promise<void> {
    const { catalogue } = this.o;
    // written without holding up the event loop: the next clip's downloads go on meanwhile
    await writeFileDurable(
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
    const now = this.o.clock.now();
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
