import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Catalogue } from '../store/catalogue.js';
import { decryptWith } from '../store/crypto.js';
import type { FragmentStore } from '../store/fragments.js';
import type { KeyStore } from '../store/keys.js';
import { isDiskFull } from '../store/reserve.js';
import type { KeptStillRow } from '../store/review-ledger.js';
import type { Library } from './library.js';
import { KeptItems } from './kept-items.js';
import type { Privacy } from './privacy.js';
import type { ReviewNotes } from './review-notes.js';

export interface KeptStillsOptions {
  catalogue: Catalogue;
  store: FragmentStore;
  keys: KeyStore;
  notes: ReviewNotes;
  library: Library;
  privacy: Privacy;
  bus: EventBus;
  clock: Clock;
}

/** A kept still as the trainer's phone sees it (the caption decrypted for the signed-in trainer). */
export interface KeptStillView {
  id: string;
  clipId: string;
  stillId: number;
  caseCode: string;
  timeMs: number;
  caption: string | null;
  createdAt: number;
  confirmedAt: number | null;
  deleteRequested: boolean;
  reviews: string[];
}

/**
 * Stills kept for a review: a clip's still re-encrypted under its own key so that it outlives the
 * clip (FragmentStore.keepStill), with an optional caption stored only encrypted. Audited without
 * the caption.
 */
export class KeptStills extends KeptItems<KeptStillRow, KeptStillView> {
  constructor(private readonly o: KeptStillsOptions) {
    super(o, {
      kind: 'still',
      noun: 'kept still',
      notFoundReason: 'kept_still_not_found',
      one: (id) => o.catalogue.reviewLedger.keptStill(id),
      ofClip: (clipId) => o.catalogue.reviewLedger.keptStillsOfClip(clipId),
    });
  }

  /** Keeps still `stillId` of a clip of a case with review consent, with an optional caption. */
  async keep(clipId: string, stillId: number, caption: string | null): Promise<KeptStillView> {
    const clip = this.o.library.getClip(clipId);
    this.o.privacy.assertAllowed(clip, 'review');
    if (!this.o.catalogue.still(clipId, stillId)) {
      throw new AppError('NOT_FOUND', `body.stillId: clip ${clipId} has no still ${stillId}`, {
        field: 'body.stillId',
        reason: 'still_not_found',
        params: { still: stillId },
      });
    }
    const now = this.o.clock.now();
    let file;
    try {
      file = await this.o.store.keepStill({ clipId, stillId, now });
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      throw new AppError('STORAGE_FULL', `the card is full: still ${stillId} of clip ${clipId} could not be kept (opslag vol)`, {
        field: 'dataDir',
        reason: 'storage_full',
        cause: err,
      });
    }
    try {
      if (caption) await this.o.notes.write({ kind: 'still', id: file.id }, caption);
      this.o.catalogue.reviewLedger.insertKeptStill({
        id: file.id,
        clipId,
        stillN: stillId,
        caseCode: clip.caseCode!,
        visitId: clip.visitId,
        clipCreatedAt: clip.createdAt,
        timeMs: file.timeMs,
        bytes: file.bytes,
        hasCaption: Boolean(caption),
        consent: clip.consent!,
        createdAt: now,
        updatedAt: now,
        confirmedAt: null,
        confirmedVersion: null,
        deleteRequestedAt: null,
      });
    } catch (err) {
      await this.erase(file.id);
      throw err;
    }
    this.o.catalogue.audit('still.kept', now, clipId, { still: file.id, stillId, caption: Boolean(caption) });
    this.o.bus.emit('clip.updated', { clipId });
    return this.get(file.id);
  }

  /** Sets or removes (null) the caption. */
  async edit(id: string, caption: string | null): Promise<KeptStillView> {
    const row = this.row(id);
    await this.o.notes.write({ kind: 'still', id }, caption);
    const now = this.o.clock.now();
    this.o.catalogue.reviewLedger.updateKeptStill(id, caption !== null, now);
    this.o.catalogue.audit('still.edited', now, row.clipId, { still: id, caption: caption !== null });
    return this.get(id);
  }

  /** The kept still's JPEG, decrypted with its own key (423 while locked). */
  async image(id: string): Promise<Buffer> {
    this.row(id);
    const identity = await this.o.keys.contentIdentity({ kind: 'still', id });
    const plain = await decryptWith(identity, await this.o.store.readKeptStill(id), `kept still ${id}`);
    return Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
  }

  /** Removes a kept still's files and key (its caption with it). */
  private async erase(id: string): Promise<void> {
    await this.o.notes.write({ kind: 'still', id }, null);
    await this.o.store.deleteKeptStill(id);
  }

  protected async view(r: KeptStillRow): Promise<KeptStillView> {
    return {
      id: r.id,
      clipId: r.clipId,
      stillId: r.stillN,
      caseCode: r.caseCode,
      timeMs: r.timeMs,
      caption: r.hasCaption ? await this.o.notes.read({ kind: 'still', id: r.id }) : null,
      createdAt: r.createdAt,
      confirmedAt: r.confirmedAt,
      deleteRequested: r.deleteRequestedAt !== null,
      reviews: this.o.catalogue.reviewLedger.reviewFacts('still', r.id).reviews,
    };
  }
}
