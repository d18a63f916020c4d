import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import { isJpeg, jpegHead } from '../core/media.js';
import type { Catalogue, ClipRow } from '../store/catalogue.js';
import type { ClipStore } from '../store/clips.js';
import type { Presentation } from './presentation.js';
import type { Privacy } from './privacy.js';

export interface LibraryOptions {
  catalogue: Catalogue;
  clips: ClipStore;
  privacy: Privacy;
  presentation: Presentation;
  bus: EventBus;
  clock: Clock;
}

/**
 * The trainer's clip library: markers, stills, case assignment, purposes and deletion. Each
 * use-case checks, mutates the store, audits and emits `clip.updated` once, here (not in routes).
 */
export class Library {
  constructor(private readonly o: LibraryOptions) {}

  /** The clip, or a 404 that names the id. */
  getClip(id: string): ClipRow {
    const clip = this.o.catalogue.getClip(id);
    if (!clip) throw new AppError('NOT_FOUND', `no clip with id ${JSON.stringify(id)}`, { field: 'params.id', reason: 'clip_not_found', params: { id } });
    return clip;
  }

  /** A marker added while reviewing a finished clip. */
  addMarker(id: string, offsetMs: number, label: string | null): { markerId: number; offsetMs: number } {
    const clip = this.getClip(id);
    this.assertWithin(clip, offsetMs, 'body.offsetMs');
    const now = this.o.clock.now();
    const markerId = this.o.clips.addMarker(id, offsetMs, label, now);
    this.o.catalogue.audit('marker.added', now, id, { offsetMs });
    this.o.bus.emit('clip.updated', { clipId: id });
    return { markerId, offsetMs };
  }

  /** A still: the exact frame as a JPEG from the player, stored encrypted like the segments. */
  async addStill(id: string, timeMs: number, jpeg: Uint8Array): Promise<{ id: number; timeMs: number; createdAt: number }> {
    if (!isJpeg(jpeg)) {
      throw new AppError('VALIDATION', `body: not a JPEG (it must start with FF D8 FF; got ${jpegHead(jpeg)})`, {
        field: 'body',
        reason: 'still_not_jpeg',
        params: { got: jpegHead(jpeg) },
      });
    }
    const clip = this.getClip(id);
    this.assertWithin(clip, timeMs, 'query.t');
    const now = this.o.clock.now();
    const still = await this.o.clips.addStill(id, jpeg, timeMs, now);
    this.o.catalogue.audit('still.added', now, id, { timeMs, bytes: still.bytes });
    this.o.bus.emit('clip.updated', { clipId: id });
    return { id: still.id, timeMs, createdAt: still.createdAt };
  }

  /** Assigns an unassigned clip to a case, with the case's consent in force now. */
  assign(id: string, caseCode: string): ClipRow {
    const clip = this.getClip(id);
    if (clip.caseCode !== null && clip.caseCode !== caseCode) {
      throw new AppError('CONFLICT', `clip ${id} already belongs to another case; only an unassigned clip can be assigned`, {
        field: 'body.caseCode',
        reason: 'clip_already_assigned',
        params: { id },
      });
    }
    const consent = this.o.privacy.consentForRecording(caseCode);
    const now = this.o.clock.now();
    this.o.clips.assignCase(id, caseCode, consent, now);
    this.o.catalogue.audit('clip.assigned', now, id, { case: caseCode });
    this.o.bus.emit('clip.updated', { clipId: id });
    return this.getClip(id);
  }

  /** Uses beyond the home visit, allowed only by the case's consent. */
  setPurposes(id: string, wanted: { supervision: boolean; training: boolean }): ClipRow {
    const clip = this.getClip(id);
    const purposes = (['supervision', 'training'] as const).filter((p) => wanted[p]);
    for (const p of purposes) this.o.privacy.assertAllowed(clip, p);
    this.o.clips.setPurposes(id, purposes);
    this.o.catalogue.audit('clip.purposes', this.o.clock.now(), id, { purposes });
    return this.getClip(id);
  }

  /**
   * Deleting asks for the clip id again (`confirm`). Footage goes only once the organisation has
   * it: until then the clip is marked and retention deletes it later.
   */
  async requestDelete(id: string, confirm: string): Promise<{ deleted: boolean }> {
    if (confirm !== id) {
      throw new AppError('VALIDATION', `body.confirm: repeat the clip id ${id} to delete it (got ${JSON.stringify(confirm)})`, {
        field: 'body.confirm',
        reason: 'delete_confirm_mismatch',
        params: { id },
      });
    }
    const clip = this.getClip(id);
    if (clip.state === 'recording')
      throw new AppError('CONFLICT', `clip ${id} is still recording: stop it first`, { reason: 'clip_still_recording', params: { id } });
    const now = this.o.clock.now();
    this.o.clips.requestDelete(id, now, 'trainer');
    this.o.catalogue.audit('clip.delete.requested', now, id);
    this.o.presentation.endIfPresenting(id);
    const deleted = (await this.o.privacy.runRetention()).includes(id);
    this.o.bus.emit('clip.updated', { clipId: id });
    return { deleted };
  }

  private assertWithin(clip: ClipRow, ms: number, field: string): void {
    if (ms > clip.durationMs) {
      throw new AppError('VALIDATION', `${field}: ${ms} is past the end of clip ${clip.id} (${clip.durationMs} ms)`, {
        field,
        reason: 'time_past_clip_end',
        params: { value: ms, durationMs: clip.durationMs },
      });
    }
  }
}
