import { rmSync } from 'node:fs';
import type { Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { Team } from '../session/team.js';
import type { Catalogue } from '../store/catalogue.js';
import type { KeyStore } from '../store/keys.js';
import { directoryKey, parseDirectoryEntry, uploadOutbox, type DirectoryCache } from './fetch-directory.js';
import { isFetched } from './fetch-kept.js';
import { readyOnKit, S3FetchSource, TrainerFetch, type FetchProgress, type FetchSource } from './fetch.js';
import { uploadTrainerIndexes } from './review-upload.js';
import type { UploadTarget } from './targets.js';
import type { TrustOptions } from './tls.js';

export interface FetchServiceOptions {
  kitId: string;
  dataDir: string;
  keys: KeyStore;
  catalogue: Catalogue;
  directory: DirectoryCache;
  clock: Clock;
  logger: Logger;
  /** `sync.fetch` of the config. */
  fetch: { enabled: boolean; budgetMB: number; officeBucket: string | null };
  /** `sync.s3` of the config: the kit's credential reads its team's buckets and the office bucket. */
  s3: { endpoint: string | null; region: string; accessKeyId: string | null; secretAccessKey: string | null; tls?: TrustOptions };
  /** Whether `bytes` more fit above the recording reserve (StorageGuard.hasRoom). */
  hasRoom: (bytes: number) => boolean;
  /** privacy.deleteAfterUploadHours in ms: older raw clips are not fetched. */
  retentionMs: number;
  /** Whether the kit is docked now (the last dock check): a sign-in starts the fetch only then. Default: never. */
  docked?: () => boolean;
  /** At sign-in, before the fetch: the trainer's cases' keys granted to their co-trainers (Team.shareWithCoTrainers). */
  share?: (trainerId: string) => Promise<unknown>;
  /** Tests: another source than S3. */
  source?: () => FetchSource;
}

/** No fetch (yet) for the trainer signed in. */
const NO_FETCH: FetchProgress = { trainerId: null, state: 'idle', clipsReady: 0, clipsWaiting: 0, bytesDone: 0, bytesTotal: 0, keptReady: 0, reviewsReady: 0 };

/**
 * What a docked run does for team kits after its uploads (issue 20): sends the content keys waiting
 * in the outbox, reads the office directory of its team, and — while a trainer is signed in —
 * fetches what that trainer needs (TrainerFetch). A failure is logged and shown, never thrown into
 * the upload run.
 */
export class FetchService {
  private last: FetchProgress = { ...NO_FETCH };
  private running: TrainerFetch | null = null;
  private starting = false;
  private afterSignIn: Promise<void> = Promise.resolve();

  constructor(private readonly o: FetchServiceOptions) {}

  /** For the status and the remote: what is being fetched, and how much is ready for the next visit (what the kit holds for the signed-in trainer's open cases). */
  get progress(): FetchProgress {
    const p = this.running?.progress ?? { ...this.last };
    const trainer = this.o.keys.unlockedTrainer;
    // another trainer's run (or one of a trainer since signed out) is nobody else's news
    if (trainer === null) return p.state === 'locked' ? p : { ...NO_FETCH };
    // a kit without the team fetch shows no line for the next visit
    if (!this.o.fetch.enabled) return p;
    const own = p.trainerId === trainer ? p : { ...NO_FETCH, trainerId: trainer };
    return { ...own, onKit: readyOnKit(this.o.catalogue, trainer) };
  }

  /** The hook of SyncService (`afterUpload`). */
  async afterUpload(target: UploadTarget): Promise<void> {
    const { o } = this;
    try {
      await uploadOutbox(o.dataDir, o.kitId, target, (f) => rmSync(f, { force: true }));
    } catch (err) {
      o.logger.warn('outbox keys not uploaded (next run)', { error: describeError(err) });
    }
    try {
      await uploadTrainerIndexes({
        catalogue: o.catalogue,
        kitId: o.kitId,
        keys: o.keys,
        otherKits: (t) => o.directory.otherKitsOf(t),
        orgRecipient: o.keys.requireOrgRecipient(),
        fetched: (ref) => isFetched(o.dataDir, o.catalogue, ref),
        clock: o.clock,
        put: async (key, body, md5, sha256) => {
          await target.put(key, body, { md5Hex: md5, sha256Hex: sha256 });
        },
      });
    } catch (err) {
      o.logger.warn('trainer indexes not uploaded (next run)', { error: describeError(err) });
    }
    await this.fetchNow();
  }

  /**
   * A trainer signed in (issue 20): on a docked kit their fetch starts now, not only after an upload
   * run (the office directory and its case assignments are read first); then the keys of their
   * cases are shared with the cases' co-trainers on this kit (`share`). Never throws.
   */
  signedIn(trainerId: string): Promise<void> {
    const run = async () => {
      if (this.o.docked?.() && !this.running) await this.fetchNow();
      try {
        await this.o.share?.(trainerId);
      } catch (err) {
        this.o.logger.warn("a case's keys could not be shared with its co-trainers (next sign-in)", { trainer: trainerId, error: describeError(err) });
      }
    };
    this.afterSignIn = this.afterSignIn.then(run, run);
    return this.afterSignIn;
  }

  /** Resolves when what the last sign-in started (fetch, sharing) is over. */
  settled(): Promise<void> {
    return this.afterSignIn;
  }

  /** Reads the office directory (and the office's case assignments), then fetches for the signed-in trainer. One at a time. */
  private async fetchNow(): Promise<void> {
    const { o } = this;
    if (!o.fetch.enabled || this.running || this.starting) return;
    const source = this.source();
    if (!source) return;
    this.starting = true;
    let failed = false;
    try {
      if (o.fetch.officeBucket) await this.refreshDirectory(source, o.fetch.officeBucket);
      this.applyCaseTrainers();
      if (o.keys.unlockedTrainer === null) {
        this.last = { ...this.last, trainerId: null, state: 'locked' };
        return;
      }
      this.running = new TrainerFetch({
        source,
        kitId: o.kitId,
        dataDir: o.dataDir,
        keys: o.keys,
        catalogue: o.catalogue,
        clock: o.clock,
        logger: o.logger,
        budgetBytes: o.fetch.budgetMB * 1024 * 1024,
        hasRoom: o.hasRoom,
        retentionMs: o.retentionMs,
      });
      const r = await this.running.run(o.directory.entries());
      o.logger.info('fetch for the signed-in trainer finished', {
        fetched: r.fetched.length,
        skipped: r.skipped.length,
        failed: r.failed.length,
        bytes: r.bytes,
      });
    } catch (err) {
      failed = true;
      this.last = { ...(this.running?.progress ?? this.last), state: 'error', lastError: describeError(err) };
      o.logger.warn('fetch for the signed-in trainer failed (next run)', { error: describeError(err) });
    } finally {
      // a run that threw keeps its error (the running progress still says "fetching")
      if (this.running && !failed) this.last = this.running.progress;
      this.running = null;
      this.starting = false;
      source.close();
    }
  }

  /**
   * Co-trainers assigned at the office reach the kit: the directory entry of this kit names, per
   * case tag, the case's trainers; those on this kit are added to the case here (the kit knows a
   * tag's code once it tagged the case). A trainer is taken off a case only by the office's
   * `trainer remove` (their keys go then).
   */
  private applyCaseTrainers(): void {
    const { o } = this;
    const own = o.directory.entries().find((e) => e.kitId === o.kitId);
    if (!own?.caseTrainers) return;
    const onKit = new Set(o.keys.trainerIds());
    for (const [tag, trainers] of Object.entries(own.caseTrainers)) {
      const code = o.catalogue.officeLedger.caseOfTag(tag);
      const here = trainers.filter((t) => onKit.has(t));
      if (code !== null && here.length > 0) o.catalogue.addCaseTrainers(code, here, o.clock.now());
    }
  }

  /** Keeps the entries of this kit's team from the office bucket (none when this kit is not in the directory). */
  private async refreshDirectory(source: FetchSource, bucket: string): Promise<void> {
    const listed = await source.list(bucket, 'directory/kits/');
    const texts = await Promise.all(listed.filter((l) => l.key.endsWith('.json')).map(async (l) => (await source.get(bucket, l.key)).toString('utf8')));
    const entries = texts.map((t, i) => ({ t, e: parseDirectoryEntry(t, listed[i]!.key) }));
    const own = entries.find((x) => x.e.kitId === this.o.kitId && listed.some((l) => l.key === directoryKey(this.o.kitId)));
    this.o.directory.save(own ? entries.filter((x) => x.e.team === own.e.team).map((x) => x.t) : []);
  }

  private source(): FetchSource | null {
    if (this.o.source) return this.o.source();
    const { endpoint, region, accessKeyId, secretAccessKey, tls } = this.o.s3;
    if (!accessKeyId || !secretAccessKey) return null;
    return new S3FetchSource({ endpoint, region, accessKeyId, secretAccessKey, now: () => this.o.clock.now(), ...(tls ? { tls } : {}) });
  }
}

/** The team-kit parts of sync for the kit's config (src/main.ts wires them in a few lines). */
export function createTeamSync(
  config: {
    dataDir: string;
    kitId: string;
    storage: { reserveMB: number };
    privacy: { deleteAfterUploadHours: number };
    sync: { s3: FetchServiceOptions['s3']; fetch: FetchServiceOptions['fetch'] };
  },
  deps: {
    keys: KeyStore;
    catalogue: Catalogue;
    directory: DirectoryCache;
    clock: Clock;
    logger: Logger;
    hasRoom: (bytes: number) => boolean;
    /** Whether the kit is docked now: a sign-in then starts the trainer's fetch. */
    docked?: () => boolean;
  },
): { fetch: FetchService; team: { manifestAlso: (clipId: string) => string[]; afterUpload: (target: UploadTarget) => Promise<void> } } {
  const team = new Team({ catalogue: deps.catalogue, keys: deps.keys, clock: deps.clock });
  const fetch = new FetchService({
    kitId: config.kitId,
    dataDir: config.dataDir,
    ...deps,
    logger: deps.logger.child('fetch'),
    fetch: config.sync.fetch,
    s3: config.sync.s3,
    retentionMs: config.privacy.deleteAfterUploadHours * 3600_000,
    share: (t) => team.shareWithCoTrainers(t),
  });
  deps.keys.onUnlock((t) => void fetch.signedIn(t));
  return { fetch, team: { manifestAlso: (id) => deps.keys.recipientsFor(id).slice(1), afterUpload: (t) => fetch.afterUpload(t) } };
}

/** Whether the last sync run found the kit docked (a run without a dock check counts once it ran); false before any run. */
export function lastDocked(p: { docked?: boolean; lastRunAt?: number } | undefined): boolean {
  return p !== undefined && (p.docked ?? p.lastRunAt !== undefined);
}

/** The sync status with the fetch's progress (`fetch`: what is being fetched, how much is ready). */
export function withFetchProgress<S extends object>(status: () => S, fetch: FetchService): () => S & { fetch: FetchProgress } {
  return () => ({ ...status(), fetch: fetch.progress });
}
