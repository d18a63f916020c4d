import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue, ClipRow, ClipState, Consent, ConsentScope, SegmentRow, StillRow } from './catalogue.js';
import { encryptedSize, encryptSync, encryptTo, parseRecipients, type ParsedRecipients } from './crypto.js';
import { appendLineDurable, fsyncDir, writeFileDurable, writeFileDurableSync } from './durable.js';
import { isDiskFull, NO_RESERVE, type MetadataSpace } from './reserve.js';
import { CLIP_ID_PATTERN, isJpeg, jpegHead, STILL_MAX_BYTES } from '../core/media.js';

/** clip.json: the clip's own record in its directory (the truth the catalogue is rebuilt from). */
export interface ClipFile {
  v: 1;
  id: string;
  caseCode: string | null;
  createdAt: number;
  requestedAt: number;
  preRollMs: number;
  originMs: number | null;
  state: ClipState;
  stoppedAt: number | null;
  stopReason: string | null;
  consent?: Consent | null;
  purposes?: ConsentScope[];
  deleteRequestedAt?: number | null;
  deleteReason?: string | null;
  /** When the organisation confirmed every object of the clip (sync). */
  uploadedAt?: number | null;
  /** A clip fetched from another kit of the team (issue 20): that kit, whose bucket holds the clip's objects. */
  fetchedFrom?: string;
}

type JournalLine =
  | { t: 'seg'; seq: number; startMs: number; durationMs: number; bytes: number; sha256: string; discontinuity: boolean }
  | { t: 'marker'; id: number; offsetMs: number; label: string | null; createdAt: number }
  | { t: 'still'; id: number; timeMs: number; bytes: number; sha256: string; createdAt: number };

type MarkerLine = Extract<JournalLine, { t: 'marker' }>;
type StillLine = Extract<JournalLine, { t: 'still' }>;

/** A segment's file name, in the data dir and at the office alike: `<seq>.ts.age`. */
export function segmentObjectName(seq: number): string {
  if (!Number.isInteger(seq) || seq < 0) throw new AppError('VALIDATION', `segment seq ${JSON.stringify(seq)} is not a whole number ≥ 0`, { field: 'seq' });
  return `${seq}.ts.age`;
}

/** A still's file name, in the data dir and at the office alike: `still-<id>.jpg.age`. */
export function stillObjectName(id: number): string {
  if (!Number.isInteger(id) || id < 1) throw new AppError('VALIDATION', `still id ${JSON.stringify(id)} is not a whole number ≥ 1`, { field: 'stillId' });
  return `still-${id}.jpg.age`;
}

export { CLIP_ID_PATTERN };

export function newClipId(now: number): string {
  return now.toString(36).padStart(9, '0') + randomBytes(4).toString('hex');
}

/** What the clip store needs of the key store. */
export interface ClipKeys {
  recipientsFor(clipId: string): string[];
  createClipKey(clipId: string): Promise<string | null>;
  destroyClipKey(clipId: string): Promise<'complete' | 'pending'>;
}

export interface SegmentMeta {
  startMs: number;
  durationMs: number;
  discontinuity: boolean;
}

/**
 * Clip files and the catalogue, updated together. A segment is encrypted (age, to the kit's
 * recipients), journalled, written to a temp file, fsynced, renamed to clips/<id>/<seq>.ts.age, the
 * directory fsynced, and then indexed in the catalogue.
 */
export class ClipStore {
  readonly clipsDir: string;
  /** Still ids handed out but not yet in the catalogue (two stills of one clip at once). */
  private readonly stillIdsReserved = new Map<string, Set<number>>();
  /** The recipients of the clip being recorded, parsed once for all its segments. */
  private segmentRecipients: ParsedRecipients | null = null;
  /**
   * Buffers segments are encrypted into, reused from one segment to the next: a take makes no
   * garbage of its size per second (the collector's work was a third of the main process's CPU).
   */
  private readonly segmentBuffers: Buffer[] = [];

  constructor(
    private readonly dataDir: string,
    private readonly catalogue: Catalogue,
    private readonly keys: ClipKeys,
    private readonly logger: Logger,
    /** The catalogue's reserve: metadata writes (never footage) may use it on a full card. */
    private readonly space: MetadataSpace = NO_RESERVE,
  ) {
    this.clipsDir = path.join(dataDir, 'clips');
    mkdirSync(this.clipsDir, { recursive: true, mode: 0o700 });
  }

