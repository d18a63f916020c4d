import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue, SegmentRow } from './catalogue.js';
import { CLIP_ID_PATTERN, newClipId, segmentObjectName } from './clips.js';
import { decryptWith, encryptTo } from './crypto.js';
import { fsyncDir, writeFileDurable, writeFileDurableSync } from './durable.js';
import type { ContentRef } from './keys.js';

/** What the fragment store needs of the key store. */
export interface ContentKeys {
  contentIdentity(ref: ContentRef): Promise<string>;
  createContentKey(ref: ContentRef, opts?: { trainers?: string[] }): Promise<string | null>;
  recipientsOf(ref: ContentRef): string[];
  destroyContentKey(ref: ContentRef): Promise<'complete' | 'pending'>;
  entitled(ref: ContentRef): string[];
}

/** fragments/<id>/fragment.json: written last; its presence means the fragment is whole. */
export interface FragmentFile {
  v: 1;
  id: string;
  sourceClipId: string;
  createdAt: number;
  /** The source clip's segments, re-encrypted under the fragment's key (same seq, same timing). */
  segments: Omit<SegmentRow, 'clipId'>[];
  /** The kit whose bucket holds the source clip's objects, when not this kit: the clip was fetched from it (issue 20). */
  sourceKitId?: string;
}

/** stills/<id>.json beside stills/<id>.jpg.age: a still kept apart from its clip, under its own key. */
export interface KeptStillFile {
  v: 1;
  id: string;
  sourceClipId: string;
  sourceStillId: number;
  timeMs: number;
  bytes: number;
  sha256: string;
  createdAt: number;
  /** The kit whose bucket holds the source clip's objects, when not this kit: the clip was fetched from it (issue 20). */
  sourceKitId?: string;
}

/**
 * The segments of a clip that overlap [inMs, outMs] (ms from the clip's first segment, as markers
 * are): what a fragment of that range keeps.
 */
export function segmentsForRange(segments: readonly SegmentRow[], inMs: number, outMs: number): number[] {
  if (!Number.isFinite(inMs) || !Number.isFinite(outMs) || inMs < 0 || outMs <= inMs) {
    throw new AppError('VALIDATION', `fragment range [${inMs}, ${outMs}] ms must have 0 ≤ in < out`, { field: 'inMs' });
  }
  const origin = segments[0]?.startMs ?? 0;
  return segments.filter((s) => s.startMs - origin < outMs && s.startMs - origin + s.durationMs > inMs).map((s) => s.seq);
}

/**
 * Fragments and kept stills: footage that outlives its raw clip (docs/design/keys-layout-retention.md,
 * "Fragments and stills"). A fragment is a copy of some of a clip's segments, decrypted with the
 * clip's key in RAM and re-encrypted to [organisation, the fragment's own key]; a kept still is a
 * still re-encrypted likewise. Deleting the raw clip then crypto-erases everything outside them.
 * Every file is written durably; a copy cut short (crash, full disk) leaves no fragment and no key.
 */
export class FragmentStore {
  readonly fragmentsDir: string;
  readonly stillsDir: string;

  constructor(
    dataDir: string,
    private readonly catalogue: Catalogue,
    private readonly keys: ContentKeys,
    private readonly logger: Logger,
  ) {
    this.fragmentsDir = path.join(dataDir, 'fragments');
    this.stillsDir = path.join(dataDir, 'stills');
    mkdirSync(this.fragmentsDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.stillsDir, { recursive: true, mode: 0o700 });
  }

