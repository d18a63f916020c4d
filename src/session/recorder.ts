import { closeSync, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';
import type { CaptureStatus, ClosedSegment } from '../capture/supervisor.js';
import type { Clock } from '../core/clock.js';
import { AppError, describeError } from '../core/errors.js';
import type { EventBus, RecorderStateName } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue, Consent } from '../store/catalogue.js';
import type { ClipStore } from '../store/clips.js';
import type { StorageGuard, StorageInfo } from '../store/storage.js';

/** What the recorder needs of the capture side (the supervisor, or a test double of it). */
export interface CaptureControl {
  readonly status: CaptureStatus;
  arm(): void;
  disarm(): Promise<void>;
  cut(): boolean;
  on(event: 'segment', fn: (seg: ClosedSegment) => void): unknown;
  on(event: 'playing', fn: (p: { generation: number; mono: number }) => void): unknown;
  on(event: 'status', fn: (s: CaptureStatus) => void): unknown;
}

export interface RecorderOptions {
  profile: string;
  preRollMs: number;
  segmentMs: number;
  armAtStart: boolean;
}

/** What a Recorder is built from: its collaborators, its options, and the bitrate it assumes at first. */
export interface RecorderDeps extends RecorderOptions {
  capture: CaptureControl;
  clips: ClipStore;
  catalogue: Catalogue;
  guard: StorageGuard;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  /** Bytes per second assumed before the first segments tell the real bitrate (`nominalBytesPerSecond`). */
  nominalBytesPerSecond: number;
}

/** The audio track's bitrate in the capture pipelines (AAC, capture/profiles.ts). */
export const AUDIO_KBPS = 96;

/** The stream's nominal bytes per second: the video bitrate plus the audio track's, when there is one. */
export function nominalBytesPerSecond(capture: { bitrateKbps: number; audio: boolean }): number {
  return ((capture.bitrateKbps + (capture.audio ? AUDIO_KBPS : 0)) * 1000) / 8;
}

/** A take. Fields ending in Mono are monotonic ms (comparable with segment times); others wall ms. */
interface Take {
  clipId: string;
  caseCode: string | null;
  requestedAt: number;
  requestedMono: number;
  fromMono: number;
  originMono: number | null;
  stopAtMono: number | null;
  stopReason: string;
  nextSeq: number;
  generation: number | null;
  lastEndMono: number | null;
  gapMs: number;
  chain: Promise<void>;
  failed: string | null;
  finished: Promise<{ clipId: string; durationMs: number }>;
  resolveFinished: (r: { clipId: string; durationMs: number }) => void;
  finishing: boolean;
  stopTimer: ReturnType<Clock['setTimeout']> | null;
  /** The take's segments are read from the RAM ring into this buffer, one after the other (no garbage per segment). */
  readBuffer: Buffer | null;
}

/**
 * Reads a ring file into `buffer` (a larger one when it does not fit); returns the buffer and the
 * view of the file's bytes. Synchronous: the ring is in RAM, a segment is read in well under 1 ms.
 */
function readRingFile(file: string, buffer: Buffer | null): { buffer: Buffer; data: Buffer } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = buffer && buffer.length >= size ? buffer : Buffer.allocUnsafeSlow(Math.ceil(size * 1.25));
    let n = 0;
    while (n < size) {
      const got = readSync(fd, buf, n, size - n, n);
      if (got === 0) break; // shorter than its size said: what is there is the segment
      n += got;
    }
    return { buffer: buf, data: buf.subarray(0, n) };
  } finally {
    closeSync(fd);
  }
}

/**
 * Deletes a ring file; one already gone is fine. `unlinkSync`, not `rmSync({ force })`: in Node 20
 * the latter runs a JavaScript rimraf (lstat, then unlink) for every file, ≈ 3 % of the main
 * process's CPU during a take (perf profile, docs/performance.md "Issue 16").
 */