  clipDir(id: string): string {
    if (!CLIP_ID_PATTERN.test(id)) throw new AppError('VALIDATION', `clip id ${JSON.stringify(id)} is not a valid clip id`, { field: 'id' });
    return path.join(this.clipsDir, id);
  }

  segmentFile(id: string, seq: number): string {
    return path.join(this.clipDir(id), segmentObjectName(seq));
  }

  /** clips/<id>/still-<n>.jpg.age: a still, encrypted like the segments. */
  stillFile(id: string, stillId: number): string {
    return path.join(this.clipDir(id), stillObjectName(stillId));
  }

  createClip(args: {
    caseCode: string | null;
    now: number;
    requestedAt: number;
    preRollMs: number;
    originMs: number | null;
    consent?: Consent | null;
    /** More catalogue writes that belong to the same step (e.g. the audit entry). */
    inTransaction?: (id: string) => void;
  }): string {
    const id = newClipId(args.now);
    const dir = this.clipDir(id);
    try {
      mkdirSync(dir, { mode: 0o700 });
      fsyncDir(this.clipsDir);
      const file: ClipFile = {
        v: 1,
        id,
        caseCode: args.caseCode,
        createdAt: args.now,
        requestedAt: args.requestedAt,
        preRollMs: args.preRollMs,
        originMs: args.originMs,
        state: 'recording',
        stoppedAt: null,
        stopReason: null,
        consent: args.consent ?? null,
      };
      // A new take never uses the catalogue's reserve: that is kept for ending takes, login and delete.
      writeFileDurableSync(path.join(dir, 'clip.json'), JSON.stringify(file, null, 1));
      // one catalogue transaction (one fsync): the button's latency depends on it
      this.catalogue.transaction(() => {
        this.catalogue.insertClip({
          id,
          caseCode: args.caseCode,
          createdAt: args.now,
          requestedAt: args.requestedAt,
          originMs: args.originMs,
          preRollMs: args.preRollMs,
        });
        this.catalogue.setClipConsent(id, args.consent ?? null);
        args.inTransaction?.(id);
      });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      if (isDiskFull(err))
        throw new AppError(
          'STORAGE_FULL',
          `no room on the card to start a take (${(err as { code?: string }).code ?? 'full'}): delete uploaded clips (opslag vol)`,
          { field: 'dataDir', cause: err },
        );
      throw err;
    }
    return id;
  }

  /** Makes the clip's playback key; segments wait for it (the recorder chains them after it). */
  async prepareKey(id: string): Promise<void> {
    await this.keys.createClipKey(id);
  }

  /**
   * Deletes a clip: its footage files first (so that a delete gives a full card room back before
   * anything is written), then its key (crypto-erase; the master's rotation writes key files), then
   * the rest of its directory and its catalogue rows. Interrupted, it can be run again.
   * Callers decide whether deleting is allowed (confirmed upload, or the privacy policy).
   */
  async deleteClip(id: string): Promise<'complete' | 'pending'> {
    const dir = this.clipDir(id);
    if (existsSync(dir)) {
      for (const name of readdirSync(dir)) {
        if (name.endsWith('.age') || name.startsWith('.tmp-')) rmSync(path.join(dir, name), { force: true });
      }
      fsyncDir(dir);
    }
    const erase = await this.space.runAsync(`delete clip ${id}: its key`, () => this.keys.destroyClipKey(id));
    rmSync(dir, { recursive: true, force: true });
    fsyncDir(this.clipsDir);
    this.catalogue.deleteClipRows(id);
    this.space.ensure();
    return erase;
  }

  readClipFile(id: string): ClipFile {
    return JSON.parse(readFileSync(path.join(this.clipDir(id), 'clip.json'), 'utf8')) as ClipFile;
  }

  private writeClipFile(file: ClipFile): void {
    this.space.run(`clip ${file.id}: clip.json`, () => writeFileDurableSync(path.join(this.clipDir(file.id), 'clip.json'), JSON.stringify(file, null, 1)));
  }

  private updateClipFile(id: string, patch: Partial<ClipFile>): void {
    this.writeClipFile({ ...this.readClipFile(id), ...patch });
  }

  setOrigin(id: string, originMs: number): void {
    this.updateClipFile(id, { originMs });
    this.catalogue.setOrigin(id, originMs);
  }

