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
