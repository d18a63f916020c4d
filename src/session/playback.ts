import { AppError } from '../core/errors.js';
import type { Catalogue } from '../store/catalogue.js';
import type { ClipStore } from '../store/clips.js';
import { decryptWith } from '../store/crypto.js';
import type { KeyStore } from '../store/keys.js';
import type { Library } from './library.js';
import type { Presentation } from './presentation.js';

export interface PlaybackOptions {
  catalogue: Catalogue;
  clips: ClipStore;
  keys: KeyStore;
  library: Library;
  presentation: Presentation;
}

/**
 * Plays footage back: a segment or a still decrypted in RAM with the clip's key (which needs the
 * unlocked kit), the view audited once per session. Plaintext never touches the disk.
 */
export class Playback {
  constructor(private readonly o: PlaybackOptions) {}

  /** The clip's segment `seq` as MPEG-TS bytes; `viewer` is the session key for the viewed-once audit. */
  async segment(clipId: string, seq: number, viewer: string): Promise<Buffer> {
    this.o.library.getClip(clipId);
    if (!this.o.catalogue.segment(clipId, seq)) {
      throw new AppError('NOT_FOUND', `clip ${clipId} has no segment ${seq}`, { field: 'params.file', reason: 'segment_not_found', params: { seq } });
    }
    const identity = await this.o.keys.clipIdentity(clipId);
    this.o.presentation.auditView(viewer, clipId);
    return asBuffer(await decryptWith(identity, await this.o.clips.readSegment(clipId, seq)));
  }

  /** The clip's still `n` as JPEG bytes. */
  async still(clipId: string, n: number, viewer: string): Promise<Buffer> {
    this.o.library.getClip(clipId);
    if (!this.o.catalogue.stills(clipId).some((st) => st.id === n)) {
      throw new AppError('NOT_FOUND', `clip ${clipId} has no still ${n}`, { field: 'params.file', reason: 'still_not_found', params: { still: n } });
    }
    const identity = await this.o.keys.clipIdentity(clipId);
    this.o.presentation.auditView(viewer, clipId);
    return asBuffer(await decryptWith(identity, await this.o.clips.readStill(clipId, n)));
  }
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