  async persistSegment(clipId: string, seq: number, plaintext: Uint8Array, meta: SegmentMeta): Promise<SegmentRow> {
    const recipients = this.recipientsOfSegments(clipId);
    const size = encryptedSize(recipients.keys.length, plaintext.byteLength);
    let buffer = this.segmentBuffers.pop();
    // a new one with room for a somewhat larger segment (never from Node's shared small-buffer pool)
    if (!buffer || buffer.length < size) buffer = Buffer.allocUnsafeSlow(Math.ceil(size * 1.25));
    try {
      return await this.storeSegment(clipId, seq, encryptSync(recipients, plaintext, buffer), meta);
    } finally {
      if (this.segmentBuffers.length < 2) this.segmentBuffers.push(buffer);
    }
  }

  /** The clip's recipients, parsed once while they stay the same (a clip's key is made once). */
  private recipientsOfSegments(clipId: string): ParsedRecipients {
    const recipients = this.keys.recipientsFor(clipId);
    const cached = this.segmentRecipients;
    if (cached && cached.recipients.length === recipients.length && cached.recipients.every((r, i) => r === recipients[i])) return cached;
    this.segmentRecipients = parseRecipients(recipients);
    return this.segmentRecipients;
  }

  /** Journal line, durable file, catalogue row: the steps after encryption, in the crash contract's order. */
  private async storeSegment(clipId: string, seq: number, ciphertext: Buffer, meta: SegmentMeta): Promise<SegmentRow> {
    const sha256 = createHash('sha256').update(ciphertext).digest('hex');
    const row: SegmentRow = {
      clipId,
      seq,
      startMs: Math.round(meta.startMs),
      durationMs: Math.max(1, Math.round(meta.durationMs)),
      bytes: ciphertext.byteLength,
      sha256,
      discontinuity: meta.discontinuity,
    };
    const line: JournalLine = {
      t: 'seg',
      seq,
      startMs: row.startMs,
      durationMs: row.durationMs,
      bytes: row.bytes,
      sha256,
      discontinuity: row.discontinuity,
    };
    appendLineDurable(path.join(this.clipDir(clipId), 'journal.jsonl'), JSON.stringify(line));
    await writeFileDurable(this.segmentFile(clipId, seq), ciphertext);
    this.catalogue.insertSegment(row);
    return row;
  }

  /**
   * A marker: during a take (the recorder's offset, not checked against what is persisted yet), or
   * while reviewing a finished clip (the offset must lie within the clip). Journalled in the clip's
   * files, so a rebuilt catalogue keeps it. A marker added to an uploaded clip sends the clip's
   * manifest again at the next sync (the upload is open again until the organisation confirms it).
   */
  addMarker(clipId: string, offsetMs: number, label: string | null, now: number): number {
    const clip = this.requireClip(clipId);
    if (typeof offsetMs !== 'number' || !Number.isFinite(offsetMs)) {
      throw new AppError('VALIDATION', `marker offsetMs ${JSON.stringify(offsetMs)} is not a number of milliseconds`, { field: 'offsetMs' });
    }
    const offset = Math.round(offsetMs);
    if (clip.state !== 'recording') {
      this.requireNotDeleting(clip, 'marker');
      if (offset < 0 || offset > clip.durationMs) {
        throw new AppError('VALIDATION', `marker offsetMs ${offset} is outside the clip (0–${clip.durationMs} ms)`, { field: 'offsetMs' });
      }
    }
    if (label !== null && (typeof label !== 'string' || label.length > 64)) {
      throw new AppError('VALIDATION', `marker label ${JSON.stringify(label)?.slice(0, 80)} must be text of at most 64 characters, or null`, {
        field: 'label',
      });
    }
    const id = this.catalogue.insertMarker(clipId, offset, label, now);
    const line: JournalLine = { t: 'marker', id, offsetMs: offset, label, createdAt: now };
    this.space.run(`clip ${clipId}: marker`, () => appendLineDurable(path.join(this.clipDir(clipId), 'journal.jsonl'), JSON.stringify(line)));
    if (clip.state !== 'recording') this.reopenUpload(clip);
    return id;
  }

