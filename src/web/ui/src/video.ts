import { TV_RATES } from '../../../core/events.js';
// Video helpers shared by the player and the TV page: HLS attachment (native where the browser has
// it, hls.js loaded lazily otherwise), exact frame stepping with requestVideoFrameCallback, A/B loop.

export interface Attached {
  destroy(): void;
}

/** Plays an HLS playlist in `video`: natively when possible, else through hls.js (a lazy chunk). */
export async function attachHls(video: HTMLVideoElement, url: string, opts: { live?: boolean; onError?: (msg: string) => void } = {}): Promise<Attached> {
  if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = url;
    const onErr = () => opts.onError?.(video.error?.message || 'media error');
    video.addEventListener('error', onErr);
    return {
      destroy() {
        video.removeEventListener('error', onErr);
        video.removeAttribute('src');
        video.load();
      },
    };
  }
  const { default: Hls } = await import('hls.js');
  if (!Hls.isSupported()) {
    opts.onError?.('HLS is not supported by this browser');
    return { destroy() {} };
  }
  const hls = new Hls({
    enableWorker: true,
    lowLatencyMode: false,
    backBufferLength: 60,
    ...(opts.live ? { liveSyncDurationCount: 2, liveMaxLatencyDurationCount: 4 } : { startPosition: 0 }),
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (data.fatal) opts.onError?.(`${data.type}: ${data.details}`);
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  return {
    destroy() {
      hls.destroy();
    },
  };
}

/**
 * Knows the media time of the frame on screen (from requestVideoFrameCallback), so a frame step
 * seeks from the frame actually presented rather than from currentTime, which may lie between frames.
 */
export class FrameClock {
  /** Media time of the presented frame in seconds; null before the first frame. */
  presented: number | null = null;
  private handle = 0;
  private stopped = false;
  private waiters: ((t: number) => void)[] = [];
  private listeners: ((t: number) => void)[] = [];

  constructor(private readonly video: HTMLVideoElement) {
    if ('requestVideoFrameCallback' in video) this.loop();
  }

  private loop(): void {
    this.handle = this.video.requestVideoFrameCallback((_now, meta) => {
      if (this.stopped) return;
      this.presented = meta.mediaTime;
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w(meta.mediaTime);
      for (const l of this.listeners) l(meta.mediaTime);
      this.loop();
    });
  }

  /** Called on every presented frame with its media time. */
  onFrame(fn: (t: number) => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }

  /** Resolves at the next presented frame (or after `timeoutMs`, with currentTime). */
  nextFrame(timeoutMs = 1000): Promise<number> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(this.video.currentTime);
      }, timeoutMs);
      const done = (t: number) => {
        clearTimeout(timer);
        resolve(t);
      };
      this.waiters.push(done);
    });
  }

  /** The time of the frame on screen: the presented frame's, or currentTime before any. */
  now(): number {
    const v = this.video;
    if (this.presented === null || !v.paused) return v.currentTime;
    // While paused, a seek has moved currentTime; the presented frame catches up at the next callback.
    return Math.abs(this.presented - v.currentTime) < 0.5 ? this.presented : v.currentTime;
  }

  /** Pauses and moves one frame back or forward (seek to the neighbouring frame's time). */
  step(direction: -1 | 1, fps: number): number {
    const v = this.video;
    v.pause();
    const frame = 1 / (fps > 0 ? fps : 25);
    const base = this.now();
    // Aim a millisecond into the target frame so rounding never lands on the frame before it.
    const target = Math.max(0, base + direction * frame + 0.001);
    const max = Number.isFinite(v.duration) ? v.duration : Infinity;
    v.currentTime = Math.min(target, max);
    this.presented = null;
    return v.currentTime;
  }

  stop(): void {
    this.stopped = true;
    if ('cancelVideoFrameCallback' in this.video) this.video.cancelVideoFrameCallback(this.handle);
  }
}

/** Loops [a, b] while set: checked on every presented frame (finer than timeupdate). */
export class Looper {
  range: [number, number] | null = null;
  private off: () => void;

  constructor(
    private readonly video: HTMLVideoElement,
    clock: FrameClock,
  ) {
    this.off = clock.onFrame((t) => this.check(t));
    video.addEventListener('timeupdate', this.onTime);
  }

  private onTime = () => this.check(this.video.currentTime);

  private check(t: number): void {
    const r = this.range;
    if (!r || this.video.paused) return;
    if (t >= r[1] || t < r[0] - 0.5) this.video.currentTime = r[0];
  }

  set(range: [number, number] | null): void {
    this.range = range && range[1] > range[0] ? range : null;
    if (this.range && (this.video.currentTime < this.range[0] || this.video.currentTime > this.range[1])) {
      this.video.currentTime = this.range[0];
    }
  }

  destroy(): void {
    this.off();
    this.video.removeEventListener('timeupdate', this.onTime);
  }
}

/** The playback rates, as the server accepts them. */
export const RATES = TV_RATES;
export type Rate = (typeof TV_RATES)[number];

/** The rate among RATES that the video plays at, or null for another one. */
export function knownRate(r: number): Rate | null {
  return RATES.find((x) => x === r) ?? null;
}
export const RATE_LABEL: Record<number, string> = { 1: '1×', 0.5: '½×', 0.25: '¼×' };

/** The marker time before/after `now` (seconds), or null. */
export function neighbourMarker(markersMs: number[], now: number, direction: -1 | 1): number | null {
  const times = [...markersMs].map((m) => m / 1000).sort((a, b) => a - b);
  if (direction > 0) return times.find((t) => t > now + 0.05) ?? null;
  const before = times.filter((t) => t < now - 0.3);
  return before.length ? before[before.length - 1]! : null;
}
