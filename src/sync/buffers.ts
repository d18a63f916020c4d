import { open } from 'node:fs/promises';

/**
 * Reusable read buffers for segment files: ~1 MB per object would otherwise be a new external
 * allocation each time, and the garbage collector's work shows in the CPU of an upload.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  constructor(
    private readonly keep: number,
    /** The smallest buffer made (segment files: 1.5 MB, so that one buffer fits any). */
    private readonly minBytes = 1536 * 1024,
  ) {}

  /** A buffer of at least `size` bytes: a kept one, or a new one. */
  take(size: number): Buffer {
    const i = this.free.findIndex((b) => b.byteLength >= size);
    if (i >= 0) return this.free.splice(i, 1)[0]!;
    return Buffer.allocUnsafeSlow(Math.max(size, this.minBytes));
  }

  /** Returns a buffer for reuse (kept up to `keep` buffers). */
  give(buf: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buf);
  }
}

/** Reads a whole file into a pooled buffer; returns the buffer and the file's bytes (a view of it). */
export async function readPooled(pool: BufferPool, file: string): Promise<{ buf: Buffer; data: Buffer }> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const buf = pool.take(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await fh.read(buf, off, size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return { buf, data: buf.subarray(0, off) };
  } finally {
    await fh.close();
  }
}