  /**
   * Stores a still (one JPEG frame at `timeMs` in the clip), encrypted to the same recipients as the
   * clip's segments (organisation + the clip's playback key, so deleting the clip's key erases it
   * too), journalled, written durably (temp + fsync + rename) to clips/<id>/still-<n>.jpg.age and
   * indexed. Ids count from 1 per clip.
   */
  async addStill(clipId: string, jpeg: Uint8Array, timeMs: number, now: number): Promise<{ id: number; bytes: number; createdAt: number }> {
    const clip = this.requireClip(clipId);
    this.requireNotDeleting(clip, 'still');
    if (!(jpeg instanceof Uint8Array)) throw new AppError('VALIDATION', 'the still must be JPEG bytes', { field: 'jpeg' });
    if (jpeg.byteLength > STILL_MAX_BYTES) {
      throw new AppError('VALIDATION', `the still is ${jpeg.byteLength} bytes; at most ${STILL_MAX_BYTES} (2 MiB)`, { field: 'jpeg' });
    }
    if (!isJpeg(jpeg)) {
      throw new AppError('VALIDATION', `the still is not a JPEG: it starts with ${jpegHead(jpeg)}, not ffd8ff`, { field: 'jpeg' });
    }
    if (typeof timeMs !== 'number' || !Number.isFinite(timeMs)) {
      throw new AppError('VALIDATION', `still timeMs ${JSON.stringify(timeMs)} is not a number of milliseconds`, { field: 'timeMs' });
    }
    const t = Math.round(timeMs);
    if (t < 0 || t > clip.durationMs) {
      throw new AppError('VALIDATION', `still timeMs ${t} is outside the clip (0–${clip.durationMs} ms)`, { field: 'timeMs' });
    }
    // Ids of stills still being written count too (two stills taken at once, one of them failing).
    const inFlight = this.stillIdsReserved.get(clipId) ?? new Set<number>();
    this.stillIdsReserved.set(clipId, inFlight);
    const id = Math.max(this.catalogue.maxStillId(clipId), ...inFlight) + 1;
    inFlight.add(id);
    try {
      const ciphertext = await encryptTo(this.keys.recipientsFor(clipId), jpeg);
      const sha256 = createHash('sha256').update(ciphertext).digest('hex');
      const row: StillRow = { clipId, id, timeMs: t, bytes: ciphertext.byteLength, sha256, createdAt: now };
      const line: StillLine = { t: 'still', id, timeMs: t, bytes: row.bytes, sha256, createdAt: now };
      appendLineDurable(path.join(this.clipDir(clipId), 'journal.jsonl'), JSON.stringify(line));
      await writeFileDurable(this.stillFile(clipId, id), ciphertext);
      // The clip as it is now, not as it was before the awaits: an upload may have been confirmed
      // meanwhile, and it has to be reopened for this still. No await between the two lines.
      this.catalogue.insertStill(row);
      this.reopenUpload(this.requireClip(clipId));
      return { id, bytes: row.bytes, createdAt: now };
    } finally {
      inFlight.delete(id);
      if (inFlight.size === 0) this.stillIdsReserved.delete(clipId);
    }
  }

