import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { RecorderStateName } from '../core/events.js';
import type { Logger } from '../core/logger.js';

/**
 * Button press logic, free of hardware: a PressDetector turns raw level changes (from GPIO, the
 * kit controller or a simulated button) into short, long and double presses; `actionFor` maps a
 * press and the recorder's state to what the kit should do; PressActions runs that action and
 * keeps a press from acting twice while a start or stop is still in flight.
 */

export type PressKind = 'short' | 'long' | 'double';

export interface PressEvent {
  kind: PressKind;
  /** How long the (last) press was held, in ms; for a long press the time when it fired. */
  heldMs: number;
  /** Monotonic time (clock.monotonic()) at which the press was recognised. */
  at: number;
}

export interface PressTimings {
  /** A level must hold this long to count (contact bounce); 0 turns debouncing off. */
  debounceMs: number;
  /** A press held this long is long; it fires when the threshold is reached, still held. */
  longPressMs: number;
  /** Two short presses with at most this gap are one double press; 0 = off. Delays short presses by this much. */
  doublePressMs: number;
}

export const DEFAULT_PRESS_TIMINGS: Readonly<PressTimings> = Object.freeze({
  debounceMs: 30,
  longPressMs: 1000,
  doublePressMs: 0,
});

export interface PressDetectorOptions extends Partial<PressTimings> {
  clock: Clock;
  logger: Logger;
  onPress: (event: PressEvent) => void;
  /** Debounced level changes (true = pressed), e.g. for immediate LED feedback. */
  onLevel?: (pressed: boolean) => void;
}

function checkTiming(name: keyof PressTimings, value: number, min: number): number {
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(`button.${name} must be a number ≥ ${min} (ms), got ${String(value)}`);
  }
  return value;
}

/**
 * Debounces raw levels and classifies presses.
 *
 * Debouncing waits until a level has held for `debounceMs` (a glitch shorter than that is no
 * press at all); the press is timed from the raw edge that stuck. A long press fires once
 * `longPressMs` after that edge while the button is still held; its release then does nothing.
 * With `doublePressMs` > 0, a short press is reported only after the window has passed without a
 * second press; a second press that turns long reports the first short press, then the long one.
 */
export class PressDetector {
  readonly timings: Readonly<PressTimings>;
  private raw = false;
  private rawAt = 0;
  private stable = false;
  private downAt = 0;
  private longFired = false;
  /** The long threshold passed while a release was still being debounced. */
  private longDue = false;
  private debounceTimer: TimerHandle | null = null;
  private longTimer: TimerHandle | null = null;
  private doubleTimer: TimerHandle | null = null;
  /** A short press waiting for the double-press window to pass. */
  private pendingShort: PressEvent | null = null;
  /** The current press began inside the double-press window of `pendingShort`. */
  private secondPress = false;

  constructor(private readonly opts: PressDetectorOptions) {
    this.timings = Object.freeze({
      debounceMs: checkTiming('debounceMs', opts.debounceMs ?? DEFAULT_PRESS_TIMINGS.debounceMs, 0),
      longPressMs: checkTiming('longPressMs', opts.longPressMs ?? DEFAULT_PRESS_TIMINGS.longPressMs, 1),
      doublePressMs: checkTiming('doublePressMs', opts.doublePressMs ?? DEFAULT_PRESS_TIMINGS.doublePressMs, 0),
    });
    if (this.timings.longPressMs <= this.timings.debounceMs) {
      throw new RangeError(`button.longPressMs (${this.timings.longPressMs}) must be longer than button.debounceMs (${this.timings.debounceMs})`);
    }
  }

  /** The debounced level: true while the button is held. */
  get pressed(): boolean {
    return this.stable;
  }

  /** Feed a raw level change (true = pressed). Repeats of the same level are ignored. */
  input(pressed: boolean): void {
    if (pressed === this.raw) return;
    this.raw = pressed;
    this.rawAt = this.opts.clock.monotonic();
    if (this.debounceTimer !== null) this.opts.clock.clearTimeout(this.debounceTimer);
    this.debounceTimer = null;
    if (this.timings.debounceMs === 0) {
      this.settle();
      return;
    }
    this.debounceTimer = this.opts.clock.setTimeout(() => {
      this.debounceTimer = null;
      this.settle();
    }, this.timings.debounceMs);
  }