function removeRingFile(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** A segment of the live tail (the remote's camera preview). */
export interface LiveSegment {
  /** `<n>.ts`: n counts every closed segment of this recorder, so names never repeat and grow. */
  name: string;
  /** Plaintext file in the RAM ring; may vanish at any moment after listing (then: 404). */
  path: string;
  durationMs: number;
  /** A timestamp jump before this segment (the capture worker restarted). */
  discontinuity: boolean;
}

/** A closed segment in the live tail, with its number in the live playlist. */
interface LiveEntry {
  seg: ClosedSegment;
  n: number;
  discontinuity: boolean;
}

/** How many closed segments the live playlist lists. */
export const LIVE_TAIL_SEGMENTS = 4;

/**
 * How many more segments stay fetchable after they left the playlist. RFC 8216 §6.2.2 asks that a
 * segment stay available for its own duration plus the playlist's after it is removed; a slow
 * phone (or a loaded kit) that fetched the playlist just before it slid still gets its segment.
 */
export const LIVE_GRACE_SEGMENTS = LIVE_TAIL_SEGMENTS + 1;

export interface RecorderStatus {
  state: RecorderStateName;
  clipId?: string;
  elapsedMs?: number;
  /** Where the take is now on the clip's time line (0 = its first pre-roll frame), as markers count. */
  clipTimeMs?: number;
  /** Where the press falls on the clip's time line: the pre-roll the take really got. */
  pressMs?: number;
  preRollMs: number;
  storage: { freeBytes: number; minutesLeft: number };
  camera: { profile: string; ok: boolean; error?: string };
}

/**
 * The recorder state machine: the camera is armed before anyone presses; a take is the run of
 * segments from `start − preRoll` to stop. Segments outside a take stay in the RAM ring for the
 * pre-roll and are then deleted; segments of a take are encrypted and persisted as they close.
 */
export class Recorder {
  private ring: ClosedSegment[] = [];
  /** The newest closed segments, whoever owns them (ring or take), for the live preview: the listed tail and its grace. */
  private live: LiveEntry[] = [];
  private liveCounter = 0;
  /** Files their owner is done with while the live tail still holds them: deleted when they leave it. */
  private readonly releasedWhileLive = new Set<string>();
  private take: Take | null = null;
  private openSegmentStart: number | null = null;
  private bytesPerSecond = 0;
  /**
   * The longest segment seen: with the camera's own H.264 (uvc-h264) a cut waits for the camera's
   * next keyframe, so a stop may take a whole GOP to close its segment.
   */
  private longestSegmentMs = 0;
  private storageCache: { at: number; info: StorageInfo } | null = null;
  private lastState: RecorderStateName = 'idle';
  private started = false;

  private readonly capture: CaptureControl;
  private readonly clips: ClipStore;
  private readonly catalogue: Catalogue;
  private readonly guard: StorageGuard;
  private readonly bus: EventBus;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly opts: RecorderOptions;
  private readonly nominalBytesPerSecond: number;

  constructor(deps: RecorderDeps) {
    ({ capture: this.capture, clips: this.clips, catalogue: this.catalogue, guard: this.guard, bus: this.bus, clock: this.clock, logger: this.logger } = deps);
    this.opts = { profile: deps.profile, preRollMs: deps.preRollMs, segmentMs: deps.segmentMs, armAtStart: deps.armAtStart };
    this.nominalBytesPerSecond = deps.nominalBytesPerSecond;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.capture.on('segment', (seg) => this.onSegment(seg));
    this.capture.on('playing', (p) => {
      this.openSegmentStart = p.mono;
    });
    this.capture.on('status', () => this.publishState());
    if (this.opts.armAtStart) this.capture.arm();
    this.publishState();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    if (this.take) {
      await this.stopTake('service stopping').catch((err: unknown) => {
        this.logger.error('take could not be stopped cleanly at shutdown', { error: describeError(err) });
      });
    }
    await this.capture.disarm();
    for (const seg of this.ring) removeRingFile(seg.path);
    this.ring = [];
    this.dropLiveTail();
    this.started = false;
  }

  arm(): void {
    this.capture.arm();
  }

  async disarm(): Promise<void> {
    if (this.take) throw new AppError('CONFLICT', `a take is running (clip ${this.take.clipId}): stop it first`, { reason: 'take_running' });
    await this.capture.disarm();
    for (const seg of this.ring) removeRingFile(seg.path);
    this.ring = [];
    this.dropLiveTail();
    this.publishState();
  }

  get state(): RecorderStateName {
    if (this.take) return 'recording';
    const cam = this.capture.status;
    if (!cam.armed) return 'idle';
    if (cam.error !== undefined) return 'error';
    return 'armed';
  }

  storage(): StorageInfo {
    const now = this.clock.monotonic();
    if (!this.storageCache || now - this.storageCache.at > 1000) {
      this.storageCache = { at: now, info: this.guard.info(this.bytesPerSecond || this.nominalBytesPerSecond) };
    }
    return this.storageCache.info;
  }

  status(): RecorderStatus {
    const cam = this.capture.status;
    const storage = this.storage();
    const s: RecorderStatus = {
      state: this.state,
      preRollMs: this.opts.preRollMs,
      storage: { freeBytes: storage.freeBytes, minutesLeft: storage.minutesLeft },
      camera: { profile: this.opts.profile, ok: cam.ok },
    };
    if (cam.error !== undefined) s.camera.error = cam.error;
    if (this.take) {
      s.clipId = this.take.clipId;
      s.elapsedMs = Math.max(0, Math.round(this.clock.monotonic() - this.take.requestedMono));
      const origin = this.take.originMono ?? this.take.requestedMono;
      s.clipTimeMs = Math.max(0, Math.round(this.clock.monotonic() - origin - this.take.gapMs));
      s.pressMs = Math.max(0, Math.round(this.take.requestedMono - origin));
    }
    return s;
  }

  /** Starts a take; its first segment is the one covering `now − preRoll`. */
  startTake(caseCode: string | null, consent: Consent | null = null): { clipId: string } {
    if (this.take) {
      throw new AppError('CONFLICT', `a take is already running (clip ${this.take.clipId})`, { reason: 'take_running' });
    }
    const cam = this.capture.status;
    if (!cam.armed) {
      // Disarmed until a visit starts: the button still works, without pre-roll.
      this.capture.arm();
    } else if (cam.error !== undefined) {
      throw new AppError('CAMERA_NOT_READY', `the camera is not recording: ${cam.error}`, { reason: 'camera_not_ready' });
    }
    const perSecond = this.bytesPerSecond || this.nominalBytesPerSecond;
    if (!this.guard.hasRoom(perSecond * 60)) {
      throw new AppError('STORAGE_FULL', this.guard.refusal(perSecond * 60), { field: 'storage.reserveMB', reason: 'storage_full' });
    }
    const now = this.clock.now();
    const nowMono = this.clock.monotonic();
    const fromMono = nowMono - this.opts.preRollMs;
    const fromRing = this.ring.filter((s) => s.endMono > fromMono).sort((a, b) => a.startMono - b.startMono);
    this.ring = this.ring.filter((s) => !fromRing.includes(s));
    const originMono = fromRing[0]?.startMono ?? this.openSegmentStart ?? null;
    const originMs = originMono === null ? null : Math.round(this.toWall(originMono));
    const clipId = this.clips.createClip({
      caseCode,
      now,
      requestedAt: now,
      preRollMs: this.opts.preRollMs,
      originMs,
      consent,
      inTransaction: (id) => this.catalogue.audit('take.start', now, id, { preRollMs: this.opts.preRollMs, assigned: caseCode !== null }),
    });
    let resolveFinished!: Take['resolveFinished'];
    const finished = new Promise<{ clipId: string; durationMs: number }>((r) => (resolveFinished = r));
    const take: Take = {
      clipId,
      caseCode,
      requestedAt: now,
      requestedMono: nowMono,
      fromMono,
      originMono,
      stopAtMono: null,
      stopReason: 'stopped',
      nextSeq: 0,
      generation: null,
      lastEndMono: null,
      gapMs: 0,
      failed: null,
      // The clip's playback key comes first; its segments are encrypted to it.
      chain: this.clips.prepareKey(clipId).catch((err: unknown) => {
        this.logger.error('clip key could not be made; segments go to the organisation only', { clipId, error: describeError(err) });
      }),
      finished,
      resolveFinished,
      finishing: false,
      stopTimer: null,
      readBuffer: null,
    };
    this.take = take;
    for (const seg of fromRing) this.enqueue(take, seg);
    // The real start is the keyframe that opens the first segment: at or before `now − preRoll`.
    this.logger.info('take started', {
      clipId,
      preRollSegments: fromRing.length,
      ...(originMono === null ? {} : { preRollMs: Math.round(nowMono - originMono) }),
    });
    this.bus.emit('clip.started', { clipId, caseCode });
    this.publishState();
    return { clipId };
  }

  /** Stops the take with the segment covering the stop time; resolves once the clip is complete. */
  async stopTake(reason = 'stopped'): Promise<{ clipId: string; durationMs: number }> {
    const take = this.take;
    if (!take) throw new AppError('CONFLICT', 'no take is running', { reason: 'no_take' });
    if (take.stopAtMono === null) {
      take.stopAtMono = this.clock.monotonic();
      take.stopReason = reason;
      if (take.lastEndMono !== null && take.lastEndMono >= take.stopAtMono - 40) {
        // The last segment already reaches the stop time (its end, from the pipeline clock, can
        // be a little ahead of ours): the take is whole now; the next segment belongs to the ring.
        this.finishTake(take);
      } else if (!this.capture.cut()) {
        // No pipeline to cut: finish with what has been persisted.
        this.finishTake(take);
      } else {
        take.stopTimer = this.clock.setTimeout(
          () => {
            this.logger.warn('no segment closed after stop; finishing the clip with what it has', { clipId: take.clipId });
            this.finishTake(take);
          },
          Math.max(this.opts.segmentMs, this.longestSegmentMs) + this.opts.segmentMs + 2000,
        );
      }
    }
    return take.finished;
  }

  /** Drops a marker at the current position of the running take. */
  mark(label: string | null): { markerId: number; offsetMs: number; clipId: string } {
    const take = this.take;
    if (!take || take.stopAtMono !== null) throw new AppError('CONFLICT', 'no take is running: start recording before marking a moment', { reason: 'no_take' });
    const now = this.clock.now();
    const origin = take.originMono ?? take.requestedMono;
    const offsetMs = Math.max(0, Math.round(this.clock.monotonic() - origin - take.gapMs));
    const markerId = this.clips.addMarker(take.clipId, offsetMs, label, now);
    this.bus.emit('marker', { clipId: take.clipId, markerId, offsetMs, label });
    return { markerId, offsetMs, clipId: take.clipId };
  }

  /**
   * The live tail for the remote's camera preview: the newest closed segments (at most
   * LIVE_TAIL_SEGMENTS, oldest first), in or out of a take, while the camera is armed; [] when
   * disarmed. Segments of a take are listed too (the preview keeps running while recording);
   * their plaintext stays in RAM. The media sequence of a playlist is the number of its first
   * segment's name.
   */
  liveSegments(): LiveSegment[] {
    if (!this.capture.status.armed) return [];
    return this.live.slice(-LIVE_TAIL_SEGMENTS).map((l) => this.liveEntry(l));
  }

  /**
   * One segment of the live tail by name: a listed one, or one that left the playlist at most
   * LIVE_GRACE_SEGMENTS segments ago (still on disk for a reader that fetched the playlist just
   * before it slid). Undefined when older or when the camera is disarmed: the server answers 404.
   */
  liveSegment(name: string): LiveSegment | undefined {
    if (!this.capture.status.armed) return undefined;
    const l = this.live.find((x) => `${x.n}.ts` === name);
    return l ? this.liveEntry(l) : undefined;
  }

  private liveEntry(l: LiveEntry): LiveSegment {
    return { name: `${l.n}.ts`, path: l.seg.path, durationMs: Math.max(1, Math.round(l.seg.endMono - l.seg.startMono)), discontinuity: l.discontinuity };
  }

  private pushLive(seg: ClosedSegment): void {
    const prev = this.live[this.live.length - 1];
    this.liveCounter += 1;
    this.live.push({ seg, n: this.liveCounter, discontinuity: prev !== undefined && prev.seg.generation !== seg.generation });
    while (this.live.length > LIVE_TAIL_SEGMENTS + LIVE_GRACE_SEGMENTS) {
      const old = this.live.shift()!;
      if (this.releasedWhileLive.delete(old.seg.path)) removeRingFile(old.seg.path);
    }
  }

  /** The owner of a ring file is done with it: deleted now, or when it leaves the live tail. */
  private release(file: string): void {
    if (this.live.some((l) => l.seg.path === file)) this.releasedWhileLive.add(file);
    else removeRingFile(file);
  }

  private dropLiveTail(): void {
    for (const l of this.live) if (this.releasedWhileLive.has(l.seg.path)) removeRingFile(l.seg.path);
    this.live = [];
    this.releasedWhileLive.clear();
  }

  private onSegment(seg: ClosedSegment): void {
    this.pushLive(seg);
    const duration = seg.endMono - seg.startMono;
    if (duration > 0 && seg.bytes > 0) {
      const rate = (seg.bytes * 1000) / duration;
      this.bytesPerSecond = this.bytesPerSecond === 0 ? rate : this.bytesPerSecond * 0.9 + rate * 0.1;
    }
    this.openSegmentStart = seg.endMono;
    if (duration > this.longestSegmentMs) this.longestSegmentMs = duration;
    const take = this.take;
    if (take && !take.finishing && seg.endMono > take.fromMono && (take.stopAtMono === null || seg.startMono < take.stopAtMono)) {
      this.enqueue(take, seg);
      if (take.stopAtMono !== null && seg.endMono >= take.stopAtMono - 40) this.finishTake(take);
    } else {
      this.ring.push(seg);
      this.bus.emit('segment.closed', { durationMs: duration, bytes: seg.bytes });
    }
    this.pruneRing();
    if (take && take.stopAtMono === null && !this.guard.hasRoom(seg.bytes * 3)) {
      const info = this.storage();
      this.logger.warn('storage reserve reached: stopping the take', { clipId: take.clipId, freeBytes: info.freeBytes });
      this.bus.emit('storage.low', { freeBytes: info.freeBytes, minutesLeft: info.minutesLeft });
      void this.stopTake('storage full').catch(() => undefined);
    }
  }

  private pruneRing(): void {
    const keepAfter = this.clock.monotonic() - this.opts.preRollMs;
    const keep: ClosedSegment[] = [];
    for (const seg of this.ring) {
      if (seg.endMono > keepAfter) keep.push(seg);
      else this.release(seg.path);
    }
    this.ring = keep;
  }

  private enqueue(take: Take, seg: ClosedSegment): void {
    const seq = take.nextSeq++;
    const discontinuity = take.generation !== null && seg.generation !== take.generation;
    if (take.lastEndMono !== null && seg.startMono > take.lastEndMono + 100) take.gapMs += seg.startMono - take.lastEndMono;
    if (take.originMono === null) {
      take.originMono = seg.startMono;
      try {
        this.clips.setOrigin(take.clipId, Math.round(this.toWall(seg.startMono)));
      } catch (err) {
        // the clip's first segment fixes it again at recovery; the take goes on
        this.logger.error('clip origin could not be stored', { clipId: take.clipId, error: describeError(err) });
      }
    }
    take.generation = seg.generation;
    take.lastEndMono = seg.endMono;
    const startMs = this.toWall(seg.startMono);
    take.chain = take.chain.then(async () => {
      try {
        if (take.failed) return;
        const read = readRingFile(seg.path, take.readBuffer);
        take.readBuffer = read.buffer;
        const row = await this.clips.persistSegment(take.clipId, seq, read.data, {
          startMs,
          durationMs: seg.endMono - seg.startMono,
          discontinuity,
        });
        this.bus.emit('segment.closed', { clipId: take.clipId, seq, durationMs: row.durationMs, bytes: row.bytes });
      } catch (err) {
        take.failed = describeError(err);
        this.logger.error('segment could not be stored; stopping the take', { clipId: take.clipId, seq, error: take.failed });
        if (take.stopAtMono === null) {
          take.stopAtMono = this.clock.monotonic();
          take.stopReason = `write failed: ${take.failed}`;
          this.finishTake(take);
        }
      } finally {
        this.release(seg.path);
      }
    });
  }

  private finishTake(take: Take): void {
    if (take.finishing) return;
    take.finishing = true;
    if (take.stopTimer) this.clock.clearTimeout(take.stopTimer);
    void take.chain.then(() => {
      const stoppedAt = Math.round(take.stopAtMono === null ? this.clock.now() : this.toWall(take.stopAtMono));
      try {
        this.clips.finishClip(take.clipId, 'complete', stoppedAt, take.stopReason);
        const durationMs = this.catalogue.getClip(take.clipId)?.durationMs ?? 0;
        this.catalogue.audit('take.stop', this.clock.now(), take.clipId, { durationMs, reason: take.stopReason });
      } catch (err) {
        // A full or failing card even past the catalogue's reserve: the clip keeps every segment it
        // has and is finished as recovered at the next start; the service stays up.
        this.logger.error('clip could not be marked complete; it is recovered at the next start', { clipId: take.clipId, error: describeError(err) });
        this.bus.emit('storage.low', { freeBytes: this.guard.info(1).freeBytes, minutesLeft: 0 });
      }
      const clip = this.catalogue.getClip(take.clipId);
      const durationMs = clip?.durationMs ?? 0;
      if (this.take === take) this.take = null;
      // The real end is the keyframe that closed the last segment: at or after the stop.
      const afterStopMs = take.stopAtMono === null || take.lastEndMono === null ? null : Math.round(take.lastEndMono - take.stopAtMono);
      this.logger.info('take stopped', { clipId: take.clipId, durationMs, segments: clip?.segmentCount, reason: take.stopReason, afterStopMs });
      this.bus.emit('clip.stopped', { clipId: take.clipId, durationMs, reason: take.stopReason });
      take.resolveFinished({ clipId: take.clipId, durationMs });
      this.publishState();
    });
  }

  /** Wall time of a monotonic instant, by today's offset between the two clocks. */
  private toWall(mono: number): number {
    return this.clock.now() - (this.clock.monotonic() - mono);
  }

  private publishState(): void {
    const state = this.state;
    if (state === this.lastState && state !== 'error') return;
    this.lastState = state;
    const payload: { state: RecorderStateName; clipId?: string; error?: string } = { state };
    if (this.take) payload.clipId = this.take.clipId;
    const err = this.capture.status.error;
    if (err !== undefined) payload.error = err;
    this.bus.emit('state', payload);
  }
}
