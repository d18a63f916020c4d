import type { SyncErrorReason } from '../../src/sync/errors.js';
import type { PutOptions, PutResult, UploadTarget } from '../../src/sync/targets.js';

/** A real target with a record of every put (key, size, outcome): for counting re-sent bytes. */
export class RecordingTarget implements UploadTarget {
  readonly puts: { key: string; bytes: number; ok: boolean; alreadyPresent?: boolean; reason?: SyncErrorReason }[] = [];

  /** Called after each confirmed put with the number of confirmed puts so far. */
  onConfirmed: ((count: number) => void) | null = null;

  constructor(readonly inner: UploadTarget) {}

  get kind(): 's3' | 'dir' {
    return this.inner.kind;
  }

  get id(): string {
    return this.inner.id;
  }

  async put(key: string, body: Uint8Array, opts: PutOptions): Promise<PutResult> {
    try {
      const r = await this.inner.put(key, body, opts);
      this.puts.push({ key, bytes: body.byteLength, ok: true, alreadyPresent: r.alreadyPresent });
      this.onConfirmed?.(this.puts.filter((p) => p.ok).length);
      return r;
    } catch (err) {
      this.puts.push({ key, bytes: body.byteLength, ok: false, reason: (err as { reason?: SyncErrorReason }).reason });
      throw err;
    }
  }

  close(): void {
    this.inner.close();
  }
}
