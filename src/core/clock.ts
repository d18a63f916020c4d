/**
 * Injected time source: wall time in ms, monotonic time in ms, and timers that tests can drive.
 * Monotonic time is CLOCK_MONOTONIC (process.hrtime), the same in every process of the machine, so
 * the capture worker and the main process can compare times; a kit without an RTC whose wall clock
 * jumps when NTP syncs keeps its takes and pre-roll right.
 */
export interface Clock {
  now(): number;
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface TimerHandle {
  unref?(): unknown;
}

export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => monotonicMs(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Where the app's wall time comes from: the system clock, or the system clock corrected by a trainer's phone. */
export type TimeSourceName = 'system' | 'phone';

/** The app clock's state, as /api/status and `doctor` show it. */
export interface AppTime {
  source: TimeSourceName;
  /** Milliseconds added to the system clock (0 for the system clock itself). */
  offsetMs: number;
  /** When (app time) the phone's time was taken; null for the system clock. */
  setAt: number | null;
}

/**
 * The app's clock: the system's wall clock plus an offset that a trainer's phone may set at login
 * when the kit's own clock is not synchronised (a kit without a battery clock after a power cut).
 * The system clock is never set (the unit runs with ProtectClock=yes) and the monotonic clock,
 * on which takes are timed, is never moved. Retention and erasure use `systemNow()`, never a time
 * that only a phone vouches for.
 */
export class AppClock implements Clock {
  private state: AppTime = { source: 'system', offsetMs: 0, setAt: null };

  constructor(private readonly base: Clock) {}

  /** The app's wall time: the system's plus the phone's correction, if any. */
  now(): number {
    return this.base.now() + this.state.offsetMs;
  }

  /** The monotonic clock, untouched by any correction. */
  monotonic(): number {
    return this.base.monotonic();
  }

  /** A timer on the system's timers. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.base.setTimeout(fn, ms);
  }

  /** Cancels a timer of setTimeout. */
  clearTimeout(handle: TimerHandle): void {
    this.base.clearTimeout(handle);
  }

  /** The system's own wall clock, without a phone's correction (what retention and erasure act on). */
  systemNow(): number {
    return this.base.now();
  }

  /** Where the time comes from now. */
  time(): AppTime {
    return { ...this.state };
  }

  /** Takes a phone's time (checked by phoneTimeDecision first): from now on now() follows it. */
  followPhone(phoneMs: number): AppTime {
    const offsetMs = Math.round(phoneMs - this.base.now());
    this.state = { source: 'phone', offsetMs, setAt: this.base.now() + offsetMs };
    return this.time();
  }
}

/** The bounds on a phone's time: corrections smaller than `minCorrectionMs` are ignored, none further ahead than `maxAheadMs`. */
export const PHONE_TIME_LIMITS = { minCorrectionMs: 60_000, maxAheadMs: 400 * 24 * 3600_000 };

/**
 * Whether to take a phone's time: only when the system clock is not synchronised, the value is a
 * time, not before `floorMs` (the last time the kit knew for sure), not further ahead of the
 * kit's own clock (or the floor) than `maxAheadMs`, and different enough from the app's time now.
 */
export function phoneTimeDecision(
  args: { phoneMs: unknown; systemMs: number; appMs: number; floorMs: number; synchronised: boolean },
  limits = PHONE_TIME_LIMITS,
): { take: true } | { take: false; reason: 'synchronised' | 'not_a_time' | 'before_last_known' | 'too_far_ahead' | 'close_enough' } {
  const { phoneMs, systemMs, appMs, floorMs } = args;
  if (args.synchronised) return { take: false, reason: 'synchronised' };
  if (typeof phoneMs !== 'number' || !Number.isFinite(phoneMs)) return { take: false, reason: 'not_a_time' };
  if (phoneMs < floorMs) return { take: false, reason: 'before_last_known' };
  if (phoneMs > Math.max(systemMs, floorMs) + limits.maxAheadMs) return { take: false, reason: 'too_far_ahead' };
  if (Math.abs(phoneMs - appMs) < limits.minCorrectionMs) return { take: false, reason: 'close_enough' };
  return { take: true };
}
