import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CaptureStatus, ClosedSegment } from '../../src/capture/supervisor.js';
import type { CaptureControl } from '../../src/session/recorder.js';

/**
 * The capture side as the recorder sees it, with the test closing segments itself: each is a real
 * file of `bytes` bytes in the ring directory, named like the worker's (without its run tag). `cut()` answers
 * `cutClosesSegment` (whether the recorder should wait for a segment to close on a stop).
 */
export class FakeCapture extends EventEmitter implements CaptureControl {
  status: CaptureStatus = { armed: false, ok: false, restarts: 0 };
  cuts = 0;
  private n = 0;
  constructor(
    private readonly ring: string,
    private readonly opts: { bytes?: number; cutClosesSegment?: boolean } = {},
  ) {
    super();
  }
  arm() {
    this.status = { armed: true, ok: true, restarts: 0 };
  }
  async disarm() {
    this.status = { armed: false, ok: false, restarts: 0 };
  }
  cut() {
    this.cuts += 1;
    return this.opts.cutClosesSegment ?? true;
  }
  segment(startMono: number, endMono: number, generation = 1): ClosedSegment {
    const bytes = this.opts.bytes ?? 2000;
    const p = path.join(this.ring, `g${generation}-${String(this.n++).padStart(8, '0')}.ts`);
    writeFileSync(p, Buffer.alloc(bytes, this.n));
    const seg = { path: p, startMono, endMono, bytes, generation };
    this.emit('segment', seg);
    return seg;
  }
}