  /**
   * Copies segments `seqs` of a finished clip into a new fragment under a new content key, wrapped
   * to the trainers entitled to the clip. Needs the clip's key (423 while locked).
   */
  async copySegments(args: { clipId: string; seqs: number[]; now: number }): Promise<FragmentFile> {
    const clip = this.requireFinishedClip(args.clipId);
    const bySeq = new Map(this.catalogue.segments(clip.id).map((s) => [s.seq, s]));
    if (!Array.isArray(args.seqs) || args.seqs.length === 0) {
      throw new AppError('VALIDATION', 'seqs: give at least one segment of the clip', { field: 'seqs' });
    }
    const seqs = [...new Set(args.seqs)].sort((a, b) => a - b);
    for (const seq of seqs) {
      if (!bySeq.has(seq)) throw new AppError('VALIDATION', `seqs: clip ${clip.id} has no segment ${JSON.stringify(seq)}`, { field: 'seqs' });
    }
    const clipIdentity = await this.keys.contentIdentity({ kind: 'clip', id: clip.id });
    const id = newClipId(args.now);
    const ref: ContentRef = { kind: 'fragment', id };
    const dir = this.fragmentDir(id);
    const entitled = this.keys.entitled({ kind: 'clip', id: clip.id });
    await this.keys.createContentKey(ref, entitled.length ? { trainers: entitled } : {});
    try {
      mkdirSync(dir, { mode: 0o700 });
      fsyncDir(this.fragmentsDir);
      const recipients = this.keys.recipientsOf(ref);
      const segments: FragmentFile['segments'] = [];
      for (const seq of seqs) {
        const src = bySeq.get(seq)!;
        const plain = await decryptWith(
          clipIdentity,
          await readFile(path.join(this.clipDir(clip.id), segmentObjectName(seq))),
          `segment ${seq} of clip ${clip.id}`,
        );
        const ct = await encryptTo(recipients, plain);
        await writeFileDurable(path.join(dir, segmentObjectName(seq)), ct);
        segments.push({
          seq,
          startMs: src.startMs,
          durationMs: src.durationMs,
          bytes: ct.byteLength,
          sha256: createHash('sha256').update(ct).digest('hex'),
          discontinuity: src.discontinuity,
        });
      }
      const origin = this.originKit(clip.id);
      const file: FragmentFile = { v: 1, id, sourceClipId: clip.id, createdAt: args.now, segments, ...(origin ? { sourceKitId: origin } : {}) };
      writeFileDurableSync(path.join(dir, 'fragment.json'), JSON.stringify(file, null, 1));
      return file;
    } catch (err) {
      await this.discard(ref, dir, err);
      throw err;
    }
  }

  /** Re-encrypts a clip's still under its own key, so that it outlives the clip (a still in a review). */
  async keepStill(args: { clipId: string; stillId: number; now: number }): Promise<KeptStillFile> {
    const clip = this.requireFinishedClip(args.clipId);
    const row = this.catalogue.still(clip.id, args.stillId);
    if (!row) throw new AppError('NOT_FOUND', `clip ${clip.id} has no still ${JSON.stringify(args.stillId)}`, { field: 'stillId' });
    const clipIdentity = await this.keys.contentIdentity({ kind: 'clip', id: clip.id });
    const id = newClipId(args.now);
    const ref: ContentRef = { kind: 'still', id };
    const entitled = this.keys.entitled({ kind: 'clip', id: clip.id });
    await this.keys.createContentKey(ref, entitled.length ? { trainers: entitled } : {});
    const jpegFile = path.join(this.stillsDir, `${id}.jpg.age`);
    try {
      const jpeg = await decryptWith(
        clipIdentity,
        await readFile(path.join(this.clipDir(clip.id), `still-${row.id}.jpg.age`)),
        `still ${row.id} of clip ${clip.id}`,
      );
      const ct = await encryptTo(this.keys.recipientsOf(ref), jpeg);
      await writeFileDurable(jpegFile, ct);
      const file: KeptStillFile = {
        v: 1,
        id,
        sourceClipId: clip.id,
        sourceStillId: row.id,
        timeMs: row.timeMs,
        bytes: ct.byteLength,
        sha256: createHash('sha256').update(ct).digest('hex'),
        createdAt: args.now,
      };
      const origin = this.originKit(clip.id);
      if (origin) file.sourceKitId = origin;
      writeFileDurableSync(path.join(this.stillsDir, `${id}.json`), JSON.stringify(file, null, 1));
      return file;
    } catch (err) {
      await this.discard(ref, jpegFile, err);
      throw err;
    }
  }

  /** A fragment's record, or 404. */
  fragment(id: string): FragmentFile {
    const f = path.join(this.fragmentDir(id), 'fragment.json');
    if (!existsSync(f)) throw new AppError('NOT_FOUND', `no fragment ${JSON.stringify(id)}`, { field: 'fragmentId' });
    return JSON.parse(readFileSync(f, 'utf8')) as FragmentFile;
  }

  /** A kept still's record, or 404. */
  keptStill(id: string): KeptStillFile {
    const f = path.join(this.stillsDir, `${this.checkId(id, 'stillId')}.json`);
    if (!existsSync(f)) throw new AppError('NOT_FOUND', `no kept still ${JSON.stringify(id)}`, { field: 'stillId' });
    return JSON.parse(readFileSync(f, 'utf8')) as KeptStillFile;
  }

  /** A fragment segment's ciphertext (the caller decrypts with the fragment's identity). */
  async readFragmentSegment(id: string, seq: number): Promise<Buffer> {
    if (!this.fragment(id).segments.some((s) => s.seq === seq)) {
      throw new AppError('NOT_FOUND', `fragment ${id} has no segment ${JSON.stringify(seq)}`, { field: 'seq' });
    }
    return readFile(path.join(this.fragmentDir(id), segmentObjectName(seq)));
  }