  /** Drops timers and any half-seen press; the detector can be fed again afterwards. */
  reset(): void {
    for (const t of [this.debounceTimer, this.longTimer, this.doubleTimer]) {
      if (t !== null) this.opts.clock.clearTimeout(t);
    }
    this.debounceTimer = this.longTimer = this.doubleTimer = null;
    this.raw = this.stable = this.longFired = this.longDue = this.secondPress = false;
    this.pendingShort = null;
  }

  private settle(): void {
    if (this.raw === this.stable) {
      // Bounced back within the debounce time: a glitch. If the long threshold passed meanwhile,
      // the press was long after all.
      if (this.stable && this.longDue) {
        this.longDue = false;
        this.fireLong();
      }
      return;
    }
    this.stable = this.raw;
    if (this.opts.onLevel) this.call(() => this.opts.onLevel?.(this.stable));
    if (this.stable) this.onDown(this.rawAt);
    else this.onUp(this.rawAt);
  }

  private onDown(at: number): void {
    this.downAt = at;
    this.longFired = false;
    if (this.pendingShort) {
      this.secondPress = true;
      if (this.doubleTimer !== null) this.opts.clock.clearTimeout(this.doubleTimer);
      this.doubleTimer = null;
    }
    const delay = Math.max(0, this.timings.longPressMs - (this.opts.clock.monotonic() - at));
    this.longTimer = this.opts.clock.setTimeout(() => {
      this.longTimer = null;
      // A release seen but not yet debounced: it decides (held < longPressMs → short).
      if (!this.raw) this.longDue = true;
      else this.fireLong();
    }, delay);
  }

  private fireLong(): void {
    this.longFired = true;
    this.flushPendingShort();
    const now = this.opts.clock.monotonic();
    this.emit({ kind: 'long', heldMs: Math.round(now - this.downAt), at: now });
  }

  private onUp(at: number): void {
    if (this.longTimer !== null) this.opts.clock.clearTimeout(this.longTimer);
    this.longTimer = null;
    this.longDue = false;
    if (this.longFired) {
      this.longFired = false;
      return;
    }
    const heldMs = Math.round(at - this.downAt);
    if (heldMs >= this.timings.longPressMs) {
      // The timer came late (a busy event loop); the press was long all the same.
      this.fireLong();
      this.longFired = false;
      return;
    }
    const now = this.opts.clock.monotonic();
    if (this.timings.doublePressMs <= 0) {
      this.emit({ kind: 'short', heldMs, at: now });
      return;
    }
    if (this.secondPress && this.pendingShort) {
      this.pendingShort = null;
      this.secondPress = false;
      this.emit({ kind: 'double', heldMs, at: now });
      return;
    }
    this.pendingShort = { kind: 'short', heldMs, at: now };
    const wait = Math.max(0, this.timings.doublePressMs - (now - at));
    this.doubleTimer = this.opts.clock.setTimeout(() => {
      this.doubleTimer = null;
      this.flushPendingShort();
    }, wait);
  }

  private flushPendingShort(): void {
    if (this.doubleTimer !== null) this.opts.clock.clearTimeout(this.doubleTimer);
    this.doubleTimer = null;
    const pending = this.pendingShort;
    this.pendingShort = null;
    this.secondPress = false;
    if (pending) this.emit(pending);
  }

