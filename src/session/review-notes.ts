import { existsSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../core/errors.js';
import { decryptWith, encryptTo } from '../store/crypto.js';
import { fsyncDir, writeFileDurable } from '../store/durable.js';
import type { ContentRef, KeyStore } from '../store/keys.js';
import { isDiskFull } from '../store/reserve.js';

/** A note or caption as stored: a JSON object, encrypted to [organisation, the item's content key]. */
interface NoteFile {
  v: 1;
  text: string;
}

/**
 * The trainer's free text on fragments (notes: a question for the parents) and kept stills
 * (captions). Free text can hold names, so it lives only encrypted, to the organisation and the
 * item's own content key, in the item's own files — never in the catalogue, the audit or a log
 * (those say only whether there is one). It dies with the item's key (crypto-erase).
 */
export class ReviewNotes {
  constructor(
    private readonly keys: Pick<KeyStore, 'recipientsOf' | 'contentIdentity'>,
    private readonly dirs: { fragmentsDir: string; stillsDir: string },
  ) {}

  /** Where the note of a fragment or the caption of a kept still lives. */
  file(ref: ContentRef): string {
    if (ref.kind === 'fragment') return path.join(this.dirs.fragmentsDir, ref.id, 'note.json.age');
    if (ref.kind === 'still') return path.join(this.dirs.stillsDir, `${ref.id}.caption.json.age`);
    throw new AppError('INTERNAL', `a ${ref.kind} has no note`);
  }

  /** Writes (text) or removes (null) the note; durable; a full disk is a 507 naming the item. */
  async write(ref: ContentRef, text: string | null): Promise<void> {
    const f = this.file(ref);
    if (text === null) {
      if (existsSync(f)) {
        rmSync(f, { force: true });
        fsyncDir(path.dirname(f));
      }
      return;
    }
    const body: NoteFile = { v: 1, text };
    try {
      await writeFileDurable(f, await encryptTo(this.keys.recipientsOf(ref), new TextEncoder().encode(JSON.stringify(body))));
    } catch (err) {
      throw noteWriteError(ref, err);
    }
  }

  /** The note's text for the signed-in trainer (423 while locked), or null when there is none. */
  async read(ref: ContentRef): Promise<string | null> {
    const f = this.file(ref);
    if (!existsSync(f)) return null;
    const identity = await this.keys.contentIdentity(ref);
    const plain = await decryptWith(identity, await readFile(f), `the note of ${ref.kind} ${ref.id}`);
    const parsed = JSON.parse(new TextDecoder().decode(plain)) as Partial<NoteFile>;
    return typeof parsed.text === 'string' ? parsed.text : null;
  }

  /** The note's ciphertext as stored (the upload sends it as it is), or null. */
  async ciphertext(ref: ContentRef): Promise<Buffer | null> {
    const f = this.file(ref);
    return existsSync(f) ? readFile(f) : null;
  }
}

/** A write of footage or a note that failed: a full disk is 507, an I/O error 500, both naming what. */
export function noteWriteError(ref: ContentRef, err: unknown): AppError {
  if (err instanceof AppError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (isDiskFull(err)) {
    return new AppError('STORAGE_FULL', `the card is full: the note of ${ref.kind} ${ref.id} could not be saved (opslag vol)`, {
      field: 'note',
      reason: 'storage_full',
      cause: err,
    });
  }
  return new AppError('INTERNAL', `the note of ${ref.kind} ${ref.id} could not be written (${typeof code === 'string' ? code : 'error'})`, {
    field: 'note',
    reason: 'write_failed',
    cause: err,
  });
}
