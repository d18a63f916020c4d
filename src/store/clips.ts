import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue, ClipState, Consent, ConsentScope, SegmentRow } from './catalogue.js';
import { encryptTo } from './crypto.js';
import { appendLineDurable, fsyncDir, writeFileDurable, writeFileDurableSync } from './durable.js';

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
}

type JournalLine =
  | { t: 'seg'; seq: number; startMs: number; durationMs: number; bytes: number; sha256: string; discontinuity: boolean }
  | { t: 'marker'; id: number; offsetMs: number; label: string | null; createdAt: number };

export const CLIP_ID_PATTERN = /^[a-z0-9]{10,32}$/;

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

  constructor(
    private readonly dataDir: string,
    private readonly catalogue: Catalogue,
    private readonly keys: ClipKeys,
    private readonly logger: Logger,
  ) {
    this.clipsDir = path.join(dataDir, 'clips');
    mkdirSync(this.clipsDir, { recursive: true, mode: 0o700 });
  }

  clipDir(id: string): string {
    if (!CLIP_ID_PATTERN.test(id)) throw new AppError('VALIDATION', `clip id ${JSON.stringify(id)} is not a valid clip id`, { field: 'id' });
    return path.join(this.clipsDir, id);
  }

  segmentFile(id: string, seq: number): string {
    return path.join(this.clipDir(id), `${seq}.ts.age`);
  }

  createClip(args: {
    caseCode: string | null; now: number; requestedAt: number; preRollMs: number; originMs: number | null; consent?: Consent | null;
    /** More catalogue writes that belong to the same step (e.g. the audit entry). */
    inTransaction?: (id: string) => void;
  }): string {
    const id = newClipId(args.now);
    const dir = this.clipDir(id);
    mkdirSync(dir, { mode: 0o700 });
    fsyncDir(this.clipsDir);
    const file: ClipFile = {
      v: 1, id, caseCode: args.caseCode, createdAt: args.now, requestedAt: args.requestedAt,
      preRollMs: args.preRollMs, originMs: args.originMs, state: 'recording', stoppedAt: null, stopReason: null,
      consent: args.consent ?? null,
    };
    this.writeClipFile(file);
    // one catalogue transaction (one fsync): the button's latency depends on it
    this.catalogue.db.transaction(() => {
      this.catalogue.insertClip({
        id, caseCode: args.caseCode, createdAt: args.now, requestedAt: args.requestedAt,
        originMs: args.originMs, preRollMs: args.preRollMs,
      });
      this.catalogue.setClipConsent(id, args.consent ?? null);
      args.inTransaction?.(id);
    })();
    return id;
  }

  /** Makes the clip's playback key; segments wait for it (the recorder chains them after it). */
  async prepareKey(id: string): Promise<void> {
    await this.keys.createClipKey(id);
  }

  /**
   * Deletes a clip: its key first (crypto-erase), then its files, then its catalogue rows.
   * Callers decide whether deleting is allowed (confirmed upload, or the privacy policy).
   */
  async deleteClip(id: string): Promise<'complete' | 'pending'> {
    const erase = await this.keys.destroyClipKey(id);
    rmSync(this.clipDir(id), { recursive: true, force: true });
    fsyncDir(this.clipsDir);
    this.catalogue.deleteClipRows(id);
    return erase;
  }

  readClipFile(id: string): ClipFile {
    return JSON.parse(readFileSync(path.join(this.clipDir(id), 'clip.json'), 'utf8')) as ClipFile;
  }

  private writeClipFile(file: ClipFile): void {
    writeFileDurableSync(path.join(this.clipDir(file.id), 'clip.json'), JSON.stringify(file, null, 1));
  }

  private updateClipFile(id: string, patch: Partial<ClipFile>): void {
    this.writeClipFile({ ...this.readClipFile(id), ...patch });
  }

  setOrigin(id: string, originMs: number): void {
    this.updateClipFile(id, { originMs });
    this.catalogue.setOrigin(id, originMs);
  }

  async persistSegment(clipId: string, seq: number, plaintext: Uint8Array, meta: SegmentMeta): Promise<SegmentRow> {
    const ciphertext = await encryptTo(this.keys.recipientsFor(clipId), plaintext);
    const sha256 = createHash('sha256').update(ciphertext).digest('hex');
    const row: SegmentRow = {
      clipId, seq, startMs: Math.round(meta.startMs), durationMs: Math.max(1, Math.round(meta.durationMs)),
      bytes: ciphertext.byteLength, sha256, discontinuity: meta.discontinuity,
    };
    const line: JournalLine = {
      t: 'seg', seq, startMs: row.startMs, durationMs: row.durationMs, bytes: row.bytes, sha256, discontinuity: row.discontinuity,
    };
    appendLineDurable(path.join(this.clipDir(clipId), 'journal.jsonl'), JSON.stringify(line));
    await writeFileDurable(this.segmentFile(clipId, seq), ciphertext);
    this.catalogue.insertSegment(row);
    return row;
  }

  addMarker(clipId: string, offsetMs: number, label: string | null, now: number): number {
    const id = this.catalogue.insertMarker(clipId, Math.round(offsetMs), label, now);
    const line: JournalLine = { t: 'marker', id, offsetMs: Math.round(offsetMs), label, createdAt: now };
    appendLineDurable(path.join(this.clipDir(clipId), 'journal.jsonl'), JSON.stringify(line));
    return id;
  }

  finishClip(id: string, state: 'complete' | 'recovered', stoppedAt: number, reason: string): void {
    this.updateClipFile(id, { state, stoppedAt, stopReason: reason });
    this.catalogue.finishClip(id, state, stoppedAt, reason);
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
   * the segments that were whole on disk (journalled and matching their SHA-256).
   */
  recover(now: number): { recovered: string[]; tempFilesRemoved: number } {
    const recovered: string[] = [];
    let tempFilesRemoved = 0;
    for (const id of this.clipIdsOnDisk()) {
      const dir = this.clipDir(id);
      for (const name of readdirSync(dir)) {
        if (name.startsWith('.tmp-')) {
          rmSync(path.join(dir, name), { force: true });
          tempFilesRemoved += 1;
        }
      }
      if (!existsSync(path.join(dir, 'clip.json'))) {
        if (readdirSync(dir).some((n) => n.endsWith('.ts.age'))) {
          this.logger.warn('clip directory without clip.json: rebuilding it as recovered', { clipId: id });
          this.writeClipFile({
            v: 1, id, caseCode: null, createdAt: now, requestedAt: now, preRollMs: 0, originMs: null,
            state: 'recording', stoppedAt: null, stopReason: null,
          });
        } else {
          rmSync(dir, { recursive: true, force: true });
          continue;
        }
      }
      const file = this.readClipFile(id);
      if (file.state !== 'recording') continue;
      const { segments, markers } = this.readJournal(id, true);
      const last = segments[segments.length - 1];
      const stoppedAt = last ? last.startMs + last.durationMs : file.requestedAt;
      this.writeClipFile({ ...file, state: 'recovered', stoppedAt, stopReason: 'recovered after an interruption' });
      this.indexClip(id, segments, markers);
      recovered.push(id);
      this.logger.warn('recovered an unfinished clip', { clipId: id, segments: segments.length });
    }
    return { recovered, tempFilesRemoved };
  }

  /** Makes the catalogue's clip rows anew from the data dir (files are the truth). */
  rebuild(): number {
    let n = 0;
    for (const id of this.clipIdsOnDisk()) {
      if (!existsSync(path.join(this.clipDir(id), 'clip.json'))) continue;
      const { segments, markers } = this.readJournal(id, true);
      this.indexClip(id, segments, markers);
      n += 1;
    }
    return n;
  }

  private clipIdsOnDisk(): string[] {
    if (!existsSync(this.clipsDir)) return [];
    return readdirSync(this.clipsDir).filter((n) => CLIP_ID_PATTERN.test(n)).sort();
  }

  private readJournal(id: string, verify: boolean): { segments: SegmentRow[]; markers: Extract<JournalLine, { t: 'marker' }>[] } {
    const dir = this.clipDir(id);
    const journalFile = path.join(dir, 'journal.jsonl');
    const segs = new Map<number, SegmentRow>();
    const markers: Extract<JournalLine, { t: 'marker' }>[] = [];
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
            clipId: id, seq: line.seq, startMs: line.startMs, durationMs: line.durationMs, bytes: line.bytes,
            sha256: line.sha256, discontinuity: line.discontinuity,
          });
        } else if (line.t === 'marker') {
          markers.push(line);
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
    return { segments, markers };
  }

  private indexClip(id: string, segments: SegmentRow[], markers: Extract<JournalLine, { t: 'marker' }>[]): void {
    const file = this.readClipFile(id);
    const db = this.catalogue.db;
    db.transaction(() => {
      this.catalogue.deleteClipRows(id);
      this.catalogue.insertClip({
        id, caseCode: file.caseCode, createdAt: file.createdAt, requestedAt: file.requestedAt,
        originMs: file.originMs, preRollMs: file.preRollMs,
      });
      if (file.state !== 'recording') this.catalogue.finishClip(id, file.state, file.stoppedAt ?? file.createdAt, file.stopReason ?? '');
      this.catalogue.setClipConsent(id, file.consent ?? null);
      if (file.purposes?.length) this.catalogue.setPurposes(id, file.purposes);
      if (file.deleteRequestedAt != null) this.catalogue.requestDelete(id, file.deleteRequestedAt, file.deleteReason ?? 'requested');
      if (file.uploadedAt != null) this.catalogue.markUploaded(id, file.uploadedAt);
      for (const s of segments) this.catalogue.insertSegment(s);
      for (const m of markers) this.catalogue.insertMarker(id, m.offsetMs, m.label, m.createdAt, m.id);
    })();
  }
}
