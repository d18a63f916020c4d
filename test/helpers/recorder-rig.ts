// The recorder's test set-up, shared by test/recorder.test.ts, recorder-live.test.ts and
// recorder-gop.test.ts: the real catalogue and clip store in a temp dir (segments encrypted to a
// fresh organisation identity only: no clip keys), the real capture worker on a RAM ring, and the
// real Recorder over either that worker or a FakeCapture. Everything made here is undone by
// `cleanup()`, in reverse order.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CaptureSupervisor } from '../../src/capture/supervisor.js';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { EventBus } from '../../src/core/events.js';
import { createLogger } from '../../src/core/logger.js';
import { Recorder, type CaptureControl } from '../../src/session/recorder.js';
import { Catalogue } from '../../src/store/catalogue.js';
import { ClipStore } from '../../src/store/clips.js';
import { generateIdentity } from '../../src/store/crypto.js';
import { StorageGuard } from '../../src/store/storage.js';

export const silent = createLogger({ level: 'silent' });

/** What a recorder test made, and how to undo it (temp dirs, catalogue, recorder, worker). */
export class RecorderRig {
  private readonly undo: (() => Promise<void> | void)[] = [];
  /** The warnings and errors of the recorder and the capture worker (JSON lines), for a failure message. */
  readonly log: string[] = [];
  private readonly logger = createLogger({ level: 'warn', write: (line) => this.log.push(line) });

  /** A temp dir (under /dev/shm for a RAM ring when `ram`), removed at cleanup. */
  tempDir(prefix: string, ram = false): string {
    const dir = ram ? mkdtempSync(`/dev/shm/${prefix}`) : mkdtempSync(path.join(os.tmpdir(), prefix));
    this.undo.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** Runs `fn` at cleanup (before what was made earlier is undone). */
  onCleanup(fn: () => Promise<void> | void): void {
    this.undo.push(fn);
  }

  /** The real catalogue and clip store in `dir`; segments go to a new organisation identity only. */
  async store(dir: string): Promise<{ org: { identity: string; recipient: string }; catalogue: Catalogue; clips: ClipStore }> {
    const org = await generateIdentity();
    const catalogue = new Catalogue(path.join(dir, 'catalogue.db'));
    this.undo.push(() => catalogue.close());
    const clips = new ClipStore(
      path.join(dir, 'data'),
      catalogue,
      { recipientsFor: () => [org.recipient], createClipKey: async () => null, destroyClipKey: async () => 'complete' },
      silent,
    );
    return { org, catalogue, clips };
  }

  /** The real capture worker on `ringDir` (1 s segments, quick restarts), with the launch string `launchFor` builds. */
  captureWorker(ringDir: string, launchFor: (location: string) => string): CaptureSupervisor {
    return new CaptureSupervisor({
      ringDir,
      launchFor,
      segmentMs: 1000,
      playingTimeoutMs: 8000,
      restartMinMs: 100,
      restartMaxMs: 400,
      clock: systemClock,
      logger: this.logger,
    });
  }

  /** The real Recorder over `capture` and a store in `dir` (1 s segments, no storage reserve), started; stopped at cleanup. */
  recorder(opts: {
    capture: CaptureControl;
    store: { catalogue: Catalogue; clips: ClipStore };
    dir: string;
    clock?: Clock;
    profile?: string;
    preRollMs: number;
    armAtStart: boolean;
    nominalBytesPerSecond: number;
  }): Recorder {
    const recorder = new Recorder({
      capture: opts.capture,
      clips: opts.store.clips,
      catalogue: opts.store.catalogue,
      guard: new StorageGuard(opts.dir, 0),
      bus: new EventBus(),
      clock: opts.clock ?? systemClock,
      logger: this.logger,
      profile: opts.profile ?? 'sim',
      preRollMs: opts.preRollMs,
      segmentMs: 1000,
      armAtStart: opts.armAtStart,
      nominalBytesPerSecond: opts.nominalBytesPerSecond,
    });
    recorder.start();
    this.undo.push(() => recorder.stop());
    return recorder;
  }

  /** Undoes everything, newest first (each step whatever the others do). */
  async cleanup(): Promise<void> {
    this.log.length = 0;
    const errors: unknown[] = [];
    for (const fn of this.undo.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `recorder test clean-up: ${errors.length} step(s) failed`);
  }
}
