import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { REVIEW_LABEL_IDS } from '../core/vht-labels.js';
import type { Catalogue, ClipRow, SegmentRow } from '../store/catalogue.js';
import { decryptWith } from '../store/crypto.js';
import { segmentsForRange, type FragmentStore } from '../store/fragments.js';
import type { KeyStore } from '../store/keys.js';
import { isDiskFull } from '../store/reserve.js';
import type { FragmentRow } from '../store/review-ledger.js';
import type { Library } from './library.js';
import { KeptItems } from './kept-items.js';
import type { Privacy } from './privacy.js';
import type { ReviewNotes } from './review-notes.js';

export interface FragmentsOptions {
  catalogue: Catalogue;
  store: FragmentStore;
  keys: KeyStore;
  notes: ReviewNotes;
  library: Library;
  privacy: Privacy;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  /** A fragment from a marker: from this long before it (playback.markerLeadInMs, default 3000). */
  leadInMs: number;
  /** ... to this long after it (playback.fragmentLeadOutMs, default 7000). */
  leadOutMs: number;
}

/** A fragment as the trainer's phone sees it (the note decrypted for the signed-in trainer). */
export interface FragmentView {
  id: string;
  clipId: string;
  caseCode: string;
  inMs: number;
  outMs: number;
  playlistStartMs: number;
  playlistDurationMs: number;
  label: (typeof REVIEW_LABEL_IDS)[number] | null;
  note: string | null;
  createdAt: number;
  confirmedAt: number | null;
  deleteRequested: boolean;
  reviews: string[];
  bytes: number;
}

/** What the phone sends to save a fragment: in and out, or a marker. */
export interface FragmentInput {
  inMs?: number | undefined;
  outMs?: number | undefined;
  markerId?: number | undefined;
  label?: string | null | undefined;
  note?: string | null | undefined;
}

/**
 * Fragments: chosen moments of a clip, copied under their own key so that they outlive it
 * (src/store/fragments.ts). Saving, editing, deleting and playing them; each change audited once,
 * here, without the note (free text never reaches the catalogue, the audit or a log).
 */
export class Fragments extends KeptItems<FragmentRow, FragmentView> {
  constructor(private readonly o: FragmentsOptions) {
    super(o, {
      kind: 'fragment',
      noun: 'fragment',
      notFoundReason: 'fragment_not_found',
      one: (id) => o.catalogue.reviewLedger.fragment(id),
      ofClip: (clipId) => o.catalogue.reviewLedger.fragmentsOfClip(clipId),
    });
  }

  /** Saves a fragment of a finished clip of a case with review consent: its segments copied under a new key, its note encrypted. */
  async save(clipId: string, input: FragmentInput): Promise<FragmentView> {
    const clip = this.o.library.getClip(clipId);
    if (clip.state === 'recording') {
      throw new AppError('CONFLICT', `clip ${clipId} is still recording: save fragments of a finished clip`, {
        field: 'params.id',
        reason: 'clip_still_recording',
      });
    }
    this.o.privacy.assertAllowed(clip, 'review');
    const { inMs, outMs } = this.range(clip, input);
    const segments = this.o.catalogue.segments(clip.id);
    const seqs = segmentsForRange(segments, inMs, outMs);
    if (seqs.length === 0) {
      throw new AppError('VALIDATION', `body.inMs: clip ${clip.id} has no footage in [${inMs}, ${outMs}] ms`, {
        field: 'body.inMs',
        reason: 'fragment_no_footage',
      });
    }
    const now = this.o.clock.now();
    const file = await this.copy(clip.id, seqs, now);
    const ref = { kind: 'fragment' as const, id: file.id };
    try {
      if (input.note) await this.o.notes.write(ref, input.note);
      const origin = segments[0]!.startMs;
      const first = file.segments[0]!;
      const last = file.segments[file.segments.length - 1]!;
      this.o.catalogue.reviewLedger.insertFragment({
        id: file.id,
        clipId: clip.id,
        caseCode: clip.caseCode!,
        visitId: clip.visitId,
        clipCreatedAt: clip.createdAt,
        inMs,
        outMs,
        playlistStartMs: first.startMs - origin,
        playlistDurationMs: last.startMs + last.durationMs - first.startMs,
        bytes: file.segments.reduce((n, s) => n + s.bytes, 0),
        label: input.label ?? null,
        hasNote: Boolean(input.note),
        consent: clip.consent!,
        createdAt: now,
        updatedAt: now,
        confirmedAt: null,
        confirmedVersion: null,
        deleteRequestedAt: null,
      });
    } catch (err) {
      await this.o.store.deleteFragment(file.id);
      throw err;
    }
    this.o.catalogue.audit('fragment.saved', now, clip.id, { fragment: file.id, inMs, outMs, label: input.label ?? null, note: Boolean(input.note) });
    this.o.bus.emit('clip.updated', { clipId: clip.id });
    return this.get(file.id);
  }

