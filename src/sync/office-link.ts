import type { Clock } from '../core/clock.js';
import { AppError, describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { BucketStore } from '../store/bucket-store.js';
import type { Catalogue, ClipRow } from '../store/catalogue.js';
import { encryptTo } from '../store/crypto.js';
import type { CaseIndexEntry, KitStatus } from '../store/office-objects.js';
import { parseErasureNotice } from '../store/office-objects.js';
import { caseIndexKey, caseMarkerKey, ERASURES_PREFIX, manifestKey, clipPrefix, parseErasureNoticeKey, statusKey } from '../store/objects.js';
import type { CaseTagger } from '../session/case-tags.js';
import type { ReviewIndexItem } from './review-upload.js';
import type { SyncExtension, SyncIo, SyncProgress, SyncRunResult } from './service.js';

export interface OfficeLinkOptions {
  catalogue: Catalogue;
  kitId: string;
  orgRecipient: () => string;
  /** The office bucket the kit reads erasure notices from (null: not configured, a status warning). */
  office: BucketStore | null;
  /** The case inbox the kit marks its cases in (`cases/<tag>/<kit>`, write only; null: not configured, a status warning). */
  inbox?: BucketStore | null;
  tagger: CaseTagger;
  /** The trainers a clip's (or a fragment's, kept still's, review's) key is wrapped to on this kit. */
  trainersOf: (id: string, kind?: 'clip' | 'fragment' | 'still' | 'review') => string[];
  trainerIds: () => string[];
  pendingRotations: () => string[];
  /** Free and usable bytes of the data dir (null when unknown). */
  storage: () => { freeBytes: number; usableBytes: number } | null;
  /** Warnings of the kit (no names, no free text): unuploaded clips overdue, … */
  warnings: () => string[];
  version: string;
  clock: Clock;
  logger: Logger;
}

/**
 * The kit's side of the organisation's store beyond clip uploads (issue 21), as steps of each sync
 * run: before anything is uploaded, the erasure notices of the office (StartAfter = the last one
 * read) are read and applied through Privacy; a clip of a case without a tag waits (when the kit has
 * the case-tag key) so that an erased case cannot come back untagged; with each manifest, the case
 * index entry; at the end of each run, the kit status.
 */
export class OfficeLink implements SyncExtension {
  constructor(private readonly opts: OfficeLinkOptions) {}

  /** The office location as the ledger names it. */
  private get source(): string {
    return this.opts.office?.describe ?? 'none';
  }

  /** Reads the new erasure notices and applies those naming a case on this kit. Throws: no upload then. */
  async beforeUpload(io: SyncIo): Promise<void> {
    const { catalogue, clock, logger, tagger } = this.opts;
    await tagger.tagCases();
    const office = this.opts.office;
    if (office) {
      const ledger = catalogue.officeLedger;
      const after = ledger.noticeCursor(this.source);
      const { keys } = await office.list(ERASURES_PREFIX, after ? { startAfter: after } : {});
      for (const key of keys) {
        if (io.signal.aborted) throw new AppError('INTERNAL', 'the sync run was stopped while reading erasure notices');
        const name = parseErasureNoticeKey(key);
        if (!name) {
          logger.warn('an object in erasures/ that is not an erasure notice is ignored', { key });
          continue;
        }
        parseErasureNotice((await office.get(key)).toString('utf8'), name, `the erasure notice ${key}`);
        ledger.recordNotice({ source: this.source, key, caseTag: name.caseTag, scope: name.scope, readAt: clock.now() });
      }
      if (keys.length) logger.info('read erasure notices of the organisation', { notices: keys.length });
    }
    const applied = await tagger.applyKnownNotices();
    if (applied) logger.info('erased copies on the kit as the organisation ordered', { notices: applied });
  }

  /** A case without a tag waits while the kit has the case-tag key (a sign-in tags it). */
  holds(clip: ClipRow): boolean {
    return clip.caseCode !== null && this.opts.tagger.hasKey && this.opts.catalogue.officeLedger.caseTag(clip.caseCode) === null;
  }

  /** Writes the clip's case index entry (once per target) after its manifest. */
  async afterManifest(clip: ClipRow, io: SyncIo): Promise<void> {
    const { catalogue, kitId, clock } = this.opts;
    if (!clip.caseCode) return;
    const tag = catalogue.officeLedger.caseTag(clip.caseCode);
    if (!tag) return; // a kit without the case-tag key: the status reports casesWithoutTag
    const key = caseIndexKey(kitId, tag, 'clip', clip.id);
    if (catalogue.officeLedger.indexConfirmed(io.targetId, key)) return;
    await this.markCase(tag, io);
    const body = await encryptTo([this.opts.orgRecipient()], JSON.stringify(this.indexEntry(clip, tag)));
    await io.put(key, body);
    catalogue.officeLedger.confirmIndex(io.targetId, key, clip.id, clock.now());
  }

  /**
   * The case inbox marker `cases/<tag>/<kit>` (empty), once per case and target, always BEFORE the
   * case's first index entry: the office never finds an entry of a kit the inbox does not name.
   */
  private async markCase(tag: string, io: SyncIo): Promise<void> {
    const inbox = this.opts.inbox;
    if (!inbox) return;
    const { catalogue, kitId, clock } = this.opts;
    const key = caseMarkerKey(tag, kitId);
    const ledgerKey = `inbox:${inbox.describe}/${key}`;
    if (catalogue.officeLedger.indexConfirmed(io.targetId, ledgerKey)) return;
    if (io.signal.aborted) throw new AppError('INTERNAL', 'the sync run was stopped while marking a case in the case inbox');
    await inbox.put(key, new Uint8Array(0));
    catalogue.officeLedger.confirmIndex(io.targetId, ledgerKey, null, clock.now());
  }

  /**
   * The case index entry of a fragment, kept still or review (issue 19's objects), written just
   * before the object (so the office never holds one it cannot find), so `office case` lists it and
   * `office erase` (scope `review`) removes it. 'wait': the case has no tag yet while the kit has the
   * case-tag key (the object waits for the next run, as a clip does).
   */
  async beforeReviewObject(item: ReviewIndexItem, io: SyncIo): Promise<'done' | 'wait'> {
    const { catalogue, kitId, clock } = this.opts;
    const tag = catalogue.officeLedger.caseTag(item.caseCode);
    if (!tag) return this.opts.tagger.hasKey ? 'wait' : 'done';
    const key = caseIndexKey(kitId, tag, item.kind, item.id);
    if (catalogue.officeLedger.indexConfirmed(io.targetId, key)) return 'done';
    await this.markCase(tag, io);
    const kase = catalogue.getCase(item.caseCode);
    const entry: CaseIndexEntry = {
      format: 'vht-kit.case-index',
      v: 1,
      kitId,
      caseTag: tag,
      caseCode: item.caseCode,
      kind: item.kind,
      id: item.id,
      object: item.object,
      prefix: null,
      visitUid: item.visitId !== null ? catalogue.visitUid(item.visitId) : null,
      trajectory: kase?.trajectory ?? null,
      consent: item.consent ?? kase?.consent ?? null,
      purposes: ['review'],
      trainerIds: this.opts.trainersOf(item.id, item.kind),
      createdAt: item.createdAt,
      durationMs: item.durationMs,
      segments: 0,
      stills: item.kind === 'still' ? 1 : 0,
      bytes: item.bytes,
      writtenAt: clock.now(),
    };
    await io.put(key, await encryptTo([this.opts.orgRecipient()], JSON.stringify(entry)));
    catalogue.officeLedger.confirmIndex(io.targetId, key, null, clock.now());
    return 'done';
  }

  /** The index entry of a clip (no footage, no notes: ids, times, consent, trainer ids). */
  indexEntry(clip: ClipRow, tag: string): CaseIndexEntry {
    const { catalogue, kitId, clock } = this.opts;
    const kase = clip.caseCode ? catalogue.getCase(clip.caseCode) : undefined;
    const stills = catalogue.stillRows(clip.id);
    return {
      format: 'vht-kit.case-index',
      v: 1,
      kitId,
      caseTag: tag,
      caseCode: clip.caseCode ?? '',
      kind: 'clip',
      id: clip.id,
      object: manifestKey(kitId, clip.id),
      prefix: `${clipPrefix(kitId, clip.id)}/`,
      visitUid: clip.visitId !== null ? catalogue.visitUid(clip.visitId) : null,
      trajectory: kase?.trajectory ?? null,
      consent: clip.consent,
      purposes: clip.purposes,
      trainerIds: this.opts.trainersOf(clip.id),
      createdAt: clip.createdAt,
      durationMs: clip.durationMs,
      segments: catalogue.segments(clip.id).length,
      stills: stills.length,
      bytes: clip.bytes + stills.reduce((a, s) => a + s.bytes, 0),
      writtenAt: clock.now(),
    };
  }

  /** The kit status object, encrypted to the organisation, at the end of each run. */
  async afterRun(_result: SyncRunResult, progress: SyncProgress, io: SyncIo): Promise<void> {
    const status = this.status(progress);
    await io.put(statusKey(this.opts.kitId), await encryptTo([this.opts.orgRecipient()], JSON.stringify(status)));
  }

  /** What the kit reports of itself to the office. */
  status(progress: Pick<SyncProgress, 'lastSuccessAt'>): KitStatus {
    const { catalogue, clock, logger } = this.opts;
    let waitingForCase = 0;
    let waitingForUpload = 0;
    let oldest: number | null = null;
    for (const c of catalogue.allClips()) {
      if (c.state === 'recording' || c.uploadedAt !== null) continue;
      if (c.caseCode) waitingForUpload += 1;
      else waitingForCase += 1;
      oldest = oldest === null ? c.createdAt : Math.min(oldest, c.createdAt);
    }
    let storage: KitStatus['storage'] = null;
    try {
      storage = this.opts.storage();
    } catch (err) {
      logger.warn('free space unknown for the kit status', { error: describeError(err) });
    }
    const casesWithoutTag = catalogue.officeLedger.casesWithoutTag().length;
    const warnings = [...this.opts.warnings()];
    if (!this.opts.office) warnings.push('erasure-notices-not-configured');
    if (this.opts.inbox === null && this.opts.tagger.hasKey) warnings.push('case-inbox-not-configured');
    if (!this.opts.tagger.hasKey) warnings.push('no-case-tag-key');
    else if (casesWithoutTag) warnings.push('cases-without-tag');
    return {
      format: 'vht-kit.kit-status',
      v: 1,
      kitId: this.opts.kitId,
      version: this.opts.version,
      at: clock.now(),
      lastSuccessAt: progress.lastSuccessAt ?? null,
      waitingForCase,
      waitingForUpload,
      oldestWaitingAt: oldest,
      storage,
      warnings,
      trainerIds: this.opts.trainerIds(),
      pendingRotations: this.opts.pendingRotations(),
      closedCases: catalogue.officeLedger.closedCaseTags(),
      casesWithoutTag,
      erasureCursor: catalogue.officeLedger.noticeCursor(this.source) ?? null,
    };
  }
}