  private emit(event: PressEvent): void {
    this.call(() => this.opts.onPress(event));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.logger.error('button press handler failed', { error: describeError(err) });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// What a press does

export type ButtonAction = 'start' | 'stop' | 'mark' | 'none';

/**
 * The recorder's state as the button sees it: the recorder's own state, or `starting`/`stopping`
 * while a start or stop that a press asked for has not finished yet.
 */
export type PressRecorderState = RecorderStateName | 'starting' | 'stopping';

export interface PressMapping {
  /** What a short press does while no take runs (idle, armed, camera error). */
  shortWhenIdle: 'start' | 'none';
  /** What a double press does during a take (only with doublePressMs > 0). */
  doubleWhenRecording: 'stop' | 'mark' | 'none';
}

export const DEFAULT_PRESS_MAPPING: Readonly<PressMapping> = Object.freeze({
  shortWhenIdle: 'start',
  doubleWhenRecording: 'stop',
});

/**
 * The action for a press in a state. Long press: start a take, or stop the running one. Short press:
 * a marker during a take; start a take otherwise (or nothing, `shortWhenIdle: 'none'`). A double
 * press outside a take counts as a short one.
 *
 * While a start or stop is in flight (`starting`, `stopping`) every press does nothing: a second
 * press must never start a second take, stop a take that is not confirmed yet, or mark a take that
 * is ending. In `error` (camera not recording) the press still asks for a start: the recorder
 * refuses with its reason, and the caller shows that (error LED) instead of ignoring the trainer.
 */
export function actionFor(kind: PressKind, state: PressRecorderState, mapping: PressMapping = DEFAULT_PRESS_MAPPING): ButtonAction {
  switch (state) {
    case 'starting':
    case 'stopping':
      return 'none';
    case 'recording':
      if (kind === 'long') return 'stop';
      if (kind === 'short') return 'mark';
      return mapping.doubleWhenRecording;
    case 'idle':
    case 'armed':
    case 'error':
      if (kind === 'long') return 'start';
      return mapping.shortWhenIdle;
  }
}

export interface PressOutcome {
  kind: PressKind;
  state: PressRecorderState;
  action: ButtonAction;
  ok: boolean;
  error?: string;
}

export interface PressActionsOptions {
  mapping?: PressMapping;
  /** The recorder's current state (read at each press). */
  state: () => RecorderStateName;
  /** Carries out an action: start a take, stop it (resolving once complete), drop a marker. */
  perform: (action: Exclude<ButtonAction, 'none'>) => unknown;
  logger: Logger;
  /** Called once per press with what was done and whether it worked (e.g. marker flash, error LED). */
  onOutcome?: (outcome: PressOutcome) => void;
}

/**
 * Runs the action of each press. A start or stop whose `perform` returns a promise stays in flight
 * until it settles; meanwhile the state is `starting`/`stopping` and presses do nothing (see
 * `actionFor`). A `perform` that returns synchronously (or throws) is done at once.
 */
export class PressActions {
  private flight: { action: 'start' | 'stop'; done: Promise<void> } | null = null;
  private readonly mapping: PressMapping;

  constructor(private readonly opts: PressActionsOptions) {
    this.mapping = opts.mapping ?? DEFAULT_PRESS_MAPPING;
  }

  get inFlight(): 'start' | 'stop' | null {
    return this.flight?.action ?? null;
  }

  get state(): PressRecorderState {
    if (this.flight) return this.flight.action === 'start' ? 'starting' : 'stopping';
    return this.opts.state();
  }

  /** Resolves when no start or stop is in flight any more. */
  async settled(): Promise<void> {
    while (this.flight) await this.flight.done;
  }

  /** Decides and starts the action for a press; returns the action chosen. */
  handle(press: PressKind | PressEvent): ButtonAction {
    const kind = typeof press === 'string' ? press : press.kind;
    const state = this.state;
    const action = actionFor(kind, state, this.mapping);
    if (action === 'none') {
      this.opts.logger.debug('button press ignored', { kind, state });
      this.outcome({ kind, state, action, ok: true });
      return action;
    }
    this.opts.logger.info('button press', { kind, state, action });
    let result: unknown;
    try {
      result = this.opts.perform(action);
    } catch (err) {
      this.failed(kind, state, action, err);
      return action;
    }
    if (!isThenable(result)) {
      this.outcome({ kind, state, action, ok: true });
      return action;
    }
    const done = Promise.resolve(result).then(
      () => this.outcome({ kind, state, action, ok: true }),
      (err: unknown) => this.failed(kind, state, action, err),
    );
    if (action === 'mark') return action;
    const flight = {
      action,
      done: done.finally(() => {
        if (this.flight === flight) this.flight = null;
      }),
    };
    this.flight = flight;
    return action;
  }

  private failed(kind: PressKind, state: PressRecorderState, action: ButtonAction, err: unknown): void {
    const error = describeError(err);
    this.opts.logger.warn('button action failed', { kind, state, action, error });
    this.outcome({ kind, state, action, ok: false, error });
  }

  private outcome(o: PressOutcome): void {
    if (!this.opts.onOutcome) return;
    try {
      this.opts.onOutcome(o);
    } catch (err) {
      this.opts.logger.error('button outcome handler failed', { error: describeError(err) });
    }
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