  /** The still's encrypted bytes (age; the caller decrypts with the clip's identity). */
  async readStill(clipId: string, stillId: number): Promise<Buffer> {
    if (!this.catalogue.still(clipId, stillId)) {
      throw new AppError('NOT_FOUND', `clip ${clipId} has no still ${JSON.stringify(stillId)}`, { field: 'stillId' });
    }
    try {
      return await readFile(this.stillFile(clipId, stillId));
    } catch (err) {
      // the clip was deleted between the look-up and the read
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new AppError('NOT_FOUND', `clip ${clipId} has no still ${stillId} (any more)`, { field: 'stillId', cause: err });
      }
      throw err;
    }
  }

  private requireClip(clipId: string): ClipRow {
    this.clipDir(clipId); // validates the id
    const clip = this.catalogue.getClip(clipId);
    if (!clip) throw new AppError('NOT_FOUND', `no clip with id ${JSON.stringify(clipId)}`, { field: 'clipId' });
    return clip;
  }

  private requireNotDeleting(clip: ClipRow, what: string): void {
    if (clip.deleteRequestedAt !== null) {
      throw new AppError('CONFLICT', `clip ${clip.id} is to be deleted (${clip.deleteReason ?? 'requested'}): no new ${what} can be added`, {
        field: 'clipId',
      });
    }
  }

  /** New content of an uploaded clip: the organisation has to confirm the clip again. */
  private reopenUpload(clip: ClipRow): void {
    if (clip.uploadedAt === null) return;
    this.updateClipFile(clip.id, { uploadedAt: null });
    this.catalogue.markUploaded(clip.id, null);
  }

  finishClip(id: string, state: 'complete' | 'recovered', stoppedAt: number, reason: string): void {
    this.updateClipFile(id, { state, stoppedAt, stopReason: reason });
    this.catalogue.finishClip(id, state, stoppedAt, reason);
    this.space.ensure();
  }

  assignCase(id: string, caseCode: string, consent: Consent, now: number): void {
    this.updateClipFile(id, { caseCode, consent });
    this.catalogue.assignCase(id, caseCode, now);
    this.catalogue.setClipConsent(id, consent);
  }

  setPurposes(id: string, purposes: ConsentScope[]): void {
    this.updateClipFile(id, { purposes });
    this.catalogue.setPurposes(id, purposes);
  }

  /** The organisation confirmed the clip: kept in clip.json too, so a rebuilt catalogue knows. */
  markUploaded(id: string, at: number): void {
    this.updateClipFile(id, { uploadedAt: at });
    this.catalogue.markUploaded(id, at);
  }

  /** Marks the clip for deletion (kept in clip.json too, so a rebuilt catalogue still knows). */
  requestDelete(id: string, now: number, reason: string): void {
    const file = this.readClipFile(id);
    if (file.deleteRequestedAt == null) this.updateClipFile(id, { deleteRequestedAt: now, deleteReason: reason });
    this.catalogue.requestDelete(id, now, reason);
  }

  async readSegment(clipId: string, seq: number): Promise<Buffer> {
    return readFile(this.segmentFile(clipId, seq));
  }

  /**
   * After a crash: temp files go, and every clip still marked `recording` becomes `recovered` with
   * the segments that were whole on disk (journalled and matching their SHA-256); one without any
   * segment or still is dropped (the caller audits it and destroys its key).
   */
  recover(now: number): { recovered: string[]; dropped: string[]; tempFilesRemoved: number } {
    const recovered: string[] = [];
    const dropped: string[] = [];
    let tempFilesRemoved = 0;
    for (const id of this.clipIdsOnDisk()) {
      try {
        const r = this.recoverOne(id, now);
        tempFilesRemoved += r.tempFilesRemoved;
        if (r.outcome === 'recovered') recovered.push(id);
        if (r.outcome === 'dropped') dropped.push(id);
      } catch (err) {
        // A full or failing card: the clip stays as it is and is recovered at a later start.
        this.logger.error('clip could not be recovered now; tried again at the next start', {
          clipId: id,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
    return { recovered, dropped, tempFilesRemoved };
  }

  private recoverOne(id: string, now: number): { outcome: 'recovered' | 'dropped' | 'kept'; tempFilesRemoved: number } {
    let tempFilesRemoved = 0;
    const dir = this.clipDir(id);
    for (const name of readdirSync(dir)) {
      if (name.startsWith('.tmp-')) {
        rmSync(path.join(dir, name), { force: true });
        tempFilesRemoved += 1;
      }
    }
    if (!existsSync(path.join(dir, 'clip.json'))) {
      if (!readdirSync(dir).some((n) => n.endsWith('.ts.age'))) {
        rmSync(dir, { recursive: true, force: true });
        return { outcome: 'kept', tempFilesRemoved };
      }
      this.logger.warn('clip directory without clip.json: rebuilding it as recovered', { clipId: id });
      this.writeClipFile({
        v: 1,
        id,
        caseCode: null,
        createdAt: now,
        requestedAt: now,
        preRollMs: 0,
        originMs: null,
        state: 'recording',
        stoppedAt: null,
        stopReason: null,
      });
    }
    const file = this.readClipFile(id);
    if (file.state !== 'recording') return { outcome: 'kept', tempFilesRemoved };
    const { segments, markers, stills } = this.readJournal(id, true);
    if (segments.length === 0 && stills.length === 0) {
      // Cut before its first segment was stored (a power cut during the start): nothing to keep.
      rmSync(dir, { recursive: true, force: true });
      fsyncDir(this.clipsDir);
      this.catalogue.deleteClipRows(id);
      this.logger.warn('dropped an unfinished clip without any segment', { clipId: id });
      return { outcome: 'dropped', tempFilesRemoved };
    }
    const last = segments[segments.length - 1];
    const stoppedAt = last ? last.startMs + last.durationMs : file.requestedAt;
    this.writeClipFile({ ...file, state: 'recovered', stoppedAt, stopReason: 'recovered after an interruption' });
    this.indexClip(id, segments, markers, stills);
    this.logger.warn('recovered an unfinished clip', { clipId: id, segments: segments.length });
    return { outcome: 'recovered', tempFilesRemoved };
  }

  /** Makes the catalogue's clip rows anew from the data dir (files are the truth). */
  rebuild(): number {
    let n = 0;
    for (const id of this.clipIdsOnDisk()) {
      if (!existsSync(path.join(this.clipDir(id), 'clip.json'))) continue;
      const { segments, markers, stills } = this.readJournal(id, true);
      this.indexClip(id, segments, markers, stills);
      n += 1;
    }
    return n;
  }

  private clipIdsOnDisk(): string[] {
    if (!existsSync(this.clipsDir)) return [];
    return readdirSync(this.clipsDir)
      .filter((n) => CLIP_ID_PATTERN.test(n))
      .sort();
  }

  private readJournal(id: string, verify: boolean): { segments: SegmentRow[]; markers: MarkerLine[]; stills: StillRow[] } {
    const dir = this.clipDir(id);
    const journalFile = path.join(dir, 'journal.jsonl');
    const segs = new Map<number, SegmentRow>();
    const markers: MarkerLine[] = [];
    const stillLines = new Map<number, StillLine>();
    if (existsSync(journalFile)) {
      for (const raw of readFileSync(journalFile, 'utf8').split('\n')) {
        if (!raw.trim()) continue;
        let line: JournalLine;
        try {
          line = JSON.parse(raw) as JournalLine;
        } catch {
          continue; // a torn last line after a power cut
        }
        if (line.t === 'seg') {
          segs.set(line.seq, {
            clipId: id,
            seq: line.seq,
            startMs: line.startMs,
            durationMs: line.durationMs,
            bytes: line.bytes,
            sha256: line.sha256,
            discontinuity: line.discontinuity,
          });
        } else if (line.t === 'marker') {
          markers.push(line);
        } else if (line.t === 'still' && Number.isInteger(line.id) && line.id >= 1) {
          stillLines.set(line.id, line); // the last line of an id wins (its file was renamed over)
        }
      }
    }
    const segments: SegmentRow[] = [];
    for (const seg of [...segs.values()].sort((a, b) => a.seq - b.seq)) {
      const f = path.join(dir, `${seg.seq}.ts.age`);
      if (!existsSync(f)) continue;
      if (verify) {
        const sha = createHash('sha256').update(readFileSync(f)).digest('hex');
        if (sha !== seg.sha256) {
          this.logger.warn('segment does not match its journal entry; left out', { clipId: id, seq: seg.seq });
          continue;
        }
      }
      segments.push(seg);
    }
    const stills: StillRow[] = [];
    for (const line of [...stillLines.values()].sort((a, b) => a.id - b.id)) {
      const f = path.join(dir, stillObjectName(line.id));
      if (!existsSync(f)) continue;
      if (verify && createHash('sha256').update(readFileSync(f)).digest('hex') !== line.sha256) {
        this.logger.warn('still does not match its journal entry; left out', { clipId: id, stillId: line.id });
        continue;
      }
      stills.push({ clipId: id, id: line.id, timeMs: line.timeMs, bytes: line.bytes, sha256: line.sha256, createdAt: line.createdAt });
    }
    return { segments, markers, stills };
  }

  private indexClip(id: string, segments: SegmentRow[], markers: MarkerLine[], stills: StillRow[]): void {
    const file = this.readClipFile(id);
    this.space.run(`clip ${id}: catalogue rows`, () =>
      this.catalogue.transaction(() => {
        this.catalogue.deleteClipRows(id);
        this.catalogue.insertClip({
          id,
          caseCode: file.caseCode,
          createdAt: file.createdAt,
          requestedAt: file.requestedAt,
          originMs: file.originMs,
          preRollMs: file.preRollMs,
        });
        if (file.state !== 'recording') this.catalogue.finishClip(id, file.state, file.stoppedAt ?? file.createdAt, file.stopReason ?? '');
        this.catalogue.setClipConsent(id, file.consent ?? null);
        if (file.purposes?.length) this.catalogue.setPurposes(id, file.purposes);
        if (file.deleteRequestedAt != null) this.catalogue.requestDelete(id, file.deleteRequestedAt, file.deleteReason ?? 'requested');
        if (file.uploadedAt != null) this.catalogue.markUploaded(id, file.uploadedAt);
        for (const s of segments) this.catalogue.insertSegment(s);
        for (const m of markers) this.catalogue.insertMarker(id, m.offsetMs, m.label, m.createdAt, m.id);
        for (const st of stills) this.catalogue.insertStill(st);
      }),
    );
  }
}