  /** Changes the label and/or the note (null removes it). */
  async edit(id: string, patch: { label?: string | null | undefined; note?: string | null | undefined }): Promise<FragmentView> {
    const row = this.row(id);
    const ref = { kind: 'fragment' as const, id };
    if (patch.note !== undefined) await this.o.notes.write(ref, patch.note);
    const label = patch.label === undefined ? row.label : patch.label;
    const hasNote = patch.note === undefined ? row.hasNote : patch.note !== null;
    const now = this.o.clock.now();
    this.o.catalogue.reviewLedger.updateFragment(id, label, hasNote, now);
    this.o.catalogue.audit('fragment.edited', now, row.clipId, { fragment: id, label, note: hasNote });
    this.o.bus.emit('clip.updated', { clipId: row.clipId });
    return this.get(id);
  }

  /** The fragment's copied segments as timing rows (for its playlist). */
  segments(id: string): SegmentRow[] {
    this.row(id);
    return this.o.store.fragment(id).segments.map((s) => ({ ...s, clipId: id }));
  }

  /** One copied segment, decrypted with the fragment's key (423 while locked). */
  async segment(id: string, seq: number): Promise<Buffer> {
    this.row(id);
    if (!this.o.store.fragment(id).segments.some((s) => s.seq === seq)) {
      throw new AppError('NOT_FOUND', `fragment ${id} has no segment ${seq}`, { field: 'params.file', reason: 'segment_not_found', params: { seq } });
    }
    const identity = await this.o.keys.contentIdentity({ kind: 'fragment', id });
    const plain = await decryptWith(identity, await this.o.store.readFragmentSegment(id, seq), `segment ${seq} of fragment ${id}`);
    return Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
  }

  private range(clip: ClipRow, input: FragmentInput): { inMs: number; outMs: number } {
    if (input.markerId !== undefined) {
      const m = this.o.catalogue.markers(clip.id).find((x) => x.id === input.markerId);
      if (!m) {
        throw new AppError('NOT_FOUND', `body.markerId: clip ${clip.id} has no marker ${input.markerId}`, {
          field: 'body.markerId',
          reason: 'marker_not_found',
          params: { markerId: input.markerId },
        });
      }
      return { inMs: Math.max(0, m.offsetMs - this.o.leadInMs), outMs: Math.min(clip.durationMs, m.offsetMs + this.o.leadOutMs) };
    }
    const inMs = input.inMs ?? 0;
    const outMs = input.outMs ?? 0;
    if (outMs > clip.durationMs) {
      throw new AppError('VALIDATION', `body.outMs: ${outMs} is past the end of clip ${clip.id} (${clip.durationMs} ms)`, {
        field: 'body.outMs',
        reason: 'time_past_clip_end',
        params: { value: outMs, durationMs: clip.durationMs },
      });
    }
    return { inMs, outMs };
  }

  private async copy(clipId: string, seqs: number[], now: number) {
    try {
      return await this.o.store.copySegments({ clipId, seqs, now });
    } catch (err) {
      if (isDiskFull(err)) {
        throw new AppError('STORAGE_FULL', `the card is full: the fragment of clip ${clipId} could not be saved; nothing of it was kept (opslag vol)`, {
          field: 'dataDir',
          reason: 'storage_full',
          cause: err,
        });
      }
      throw err;
    }
  }

  protected async view(r: FragmentRow): Promise<FragmentView> {
    return {
      id: r.id,
      clipId: r.clipId,
      caseCode: r.caseCode,
      inMs: r.inMs,
      outMs: r.outMs,
      playlistStartMs: r.playlistStartMs,
      playlistDurationMs: r.playlistDurationMs,
      label: asLabel(r.label),
      note: r.hasNote ? await this.o.notes.read({ kind: 'fragment', id: r.id }) : null,
      createdAt: r.createdAt,
      confirmedAt: r.confirmedAt,
      deleteRequested: r.deleteRequestedAt !== null,
      reviews: this.o.catalogue.reviewLedger.reviewFacts('fragment', r.id).reviews,
      bytes: r.bytes,
    };
  }
}

/** A stored label as one of the vocabulary's ids (an unknown one reads as none). */
export function asLabel(label: string | null): (typeof REVIEW_LABEL_IDS)[number] | null {
  return (REVIEW_LABEL_IDS as readonly string[]).includes(label ?? '') ? (label as (typeof REVIEW_LABEL_IDS)[number]) : null;
}