  /** A kept still's ciphertext. */
  async readKeptStill(id: string): Promise<Buffer> {
    this.keptStill(id);
    return readFile(path.join(this.stillsDir, `${id}.jpg.age`));
  }

  /** Whole fragments and kept stills on the kit, by id. */
  list(): { fragments: string[]; stills: string[] } {
    const fragments = readdirSync(this.fragmentsDir).filter((n) => CLIP_ID_PATTERN.test(n) && existsSync(path.join(this.fragmentsDir, n, 'fragment.json')));
    const stills = readdirSync(this.stillsDir)
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -5))
      .filter((n) => CLIP_ID_PATTERN.test(n));
    return { fragments: fragments.sort(), stills: stills.sort() };
  }

  /** Crypto-erases a fragment: its key first, then its files. Callers decide whether it may go (retention). */
  async deleteFragment(id: string): Promise<'complete' | 'pending'> {
    const dir = this.fragmentDir(id);
    const erase = await this.keys.destroyContentKey({ kind: 'fragment', id });
    rmSync(dir, { recursive: true, force: true });
    fsyncDir(this.fragmentsDir);
    return erase;
  }

  /** Crypto-erases a kept still: its key first, then its files. */
  async deleteKeptStill(id: string): Promise<'complete' | 'pending'> {
    this.checkId(id, 'stillId');
    const erase = await this.keys.destroyContentKey({ kind: 'still', id });
    for (const ext of ['.jpg.age', '.caption.json.age', '.json']) rmSync(path.join(this.stillsDir, `${id}${ext}`), { force: true });
    fsyncDir(this.stillsDir);
    return erase;
  }

  /** After a crash: a fragment without fragment.json, or a kept still without its record, goes with its key. */
  async recover(): Promise<number> {
    let removed = 0;
    for (const n of readdirSync(this.fragmentsDir)) {
      if (n.startsWith('.tmp-')) rmSync(path.join(this.fragmentsDir, n), { force: true });
      else if (CLIP_ID_PATTERN.test(n) && !existsSync(path.join(this.fragmentsDir, n, 'fragment.json'))) {
        await this.deleteFragment(n);
        removed += 1;
      }
    }
    for (const n of readdirSync(this.stillsDir)) {
      if (n.startsWith('.tmp-')) rmSync(path.join(this.stillsDir, n), { force: true });
      else if (n.endsWith('.jpg.age') && !existsSync(path.join(this.stillsDir, n.replace(/\.jpg\.age$/, '.json')))) {
        await this.deleteKeptStill(n.replace(/\.jpg\.age$/, ''));
        removed += 1;
      }
    }
    if (removed) this.logger.warn('removed fragments or kept stills that a crash left unfinished', { count: removed });
    return removed;
  }

  private async discard(ref: ContentRef, file: string, cause: unknown): Promise<void> {
    this.logger.warn('a fragment or kept still could not be written; nothing of it is kept', { kind: ref.kind, id: ref.id, error: (cause as Error).message });
    rmSync(file, { recursive: true, force: true });
    await this.keys.destroyContentKey(ref);
  }

  private requireFinishedClip(clipId: string) {
    if (typeof clipId !== 'string' || !CLIP_ID_PATTERN.test(clipId)) {
      throw new AppError('VALIDATION', `clip id ${JSON.stringify(clipId)?.slice(0, 40)} is not a valid clip id`, { field: 'clipId' });
    }
    const clip = this.catalogue.getClip(clipId);
    if (!clip) throw new AppError('NOT_FOUND', `no clip with id ${JSON.stringify(clipId)}`, { field: 'clipId' });
    if (clip.state === 'recording')
      throw new AppError('CONFLICT', `clip ${clipId} is still recording: fragments are made of finished clips`, { field: 'clipId' });
    return clip;
  }

  /** The kit the clip was fetched from (its clip.json says), or null when it was recorded here. */
  private originKit(clipId: string): string | null {
    const file = path.join(this.clipDir(clipId), 'clip.json');
    if (!existsSync(file)) return null;
    const from = (JSON.parse(readFileSync(file, 'utf8')) as { fetchedFrom?: unknown }).fetchedFrom;
    return typeof from === 'string' ? from : null;
  }

  private clipDir(clipId: string): string {
    return path.join(path.dirname(this.fragmentsDir), 'clips', clipId);
  }

  private fragmentDir(id: string): string {
    return path.join(this.fragmentsDir, this.checkId(id, 'fragmentId'));
  }

  private checkId(id: string, field: string): string {
    if (typeof id !== 'string' || !CLIP_ID_PATTERN.test(id))
      throw new AppError('VALIDATION', `${field} ${JSON.stringify(id)?.slice(0, 40)} is not a valid id`, { field });
    return id;
  }
}
