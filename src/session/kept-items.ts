import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Catalogue } from '../store/catalogue.js';
import type { Library } from './library.js';
import type { Privacy } from './privacy.js';

/** What a kept item (a fragment or a kept still) has in common in the ledger. */
export interface KeptItemRow {
  id: string;
  clipId: string;
  caseCode: string;
}

/** The ledger calls and words of one kind of kept item. */
export interface KeptItemKind<Row extends KeptItemRow> {
  /** The ledger's (and the audit's) kind: `fragment.delete.requested`, `still.delete.requested`. */
  kind: 'fragment' | 'still';
  /** How errors name it: "fragment", "kept still". */
  noun: string;
  /** The 404's reason code (the UI translates it). */
  notFoundReason: string;
  one(id: string): Row | undefined;
  ofClip(clipId: string): Row[];
}

/** What the shared part needs of the kit. */
export interface KeptItemsDeps {
  catalogue: Catalogue;
  library: Library;
  privacy: Privacy;
  bus: EventBus;
  clock: Clock;
}

/**
 * The part fragments and kept stills share (issue 19): they outlive their clip under their own key,
 * are listed per clip (also once the clip is erased), read one by one, and deleted by marking them
 * for retention, which crypto-erases them once the organisation has their metadata. A subclass says
 * how its ledger rows look to the phone (`view`).
 */
export abstract class KeptItems<Row extends KeptItemRow, View> {
  constructor(
    private readonly kept: KeptItemsDeps,
    private readonly item: KeptItemKind<Row>,
  ) {}

  /** The row as the phone sees it (its note or caption decrypted for the signed-in trainer). */
  protected abstract view(row: Row): Promise<View>;

  /** The items of a clip (the clip may be erased already: its items live on); 404 for an unknown clip. */
  async list(clipId: string): Promise<View[]> {
    const rows = this.item.ofClip(clipId);
    if (rows.length === 0) this.kept.library.getClip(clipId);
    return Promise.all(rows.map((r) => this.view(r)));
  }

  /** One item with its note or caption. */
  async get(id: string): Promise<View> {
    return this.view(this.row(id));
  }

  /** The item's row, or a 404 naming the id. */
  row(id: string): Row {
    const r = this.item.one(id);
    if (!r)
      throw new AppError('NOT_FOUND', `no ${this.item.noun} with id ${JSON.stringify(id)}`, {
        field: 'params.id',
        reason: this.item.notFoundReason,
        params: { id },
      });
    return r;
  }

  /** Marks the item deleted and runs retention (crypto-erased at once when the organisation has it). */
  async remove(id: string): Promise<{ deleted: boolean }> {
    const row = this.row(id);
    const { kind } = this.item;
    const now = this.kept.clock.now();
    this.kept.catalogue.reviewLedger.requestDelete(kind, id, now);
    this.kept.catalogue.audit(`${kind}.delete.requested`, now, row.clipId, { [kind]: id });
    const erased = await this.kept.privacy.runRetention();
    this.kept.bus.emit('clip.updated', { clipId: row.clipId });
    return { deleted: erased.includes(id) };
  }
}
