// The range of a fragment, enforced on a video element: the fragment's playlist holds whole
// segments (1 s each) around [in, out], so the player, not the footage, keeps playback inside the
// range. Shared by the phone's fragment player and the TV page.
import type { FrameClock } from './video.js';

/** Seconds a frame may lie outside the range before it counts as out (a decoder's rounding). */
const SLACK = 0.02;

/**
 * Keeps a video inside [inS, outS] (seconds of its playlist): at the out point it goes back to the
 * in point and plays on (a loop), a seek or frame step outside the range lands on its edge.
 */
export class RangeGuard {
  private off: () => void;

  constructor(
    private readonly video: HTMLVideoElement,
    clock: FrameClock,
    private range: readonly [number, number],
  ) {
    this.off = clock.onFrame((t) => this.check(t));
    video.addEventListener('timeupdate', this.onTime);
    video.addEventListener('seeking', this.onSeeking);
    video.addEventListener('ended', this.onEnded);
  }

  /** The range in seconds of the playlist. */
  get bounds(): readonly [number, number] {
    return this.range;
  }

  /** Moves the range (e.g. when the fragment's in/out changed). */
  set(range: readonly [number, number]): void {
    if (!(range[1] > range[0])) throw new Error(`fragment range [${range[0]}, ${range[1]}] s: out must be after in`);
    this.range = range;
    this.clamp(this.video.currentTime);
  }

  /** A time inside the range: `t` itself, or the nearest edge. */
  inside(t: number): number {
    return Math.min(this.range[1], Math.max(this.range[0], t));
  }

  /** Goes to the in point. */
  rewind(): void {
    this.video.currentTime = this.range[0];
  }

  private onTime = () => this.check(this.video.currentTime);

  private onSeeking = () => this.clamp(this.video.currentTime);

  /** An out point at the very end of the playlist: the video ends before a frame reaches it; loop anyway. */
  private onEnded = () => {
    this.video.currentTime = this.range[0];
    this.video.play().catch((err: unknown) => console.warn('fragment loop', err));
  };

  private clamp(t: number): void {
    const [a, b] = this.range;
    if (t < a - SLACK) this.video.currentTime = a;
    else if (t > b + SLACK) this.video.currentTime = this.video.paused ? b : a;
  }

  private check(t: number): void {
    const [a, b] = this.range;
    if (this.video.paused) {
      if (t < a - SLACK || t > b + SLACK) this.clamp(t);
      return;
    }
    if (t >= b || t < a - SLACK) this.video.currentTime = a;
  }

  destroy(): void {
    this.off();
    this.video.removeEventListener('timeupdate', this.onTime);
    this.video.removeEventListener('seeking', this.onSeeking);
    this.video.removeEventListener('ended', this.onEnded);
  }
}
